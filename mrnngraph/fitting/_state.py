"""The pieces of a fit that the loop of a model and the loop of an ensemble share: the
checked options (:class:`_FitOptions`), the trials, observation and learned initial
state (:class:`_FitState`) and early stopping's memory (:class:`_Best`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..recording import Recording
from ..training import _seed_of
from ._evaluation import _observed_index, _run, _tensors
from ._observation import Observation, _copy_observation, _StackedObservation

__all__: list[str] = []


@dataclass
class _FitOptions:
    """:func:`fit`'s checked arguments, and what follows from them."""

    steps: int
    lr: float
    batch_size: int
    seed: int | None
    loss: str
    learn_observation: bool
    learn_x0: bool
    output_weight: float
    clip_grad: float | None
    forcing: int | None
    validation: Recording | None
    eval_every: int | None
    early_stopping: int | None
    progress: bool
    optimizer: torch.optim.Optimizer | None
    #: the read-outs to start from (one per member), checked copies; None: ``initial``
    observation: list[Observation] | None = None
    steps_per_bin: int = 1
    terms: list[tuple[str, Callable]] = field(default_factory=list)
    proximal: list[Any] = field(default_factory=list)
    callbacks: list[Callable] = field(default_factory=list)

    def evaluates(self, step: int) -> bool:
        """Whether the validation recording is scored after ``step``."""
        return (
            self.validation is not None
            and self.eval_every is not None
            and (step % self.eval_every == 0 or step == self.steps)
        )


class _FitState:
    """What one fit works on, for a model or (``members``: ``N``) an ensemble: the
    training trials as tensors, the order they are drawn in, the observation and the
    latent initial state being learned (stacked per member for an ensemble), the
    optimizer and the parameters it moves."""

    def __init__(self, model: nn.Module, recording: Recording, o: _FitOptions, members: int | None):
        self.model, self.o = model, o
        dev, dtype = model.alpha.device, model.alpha.dtype
        self.dev, self.dtype = dev, dtype
        self.rates, self.u = _tensors(recording, model)
        starts = o.observation
        if starts is None:
            obs = Observation.initial(recording, model.activation, o.loss)
            for d in (obs.scale, obs.offset, obs.weight):
                for r in d:
                    d[r] = d[r].to(device=dev, dtype=dtype)
            starts = [obs] * (members or 1)
        self.obs = starts[0] if members is None else _StackedObservation.stack(starts)
        self.latent = torch.ones(model.hidden_size, dtype=torch.bool, device=dev)
        self.latent[_observed_index(model, recording).to(dev)] = False
        self.latent_x0 = model.x0.detach().clone()
        extra: list[torch.Tensor] = []
        if o.learn_x0 and bool(self.latent.any()):
            extra.append(self.latent_x0.requires_grad_(True))
        if o.learn_observation:
            for d in (self.obs.scale, self.obs.offset):
                extra += [t.requires_grad_(True) for t in d.values()]
        if o.optimizer is None:
            self.opt = torch.optim.Adam([*model.parameters(), *extra], lr=o.lr)
        else:
            self.opt, extra = o.optimizer, []
            for t in (self.latent_x0, *self.obs.scale.values(), *self.obs.offset.values()):
                t.requires_grad_(False)
        self.extra = extra
        self.params = [p for p in model.parameters() if p.requires_grad] + extra
        self.n = recording.n_trials
        self.bs = min(o.batch_size, self.n)
        self.order_gen = torch.Generator().manual_seed(_seed_of(o.seed, "fit-trials"))
        self.noise_gen = None
        if getattr(model, "noise_std", 0) or getattr(model, "input_noise_std", 0):
            self.noise_gen = torch.Generator(device=dev).manual_seed(_seed_of(o.seed, "fit-noise"))
        self.has_out = (
            recording.outputs is not None and model.output_size > 0 and o.output_weight > 0
        )
        self.y_out = (
            torch.as_tensor(recording.outputs, device=dev, dtype=dtype) if self.has_out else None
        )
        self.perm = torch.randperm(self.n, generator=self.order_gen)
        self.pos = 0

    def next_trials(self) -> torch.Tensor:
        """The next batch of training trials (every trial once per pass, seeded order)."""
        if self.pos + self.bs > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.order_gen), 0
        idx = self.perm[self.pos : self.pos + self.bs].to(self.dev)
        self.pos += self.bs
        return idx

    def x0_full(self) -> torch.Tensor:
        return torch.where(self.latent, self.latent_x0, self.model.x0.detach())

    def forward(self, idx: torch.Tensor) -> tuple[Any, torch.Tensor, SimpleNamespace]:
        """Run the trials ``idx``; returns the output, the data loss (one per member for an
        ensemble) and the ``batch`` the regularisers see."""
        o, sub = self.o, {r: v[idx] for r, v in self.rates.items()}
        kwargs = {} if self.noise_gen is None else {"generator": self.noise_gen}
        out, _, u_steps, pred = _run(
            _Bound(self.model, kwargs),
            self.obs,
            sub,
            self.u[idx],
            self.x0_full(),
            o.steps_per_bin,
            o.forcing,
        )
        data, count = 0.0, 0
        for r, p in pred.items():
            y = sub[r][:, 1:]
            if o.loss == "poisson":
                err = F.poisson_nll_loss(
                    p, y.expand_as(p), log_input=False, full=False, reduction="none", eps=1e-6
                )
            else:
                err = (p - y).pow(2) * self.obs.weight[r]
            data = data + err.flatten(-3).sum(-1)
            count += y.numel()
        data = data / count
        if self.has_out:
            k = o.steps_per_bin
            err = (out.outputs[..., k - 1 :: k, :] - self.y_out[idx][:, 1:]).pow(2)
            data = data + o.output_weight * err.flatten(-3).mean(-1)
        batch = SimpleNamespace(
            inputs=u_steps, mask=torch.ones(u_steps.shape[:2], device=self.dev), targets=None
        )
        return out, data, batch

    def terms(self, model: Any, out: Any, batch: Any) -> tuple[torch.Tensor, list, float]:
        """The regularisers of ``model`` (a member's view for an ensemble): the sum to
        differentiate, every term's value, and the proximal terms' values summed (they
        count in the recorded loss but are applied as a step)."""
        total = torch.zeros((), device=self.dev, dtype=self.dtype)
        values, prox = [], 0.0
        for name, term in self.o.terms:
            if any(term is t for t in self.o.proximal):
                with torch.no_grad():
                    v = term(model, out, batch)
                prox += float(v)
            else:
                v = term(model, out, batch)
                total = total + v
            values.append((name, v))
        return total, values, prox


