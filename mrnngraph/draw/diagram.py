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

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib.colors as mcolors
import networkx as nx
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyBboxPatch, PathPatch, Wedge
from matplotlib.path import Path
from matplotlib.transforms import Affine2D

from . import _style as S
from ._layout import resolve_layout
from ._read import (
    CATEGORIES,
    HEADS,
    CircuitLook,
    EdgeLook,
    NodeLook,
    check_edge_labels,
    edge_text,
    node_text,
    read_graph,
)

__all__ = ["draw", "diagram_figsize", "diagram_frame"]

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

_R0 = 0.45  # radius of the largest node, in layout slots
_MIN_FRAC = 0.22  # smallest radius relative to the largest, so 2-unit inputs stay visible
# Figure inches per layout slot when draw() makes the figure (the arc packs more nodes).
_INCH_PER_SLOT = {"layered": 0.78, "arc": 0.42, "user": 0.78}
_LEGEND_IN = 2.55


# --------------------------------------------------------------------------- geometry
@dataclass
class _Shape:
    center: np.ndarray
    r: float  # circle radius, or half the side of a square
    square: bool

    def inside(self, pts: np.ndarray, pad: float = 0.0) -> np.ndarray:
        d = pts - self.center
        if self.square:
            return np.max(np.abs(d), axis=-1) < self.r + pad
        return np.hypot(d[..., 0], d[..., 1]) < self.r + pad


@dataclass
class _Curve:
    """A parametric curve ``f(t)``, ``t`` in [0, 1], from one node towards another."""

    f: Callable[[np.ndarray], np.ndarray]
    t0: float = 0.0
    t1: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def at(self, t: float) -> np.ndarray:
        return self.f(np.array([t]))[0]


