"""The visual encoding shared by the matplotlib drawing, the legend and the DOT output.

Colours are the Okabe & Ito (2008) palette, distinguishable with every common
form of colour blindness; the E/I distinction is carried twice (colour and
arrowhead shape) so it survives greyscale printing too.
"""

from __future__ import annotations

from typing import Any

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.legend_handler import HandlerBase
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Polygon

__all__ = [
    "NODE_COLORS",
    "EDGE_COLORS",
    "FROZEN_COLOR",
    "WARN_COLOR",
    "GROUP_COLOR",
    "CATEGORY_NAMES",
    "HEAD_NAMES",
    "STYLE_NAMES",
    "DOT_HEADS",
    "LINESTYLES",
    "edge_width",
    "text_color",
    "head_artists",
    "delay_artists",
    "DELAY_NAME",
    "EdgeKey",
    "HandlerEdge",
]

# Okabe-Ito: vermillion, blue, bluish green, reddish purple, grey, yellow.
_VERMILLION, _BLUE, _GREEN, _PURPLE = "#D55E00", "#0072B2", "#009E73", "#CC79A7"
_GREY, _DARK, _YELLOW = "#BBBBBB", "#333333", "#F0E442"

#: Fill colour of each node category (mixed nodes use the E and I colours as a wedge).
NODE_COLORS = {
    "input": _GREEN,
    "excitatory": _VERMILLION,
    "inhibitory": _BLUE,
    "mixed": _VERMILLION,
    "mixed_alt": _BLUE,
    "unconstrained": _GREY,
    "output": _PURPLE,
}
#: Line colour of an edge by the E/I type of the units that project along it.
EDGE_COLORS = {"exc": _VERMILLION, "inh": _BLUE, "mixed": _DARK, "free": _DARK}
FROZEN_COLOR = "#999999"
WARN_COLOR = _YELLOW
GROUP_COLOR = "#E8E8E8"

CATEGORY_NAMES = {
    "input": "input",
    "excitatory": "excitatory",
    "inhibitory": "inhibitory",
    "mixed": "mixed E/I (wedge = E fraction)",
    "unconstrained": "unconstrained sign",
    "output": "output (readout)",
}
HEAD_NAMES = {
    "exc": "from excitatory units",
    "inh": "from inhibitory units",
    "mixed": "from E and I units",
    "free": "from unconstrained units",
}
STYLE_NAMES = {
    "trained": "trained projection",
    "zero": "zero (declared, fixed at 0)",
    "frozen": "frozen (trainable=False)",
}
#: The legend entry of the delay mark.
DELAY_NAME = "conduction delay"
#: Graphviz arrowheads with the same meaning as the matplotlib heads.
DOT_HEADS = {"exc": "normal", "inh": "tee", "mixed": "dot", "free": "vee"}
LINESTYLES = {"trained": "solid", "zero": (0, (4.0, 2.5)), "frozen": (0, (1.0, 1.6))}


def edge_width(density: float | None, *, lw_min: float = 0.7, lw_max: float = 4.0) -> float:
    """Line width in points: linear in density; an unreadable density gets a thin line.

    >>> edge_width(0.0), edge_width(1.0), edge_width(None)
    (0.7, 4.0, 0.7)
    """
    if density is None:
        return lw_min
    return lw_min + (lw_max - lw_min) * min(max(float(density), 0.0), 1.0)


