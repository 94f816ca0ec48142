"""Figures of a training run: the circuit, its connectivity before and after, the learning
curves, example trials and the psychometric curve (matplotlib, imported on use).

These are the figures ``mrnngraph train`` writes; each returns a new
:class:`matplotlib.figure.Figure` (not attached to pyplot, so nothing is shown and
nothing leaks between calls).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = [
    "circuit_figure",
    "connectivity_figure",
    "training_figure",
    "trials_figure",
    "psychometric_figure",
    "accuracy_ceiling",
]

_SCALES = ("block", "symlog", "shared")

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


# --------------------------------------------------------------------------- psychometric
def psychometric_figure(task: Any, batch: Any, outputs: Any) -> Any:
    """Accuracy per coherence on held-out trials, with binomial standard errors and the
    accuracy of an ideal observer of the same stimulus.

    Parameters
    ----------
    task : PerceptualDecisionMaking
        The task (its ``psychometric`` and ``ideal_accuracy``).
    batch : Batch
        Held-out trials.
    outputs : Tensor, shape (B, T, O)
        The model's outputs on ``batch``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes, coherence (%) on a symmetric-log axis.
    """
    from matplotlib.figure import Figure

    curve = task.psychometric(outputs, batch)
    coh = np.array(list(curve))
    acc = np.array([a for a, _ in curve.values()])
    n = np.array([k for _, k in curve.values()])
    se = np.sqrt(acc * (1 - acc) / np.maximum(n, 1))
    fig = Figure(figsize=(5.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    fine = np.concatenate([[0.0], np.geomspace(0.5, 100.0, 200)])
    ax.plot(fine, task.ideal_accuracy(fine), color="0.6", lw=1, label="ideal observer")
    ax.errorbar(coh, acc, yerr=se, fmt="o-", color="C0", ms=5, capsize=2, label="network")
    ax.axhline(0.5, color="0.7", ls=":", lw=1)
    ax.set_xscale("symlog", linthresh=3.2, linscale=0.5)
    ax.set_xticks(coh, [f"{c:g}" for c in coh])
    ax.set_xlim(-0.3, 100)
    ax.set_ylim(0.4, 1.02)
    ax.set_xlabel("coherence (%)")
    ax.set_ylabel("accuracy")
    easy = acc[coh >= 12.8 - 1e-9]
    n_easy = n[coh >= 12.8 - 1e-9]
    pooled = float((easy * n_easy).sum() / max(n_easy.sum(), 1))
    ax.set_title(
        f"{int(n.sum())} held-out trials; coherence >= 12.8%: {100 * pooled:.1f}%", fontsize=9
    )
    ax.legend(frameon=False, loc="lower right")
    ax.grid(alpha=0.3)
    return fig
