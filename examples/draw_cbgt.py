"""Draw the cortico-basal ganglia-thalamic loop: area diagram, connectivity, DOT.

Eight regions with mixed signs (cortex split into E and I populations grouped
as "ctx", striatal D1/D2, GPe, STN, SNr, thalamus), a stimulus input, a choice
readout and one lesioned (zero) pathway, D1 -> GPe.

Run: python examples/draw_cbgt.py [--docs]
  -> examples/out/draw_cbgt.png, draw_cbgt_matrix.png, draw_cbgt_sign.png, cbgt.dot
"""

from _figures import OUT, parse_args, save  # examples/_figures.py

import mrnngraph
from mrnngraph.drawing import draw, plot_connectivity, to_dot
from mrnngraph.presets import cbgt_loop

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    G = cbgt_loop()
    ax = draw(G)
    save(ax.figure, "draw_cbgt", docs=args.docs)

    circuit = mrnngraph.compile(G, seed=0)
    ax = plot_connectivity(circuit, "weight", blocks=("hh", "ih", "ho"))
    save(ax.figure, "draw_cbgt_matrix", docs=args.docs)
    ax = plot_connectivity(circuit, "sign")
    save(ax.figure, "draw_cbgt_sign", docs=False)

    (OUT / "cbgt.dot").write_text(to_dot(G))
    print("wrote", OUT / "cbgt.dot", "(render with: dot -Tpdf cbgt.dot -o cbgt.pdf)")
