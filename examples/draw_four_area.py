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

import networkx as nx
from _figures import parse_args, save  # examples/_figures.py

import mrnngraph
from mrnngraph.drawing import draw, plot_connectivity


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
    args = parse_args(__doc__.splitlines()[0])
    G = four_area_hierarchy()
    ax = draw(G, edge_labels=label_or_pathways)
    save(ax.figure, "draw_four_area", docs=args.docs)
    ax = plot_connectivity(mrnngraph.compile(G, seed=0), "sign", blocks=("hh", "ih", "ho"))
    save(ax.figure, "draw_four_area_sign", docs=False)
