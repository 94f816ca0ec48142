"""Automatic positions for an area diagram: inputs left, outputs right, regions between.

Two layouts, both deterministic:

- ``"layered"``: a column per shortest-path distance from the inputs (a
  Sugiyama-style layering), rows ordered by a few barycentre sweeps to cut
  crossings, members of a ``parent`` group kept next to each other;
- ``"arc"``: every node on a semicircular arc in layer order, inputs at the
  left end, outputs at the right end, projections as chords inside the arc
  (a half connectogram). It keeps large, densely connected circuits readable
  (e.g. a 29-area hierarchy).

Positions are in "slot" units (neighbouring nodes about one unit apart).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import networkx as nx
import numpy as np

from ._read import CircuitLook

__all__ = [
    "layers",
    "layered_layout",
    "arc_layout",
    "auto_layout",
    "resolve_layout",
    "MAX_LAYER_HEIGHT",
]

#: The automatic choice switches to the arc diagram when a column would hold more nodes.
MAX_LAYER_HEIGHT = 6
_LAYER_DX = 2.4
_ROW_DY = 1.25


def layers(look: CircuitLook) -> dict[Any, int]:
    """Column index of every node: 0 inputs, then BFS distance, outputs last.

    Regions that no input reaches start new BFS waves from the unplaced nodes
    with the fewest unplaced predecessors, so every node gets a column.
    """
    adj: dict[Any, list[Any]] = {n: [] for n in look.nodes}
    pred: dict[Any, set[Any]] = {n: set() for n in look.nodes}
    for e in look.edges:
        if e.src != e.dst and e.src in adj and e.dst in adj:
            adj[e.src].append(e.dst)
            pred[e.dst].add(e.src)
    kind = {n: v.kind for n, v in look.nodes.items()}
    middle = [n for n in look.nodes if kind[n] == "recurrent"]
    out: dict[Any, int] = {n: 0 for n in look.nodes if kind[n] == "input"}

    def bfs(starts: list[Any], depth: int) -> None:
        queue = deque((s, depth) for s in starts)
        for s in starts:
            out[s] = depth
        while queue:
            n, d = queue.popleft()
            for m in adj[n]:
                if m not in out and kind[m] == "recurrent":
                    out[m] = d + 1
                    queue.append((m, d + 1))

    bfs([n for n in look.nodes if kind[n] == "input"], 0)
    while True:
        rest = [n for n in middle if n not in out]
        if not rest:
            break
        fewest = min(len(pred[n] - set(out)) for n in rest)
        roots = [n for n in rest if len(pred[n] - set(out)) == fewest][:1]
        placed_preds = [out[p] for p in pred[roots[0]] if p in out]
        bfs(roots, max(placed_preds) + 1 if placed_preds else 1)
    last = max((out[n] for n in middle), default=0) + 1
    for n in look.nodes:
        if kind[n] == "output":
            out[n] = last
    return out


def _order_key(look: CircuitLook) -> dict[Any, int]:
    """Declaration order, with members of a group moved next to its first member."""
    order: list[Any] = []
    done: set[Any] = set()
    for n, v in look.nodes.items():
        if n in done:
            continue
        members = look.groups.get(v.parent, [n]) if v.parent is not None else [n]
        for m in members:
            if m not in done:
                order.append(m)
                done.add(m)
    return {n: i for i, n in enumerate(order)}


def _sweep_order(look: CircuitLook, col: dict[Any, int], sweeps: int = 6) -> list[list[Any]]:
    """Rows of every column, ordered by barycentres of neighbours (groups kept together)."""
    n_cols = max(col.values(), default=0) + 1
    key = _order_key(look)
    columns: list[list[Any]] = [[] for _ in range(n_cols)]
    for n in sorted(look.nodes, key=key.__getitem__):
        columns[col[n]].append(n)
    nbrs: dict[Any, list[Any]] = {n: [] for n in look.nodes}
    for e in look.edges:
        if e.src != e.dst and e.src in nbrs and e.dst in nbrs:
            nbrs[e.src].append(e.dst)
            nbrs[e.dst].append(e.src)

    def rank_of() -> dict[Any, float]:
        r: dict[Any, float] = {}
        for c in columns:
            for i, n in enumerate(c):
                r[n] = i - (len(c) - 1) / 2
        return r

    for it in range(sweeps):
        rank = rank_of()
        seq = range(1, n_cols) if it % 2 == 0 else range(n_cols - 2, -1, -1)
        for c in seq:
            if len(columns[c]) < 2:
                continue

            def bary(n: Any, c: int = c, rank: dict[Any, float] = rank) -> float:
                ref = [rank[m] for m in nbrs[n] if col[m] != c]
                return float(np.mean(ref)) if ref else rank[n]

            units: dict[Any, list[Any]] = {}
            for n in columns[c]:
                p = look.nodes[n].parent
                units.setdefault(("g", p) if p is not None else ("n", n), []).append(n)
            scored = sorted(
                units.values(), key=lambda ms: (np.mean([bary(m) for m in ms]), key[ms[0]])
            )
            columns[c] = [m for ms in scored for m in ms]
            rank = rank_of()
    return columns


def layered_layout(look: CircuitLook, radius: Mapping[Any, float]) -> dict[Any, np.ndarray]:
    """Columns by :func:`layers`, rows centred and spaced by the nodes' radii."""
    col = layers(look)
    pos: dict[Any, np.ndarray] = {}
    columns = _sweep_order(look, col)
    for c, names in enumerate(columns):
        if not names:
            continue
        ys = [0.0]
        for a, b in pairwise(names):
            gap = max(_ROW_DY, radius[a] + radius[b] + 0.45)
            pa, pb = look.nodes[a].parent, look.nodes[b].parent
            if pa != pb and (pa is not None or pb is not None):
                gap += 0.6  # room for the group's box and name
            ys.append(ys[-1] - gap)
        mid = (ys[0] + ys[-1]) / 2
        for n, y in zip(names, ys, strict=True):
            pos[n] = np.array([c * _LAYER_DX, y - mid])
    # A node alone in its column sits level with its neighbours: straighter edges.
    nbrs: dict[Any, list[Any]] = {n: [] for n in look.nodes}
    for e in look.edges:
        if e.src != e.dst and e.src in nbrs and e.dst in nbrs:
            nbrs[e.src].append(e.dst)
            nbrs[e.dst].append(e.src)
    for names in columns:
        if len(names) == 1:
            ref = [pos[m][1] for m in nbrs[names[0]] if col[m] != col[names[0]]]
            if ref:
                pos[names[0]][1] = float(np.mean(ref))
    return pos


