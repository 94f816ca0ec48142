"""Shared by the drawing examples: where figures go, and small PNGs for the docs."""

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from PIL import Image  # noqa: E402  (matplotlib's own dependency)

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
            if min(palette[k : k + 3]) >= 244:
                palette[k : k + 3] = [255, 255, 255]
        image.putpalette(palette)
        image.save(DOCS_IMG / f"{name}.png", optimize=True)
        size = (DOCS_IMG / f"{name}.png").stat().st_size / 1024
        print(f"wrote {DOCS_IMG / f'{name}.png'} ({size:.0f} KiB)")


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--docs",
        action="store_true",
        help="also write the figures docs/drawing.md embeds to docs/img/",
    )
    return p.parse_args()
