"""The training loop: :func:`train` checks its arguments into one :class:`TrainOptions`,
sets the run up (device, process group, readout bias) and hands both to the loop."""

from __future__ import annotations

import inspect
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..tasks import Task
from ._distributed import _Group, join_group
from ._evaluation import _forward, _model_device, _outputs, _region_rates, _seed_of, evaluate
from ._fixation import hold_fixation_readout
from ._health import _Health
from ._history import History, TrainingDiverged, TrainingInterrupted
from ._logging import TensorBoardLog
from ._options import TrainOptions
from ._schedule import LRSchedule

__all__ = ["train", "guarded_backward"]


def train(
    model: nn.Module,
    task: Task,
    *,
    steps: int,
    lr: float = 1e-2,
    batch_size: int = 64,
    losses: Iterable[Callable] | Mapping[str, Callable] | None = None,
    callbacks: Iterable[Callable] = (),
    progress: bool = True,
    clip_grad: float | None = 1.0,
    seed: int | None = None,
    device: torch.device | str | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    eval_every: int | None = None,
    eval_batch_size: int = 512,
    eval_seed: int = 12345,
    checkpoint: str | os.PathLike | None = None,
    graph: Any = None,
    distributed: bool = False,
    health_every: int | None = 10,
    init_readout_bias: bool = True,
    fixation_from_bias: bool = True,
    lr_schedule: str = "cosine",
    log_dir: str | os.PathLike | None = None,
) -> History:
    """Train ``model`` on ``task`` and return the :class:`History`.

    Each step draws a fresh batch from ``task``, runs the model batch-first,
    computes ``task.loss`` (mask-weighted cross-entropy for classification,
    mean squared error for regression) plus every term of ``losses``,
    back-propagates, clips the gradient norm to ``clip_grad`` and takes one
    optimizer step. The model's constraints (Dale's law, masks, frozen
    projections) hold after every step by construction.

    Parameters
    ----------
    model : MultiRegionRNN, Ensemble or nn.Module
        Its forward takes ``(B, T, I)`` (or time-first if ``batch_first=False``) and
        returns the outputs first (an :class:`~mrnngraph.RNNOutput` or a tensor).
        An :class:`~mrnngraph.Ensemble` trains its ``N`` members together on the same
        batches, each as if alone: the loss is the sum of the members' losses (so each
        member's gradient is its own), ``clip_grad`` clips each member's gradient norm
        separately, regularisers are computed per member, and a member whose loss,
        gradient or parameters become non-finite is restored to its last good weights
        and frozen there while the others go on (recorded in ``history.diverged``,
        with a :class:`TrainingWarning`); :class:`TrainingDiverged` is raised only once
        every member has diverged. ``history.member_*`` hold the per-member records.
        With ``distributed=True`` each process trains all ``N`` members on its share
        of the batch; the members' gradients are averaged over the processes before
        each member's clipping, so every process holds the same ensemble.
    task : Task
        See :mod:`mrnngraph.tasks`; its sizes must match the model's.
    steps : int
        Optimizer steps.
    lr : float
        Learning rate of the default Adam optimizer at the first step (``lr_schedule``
        anneals it over the run). 1e-2 (with ``clip_grad=1``) trains
        E/I circuits in hundreds rather than thousands of steps; measured against 1e-3
        and 3e-3 in docs/training.md ("The recipe").
    batch_size : int
        Trials per step (the global batch when distributed: each of the ``W``
        processes draws ``batch_size // W``).
    losses : sequence or mapping of callables, optional
        Regularisers ``term(model, out, batch) -> Tensor``, e.g. :class:`RateL2`,
        :class:`WeightL1`, :class:`WeightL2`.
    callbacks : sequence of callables
        ``cb(step, history, model)`` after each step; a callback returning True
        stops training (see :class:`StopAt`).
    progress : bool
        Show a tqdm progress bar with the loss and accuracy (rank 0 only).
    clip_grad : float or None
        Largest gradient norm; ``None`` turns clipping off.
    seed : int, optional
        Seed of the training batches and of the model's noise (drawn fresh when
        omitted; recorded in ``history.seed``).
    device : optional
        Move the model there first (default: where it is).
    optimizer : torch.optim.Optimizer, optional
        Replaces the default ``Adam(model.parameters(), lr=lr)``.
    eval_every : int, optional
        Also score a fixed held-out batch (``eval_batch_size`` trials drawn with
        ``eval_seed``) every that many steps and at the end, into ``history.evals``.
    checkpoint : path, optional
        Where to save the last good model (:func:`mrnngraph.save_model`) if training
        diverges.
    graph : networkx.DiGraph, optional
        The circuit graph, stored in that checkpoint (rebuilt from the model when omitted).
    distributed : bool
        Data-parallel over processes with DistributedDataParallel (see the module docs).
    health_every : int or None
        Every that many steps, check the step's own batch for silent failures: a
        region whose rates are all zero (or, for tanh/sigmoid/retanh, all saturated)
        over the whole batch; outputs identical for every trial although the inputs
        differ; a training loss that has not moved over the last 100 steps; from
        step 100, for tasks that read an answer per trial, a batch where no trial
        answers or every trial breaks fixation; for tasks with a decision epoch, the
        regions the readout reads silent at every counted decision step (the answer
        is then the readout bias alone). Each is
        recorded in ``history.health``, shown in the progress bar and warned about
        once per kind and region (:class:`TrainingWarning`). ``None`` turns the
        checks off. They reduce tensors the step already holds (no extra forward).
    init_readout_bias : bool
        Classification tasks: if the model's readout bias (``bias_ho``) is still all
        zero, as :meth:`~mrnngraph.MultiRegionRNN.from_graph` makes it, set it first to
        the log of the class frequencies that the loss weighs (256 trials drawn with
        seed 0; centred), the constant output that minimises the loss. A network
        then starts out answering "fixate" where it is silent, which matters where
        the readout is several synapses from the inputs: at the first steps of a
        trial the output *is* the bias, and a bias that learned "choose" breaks
        fixation on every trial (measured in docs/training.md, "The recipe"). A bias
        that is not all zero (a resumed model) is left alone. ``False``: unchanged.
        For an ensemble, each member's bias on its own.
    fixation_from_bias : bool
        Tasks with a "fixate" output (``task.fixation_output``: the built-in epoch
        tasks and neurogym environments that name a ``fixation`` action): read it from
        the readout bias alone. If the readout is fresh (its bias still all zero, as
        for ``init_readout_bias``) or that output's readout weights are zero already,
        ``train()`` sets them to zero and holds their gradient at zero for the run.
        Fixating is then the absence of an answer, and an answer is activity of the
        readout area that lifts a choice above the fixation bias; a network can no
        longer code "answer" as its readout area's silence, which passes no gradient
        (with the Dale-signed readout, ``readout_sign``, this is what trains the
        three-area hierarchy: docs/training.md, "The recipe"). A readout that learned
        fixation weights (a resumed model) is left alone. ``False``: unchanged.
        For an ensemble, each member on its own.
    lr_schedule : {"cosine", "constant"}
        ``"cosine"`` (default) anneals the optimizer's learning rate (every parameter
        group's, from its value at the start of the run; an ``optimizer`` you pass
        too) to nearly zero over ``steps``: ``lr * (1 + cos(pi * (s - 1) / steps)) / 2``
        at step ``s``, and puts it back after the run. Large steps find a solution, the
        small last ones settle it instead of leaving the model wherever the last large
        step did (measured in docs/training.md, "The recipe"). ``"constant"``: as given.
    log_dir : path, optional
        Write TensorBoard scalars there (``torch.utils.tensorboard``; needs the
        ``mrnngraph[tensorboard]`` extra): ``loss``, ``task_loss``, ``accuracy``,
        ``grad_norm``, ``term/<name>`` for each regulariser, ``rate/<region>`` (each
        region's mean rate on the batch), ``eval/<metric>`` when ``eval_every`` is set,
        and for an ensemble the same per member as ``member_<k>/<tag>``. Rank 0 only
        when distributed. :meth:`History.to_csv` writes the same history as CSV.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        When the loss, the gradient or the parameters become NaN or infinite; the
        model is left with the last good parameters.
    TrainingInterrupted
        On ``KeyboardInterrupt`` (Ctrl-C) during training: a ``KeyboardInterrupt``
        that carries the history; the model holds the parameters after the last
        completed step.
    ValueError
        If the task's sizes do not match the model's.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> history = train(model, PerceptualDecisionMaking(), steps=3, batch_size=8,
    ...                 progress=False, seed=0)
    >>> len(history.loss), history.step[-1]
    (3, 3)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a mrnngraph.tasks.Task; got {type(task).__name__}")
    options = TrainOptions.from_arguments(
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        losses=losses,
        callbacks=callbacks,
        progress=progress,
        clip_grad=clip_grad,
        seed=seed,
        device=device,
        optimizer=optimizer,
        eval_every=eval_every,
        eval_batch_size=eval_batch_size,
        eval_seed=eval_seed,
        checkpoint=checkpoint,
        graph=graph,
        distributed=distributed,
        health_every=health_every,
        init_readout_bias=init_readout_bias,
        fixation_from_bias=fixation_from_bias,
        lr_schedule=lr_schedule,
        log_dir=log_dir,
    )
    for what in ("input_size", "output_size"):
        m, t = getattr(model, what, None), getattr(task, what)
        if m is not None and m != t:
            raise ValueError(
                f"the model's {what} is {m} but task {task.name!r} needs {t}; "
                f"build the circuit with {t} {what.split('_')[0]} channels"
            )

    dev = options.device if options.device is not None else _model_device(model)
    from ..ensemble import Ensemble

    group = None
    release = None
    if options.distributed:
        group, dev = join_group(dev)
    try:
        model.to(dev)
        if options.fixation_from_bias:  # before the bias start: it reads a fresh bias
            release = hold_fixation_readout(model, task)
        if isinstance(model, Ensemble):
            from ._ensemble_loop import _init_member_biases, _train_ensemble

            if options.init_readout_bias:
                _init_member_biases(model, task)
            return _train_ensemble(model, task, options, dev, group)
        if options.init_readout_bias:
            _init_readout_bias(model, task)
        return _train_loop(model, task, options, dev, group)
    finally:
        if release is not None:
            release()
        if group is not None:
            group.close()


def _init_readout_bias(model: nn.Module, task: Task, n_trials: int = 256) -> None:
    """Set an untouched (all-zero) readout bias to the centred log class frequencies
    that the loss weighs (see ``train(init_readout_bias=...)``)."""
    bias = getattr(model, "bias_ho", None)
    if (
        task.kind != "classification"
        or not isinstance(bias, torch.Tensor)
        or not bias.requires_grad
        or bias.dim() != 1
        or bias.numel() != task.output_size
        or bool(bias.detach().ne(0).any())
    ):
        return
    prior = _log_prior(task, n_trials)
    if prior is not None:
        with torch.no_grad():
            bias.copy_(prior.to(bias))


def _log_prior(task: Task, n_trials: int = 256) -> torch.Tensor | None:
    """The centred log class frequencies the loss weighs (None when nothing counts)."""
    batch = task.batch(n_trials, seed=0)
    w = batch.mask.to(torch.float64)
    counts = torch.stack([(w * (batch.targets == k)).sum() for k in range(task.output_size)])
    if not float(counts.sum()) > 0:
        return None
    freq = (counts / counts.sum()).clamp(min=1e-4)
    logp = freq.log()
    return logp - logp.mean()


def guarded_backward(
    opt: torch.optim.Optimizer,
    loss: torch.Tensor,
    params: list[torch.Tensor],
    good: list[torch.Tensor],
    clip_grad: float | None,
    fail: Callable[[int, str, float], Exception],
    step: int,
) -> float:
    """Backward and clip one step's gradient; raise ``fail(step, "gradient", norm)`` if it
    is not finite, else copy ``params`` into ``good`` (the last weights known to give a
    finite step) before the optimizer changes them. Returns the norm before clipping.
    Shared by :func:`train` and :func:`mrnngraph.fit`."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = float(
        torch.nn.utils.clip_grad_norm_(params, clip_grad if clip_grad is not None else math.inf)
    )
    if not math.isfinite(norm):
        raise fail(step, "gradient", norm)
    with torch.no_grad():
        for p, g in zip(params, good, strict=True):
            g.copy_(p)
    return norm


