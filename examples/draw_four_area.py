"""Draw a 4-area mixed E/I hierarchy (sensory -> association -> premotor -> prefrontal).

Every area mixes excitatory and inhibitory units (the wedge shows the E
fraction). Feedforward projections come from excitatory units onto both types
(ei=["EE", "EI"]); feedback is sparser, from excitatory onto inhibitory units
only (ei=["EI"]), a common model of top-down gain control. The input projection
is frozen at its initial weights (trainable=False, dotted) and a long-range
feedback pathway is declared but lesioned (zero=True, dashed).

Run: python examples/draw_four_area.py [--docs]
  -> examples/out/draw_four_area.png, draw_four_area_sign.png
"""

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import networkx as nx
from PIL import Image  # matplotlib's own dependency

import mrnngraph
from mrnngraph.draw import draw, plot_connectivity

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


def four_area_hierarchy() -> nx.DiGraph:
    G = nx.DiGraph(name="four_area_hierarchy", dt=20.0, tau=100.0)
    G.add_node("image", kind="input", size=8)
    areas = [("V1", 160, 0.8), ("V4", 120, 0.8), ("LIP", 80, 0.75), ("PFC", 100, 0.7)]
    for name, size, frac in areas:
        G.add_node(name, size=size, exc_frac=frac)
    G.add_node("saccade", kind="output", size=2)
    G.add_edge("image", "V1", density=0.3, trainable=False, label="frozen")
    for (a, *_), (b, *_) in zip(areas, areas[1:], strict=False):
        G.add_edge(a, b, density=0.25, ei=["EE", "EI"])
        G.add_edge(b, a, density=0.1, ei=["EI"])
    for name, *_ in areas:
        G.add_edge(name, name, density=0.3, autapses=False)
    G.add_edge("PFC", "V1", zero=True, ei=["EI"], label="lesioned")
    G.add_edge("LIP", "saccade", ei=["E"])
    G.add_edge("PFC", "saccade", ei=["E"])
    return G


def label_or_pathways(src, dst, attrs):
    """An edge's own label where it has one, else its E/I sub-pathways between areas."""
    if attrs.get("label"):
        return attrs["label"]
    return ",".join(attrs["ei"]) if "ei" in attrs and src != dst else None


if __name__ == "__main__":
    args = parse_args()
    G = four_area_hierarchy()
    ax = draw(G, edge_labels=label_or_pathways)
    save(ax.figure, "draw_four_area", docs=args.docs)
    ax = plot_connectivity(mrnngraph.compile(G, seed=0), "sign", blocks=("hh", "ih", "ho"))
    save(ax.figure, "draw_four_area_sign", docs=False)
