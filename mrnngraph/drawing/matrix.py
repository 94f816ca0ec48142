"""Heat maps of a compiled circuit's (or a model's) matrices: :func:`plot_connectivity`.

Rows are destinations and columns sources, as in every weight matrix of the
package (``[destination, source]``); region boundaries are drawn at the
layout's slice boundaries and named on both axes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes

from .._params import check
from ..schema import Interval, Options
from . import _style as S

__all__ = ["plot_connectivity", "connectivity_matrices"]

_WHICH = ("weight", "mask", "sign")
_BLOCKS = ("hh", "ih", "ho")
_TITLES = {
    "weight": "effective weights",
    "mask": "connectivity mask",
    "sign": "sign of each synapse",
}


def connectivity_matrices(x: Any) -> tuple[Any, dict[str, dict[str, np.ndarray]]]:
    """The layout and, per block (``"hh"``, ``"ih"``, ``"ho"``), the weight, mask and sign
    matrices of a :class:`~mrnngraph.CompiledCircuit` or a
    :class:`~mrnngraph.MultiRegionRNN` (then its current effective weights), as numpy
    arrays ``[destination, source]`` on the CPU.

    ``sign`` is ``+1`` where an excitatory unit projects, ``-1`` inhibitory, ``0``
    unconstrained, and NaN where the mask has no synapse.

    Raises
    ------
    TypeError
        If ``x`` is neither.
    """
    import torch  # here: drawing a diagram alone never loads torch

    from ..circuit import CompiledCircuit
    from ..model import MultiRegionRNN

    if isinstance(x, MultiRegionRNN):
        with torch.no_grad():
            weights = {b: getattr(x, f"weight_{b}").detach().float().cpu() for b in _BLOCKS}
        masks = {b: getattr(x, f"mask_{b}").detach().cpu() for b in _BLOCKS}
        sign_h, sign_i = x.sign_h.detach().float().cpu(), x.sign_i.detach().float().cpu()
        layout = x.layout
    elif isinstance(x, CompiledCircuit):
        weights = {b: getattr(x, f"weight_{b}").float() for b in _BLOCKS}
        masks = {b: getattr(x, f"mask_{b}") for b in _BLOCKS}
        sign_h, sign_i = x.sign_h.float(), x.sign_i.float()
        layout = x.layout
    else:
        raise TypeError(
            "plot_connectivity needs a CompiledCircuit (mrnngraph.compile) or a "
            f"MultiRegionRNN; got {type(x).__name__}"
        )
    # A model's readout keeps its units' signs (readout_sign, Dale's law); a circuit's
    # readout is compile's unsigned draw, as is a model's with readout_sign=False.
    sign_o = sign_h if getattr(x, "readout_sign", False) else torch.zeros(layout.hidden_size)
    src_sign = {"hh": sign_h, "ih": sign_i, "ho": sign_o}
    out: dict[str, dict[str, np.ndarray]] = {}
    for b in _BLOCKS:
        m = masks[b].bool().numpy()
        sign = np.broadcast_to(src_sign[b].numpy()[None, :], m.shape).astype(float)
        out[b] = {
            "weight": weights[b].numpy().astype(float),
            "mask": m.astype(float),
            "sign": np.where(m, sign, np.nan),
        }
    return layout, out


def _reduce(a: np.ndarray, f: int) -> np.ndarray:
    """Block means over ``f x f`` tiles (NaNs ignored; all-NaN tiles stay NaN)."""
    if f <= 1:
        return a
    n0, n1 = math.ceil(a.shape[0] / f) * f, math.ceil(a.shape[1] / f) * f
    pad = np.full((n0, n1), np.nan)
    pad[: a.shape[0], : a.shape[1]] = a
    tiles = pad.reshape(n0 // f, f, n1 // f, f)
    with np.errstate(invalid="ignore"):
        count = np.sum(~np.isnan(tiles), axis=(1, 3))
        total = np.nansum(tiles, axis=(1, 3))
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _spaces(layout: Any, block: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(destination names, source names) of a block."""
    return {
        "hh": (layout.regions, layout.regions),
        "ih": (layout.regions, layout.inputs),
        "ho": (layout.outputs, layout.regions),
    }[block]


def _edges(layout: Any, names: Sequence[str]) -> list[tuple[str, int, int]]:
    return [(n, layout.slice(n).start, layout.slice(n).stop) for n in names]


def _decorate(
    ax: Axes, layout: Any, block: str, font_size: float, *, xticks: bool, yticks: bool
) -> None:
    dst, src = _spaces(layout, block)
    for axis, names, show in (("x", src, xticks), ("y", dst, yticks)):
        spans = _edges(layout, names)
        lw = 0.8 if len(spans) <= 30 else 0.4
        for _, _, stop in spans[:-1]:
            line = (ax.axvline if axis == "x" else ax.axhline)(
                stop, color="#444444", lw=lw, zorder=3
            )
            line.set_gid(f"mrnngraph:boundary:{block}:{axis}:{stop}")
        every = max(1, math.ceil(len(spans) / 60))  # at most ~60 names per axis
        ticks = [(a + b) / 2 for _, a, b in spans][::every]
        labels = [n for n, _, _ in spans][::every]
        size = font_size if len(spans) <= 30 else max(4.0, font_size * 30 / len(spans) ** 0.9)
        # Shared axes share tick locators: set the names on every block, hide them per block.
        if axis == "x":
            ax.set_xticks(ticks, labels, rotation=90, fontsize=size)
            ax.tick_params(axis="x", labelbottom=show, labeltop=False)
        else:
            ax.set_yticks(ticks, labels, fontsize=size)
            ax.tick_params(axis="y", labelleft=show, labelright=False)
    ax.tick_params(length=0, pad=2)


