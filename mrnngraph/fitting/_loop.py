"""The fit loop (:func:`fit`) and what it records (:class:`FitHistory`)."""

from __future__ import annotations

import copy
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from .._params import COUNT, NON_NEGATIVE, POSITIVE, SEED, STEPS, InstanceOf, Optional, check
from ..recording import Recording
from ..schema import Boolean, Options
from ..training import History, TrainingDiverged, _seed_of, _terms, guarded_backward
from ._evaluation import _check_model, _observed_index, _prepare, _run, _tensors, pvar
from ._observation import _TARGET_RANGE, Observation

__all__ = ["fit", "FitHistory"]

_RECORDING = InstanceOf((Recording,), "a mrnngraph.Recording")
_LOSSES = Options(("gaussian", "poisson"))
_OPTIMIZER = Optional(InstanceOf((torch.optim.Optimizer,), "a torch.optim.Optimizer"))


@dataclass
class FitHistory(History):
    """What :func:`fit` recorded: :class:`~mrnngraph.History` plus the fit's own fields.

    ``loss`` is the total per step, ``task_loss`` the data term; ``evals`` holds
    ``{"step": k, "pvar": {...}}`` on the validation recording. ``best_step`` is the
    step whose weights the model holds after early stopping (else the last).
    """

    observation: Observation | None = None
    best_step: int | None = None
    steps_per_bin: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            best_step=self.best_step,
            steps_per_bin=self.steps_per_bin,
            observation=None if self.observation is None else self.observation.to_dict(),
        )
        return d


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
) -> FitHistory:
    """Fit ``model`` to ``recording`` so that its free run reproduces the data trial by trial.

    Each step draws ``batch_size`` training trials (every trial once per pass, in a
    seeded order), runs the model from each trial's first bin with the trial's inputs,
    and takes one optimizer step (Adam by default) on the data loss (see the module
    docs for the observation, initial states and losses) plus ``losses``.

    Parameters
    ----------
    model : MultiRegionRNN
        Its recurrent regions are named as the recording's regions (or a superset),
        each at least as large as its recorded population.
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

    Returns
    -------
    FitHistory
        Also sets ``model.observation`` (see the module docs) and, with ``learn_x0``,
        the latent units' entries of ``model.x0``.

    Raises
    ------
    GraphError
        When the recording does not fit the circuit (:meth:`Recording.check_against`).
    TrainingDiverged
        When the loss or the gradient becomes NaN or infinite; the model then holds the
        last weights that gave a finite loss and gradient.

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
    from tqdm.auto import tqdm

    _check_model(model)
    recording = check("recording", recording, _RECORDING)
    steps = check("steps", steps, COUNT)
    lr = check("lr", lr, POSITIVE)
    batch_size = check("batch_size", batch_size, STEPS)
    seed = check("seed", seed, Optional(SEED))
    loss = check("loss", loss, _LOSSES)
    learn_observation = check("learn_observation", learn_observation, Boolean())
    learn_x0 = check("learn_x0", learn_x0, Boolean())
    output_weight = check("output_weight", output_weight, NON_NEGATIVE)
    clip_grad = check("clip_grad", clip_grad, Optional(POSITIVE))
    forcing = check("forcing", forcing, Optional(STEPS))
    validation = check("validation", validation, Optional(_RECORDING))
    eval_every = check("eval_every", eval_every, Optional(STEPS))
    early_stopping = check("early_stopping", early_stopping, Optional(STEPS))
    progress = check("progress", progress, Boolean())
    optimizer = check("optimizer", optimizer, _OPTIMIZER)
    if model.activation not in _TARGET_RANGE:
        raise ValueError(
            f"cannot fit a model with activation {model.activation!r}; "
            f"use one of {', '.join(_TARGET_RANGE)}"
        )
    k = _prepare(model, recording)
    if loss == "poisson":
        neg = [r for r, v in recording.rates.items() if (v < 0).any()]
        if neg:
            raise ValueError(
                f"loss='poisson' needs counts >= 0; regions {neg} have negative values"
            )
    if validation is not None:
        _prepare(model, validation, "validation")
        if validation.n_neurons != recording.n_neurons:
            raise ValueError(
                f"validation has neurons {validation.n_neurons} but the "
                f"training recording has {recording.n_neurons}"
            )
        if eval_every is None:
            eval_every = max(1, steps // 20)
    if early_stopping is not None and validation is None:
        raise ValueError("early_stopping needs a validation recording")
    terms = _terms(losses)
    # Terms with a proximal map (PathwaySparsity) are applied after each step, not
    # differentiated; their value is still recorded.
    proximal = [t for _, t in terms if callable(getattr(t, "can_prox", None)) and t.can_prox(model)]
    callbacks = list(callbacks)
    if seed is None:
        seed = secrets.randbits(63)

    dev, dtype = model.alpha.device, model.alpha.dtype
    rates, u_all = _tensors(recording, model)
    obs = Observation.initial(recording, model.activation, loss)
    for d in (obs.scale, obs.offset, obs.weight):
        for r in d:
            d[r] = d[r].to(device=dev, dtype=dtype)
    obs_idx = _observed_index(model, recording).to(dev)
    latent = torch.ones(model.hidden_size, dtype=torch.bool, device=dev)
    latent[obs_idx] = False
    latent_x0 = model.x0.detach().clone()
    extra: list[torch.Tensor] = []
    if learn_x0 and bool(latent.any()):
        latent_x0.requires_grad_(True)
        extra.append(latent_x0)
    if learn_observation:
        for d in (obs.scale, obs.offset):
            for r in d:
                d[r].requires_grad_(True)
                extra.append(d[r])
    if optimizer is None:
        opt = torch.optim.Adam([*model.parameters(), *extra], lr=lr)
    else:
        opt, extra = optimizer, []
        for t in (latent_x0, *obs.scale.values(), *obs.offset.values()):
            t.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad] + extra
    good = [p.detach().clone() for p in params]
    good_step = 0
    history = FitHistory(seed=seed, observation=obs, steps_per_bin=k)
    n = recording.n_trials
    bs = min(batch_size, n)
    order_gen = torch.Generator().manual_seed(_seed_of(seed, "fit-trials"))
    noise_gen = None
    if getattr(model, "noise_std", 0) or getattr(model, "input_noise_std", 0):
        noise_gen = torch.Generator(device=dev).manual_seed(_seed_of(seed, "fit-noise"))
    has_out = recording.outputs is not None and model.output_size > 0 and output_weight > 0
    y_out = torch.as_tensor(recording.outputs, device=dev, dtype=dtype) if has_out else None
    perm = torch.randperm(n, generator=order_gen)
    pos = 0
    best = (-math.inf, None, 0)
    since_best = 0

    def x0_full() -> torch.Tensor:
        return torch.where(latent, latent_x0, model.x0.detach())

    def snapshot() -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        return (copy.deepcopy(model.state_dict()), [p.detach().clone() for p in extra])

    def restore(state: tuple[dict[str, torch.Tensor], list[torch.Tensor]]) -> None:
        model.load_state_dict(state[0])
        with torch.no_grad():
            for p, v in zip(extra, state[1], strict=True):
                p.copy_(v)

    def finish() -> None:
        final = Observation(
            {r: v.detach().clone() for r, v in obs.scale.items()},
            {r: v.detach().clone() for r, v in obs.offset.items()},
            loss,
            model.activation,
            {r: v.detach().clone() for r, v in obs.weight.items()},
        )
        history.observation = final
        model.observation = final
        with torch.no_grad():
            model.x0.copy_(x0_full())

    def evaluate(step: int) -> float:
        finish()
        score = pvar(model, validation)
        history.evals.append({"step": step, "pvar": score})
        return score["all"]

    def fail(step: int, what: str, value: float) -> TrainingDiverged:
        with torch.no_grad():
            for p, g in zip(params, good, strict=True):
                p.copy_(g)
        finish()
        return TrainingDiverged(step, what, value, good_step, history)

    def forward(idx: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor]:
        sub = {r: v[idx] for r, v in rates.items()}
        u = u_all[idx]
        kwargs = {} if noise_gen is None else {"generator": noise_gen}
        out, _, u_steps, pred = _run(_Bound(model, kwargs), obs, sub, u, x0_full(), k, forcing)
        terms_sum = torch.zeros((), device=dev, dtype=dtype)
        data = torch.zeros((), device=dev, dtype=dtype)
        count = 0
        for r, p in pred.items():
            y = sub[r][:, 1:]
            if loss == "poisson":
                data = data + F.poisson_nll_loss(
                    p, y, log_input=False, full=False, reduction="sum", eps=1e-6
                )
            else:
                data = data + ((p - y).pow(2) * obs.weight[r]).sum()
            count += y.numel()
        data = data / count
        if has_out:
            data = (
                data
                + output_weight * (out.outputs[:, k - 1 :: k] - y_out[idx][:, 1:]).pow(2).mean()
            )
        batch = SimpleNamespace(
            inputs=u_steps, mask=torch.ones(u_steps.shape[:2], device=dev), targets=None
        )
        values = []
        for name, term in terms:
            if any(term is t for t in proximal):
                with torch.no_grad():
                    values.append((name, term(model, out, batch)))
            else:
                v = term(model, out, batch)
                values.append((name, v))
                terms_sum = terms_sum + v
        return data, terms_sum, values

    bar = tqdm(
        total=steps, desc="fit", unit="step", disable=not progress, dynamic_ncols=True, leave=True
    )
    start = time.perf_counter()
    try:
        for step in range(1, steps + 1):
            if pos + bs > n:
                perm, pos = torch.randperm(n, generator=order_gen), 0
            idx = perm[pos : pos + bs].to(dev)
            pos += bs
            data, reg, values = forward(idx)
            total = data + reg
            value = float(total.detach()) + sum(
                float(v) for (_, t), (_, v) in zip(terms, values, strict=True) if t in proximal
            )
            if not math.isfinite(value):
                raise fail(step, "loss", value)
            norm = guarded_backward(opt, total, params, good, clip_grad, fail, step)
            good_step = step
            opt.step()
            for term in proximal:
                term.prox(model, opt)
            history.step.append(step)
            history.loss.append(value)
            history.task_loss.append(float(data.detach()))
            history.grad_norm.append(norm)
            for name, v in values:
                history.terms.setdefault(name, []).append(float(v.detach()))
            bar.update(1)
            if progress:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            stop = False
            if (
                validation is not None
                and eval_every is not None
                and (step % eval_every == 0 or step == steps)
            ):
                score = evaluate(step)
                if score > best[0]:
                    best, since_best = (score, snapshot(), step), 0
                else:
                    since_best += 1
                    stop = early_stopping is not None and since_best >= early_stopping
            if any(bool(cb(step, history, model)) for cb in callbacks) or stop:
                history.stopped_early = step < steps
                break
        with torch.no_grad():
            if not all(bool(torch.isfinite(p).all()) for p in params):
                raise fail(good_step, "parameters", math.nan)
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    if early_stopping is not None and best[1] is not None:
        restore(best[1])
        history.best_step = best[2]
    else:
        history.best_step = history.step[-1] if history.step else None
    finish()
    return history


class _Bound:
    """The model called with fixed keyword arguments (the noise generator)."""

    def __init__(self, model: nn.Module, kwargs: dict[str, Any]):
        self.model, self.kwargs = model, kwargs
        self.layout, self.batch_first = model.layout, getattr(model, "batch_first", True)

    def __call__(self, u: torch.Tensor, x0: torch.Tensor) -> Any:
        return self.model(u, x0, **self.kwargs)
