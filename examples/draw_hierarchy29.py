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

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from PIL import Image  # matplotlib's own dependency

import mrnngraph
from mrnngraph.draw import draw, plot_connectivity
from mrnngraph.presets import cortical_hierarchy

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
    G = cortical_hierarchy()
    # Every area has 20 units, 80% excitatory: a size line would repeat that 29 times.
    ax = draw(G, show_sizes=False)
    save(ax.figure, "draw_hierarchy29", docs=args.docs)
    ax = draw(G)
    save(ax.figure, "draw_hierarchy29_sizes", docs=False)
    ax = plot_connectivity(mrnngraph.compile(G, seed=0), "mask")
    save(ax.figure, "draw_hierarchy29_mask", docs=False)
