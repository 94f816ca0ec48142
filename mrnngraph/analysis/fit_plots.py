"""Figures of a model fitted to a recording: pathway currents, pVar by region, traces."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._params import STEPS, InstanceOf, Optional, check, validate_params
from ..schema import Interval

__all__ = ["plot_pathway_currents", "plot_pvar", "plot_fit_traces"]

_MAPPING = InstanceOf((Mapping,), "a mapping")


def plot_pathway_currents(
    model: Any,
    recording: Any,
    *,
    observation: Any = None,
    regions: Sequence[str] | None = None,
    fig: Any = None,
) -> Any:
    """CURBD-style grid: row = target region, column = source region, each panel the
    trial-averaged current from the source into every target unit over time.

    One colour scale (symmetric around 0) for all panels, so panels compare; a pair the
    circuit does not declare is an empty panel marked "not declared". The panel title
    gives the mean absolute current (:func:`pathway_strength`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from .pathways import pathway_currents

    _one_model(model, "plot_pathway_currents")
    parts = pathway_currents(model, recording, observation=observation)
    names = list(regions) if regions is not None else list(model.layout.regions)
    n = len(names)
    if fig is None:
        fig = plt.figure(figsize=(2.6 * n + 1.2, 2.2 * n + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, n, squeeze=False))
    vmax = (
        max(
            (float(np.abs(v).max()) for k, v in parts.items() if k[0] in names and k[1] in names),
            default=1.0,
        )
        or 1.0
    )
    step_ms = recording.dt / max(1, round(recording.dt / model.dt))
    image = None
    for i, dst in enumerate(names):
        for j, src in enumerate(names):
            ax = axes[i, j]
            c = parts.get((src, dst))
            if c is None:
                ax.text(
                    0.5,
                    0.5,
                    "not declared",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="0.5",
                )
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{src} → {dst}", fontsize=9)
                continue
            t_end = recording.dt + c.shape[0] * step_ms
            image = ax.imshow(
                c.T,
                aspect="auto",
                cmap="RdBu_r",
                vmin=-vmax,
                vmax=vmax,
                extent=(recording.dt, t_end, c.shape[1], 0),
                interpolation="nearest",
            )
            ax.set_title(f"{src} → {dst}  |I|={np.abs(c).mean():.3g}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{dst} unit")
            if i == n - 1:
                ax.set_xlabel("time (ms)")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="current (trial mean)")
    fig.suptitle("currents by pathway (rows: target, columns: source)")
    return fig


