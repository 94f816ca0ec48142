"""Figures of a training run: the circuit, its connectivity before and after, the learning
curves, example trials and the psychometric curves (matplotlib, imported on use).

The connectivity figure is built in :mod:`~mrnngraph.analysis.connectivity_plots` and the
psychometric one in :mod:`~mrnngraph.analysis.psychometrics`; both are exported here too, as
are the figures of many members (``mrnngraph train --seeds``) from
:mod:`~mrnngraph.analysis.sweep_plots`.

These are the figures ``mrnngraph train`` writes; each returns a new
:class:`matplotlib.figure.Figure` (not attached to pyplot, so nothing is shown and
nothing leaks between calls).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Built in their own modules, exported here too: every figure `mrnngraph train` writes.
from .connectivity_plots import _groups, connectivity_figure  # noqa: F401
from .psychometrics import psychometric_figure
from .sweep_plots import member_curves_figure, member_psychometric_figure, seed_metric_figure

__all__ = [
    "circuit_figure",
    "connectivity_figure",
    "training_figure",
    "trials_figure",
    "psychometric_figure",
    "accuracy_ceiling",
    "seed_metric_figure",
    "member_curves_figure",
    "member_psychometric_figure",
]

#: Style of a fixation channel (input ``fixation``, output ``fixate``): its own colour, so it
#: is never confused with the stimulus or choice channels.
_FIX_COLOR = "k"


def circuit_figure(G: Any) -> Any:
    """The area diagram of a circuit on its own figure.

    Parameters
    ----------
    G : networkx.DiGraph
        The circuit.

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding :func:`mrnngraph.draw` of ``G``.

    Examples
    --------
    >>> from mrnngraph.presets import two_area_ei
    >>> fig = circuit_figure(two_area_ei(size=10))
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    from ..drawing import diagram_frame, draw

    w, h, rect = diagram_frame(G)
    fig = Figure(figsize=(w, h))
    draw(G, ax=fig.add_axes(rect))
    return fig


# --------------------------------------------------------------------------- learning curves
def accuracy_ceiling(task: Any) -> tuple[float, str] | None:
    """The best accuracy any network can reach on a task's trial mix, and why, if the task
    says (it has ``coherences`` drawn uniformly and an ``ideal_accuracy``).

    Parameters
    ----------
    task : Task
        A task such as :class:`~mrnngraph.tasks.PerceptualDecisionMaking`.

    Returns
    -------
    (float, str) or None
        The ideal observer's accuracy averaged over the coherences (each is drawn equally
        often) and a one-line reason; None for tasks without an ideal observer.

    Examples
    --------
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> ceiling, why = accuracy_ceiling(PerceptualDecisionMaking())
    >>> round(ceiling, 2), why
    (0.86, '0 % coherence is 1 trial in 6: a coin flip')
    """
    ideal = getattr(task, "ideal_accuracy", None)
    cohs = getattr(task, "coherences", None)
    if ideal is None or not cohs:
        return None
    acc = np.asarray(ideal(list(cohs)), dtype=float)
    ceiling = float(acc.mean())
    n_zero = sum(1 for c in cohs if c == 0)
    if n_zero:
        frac = n_zero / len(cohs)
        share = (
            f"1 trial in {len(cohs) // n_zero}"
            if len(cohs) % n_zero == 0
            else f"{100 * frac:.0f} % of trials"
        )
        why = f"0 % coherence is {share}: a coin flip"
    else:
        why = "weak coherences are hard even for an ideal observer"
    return ceiling, why


