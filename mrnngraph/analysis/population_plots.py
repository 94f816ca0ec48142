"""Figures of decoding, population PCA and lesion controls (matplotlib, imported on use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._params import COUNT, STEPS, InstanceOf, Optional, validate_params
from .decoding import DecodingResult
from .lesions import LesionEffect
from .population import PopulationPCA

__all__ = ["plot_decoding", "plot_trajectories", "plot_lesion_effects"]

_TITLE = Optional(InstanceOf((str,), "a str"))


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1]


def _events(ax: Any, events: Mapping[str, float] | None) -> None:
    for name, t in (events or {}).items():
        ax.axvline(t, color="0.75", lw=0.8, zorder=0)
        ax.text(
            t,
            1.0,
            f" {name}",
            transform=ax.get_xaxis_transform(),
            fontsize=7,
            va="top",
            ha="left",
            color="0.4",
        )


@validate_params({"result": InstanceOf((DecodingResult,), "a DecodingResult"), "title": _TITLE})
def plot_decoding(
    result: DecodingResult,
    *,
    ax: Any = None,
    regions: Sequence[str] | None = None,
    events: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Any:
    """Decoding score over time, one line per region, with the folds' spread and chance.

    Each line is the mean over folds; the band is ± one standard deviation over
    folds; the dashed line is the chance level.

    Parameters
    ----------
    result : DecodingResult
        From :func:`decode`.
    regions : sequence of str, optional
        Regions drawn, in this order (default all).
    events : dict of str to float, optional
        Times (ms) marked by vertical lines (e.g. epoch onsets).
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    regions = result.regions if regions is None else list(regions)
    unknown = [r for r in regions if r not in result.folds]
    if unknown:
        raise KeyError(f"regions {unknown} are not in the result; regions: {result.regions}")
    ax = _axes(ax, (7, 4))
    t = result.times
    for k, r in enumerate(regions):
        m, s = result.folds[r].mean(0), result.folds[r].std(0)
        color = f"C{k % 10}"
        ax.plot(t, m, color=color, lw=1.5, label=r)
        ax.fill_between(t, m - s, m + s, color=color, alpha=0.18, lw=0)
    ax.axhline(result.chance, color="k", ls="--", lw=1, label=f"chance ({result.chance:.2f})")
    _events(ax, events)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("decoding accuracy" if result.metric == "accuracy" else "decoding R²")
    if result.metric == "accuracy":
        ax.set_ylim(min(0.0, result.chance - 0.05), 1.02)
    n = next(iter(result.folds.values())).shape[0]
    what = f"{result.label!r}" if result.label else "labels"
    ax.set_title(title or f"decoding {what} ({n}-fold CV, mean ± sd over folds)")
    ax.legend(fontsize="small", frameon=False, ncols=2 if len(regions) > 5 else 1)
    return ax


def _condition_colors(conditions: np.ndarray, cmap: str) -> list[Any]:
    import matplotlib as mpl

    if conditions.dtype.kind in "iuf" and conditions.size > 2:
        cm = mpl.colormaps[cmap]
        lo, hi = float(conditions.min()), float(conditions.max())
        return [cm((float(c) - lo) / (hi - lo) if hi > lo else 0.5) for c in conditions]
    return [f"C{k % 10}" for k in range(conditions.size)]


