"""The legend of an area diagram: the node kinds and edge styles present."""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from . import _style as S
from ._read import CATEGORIES, HEADS, LEARNED_TAU, CircuitLook

__all__ = ["draw_legend"]


def draw_legend(
    ax: Axes,
    look: CircuitLook,
    colors: dict,
    font_size: float,
    *,
    inside: bool,
    delays_labelled: bool = False,
) -> None:
    """The legend; ``delays_labelled``: the edge labels write the delays in ms."""
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
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                markersize=10,
                linestyle="none",
                markeredgecolor="#222222",
                markeredgewidth=0.8,
                **kw,
            )
        )
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
    if any(e.delay > 0 for e in look.edges):
        handles.append(S.EdgeKey(head=None, color="#333333", delay=True))
        names.append(S.DELAY_NAME + (" (label: ms)" if delays_labelled else ""))
    if any(v.learn_tau for v in look.nodes.values()):
        handles.append(
            Line2D([], [], marker=r"$\tau$", markersize=9, linestyle="none", color="#222222")
        )
        names.append(f"{LEARNED_TAU}: time constants trained")
    if any(v.invalid for v in look.nodes.values()) or any(e.invalid for e in look.edges):
        handles.append(
            Line2D(
                [],
                [],
                marker="X",
                markersize=9,
                linestyle="none",
                markerfacecolor=S.WARN_COLOR,
                markeredgecolor="black",
                markeredgewidth=0.8,
            )
        )
        names.append("invalid attribute (see validate)")
    where = (
        {"loc": "lower center", "bbox_to_anchor": (0.5, 0.0), "ncols": 2}
        if inside
        else {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0)}
    )
    leg = ax.legend(
        handles,
        names,
        frameon=False,
        fontsize=font_size * 0.95,
        handlelength=2.6,
        borderaxespad=0.2,
        handler_map={S.EdgeKey: S.HandlerEdge()},
        **where,
    )
    for text, name in zip(leg.get_texts(), names, strict=True):
        if name.startswith(("Regions", "Projections")):
            text.set_fontweight("bold")
    leg.set_gid("mrnngraph:legend")
