"""Matplotlib artists of an area diagram: limits, groups, edges with their heads,
nodes, node labels (placed later by :mod:`._labels`) and edge label texts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.colors as mcolors
import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyBboxPatch, PathPatch, Wedge
from matplotlib.path import Path
from matplotlib.transforms import Affine2D

from .._params import InstanceOf, check
from . import _style as S
from ._geometry import Shape, back_off
from ._read import EdgeLook, NodeLook, delays_in_labels, edge_text, node_text
from ._scene import R0, Scene

__all__ = [
    "safe_color",
    "fit_limits",
    "resolve_colors",
    "draw_groups",
    "edge_key",
    "draw_edges",
    "node_fill",
    "draw_nodes",
    "draw_labels",
    "edge_label_texts",
]


def safe_color(value: Any, fallback: Any) -> Any:
    if value is None:
        return fallback
    try:
        mcolors.to_rgba(value)
    except (ValueError, TypeError):
        return fallback
    return value


def fit_limits(ax: Axes, bounds: tuple[float, float, float, float]) -> float:
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


def resolve_colors(override: Any) -> dict[str, Any]:
    colors = dict(S.NODE_COLORS)
    colors.update({f"edge_{k}": v for k, v in S.EDGE_COLORS.items()})
    if override is not None:
        check("colors", override, InstanceOf((Mapping,), "a dict"))
        for k, v in override.items():
            if k not in colors:
                raise ValueError(f"unknown colour key {k!r}; known: {', '.join(colors)}")
            colors[k] = v
    return colors


def draw_groups(ax: Axes, scene: Scene, pt: float, font_size: float) -> None:
    for g, members in scene.look.groups.items():
        shapes = [scene.shapes[m] for m in members if m in scene.shapes]
        if not shapes:
            continue
        pad = 0.22 * scene.r0 / R0
        head = font_size * 1.5 * pt
        lo = np.min([s.center - s.r for s in shapes], axis=0) - pad
        hi = np.max([s.center + s.r for s in shapes], axis=0) + pad
        hi[1] += head
        others = [s for n, s in scene.shapes.items() if n not in members]
        swallowed = any(np.all(s.center + s.r > lo) and np.all(s.center - s.r < hi) for s in others)
        if swallowed:
            patch, top = _halo_patch(shapes, pad, head)
            ha = "left"
        else:
            patch = FancyBboxPatch(
                tuple(lo),
                hi[0] - lo[0],
                hi[1] - lo[1],
                boxstyle=f"round,pad=0,rounding_size={pad * 1.2}",
            )
            # The top corner farther from the members' self-loops gets the name.
            loops = [scene.curves[(m, m)] for m in members if (m, m) in scene.curves]
            pts = (
                np.concatenate([c.f(np.linspace(c.t0, c.t1, 30)) for c in loops])
                if loops
                else np.zeros((0, 2))
            )
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
        ax.text(
            top[0],
            top[1],
            str(g),
            ha=ha,
            va="top",
            fontsize=font_size * 0.95,
            fontstyle="italic",
            color="#444444",
            zorder=0.3,
            gid=f"mrnngraph:grouplabel:{g}",
        )


def _halo_patch(shapes: list[Shape], pad: float, head: float) -> tuple[PathPatch, tuple]:
    """The union of the members' padded outlines: for a group whose box would take in
    other nodes (a convex hull would too, whenever one sits between two members)."""
    paths = []
    for sh in shapes:
        if sh.square:
            paths.append(
                Path.unit_rectangle().transformed(
                    Affine2D().scale(2 * (sh.r + pad)).translate(*(sh.center - sh.r - pad))
                )
            )
        else:
            paths.append(Path.circle(tuple(sh.center), sh.r + pad))
    top = max(shapes, key=lambda sh: sh.center[1] + sh.r)
    # One path, all parts wound the same way: the fill is their union.
    patch = PathPatch(Path.make_compound_path(*paths))
    patch.set_edgecolor("none")
    return patch, (top.center[0] - top.r, top.center[1] + top.r + pad + head * 0.9)


def edge_key(e: EdgeLook) -> str:
    return f"{e.src}->{e.dst}"


def draw_edges(ax: Axes, scene: Scene, pt: float, opts: dict, colors: dict) -> None:
    edges = [e for e in scene.look.edges if (e.src, e.dst) in scene.curves]
    auto_alpha = opts["edge_alpha"] is None and len(edges) > 40
    dmax = max((e.density or 0.0 for e in edges), default=1.0) or 1.0
    # Faint, thin edges first so the strong ones stay on top.
    for e in sorted(edges, key=lambda e: e.density or 0.0):
        c = scene.curves[(e.src, e.dst)]
        lw = S.edge_width(e.density, lw_min=float(opts["lw_min"]), lw_max=float(opts["lw_max"]))
        if e.style == "zero":
            lw = min(lw, 1.8)  # a zero pathway has no synapses: its density is only declared
        if e.style == "frozen":
            color = S.FROZEN_COLOR
        else:
            color = safe_color(e.color, colors[f"edge_{e.head}"])
        if auto_alpha:
            alpha = 0.25 + 0.75 * (e.density or 0.0) / dmax
        else:
            alpha = 1.0 if opts["edge_alpha"] is None else float(opts["edge_alpha"])
        head_len = (5.0 + 1.4 * lw) * pt
        back = {"exc": 0.8, "inh": 0.05, "mixed": 0.4, "free": 0.05}[e.head] * head_len
        t_end = back_off(c.f, c.t1, back, c.t0)
        pts = c.f(np.linspace(c.t0, t_end, 64 if e.src != e.dst else 48))
        z = 1.0 + 0.5 * (e.density or 0.0)
        shaft = PathPatch(
            Path(pts),
            facecolor="none",
            edgecolor=color,
            lw=lw,
            linestyle=S.LINESTYLES[e.style],
            capstyle="butt",
            alpha=alpha,
            zorder=z,
            gid=f"mrnngraph:edge:{edge_key(e)}",
        )
        shaft.mrnngraph_style = e.style  # type: ignore[attr-defined]
        shaft.mrnngraph_head = e.head  # type: ignore[attr-defined]
        # add_artist, not add_patch: the limits are set already, and updating them per
        # patch costs seconds on a 600-edge circuit.
        ax.add_artist(shaft)
        tip = c.at(c.t1)
        direction = tip - c.at(max(c.t1 - 0.01, c.t0))
        for art in S.head_artists(
            e.head, tip, direction, head_len, color=color, lw=lw, zorder=z + 0.01
        ):
            art.set_gid(f"mrnngraph:head:{e.head}:{edge_key(e)}")
            art.set_alpha(alpha)
            ax.add_artist(art)
        if e.delay > 0:
            # A quarter of the way along: clear of the label (middle) and of the ✕ (a
            # third); on a self-loop, its top, away from both ends and their heads.
            t = c.t0 + (c.t1 - c.t0) * (0.5 if e.src == e.dst else 0.22)
            mid = c.at(t)
            along = c.at(min(t + 0.01, c.t1)) - c.at(max(t - 0.01, c.t0))
            for art in S.delay_artists(
                mid, along, (7.0 + 1.6 * lw) * pt, color=color, lw=lw, zorder=z + 0.02
            ):
                art.set_gid(f"mrnngraph:delay:{edge_key(e)}")
                art.set_alpha(alpha)
                ax.add_artist(art)
        if e.invalid:
            # A third of the way along: the middle is where an edge label goes.
            _warn_marker(
                ax, c.at(c.t0 + (c.t1 - c.t0) / 3), f"mrnngraph:invalid:edge:{edge_key(e)}"
            )


def _warn_marker(ax: Axes, xy: np.ndarray, gid: str) -> None:
    ax.add_line(
        Line2D(
            [xy[0]],
            [xy[1]],
            marker="X",
            markersize=9,
            markerfacecolor=S.WARN_COLOR,
            markeredgecolor="black",
            markeredgewidth=0.8,
            linestyle="none",
            zorder=8,
            gid=gid,
        )
    )


def node_fill(v: NodeLook, colors: dict) -> Any:
    return safe_color(v.color, colors[v.category])


def draw_nodes(ax: Axes, scene: Scene, colors: dict) -> None:
    for n, v in scene.look.nodes.items():
        s = scene.shapes[n]
        gid = f"mrnngraph:node:{n}"
        edge_kw = {
            "edgecolor": "black" if v.invalid else "#222222",
            "linestyle": (0, (3, 2)) if v.invalid else "solid",
            "lw": 1.3 if v.invalid else 0.9,
        }
        if s.square:
            patch = FancyBboxPatch(
                tuple(s.center - s.r),
                2 * s.r,
                2 * s.r,
                boxstyle=f"round,pad=0,rounding_size={s.r * 0.25}",
                facecolor=node_fill(v, colors),
                zorder=3,
                gid=gid,
                **edge_kw,
            )
            ax.add_patch(patch)
        elif v.category == "mixed" and v.color is None:
            frac = float(v.exc_frac or 0.0)
            # The E wedge starts at 12 o'clock and runs clockwise, like a pie chart.
            e_angle = 360.0 * frac
            if 0 < frac < 1:
                ax.add_patch(
                    Wedge(
                        tuple(s.center),
                        s.r,
                        90 - e_angle,
                        90,
                        facecolor=colors["mixed"],
                        edgecolor="none",
                        zorder=3,
                        gid=f"mrnngraph:wedge:E:{n}",
                    )
                )
                ax.add_patch(
                    Wedge(
                        tuple(s.center),
                        s.r,
                        90,
                        450 - e_angle,
                        facecolor=colors["mixed_alt"],
                        edgecolor="none",
                        zorder=3,
                        gid=f"mrnngraph:wedge:I:{n}",
                    )
                )
                fill = "none"
            else:
                fill = colors["mixed"] if frac >= 1 else colors["mixed_alt"]
            patch = Circle(tuple(s.center), s.r, facecolor=fill, zorder=3.1, gid=gid, **edge_kw)
            ax.add_patch(patch)
        else:
            patch = Circle(
                tuple(s.center), s.r, facecolor=node_fill(v, colors), zorder=3, gid=gid, **edge_kw
            )
            ax.add_patch(patch)
        patch.mrnngraph_category = v.category  # type: ignore[attr-defined]
        patch.mrnngraph_radius = s.r  # type: ignore[attr-defined]
        if v.invalid:
            _warn_marker(ax, s.center + s.r * np.array([0.75, 0.75]), f"mrnngraph:invalid:node:{n}")


def draw_labels(
    ax: Axes, scene: Scene, show_sizes: bool, font_size: float
) -> list[tuple[Any, Any]]:
    out = []
    for n, v in scene.look.nodes.items():
        s = scene.shapes[n]
        t = ax.text(
            s.center[0],
            s.center[1],
            node_text(v, show_sizes),
            ha="center",
            va="center",
            fontsize=font_size,
            zorder=7,
            linespacing=1.05,
            gid=f"mrnngraph:label:{n}",
        )
        out.append((n, t))
    return out


def edge_label_texts(G: nx.Graph, scene: Scene, spec: Any) -> list[tuple[EdgeLook, str]]:
    out = []
    delays = delays_in_labels(scene.look)
    for e in scene.look.edges:
        if (e.src, e.dst) not in scene.curves:
            continue
        text = edge_text(e, e.attrs, spec, delays=delays)
        if text:
            out.append((e, text))
    return out