def plot_connectivity(
    x: Any,
    which: str = "weight",
    ax: Axes | None = None,
    *,
    blocks: Sequence[str] = ("hh",),
    max_pixels: int = 1024,
    vmax: float | None = None,
    cmap: Any = None,
    colorbar: bool = True,
    font_size: float = 8.0,
) -> Axes:
    """Heat map of the recurrent (and optionally input and output) matrices.

    Parameters
    ----------
    x : CompiledCircuit or MultiRegionRNN
        For a model, its *current* effective weights (after training, say).
    which : {"weight", "mask", "sign"}
        ``"weight"``: signed effective weights on a diverging colour map centred
        on zero; ``"mask"``: which synapses exist; ``"sign"``: whether each
        present synapse is excitatory, inhibitory or unconstrained.
    ax : matplotlib.axes.Axes, optional
        Where to draw the recurrent block; the other blocks and the colour bar
        are appended beside it. Default: a new figure.
    blocks : sequence of {"hh", "ih", "ho"}
        ``"hh"`` the recurrent block; ``"ih"`` input weights, drawn left of it
        (same rows); ``"ho"`` readout weights, drawn below it (same columns).
        Blocks without units (a circuit with no inputs) are left out.
    max_pixels : int
        Matrices with more rows or columns are averaged over square tiles to
        at most this many (a 4096-unit circuit becomes 1024 x 1024; a mask
        then shows the fraction of synapses present). Region boundaries and
        names stay at their unit positions.
    vmax : float, optional
        Colour limit for weights (``-vmax`` to ``vmax``); default: the largest
        absolute weight shown.
    cmap : colormap, optional
        Default: ``"RdBu_r"`` for weights (red excitatory, blue inhibitory,
        white zero), ``"Greys"`` for masks.
    colorbar : bool
        Draw a colour bar right of the matrices.
    font_size : float
        Size of the region names.

    Returns
    -------
    matplotlib.axes.Axes
        The axes of the recurrent block (``"hh"``), or of the first block drawn.

    Raises
    ------
    TypeError
        If ``x`` is neither a compiled circuit nor a model.
    ValueError
        For an unknown ``which`` or block name.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import mrnngraph
    >>> from mrnngraph.presets import two_area_ei
    >>> circuit = mrnngraph.compile(two_area_ei(size=20), seed=0)
    >>> ax = plot_connectivity(circuit, blocks=("hh", "ih", "ho"))
    >>> len(ax.figure.axes)  # the recurrent, input and output blocks and the colour bar
    4
    >>> [line.get_gid() for line in ax.lines]  # a1 is units 0-19, a2 units 20-39
    ['mrnngraph:boundary:hh:x:20', 'mrnngraph:boundary:hh:y:20']
    """
    check("which", which, Options(_WHICH))
    if isinstance(blocks, str):
        blocks = (blocks,)
    bad = [b for b in blocks if b not in _BLOCKS]
    if bad or not blocks:
        raise ValueError(
            f"blocks must be a non-empty sequence of 'hh', 'ih', 'ho'; got {tuple(blocks)!r}"
        )
    max_pixels = check("max_pixels", max_pixels, Interval(16, math.inf, integer=True))
    layout, mats = connectivity_matrices(x)
    sizes = {
        "hh": (layout.hidden_size, layout.hidden_size),
        "ih": (layout.hidden_size, layout.input_size),
        "ho": (layout.output_size, layout.hidden_size),
    }
    shown = [b for b in _BLOCKS if b in blocks and min(sizes[b]) > 0]
    if not shown:
        raise ValueError(f"the circuit has no units in blocks {tuple(blocks)!r}")
    main = "hh" if "hh" in shown else shown[0]

    f = max(1, math.ceil(max(max(sizes[b]) for b in shown) / max_pixels))
    data = {b: _reduce(mats[b][which], f) for b in shown}
    norm, cmap, cbar_ticks = _colour(which, data, vmax, cmap, downsampled=f > 1)

    if ax is None:
        import matplotlib.pyplot as plt

        n_names = max((len(n) for n in layout.names), default=4)
        margin = 0.35 + n_names * font_size * 0.6 / 72
        side = 5.2  # the recurrent block, the appended blocks and the colour bar share it
        w = margin + side + 0.9
        h = margin + side + 0.55 + (0.3 if "ih" in shown else 0.0)
        fig = plt.figure(figsize=(w, h))
        ax = fig.add_axes((margin / w, margin / h, side / w, side / h))
    axes = {main: ax}
    divider = None
    if len(shown) > 1 or colorbar:
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        divider = make_axes_locatable(ax)
    H = max(layout.hidden_size, 1)
    if main == "hh":
        if "ih" in shown:
            pct = min(max(100.0 * layout.input_size / H, 6.0), 40.0)
            axes["ih"] = divider.append_axes("left", size=f"{pct:.1f}%", pad=0.06, sharey=ax)
        if "ho" in shown:
            pct = min(max(100.0 * layout.output_size / H, 6.0), 40.0)
            axes["ho"] = divider.append_axes("bottom", size=f"{pct:.1f}%", pad=0.06, sharex=ax)
    elif len(shown) > 1:
        other = [b for b in shown if b != main][0]
        axes[other] = divider.append_axes("bottom", size="60%", pad=0.6)

    image = None
    for b in shown:
        a = axes[b]
        n_dst, n_src = sizes[b]
        # "auto" filters (antialiases) only when the screen has fewer pixels than the
        # matrix has entries, so sparse single synapses stay visible as shades.
        image = a.imshow(
            data[b],
            cmap=cmap,
            norm=norm,
            interpolation="auto",
            extent=(0, n_src, n_dst, 0),
            aspect="equal" if b == "hh" else "auto",
        )
        image.set_gid(f"mrnngraph:matrix:{b}")
        left_most = b != "hh" or "ih" not in axes
        bottom_most = b != "hh" or "ho" not in axes
        _decorate(a, layout, b, font_size, xticks=bottom_most, yticks=left_most)
        if b == "ih" and main == "hh":
            # Names on top: below the input block sits the output block's label.
            a.tick_params(axis="x", labelbottom=False, labeltop=True)
            a.xaxis.set_label_position("top")
    axes[main].set_title(_TITLES[which] + " [destination, source]", fontsize=font_size * 1.3)
    x_owner = axes.get("ho", axes[main]) if main == "hh" else axes[shown[-1]]
    y_owner = axes.get("ih", axes[main]) if main == "hh" else axes[main]
    x_owner.set_xlabel("source (presynaptic)", fontsize=font_size * 1.15)
    y_owner.set_ylabel("destination (postsynaptic)", fontsize=font_size * 1.15)
    if "ih" in axes and main == "hh":
        axes["ih"].set_xlabel("input", fontsize=font_size * 1.15)
    if "ho" in axes and main == "hh":
        axes["ho"].set_ylabel("output", fontsize=font_size * 1.15)
    if colorbar and image is not None:
        cax = divider.append_axes("right", size="3.5%", pad=0.12)
        extend = "neither"
        if which == "weight":
            lo = min(float(np.nanmin(d)) for d in data.values())
            hi = max(float(np.nanmax(d)) for d in data.values())
            extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
                (lo < norm.vmin, hi > norm.vmax), "neither"
            )
        cb = ax.figure.colorbar(image, cax=cax, extend=extend)
        label = {
            "weight": "weight",
            "mask": "synapse present" if f == 1 else f"fraction present ({f}x{f} tiles)",
            "sign": "sign",
        }[which]
        if which == "weight" and f > 1:
            label = f"mean weight ({f}x{f} tiles)"
        cb.set_label(label, fontsize=font_size * 1.1)
        if cbar_ticks is not None:
            cb.set_ticks(list(cbar_ticks), labels=list(cbar_ticks.values()))
        cb.ax.tick_params(labelsize=font_size)
        cax.set_gid("mrnngraph:colorbar")
    return ax


