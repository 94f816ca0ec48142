"""Figures of many trained members of one circuit (``mrnngraph train --seeds``): a metric per
seed with its mean and spread, every member's learning curves overlaid, and every member's
psychometric curve with the curve of all their trials pooled (matplotlib, imported on use).

Each function returns a new :class:`matplotlib.figure.Figure` (not attached to pyplot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..tasks.psychometrics import ContextPsychometrics, PsychometricCurve, fit_psychometric

__all__ = [
    "seed_metric_figure",
    "member_curves_figure",
    "member_psychometric_figure",
    "pool_psychometric",
    "spread",
]


def spread(values: Sequence[float | None], seeds: Sequence[int]) -> dict[str, Any] | None:
    """Mean, standard deviation (n - 1; None for one value), min and max of the values that
    are not None, and the seeds with the min and the max (the first, on a tie); None when
    every value is None.

    Examples
    --------
    >>> spread([0.8, None, 0.6, 0.7], [0, 1, 2, 3])  # doctest: +NORMALIZE_WHITESPACE
    {'n': 3, 'mean': 0.7, 'std': 0.1, 'min': 0.6, 'max': 0.8, 'min_seed': 2,
     'max_seed': 0}
    """
    pairs = [(float(v), s) for v, s in zip(values, seeds, strict=True) if v is not None]
    if not pairs:
        return None
    x = np.array([v for v, _ in pairs])
    worst = min(pairs, key=lambda p: p[0])
    best = max(pairs, key=lambda p: p[0])
    return {
        "n": len(pairs),
        "mean": round(float(x.mean()), 12),
        "std": round(float(x.std(ddof=1)), 12) if len(pairs) > 1 else None,
        "min": worst[0],
        "max": best[0],
        "min_seed": worst[1],
        "max_seed": best[1],
    }


# --------------------------------------------------------------------------- metric per seed
def seed_metric_figure(
    seeds: Sequence[int],
    series: Mapping[str, Sequence[float | None]],
    *,
    ylabel: str = "held-out accuracy",
    percent: bool = True,
    failed: Mapping[int, str] | None = None,
) -> Any:
    """One point per member and series, the mean of each series as a line and its mean ±
    one standard deviation shaded; the worst member of the first series is ringed.

    Parameters
    ----------
    seeds : sequence of int
        The members, in the order drawn (x axis).
    series : mapping of str to sequence of float or None
        Label -> one value per seed (None: no value, e.g. a member that diverged).
    ylabel : str
    percent : bool
        Values are fractions drawn as % (0-100).
    failed : mapping of int to str, optional
        Seed -> why it has no value (written under its tick).

    Returns
    -------
    matplotlib.figure.Figure
        One axes; its x tick labels are the seeds.

    Examples
    --------
    >>> fig = seed_metric_figure([0, 1, 2], {"all trials": [0.8, 0.7, 0.9]})
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['0', '1', '2']
    """
    from matplotlib.figure import Figure

    n = len(seeds)
    fig = Figure(figsize=(min(max(7.0, 3.0 + 0.38 * n), 16.0), 4.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(n)
    k = 100.0 if percent else 1.0
    unit = " %" if percent else ""
    for i, (label, values) in enumerate(series.items()):
        color = f"C{i}"
        y = np.array([np.nan if v is None else k * float(v) for v in values])
        ok = ~np.isnan(y)
        s = spread(list(values), list(seeds))
        # Series side by side at each seed, so equal values do not hide each other.
        xs = x + 0.15 * (i - (len(series) - 1) / 2)
        ax.plot(xs[ok], y[ok], "o", color=color, ms=6, alpha=0.85, label=f"{label}, per member")
        if s is None:
            continue
        mean, std = k * s["mean"], k * (s["std"] or 0.0)
        std_text = f" ± {std:.1f}" if s["std"] is not None else ""
        ax.axhline(mean, color=color, lw=1.4, label=f"{label}, mean {mean:.1f}{std_text}{unit}")
        if s["std"] is not None:
            ax.axhspan(mean - std, mean + std, color=color, alpha=0.12, lw=0)
        if i == 0 and n > 1:
            w = list(seeds).index(s["min_seed"])
            ax.plot(xs[w], y[w], "o", ms=13, mfc="none", mec="k", mew=1.2)
            ax.annotate(
                f"worst: seed {s['min_seed']}",
                (xs[w], y[w]),
                textcoords="offset points",
                xytext=(0, -18),
                ha="center",
                fontsize=8,
            )
    labels = [str(s) for s in seeds]
    for s, why in (failed or {}).items():
        if s in seeds:
            labels[list(seeds).index(s)] = f"{s}\n({why})"
    ax.set_xticks(x, labels, fontsize=8 if n > 20 else 9)
    ax.set_xlim(-0.6, n - 0.4)
    if percent:
        ax.set_ylim(-2, 102)
    ax.set_xlabel("seed")
    ax.set_ylabel(f"{ylabel}{' (%)' if percent else ''}")
    ax.set_title(
        f"{ylabel} of {n} member{'s' if n != 1 else ''} (line: mean; shaded: ± 1 std)",
        fontsize=10,
    )
    ax.grid(alpha=0.3, axis="y")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


# --------------------------------------------------------------------------- learning curves
def member_curves_figure(seeds: Sequence[int], histories: Sequence[Any]) -> Any:
    """Every member's training loss per step (log scale) and held-out accuracy (the
    ``evals`` of its :class:`~mrnngraph.training.History`), one thin line each, and the
    mean over members as a thick black line.

    Examples
    --------
    >>> from mrnngraph.training import History
    >>> h = [History(step=[1, 2], loss=[1.0, 0.5], accuracy=[0.2, 0.6],
    ...              evals=[{"step": 2, "accuracy": a}]) for a in (0.5, 0.7)]
    >>> [len(ax.lines) for ax in member_curves_figure([0, 1], h).axes]
    [3, 3]
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 3.9), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    colors = _member_colors(len(seeds))
    for seed, h, c in zip(seeds, histories, colors, strict=True):
        ax_loss.plot(h.step, h.loss, lw=0.7, color=c, alpha=0.7, label=f"seed {seed}")
        ev = [e for e in h.evals if "step" in e and e.get("accuracy") is not None]
        ax_acc.plot(
            [e["step"] for e in ev], [e["accuracy"] for e in ev], lw=0.8, color=c, alpha=0.75
        )
    _mean_line(ax_loss, [(h.step, h.loss) for h in histories], "mean over members")
    evals = [
        (
            [e["step"] for e in h.evals if e.get("accuracy") is not None and "step" in e],
            [e["accuracy"] for e in h.evals if e.get("accuracy") is not None and "step" in e],
        )
        for h in histories
    ]
    _mean_line(ax_acc, evals, "mean over members")
    if all(min(h.loss, default=1.0) > 0 for h in histories):
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (training batch)")
    ax_loss.set_title(f"training loss, {len(seeds)} members", fontsize=10)
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("held-out accuracy")
    ax_acc.set_title("held-out accuracy during training", fontsize=10)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if len(seeds) <= 16:
        ax_loss.legend(frameon=False, fontsize=7, ncol=2)
    else:
        ax_loss.legend(ax_loss.lines[-1:], [ax_loss.lines[-1].get_label()], frameon=False)
    ax_acc.legend(ax_acc.lines[-1:], [ax_acc.lines[-1].get_label()], frameon=False, fontsize=8)
    return fig


