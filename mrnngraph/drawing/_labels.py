"""Label placement of an area diagram: every node and edge label where it overlaps
no other label and no node."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes

from . import _style as S
from ._artists import edge_key, node_fill, resolve_colors
from ._geometry import anchor
from ._scene import Scene

__all__ = ["place_labels"]


def _renderer(fig: Any) -> Any:
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    return fig._get_renderer()  # FigureCanvasBase (a bare Figure) has no public getter


def _bbox(t: Any, renderer: Any, pad: float) -> np.ndarray:
    b = t.get_window_extent(renderer)
    return np.array([b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad])


def _segments_box(collection: Any, dpi: float, pad: float) -> np.ndarray:
    """The window extent of a line collection's ink (its own ``get_window_extent`` is
    empty): the segments' ends, widened by half the widest line."""
    xy = collection.get_transform().transform(np.concatenate(collection.get_segments()))
    half = max(collection.get_linewidths(), default=0.0) * dpi / 72.0 / 2 + pad
    return np.array([*(xy.min(axis=0) - half), *(xy.max(axis=0) + half)])


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


_COMPASS = [
    np.array(v, float) / np.hypot(*v)
    for v in ((0, -1), (0, 1), (1, 0), (-1, 0), (1, -1), (-1, -1), (1, 1), (-1, 1))
]


def _aligned_box(xy_px: np.ndarray, w: float, h: float, ha: str, va: str, pad: float) -> np.ndarray:
    """The window extent of an unrotated text of size ``w`` x ``h`` anchored at ``xy_px``."""
    x0 = {"left": xy_px[0], "right": xy_px[0] - w, "center": xy_px[0] - w / 2}[ha]
    y0 = {"bottom": xy_px[1], "top": xy_px[1] - h, "center": xy_px[1] - h / 2}[va]
    return np.array([x0 - pad, y0 - pad, x0 + w + pad, y0 + h + pad])


