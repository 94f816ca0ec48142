"""The connectivity figure of a training run: effective weights before and after training,
block by block, and the recurrent change (matplotlib, imported on use).

:func:`connectivity_figure` is one of the figures ``mrnngraph train`` writes (see
:mod:`mrnngraph.analysis.training_plots`, which also exports it).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = ["connectivity_figure"]

_SCALES = ("block", "symlog", "shared")


# --------------------------------------------------------------------------- connectivity
def _groups(layout: Any) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """Row groups (regions, then outputs) and column groups (inputs, then regions) of the
    combined ``[hidden + outputs, inputs + hidden]`` matrix, as ``(name, start, stop)``."""
    n_in, H = layout.input_size, layout.hidden_size
    regions = [(r, layout.slice(r).start, layout.slice(r).stop) for r in layout.regions]
    rows = regions + [
        (o, H + layout.slice(o).start, H + layout.slice(o).stop) for o in layout.outputs
    ]
    cols = [(i, layout.slice(i).start, layout.slice(i).stop) for i in layout.inputs]
    cols += [(r, n_in + a, n_in + b) for r, a, b in regions]
    return rows, cols


def _widen(
    groups: list[tuple[str, int, int]], small: set[str], least: int
) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Indices that repeat the units of the ``small`` groups (inputs, outputs) so each is at
    least ``least`` pixels wide, and the groups' places on the widened axis."""
    index, shown, at = [], [], 0
    for name, a, b in groups:
        rep = max(1, -(-least // max(b - a, 1))) if name in small else 1
        index.append(np.repeat(np.arange(a, b), rep))
        shown.append((name, at, at + (b - a) * rep))
        at += (b - a) * rep
    return np.concatenate(index) if index else np.zeros(0, int), shown


def _combined(mats: dict[str, dict[str, np.ndarray]], layout: Any) -> np.ndarray:
    """``[hidden + outputs, inputs + hidden]``: input weights left of the recurrent ones,
    readout weights below them, NaN in the corner that holds no weights."""
    n_in, H, n_out = layout.input_size, layout.hidden_size, layout.output_size
    out = np.full((H + n_out, n_in + H), np.nan)
    out[:H, :n_in] = mats["ih"]["weight"]
    out[:H, n_in:] = mats["hh"]["weight"]
    out[H:, n_in:] = mats["ho"]["weight"]
    return out


def _block_scales(
    mats: list[np.ndarray], rows: list[tuple[str, int, int]], cols: list[tuple[str, int, int]]
) -> np.ndarray:
    """Largest ``|w|`` of each block over all the matrices (0 where a block is empty)."""
    scale = np.zeros((len(rows), len(cols)))
    for a, (_, r0, r1) in enumerate(rows):
        for b, (_, c0, c1) in enumerate(cols):
            vals = [np.nanmax(np.abs(m[r0:r1, c0:c1]), initial=0.0) for m in mats]
            scale[a, b] = max(vals)
    return np.nan_to_num(scale)


def _decorate_matrix(
    ax: Any,
    layout: Any,
    rows: list[tuple[str, int, int]],
    cols: list[tuple[str, int, int]],
    *,
    ylabels: bool,
) -> None:
    """Region boundaries (thicker between inputs and regions, regions and outputs) and
    names; ``rows``, ``cols`` in displayed coordinates."""
    n_regions = len(layout.regions)
    n_inputs = len(layout.inputs)
    for k, (_, _, stop) in enumerate(rows[:-1]):
        ax.axhline(stop, color="0.3", lw=1.4 if k == n_regions - 1 else 0.6)
    for k, (_, _, stop) in enumerate(cols[:-1]):
        ax.axvline(stop, color="0.3", lw=1.4 if k == n_inputs - 1 else 0.6)
    ax.set_xticks(
        [(a + b) / 2 for _, a, b in cols], [n for n, _, _ in cols], rotation=90, fontsize=8
    )
    ax.set_yticks(
        [(a + b) / 2 for _, a, b in rows], [n for n, _, _ in rows] if ylabels else [], fontsize=8
    )
    ax.set_xlabel("source (presynaptic): inputs | regions")
    if ylabels:
        ax.set_ylabel("destination (postsynaptic): regions | outputs")


def _symlog_threshold(mats: list[np.ndarray]) -> float:
    """Linear range of a symmetric-log scale: the 2nd percentile of the nonzero ``|w|``, so
    the weakest blocks still get colour."""
    vals = np.concatenate([np.abs(m[np.isfinite(m) & (m != 0)]) for m in mats])
    return float(np.quantile(vals, 0.02)) if vals.size else 1e-3


def connectivity_figure(
    initial: Any, model: Any, *, scale: Literal["block", "symlog", "shared"] = "block"
) -> Any:
    """Effective weights before and after training, and the recurrent change.

    Each of the first two panels is one matrix ``[destination, source]``: the input
    weights left of the recurrent ones and the readout weights below them, with region,
    input and output names on the axes.

    Parameters
    ----------
    initial : CompiledCircuit
        The circuit the model was built from (its weights are the ones before training).
    model : MultiRegionRNN
        The trained model (its current effective weights).
    scale : {"block", "symlog", "shared"}
        Colours of the before and after panels. ``"block"`` (default): every block
        (region, input or output to region or output) on its own scale, the same before
        and after, divided by the block's largest ``|w|``, which is printed in the block
        -- weak projections (a cortex E->E block, a thalamic column) stay as visible as
        strong ones. ``"symlog"``: one symmetric-log scale for all blocks, linear below the
        2nd percentile of the nonzero ``|w|``. ``"shared"``: one linear scale, which shows
        which blocks dominate but lets weak ones vanish. The change panel is on a
        symmetric-log scale, except with ``"shared"`` (linear).

    Returns
    -------
    matplotlib.figure.Figure
        Axes titled ``"before training"``, ``"after training"`` and ``"recurrent change
        (after - before)"`` (whose image holds the raw change ``[H, H]``), and their
        colour bars.

    Raises
    ------
    ValueError
        For an unknown ``scale``.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> fig = connectivity_figure(model.circuit, model, scale="symlog")
    >>> [a.get_title() for a in fig.axes if a.get_title()]
    ['before training', 'after training', 'recurrent change (after - before)']
    """
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(repr, _SCALES))}; got {scale!r}")
    import matplotlib
    import matplotlib.colors as mcolors
    from matplotlib.figure import Figure

    from ..drawing.matrix import connectivity_matrices

    layout, m0 = connectivity_matrices(initial)
    _, m1 = connectivity_matrices(model)
    rows, cols = _groups(layout)
    before, after = _combined(m0, layout), _combined(m1, layout)
    # Inputs and outputs have a few units against hundreds of hidden ones: widen them.
    least = max(1, round(0.05 * layout.hidden_size))
    ridx, rows_shown = _widen(rows, set(layout.outputs), least)
    cidx, cols_shown = _widen(cols, set(layout.inputs), least)

    fig = Figure(figsize=(19.0, 6.6))
    if scale == "block":
        scales = _block_scales([before, after], rows, cols)
        div = np.ones_like(before)
        for a, (_, r0, r1) in enumerate(rows):
            for b, (_, c0, c1) in enumerate(cols):
                if scales[a, b] > 0:
                    div[r0:r1, c0:c1] = scales[a, b]
        shown = [before / div, after / div]
        norm = mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-1.0, vmax=1.0)
        label = "weight / largest |w| of its block\n(number in a block: that largest |w|)"
    else:
        shown = [before, after]
        vmax = max(float(np.nanmax(np.abs(m), initial=0.0)) for m in shown) or 1.0
        if scale == "symlog":
            lt = _symlog_threshold(shown)
            norm = mcolors.SymLogNorm(linthresh=lt, vmin=-vmax, vmax=vmax, base=10)
            label = f"weight (symmetric log; linear within ±{lt:.2g})"
        else:
            norm = mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
            label = "weight (one linear scale)"
    image = None
    for k, (data, title) in enumerate(
        zip(shown, ("before training", "after training"), strict=True)
    ):
        ax = fig.add_axes((0.07 + 0.27 * k, 0.2, 0.22, 0.7))
        data = data[np.ix_(ridx, cidx)]
        # White in the corner without weights (no output reads an input).
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
        image = ax.imshow(
            np.ma.masked_invalid(data),
            cmap=cmap,
            norm=norm,
            interpolation="nearest",
            aspect="auto",
            extent=(0, data.shape[1], data.shape[0], 0),
        )
        _decorate_matrix(ax, layout, rows_shown, cols_shown, ylabels=k == 0)
        ax.set_title(title, pad=8)
        if scale == "block":
            big_r = 0.04 * data.shape[0]
            big_c = 0.04 * data.shape[1]
            for a, (_, r0, r1) in enumerate(rows_shown):
                for b, (_, c0, c1) in enumerate(cols_shown):
                    if scales[a, b] > 0 and r1 - r0 >= big_r and c1 - c0 >= big_c:
                        ax.text(
                            c0 + 0.012 * data.shape[1],
                            r0 + 0.012 * data.shape[0],
                            f"{scales[a, b]:.2g}",
                            fontsize=6.5,
                            va="top",
                            ha="left",
                            color="0.1",
                            bbox={
                                "boxstyle": "square,pad=0.1",
                                "fc": "white",
                                "ec": "none",
                                "alpha": 0.75,
                            },
                        )
    cax = fig.add_axes((0.575, 0.2, 0.01, 0.7))
    fig.colorbar(image, cax=cax, label=label)

    # The change: raw values (the image's data), recurrent block only.
    change = (m1["hh"]["weight"] - m0["hh"]["weight"]).astype(np.float32)  # weights' dtype
    lim = float(np.abs(change).max()) or 1.0
    ax = fig.add_axes((0.69, 0.2, 0.22, 0.7))
    if scale == "shared":
        cnorm = mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
        clabel = "weight change (linear)"
    else:
        nz = np.abs(change[change != 0])
        # Linear below the median change: the typical change gets colour, the largest
        # ones do not wash out the rest.
        lt = float(np.quantile(nz, 0.5)) if nz.size else lim
        lt = min(lt, lim) or lim
        cnorm = mcolors.SymLogNorm(linthresh=lt, vmin=-lim, vmax=lim, base=10)
        clabel = f"weight change (symmetric log; linear within ±{lt:.2g})"
    im = ax.imshow(
        change,
        cmap="PuOr_r",
        norm=cnorm,
        interpolation="nearest",
        aspect="auto",
        extent=(0, change.shape[1], change.shape[0], 0),
    )
    H = layout.hidden_size
    ticks = []
    for r in layout.regions:
        sl = layout.slice(r)
        ticks.append((sl.start + sl.stop) / 2)
        if sl.stop < H:
            ax.axhline(sl.stop, color="0.3", lw=0.6)
            ax.axvline(sl.stop, color="0.3", lw=0.6)
    ax.set_xticks(ticks, layout.regions, rotation=90, fontsize=8)
    ax.set_yticks(ticks, layout.regions, fontsize=8)
    ax.set_xlabel("source (presynaptic)")
    ax.set_title("recurrent change (after - before)", pad=8)
    w0 = float(np.linalg.norm(m0["hh"]["weight"]))
    rel = float(np.linalg.norm(change)) / w0 if w0 > 0 else float("nan")
    ax.text(
        0.0,
        -0.16,
        f"largest |change| {lim:.2g}; ||after - before|| / ||before|| = "
        f"{100 * rel:.0f} % (recurrent weights)",
        transform=ax.transAxes,
        fontsize=8,
        va="top",
        ha="left",
    )
    cax = fig.add_axes((0.92, 0.2, 0.01, 0.7))
    fig.colorbar(im, cax=cax, label=clabel)
    return fig