def arc_order(look: CircuitLook) -> list[Any]:
    col = layers(look)
    key = _order_key(look)
    return sorted(look.nodes, key=lambda n: (col[n], key[n]))


def arc_layout(look: CircuitLook, radius: Mapping[Any, float]) -> dict[Any, np.ndarray]:
    """Every node on an upper semicircle centred on the origin, in layer order.

    The first node (an input) sits at the left end, the last (an output) at the
    right end; neighbours are spaced by their radii along the arc, so the
    projections, drawn as chords inside it, never run through a node.
    """
    names = arc_order(look)
    if not names:
        return {}
    s = [0.0]
    for a, b in pairwise(names):
        s.append(s[-1] + max(1.0, radius[a] + radius[b] + 0.3))
    total = s[-1] or 1.0
    ring = max(total / math.pi, 1.0)
    pos: dict[Any, np.ndarray] = {}
    for n, si in zip(names, s, strict=True):
        theta = math.pi * (1.0 - si / total) if len(names) > 1 else math.pi / 2
        pos[n] = np.array([ring * math.cos(theta), ring * math.sin(theta)])
    return pos


def auto_layout(look: CircuitLook) -> str:
    """``"layered"`` unless a column would get taller than :data:`MAX_LAYER_HEIGHT`."""
    col = layers(look)
    counts: dict[int, int] = {}
    for c in col.values():
        counts[c] = counts.get(c, 0) + 1
    return "layered" if max(counts.values(), default=0) <= MAX_LAYER_HEIGHT else "arc"


def resolve_layout(
    G: nx.Graph, look: CircuitLook, layout: Any, radius: Mapping[Any, float]
) -> tuple[dict[Any, np.ndarray], str, bool]:
    """Positions of every node, the layout's name, and whether positions came from the user.

    ``layout`` is ``None``/``"auto"``, ``"layered"``, ``"arc"``, a dict
    ``name -> (x, y)`` or a callable ``layout(G) -> dict`` (any networkx layout
    function). Without ``layout``, ``pos`` node attributes are used when every
    node has one. Nodes a user layout leaves out are placed by a spring layout
    around the fixed ones.
    """
    if layout is None or (isinstance(layout, str) and layout == "auto"):
        given = {n: v.pos for n, v in look.nodes.items() if v.pos is not None}
        if given and len(given) == len(look.nodes):
            return {n: np.asarray(p, float) for n, p in given.items()}, "user", True
        if given:
            return _complete(G, given), "user", True
        layout = auto_layout(look)
    if isinstance(layout, str):
        if layout == "layered":
            return layered_layout(look, radius), "layered", False
        if layout == "arc":
            return arc_layout(look, radius), "arc", False
        raise ValueError(
            f"layout must be 'auto', 'layered', 'arc', a dict or a callable; got {layout!r}"
        )
    if isinstance(layout, Mapping):
        return _complete(G, layout), "user", True
    if callable(layout):
        return _complete(G, layout(G)), "user", True
    raise TypeError(
        "layout must be 'auto', 'layered', 'arc', a dict name -> (x, y) or a "
        f"callable layout(G) -> dict; got {type(layout).__name__}"
    )


def _complete(G: nx.Graph, given: Mapping[Any, Any]) -> dict[Any, np.ndarray]:
    pos: dict[Any, np.ndarray] = {}
    for n, p in given.items():
        if n not in G:
            continue
        try:
            xy = np.asarray(p, dtype=float).reshape(-1)[:2]
        except (TypeError, ValueError):
            raise ValueError(f"layout position of {n!r} must be (x, y); got {p!r}") from None
        if xy.shape != (2,) or not np.all(np.isfinite(xy)):
            raise ValueError(f"layout position of {n!r} must be two finite numbers; got {p!r}")
        pos[n] = xy
    missing = [n for n in G if n not in pos]
    if missing:
        if pos:
            placed = nx.spring_layout(G, pos=dict(pos), fixed=list(pos), seed=0)
        else:
            placed = nx.spring_layout(G, seed=0)
        for n in missing:
            pos[n] = np.asarray(placed[n], dtype=float)
    return pos