def _train_loop(
    model: nn.Module, task: Task, o: TrainOptions, dev: torch.device, group: _Group | None
) -> History:
    """The steps of one :func:`train` run with options ``o`` on ``dev`` (``group``: the
    process group when distributed)."""
    from tqdm.auto import tqdm

    rank, world = (group.rank, group.world_size) if group is not None else (0, 1)
    seed = o.seed
    if seed is None:
        seed = secrets.randbits(63)
        if group is not None:  # every rank must agree on the run's seed
            seed = group.agree_seed(seed, dev)
    history = History(seed=seed)
    local_batch = max(1, o.batch_size // world)
    data_gen = torch.Generator().manual_seed(_seed_of(seed, "batches", rank))
    noise_gen = None
    if getattr(model, "noise_std", 0) or getattr(model, "input_noise_std", 0):
        noise_gen = torch.Generator(device=dev).manual_seed(_seed_of(seed, "noise", rank))

    module: nn.Module = model
    if group is not None:
        from torch.nn.parallel import DistributedDataParallel

        # Masks, signs and frozen values are buffers that never change: DDP copies rank 0's
        # once at construction; syncing them before every forward would only cost time.
        # (PyTorch >= 2.13 renamed the option; the old name warns there.)
        params_ddp = inspect.signature(DistributedDataParallel).parameters
        no_sync = (
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in params_ddp
            else {"broadcast_buffers": False}
        )
        module = DistributedDataParallel(
            model, device_ids=[dev] if dev.type == "cuda" else None, **no_sync
        )
    opt = o.optimizer if o.optimizer is not None else torch.optim.Adam(model.parameters(), lr=o.lr)
    schedule = LRSchedule(opt, o.lr_schedule, o.steps)
    params = [p for p in model.parameters() if p.requires_grad]
    good = [p.detach().clone() for p in params]
    good_step = 0

    def fail(step: int, what: str, value: float) -> TrainingDiverged:
        with torch.no_grad():
            for p, g in zip(params, good, strict=True):
                p.copy_(g)
        path = None
        if o.checkpoint is not None and rank == 0:
            from ..checkpoint import save_model

            save_model(
                model,
                o.checkpoint,
                graph=o.graph,
                metadata={"diverged_at_step": step, "last_good_step": good_step},
            )
            path = os.fspath(o.checkpoint)
        return TrainingDiverged(step, what, value, good_step, history, path)

    health = _Health(model, history, o.health_every, warn=rank == 0, task=task)
    log = TensorBoardLog(o.log_dir) if o.log_dir is not None and rank == 0 else None
    in_update = False
    bar = tqdm(
        total=o.steps,
        desc=f"train {task.name}",
        unit="step",
        disable=not o.progress or rank != 0,
        dynamic_ncols=True,
        leave=True,
    )
    start = time.perf_counter()
    try:
        for step in range(1, o.steps + 1):
            schedule.set(step)
            batch = task.batch(local_batch, generator=data_gen, device=dev)
            out = _forward(module, model, batch.inputs, noise_gen)
            y = _outputs(out)
            task_loss = task.loss(y, batch)
            term_values = [(name, term(model, out, batch)) for name, term in o.terms]
            loss = task_loss + sum((v for _, v in term_values), torch.zeros((), device=dev))
            with torch.no_grad():
                acc = task.accuracy(y, batch)
                stats = torch.tensor(
                    [
                        float(loss),
                        float(task_loss),
                        acc if math.isfinite(acc) else 0.0,
                        1.0 if math.isfinite(acc) else 0.0,
                        *(float(v) for _, v in term_values),
                    ],
                    dtype=torch.float64,
                )
                if group is not None:
                    # One small all-reduce before backward: every rank must agree on
                    # stopping, or the others would wait forever in DDP's gradient sync.
                    stats = group.mean(stats.to(dev if dev.type == "cuda" else "cpu")).cpu()
            loss_value = float(stats[0])
            if not math.isfinite(loss_value):
                raise fail(step, "loss", loss_value)
            norm = guarded_backward(opt, loss, params, good, o.clip_grad, fail, step)
            good_step = step
            # From here until the update is done an interrupt undoes this step (its
            # record and its partial update): the model then matches the history.
            in_update = True
            history.step.append(step)
            history.loss.append(loss_value)
            history.task_loss.append(float(stats[1]))
            history.accuracy.append(float(stats[2] / stats[3]) if stats[3] > 0 else math.nan)
            history.grad_norm.append(norm)
            for k, (name, _) in enumerate(o.terms):
                history.terms.setdefault(name, []).append(float(stats[4 + k]))
            for name, value in _region_rates(model, getattr(out, "rates", None)).items():
                history.rates.setdefault(name, []).append(value)
            opt.step()
            in_update = False
            if log is not None:
                log.step(history)
            if o.eval_every is not None and (step % o.eval_every == 0 or step == o.steps):
                history.evals.append(
                    {
                        "step": step,
                        **evaluate(
                            model, task, batch_size=o.eval_batch_size, seed=o.eval_seed, device=dev
                        ),
                    }
                )
                if log is not None:
                    log.evaluation(history.evals[-1])
            if health.due(step):
                health.check(step, out, y, batch)
            bar.update(1)
            if rank == 0 and o.progress:
                post = {"loss": f"{loss_value:.4f}", "acc": f"{history.accuracy[-1]:.3f}"}
                if health.postfix():
                    post["health"] = health.postfix()
                bar.set_postfix(post, refresh=False)
            if any(bool(cb(step, history, model)) for cb in o.callbacks):
                history.stopped_early = step < o.steps
                break
        with torch.no_grad():
            if not all(bool(torch.isfinite(p).all()) for p in params):
                raise fail(good_step, "parameters", math.nan)
        if o.eval_every is not None and history.stopped_early:
            history.evals.append(
                {
                    "step": history.step[-1],
                    **evaluate(
                        model, task, batch_size=o.eval_batch_size, seed=o.eval_seed, device=dev
                    ),
                }
            )
            if log is not None:
                log.evaluation(history.evals[-1])
    except KeyboardInterrupt:
        if in_update:  # cut short inside the update: back to the last completed step
            with torch.no_grad():
                for p, g in zip(params, good, strict=True):
                    p.copy_(g)
            history._truncate(good_step - 1)
        history.interrupted = True
        raise TrainingInterrupted(history.step[-1] if history.step else 0, history) from None
    finally:
        schedule.restore()
        bar.close()
        history.seconds = time.perf_counter() - start
        if log is not None:
            log.close()
    return history
