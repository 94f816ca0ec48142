"""Draw the 29-area cortical hierarchy readably (31 nodes, 603 projections).

The automatic layout switches to the arc layout for a circuit this large: the
areas sit on a semicircle in hierarchy order, from the input at the left end to
the readout at the right end; projections are chords inside it, faded by
density, each bending a little to the left of its direction so feedforward
chords run nearer the arc than feedback ones. Every name sits outside the arc,
and no two labels overlap.

Run: python examples/draw_hierarchy29.py [--docs]
  -> examples/out/draw_hierarchy29.png, draw_hierarchy29_sizes.png,
     draw_hierarchy29_mask.png
"""

from _figures import parse_args, save  # examples/_figures.py

import mrnngraph
from mrnngraph.drawing import draw, plot_connectivity
from mrnngraph.presets import cortical_hierarchy

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    G = cortical_hierarchy()
    # Every area has 20 units, 80% excitatory: a size line would repeat that 29 times.
    ax = draw(G, show_sizes=False)
    save(ax.figure, "draw_hierarchy29", docs=args.docs)
    ax = draw(G)
    save(ax.figure, "draw_hierarchy29_sizes", docs=False)
    ax = plot_connectivity(mrnngraph.compile(G, seed=0), "mask")
    save(ax.figure, "draw_hierarchy29_mask", docs=False)
