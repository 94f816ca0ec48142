"""The ``engine="graphviz"`` path of :func:`mrnngraph.drawing.draw`: the DOT text
rendered by Graphviz, shown as an image."""

from __future__ import annotations

from typing import Any

import networkx as nx
from matplotlib.axes import Axes

from ._scene import LEGEND_IN

__all__ = ["draw_graphviz"]


def draw_graphviz(G: nx.Graph, ax: Axes | None, *, show_sizes: bool, edge_labels: Any) -> Axes:
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            "draw(..., engine='graphviz') needs the optional 'graphviz' Python package and "
            "Graphviz's 'dot' program: pip install 'mrnngraph[graphviz]' (or pip install "
            "graphviz) and install Graphviz; engine='matplotlib' needs neither"
        ) from None
    import io

    import matplotlib.image as mimg

    from .dot import to_dot

    png = graphviz.Source(to_dot(G, show_sizes=show_sizes, edge_labels=edge_labels)).pipe(
        format="png"
    )
    img = mimg.imread(io.BytesIO(png), format="png")
    if ax is None:
        import matplotlib.pyplot as plt

        h, w = img.shape[:2]
        fw, fh = max(w / 96, 2.0) + LEGEND_IN, max(h / 96, 2.9)
        fig = plt.figure(figsize=(fw, fh))
        ax = fig.add_axes((0.02, 0.02, 1 - LEGEND_IN / fw - 0.02, 0.96))
    ax.imshow(img, interpolation="antialiased")
    ax.set_axis_off()
    ax.images[-1].set_gid("mrnngraph:graphviz")
    return ax