def training_figure(history: Any, *, task: Any = None) -> Any:
    """Loss (log scale) and accuracy per step, with the held-out evaluations beside the
    per-batch values.

    Parameters
    ----------
    history : History
        What :func:`mrnngraph.train` recorded. Its ``evals`` (present when trained with
        ``eval_every``) are drawn as the held-out curves, with the held-out accuracy on
        coherences >= 12.8 % where the task reports it.
    task : Task, optional
        The task trained on. When it has an ideal observer (perceptual decision making),
        the accuracy panel shows the ceiling of the coherence mix and why accuracy
        plateaus below 100 %.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: loss and accuracy.

    Examples
    --------
    >>> from mrnngraph.training import History
    >>> h = History(step=[1, 2], loss=[1.0, 0.5], accuracy=[0.2, 0.6],
    ...             evals=[{"step": 2, "loss": 0.6, "accuracy": 0.5}])
    >>> [len(ax.lines) for ax in training_figure(h).axes]
    [2, 2]
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 3.9), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(history.step, history.loss, lw=1, color="C0", label="training batch")
    if history.terms:
        ax_loss.plot(
            history.step, history.task_loss, lw=1, color="C1", label="training batch, task term"
        )
    evals = [e for e in history.evals if "step" in e]
    ev_loss = [e for e in evals if e.get("loss") is not None]
    if ev_loss:
        ax_loss.plot(
            [e["step"] for e in ev_loss],
            [e["loss"] for e in ev_loss],
            "o-",
            color="k",
            ms=3,
            lw=1.2,
            label="held-out",
        )
    if history.terms or ev_loss:
        ax_loss.legend(frameon=False)
    losses = list(history.loss) + [e["loss"] for e in ev_loss]
    if losses and min(losses) > 0:
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_acc.plot(
        history.step, history.accuracy, lw=0.8, color="C2", alpha=0.6, label="training batch"
    )
    ev_acc = [e for e in evals if e.get("accuracy") is not None]
    if ev_acc:
        ax_acc.plot(
            [e["step"] for e in ev_acc],
            [e["accuracy"] for e in ev_acc],
            "o-",
            color="k",
            ms=3,
            lw=1.2,
            label="held-out",
        )
    easy_key = next((k for e in ev_acc for k in e if k.startswith("accuracy_coherence_ge_")), None)
    if easy_key is not None:
        pts = [e for e in ev_acc if e.get(easy_key) is not None]
        ax_acc.plot(
            [e["step"] for e in pts],
            [e[easy_key] for e in pts],
            "s--",
            color="0.45",
            ms=3,
            lw=1,
            label=f"held-out, coherence >= {easy_key.rsplit('_', 1)[1]} %",
        )
    ceiling = accuracy_ceiling(task) if task is not None else None
    if ceiling is not None:
        value, why = ceiling
        ax_acc.axhline(
            value,
            color="C3",
            ls=":",
            lw=1.2,
            label=f"ideal observer, this trial mix: {100 * value:.1f} %",
        )
        # Bottom right: where a learning curve has left by the time it plateaus.
        ax_acc.text(
            0.98,
            0.04,
            f"why below 100 %: {why}\n(an ideal observer of this trial "
            f"mix scores {100 * value:.1f} %)",
            transform=ax_acc.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="C3",
            bbox={"boxstyle": "square,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    if len(ax_acc.lines) > 1:
        ax_acc.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------- example trials
def _example_trials(batch: Any, n: int = 4) -> list[int]:
    """Trials to show: every condition the batch has (context x choice for context tasks;
    coherence levels from strong to weak, alternating the choice, for coherence tasks)."""
    trials = batch.trials
    if "context" in trials and "choice" in trials:
        ctx, choice = trials["context"], trials["choice"]
        rel = trials.get("motion_coherence")
        picks = []
        for c in sorted(set(ctx.tolist())):
            for k in sorted(set(choice.tolist())):
                idx = ((ctx == c) & (choice == k)).nonzero().flatten()
                if len(idx) == 0:
                    continue
                if rel is not None and "color_coherence" in trials:
                    strength = (
                        trials["motion_coherence"] if c == 0 else trials["color_coherence"]
                    )[idx].abs()
                    idx = idx[strength.argsort(descending=True, stable=True)]
                picks.append(int(idx[0]))
        return picks
    if "coherence" in trials:
        coh = trials["coherence"]
        levels = sorted(set(coh.tolist()), reverse=True)
        if len(levels) > n:
            levels = [levels[round(i * (len(levels) - 1) / (n - 1))] for i in range(n)]
        choice = trials.get("choice")
        picks = []
        for col, c in enumerate(levels):
            idx = (coh == c).nonzero().flatten()
            if choice is not None:
                want = sorted(set(choice.tolist()))[col % len(set(choice.tolist()))]
                preferred = idx[choice[idx] == want]
                if len(preferred):
                    idx = preferred
            picks.append(int(idx[0]))
        return picks
    return list(range(min(n, batch.batch_size)))


def _trial_title(batch: Any, i: int) -> str:
    t = batch.trials
    if "coherence" in t:
        return f"coherence {float(t['coherence'][i]):g}%, choice {int(t['choice'][i])}"
    if "context" in t:
        ctx = "motion" if int(t["context"][i]) == 0 else "color"
        return (
            f"context {ctx}: motion {float(t['motion_coherence'][i]):+g}%, "
            f"color {float(t['color_coherence'][i]):+g}%, choice {int(t['choice'][i])}"
        )
    return f"trial {i}"


def _is_fixation(name: str) -> bool:
    return str(name).lower().startswith("fix")


def trials_figure(task: Any, model: Any, batch: Any, result: Any, *, n: int = 4) -> Any:
    """Example trials in columns: inputs, targets and outputs, per-region mean rates.

    Parameters
    ----------
    task : Task
        The task the batch comes from.
    model : MultiRegionRNN
        The model (for its region layout).
    batch : Batch
        Trials, on the CPU.
    result : RNNOutput
        The model's outputs and rates on ``batch``, on the CPU.
    n : int
        Columns for tasks without conditions; a context task shows one trial of every
        context x choice condition in the batch (the strongest relevant stimulus of
        each), a coherence task ``n`` coherence levels, alternating the correct choice.

    Returns
    -------
    matplotlib.figure.Figure
        Three rows of axes (inputs; outputs and targets; mean rate per region), one
        column per trial. A fixation channel (input ``fixation``, output ``fixate``) is
        drawn in black (the input dash-dotted) so it stands apart from the stimuli and
        the choices; the decision epoch is shaded.

    Examples
    --------
    >>> import torch, mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> from mrnngraph.tasks import ContextDependentIntegration
    >>> task = ContextDependentIntegration()
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10, n_inputs=5, n_outputs=3),
    ...                                      seed=0)
    >>> batch = task.batch(40, seed=0)
    >>> with torch.no_grad():
    ...     fig = trials_figure(task, model, batch, model(batch.inputs))
    >>> sorted(a.get_title().split(":")[0] for a in fig.axes if a.get_title())
    ['context color', 'context color', 'context motion', 'context motion']
    """
    import torch
    from matplotlib.figure import Figure

    picks = _example_trials(batch, n)
    width = 3.6 * len(picks) + 2.2
    fig = Figure(figsize=(width, 7.6))
    # Fixed margins: constrained layout costs seconds on a 12-panel figure.
    axes = fig.subplots(
        3,
        len(picks),
        sharex=True,
        squeeze=False,
        gridspec_kw={
            "left": 0.9 / width,
            "right": 1 - 1.5 / width,
            "bottom": 0.07,
            "top": 0.95,
            "wspace": 0.25,
            "hspace": 0.12,
        },
    )
    regions = model.layout.regions
    in_colors = _channel_colors(task.input_names, task.input_size)
    out_colors = _channel_colors(task.output_names, task.output_size)
    for col, i in enumerate(picks):
        T = int((batch.mask[i] > 0).sum()) or batch.n_steps
        t = (torch.arange(T) + 1) * task.dt
        ax_in, ax_out, ax_rate = axes[:, col]
        for c in range(task.input_size):
            name = task.input_names[c] if c < len(task.input_names) else f"input {c}"
            fix = _is_fixation(name)
            ax_in.plot(
                t,
                batch.inputs[i, :T, c],
                lw=1.6 if fix else 0.9,
                ls="-." if fix else "-",
                color=in_colors[c],
                label=name,
                zorder=3 if fix else 2,
            )
        outputs = result.outputs[i, :T]
        if task.kind == "classification":
            probs = torch.softmax(outputs, -1)
            for c in range(task.output_size):
                ax_out.plot(
                    t, probs[:, c], lw=1.4, color=out_colors[c], label=f"p({task.output_names[c]})"
                )
                ax_out.plot(
                    t, (batch.targets[i, :T] == c).float(), ls="--", lw=0.9, color=out_colors[c]
                )
            ax_out.set_ylim(-0.05, 1.05)
        else:
            for c in range(task.output_size):
                ax_out.plot(
                    t, outputs[:, c], lw=1.4, color=out_colors[c], label=task.output_names[c]
                )
                ax_out.plot(t, batch.targets[i, :T, c], ls="--", lw=0.9, color=out_colors[c])
        for r in regions:
            ax_rate.plot(t, model.region_activity(result.rates[i, :T], r).mean(-1), lw=1.1, label=r)
        dec = batch.trials.get("decision_mask")
        if dec is not None and bool(dec[i, :T].any()):
            on = t[dec[i, :T] > 0]
            for ax in (ax_in, ax_out, ax_rate):
                ax.axvspan(float(on[0]) - task.dt, float(on[-1]), color="0.9", zorder=0)
        ax_in.set_title(_trial_title(batch, i), fontsize=9)
        ax_rate.set_xlabel("time (ms)")
        if col == 0:
            ax_in.set_ylabel("inputs")
            ax_out.set_ylabel("outputs (solid)\ntargets (dashed)")
            ax_rate.set_ylabel("mean rate per region")
    for row, ax in enumerate(axes[:, -1]):
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=7,
            frameon=False,
            ncol=2 if row == 2 and len(regions) > 10 else 1,
        )
    return fig


def _channel_colors(names: Any, size: int) -> list[str]:
    """Black for a fixation channel, the colour cycle in order for the others."""
    colors, k = [], 0
    for c in range(size):
        name = names[c] if c < len(names) else ""
        if _is_fixation(name):
            colors.append(_FIX_COLOR)
        else:
            colors.append(f"C{k % 10}")
            k += 1
    return colors
