"""Draw the cortico-basal ganglia-thalamic loop: area diagram, connectivity, DOT.

Eight regions with mixed signs (cortex split into E and I populations grouped
as "ctx", striatal D1/D2, GPe, STN, SNr, thalamus), a stimulus input, a choice
readout and one lesioned (zero) pathway, D1 -> GPe.

Run: python examples/draw_cbgt.py [--docs]
  -> examples/out/draw_cbgt.png, draw_cbgt_matrix.png, draw_cbgt_sign.png, cbgt.dot
"""

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from PIL import Image  # matplotlib's own dependency

import mrnngraph
from mrnngraph.draw import draw, plot_connectivity, to_dot
from mrnngraph.presets import cbgt_loop

OUT = Path(__file__).resolve().parent / "out"  # git-ignored
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def save(fig, name, *, docs, dpi=150, docs_dpi=100):
    """Write out/NAME.png and, with ``docs``, a small docs/img/NAME.png."""
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / f"{name}.png", dpi=dpi)
    print("wrote", OUT / f"{name}.png")
    if docs:
        # A 256-colour palette keeps the committed images small (under ~150 KB).
        buf = io.BytesIO()
        fig.savefig(buf, dpi=docs_dpi, format="png")
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        image = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
        palette = image.getpalette()
        for k in range(0, len(palette), 3):  # the octree blurs white: snap it back
            if min(palette[k:k + 3]) >= 244:
                palette[k:k + 3] = [255, 255, 255]
        image.putpalette(palette)
        image.save(DOCS_IMG / f"{name}.png", optimize=True)
        size = (DOCS_IMG / f"{name}.png").stat().st_size / 1024
        print(f"wrote {DOCS_IMG / f'{name}.png'} ({size:.0f} KiB)")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", action="store_true",
                   help="also write the figures docs/drawing.md embeds to docs/img/")
    return p.parse_args()


if __name__ == "__main__":
    args = parse_args()
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