class _Best:
    """Early stopping's memory: the best validation score so far, the state then (from
    ``snapshot()``) and its step, and the evaluations since."""

    def __init__(self) -> None:
        self.score, self.state, self.step, self.since = -math.inf, None, 0, 0

    def update(self, score: float, step: int, snapshot: Callable[[], Any], patience: Any) -> bool:
        """Record ``score`` at ``step``; True when ``patience`` evaluations passed without
        improvement."""
        if score > self.score:
            self.score, self.state, self.step, self.since = score, snapshot(), step, 0
            return False
        self.since += 1
        return patience is not None and self.since >= patience


class _Bound:
    """The model called with fixed keyword arguments (the noise generator)."""

    def __init__(self, model: nn.Module, kwargs: dict[str, Any]):
        self.model, self.kwargs = model, kwargs
        self.layout, self.batch_first = model.layout, getattr(model, "batch_first", True)

    def __call__(self, u: torch.Tensor, x0: torch.Tensor) -> Any:
        return self.model(u, x0, **self.kwargs)


def _start_observations(
    given: Any, model: nn.Module, recording: Recording, loss: str, members: int | None
) -> list[Observation] | None:
    """``fit(observation=...)``: checked copies in the model's dtype and device, one per
    member of an ensemble (one :class:`Observation` is shared), or None (the default
    start, :meth:`Observation.initial`)."""
    if given is None:
        return None
    if members is None or isinstance(given, Observation):
        given = [given] * (members or 1)
    elif not isinstance(given, Sequence) or isinstance(given, str) or len(given) != members:
        raise TypeError(
            f"observation of an ensemble must be an Observation (shared by the members) or "
            f"a sequence of {members}, one per member; got {type(given).__name__}"
            + (f" of length {len(given)}" if isinstance(given, Sequence) else "")
        )
    kw = {"dtype": model.alpha.dtype, "device": model.alpha.device}
    return [_copy_observation(g, recording, model.activation, loss, **kw) for g in given]
