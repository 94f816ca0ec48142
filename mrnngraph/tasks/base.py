"""The base of the tasks: :class:`Batch`, :class:`Task` and the epoch machinery.

A task whose trials are a sequence of epochs (fixation, stimulus, delay, decision)
subclasses :class:`_EpochTask`; durations are in ms, converted to steps of ``dt``
rounded half up.
"""

from __future__ import annotations

import abc
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F

from .._params import NON_NEGATIVE, POSITIVE, STEPS, InstanceOf, Optional, check
from ..schema import Interval

__all__ = ["Batch", "Task", "Duration"]

#: An epoch's duration in ms, or a ``(low, high)`` range drawn uniformly per trial.
Duration = float | tuple[float, float]

_SEED = Optional(Interval(-math.inf, math.inf, integer=True))
_GENERATOR = InstanceOf((torch.Generator,), "a torch.Generator")


# --------------------------------------------------------------------------- batch
@dataclass(frozen=True)
class Batch:
    """One batch of trials; unpacks as ``inputs, targets, mask``.

    Attributes
    ----------
    inputs : Tensor, shape (B, T, I)
    targets : Tensor, shape (B, T) int64 (class indices) or (B, T, O) float
    mask : Tensor, shape (B, T)
        Weight of each step in the loss; 0 = not counted.
    trials : dict of str to Tensor
        Per-trial conditions, each of shape ``(B,)`` (or ``(B, ...)``).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    trials: dict[str, torch.Tensor] = field(default_factory=dict)

    def __iter__(self):
        return iter((self.inputs, self.targets, self.mask))

    def __len__(self) -> int:
        return 3

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[0]

    @property
    def n_steps(self) -> int:
        return self.inputs.shape[1]

    def to(self, device: torch.device | str | None) -> Batch:
        """The same batch on ``device`` (trial conditions included)."""
        if device is None:
            return self
        return replace(
            self,
            inputs=self.inputs.to(device),
            targets=self.targets.to(device),
            mask=self.mask.to(device),
            trials={k: v.to(device) for k, v in self.trials.items()},
        )

    def select(self, index: torch.Tensor | slice | Sequence[int]) -> Batch:
        """A sub-batch of the given trials (rows)."""
        return replace(
            self,
            inputs=self.inputs[index],
            targets=self.targets[index],
            mask=self.mask[index],
            trials={k: v[index] for k, v in self.trials.items()},
        )


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        return check("generator", generator, _GENERATOR)
    seed = check("seed", seed, _SEED)
    if seed is None:
        seed = secrets.randbits(63)
    return torch.Generator().manual_seed(seed)


def _tensor(outputs: Any) -> torch.Tensor:
    """The output tensor of ``outputs``: a tensor, or a model's
    :class:`~mrnngraph.RNNOutput` (anything with an ``outputs`` tensor)."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    inner = getattr(outputs, "outputs", None)
    if isinstance(inner, torch.Tensor):
        return inner
    raise TypeError(
        f"outputs must be a tensor (B, T, O) or a model's RNNOutput; got {type(outputs).__name__}"
    )