@validate_params({"scores": _MAPPING, "reference": Optional(_MAPPING)})
def plot_pvar(
    scores: Mapping[str, float],
    *,
    ax: Any = None,
    reference: Mapping[str, float] | None = None,
    labels: tuple[str, str] = ("fit", "reference"),
) -> Any:
    """Bars of pVar per region and overall (``"all"``), from :func:`mrnngraph.pvar`;
    with ``reference``, a second set of bars beside each (another method, say).

    The scores of an :class:`~mrnngraph.Ensemble` (``pvar(ens, rec)``: an array of one
    value per member for each key) are drawn as a bar at the members' mean with a dot
    for each member.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * len(scores) + 2.5, 3.2), layout="constrained")
    keys = [k for k in scores if k != "all"] + (["all"] if "all" in scores else [])
    x = np.arange(len(keys))
    width = 0.38 if reference is not None else 0.6
    vals = [_centre(scores[k]) for k in keys]
    ref = None if reference is None else [_centre(reference.get(k, math.nan)) for k in keys]
    every = [
        float(v)
        for d in (scores, reference or {})
        for k in keys
        for v in np.ravel(np.asarray(d.get(k, math.nan), dtype=float))
    ]  # members' scores included, so that no dot falls below the axis
    finite = [v for v in vals + (ref or []) + every if math.isfinite(v)]
    # Below -1 a model is far worse than the data's mean: clip the axis there and print
    # the value, so one diverging model does not flatten every other bar.
    floor = max(min([0.0, *finite]), -1.0)

    def label(bars: Any, values: list[float]) -> None:
        for b, v in zip(bars, values, strict=True):
            if not math.isfinite(v):
                continue
            y = max(v, 0.0) + 0.01 if v >= floor else floor + 0.02
            ax.text(
                b.get_x() + b.get_width() / 2, y, f"{v:.2f}", ha="center", va="bottom", fontsize=8
            )

    shown = [max(v, floor) if math.isfinite(v) else v for v in vals]
    bars = ax.bar(
        x - (width / 2 if reference is not None else 0),
        shown,
        width,
        color=["C0" if k != "all" else "C2" for k in keys],
        label=labels[0],
    )
    label(bars, vals)
    _member_dots(ax, x - (width / 2 if reference is not None else 0), keys, scores, floor)
    if ref is not None:
        _member_dots(ax, x + width / 2, keys, reference, floor)
        rb = ax.bar(
            x + width / 2,
            [max(v, floor) if math.isfinite(v) else v for v in ref],
            width,
            color="0.6",
            label=labels[1],
        )
        label(rb, ref)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_xticks(x, keys)
    ax.set_ylim(floor - (0.05 if floor < 0 else 0.0), 1.12)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("pVar (1 = perfect)")
    ax.set_title("variance explained by region")
    return ax


@validate_params({"trial": Interval(integer=True)})
def plot_fit_traces(
    model: Any,
    recording: Any,
    *,
    trial: int = 0,
    neurons: int | Mapping[str, Sequence[int]] = 3,
    observation: Any = None,
    fig: Any = None,
) -> Any:
    """Data (solid) and the model's free run (dashed) of example neurons in one trial.

    Parameters
    ----------
    neurons : int or mapping of region to neuron indices
        How many neurons per region (the most variable ones), or which.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..fitting import reconstruct

    _one_model(model, "plot_fit_traces")
    if not -recording.n_trials <= trial < recording.n_trials:
        raise IndexError(f"trial {trial} is out of range for {recording.n_trials} trials")
    sub = recording[[trial]]
    model_rec = reconstruct(model, sub, observation=observation)
    regions = recording.regions
    if not isinstance(neurons, Mapping):
        if isinstance(neurons, bool) or not isinstance(neurons, int | np.integer):
            raise TypeError(
                "neurons must be an integer >= 1 or a mapping of region to neuron indices; "
                f"got {type(neurons).__name__}"
            )
        neurons = check("neurons", neurons, STEPS)
    if isinstance(neurons, int):
        picks = {
            r: list(np.argsort(-recording.rates[r].var(axis=(0, 1)))[:neurons]) for r in regions
        }
    else:
        picks = {r: list(v) for r, v in neurons.items()}
        regions = [r for r in regions if r in picks]
    if fig is None:
        fig = plt.figure(figsize=(8, 1.9 * len(regions) + 0.6), layout="constrained")
    axes = fig.subplots(len(regions), 1, squeeze=False)[:, 0]
    t = np.arange(recording.n_steps) * recording.dt
    for ax, r in zip(axes, regions, strict=True):
        for k, n in enumerate(picks[r]):
            color = f"C{k % 10}"
            ax.plot(t, sub.rates[r][0, :, n], color=color, lw=1.6, label=f"neuron {n}")
            ax.plot(
                t,
                model_rec.rates[r][0, :, n],
                color=color,
                lw=1.2,
                ls="--",
                label=f"neuron {n} (model)",
            )
        ax.set_ylabel(r)
        handles = ax.get_lines()[::2]
        ax.legend(
            handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False
        )
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle(f"trial {trial}: data (solid) and the model run free from bin 0 (dashed)")
    return fig


def _centre(value: Any) -> float:
    """A score, or the mean of an ensemble's scores (one per member)."""
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        return float(v)
    finite = v[np.isfinite(v)]
    return float(finite.mean()) if finite.size else math.nan


def _member_dots(ax: Any, x: Any, keys: list[str], scores: Mapping[str, Any], floor: float) -> None:
    """One dot per member over each bar of an ensemble's scores."""
    for xi, k in zip(x, keys, strict=True):
        v = np.asarray(scores.get(k, math.nan), dtype=float)
        if v.ndim == 1:
            ax.plot(np.full(v.shape, xi), np.maximum(v, floor), "o", color="k", ms=3, zorder=3)


def _one_model(model: Any, name: str) -> None:
    from ..ensemble import Ensemble

    if isinstance(model, Ensemble):
        raise TypeError(
            f"{name} draws one model; for member k of an ensemble pass ens[k] with "
            "observation=ens.observations[k]"
        )
