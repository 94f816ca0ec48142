"""Psychometric curves and their figures (matplotlib, imported on use).

A task with a stimulus strength returns its curves from ``task.psychometric(outputs,
batch)`` (:class:`~mrnngraph.tasks.psychometrics.PsychometricCurve` for perceptual
decision making; :class:`~mrnngraph.tasks.psychometrics.ContextPsychometrics`, one
curve per context and stimulus, for context-dependent integration). The curves and the
fit (:func:`fit_psychometric`, a lapse-bounded cumulative Gaussian fitted by maximum
likelihood) live with the tasks; this module draws them: :func:`plot_psychometric`
(one curve on an axes) and :func:`psychometric_figure` (every curve of a task).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tasks.psychometrics import (
    ContextPsychometrics,
    PsychometricCurve,
    PsychometricFit,
    fit_psychometric,
)

__all__ = [
    "plot_psychometric",
    "psychometric_figure",
    "fit_psychometric",
    "PsychometricCurve",
    "PsychometricFit",
    "ContextPsychometrics",
]


def _fine(levels: np.ndarray) -> np.ndarray:
    lo, hi = float(levels.min()), float(levels.max())
    return np.linspace(lo, hi, 401)


def _fit_label(fit: PsychometricFit | None) -> str:
    """``"bias +0.3 %, threshold 6.1 %, lapses 0.00/0.02"``, saying which of bias and
    threshold the data do not pin down (or ``"no fit"``)."""
    if fit is None:
        return "no fit"
    text = (
        f"bias {fit.bias:+.2g} %, threshold {fit.threshold:.2g} %, "
        f"lapses {fit.lapse_low:.2f}/{fit.lapse_high:.2f}"
    )
    loose = [p for p in ("bias", "threshold") if p in fit.at_bound]
    return text + (f"\n({' and '.join(loose)} not pinned down)" if loose else "")


def plot_psychometric(
    curve: PsychometricCurve,
    *,
    ax: Any = None,
    color: Any = "C0",
    label: str | None = None,
    marker: str = "o",
) -> Any:
    """Draw one curve: P(choice 1) per level with binomial standard errors, and the fit.

    Parameters
    ----------
    curve : PsychometricCurve
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure's axes).
    color, marker
        Of the points and the fitted line.
    label : str, optional
        Legend entry of the points (the fit's parameters are added to it).

    Returns
    -------
    matplotlib Axes
        With the points (an errorbar container) and, where fitted, the fitted function
        (a line labelled ``"fitted function"``) and its parameters as a text in the
        lower right corner.

    Examples
    --------
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> task = PerceptualDecisionMaking()
    >>> b = task.batch(300, seed=0)
    >>> ax = plot_psychometric(task.psychometric(task.optimal_outputs(b), b))
    >>> ax.get_ylabel(), len(ax.lines) >= 1
    ('P(choice 1)', True)
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4.6, 3.6), layout="constrained").add_subplot()
    ok = curve.n_answered > 0
    p = curve.p_choice1[ok]
    se = np.sqrt(p * (1 - p) / curve.n_answered[ok])
    ax.errorbar(
        curve.levels[ok],
        p,
        yerr=se,
        fmt=marker,
        color=color,
        ms=4.5,
        capsize=2,
        label=label or "network",
    )
    if curve.fit is not None:
        x = _fine(curve.levels)
        ax.plot(x, curve.fit(x), "-", color=color, lw=1.3, label="fitted function")
        # The parameters in the lower right, which a rising curve leaves empty.
        ax.text(
            0.98,
            0.03,
            _fit_label(curve.fit).replace(", lapses", ",\nlapses"),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color=color,
            bbox={"boxstyle": "square,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    ax.set_ylim(-0.03, 1.03)
    ax.axhline(0.5, color="0.75", ls=":", lw=0.8)
    ax.axvline(0.0, color="0.75", ls=":", lw=0.8)
    ax.set_xlabel(f"{curve.stimulus.replace('_', ' ')} (%, signed: + towards choice 1)")
    ax.set_ylabel("P(choice 1)")
    ax.grid(alpha=0.3)
    return ax


def psychometric_figure(task: Any, batch: Any, outputs: Any) -> Any:
    """The psychometric curves of a task on held-out trials, with their fits.

    Perceptual decision making: P(choice 1) against the signed coherence (points with
    binomial standard errors, the fitted function and an ideal observer of the same
    stimulus), and the accuracy at each unsigned coherence. Context-dependent
    integration: one row per context, P(choice 1) against each stimulus (the relevant
    one first), the Mante et al. (2013) figure.

    Parameters
    ----------
    task : Task
        A task with a stimulus strength (``task.has_psychometric``).
    batch : Batch
        Held-out trials.
    outputs : Tensor, shape (B, T, O), or the model's RNNOutput

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        For a task without a stimulus strength (from ``task.psychometric``).

    Examples
    --------
    >>> from mrnngraph.tasks import ContextDependentIntegration
    >>> task = ContextDependentIntegration()
    >>> b = task.batch(400, seed=0)
    >>> fig = psychometric_figure(task, b, task.optimal_outputs(b))
    >>> [a.get_title() for a in fig.axes]  # doctest: +NORMALIZE_WHITESPACE
    ['motion context: motion (relevant)', 'motion context: color (irrelevant)',
     'color context: motion (irrelevant)', 'color context: color (relevant)']
    """
    result = task.psychometric(outputs, batch)
    if isinstance(result, ContextPsychometrics):
        return _context_figure(result)
    return _coherence_figure(task, result)


def _coherence_figure(task: Any, curve: PsychometricCurve) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.4, 4.0), layout="constrained")
    ax_p, ax_acc = fig.subplots(1, 2)
    ideal = getattr(task, "ideal_accuracy", None)
    x = _fine(curve.levels)
    if ideal is not None:
        # An ideal observer's P(choice 1) at signed coherence c is its accuracy at c.
        ax_p.plot(x, ideal(x), color="0.6", lw=1, label="ideal observer")
    plot_psychometric(curve, ax=ax_p)
    lin = min((abs(v) for v in curve.levels if v != 0), default=1.0)
    ax_p.set_xscale("symlog", linthresh=lin, linscale=0.5)
    ticks = [v for v in curve.levels if v >= 0 or -v in curve.levels]
    ax_p.set_xticks(ticks, [f"{v:g}" for v in ticks], fontsize=7, rotation=90)
    ax_p.legend(frameon=False, fontsize=7, loc="upper left")
    answered = int(curve.n_answered.sum())
    ax_p.set_title(
        f"choices on {answered} of {int(curve.n_trials.sum())} trials "
        "(no answer or fixation break left out)",
        fontsize=9,
    )

    # Accuracy by unsigned coherence (every trial; no answer counts as an error).
    mag = np.abs(curve.levels)
    coh = np.unique(mag)
    n = np.array([curve.n_trials[mag == c].sum() for c in coh])
    ok = np.array([(curve.accuracy * curve.n_trials)[mag == c].sum() for c in coh])
    acc = ok / np.maximum(n, 1)
    se = np.sqrt(acc * (1 - acc) / np.maximum(n, 1))
    if ideal is not None:
        fine = np.concatenate([[0.0], np.geomspace(0.5, 100.0, 200)])
        ax_acc.plot(fine, ideal(fine), color="0.6", lw=1, label="ideal observer")
    ax_acc.errorbar(coh, acc, yerr=se, fmt="o-", color="C0", ms=5, capsize=2, label="network")
    ax_acc.axhline(0.5, color="0.7", ls=":", lw=1)
    ax_acc.set_xscale("symlog", linthresh=lin, linscale=0.5)
    ax_acc.set_xticks(coh, [f"{c:g}" for c in coh])
    ax_acc.set_xlim(-0.3 * lin / 3.2, 100)
    ax_acc.set_ylim(0.4, 1.02)
    ax_acc.set_xlabel("coherence (%)")
    ax_acc.set_ylabel("accuracy")
    easy = coh >= 12.8 - 1e-9
    pooled = float(ok[easy].sum() / max(n[easy].sum(), 1))
    ax_acc.set_title(
        f"{int(n.sum())} held-out trials; coherence >= 12.8%: {100 * pooled:.1f}%", fontsize=9
    )
    ax_acc.legend(frameon=False, loc="lower right")
    ax_acc.grid(alpha=0.3)
    return fig


def _context_figure(result: ContextPsychometrics) -> Any:
    from matplotlib.figure import Figure

    n_ctx, n_stim = len(result.contexts), len(result.stimuli)
    fig = Figure(figsize=(4.6 * n_stim, 3.5 * n_ctx), layout="constrained")
    axes = fig.subplots(n_ctx, n_stim, squeeze=False, sharey=True)
    for row, ctx in enumerate(result.contexts):
        for col, stim in enumerate(result.stimuli):
            curve = result[ctx, stim]
            ax = axes[row, col]
            color = "C0" if curve.relevant else "C3"
            plot_psychometric(curve, ax=ax, color=color)
            role = "relevant" if curve.relevant else "irrelevant"
            ax.set_title(f"{ctx} context: {stim} ({role})", fontsize=9)
            lin = min((abs(v) for v in curve.levels if v != 0), default=1.0)
            ax.set_xscale("symlog", linthresh=lin, linscale=0.5)
            ax.set_xticks(curve.levels, [f"{v:g}" for v in curve.levels], fontsize=7)
            ax.legend(frameon=False, fontsize=7, loc="upper left")
            if col:
                ax.set_ylabel("")
    return fig