@validate_params(
    {
        "result": InstanceOf((PopulationPCA,), "a PopulationPCA"),
        "max_trials": COUNT,
        "ncols": Optional(STEPS),
    }
)
def plot_trajectories(
    result: PopulationPCA,
    *,
    regions: Sequence[str] | None = None,
    components: tuple[int, int] = (0, 1),
    max_trials: int = 20,
    cmap: str = "coolwarm",
    ncols: int | None = None,
    axes: Any = None,
) -> Any:
    """Each region's trajectories on two of its principal components, one panel per region.

    With conditions (``pca(..., trial_average_by=...)``) the condition averages are
    drawn, coloured by condition (a colour map for numbers, the colour cycle
    otherwise); without, the first ``max_trials`` single trials in grey. A dot marks
    the start of each trajectory, a square its end.

    Parameters
    ----------
    result : PopulationPCA
        From :func:`pca`.
    regions : sequence of str, optional
    components : (int, int)
        The axes drawn (0-based).
    max_trials : int
        Single trials drawn when there are no conditions.
    cmap : str
        Colour map for numeric conditions.
    ncols : int, optional
        Panels per row (default up to 4).
    axes : sequence of matplotlib Axes, optional
        One per region.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    regions = list(result.regions) if regions is None else list(regions)
    for r in regions:
        result[r]  # noqa: B018 (raises KeyError naming the known regions)
    i, j = components
    if axes is None:
        ncols = ncols or min(4, len(regions))
        nrows = -(-len(regions) // ncols)
        fig, grid = plt.subplots(
            nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows), layout="constrained", squeeze=False
        )
        axes = list(grid.ravel())
        for ax in axes[len(regions) :]:
            ax.set_visible(False)
    else:
        axes = list(np.ravel(axes))
        fig = axes[0].figure
    if len(axes) < len(regions):
        raise ValueError(f"{len(axes)} axes for {len(regions)} regions")
    colors = None if result.conditions is None else _condition_colors(result.conditions, cmap)
    for ax, r in zip(axes, regions, strict=False):
        p = result[r]
        if max(i, j) >= p.n_components:
            ax.set_title(f"{r}: {p.n_components} component(s)", fontsize=9)
            continue
        if result.conditions is not None and p.condition_projections is not None:
            trajs = p.condition_projections
            styles = [{"color": c, "lw": 1.5} for c in colors]
            labels = [
                f"{float(v) + 0.0:g}" if isinstance(v, (float, np.floating)) else str(v)
                for v in result.conditions
            ]
        else:
            trajs = p.projections[:max_trials]
            styles = [{"color": "0.5", "lw": 0.7, "alpha": 0.7}] * trajs.shape[0]
            labels = [None] * trajs.shape[0]
        for tr, st, lab in zip(trajs, styles, labels, strict=True):
            ax.plot(tr[:, i], tr[:, j], label=lab, **st)
            ax.plot(tr[0, i], tr[0, j], "o", ms=3, color=st["color"])
            ax.plot(tr[-1, i], tr[-1, j], "s", ms=3, color=st["color"])
        ev = p.explained_variance_ratio
        ax.set_xlabel(f"PC {i + 1} ({100 * ev[i]:.0f}% var)", fontsize=8)
        ax.set_ylabel(f"PC {j + 1} ({100 * ev[j]:.0f}% var)", fontsize=8)
        ax.set_title(r, fontsize=10)
        ax.tick_params(labelsize=7)
    if result.conditions is not None and len(result.conditions) <= 12:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            fontsize="small",
            frameon=False,
            loc="outside right center",
            title=result.by or "condition",
            title_fontsize="small",
        )
    fig.suptitle(
        f"trajectories on each region's principal components "
        f"(fit on {result.fitted_on}; ● start, ■ end)",
        fontsize=10,
    )
    return fig


@validate_params({"seed": COUNT, "title": _TITLE})
def plot_lesion_effects(
    effects: LesionEffect | Sequence[LesionEffect],
    *,
    ax: Any = None,
    seed: int = 0,
    title: str | None = None,
) -> Any:
    """Named lesions against random lesions of the same size, one row per lesion.

    Grey dots: random lesions (jittered vertically); red diamond: the named lesion;
    dotted line: the intact model. Each row's label gives the lesion, its size (and
    the regions random units came from, when restricted) and its empirical p-value
    among the random lesions.

    Parameters
    ----------
    effects : LesionEffect or sequence of LesionEffect
        From :func:`lesion_effect` (on the same model and trials, so that the intact
        score is one).
    seed : int
        Seed of the jitter.
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    if isinstance(effects, LesionEffect):
        effects = [effects]
    effects = list(effects)
    if not effects:
        raise ValueError("no lesion effects to plot")
    ax = _axes(ax, (7.5, 0.6 + 0.55 * len(effects)))
    rng = np.random.default_rng(seed)
    for row, eff in enumerate(effects):
        y = len(effects) - 1 - row
        ax.scatter(
            eff.random,
            y + rng.uniform(-0.18, 0.18, eff.random.size),
            s=12,
            color="0.55",
            alpha=0.8,
            lw=0,
            label=f"random lesions of the same size (n = {eff.random.size} each)"
            if row == 0
            else None,
        )
        ax.scatter(
            [eff.lesioned],
            [y],
            marker="D",
            s=40,
            color="C3",
            zorder=3,
            label="named lesion" if row == 0 else None,
        )
    intact = {round(e.intact, 12) for e in effects}
    for k, v in enumerate(sorted(intact)):
        ax.axvline(v, color="k", ls=":", lw=1, label="intact" if k == 0 else None)
    labels = []
    for eff in effects:
        size = []
        if eff.n_units:
            pool = "" if eff.among is None else f" of {', '.join(eff.among)}"
            size.append(f"{eff.n_units} units{pool}")
        size += [
            f"{n} {'recurrent' if f == 'hh' else 'input' if f == 'ih' else 'readout'} synapses"
            for f, n in eff.n_synapses.items()
        ]
        labels.append(f"{eff.name}\n({', '.join(size)}; p = {eff.p_value:.2g})")
    ax.set_yticks(range(len(effects))[::-1], labels, fontsize=8)
    ax.set_ylim(-0.6, len(effects) - 0.4)
    ax.set_xlabel(effects[0].metric)
    ax.set_title(title or f"named vs random lesions ({effects[0].n_trials} trials)", fontsize=10)
    ax.legend(
        fontsize="small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3
    )
    return ax
