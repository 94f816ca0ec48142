"""The fit loop (:func:`fit`); what it records is :class:`FitHistory` (``_history.py``),
the loop of an ensemble is in ``_ensemble_loop.py``."""

from __future__ import annotations

import copy
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import torch
from torch import nn

from .._params import COUNT, NON_NEGATIVE, POSITIVE, SEED, STEPS, InstanceOf, Optional, check
from ..recording import Recording
from ..schema import Boolean, Options
from ..training import TrainingDiverged, _terms, guarded_backward
from ._evaluation import _check_model, _is_ensemble, _prepare, pvar
from ._history import FitHistory
from ._observation import _TARGET_RANGE
from ._state import _Best, _FitOptions, _FitState, _start_observations

__all__ = ["fit", "FitHistory"]

_RECORDING = InstanceOf((Recording,), "a mrnngraph.Recording")
_LOSSES = Options(("gaussian", "poisson"))
_OPTIMIZER = Optional(InstanceOf((torch.optim.Optimizer,), "a torch.optim.Optimizer"))


def fit(
    model: nn.Module,
    recording: Recording,
    *,
    steps: int,
    lr: float = 1e-2,
    batch_size: int = 16,
    seed: int | None = 0,
    loss: Literal["gaussian", "poisson"] = "gaussian",
    losses: Iterable[Callable] | Mapping[str, Callable] | None = None,
    learn_observation: bool = True,
    learn_x0: bool = True,
    output_weight: float = 1.0,
    clip_grad: float | None = 1.0,
    forcing: int | None = None,
    validation: Recording | None = None,
    eval_every: int | None = None,
    early_stopping: int | None = None,
    callbacks: Iterable[Callable] = (),
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    observation: Any = None,
) -> FitHistory:
    """Fit ``model`` to ``recording`` so that its free run reproduces the data trial by trial.

    Each step draws ``batch_size`` training trials (every trial once per pass, in a
    seeded order), runs the model from each trial's first bin with the trial's inputs,
    and takes one optimizer step (Adam by default) on the data loss (see the module
    docs for the observation, initial states and losses) plus ``losses``.

    Parameters
    ----------
    model : MultiRegionRNN or Ensemble
        Its recurrent regions are named as the recording's regions (or a superset),
        each at least as large as its recorded population. An
        :class:`~mrnngraph.Ensemble` fits every member on the same trial batches, each
        as if fitted alone: see "Ensembles" below.
    recording : Recording
        Training trials. Its ``dt`` must be a whole number of model steps. Its
        ``outputs``, when given, are also fitted by the model's readout (mean squared
        error times ``output_weight``).
    steps : int
        Optimizer steps.
    lr : float
        Learning rate of the default Adam optimizer.
    batch_size : int
        Trials per step (at most the number of training trials).
    seed : int or None
        Seed of the trial order and of the model's noise; None draws one (recorded in
        ``history.seed``).
    loss : {"gaussian", "poisson"}
        Squared error weighted by each neuron's inverse variance, or the Poisson
        negative log-likelihood of spike counts per bin.
    losses : sequence or mapping of callables, optional
        Regularisers of :func:`mrnngraph.train` (:class:`~mrnngraph.training.RateL2`,
        :class:`~mrnngraph.training.WeightL1`, ...), called ``term(model, out, batch)``
        with ``batch.inputs`` and ``batch.mask`` (all steps count).
    learn_observation, learn_x0 : bool
        Learn each neuron's scale and offset, and the latent units' initial state.
    clip_grad : float or None
        Largest gradient norm.
    forcing : int, optional
        Set the observed units back to the data every ``forcing`` bins during
        training (each trial is run as pieces of ``forcing`` bins, each starting from
        the data as bin 0 does; latent units carry on). Shorter pieces keep the
        gradient from growing through a chaotic free run and tie each pathway's weight
        to what its source did in the data (``docs/fitting.md``); None (default)
        trains on the free run of the whole trial. Evaluation (:func:`pvar`,
        ``validation``) always runs free.
    validation : Recording, optional
        Held-out trials scored with :func:`pvar` every ``eval_every`` steps (default:
        every ``max(1, steps // 20)``) and at the end, into ``history.evals``.
    early_stopping : int, optional
        Stop when the validation pVar ("all") has not improved for this many
        evaluations, and keep the best weights (needs ``validation``).
    callbacks : sequence of callables
        ``cb(step, history, model)`` after each step; returning True stops.
    progress : bool
        Show a tqdm progress bar.
    optimizer : torch.optim.Optimizer, optional
        Replaces Adam; it must hold the model's parameters (the observation and
        latent initial state are then not learned).
    observation : Observation, optional
        The read-out to start from (learned from there with ``learn_observation``),
        e.g. the one :func:`regress` refined: ``fit(model, rec, observation=
        model.observation, ...)``. Default: :meth:`Observation.initial` of the
        recording. It must read the recording's neurons, for the model's activation
        and with ``loss``'s link. For an ensemble, one shared by the members or a
        sequence of one per member.

    Returns
    -------
    FitHistory
        Also sets ``model.observation`` (see the module docs) and, with ``learn_x0``,
        the latent units' entries of ``model.x0``.

    Ensembles
    ---------
    With an :class:`~mrnngraph.Ensemble` of ``N`` members, every member sees the same
    trial batches and is fitted as if alone (float64: the weights equal ``N`` separate
    fits to about 1e-12, ``tests/test_fitting_ensemble.py``): its own observation
    (scale and offset), its own latent initial state (row ``k`` of ``ens.x0``), its own
    gradient norm and clipping, its own proximal :class:`PathwaySparsity` step (its
    pathways shrink by their own norms), ``forcing`` alike. A member whose loss,
    gradient or parameters become non-finite is put back to the weights of its last
    good step and frozen there (a :class:`~mrnngraph.training.TrainingWarning`, an entry
    in ``history.diverged``); the others go on, and :class:`TrainingDiverged` is raised
    only when every member diverged. With ``early_stopping`` each member stops on its
    own validation pVar and keeps its own best weights (a stopped member is frozen while
    the others go on; the run ends when none is left). ``ens.observations`` is then the
    tuple of the members' :class:`Observation` (``history.member_observation``), and
    the history keeps per-member losses (``history.member(k)`` is member ``k``'s own
    :class:`FitHistory`). Noise (``noise_std``) is drawn for all members from one
    generator, so with noise the members do not repeat separate fits draw for draw.

    Raises
    ------
    GraphError
        When the recording does not fit the circuit (:meth:`Recording.check_against`).
    TrainingDiverged
        When the loss or the gradient becomes NaN or infinite (for an ensemble: of every
        member); the model then holds the last weights that gave a finite loss and
        gradient.

    Examples
    --------
    >>> import torch, mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, activation="tanh")
    >>> from mrnngraph.recording import activity
    >>> rec = activity(model, torch.randn(8, 20, 3))
    >>> fresh = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=1, activation="tanh")
    >>> history = fit(fresh, rec, steps=5, progress=False)
    >>> len(history.loss), sorted(pvar(fresh, rec))
    (5, ['a1', 'a2', 'all'])
    """
    _check_model(model)
    recording = check("recording", recording, _RECORDING)
    o = _FitOptions(
        steps=check("steps", steps, COUNT),
        lr=check("lr", lr, POSITIVE),
        batch_size=check("batch_size", batch_size, STEPS),
        seed=check("seed", seed, Optional(SEED)),
        loss=check("loss", loss, _LOSSES),
        learn_observation=check("learn_observation", learn_observation, Boolean()),
        learn_x0=check("learn_x0", learn_x0, Boolean()),
        output_weight=check("output_weight", output_weight, NON_NEGATIVE),
        clip_grad=check("clip_grad", clip_grad, Optional(POSITIVE)),
        forcing=check("forcing", forcing, Optional(STEPS)),
        validation=check("validation", validation, Optional(_RECORDING)),
        eval_every=check("eval_every", eval_every, Optional(STEPS)),
        early_stopping=check("early_stopping", early_stopping, Optional(STEPS)),
        progress=check("progress", progress, Boolean()),
        optimizer=check("optimizer", optimizer, _OPTIMIZER),
    )
    if model.activation not in _TARGET_RANGE:
        raise ValueError(
            f"cannot fit a model with activation {model.activation!r}; "
            f"use one of {', '.join(_TARGET_RANGE)}"
        )
    o.steps_per_bin = _prepare(model, recording)
    if o.loss == "poisson":
        neg = [r for r, v in recording.rates.items() if (v < 0).any()]
        if neg:
            raise ValueError(
                f"loss='poisson' needs counts >= 0; regions {neg} have negative values"
            )
    if o.validation is not None:
        _prepare(model, o.validation, "validation")
        if o.validation.n_neurons != recording.n_neurons:
            raise ValueError(
                f"validation has neurons {o.validation.n_neurons} but the "
                f"training recording has {recording.n_neurons}"
            )
        if o.eval_every is None:
            o.eval_every = max(1, o.steps // 20)
    if o.early_stopping is not None and o.validation is None:
        raise ValueError("early_stopping needs a validation recording")
    o.terms = _terms(losses)
    # Terms with a proximal map (PathwaySparsity) are applied after each step, not
    # differentiated; their value is still recorded.
    o.proximal = [
        t for _, t in o.terms if callable(getattr(t, "can_prox", None)) and t.can_prox(model)
    ]
    o.callbacks = list(callbacks)
    if o.seed is None:
        o.seed = secrets.randbits(63)
    o.observation = _start_observations(
        observation, model, recording, o.loss, model.n_members if _is_ensemble(model) else None
    )
    if _is_ensemble(model):
        from ._ensemble_loop import _fit_ensemble

        return _fit_ensemble(model, recording, o)
    return _fit_model(model, recording, o)


def _fit_model(model: nn.Module, recording: Recording, o: _FitOptions) -> FitHistory:
    """The steps of one :func:`fit` run of a model."""
    from tqdm.auto import tqdm

    st = _FitState(model, recording, o, None)
    params, extra, opt = st.params, st.extra, st.opt
    good = [p.detach().clone() for p in params]
    good_step = 0
    history = FitHistory(seed=o.seed, observation=st.obs, steps_per_bin=o.steps_per_bin)
    best = _Best()

    def snapshot() -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        return (copy.deepcopy(model.state_dict()), [p.detach().clone() for p in extra])

    def restore(state: tuple[dict[str, torch.Tensor], list[torch.Tensor]]) -> None:
        model.load_state_dict(state[0])
        with torch.no_grad():
            for p, v in zip(extra, state[1], strict=True):
                p.copy_(v)

    def finish() -> None:
        final = st.obs.detached()
        history.observation = final
        model.observation = final
        with torch.no_grad():
            model.x0.copy_(st.x0_full())

    def fail(step: int, what: str, value: float) -> TrainingDiverged:
        with torch.no_grad():
            for p, g in zip(params, good, strict=True):
                p.copy_(g)
        finish()
        return TrainingDiverged(step, what, value, good_step, history)

    bar = tqdm(total=o.steps, desc="fit", unit="step", disable=not o.progress, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for step in range(1, o.steps + 1):
            out, data, batch = st.forward(st.next_trials())
            reg, values, prox = st.terms(model, out, batch)
            total = data + reg
            value = float(total.detach()) + prox
            if not math.isfinite(value):
                raise fail(step, "loss", value)
            norm = guarded_backward(opt, total, params, good, o.clip_grad, fail, step)
            good_step = step
            opt.step()
            for term in o.proximal:
                term.prox(model, opt)
            history.step.append(step)
            history.loss.append(value)
            history.task_loss.append(float(data.detach()))
            history.grad_norm.append(norm)
            for name, v in values:
                history.terms.setdefault(name, []).append(float(v.detach()))
            bar.update(1)
            if o.progress:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            stop = False
            if o.evaluates(step):
                finish()
                score = pvar(model, o.validation)
                history.evals.append({"step": step, "pvar": score})
                stop = best.update(score["all"], step, snapshot, o.early_stopping)
            if any(bool(cb(step, history, model)) for cb in o.callbacks) or stop:
                history.stopped_early = step < o.steps
                break
        with torch.no_grad():
            if not all(bool(torch.isfinite(p).all()) for p in params):
                raise fail(good_step, "parameters", math.nan)
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    if o.early_stopping is not None and best.state is not None:
        restore(best.state)
        history.best_step = best.step
    else:
        history.best_step = history.step[-1] if history.step else None
    finish()
    return history