def _mean_line(ax: Any, curves: Sequence[tuple[Sequence[int], Sequence[float]]], label: str):
    """The mean at the steps every curve has (NaN left out), thick black."""
    common = None
    for steps, _ in curves:
        common = set(steps) if common is None else common & set(steps)
    steps = sorted(common or ())
    if not steps:
        ax.plot([], [], color="k", lw=2, label=label)
        return
    table = np.array(
        [[dict(zip(s, v, strict=True)).get(t, np.nan) for t in steps] for s, v in curves],
        dtype=float,
    )
    with np.errstate(all="ignore"):
        mean = np.nanmean(np.where(np.isfinite(table), table, np.nan), axis=0)
    ax.plot(steps, mean, color="k", lw=2, label=label)


def _member_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.1 + 0.8 * i / max(n - 1, 1)) for i in range(n)]


# --------------------------------------------------------------------------- psychometrics
def pool_psychometric(curves: Sequence[PsychometricCurve]) -> PsychometricCurve:
    """One curve from the trials of every member's curve of the same stimulus (counts
    summed per level) with the psychometric function fitted to all of them.

    Examples
    --------
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> task = PerceptualDecisionMaking()
    >>> bs = [task.batch(200, seed=s) for s in (0, 1)]
    >>> pooled = pool_psychometric([task.psychometric(task.optimal_outputs(b), b) for b in bs])
    >>> int(pooled.n_trials.sum()), pooled.p_choice1[[0, -1]].tolist()
    (400, [0.0, 1.0])
    """
    levels = np.unique(np.concatenate([c.levels for c in curves]))
    n_one, n_ans, n_all, n_ok = (np.zeros(levels.size) for _ in range(4))
    for c in curves:
        at = np.searchsorted(levels, c.levels)
        n_one[at] += c.n_choice1
        n_ans[at] += c.n_answered
        n_all[at] += c.n_trials
        n_ok[at] += np.nan_to_num(c.accuracy * c.n_trials)
    s = np.repeat(levels, n_ans.astype(np.int64))
    chose = (
        np.concatenate([np.arange(int(a)) < int(o) for a, o in zip(n_ans, n_one, strict=True)])
        if levels.size
        else np.zeros(0, bool)
    )
    fit = fit_psychometric(s, chose) if np.unique(s).size >= 2 else None
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n_ans > 0, n_one / np.maximum(n_ans, 1), np.nan)
        acc = np.where(n_all > 0, n_ok / np.maximum(n_all, 1), np.nan)
    first = curves[0]
    return PsychometricCurve(
        stimulus=first.stimulus,
        levels=levels,
        p_choice1=p,
        n_choice1=n_one.astype(np.int64),
        n_answered=n_ans.astype(np.int64),
        n_trials=n_all.astype(np.int64),
        accuracy=acc,
        fit=fit,
        context=first.context,
        relevant=first.relevant,
    )


