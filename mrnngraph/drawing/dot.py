"""Graphviz DOT text of a declared circuit, with the same visual encoding as :func:`draw`.

No Graphviz installation is needed to produce the text; render it with
``dot -Tpdf circuit.dot -o circuit.pdf`` or the ``graphviz`` Python package.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from .._params import check
from ..schema import Options
from . import _style as S
from ._layout import layers
from ._read import (
    CircuitLook,
    NodeLook,
    check_edge_labels,
    delay_text,
    delays_in_labels,
    density_text,
    edge_text,
    node_text,
    read_graph,
)

__all__ = ["to_dot", "dot_quote"]

_MAX_WIDTH_IN = 1.1  # diameter of the largest region, inches
_MIN_FRAC = 0.3


def dot_quote(text: Any) -> str:
    """``text`` as a double-quoted DOT string (quotes and backslashes escaped, newlines kept).

    Examples
    --------
    >>> print(dot_quote("9/46d"), dot_quote('say "hi"'), dot_quote("two\\nlines"))
    "9/46d" "say \\"hi\\"" "two\\nlines"
    """
    s = str(text).replace("\\", "\\\\").replace('"', '\\"')
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{s}"'


def _attrs(**kw: Any) -> str:
    parts = []
    for k, v in kw.items():
        if v is None:
            continue
        if isinstance(v, float):
            v = f"{v:.3g}"
        parts.append(f"{k}={dot_quote(v)}")
    return "[" + ", ".join(parts) + "]"


def _hex(color: Any, fallback: str) -> str:
    import matplotlib.colors as mcolors

    if color is None:
        return fallback
    try:
        return mcolors.to_hex(color)
    except (ValueError, TypeError):
        return fallback


def _font(fill: str) -> str:
    return S.text_color(fill)


def _node_line(v: NodeLook, width: float, show_sizes: bool) -> str:
    fill = _hex(v.color, S.NODE_COLORS[v.category])
    style = ["filled"]
    kw: dict[str, Any] = {}
    if v.kind in ("input", "output"):
        shape = "box"
        style.append("rounded")
        side = width * math.sqrt(math.pi) / 2
        kw.update(width=side, height=side)
    else:
        shape = "circle"
        kw.update(width=width)
        if (
            v.category == "mixed"
            and v.color is None
            and v.exc_frac is not None
            and 0 < v.exc_frac < 1
        ):
            style = ["wedged"]
            fill = f"{S.NODE_COLORS['mixed']};{v.exc_frac:.3f}:{S.NODE_COLORS['mixed_alt']}"
    if v.invalid:
        style.append("dashed")
    font = _font(fill.split(";")[0]) if ";" not in fill else "white"
    text = node_text(v, show_sizes)
    lines = text.split("\n")
    # Inside, in up to 10 pt (Helvetica: ~0.6 em a character), shrunk to fit down to
    # 6 pt; beside the node (xlabel) only when even that does not fit.
    side_pt = width * 72 * (math.sqrt(math.pi) / 2 if v.kind in ("input", "output") else 1.0)
    size = min(
        10.0,
        0.85 * side_pt / (0.6 * max(len(x) for x in lines)),
        0.8 * side_pt / (1.2 * len(lines)),
    )
    fits = size >= 6.0
    if fits and size < 10.0:
        kw["fontsize"] = round(size, 1)
    if not fits:
        kw["xlabel"] = text
        font = "black"
    return f"  {dot_quote(v.name)} " + _attrs(
        label=text if fits else "",
        shape=shape,
        style=",".join(style),
        fillcolor=fill,
        fontcolor=font,
        fixedsize="shape",
        penwidth=1.6 if v.invalid else None,
        tooltip=f"{v.name}: {S.CATEGORY_NAMES[v.category]}"
        + (", time constants learned" if v.learn_tau else ""),
        learn_tau="true" if v.learn_tau else None,
        **{k: (float(x) if not isinstance(x, str) else x) for k, x in kw.items()},
    )


def to_dot(
    G: nx.Graph, *, show_sizes: bool = True, edge_labels: Any = "label", rankdir: str = "LR"
) -> str:
    """Graphviz DOT text of the declared graph, encoded like :func:`draw`.

    Regions are circles whose area is proportional to their unit count (mixed
    E/I regions as a ``wedged`` circle showing the E fraction), inputs and
    outputs rounded boxes; ``parent`` groups become clusters. Edges get
    ``penwidth`` by density, ``arrowhead`` by the E/I type of the projecting
    units (``normal`` excitatory, ``tee`` inhibitory, ``dot`` both, ``vee``
    unconstrained), ``style=dashed`` when ``zero`` and ``dotted`` (grey) when
    frozen. A conduction delay is written in the edge's label (``"10 ms"``, with
    every built-in ``edge_labels`` choice in circuits of up to 40 edges, as
    :func:`draw` does; ``edge_labels="delay"`` writes only the delays, in any
    circuit), its tooltip and a ``delay`` attribute
    (ms; Graphviz ignores attributes it does not know); a region whose time
    constants are learned says ``τ learned`` in its label and carries
    ``learn_tau="true"``. Like :func:`draw`, it reads invalid graphs leniently
    (invalid nodes get a dashed outline).

    Parameters
    ----------
    G : networkx.DiGraph
    show_sizes : bool
        Put the unit count under each name.
    edge_labels : "label", "density", "ei", "delay", bool, dict or callable
        As in :func:`draw`.
    rankdir : {"LR", "TB", "RL", "BT"}
        Direction of the flow from inputs to outputs.

    Returns
    -------
    str

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.DiGraph()
    >>> G.add_node("9/46d", size=10, sign="inh")
    >>> G.add_node("y", kind="output", size=1)
    >>> G.add_edge("9/46d", "y", density=0.5)
    >>> text = to_dot(G)
    >>> '"9/46d" -> "y"' in text, 'arrowhead="tee"' in text
    (True, True)
    """
    check("rankdir", rankdir, Options(("LR", "TB", "RL", "BT")))
    check_edge_labels(edge_labels)
    look: CircuitLook = read_graph(G)
    sizes = [v.size for v in look.nodes.values() if v.size is not None]
    biggest = max(sizes, default=1)
    lines = [f"digraph {dot_quote(look.name or 'circuit')} {{"]
    lines.append(
        "  "
        + _attrs(
            rankdir=rankdir,
            splines="true",
            nodesep=0.35,
            ranksep=0.7,
            fontname="Helvetica",
            compound="true",
            forcelabels="true",
        ).replace("[", "graph [", 1)
        + ";"
    )
    lines.append('  node [fontname="Helvetica", fontsize="10", color="#222222", penwidth="0.9"];')
    lines.append('  edge [fontname="Helvetica", fontsize="9", arrowsize="0.8"];')

    def width(v: NodeLook) -> float:
        frac = math.sqrt(v.size / biggest) if v.size is not None else 0.5
        return _MAX_WIDTH_IN * max(frac, _MIN_FRAC)

    grouped = {m for members in look.groups.values() for m in members}
    for g, members in look.groups.items():
        lines.append(f"  subgraph {dot_quote('cluster_' + g)} {{")
        lines.append(
            "    "
            + _attrs(
                label=g,
                style="rounded,filled",
                fillcolor=S.GROUP_COLOR,
                color="#9A9A9A",
                fontname="Helvetica-Oblique",
            ).replace("[", "graph [", 1)
            + ";"
        )
        for m in members:
            lines.append("  " + _node_line(look.nodes[m], width(look.nodes[m]), show_sizes) + ";")
        lines.append("  }")
    for n, v in look.nodes.items():
        if n not in grouped:
            lines.append(_node_line(v, width(v), show_sizes) + ";")
    for kind, rank in (("input", "source"), ("output", "sink")):
        ends = [dot_quote(n) for n, v in look.nodes.items() if v.kind == kind]
        if ends:
            lines.append(f"  {{ rank={rank}; {'; '.join(ends)}; }}")
    # Edges that run back (or sideways) through the layers of draw()'s layered layout
    # do not constrain Graphviz's ranking: loops then read left to right, as in draw().
    layer = layers(look)
    delays = delays_in_labels(look)
    for e in look.edges:
        back = layer.get(e.dst, 0) <= layer.get(e.src, 0)
        color = S.FROZEN_COLOR if e.style == "frozen" else _hex(e.color, S.EDGE_COLORS[e.head])
        style = {"trained": "solid", "zero": "dashed", "frozen": "dotted"}[e.style]
        label = edge_text(e, e.attrs, edge_labels, delays=delays)
        lines.append(
            f"  {dot_quote(e.src)} -> {dot_quote(e.dst)} "
            + _attrs(
                arrowhead=S.DOT_HEADS[e.head],
                style=style,
                color=color,
                penwidth=round(S.edge_width(e.density), 2),
                label=label,
                fontcolor="#333333" if label else None,
                constraint="false" if back else None,
                tooltip=f"{e.src} -> {e.dst} ({e.style}"
                + (f", delay {delay_text(e)}" if e.delay > 0 else "")
                + (", density " + density_text(e).replace("\n", ", ") if e.densities else "")
                + ")",
                delay=e.delay if e.delay > 0 else None,
            )
            + ";"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