def place_labels(ax: Axes, scene: Scene, labels: list, elabels: list, font_size: float) -> None:
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
    fig_box = np.array(
        [max(ext.x0, 0), max(ext.y0, 0), min(ext.x1, fig.bbox.width), min(ext.y1, fig.bbox.height)]
    )
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
    for art in ax.get_children():  # delay marks stay readable: no label over them
        if (art.get_gid() or "").startswith("mrnngraph:delay:"):
            placed.append(_segments_box(art, fig.dpi, pad))
    stacked: list[Any] = [0, np.zeros((0, 4))]  # placed, as one array (rebuilt when it grows)

    def overlaps(box: np.ndarray) -> float:
        if stacked[0] != len(placed):
            stacked[:] = [len(placed), np.array(placed).reshape(-1, 4)]
        p = stacked[1]
        w = np.minimum(p[:, 2], box[2]) - np.maximum(p[:, 0], box[0])
        h = np.minimum(p[:, 3], box[3]) - np.maximum(p[:, 1], box[1])
        return float(np.sum(np.where((w > 0) & (h > 0), w * h, 0.0)))

    centre = (
        np.zeros(2)
        if scene.layout == "arc" or not scene.shapes
        else np.mean([s.center for s in scene.shapes.values()], axis=0)
    )
    ink = (
        np.concatenate([to_px(c.f(np.linspace(c.t0, c.t1, 24))) for c in scene.curves.values()])
        if scene.curves
        else np.zeros((0, 2))
    )
    ink_owner = np.repeat(np.arange(len(scene.curves)), 24)
    curve_index = {k: i for i, k in enumerate(scene.curves)}

    def hard(box: np.ndarray, own: Any, inner: bool) -> float:
        c = overlaps(box)
        qx = np.clip(centers[:, 0], box[0], box[2])
        qy = np.clip(centers[:, 1], box[1], box[3])
        hit = np.where(
            square,
            (np.abs(qx - centers[:, 0]) < radii) & (np.abs(qy - centers[:, 1]) < radii),
            (qx - centers[:, 0]) ** 2 + (qy - centers[:, 1]) ** 2 < radii**2,
        )
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
        inside = (
            box[0] >= fig_box[0]
            and box[1] >= fig_box[1]
            and box[2] <= fig_box[2]
            and box[3] <= fig_box[3]
        )
        return c + (0.0 if inside else 1e5)

    def soft(box: np.ndarray, own_curve: int = -1) -> float:
        c = 0.0
        if len(ink):
            under = (
                (ink[:, 0] > box[0])
                & (ink[:, 0] < box[2])
                & (ink[:, 1] > box[1])
                & (ink[:, 1] < box[3])
                & (ink_owner != own_curve)
            )
            c += 2.0 * int(np.count_nonzero(under))
        return c + sum(0.5 * _overlap(box, lb) for lb in loops)

    # Inputs and outputs first (they sit at the ends, with the least room), then big nodes.
    order = sorted(
        labels, key=lambda nt: (scene.look.nodes[nt[0]].kind == "recurrent", -scene.shapes[nt[0]].r)
    )
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
        dists = sorted(
            {
                s.r + gap,
                s.r + gap + step,
                reach + gap,
                reach + gap + step,
                reach + gap + 2 * step,
                reach + gap + 3 * step,
                reach + gap + 4 * step,
            }
        )
        pairs = [(d, u, 0.0) for d in dists for u in dirs]
        if outwards:
            # Outwards beats any other side (inside the arc are the chords): other
            # directions carry a penalty that only hard costs outweigh.
            u0 = out_dir / norm
            fan = [
                (
                    np.array(
                        [
                            u0[0] * math.cos(a) - u0[1] * math.sin(a),
                            u0[0] * math.sin(a) + u0[1] * math.cos(a),
                        ]
                    ),
                    40.0 * abs(a),
                )
                for a in (0.0, 0.35, -0.35, 0.7, -0.7)
            ]
            pairs = [(d, u, k) for d in dists for u, k in fan] + [
                (d, u, 200.0) for d, u, _ in pairs
            ]
        cands = [(s.center + d * u, *anchor(u), False, k) for d, u, k in pairs]
        size = font_size
        best = None
        while True:
            t.set_fontsize(size)
            t.set_position(tuple(s.center))
            t.set_ha("center")
            t.set_va("center")
            box = _bbox(t, renderer, 0)
            w, h = box[2] - box[0], box[3] - box[1]
            fits = (
                (w <= 1.85 * r_px and h <= 1.5 * r_px)
                if not s.square
                else (w <= 1.9 * r_px and h <= 1.8 * r_px)
            )
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
            fill = (
                node_fill(v, resolve_colors(None))
                if v.category != "mixed" or v.color is not None
                else S.NODE_COLORS["mixed_alt"]
            )
            t.set_color(S.text_color(fill))
        else:
            t.set_color("#111111")
            t.set_path_effects([patheffects.withStroke(linewidth=2.5, foreground="white")])
        placed.append(box)

    for e, text in elabels:
        c = scene.curves[(e.src, e.dst)]
        t = ax.text(
            0,
            0,
            text,
            ha="center",
            va="center",
            fontsize=font_size * 0.85,
            color="#333333",
            fontstyle="italic",
            zorder=6.5,
            linespacing=1.0,
            gid=f"mrnngraph:edgelabel:{edge_key(e)}",
            bbox={
                "boxstyle": "round,pad=0.12",
                "facecolor": "white",
                "alpha": 0.85,
                "edgecolor": "none",
            },
        )
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
                k = (hard(box, None, False), round(soft(box, own) + 20 * abs(frac - 0.5) + pen, 3))
                if best is None or k < best[0]:
                    best = (k, xy_px, box)
        t.set_position(tuple(ax.transData.inverted().transform(best[1])))
        placed.append(best[2])