def member_psychometric_figure(seeds: Sequence[int], results: Sequence[Any]) -> Any:
    """Every member's psychometric curve as a thin line (its fitted function; the choice
    fractions joined where it has no fit) and the pooled curve of all their trials
    (points with binomial standard errors and its fit, black).

    Parameters
    ----------
    seeds : sequence of int
    results : sequence of PsychometricCurve or ContextPsychometrics
        One per member, what ``task.psychometric`` returned on its held-out trials.

    Returns
    -------
    matplotlib.figure.Figure
        One axes for a :class:`PsychometricCurve`; one per context and stimulus for
        :class:`ContextPsychometrics` (the legend on the first).

    Examples
    --------
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> task = PerceptualDecisionMaking()
    >>> bs = [task.batch(200, seed=s) for s in (0, 1)]
    >>> res = [task.psychometric(task.optimal_outputs(b), b) for b in bs]
    >>> fig = member_psychometric_figure([0, 1], res)
    >>> fig.axes[0].get_ylabel()
    'P(choice 1)'
    """
    from matplotlib.figure import Figure

    if isinstance(results[0], ContextPsychometrics):
        first = results[0]
        n_ctx, n_stim = len(first.contexts), len(first.stimuli)
        fig = Figure(figsize=(4.8 * n_stim, 3.6 * n_ctx), layout="constrained")
        axes = fig.subplots(n_ctx, n_stim, squeeze=False, sharey=True)
        for row, ctx in enumerate(first.contexts):
            for col, stim in enumerate(first.stimuli):
                ax = axes[row, col]
                curves = [r[ctx, stim] for r in results]
                _member_panel(ax, seeds, curves, legend=row == col == 0)
                role = "relevant" if curves[0].relevant else "irrelevant"
                ax.set_title(f"{ctx} context: {stim} ({role})", fontsize=9)
                if col:
                    ax.set_ylabel("")
        return fig
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    _member_panel(ax, seeds, list(results))
    ax.set_title(f"{len(seeds)} members, one line each; pooled trials in black", fontsize=9)
    return fig


def _member_panel(
    ax: Any, seeds: Sequence[int], curves: Sequence[PsychometricCurve], *, legend: bool = True
) -> None:
    from .psychometrics import _fine, _fit_label

    pooled = pool_psychometric(curves)
    x = _fine(pooled.levels)
    for i, (seed, c, color) in enumerate(
        zip(seeds, curves, _member_colors(len(seeds)), strict=True)
    ):
        label = f"seed {seed}" if len(seeds) <= 8 else ("members" if i == 0 else None)
        if c.fit is not None:
            ax.plot(x, c.fit(x), "-", color=color, lw=0.8, alpha=0.7, label=label)
        else:
            ok = c.n_answered > 0
            ax.plot(
                c.levels[ok], c.p_choice1[ok], "--", color=color, lw=0.8, alpha=0.7, label=label
            )
    ok = pooled.n_answered > 0
    p = pooled.p_choice1[ok]
    se = np.sqrt(p * (1 - p) / pooled.n_answered[ok])
    ax.errorbar(
        pooled.levels[ok],
        p,
        yerr=se,
        fmt="o",
        color="k",
        ms=4.5,
        capsize=2,
        label=f"pooled ({int(pooled.n_answered.sum())} answered trials)",
    )
    if pooled.fit is not None:
        ax.plot(x, pooled.fit(x), "-", color="k", lw=2.0, label="pooled fit")
        ax.text(
            0.98,
            0.03,
            "pooled: " + _fit_label(pooled.fit).replace(", lapses", ",\nlapses"),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            bbox={"boxstyle": "square,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    lin = min((abs(v) for v in pooled.levels if v != 0), default=1.0)
    ax.set_xscale("symlog", linthresh=lin, linscale=0.5)
    ax.set_xticks(pooled.levels, [f"{v:g}" for v in pooled.levels], fontsize=7, rotation=90)
    ax.set_ylim(-0.03, 1.03)
    ax.axhline(0.5, color="0.75", ls=":", lw=0.8)
    ax.axvline(0.0, color="0.75", ls=":", lw=0.8)
    ax.set_xlabel(f"{pooled.stimulus.replace('_', ' ')} (%, signed: + towards choice 1)")
    ax.set_ylabel("P(choice 1)")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(frameon=False, fontsize=7, loc="upper left")
