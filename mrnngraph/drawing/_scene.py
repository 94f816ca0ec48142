"""The scene of an area diagram: node shapes and positions, edge routes, self-loops,
and the data bounds and figure size they need (no artists)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from ._geometry import Curve, Shape, anchor, bend_curve, chord, cubic, exit_t
from ._layout import resolve_layout
from ._read import CircuitLook, node_text

__all__ = ["R0", "LEGEND_IN", "Scene", "build_scene", "bounds", "axes_rect", "figsize"]


R0 = 0.45  # radius of the largest node, in layout slots
_MIN_FRAC = 0.22  # smallest radius relative to the largest, so 2-unit inputs stay visible
# Figure inches per layout slot when draw() makes the figure (the arc packs more nodes).
_INCH_PER_SLOT = {"layered": 0.78, "arc": 0.42, "user": 0.78}
LEGEND_IN = 2.55  # figure inches kept right of the axes for a legend outside


@dataclass
class Scene:
    look: CircuitLook
    pos: dict[Any, np.ndarray]
    shapes: dict[Any, Shape]
    r0: float
    layout: str
    curves: dict[tuple[Any, Any], Curve] = field(default_factory=dict)

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
        return {n: np.zeros(2) for n in names}, R0
    xy = np.array([pos[n] for n in names])
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    nearest = np.min(d, axis=1)
    typical = float(np.median(nearest[np.isfinite(nearest)])) if np.isfinite(nearest).any() else 1.0
    scale = 1.6 / typical if typical > 0 else 1.0
    xy = (xy - xy.mean(axis=0)) * scale
    d = d * scale
    f = np.array([frac[n] for n in names])
    fit = 0.85 * d / (f[:, None] + f[None, :])
    r0 = float(min(R0, np.min(fit))) if np.isfinite(fit).any() else R0
    r0 = max(r0, 0.08)  # coincident user positions: overlap rather than vanish
    return {n: xy[i] for i, n in enumerate(names)}, r0


def build_scene(G: nx.Graph, look: CircuitLook, layout: Any, node_scale: float) -> Scene:
    frac = _radius_fractions(look)
    r0 = R0 * node_scale
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
        shapes[n] = Shape(
            np.asarray(pos[n], float), r * math.sqrt(math.pi) / 2 if square else r, square
        )
    scene = Scene(look, {n: np.asarray(p, float) for n, p in pos.items()}, shapes, r0, name)
    _route_edges(scene)
    return scene


def _hits(f: Callable, scene: Scene, skip: tuple[Any, Any], pad: float) -> int:
    pts = f(np.linspace(0.04, 0.96, 60))
    n = 0
    for name, s in scene.shapes.items():
        if name in skip:
            continue
        n += int(s.inside(pts, pad).any())
    return n


def _route_edges(scene: Scene) -> None:
    """Choose each edge's curve: reciprocal pairs bend apart, others avoid nodes."""
    pairs = {(e.src, e.dst) for e in scene.look.edges}
    pad = 0.12 * scene.r0 / R0
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
            scene.curves[(e.src, e.dst)] = Curve(chord(p0, p2, ring, scene.r0))
            continue
        reciprocal = (e.dst, e.src) in pairs
        cands = (
            [0.1, 0.18, 0.28, 0.4, 0.55]
            if reciprocal
            else [0.0, 0.1, -0.1, 0.18, -0.18, 0.28, -0.28, 0.4, -0.4, 0.55, -0.55]
        )
        best, best_hits = None, None
        for bend in cands:
            f = bend_curve(p0, p2, bend)
            h = _hits(f, scene, (e.src, e.dst), pad)
            if h == 0:
                best = f
                break
            if best_hits is None or h < best_hits:
                best, best_hits = f, h
        scene.curves[(e.src, e.dst)] = Curve(best)
    # Clip every curve at the node outlines.
    gap = 0.06 * scene.r0 / R0
    for (u, v), c in scene.curves.items():
        c.t0 = exit_t(c.f, scene.shapes[u], gap, reverse=False)
        c.t1 = exit_t(c.f, scene.shapes[v], gap, reverse=True)
    for e in scene.look.edges:
        if e.src == e.dst and e.src in scene.shapes:
            scene.curves[(e.src, e.src)] = _loop_curve(scene, e.src)


def _loop_curve(scene: Scene, n: Any) -> Curve:
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

    f = cubic(
        ray(phi - da, r),
        ray(phi - dc, r + reach * 1.5),
        ray(phi + dc, r + reach * 1.5),
        ray(phi + da, r),
    )
    gap = 0.06 * scene.r0 / R0
    curve = Curve(f)
    curve.t0 = exit_t(f, Shape(c, r, s.square), gap, reverse=False)
    curve.t1 = exit_t(f, Shape(c, r, s.square), gap, reverse=True)
    curve.extra["phi"] = phi
    curve.extra["reach"] = reach * 1.2
    return curve


def bounds(
    scene: Scene, font_size: float = 9.0, show_sizes: bool = True
) -> tuple[float, float, float, float]:
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
            loop = scene.curves[(n, n)].extra.get("reach", 0.0) if (n, n) in scene.curves else 0.0
            # Room for two rows of labels: they stagger where the arc runs flat.
            p = s.center + u * (s.r + loop + 0.1 + 1.6 * h * abs(u[1]))
            ha, va = anchor(u)
            x0 = {"left": 0.0, "right": -w, "center": -w / 2}[ha]
            y0 = {"bottom": 0.0, "top": -h, "center": -h / 2}[va]
            pts += [p + np.array([x0, y0]), p + np.array([x0 + w, y0 + h])]
        else:
            pts += [
                s.center + np.array([sx * max(s.r, w / 2), sy * (s.r + h + 0.05)])
                for sx in (-1, 1)
                for sy in (-1, 1)
            ]
    for c in scene.curves.values():
        pts.extend(c.f(np.linspace(c.t0, c.t1, 40)))
    for members in scene.look.groups.values():
        for m in members:
            if m in scene.shapes:
                pts.append(
                    scene.shapes[m].center
                    + np.array([0, scene.shapes[m].r + 1.6 * font_size / slot_pt + 0.3])
                )
    arr = np.array(pts) if pts else np.zeros((1, 2))
    lo, hi = arr.min(axis=0), arr.max(axis=0)
    return lo[0] - 0.15, hi[0] + 0.15, lo[1] - 0.15, hi[1] + 0.15


def axes_rect(
    scene: Scene, w: float, h: float, legend: bool, title: bool
) -> tuple[float, float, float, float]:
    right = (LEGEND_IN if legend and not scene.big_arc else 0.1) / w
    top = (0.1 + (0.35 if title else 0.0)) / h
    return (0.1 / w, 0.1 / h, 1 - right - 0.1 / w, 1 - top - 0.1 / h)


def figsize(
    scene: Scene, legend: bool, font_size: float = 9.0, show_sizes: bool = True
) -> tuple[float, float]:
    x0, x1, y0, y1 = bounds(scene, font_size, show_sizes)
    ips = scene.inch_per_slot
    w, h = (x1 - x0) * ips, (y1 - y0) * ips
    if scene.big_arc:
        size = (max(w, 4.0) + 0.2, max(h, 3.0) + 0.2)
    else:
        size = (max(w, 3.5) + (LEGEND_IN if legend else 0.2), max(h, 2.6, 2.9 if legend else 0.0))
    return round(float(min(size[0], 22.0)), 2), round(float(min(size[1], 14.0)), 2)