# --------------------------------------------------------------------------- base class
class Task(abc.ABC):
    """Base class of the tasks: sizes, loss, accuracy and the trivially correct policy.

    Subclasses set ``name``, ``dt``, ``input_size``, ``output_size``, ``kind``,
    ``input_names``, ``output_names`` and implement :meth:`_generate` and
    :meth:`correct` (classification) or :meth:`accuracy` (regression).
    A classification task whose fixation input is on exactly until the go cue sets
    ``fixation_output`` to the index of its "fixate" output (the answer "no answer
    yet"); :func:`mrnngraph.train` then reads that output from the readout bias
    alone (``train(fixation_from_bias=...)``).
    """

    name: str = "task"
    kind: Literal["classification", "regression"] = "classification"
    dt: float = 20.0
    input_size: int = 0
    output_size: int = 0
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    #: Index of the "fixate" output (no answer yet) where the fixation input marks the go
    #: cue, or None.
    fixation_output: int | None = None

    # ---- generation
    def batch(
        self,
        batch_size: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Batch:
        """Draw ``batch_size`` independent trials.

        Parameters
        ----------
        batch_size : int
        seed : int, optional
            Seed of this batch (the same seed gives the same batch).
        generator : torch.Generator, optional
            Draw from this generator instead (it advances); overrides ``seed``.
        device : optional
            Where to put the tensors (they are drawn on the CPU).

        Returns
        -------
        Batch
        """
        g = _generator(seed, generator)
        return self._generate(check("batch_size", batch_size, STEPS), g).to(device)

    @abc.abstractmethod
    def _generate(self, batch_size: int, g: torch.Generator) -> Batch:
        """Draw one batch of ``batch_size`` trials from generator ``g``."""

    # ---- scoring
    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mask-weighted cross-entropy (classification) or mean squared error (regression).

        ``outputs`` are ``(B, T, O)`` (logits for classification), or the model's
        :class:`~mrnngraph.RNNOutput`.
        """
        outputs = _tensor(outputs)
        w = batch.mask.to(outputs.dtype)
        total = w.sum().clamp(min=torch.finfo(outputs.dtype).tiny)
        if self.kind == "classification":
            per_step = F.cross_entropy(
                outputs.flatten(0, 1), batch.targets.flatten(), reduction="none"
            ).view_as(w)
        else:
            per_step = (outputs - batch.targets.to(outputs.dtype)).pow(2).mean(-1)
        return (per_step * w).sum() / total

    @abc.abstractmethod
    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``(B,)`` bool: whether each trial was answered correctly."""

    def accuracy(self, outputs: torch.Tensor, batch: Batch) -> float:
        """Fraction of trials answered correctly (see :meth:`correct`); ``outputs`` may
        be a tensor or the model's :class:`~mrnngraph.RNNOutput`."""
        ok = self.correct(_tensor(outputs), batch)
        return float(ok.float().mean()) if ok.numel() else math.nan

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, Any]:
        """``loss`` and ``accuracy`` (plus task-specific figures) as plain Python numbers;
        ``outputs`` may be a tensor or the model's :class:`~mrnngraph.RNNOutput`."""
        outputs = _tensor(outputs)
        with torch.no_grad():
            return {
                "loss": float(self.loss(outputs, batch)),
                "accuracy": self.accuracy(outputs, batch),
                "n_trials": batch.batch_size,
            }

    #: Whether :meth:`psychometric` is defined (the task has a stimulus strength).
    has_psychometric: bool = False

    def psychometric(self, outputs: torch.Tensor, batch: Batch) -> Any:
        """Choices against stimulus strength, with a fitted psychometric function; defined
        for tasks with a stimulus strength (see :attr:`has_psychometric`).

        Raises
        ------
        TypeError
            Always, here: this task has no stimulus strength.
        """
        from .registry import TASKS

        having = ", ".join(n for n, cls in TASKS.items() if cls.has_psychometric)
        raise TypeError(
            f"task {self.name!r} has no stimulus strength, so no psychometric curve; "
            f"tasks with one: {having}"
        )

    def optimal_outputs(self, batch: Batch) -> torch.Tensor:
        """Outputs of a policy that answers every trial correctly, ``(B, T, O)``.

        Classification: large logits on the target class; regression: the targets.
        """
        if self.kind == "classification":
            return F.one_hot(batch.targets, self.output_size).float() * 20.0
        return batch.targets.float().clone()

    # ---- description
    @property
    def timing(self) -> dict[str, Duration]:
        """Epoch name -> duration (ms) or ``(low, high)`` range, in trial order."""
        return {}

    def __repr__(self) -> str:
        parts = [f"dt={self.dt:g}"] + [f"{k}={_fmt(v)}" for k, v in self.timing.items()]
        return f"{type(self).__name__}({', '.join(parts)})"


def _fmt(v: Duration) -> str:
    return f"{v:g}" if not isinstance(v, tuple) else f"({v[0]:g}, {v[1]:g})"


# --------------------------------------------------------------------------- epochs
def _steps(ms: float, dt: float) -> int:
    # Half up, not Python's half-to-even: 750 ms at dt = 20 is 38 steps, as is 770 ms.
    return int(math.floor(ms / dt + 0.5))


def _check_duration(name: str, value: Any, dt: float, *, minimum: int) -> Duration:
    """A duration in ms (or a ``(low, high)`` range) lasting at least ``minimum`` steps."""
    if isinstance(value, tuple | list) and len(value) == 2:
        lo, hi = (check(f"{name}[{k}]", v, NON_NEGATIVE) for k, v in enumerate(value))
        if lo > hi:
            raise ValueError(
                f"{name} must be a (low, high) range with 0 <= low <= high; got {value!r}"
            )
        if _steps(lo, dt) < minimum:
            raise ValueError(
                f"{name} must last at least {minimum} step(s) of dt={dt:g} ms; got {value!r}"
            )
        return (lo, hi)
    if isinstance(value, str) or not isinstance(value, int | float):
        # Neither a number nor a range: say both are possible.
        raise TypeError(
            f"{name} must be a duration in ms or a (low, high) range; got {type(value).__name__}"
        )
    ms = check(name, value, NON_NEGATIVE)
    if _steps(ms, dt) < minimum:
        raise ValueError(
            f"{name} must be a duration >= {minimum * dt:g} ms (dt={dt:g}); got {value!r}"
        )
    return ms