def head_artists(
    kind: str,
    tip: np.ndarray,
    direction: np.ndarray,
    size: float,
    *,
    color: Any,
    lw: float,
    zorder: float,
    transform: Any = None,
) -> list[Any]:
    """The artists of one arrowhead whose tip is at ``tip``, pointing along ``direction``.

    ``size`` is the head length in the units of ``tip`` (data or display).

    - ``"exc"``: a filled triangle (pointed);
    - ``"inh"``: a flat bar across the line (the "T" of circuit diagrams);
    - ``"mixed"``: a filled disc;
    - ``"free"``: an open chevron.
    """
    d = direction / (np.hypot(*direction) or 1.0)
    n = np.array([-d[1], d[0]])
    kw: dict[str, Any] = {"zorder": zorder}
    if transform is not None:
        kw["transform"] = transform
    if kind == "exc":
        base = tip - d * size
        pts = [tip, base + n * size * 0.42, base - n * size * 0.42]
        return [
            Polygon(
                pts, closed=True, facecolor=color, edgecolor=color, lw=0.5, joinstyle="miter", **kw
            )
        ]
    if kind == "inh":
        half = size * 0.55
        bar = tip - d * size * 0.12
        return [
            Line2D(
                [bar[0] - n[0] * half, bar[0] + n[0] * half],
                [bar[1] - n[1] * half, bar[1] + n[1] * half],
                color=color,
                lw=max(lw * 1.1, 1.6),
                solid_capstyle="butt",
                **kw,
            )
        ]
    if kind == "mixed":
        r = size * 0.32
        c = tip - d * r
        return [Circle(tuple(c), r, facecolor=color, edgecolor=color, lw=0.5, **kw)]
    base = tip - d * size * 0.9
    pts = [base + n * size * 0.42, tip, base - n * size * 0.42]
    return [
        Line2D(
            [p[0] for p in pts],
            [p[1] for p in pts],
            color=color,
            lw=max(lw * 0.8, 1.0),
            solid_joinstyle="miter",
            solid_capstyle="butt",
            **kw,
        )
    ]


def delay_artists(
    center: np.ndarray,
    direction: np.ndarray,
    size: float,
    *,
    color: Any,
    lw: float,
    zorder: float,
    transform: Any = None,
) -> list[Any]:
    """The delay mark: the line cut by a short gap between two bars across it
    (``—||—``), centred at ``center``; ``size`` is the bars' length, in the units of
    ``center`` (data or display), ``lw`` the line width of the edge in points.

    One :class:`~matplotlib.collections.LineCollection` of three segments: the gap
    (white, over the line), then the two bars.
    """
    d = direction / (np.hypot(*direction) or 1.0)
    n = np.array([-d[1], d[0]])
    gap = size * 0.32
    a, b = center - d * gap / 2, center + d * gap / 2
    segments = [[a, b]] + [[p - n * size / 2, p + n * size / 2] for p in (a, b)]
    bar = max(1.0, min(lw * 0.6, 1.8))
    kw: dict[str, Any] = {"zorder": zorder}
    if transform is not None:
        kw["transform"] = transform
    return [
        LineCollection(
            segments,
            colors=["white", color, color],
            linewidths=[lw + 1.5, bar, bar],
            capstyle="butt",
            **kw,
        )
    ]


class EdgeKey:
    """A legend proxy for one edge style or arrowhead (drawn by :class:`HandlerEdge`);
    ``delay`` adds the delay mark."""

    def __init__(
        self,
        *,
        head: str | None,
        color: Any,
        linestyle: Any = "solid",
        lw: float = 1.6,
        delay: bool = False,
    ):
        self.head, self.color, self.linestyle, self.lw = head, color, linestyle, lw
        self.delay = delay


class HandlerEdge(HandlerBase):
    """Draws an :class:`EdgeKey` as a short line ending in its arrowhead."""

    def create_artists(
        self, legend, orig_handle, xdescent, ydescent, width, height, fontsize, trans
    ):
        y = height / 2 - ydescent
        x0, x1 = -xdescent, width - xdescent
        tip = np.array([x1, y])
        size = min(fontsize * 0.85, width * 0.4)
        shaft_end = x1 - (size * 0.8 if orig_handle.head == "exc" else 0.0)
        line = Line2D(
            [x0, shaft_end],
            [y, y],
            color=orig_handle.color,
            lw=orig_handle.lw,
            linestyle=orig_handle.linestyle,
            solid_capstyle="butt",
            dash_capstyle="butt",
            transform=trans,
        )
        out: list[Any] = [line]
        if orig_handle.head is not None:
            out += head_artists(
                orig_handle.head,
                tip,
                np.array([1.0, 0.0]),
                size,
                color=orig_handle.color,
                lw=orig_handle.lw,
                zorder=3,
                transform=trans,
            )
        if orig_handle.delay:
            out += delay_artists(
                np.array([(x0 + shaft_end) / 2, y]),
                np.array([1.0, 0.0]),
                fontsize * 0.9,
                color=orig_handle.color,
                lw=orig_handle.lw,
                zorder=4,
                transform=trans,
            )
        return out


def _luminance(color: Any) -> float:
    r, g, b = mcolors.to_rgb(color)
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def text_color(fill: Any) -> str:
    # Whichever of black and white has the higher WCAG contrast with the fill.
    return "black" if _luminance(fill) > 0.179 else "white"
