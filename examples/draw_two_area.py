"""Draw the two-area E/I circuit: feedforward and feedback between mixed E/I areas.

Between areas only excitatory units project (ei=["EE", "EI"]), so those arrows
are pointed; each area's recurrent loop has E and I units (round head). Every
edge is labelled with its name, density and E/I sub-pathways.

Run: python examples/draw_two_area.py [--docs]  ->  examples/out/draw_two_area.png
"""

from _figures import parse_args, save  # examples/_figures.py

from mrnngraph.drawing import draw
from mrnngraph.presets import two_area_ei

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    ax = draw(two_area_ei(), edge_labels=True)
    save(ax.figure, "draw_two_area", docs=args.docs)