def _check_dt(dt: Any) -> float:
    return check("dt", dt, POSITIVE)


class _EpochTask(Task):
    """A task whose trials are a sequence of epochs, each drawn per trial (output 0 is
    "fixate" until the go cue)."""

    fixation_output: int | None = 0

    _epochs: dict[str, Duration]

    def _set_trial(
        self, sigma: float, decision_weight: float, grace: float, **epochs: Duration
    ) -> None:
        """Check and set the noise, the decision weight, the grace period and the epochs
        (min. 1 step for the stimulus and the decision)."""
        self.sigma = check("sigma", sigma, NON_NEGATIVE)
        self.decision_weight = check("decision_weight", decision_weight, POSITIVE)
        self.grace = check("grace", grace, NON_NEGATIVE)
        self._epochs = {
            name: _check_duration(
                name, value, self.dt, minimum=1 if name in ("stimulus", "decision") else 0
            )
            for name, value in epochs.items()
        }

    @property
    def timing(self) -> dict[str, Duration]:
        return dict(self._epochs)

    @property
    def n_steps(self) -> int:
        """Steps per batch: the longest possible trial."""
        return sum(
            _steps(v[1] if isinstance(v, tuple) else v, self.dt) for v in self._epochs.values()
        )

    def _epoch_bounds(self, batch_size: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        """Per-trial start step of each epoch, plus ``"end"`` (``(B,)`` int64 each)."""
        bounds: dict[str, torch.Tensor] = {}
        start = torch.zeros(batch_size, dtype=torch.long)
        for name, v in self._epochs.items():
            bounds[name] = start
            if isinstance(v, tuple):
                lo, hi = _steps(v[0], self.dt), _steps(v[1], self.dt)
                n = torch.randint(lo, hi + 1, (batch_size,), generator=g)
            else:
                n = torch.full((batch_size,), _steps(v, self.dt), dtype=torch.long)
            start = start + n
        bounds["end"] = start
        return bounds

    def _loss_mask(
        self,
        t: torch.Tensor,
        bounds: dict[str, torch.Tensor],
        in_trial: torch.Tensor,
        in_dec: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, T)`` loss weights: 1 in the trial, ``decision_weight`` in the decision
        epoch, 0 on its first ``grace`` ms but never on its last step (and 0 after the
        trial)."""
        mask = in_trial.float() + (self.decision_weight - 1.0) * in_dec.float()
        n_grace = _steps(self.grace, self.dt) if self.grace > 0 else 0
        if n_grace:
            start = bounds["decision"]
            n = (bounds["end"] - start - 1).clamp(min=0, max=n_grace)
            mask = mask.masked_fill(self._within(t, start, start + n), 0.0)
        return mask

    @staticmethod
    def _within(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (t[None, :] >= a[:, None]) & (t[None, :] < b[:, None])

    def _next(self, bounds: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        keys = list(bounds)
        return bounds[keys[keys.index(name) + 1]]

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Answer = argmax of the outputs averaged over the decision epoch (0 = fixate counts
        as wrong); correct when it equals the trial's ``choice`` **and** the trial did not
        break fixation (no output other than "fixate" won at a counted step before the
        go cue: an answer given early is not a correct answer)."""
        outputs = _tensor(outputs)
        return (self._answer(outputs, batch) == batch.trials["choice"]) & ~self._broke(
            outputs, batch
        )

    def _answer(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``(B,)`` int64: argmax of the outputs averaged over the decision epoch."""
        dec = batch.trials["decision_mask"].to(outputs.dtype)
        mean = (outputs * dec[..., None]).sum(1) / dec.sum(1, keepdim=True).clamp(min=1)
        return mean.argmax(-1)

    def answers(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``(B,)`` int64: each trial's answer, as :meth:`correct` reads it -- the argmax of
        the outputs averaged over the decision epoch (0 = still fixating, no answer;
        1, 2 = the choices) -- or -1 where the trial broke fixation (a choice output won
        before the go cue: an aborted trial, whatever it answered later)."""
        outputs = _tensor(outputs)
        return torch.where(self._broke(outputs, batch), -1, self._answer(outputs, batch))

    def _broke(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``(B,)`` bool: a choice output won at some counted step before the decision epoch."""
        before = (batch.trials["decision_mask"] == 0) & (batch.mask > 0)
        return ((outputs.argmax(-1) != 0) & before).any(1)

    def _fixation_breaks(self, outputs: torch.Tensor, batch: Batch) -> float:
        return float(self._broke(_tensor(outputs), batch).float().mean())