def _colour(
    which: str, data: dict[str, np.ndarray], vmax: float | None, cmap: Any, *, downsampled: bool
) -> tuple[Any, Any, dict[float, str] | None]:
    if which == "weight":
        if vmax is None:
            # A robust limit: a few large weights must not wash out all the others.
            vals = np.concatenate(
                [np.abs(d[np.isfinite(d) & (d != 0)]).ravel() for d in data.values()]
            )
            vmax = float(np.quantile(vals, 0.99)) if vals.size else 1.0
            vmax = vmax or 1.0
        # Symmetric limits put zero at the centre of the diverging map (white).
        return (mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax), cmap or "RdBu_r", None)
    if which == "mask":
        if downsampled:
            return mcolors.Normalize(0.0, 1.0), cmap or "Greys", None
        cm = mcolors.ListedColormap(["white", "#222222"])
        return (
            mcolors.BoundaryNorm([-0.5, 0.5, 1.5], 2),
            cmap or cm,
            {0.0: "absent", 1.0: "present"},
        )
    base = [S.NODE_COLORS["inhibitory"], "#999999", S.NODE_COLORS["excitatory"]]
    if downsampled:
        cm = mcolors.LinearSegmentedColormap.from_list("mrnngraph_sign", base).with_extremes(
            bad="white"
        )
        return mcolors.Normalize(-1.0, 1.0), cmap or cm, None
    cm = mcolors.ListedColormap(base).with_extremes(bad="white")
    return (
        mcolors.BoundaryNorm([-1.5, -0.5, 0.5, 1.5], 3),
        cmap or cm,
        {-1.0: "inhibitory", 0.0: "unconstrained", 1.0: "excitatory"},
    )