def _quad(p0: np.ndarray, c: np.ndarray, p2: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def f(t: np.ndarray) -> np.ndarray:
        t = t[:, None]
        return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p2
    return f


def _cubic(p0: np.ndarray, c1: np.ndarray, c2: np.ndarray,
           p3: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def f(t: np.ndarray) -> np.ndarray:
        t = t[:, None]
        return ((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t ** 2 * c2
                + t ** 3 * p3)
    return f


def _bend_curve(p0: np.ndarray, p2: np.ndarray, bend: float) -> Callable:
    """Quadratic curve whose control point sits ``bend * length`` to the left of the chord."""
    d = p2 - p0
    left = np.array([-d[1], d[0]])
    return _quad(p0, (p0 + p2) / 2 + bend * left, p2)


def _chord(p0: np.ndarray, p2: np.ndarray, ring: float, r0: float) -> Callable:
    """A chord of the arc layout: pulled towards the centre so it clears the neighbours,
    and bent a little to the left of its direction so reciprocal pairs run apart."""
    mid = (p0 + p2) / 2
    d = p2 - p0
    beta = min(max(0.22, 3.2 * r0 / ring), 0.6)
    control = mid * (1 - beta) + 0.07 * np.array([-d[1], d[0]])
    return _quad(p0, control, p2)


def _exit_t(f: Callable, shape: _Shape, pad: float, *, reverse: bool) -> float:
    """First ``t`` outside ``shape`` (or, with ``reverse``, the last one before entering it)."""
    lo, hi = 0.0, 1.0
    for _ in range(3):  # three vectorised refinements: resolution (1/120)**3
        ts = np.linspace(lo, hi, 121)
        out = ~shape.inside(f(ts), pad)
        idx = np.flatnonzero(out)
        if idx.size == 0:
            return hi if not reverse else lo
        if not reverse:
            k = int(idx[0])
            if k == 0:
                return float(ts[0])
            lo, hi = float(ts[k - 1]), float(ts[k])
        else:
            k = int(idx[-1])
            if k == ts.size - 1:
                return float(ts[-1])
            lo, hi = float(ts[k]), float(ts[k + 1])
    return hi if not reverse else lo


def _back_off(f: Callable, t1: float, dist: float, t_min: float) -> float:
    """The ``t < t1`` whose point is ``dist`` away from ``f(t1)`` (the shaft's end)."""
    if dist <= 0:
        return t1
    tip = f(np.array([t1]))[0]
    ts = np.linspace(t_min, t1, 200)
    d = np.hypot(*(f(ts) - tip).T)
    far = np.flatnonzero(d >= dist)
    return float(ts[far[-1]]) if far.size else t_min


def _safe_color(value: Any, fallback: Any) -> Any:
    if value is None:
        return fallback
    try:
        mcolors.to_rgba(value)
    except (ValueError, TypeError):
        return fallback
    return value


# --------------------------------------------------------------------------- the scene
@dataclass
class _Scene:
    look: CircuitLook
    pos: dict[Any, np.ndarray]
    shapes: dict[Any, _Shape]
    r0: float
    layout: str
    curves: dict[tuple[Any, Any], _Curve] = field(default_factory=dict)

    @property
    def big_arc(self) -> bool:
        """An arc wide enough for the legend to sit in its empty middle."""
        if self.layout != "arc" or not self.pos:
            return False
        return max(float(np.hypot(*p)) for p in self.pos.values()) >= 6.0

    @property
    def inch_per_slot(self) -> float:
        if self.layout == "arc" and not self.big_arc:
            return _INCH_PER_SLOT["layered"]
        return _INCH_PER_SLOT[self.layout]


def _radius_fractions(look: CircuitLook) -> dict[Any, float]:
    sizes = [v.size for v in look.nodes.values() if v.size is not None]
    biggest = max(sizes, default=1)
    out = {}
    for n, v in look.nodes.items():
        frac = math.sqrt(v.size / biggest) if v.size is not None else 0.5
        out[n] = max(frac, _MIN_FRAC)
    return out


def _normalise_user_pos(pos: dict[Any, np.ndarray], frac: dict[Any, float]) -> tuple[dict, float]:
    """Rescale user positions to layout slots and pick a largest radius that fits."""
    names = list(pos)
    if len(names) < 2:
        return {n: np.zeros(2) for n in names}, _R0
    xy = np.array([pos[n] for n in names])
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    nearest = np.min(d, axis=1)
    typical = float(np.median(nearest[np.isfinite(nearest)])) if np.isfinite(nearest).any() \
        else 1.0
    scale = 1.6 / typical if typical > 0 else 1.0
    xy = (xy - xy.mean(axis=0)) * scale
    d = d * scale
    f = np.array([frac[n] for n in names])
    fit = 0.85 * d / (f[:, None] + f[None, :])
    r0 = float(min(_R0, np.min(fit))) if np.isfinite(fit).any() else _R0
    r0 = max(r0, 0.08)  # coincident user positions: overlap rather than vanish
    return {n: xy[i] for i, n in enumerate(names)}, r0


def _build_scene(G: nx.Graph, look: CircuitLook, layout: Any, node_scale: float) -> _Scene:
    frac = _radius_fractions(look)
    r0 = _R0 * node_scale
    radius = {n: r0 * f for n, f in frac.items()}
    pos, name, user = resolve_layout(G, look, layout, radius)
    if user:
        pos, r0 = _normalise_user_pos(pos, frac)
        r0 *= node_scale
    shapes = {}
    for n, v in look.nodes.items():
        r = r0 * frac[n]
        square = v.kind in ("input", "output")
        # A square of the same area as the disc: side = r * sqrt(pi).
        shapes[n] = _Shape(np.asarray(pos[n], float), r * math.sqrt(math.pi) / 2 if square
                           else r, square)
    scene = _Scene(look, {n: np.asarray(p, float) for n, p in pos.items()}, shapes, r0, name)
    _route_edges(scene)
    return scene


def _hits(f: Callable, scene: _Scene, skip: tuple[Any, Any], pad: float) -> int:
    pts = f(np.linspace(0.04, 0.96, 60))
    n = 0
    for name, s in scene.shapes.items():
        if name in skip:
            continue
        n += int(s.inside(pts, pad).any())
    return n


def _route_edges(scene: _Scene) -> None:
    """Choose each edge's curve: reciprocal pairs bend apart, others avoid nodes."""
    pairs = {(e.src, e.dst) for e in scene.look.edges}
    pad = 0.12 * scene.r0 / _R0
    ring = max((float(np.hypot(*p)) for p in scene.pos.values()), default=1.0)
    for e in scene.look.edges:
        if e.src not in scene.pos or e.dst not in scene.pos:
            continue
        if e.src == e.dst:
            continue
        p0, p2 = scene.pos[e.src], scene.pos[e.dst]
        length = float(np.hypot(*(p2 - p0)))
        if length == 0:
            continue
        if scene.layout == "arc":
            scene.curves[(e.src, e.dst)] = _Curve(_chord(p0, p2, ring, scene.r0))
            continue
        reciprocal = (e.dst, e.src) in pairs
        cands = [0.1, 0.18, 0.28, 0.4, 0.55] if reciprocal else \
            [0.0, 0.1, -0.1, 0.18, -0.18, 0.28, -0.28, 0.4, -0.4, 0.55, -0.55]
        best, best_hits = None, None
        for bend in cands:
            f = _bend_curve(p0, p2, bend)
            h = _hits(f, scene, (e.src, e.dst), pad)
            if h == 0:
                best = f
                break
            if best_hits is None or h < best_hits:
                best, best_hits = f, h
        scene.curves[(e.src, e.dst)] = _Curve(best)
    # Clip every curve at the node outlines.
    gap = 0.06 * scene.r0 / _R0
    for (u, v), c in scene.curves.items():
        c.t0 = _exit_t(c.f, scene.shapes[u], gap, reverse=False)
        c.t1 = _exit_t(c.f, scene.shapes[v], gap, reverse=True)
    for e in scene.look.edges:
        if e.src == e.dst and e.src in scene.shapes:
            scene.curves[(e.src, e.src)] = _loop_curve(scene, e.src)


def _loop_curve(scene: _Scene, n: Any) -> _Curve:
    """A loop on the side of node ``n`` with the most free angle (up when in doubt)."""
    s = scene.shapes[n]
    c = s.center
    taken: list[float] = []
    for (u, v), cur in scene.curves.items():
        if u == v:
            continue
        if u == n:
            p = cur.at(min(cur.t0 + 0.02, 1.0))
        elif v == n:
            p = cur.at(max(cur.t1 - 0.02, 0.0))
        else:
            continue
        taken.append(math.atan2(p[1] - c[1], p[0] - c[0]))
    for m, p in scene.pos.items():
        if m != n and np.hypot(*(p - c)) < 2.2 * scene.r0 + s.r:
            taken.append(math.atan2(p[1] - c[1], p[0] - c[0]))
    cands = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    if taken:
        gaps = [min(abs((a - t + np.pi) % (2 * np.pi) - np.pi) for t in taken) for a in cands]
    else:
        gaps = [np.pi] * len(cands)
    pref = [abs((a - np.pi / 2 + np.pi) % (2 * np.pi) - np.pi) for a in cands]
    best = max(range(len(cands)), key=lambda i: (round(gaps[i], 2), -pref[i]))
    phi = float(cands[best])
    r = s.r
    reach = 0.55 * scene.r0 + 0.75 * r
    da, dc = 0.42, 0.95

    def ray(a: float, dist: float) -> np.ndarray:
        return c + dist * np.array([math.cos(a), math.sin(a)])

    f = _cubic(ray(phi - da, r), ray(phi - dc, r + reach * 1.5),
               ray(phi + dc, r + reach * 1.5), ray(phi + da, r))
    gap = 0.06 * scene.r0 / _R0
    curve = _Curve(f)
    curve.t0 = _exit_t(f, _Shape(c, r, s.square), gap, reverse=False)
    curve.t1 = _exit_t(f, _Shape(c, r, s.square), gap, reverse=True)
    curve.extra["phi"] = phi
    curve.extra["reach"] = reach * 1.2
    return curve


def _bounds(scene: _Scene, font_size: float = 9.0,
            show_sizes: bool = True) -> tuple[float, float, float, float]:
    """Data limits that hold the nodes, curves, groups and (estimated) outside labels."""
    slot_pt = 72.0 * scene.inch_per_slot
    pts = []
    for n, s in scene.shapes.items():
        pts.append(s.center - s.r * 1.2)
        pts.append(s.center + s.r * 1.2)
        lines = node_text(scene.look.nodes[n], show_sizes).split("\n")
        w = max(len(x) for x in lines) * 0.6 * font_size / slot_pt
        h = len(lines) * 1.3 * font_size / slot_pt
        if scene.layout == "arc":
            u = s.center / (np.hypot(*s.center) or 1.0)
            loop = (scene.curves[(n, n)].extra.get("reach", 0.0)
                    if (n, n) in scene.curves else 0.0)
            # Room for two rows of labels: they stagger where the arc runs flat.
            p = s.center + u * (s.r + loop + 0.1 + 1.6 * h * abs(u[1]))
            ha, va = _anchor(u)
            x0 = {"left": 0.0, "right": -w, "center": -w / 2}[ha]
            y0 = {"bottom": 0.0, "top": -h, "center": -h / 2}[va]
            pts += [p + np.array([x0, y0]), p + np.array([x0 + w, y0 + h])]
        else:
            pts += [s.center + np.array([sx * max(s.r, w / 2), sy * (s.r + h + 0.05)])
                    for sx in (-1, 1) for sy in (-1, 1)]
    for c in scene.curves.values():
        pts.extend(c.f(np.linspace(c.t0, c.t1, 40)))
    for members in scene.look.groups.values():
        for m in members:
            if m in scene.shapes:
                pts.append(scene.shapes[m].center
                           + np.array([0, scene.shapes[m].r + 1.6 * font_size / slot_pt + 0.3]))
    arr = np.array(pts) if pts else np.zeros((1, 2))
    lo, hi = arr.min(axis=0), arr.max(axis=0)
    return lo[0] - 0.15, hi[0] + 0.15, lo[1] - 0.15, hi[1] + 0.15


def diagram_figsize(G: nx.Graph, *, layout: Any = None, legend: bool = True,
                    node_scale: float = 1.0, font_size: float = 9.0,
                    show_sizes: bool = True) -> tuple[float, float]:
    """The figure size (inches) :func:`draw` uses when it makes its own figure.

    Examples
    --------
    >>> from mrnngraph.presets import cbgt_loop
    >>> w, h = diagram_figsize(cbgt_loop())
    >>> 6 < w < 16 and 3 < h < 10
    True
    """
    look = read_graph(G)
    scene = _build_scene(G, look, layout, node_scale)
    return _figsize(scene, legend, font_size, show_sizes)


def diagram_frame(G: nx.Graph, *, layout: Any = None, legend: bool = True,
                  title: bool = False) -> tuple[float, float, tuple[float, float, float, float]]:
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
    scene = _build_scene(G, look, layout, 1.0)
    w, h = _figsize(scene, legend)
    return w, h, _axes_rect(scene, w, h, legend, title)


def _axes_rect(scene: _Scene, w: float, h: float, legend: bool,
               title: bool) -> tuple[float, float, float, float]:
    right = (_LEGEND_IN if legend and not scene.big_arc else 0.1) / w
    top = (0.1 + (0.35 if title else 0.0)) / h
    return (0.1 / w, 0.1 / h, 1 - right - 0.1 / w, 1 - top - 0.1 / h)


def _figsize(scene: _Scene, legend: bool, font_size: float = 9.0,
             show_sizes: bool = True) -> tuple[float, float]:
    x0, x1, y0, y1 = _bounds(scene, font_size, show_sizes)
    ips = scene.inch_per_slot
    w, h = (x1 - x0) * ips, (y1 - y0) * ips
    if scene.big_arc:
        size = (max(w, 4.0) + 0.2, max(h, 3.0) + 0.2)
    else:
        size = (max(w, 3.5) + (_LEGEND_IN if legend else 0.2),
                max(h, 2.6, 2.9 if legend else 0.0))
    return round(float(min(size[0], 22.0)), 2), round(float(min(size[1], 14.0)), 2)


# --------------------------------------------------------------------------- drawing
def draw(G: nx.Graph, ax: Axes | None = None, *, layout: Any = None, show_sizes: bool = True,
         legend: bool = True, edge_labels: Any = "label", engine: str = "matplotlib",
         **style: Any) -> Axes:
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
    edge_labels : "label", "density", "ei", bool, dict or callable
        Text on the edges: ``"label"`` (default) the edges' ``label``
        attribute where given; ``"density"``; ``"ei"`` the E/I sub-pathways;
        ``True`` all of these; ``False``/``None`` none; a dict ``(src, dst) -> str``;
        or a function ``f(src, dst, attrs) -> str | None``.
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
        If ``G`` is not a networkx graph, or an unknown style option is given.
    ValueError
        For an unknown layout, ``edge_labels`` choice, colour key or engine.
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
        raise TypeError(f"draw() got unknown style option(s) {sorted(unknown)}; "
                        f"known: {', '.join(STYLE_DEFAULTS)}")
    opts = {**STYLE_DEFAULTS, **style}
    check_edge_labels(edge_labels)
    look = read_graph(G)
    if engine == "graphviz":
        ax = _draw_graphviz(G, ax, show_sizes=show_sizes, edge_labels=edge_labels)
        if legend:
            _draw_legend(ax, look, _colors(opts["colors"]), float(opts["font_size"]),
                         inside=False)
        return ax
    if engine != "matplotlib":
        raise ValueError(f"engine must be 'matplotlib' or 'graphviz'; got {engine!r}")
    scene = _build_scene(G, look, layout, float(opts["node_scale"]))
    colors = _colors(opts["colors"])

    inside = scene.big_arc  # the legend fits in the empty middle of a large arc
    if ax is None:
        import matplotlib.pyplot as plt

        w, h = _figsize(scene, legend, float(opts["font_size"]), show_sizes)
        fig = plt.figure(figsize=(w, h))
        ax = fig.add_axes(_axes_rect(scene, w, h, legend, bool(opts["title"])))
    pt = _fit_limits(ax, _bounds(scene, float(opts["font_size"]), show_sizes))
    _draw_groups(ax, scene, pt, float(opts["font_size"]))
    _draw_edges(ax, scene, pt, opts, colors)
    _draw_nodes(ax, scene, colors)
    labels = _draw_labels(ax, scene, show_sizes, float(opts["font_size"]))
    elabels = _edge_label_texts(G, scene, edge_labels)
    _place_labels(ax, scene, labels, elabels, float(opts["font_size"]))
    if legend:
        _draw_legend(ax, scene.look, colors, float(opts["font_size"]), inside=inside)
    if opts["title"]:
        ax.set_title(str(opts["title"]), fontsize=float(opts["font_size"]) * 1.3)
    return ax


def _fit_limits(ax: Axes, bounds: tuple[float, float, float, float]) -> float:
    """Set equal-aspect limits that fill the axes box; return data units per point.

    The limits are widened here (not by ``adjustable="datalim"`` at draw time) so
    that the label placement, which needs the final transform, sees it now.
    """
    fig = ax.figure
    x0, x1, y0, y1 = bounds
    box = ax.get_position(original=True).transformed(fig.transSubfigure)
    w_px, h_px = max(box.width, 1.0), max(box.height, 1.0)
    dw, dh = x1 - x0, y1 - y0
    if dw / dh < w_px / h_px:
        grow = dh * w_px / h_px - dw
        x0, x1 = x0 - grow / 2, x1 + grow / 2
    else:
        grow = dw * h_px / w_px - dh
        y0, y1 = y0 - grow / 2, y1 + grow / 2
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    return (x1 - x0) / (w_px * 72.0 / fig.dpi)


def _colors(override: Any) -> dict[str, Any]:
    colors = dict(S.NODE_COLORS)
    colors.update({f"edge_{k}": v for k, v in S.EDGE_COLORS.items()})
    if override is not None:
        if not isinstance(override, Mapping):
            raise TypeError(f"colors must be a dict; got {type(override).__name__}")
        for k, v in override.items():
            if k not in colors:
                raise ValueError(f"unknown colour key {k!r}; known: {', '.join(colors)}")
            colors[k] = v
    return colors


def _draw_groups(ax: Axes, scene: _Scene, pt: float, font_size: float) -> None:
    for g, members in scene.look.groups.items():
        shapes = [scene.shapes[m] for m in members if m in scene.shapes]
        if not shapes:
            continue
        pad = 0.22 * scene.r0 / _R0
        head = font_size * 1.5 * pt
        lo = np.min([s.center - s.r for s in shapes], axis=0) - pad
        hi = np.max([s.center + s.r for s in shapes], axis=0) + pad
        hi[1] += head
        others = [s for n, s in scene.shapes.items() if n not in members]
        swallowed = any(np.all(s.center + s.r > lo) and np.all(s.center - s.r < hi)
                        for s in others)
        if swallowed:
            patch, top = _halo_patch(shapes, pad, head)
            ha = "left"
        else:
            patch = FancyBboxPatch(tuple(lo), hi[0] - lo[0], hi[1] - lo[1],
                                   boxstyle=f"round,pad=0,rounding_size={pad * 1.2}")
            # The top corner farther from the members' self-loops gets the name.
            loops = [scene.curves[(m, m)] for m in members if (m, m) in scene.curves]
            pts = np.concatenate([c.f(np.linspace(c.t0, c.t1, 30)) for c in loops]) \
                if loops else np.zeros((0, 2))
            left = np.array([lo[0] + pad, hi[1] - head / 2])
            right = np.array([hi[0] - pad, hi[1] - head / 2])

            def clearance(p: np.ndarray, pts: np.ndarray = pts) -> float:
                return float(np.min(np.hypot(*(pts - p).T))) if len(pts) else np.inf

            use_right = clearance(right) > clearance(left) + 1e-9
            top = (hi[0] - pad * 0.6 if use_right else lo[0] + pad * 0.6, hi[1] - head * 0.15)
            ha = "right" if use_right else "left"
        patch.set(facecolor=S.GROUP_COLOR, lw=0.9, zorder=0.2, gid=f"mrnngraph:group:{g}")
        if not swallowed:
            patch.set_edgecolor("#9A9A9A")
        ax.add_patch(patch)
        ax.text(top[0], top[1], str(g), ha=ha, va="top", fontsize=font_size * 0.95,
                fontstyle="italic", color="#444444", zorder=0.3, gid=f"mrnngraph:grouplabel:{g}")


def _halo_patch(shapes: list[_Shape], pad: float, head: float) -> tuple[PathPatch, tuple]:
    """The union of the members' padded outlines: for a group whose box would take in
    other nodes (a convex hull would too, whenever one sits between two members)."""
    paths = []
    for sh in shapes:
        if sh.square:
            paths.append(Path.unit_rectangle().transformed(
                Affine2D().scale(2 * (sh.r + pad)).translate(*(sh.center - sh.r - pad))))
        else:
            paths.append(Path.circle(tuple(sh.center), sh.r + pad))
    top = max(shapes, key=lambda sh: sh.center[1] + sh.r)
    # One path, all parts wound the same way: the fill is their union.
    patch = PathPatch(Path.make_compound_path(*paths))
    patch.set_edgecolor("none")
    return patch, (top.center[0] - top.r, top.center[1] + top.r + pad + head * 0.9)


def _edge_key(e: EdgeLook) -> str:
    return f"{e.src}->{e.dst}"


def _draw_edges(ax: Axes, scene: _Scene, pt: float, opts: dict, colors: dict) -> None:
    edges = [e for e in scene.look.edges if (e.src, e.dst) in scene.curves]
    auto_alpha = opts["edge_alpha"] is None and len(edges) > 40
    dmax = max((e.density or 0.0 for e in edges), default=1.0) or 1.0
    # Faint, thin edges first so the strong ones stay on top.
    for e in sorted(edges, key=lambda e: (e.density or 0.0)):
        c = scene.curves[(e.src, e.dst)]
        lw = S.edge_width(e.density, lw_min=float(opts["lw_min"]), lw_max=float(opts["lw_max"]))
        if e.style == "zero":
            lw = min(lw, 1.8)  # a zero pathway has no synapses: its density is only declared
        if e.style == "frozen":
            color = S.FROZEN_COLOR
        else:
            color = _safe_color(e.color, colors[f"edge_{e.head}"])
        if auto_alpha:
            alpha = 0.25 + 0.75 * (e.density or 0.0) / dmax
        else:
            alpha = 1.0 if opts["edge_alpha"] is None else float(opts["edge_alpha"])
        head_len = (5.0 + 1.4 * lw) * pt
        back = {"exc": 0.8, "inh": 0.05, "mixed": 0.4, "free": 0.05}[e.head] * head_len
        t_end = _back_off(c.f, c.t1, back, c.t0)
        pts = c.f(np.linspace(c.t0, t_end, 64 if e.src != e.dst else 48))
        z = 1.0 + 0.5 * (e.density or 0.0)
        shaft = PathPatch(Path(pts), facecolor="none", edgecolor=color, lw=lw,
                          linestyle=S.LINESTYLES[e.style], capstyle="butt", alpha=alpha,
                          zorder=z, gid=f"mrnngraph:edge:{_edge_key(e)}")
        shaft.mrnngraph_style = e.style  # type: ignore[attr-defined]
        shaft.mrnngraph_head = e.head  # type: ignore[attr-defined]
        # add_artist, not add_patch: the limits are set already, and updating them per
        # patch costs seconds on a 600-edge circuit.
        ax.add_artist(shaft)
        tip = c.at(c.t1)
        direction = tip - c.at(max(c.t1 - 0.01, c.t0))
        for art in S.head_artists(e.head, tip, direction, head_len, color=color, lw=lw,
                                  zorder=z + 0.01):
            art.set_gid(f"mrnngraph:head:{e.head}:{_edge_key(e)}")
            art.set_alpha(alpha)
            ax.add_artist(art)
        if e.invalid:
            # A third of the way along: the middle is where an edge label goes.
            _warn_marker(ax, c.at(c.t0 + (c.t1 - c.t0) / 3),
                         f"mrnngraph:invalid:edge:{_edge_key(e)}")


def _warn_marker(ax: Axes, xy: np.ndarray, gid: str) -> None:
    ax.add_line(Line2D([xy[0]], [xy[1]], marker="X", markersize=9, markerfacecolor=S.WARN_COLOR,
                       markeredgecolor="black", markeredgewidth=0.8, linestyle="none",
                       zorder=8, gid=gid))


def _node_fill(v: NodeLook, colors: dict) -> Any:
    return _safe_color(v.color, colors[v.category])


def _draw_nodes(ax: Axes, scene: _Scene, colors: dict) -> None:
    for n, v in scene.look.nodes.items():
        s = scene.shapes[n]
        gid = f"mrnngraph:node:{n}"
        edge_kw = {"edgecolor": "black" if v.invalid else "#222222",
                   "linestyle": (0, (3, 2)) if v.invalid else "solid",
                   "lw": 1.3 if v.invalid else 0.9}
        if s.square:
            patch = FancyBboxPatch(tuple(s.center - s.r), 2 * s.r, 2 * s.r,
                                   boxstyle=f"round,pad=0,rounding_size={s.r * 0.25}",
                                   facecolor=_node_fill(v, colors), zorder=3, gid=gid, **edge_kw)
            ax.add_patch(patch)
        elif v.category == "mixed" and v.color is None:
            frac = float(v.exc_frac or 0.0)
            # The E wedge starts at 12 o'clock and runs clockwise, like a pie chart.
            e_angle = 360.0 * frac
            if 0 < frac < 1:
                ax.add_patch(Wedge(tuple(s.center), s.r, 90 - e_angle, 90,
                                   facecolor=colors["mixed"], edgecolor="none", zorder=3,
                                   gid=f"mrnngraph:wedge:E:{n}"))
                ax.add_patch(Wedge(tuple(s.center), s.r, 90, 450 - e_angle,
                                   facecolor=colors["mixed_alt"], edgecolor="none", zorder=3,
                                   gid=f"mrnngraph:wedge:I:{n}"))
                fill = "none"
            else:
                fill = colors["mixed"] if frac >= 1 else colors["mixed_alt"]
            patch = Circle(tuple(s.center), s.r, facecolor=fill, zorder=3.1, gid=gid, **edge_kw)
            ax.add_patch(patch)
        else:
            patch = Circle(tuple(s.center), s.r, facecolor=_node_fill(v, colors), zorder=3,
                           gid=gid, **edge_kw)
            ax.add_patch(patch)
        patch.mrnngraph_category = v.category  # type: ignore[attr-defined]
        patch.mrnngraph_radius = s.r  # type: ignore[attr-defined]
        if v.invalid:
            _warn_marker(ax, s.center + s.r * np.array([0.75, 0.75]),
                         f"mrnngraph:invalid:node:{n}")


def _draw_labels(ax: Axes, scene: _Scene, show_sizes: bool,
                 font_size: float) -> list[tuple[Any, Any]]:
    out = []
    for n, v in scene.look.nodes.items():
        s = scene.shapes[n]
        t = ax.text(s.center[0], s.center[1], node_text(v, show_sizes), ha="center",
                    va="center", fontsize=font_size, zorder=7, linespacing=1.05,
                    gid=f"mrnngraph:label:{n}")
        out.append((n, t))
    return out


def _edge_label_texts(G: nx.Graph, scene: _Scene, spec: Any) -> list[tuple[EdgeLook, str]]:
    out = []
    for e in scene.look.edges:
        if (e.src, e.dst) not in scene.curves:
            continue
        text = edge_text(e, e.attrs, spec)
        if text:
            out.append((e, text))
    return out


# --------------------------------------------------------------------------- label placement
def _renderer(fig: Any) -> Any:
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    return fig._get_renderer()  # FigureCanvasBase (a bare Figure) has no public getter


def _bbox(t: Any, renderer: Any, pad: float) -> np.ndarray:
    b = t.get_window_extent(renderer)
    return np.array([b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad])


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _circle_hits_box(c: np.ndarray, r: float, box: np.ndarray) -> bool:
    qx = min(max(c[0], box[0]), box[2])
    qy = min(max(c[1], box[1]), box[3])
    return (qx - c[0]) ** 2 + (qy - c[1]) ** 2 < r * r


def _anchor(u: np.ndarray) -> tuple[str, str]:
    """Text alignment that puts a label on the side of its anchor that ``u`` points to."""
    ha = "left" if u[0] > 0.38 else "right" if u[0] < -0.38 else "center"
    va = "bottom" if u[1] > 0.38 else "top" if u[1] < -0.38 else "center"
    return ha, va


_COMPASS = [np.array(v, float) / np.hypot(*v) for v in
            ((0, -1), (0, 1), (1, 0), (-1, 0), (1, -1), (-1, -1), (1, 1), (-1, 1))]


def _aligned_box(xy_px: np.ndarray, w: float, h: float, ha: str, va: str,
                 pad: float) -> np.ndarray:
    """The window extent of an unrotated text of size ``w`` x ``h`` anchored at ``xy_px``."""
    x0 = {"left": xy_px[0], "right": xy_px[0] - w, "center": xy_px[0] - w / 2}[ha]
    y0 = {"bottom": xy_px[1], "top": xy_px[1] - h, "center": xy_px[1] - h / 2}[va]
    return np.array([x0 - pad, y0 - pad, x0 + w + pad, y0 + h + pad])


def _place_labels(ax: Axes, scene: _Scene, labels: list, elabels: list, font_size: float) -> None:
    """Put every label where it overlaps no other label and no node.

    Greedy, inputs and outputs first, then the largest nodes: inside the node
    when the text fits, else the best spot around it (outwards first on the arc
    layout), further out when needed. Overlaps with labels, nodes or the figure
    edge are hard costs; lines under a label, self-loops and the distance from
    the node are soft ones. The font shrinks (to 5 pt at least) only when no
    spot is free of hard costs.
    """
    fig = ax.figure
    renderer = _renderer(fig)
    to_px = ax.transData.transform
    px_per_data = abs(to_px((1, 0))[0] - to_px((0, 0))[0])
    ext = ax.get_window_extent(renderer)
    fig_box = np.array([max(ext.x0, 0), max(ext.y0, 0), min(ext.x1, fig.bbox.width),
                        min(ext.y1, fig.bbox.height)])
    pad = 1.5
    names = list(scene.shapes)
    centers = to_px(np.array([scene.shapes[n].center for n in names])).reshape(-1, 2)
    radii = np.array([scene.shapes[n].r * px_per_data for n in names])
    square = np.array([scene.shapes[n].square for n in names], dtype=bool)
    index = {n: i for i, n in enumerate(names)}
    loops: list[np.ndarray] = []
    loop_of: dict[Any, np.ndarray] = {}
    for (u, v), c in scene.curves.items():
        if u == v:
            xy = to_px(c.f(np.linspace(c.t0, c.t1, 30)))
            loop_of[u] = np.array([*xy.min(axis=0), *xy.max(axis=0)])
            loops.append(loop_of[u])
    placed: list[np.ndarray] = []
    for t in ax.texts:
        if (t.get_gid() or "").startswith("mrnngraph:grouplabel:"):
            placed.append(_bbox(t, renderer, pad))
    centre = np.zeros(2) if scene.layout == "arc" or not scene.shapes else \
        np.mean([s.center for s in scene.shapes.values()], axis=0)
    ink = np.concatenate([to_px(c.f(np.linspace(c.t0, c.t1, 24)))
                          for c in scene.curves.values()]) if scene.curves else np.zeros((0, 2))
    ink_owner = np.repeat(np.arange(len(scene.curves)), 24)
    curve_index = {k: i for i, k in enumerate(scene.curves)}

    def hard(box: np.ndarray, own: Any, inner: bool) -> float:
        c = sum(_overlap(box, p) for p in placed)
        qx = np.clip(centers[:, 0], box[0], box[2])
        qy = np.clip(centers[:, 1], box[1], box[3])
        hit = np.where(square,
                       (np.abs(qx - centers[:, 0]) < radii) & (np.abs(qy - centers[:, 1]) < radii),
                       (qx - centers[:, 0]) ** 2 + (qy - centers[:, 1]) ** 2 < radii ** 2)
        if own is not None and inner:
            hit[index[own]] = False
        c += 200.0 * int(np.count_nonzero(hit))
        if own is not None and not inner:
            # A label nearer another node than its own would name the wrong one.
            qx = np.clip(centers[:, 0], box[0], box[2])
            qy = np.clip(centers[:, 1], box[1], box[3])
            gaps = np.hypot(qx - centers[:, 0], qy - centers[:, 1]) - radii
            i = index[own]
            if np.any(np.delete(gaps, i) < gaps[i]):
                c += 300.0
        inside = (box[0] >= fig_box[0] and box[1] >= fig_box[1] and box[2] <= fig_box[2]
                  and box[3] <= fig_box[3])
        return c + (0.0 if inside else 1e5)

    def soft(box: np.ndarray, own_curve: int = -1) -> float:
        c = 0.0
        if len(ink):
            under = (ink[:, 0] > box[0]) & (ink[:, 0] < box[2]) & (ink[:, 1] > box[1]) \
                & (ink[:, 1] < box[3]) & (ink_owner != own_curve)
            c += 2.0 * int(np.count_nonzero(under))
        return c + sum(0.5 * _overlap(box, lb) for lb in loops)

    # Inputs and outputs first (they sit at the ends, with the least room), then big nodes.
    order = sorted(labels, key=lambda nt: (scene.look.nodes[nt[0]].kind == "recurrent",
                                           -scene.shapes[nt[0]].r))
    for n, t in order:
        s = scene.shapes[n]
        v = scene.look.nodes[n]
        r_px = s.r * px_per_data
        gap = 2.5 / px_per_data
        step = font_size * 1.25 / px_per_data / 72.0 * fig.dpi  # one text line, in data
        loop_far = 0.0
        if n in loop_of:
            lb = loop_of[n]
            corners = np.array([[lb[0], lb[1]], [lb[2], lb[3]], [lb[0], lb[3]], [lb[2], lb[1]]])
            loop_far = float(np.max(np.hypot(*(corners - to_px(s.center)).T))) / px_per_data
        out_dir = s.center - centre
        norm = float(np.hypot(*out_dir))
        outwards = scene.layout == "arc" and norm > 0
        dirs = list(_COMPASS)
        reach = max(loop_far, s.r)
        dists = sorted({s.r + gap, s.r + gap + step, reach + gap, reach + gap + step,
                        reach + gap + 2 * step, reach + gap + 3 * step, reach + gap + 4 * step})
        pairs = [(d, u, 0.0) for d in dists for u in dirs]
        if outwards:
            # Outwards beats any other side (inside the arc are the chords): other
            # directions carry a penalty that only hard costs outweigh.
            u0 = out_dir / norm
            fan = [(np.array([u0[0] * math.cos(a) - u0[1] * math.sin(a),
                              u0[0] * math.sin(a) + u0[1] * math.cos(a)]), 40.0 * abs(a))
                   for a in (0.0, 0.35, -0.35, 0.7, -0.7)]
            pairs = [(d, u, k) for d in dists for u, k in fan] + \
                [(d, u, 200.0) for d, u, _ in pairs]
        cands = [(s.center + d * u, *_anchor(u), False, k) for d, u, k in pairs]
        size = font_size
        best = None
        while True:
            t.set_fontsize(size)
            t.set_position(tuple(s.center))
            t.set_ha("center")
            t.set_va("center")
            box = _bbox(t, renderer, 0)
            w, h = box[2] - box[0], box[3] - box[1]
            fits = (w <= 1.85 * r_px and h <= 1.5 * r_px) if not s.square else \
                (w <= 1.9 * r_px and h <= 1.8 * r_px)
            fits = fits and scene.layout != "arc"  # a ring reads best with every name outside
            options = ([(s.center, "center", "center", True, 0.0)] if fits else []) + cands
            for xy, ha, va, inner, penalty in options:
                box = _aligned_box(to_px(xy), w, h, ha, va, pad)
                far = max(float(np.hypot(*(xy - s.center))) - s.r - gap, 0.0) * px_per_data
                key = (hard(box, n, inner), round(soft(box) + 0.5 * far + penalty, 3))
                if best is None or key < best[0]:
                    best = (key, xy, ha, va, inner, box, size)
                if key == (0.0, 0.0):
                    break
            if best[0][0] == 0 or size <= 5.0:
                break
            size = max(5.0, size * 0.88)
        _, xy, ha, va, inner, box, size = best
        t.set_fontsize(size)
        t.set_position(tuple(xy))
        t.set_ha(ha)
        t.set_va(va)
        if inner:
            fill = _node_fill(v, _colors(None)) if v.category != "mixed" or v.color is not None \
                else S.NODE_COLORS["mixed_alt"]
            t.set_color(S.text_color(fill))
        else:
            t.set_color("#111111")
            t.set_path_effects([patheffects.withStroke(linewidth=2.5, foreground="white")])
        placed.append(box)

    for e, text in elabels:
        c = scene.curves[(e.src, e.dst)]
        t = ax.text(0, 0, text, ha="center", va="center", fontsize=font_size * 0.85,
                    color="#333333", fontstyle="italic", zorder=6.5, linespacing=1.0,
                    gid=f"mrnngraph:edgelabel:{_edge_key(e)}",
                    bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "alpha": 0.85,
                          "edgecolor": "none"})
        t.set_position(tuple(c.at((c.t0 + c.t1) / 2)))
        box = _bbox(t, renderer, 0)
        w, h = box[2] - box[0] + 3, box[3] - box[1] + 3
        best = None
        for frac in (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74):
            tt = c.t0 + (c.t1 - c.t0) * frac
            p0, p1 = to_px(c.at(max(tt - 0.01, 0.0))), to_px(c.at(min(tt + 0.01, 1.0)))
            d = (p1 - p0) / (np.hypot(*(p1 - p0)) or 1.0)
            normal = np.array([-d[1], d[0]])  # left of the direction of travel
            # On the line, or beside it (left first: reciprocal pairs bend left, apart).
            half = 0.5 * (abs(normal[0]) * w + abs(normal[1]) * h) + 2.0
            own = curve_index[(e.src, e.dst)]
            for off, pen in ((0.0, 0.0), (half, 12.0), (-half, 16.0)):
                xy_px = to_px(c.at(tt)) + off * normal
                box = _aligned_box(xy_px, w - 3, h - 3, "center", "center", pad)
                k = (hard(box, None, False),
                     round(soft(box, own) + 20 * abs(frac - 0.5) + pen, 3))
                if best is None or k < best[0]:
                    best = (k, xy_px, box)
        t.set_position(tuple(ax.transData.inverted().transform(best[1])))
        placed.append(best[2])


# --------------------------------------------------------------------------- legend
def _draw_legend(ax: Axes, look: CircuitLook, colors: dict, font_size: float, *,
                 inside: bool) -> None:
    cats = {v.category for v in look.nodes.values()}
    styles = {e.style for e in look.edges}
    heads = {e.head for e in look.edges}
    handles: list[Any] = []
    names: list[str] = []

    def header(text: str) -> None:
        handles.append(Line2D([], [], linestyle="none"))
        names.append(text)

    header("Regions (area ∝ units)")
    for cat in CATEGORIES:
        if cat not in cats:
            continue
        marker = "s" if cat in ("input", "output") else "o"
        kw: dict[str, Any] = {"markerfacecolor": colors[cat]}
        if cat == "mixed":
            kw.update(fillstyle="left", markerfacecoloralt=colors["mixed_alt"])
        handles.append(Line2D([], [], marker=marker, markersize=10, linestyle="none",
                              markeredgecolor="#222222", markeredgewidth=0.8, **kw))
        names.append(S.CATEGORY_NAMES[cat])
    if look.edges:
        header("Projections (width ∝ density)")
    for head in HEADS:
        if head in heads:
            handles.append(S.EdgeKey(head=head, color=colors[f"edge_{head}"]))
            names.append(S.HEAD_NAMES[head])
    for st in ("trained", "zero", "frozen"):
        if st in styles and (st != "trained" or len(styles) > 1):
            color = S.FROZEN_COLOR if st == "frozen" else "#333333"
            handles.append(S.EdgeKey(head=None, color=color, linestyle=S.LINESTYLES[st]))
            names.append(S.STYLE_NAMES[st])
    if any(v.invalid for v in look.nodes.values()) or any(e.invalid for e in look.edges):
        handles.append(Line2D([], [], marker="X", markersize=9, linestyle="none",
                              markerfacecolor=S.WARN_COLOR, markeredgecolor="black",
                              markeredgewidth=0.8))
        names.append("invalid attribute (see validate)")
    where = ({"loc": "lower center", "bbox_to_anchor": (0.5, 0.0), "ncols": 2} if inside
             else {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0)})
    leg = ax.legend(handles, names, frameon=False, fontsize=font_size * 0.95, handlelength=2.6,
                    borderaxespad=0.2, handler_map={S.EdgeKey: S.HandlerEdge()}, **where)
    for text, name in zip(leg.get_texts(), names, strict=True):
        if name.startswith(("Regions", "Projections")):
            text.set_fontweight("bold")
    leg.set_gid("mrnngraph:legend")


# --------------------------------------------------------------------------- graphviz
def _draw_graphviz(G: nx.Graph, ax: Axes | None, *, show_sizes: bool,
                   edge_labels: Any) -> Axes:
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            "draw(..., engine='graphviz') needs the optional 'graphviz' Python package and "
            "Graphviz's 'dot' program: pip install 'mrnngraph[graphviz]' (or pip install "
            "graphviz) and install Graphviz; engine='matplotlib' needs neither") from None
    import io

    import matplotlib.image as mimg

    from .dot import to_dot

    png = graphviz.Source(to_dot(G, show_sizes=show_sizes, edge_labels=edge_labels)).pipe(
        format="png")
    img = mimg.imread(io.BytesIO(png), format="png")
    if ax is None:
        import matplotlib.pyplot as plt

        h, w = img.shape[:2]
        fw, fh = max(w / 96, 2.0) + _LEGEND_IN, max(h / 96, 2.9)
        fig = plt.figure(figsize=(fw, fh))
        ax = fig.add_axes((0.02, 0.02, 1 - _LEGEND_IN / fw - 0.02, 0.96))
    ax.imshow(img, interpolation="antialiased")
    ax.set_axis_off()
    ax.images[-1].set_gid("mrnngraph:graphviz")
    return ax
