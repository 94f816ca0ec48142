"""Draw the two-area E/I circuit: feedforward and feedback between mixed E/I areas.

Between areas only excitatory units project (ei=["EE", "EI"]), so those arrows
are pointed; each area's recurrent loop has E and I units (round head). Every
edge is labelled with its name, density and E/I sub-pathways.

Run: python examples/draw_two_area.py [--docs]  ->  examples/out/draw_two_area.png
"""

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from PIL import Image  # matplotlib's own dependency

from mrnngraph.draw import draw
from mrnngraph.presets import two_area_ei

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
    ax = draw(two_area_ei(), edge_labels=True)
    save(ax.figure, "draw_two_area", docs=args.docs)
