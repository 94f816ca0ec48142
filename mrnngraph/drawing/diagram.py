"""The area diagram of a declared circuit graph: :func:`draw`.

Regions are drawn as discs whose area is proportional to their unit count,
inputs and outputs as squares; projections as lines whose width follows their
density and whose arrowhead says which E/I type of unit projects (pointed:
excitatory, flat bar: inhibitory, disc: both, open chevron: unconstrained).

Every artist carries a ``gid`` (``"mrnngraph:node:<name>"``,
``"mrnngraph:edge:<src>-><dst>"``, ``"mrnngraph:head:<kind>:<src>-><dst>"``,
``"mrnngraph:label:<name>"``, ``"mrnngraph:edgelabel:<src>-><dst>"``,
``"mrnngraph:group:<parent>"``, ``"mrnngraph:invalid:node:<name>"``, ...), so
tests and SVG post-processing can find them.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
from matplotlib.axes import Axes

from .._params import NON_NEGATIVE, POSITIVE, PROBABILITY, Optional, check
from ..schema import Boolean, Options
from ._artists import (
    draw_edges,
    draw_groups,
    draw_labels,
    draw_nodes,
    edge_label_texts,
    fit_limits,
    resolve_colors,
)
from ._graphviz import draw_graphviz
from ._labels import place_labels
from ._legend import draw_legend
from ._read import check_edge_labels, labels_show_delays, read_graph
from ._scene import axes_rect, bounds, build_scene, figsize

__all__ = ["draw", "diagram_figsize", "diagram_frame"]

#: What each ``**style`` option must be (``colors`` is checked by ``resolve_colors``).
_STYLE_CONSTRAINTS: dict[str, Any] = {
    "font_size": POSITIVE,
    "node_scale": POSITIVE,
    "lw_min": NON_NEGATIVE,
    "lw_max": POSITIVE,
    "edge_alpha": Optional(PROBABILITY),
    "show_sizes": Boolean(),
    "legend": Boolean(),
}

#: Keyword options accepted through ``**style``, with their defaults.
STYLE_DEFAULTS: dict[str, Any] = {
    "font_size": 9.0,
    "node_scale": 1.0,
    "lw_min": 0.7,
    "lw_max": 4.0,
    "edge_alpha": None,
    "colors": None,
    "title": None,
}


def diagram_figsize(
    G: nx.Graph,
    *,
    layout: Any = None,
    legend: bool = True,
    node_scale: float = 1.0,
    font_size: float = 9.0,
    show_sizes: bool = True,
) -> tuple[float, float]:
    """The figure size (inches) :func:`draw` uses when it makes its own figure.

    Examples
    --------
    >>> from mrnngraph.presets import cbgt_loop
    >>> w, h = diagram_figsize(cbgt_loop())
    >>> 6 < w < 16 and 3 < h < 10
    True
    """
    look = read_graph(G)
    scene = build_scene(G, look, layout, node_scale)
    return figsize(scene, legend, font_size, show_sizes)


def diagram_frame(
    G: nx.Graph, *, layout: Any = None, legend: bool = True, title: bool = False
) -> tuple[float, float, tuple[float, float, float, float]]:
    """The figure size (inches) :func:`draw` would choose, and where in such a figure
    it puts its axes (figure fractions, leaving room for a legend outside).

    Examples
    --------
    >>> from mrnngraph.presets import two_area_ei
    >>> w, h, (x, y, aw, ah) = diagram_frame(two_area_ei())
    >>> 0 < x < x + aw < 1 and aw * w < w - 2  # the legend keeps about 2.5 inches
    True
    """
    look = read_graph(G)
    scene = build_scene(G, look, layout, 1.0)
    w, h = figsize(scene, legend)
    return w, h, axes_rect(scene, w, h, legend, title)


def draw(
    G: nx.Graph,
    ax: Axes | None = None,
    *,
    layout: Any = None,
    show_sizes: bool = True,
    legend: bool = True,
    edge_labels: Any = "label",
    engine: str = "matplotlib",
    **style: Any,
) -> Axes:
    """Draw the area diagram of a declared circuit graph.

    Works on any graph, also one that does not validate: attributes are read
    leniently (aliases resolved, signs normalised), anything that cannot be
    read is drawn as unconstrained, and the nodes and edges that
    :func:`mrnngraph.validate` reports errors for get a yellow ✕ marker.

    Parameters
    ----------
    G : networkx.DiGraph
        The circuit, as declared (see :mod:`mrnngraph.schema`).
    ax : matplotlib.axes.Axes, optional
        Where to draw. Default: a new figure sized to the circuit.
    layout : {"auto", "layered", "arc"}, dict or callable, optional
        ``"layered"``: inputs in the first column, then one column per
        shortest-path distance from the inputs, outputs last. ``"arc"``: every
        node on a line in that order, left-to-right projections bending above
        it, right-to-left below (for large, dense circuits). ``"auto"`` (default)
        picks ``"layered"`` unless a column would hold more than 6 nodes. A dict
        ``name -> (x, y)`` or a function ``layout(G) -> dict`` (any networkx
        layout) gives positions; without ``layout``, ``pos`` node attributes
        are used. Nodes a user layout leaves out are placed by a spring layout.
    show_sizes : bool
        Write each node's unit count (and a mixed region's E fraction) under its name.
    legend : bool
        Draw a legend of the node types and edge styles present, right of the axes.
    edge_labels : "label", "density", "ei", "delay", bool, dict or callable
        Text on the edges: ``"label"`` (default) the edges' ``label``
        attribute where given; ``"density"`` (one line per sub-pathway where it
        is given per sub-pathway); ``"ei"`` the E/I sub-pathways; ``"delay"``
        the conduction delays; ``True`` all of these; ``False``/``None`` none; a
        dict ``(src, dst) -> str``; or a function ``f(src, dst, attrs) -> str |
        None``. In circuits of up to 40 edges every built-in choice also writes
        each edge's delay (``"10 ms"``); whatever the choice, a delayed edge
        carries the delay mark (a short gap between two bars), and a region whose
        time constants are learned (``learn_tau``) says ``τ learned``.
    engine : {"matplotlib", "graphviz"}
        ``"graphviz"`` renders :func:`to_dot` (with ``show_sizes`` and
        ``edge_labels``) through the optional ``graphviz`` package and
        Graphviz's ``dot`` program, and shows the image in ``ax`` with the same
        legend; ``layout`` and ``**style`` apply to the matplotlib engine only.
    **style
        ``font_size`` (9), ``node_scale`` (1.0, multiplies node radii),
        ``lw_min``/``lw_max`` (edge widths in points at density 0 and 1),
        ``edge_alpha`` (default: opaque for up to 40 edges, else by density),
        ``colors`` (dict overriding the colour of a node category: ``"input"``,
        ``"excitatory"``, ``"inhibitory"``, ``"mixed"`` and ``"mixed_alt"`` (the
        E and I parts of a wedge), ``"unconstrained"``, ``"output"``; or of an
        edge by its head kind: ``"edge_exc"``, ``"edge_inh"``, ``"edge_mixed"``,
        ``"edge_free"``), ``title`` (text above the diagram).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``G`` is not a networkx graph, an unknown style option is given, or an
        option is of the wrong kind (``font_size="big"``, ``legend=1``).
    ValueError
        For an unknown layout, ``edge_labels`` choice, colour key or engine, or an
        option out of range (``font_size=0``, ``edge_alpha=1.5``).
    ImportError
        With ``engine="graphviz"`` when the ``graphviz`` package is missing.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mrnngraph.presets import cbgt_loop
    >>> ax = draw(cbgt_loop())
    >>> sum(1 for p in ax.patches if (p.get_gid() or "").startswith("mrnngraph:node:"))
    10
    """
    unknown = set(style) - set(STYLE_DEFAULTS)
    if unknown:
        raise TypeError(
            f"draw() got unknown style option(s) {sorted(unknown)}; "
            f"known: {', '.join(STYLE_DEFAULTS)}"
        )
    opts = {**STYLE_DEFAULTS, **style}
    for name, value in (*style.items(), ("show_sizes", show_sizes), ("legend", legend)):
        if name in _STYLE_CONSTRAINTS:
            converted = check(name, value, _STYLE_CONSTRAINTS[name])
            if name in opts:
                opts[name] = converted
    check("engine", engine, Options(("matplotlib", "graphviz")))
    check_edge_labels(edge_labels)
    look = read_graph(G)
    if engine == "graphviz":
        ax = draw_graphviz(G, ax, show_sizes=show_sizes, edge_labels=edge_labels)
        if legend:
            draw_legend(
                ax,
                look,
                resolve_colors(opts["colors"]),
                float(opts["font_size"]),
                inside=False,
                delays_labelled=labels_show_delays(look, edge_labels),
            )
        return ax
    scene = build_scene(G, look, layout, float(opts["node_scale"]))
    colors = resolve_colors(opts["colors"])

    inside = scene.big_arc  # the legend fits in the empty middle of a large arc
    if ax is None:
        import matplotlib.pyplot as plt

        w, h = figsize(scene, legend, float(opts["font_size"]), show_sizes)
        fig = plt.figure(figsize=(w, h))
        ax = fig.add_axes(axes_rect(scene, w, h, legend, bool(opts["title"])))
    pt = fit_limits(ax, bounds(scene, float(opts["font_size"]), show_sizes))
    draw_groups(ax, scene, pt, float(opts["font_size"]))
    draw_edges(ax, scene, pt, opts, colors)
    draw_nodes(ax, scene, colors)
    labels = draw_labels(ax, scene, show_sizes, float(opts["font_size"]))
    elabels = edge_label_texts(G, scene, edge_labels)
    place_labels(ax, scene, labels, elabels, float(opts["font_size"]))
    if legend:
        draw_legend(
            ax,
            scene.look,
            colors,
            float(opts["font_size"]),
            inside=inside,
            delays_labelled=labels_show_delays(look, edge_labels),
        )
    if opts["title"]:
        ax.set_title(str(opts["title"]), fontsize=float(opts["font_size"]) * 1.3)
    return ax
