"""Cognitive tasks as seedable batch generators, batch-first, with a correct-answer metric.

Every task draws a :class:`Batch` of trials::

    inputs, targets, mask = task.batch(64, seed=0)

* ``inputs``: ``(B, T, I)`` float, the external input to the circuit's input nodes;
* ``targets``: ``(B, T)`` class indices (classification) or ``(B, T, O)`` floats (regression);
* ``mask``: ``(B, T)`` float, the weight of each time step in the loss; 0 means the
  step does not count (padding, grace periods);
* ``batch.trials``: per-trial conditions (coherence, choice, context, ...), one
  tensor of length ``B`` per key.

Time is in milliseconds; ``dt`` is the step, and every epoch lasts
``duration / dt`` steps, rounded half up. An epoch's duration may be a number or a
``(low, high)`` range drawn uniformly per trial (in whole steps); a batch then
lasts as long as its longest possible trial and shorter trials are padded at
the end with zero input and zero mask.

Classification tasks follow neurogym's convention: output channel 0 is
"fixate" and the target is 0 outside the decision epoch; channels ``1..n`` are
the choices. Unlike ``neurogym.Dataset`` (time first, trials back to back), each
row of a batch here is one trial, batch-first.

Examples
--------
>>> task = PerceptualDecisionMaking()
>>> x, y, m = task.batch(8, seed=0)
>>> x.shape, y.shape, m.shape, task.n_steps
(torch.Size([8, 65, 3]), torch.Size([8, 65]), torch.Size([8, 65]), 65)
>>> task.accuracy(task.optimal_outputs(task.batch(8, seed=0)), task.batch(8, seed=0))
1.0
"""

from __future__ import annotations

import abc
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F

__all__ = [
    "Batch",
    "Task",
    "PerceptualDecisionMaking",
    "ContextDependentIntegration",
    "FlipFlop",
    "NeurogymTask",
    "from_neurogym",
    "get_task",
    "TASKS",
]

Duration = float | tuple[float, float]


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
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator; got {type(generator).__name__}")
        return generator
    if seed is None:
        seed = secrets.randbits(63)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None; got {type(seed).__name__}")
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


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int; got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size!r}")
    return batch_size


# --------------------------------------------------------------------------- base class
class Task(abc.ABC):
    """Base class of the tasks: sizes, loss, accuracy and the trivially correct policy.

    Subclasses set ``name``, ``dt``, ``input_size``, ``output_size``, ``kind``,
    ``input_names``, ``output_names`` and implement :meth:`_generate` and
    :meth:`correct` (classification) or :meth:`accuracy` (regression).
    """

    name: str = "task"
    kind: Literal["classification", "regression"] = "classification"
    dt: float = 20.0
    input_size: int = 0
    output_size: int = 0
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()

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
        return self._generate(_check_batch_size(batch_size), g).to(device)

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
    if isinstance(value, tuple | list) and len(value) == 2:
        lo, hi = (float(v) for v in value)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
            raise ValueError(
                f"{name} must be a (low, high) range with 0 <= low <= high; got {value!r}"
            )
        if _steps(lo, dt) < minimum:
            raise ValueError(
                f"{name} must last at least {minimum} step(s) of dt={dt:g} ms; got {value!r}"
            )
        return (lo, hi)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{name} must be a duration in ms or a (low, high) range; got {type(value).__name__}"
        )
    if not (math.isfinite(value) and value >= 0) or _steps(value, dt) < minimum:
        raise ValueError(
            f"{name} must be a duration >= {minimum * dt:g} ms (dt={dt:g}); got {value!r}"
        )
    return float(value)


def _check_dt(dt: Any) -> float:
    if (
        isinstance(dt, bool)
        or not isinstance(dt, int | float)
        or not (math.isfinite(dt) and dt > 0)
    ):
        raise ValueError(f"dt must be a float > 0 (ms); got {dt!r}")
    return float(dt)


class _EpochTask(Task):
    """A task whose trials are a sequence of epochs, each drawn per trial."""

    _epochs: dict[str, Duration]

    def _set_trial(
        self, sigma: float, decision_weight: float, grace: float, **epochs: Duration
    ) -> None:
        """Check and set the noise, the decision weight, the grace period and the epochs
        (min. 1 step for the stimulus and the decision)."""
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be a float >= 0; got {sigma!r}")
        self.sigma = float(sigma)
        if not (math.isfinite(decision_weight) and decision_weight > 0):
            raise ValueError(f"decision_weight must be a float > 0; got {decision_weight!r}")
        self.decision_weight = float(decision_weight)
        if (
            isinstance(grace, bool)
            or not isinstance(grace, int | float)
            or not (math.isfinite(grace) and grace >= 0)
        ):
            raise ValueError(f"grace must be a duration in ms >= 0; got {grace!r}")
        self.grace = float(grace)
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
        dec = batch.trials["decision_mask"].to(outputs.dtype)
        mean = (outputs * dec[..., None]).sum(1) / dec.sum(1, keepdim=True).clamp(min=1)
        return (mean.argmax(-1) == batch.trials["choice"]) & ~self._broke(outputs, batch)

    def _broke(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``(B,)`` bool: a choice output won at some counted step before the decision epoch."""
        before = (batch.trials["decision_mask"] == 0) & (batch.mask > 0)
        return ((outputs.argmax(-1) != 0) & before).any(1)

    def _fixation_breaks(self, outputs: torch.Tensor, batch: Batch) -> float:
        return float(self._broke(_tensor(outputs), batch).float().mean())


# --------------------------------------------------------------------------- PDM
class PerceptualDecisionMaking(_EpochTask):
    r"""Two-alternative perceptual decision making (random-dot motion), answered after a delay.

    Inputs (3 channels): ``fixation`` (1 until the go cue, i.e. the start of the
    decision epoch), and two evidence channels. During the stimulus, the channel
    of the correct choice carries ``(1 + c)/2`` and the other ``(1 - c)/2`` with
    ``c`` the coherence (as a fraction), each plus independent Gaussian noise of
    standard deviation ``sigma / sqrt(dt)`` per step (neurogym's scaling: the
    evidence an ideal observer accumulates, :math:`c\sqrt{t_{stim}}/(\sqrt{2}\sigma)`
    with :math:`t_{stim}` in ms, does not depend on ``dt``).

    Outputs (3 classes, neurogym's convention): 0 = fixate, 1 = choice 1, 2 = choice 2.
    The target is 0 until the decision epoch and the choice during it.

    Default timing (ms): fixation 100, stimulus 800, delay 200, decision 200;
    with dt = 20 ms a trial is 65 steps. Coherences (%): 0, 3.2, 6.4, 12.8, 25.6,
    51.2, the set of Roitman & Shadlen (2002); at 0 % the correct choice is drawn
    at random, independently of the (pure noise) evidence.

    Parameters
    ----------
    dt : float
        Step (ms).
    coherences : sequence of float
        Coherence levels in percent, drawn uniformly per trial.
    sigma : float
        Noise level (neurogym's ``sigma``; 1 by default, as neurogym).
    fixation, stimulus, delay, decision : float or (float, float)
        Epoch durations (ms) or ranges drawn per trial.
    decision_weight : float
        Weight of decision-epoch steps in the loss mask (other steps weigh 1).
    grace : float
        Grace period (ms): the first ``grace`` ms of the decision epoch weigh 0 in the
        loss (Yang et al. 2019 mask the first 100 ms of the response period), so a
        network whose go cue needs a few steps to reach its readout is not pushed to
        anticipate it (the last decision step always counts). Scoring is unchanged
        (the answer is still the mean over the whole decision epoch, and fixation
        breaks are counted on every step before it). 0 restores the loss without a
        grace period.

    Attributes
    ----------
    trials (in each batch) : ``coherence`` (%, unsigned), ``choice`` (1 or 2),
        ``decision_mask`` ``(B, T)``.

    Examples
    --------
    >>> task = PerceptualDecisionMaking(dt=20)
    >>> b = task.batch(4, seed=1)
    >>> sorted(b.trials)
    ['choice', 'coherence', 'decision_mask']
    >>> int(b.trials["decision_mask"][0].sum())  # 200 ms / 20 ms
    10
    """

    name = "perceptual_decision_making"
    kind = "classification"
    input_size = 3
    output_size = 3
    input_names = ("fixation", "evidence 1", "evidence 2")
    output_names = ("fixate", "choice 1", "choice 2")
    COHERENCES = (0.0, 3.2, 6.4, 12.8, 25.6, 51.2)

    def __init__(
        self,
        *,
        dt: float = 20.0,
        coherences: Sequence[float] = COHERENCES,
        sigma: float = 1.0,
        fixation: Duration = 100.0,
        stimulus: Duration = 800.0,
        delay: Duration = 200.0,
        decision: Duration = 200.0,
        decision_weight: float = 1.0,
        grace: float = 100.0,
    ):
        self.dt = _check_dt(dt)
        cohs = tuple(float(c) for c in coherences)
        if not cohs or any(not (0 <= c <= 100) for c in cohs):
            raise ValueError(
                f"coherences must be a non-empty list of percentages in [0, 100]; "
                f"got {coherences!r}"
            )
        self.coherences = cohs
        self._set_trial(
            sigma,
            decision_weight,
            grace,
            fixation=fixation,
            stimulus=stimulus,
            delay=delay,
            decision=decision,
        )

    def _generate(self, batch_size: int, g: torch.Generator) -> Batch:
        B, T = batch_size, self.n_steps
        ep = self._epoch_bounds(B, g)
        t = torch.arange(T)
        choice = torch.randint(1, 3, (B,), generator=g)
        # float64 keeps the literature's values exact (3.2, not 3.2000000477) in the trials.
        coh = torch.tensor(self.coherences, dtype=torch.float64)[
            torch.randint(len(self.coherences), (B,), generator=g)
        ]
        in_stim = self._within(t, ep["stimulus"], ep["delay"])
        in_dec = self._within(t, ep["decision"], ep["end"])
        in_trial = t[None, :] < ep["end"][:, None]

        x = torch.zeros(B, T, 3)
        x[..., 0] = (t[None, :] < ep["decision"][:, None]).float()
        c = (coh / 100.0).float()
        high = (1 + c) / 2
        low = (1 - c) / 2
        mean1 = torch.where(choice == 1, high, low)
        mean2 = torch.where(choice == 2, high, low)
        noise = torch.randn(B, T, 2, generator=g) * (self.sigma / math.sqrt(self.dt))
        x[..., 1] = (mean1[:, None] + noise[..., 0]) * in_stim
        x[..., 2] = (mean2[:, None] + noise[..., 1]) * in_stim

        y = torch.where(in_dec, choice[:, None], 0)
        mask = self._loss_mask(t, ep, in_trial, in_dec)
        return Batch(
            x, y, mask, {"coherence": coh, "choice": choice, "decision_mask": in_dec.float()}
        )

    def ideal_accuracy(self, coherence: Any) -> Any:
        r"""Accuracy of an ideal observer at the given coherence(s) (%), as a numpy array.

        The observer sums the difference of the two evidence channels over the whole
        stimulus: with ``n`` stimulus steps it is right with probability
        :math:`\Phi(c\sqrt{n\,dt}/(\sqrt{2}\sigma))`, averaged over the possible
        stimulus durations. No network can beat it on average; at 0 % it is 0.5.

        Examples
        --------
        >>> task = PerceptualDecisionMaking()
        >>> [round(float(a), 3) for a in task.ideal_accuracy([0, 6.4, 12.8])]
        [0.5, 0.9, 0.995]
        """
        c = torch.as_tensor(coherence, dtype=torch.float64) / 100.0
        v = self._epochs["stimulus"]
        lo, hi = (
            (_steps(v[0], self.dt), _steps(v[1], self.dt))
            if isinstance(v, tuple)
            else (_steps(v, self.dt),) * 2
        )
        n = torch.arange(lo, hi + 1, dtype=torch.float64)
        if self.sigma == 0:
            acc = torch.where(c > 0, 1.0, 0.5).to(torch.float64)
            return acc.numpy()
        z = c[..., None] * torch.sqrt(n * self.dt) / (math.sqrt(2.0) * self.sigma)
        return torch.special.ndtr(z).mean(-1).numpy()

    def psychometric(self, outputs: torch.Tensor, batch: Batch) -> dict[float, tuple[float, int]]:
        """Accuracy at each coherence: ``{coherence %: (accuracy, n_trials)}``, sorted
        (fixation breaks count as errors, as in :meth:`correct`)."""
        ok = self.correct(outputs, batch)
        coh = batch.trials["coherence"]
        out = {}
        for c in sorted(set(coh.tolist())):
            sel = coh == c
            out[float(c)] = (float(ok[sel].float().mean()), int(sel.sum()))
        return out

    def metrics(
        self, outputs: torch.Tensor, batch: Batch, *, easy_threshold: float = 12.8
    ) -> dict[str, Any]:
        """Adds ``accuracy_by_coherence``, ``accuracy_coherence_ge_<easy_threshold>`` and
        ``fixation_breaks`` (fraction of trials answering before the go cue; these
        trials already count as errors in every accuracy)."""
        outputs = _tensor(outputs)
        out = super().metrics(outputs, batch)
        ok = self.correct(outputs, batch)
        easy = batch.trials["coherence"] >= easy_threshold - 1e-9
        out[f"accuracy_coherence_ge_{easy_threshold:g}"] = (
            float(ok[easy].float().mean()) if bool(easy.any()) else math.nan
        )
        out["accuracy_by_coherence"] = {
            f"{c:g}": {"accuracy": a, "n_trials": n}
            for c, (a, n) in self.psychometric(outputs, batch).items()
        }
        out["fixation_breaks"] = self._fixation_breaks(outputs, batch)
        return out


# --------------------------------------------------------------------------- Mante
class ContextDependentIntegration(_EpochTask):
    r"""Context-dependent integration (Mante, Sussillo, Shenoy & Newsome 2013).

    Two noisy evidence streams (``motion`` and ``color``) are shown together; two
    context channels say which one to report. Each stream carries a signed
    coherence ``c`` (as a fraction) plus Gaussian noise of standard deviation
    ``sigma / sqrt(dt)`` per step; the answer is choice 1 if the *relevant*
    stream's coherence is positive, else choice 2. Both coherences are drawn
    independently, so the irrelevant stream agrees with the answer on only half
    of the trials.

    Inputs (5 channels): ``fixation`` (1 until the go cue), ``motion``, ``color``,
    ``context motion``, ``context color`` (the active context is 1 for the whole
    trial, from fixation on, as the cue preceding the dots in the experiment).
    Outputs (3 classes): 0 = fixate, 1, 2.

    Default timing (ms): fixation 300, stimulus 750 (the dots' duration in the
    experiment; 38 steps at dt = 20 ms), delay 300, decision 200; 78 steps in all. Coherences
    (%): ±5, ±15, ±50 in both streams.

    Parameters
    ----------
    dt, coherences, sigma, fixation, stimulus, delay, decision, decision_weight, grace
        As in :class:`PerceptualDecisionMaking` (coherences unsigned, in (0, 100]).

    Attributes
    ----------
    trials (in each batch) : ``motion_coherence``, ``color_coherence`` (signed %),
        ``context`` (0 motion, 1 color), ``choice`` (1 or 2), ``decision_mask``.

    Examples
    --------
    >>> task = ContextDependentIntegration()
    >>> b = task.batch(6, seed=0)
    >>> b.inputs.shape, task.output_size
    (torch.Size([6, 78, 5]), 3)
    >>> bool((b.inputs[:, :, 3] + b.inputs[:, :, 4] == 1).all())  # one context at a time
    True
    """

    name = "context_dependent_integration"
    kind = "classification"
    input_size = 5
    output_size = 3
    input_names = ("fixation", "motion", "color", "context motion", "context color")
    output_names = ("fixate", "choice 1", "choice 2")
    COHERENCES = (5.0, 15.0, 50.0)

    def __init__(
        self,
        *,
        dt: float = 20.0,
        coherences: Sequence[float] = COHERENCES,
        sigma: float = 1.0,
        fixation: Duration = 300.0,
        stimulus: Duration = 750.0,
        delay: Duration = 300.0,
        decision: Duration = 200.0,
        decision_weight: float = 1.0,
        grace: float = 100.0,
    ):
        self.dt = _check_dt(dt)
        cohs = tuple(float(c) for c in coherences)
        if not cohs or any(not (0 < c <= 100) for c in cohs):
            raise ValueError(
                "coherences must be a non-empty list of percentages in (0, 100] "
                f"(their sign is drawn per trial); got {coherences!r}"
            )
        self.coherences = cohs
        self._set_trial(
            sigma,
            decision_weight,
            grace,
            fixation=fixation,
            stimulus=stimulus,
            delay=delay,
            decision=decision,
        )

    def _signed(self, B: int, g: torch.Generator) -> torch.Tensor:
        mag = torch.tensor(self.coherences, dtype=torch.float64)[
            torch.randint(len(self.coherences), (B,), generator=g)
        ]
        return mag * (torch.randint(0, 2, (B,), generator=g) * 2 - 1)

    def _generate(self, batch_size: int, g: torch.Generator) -> Batch:
        B, T = batch_size, self.n_steps
        ep = self._epoch_bounds(B, g)
        t = torch.arange(T)
        motion, color = self._signed(B, g), self._signed(B, g)
        context = torch.randint(0, 2, (B,), generator=g)
        relevant = torch.where(context == 0, motion, color)
        choice = torch.where(relevant > 0, 1, 2)
        in_stim = self._within(t, ep["stimulus"], ep["delay"]).float()
        in_dec = self._within(t, ep["decision"], ep["end"])
        in_trial = (t[None, :] < ep["end"][:, None]).float()

        x = torch.zeros(B, T, 5)
        x[..., 0] = (t[None, :] < ep["decision"][:, None]).float()
        noise = torch.randn(B, T, 2, generator=g) * (self.sigma / math.sqrt(self.dt))
        x[..., 1] = ((motion[:, None] / 100.0).float() + noise[..., 0]) * in_stim
        x[..., 2] = ((color[:, None] / 100.0).float() + noise[..., 1]) * in_stim
        x[..., 3] = (context == 0).float()[:, None] * in_trial
        x[..., 4] = (context == 1).float()[:, None] * in_trial
        y = torch.where(in_dec, choice[:, None], 0)
        mask = self._loss_mask(t, ep, in_trial, in_dec)
        return Batch(
            x,
            y,
            mask,
            {
                "motion_coherence": motion,
                "color_coherence": color,
                "context": context,
                "choice": choice,
                "decision_mask": in_dec.float(),
            },
        )

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, Any]:
        """Adds accuracy per context and ``fixation_breaks`` (trials answering before the
        go cue; they already count as errors in every accuracy)."""
        outputs = _tensor(outputs)
        out = super().metrics(outputs, batch)
        ok = self.correct(outputs, batch)
        for k, name in enumerate(("motion", "color")):
            sel = batch.trials["context"] == k
            out[f"accuracy_context_{name}"] = (
                float(ok[sel].float().mean()) if bool(sel.any()) else math.nan
            )
        out["fixation_breaks"] = self._fixation_breaks(outputs, batch)
        return out


# --------------------------------------------------------------------------- flip-flop
class FlipFlop(Task):
    """The 3-bit flip-flop (Sussillo & Barak 2013): hold the sign of each channel's last pulse.

    Each of ``n_bits`` input channels receives brief pulses of +1 or -1 (sign drawn
    at random) at random times (a Bernoulli process of ``pulse_rate`` Hz per
    channel); the matching output must hold the sign of that channel's most
    recent pulse, and 0 before its first pulse. A regression task (mean squared
    error over every step).

    Accuracy: the fraction of (trial, step, bit) entries that hold a memory
    (target ±1), at least ``settle`` ms after that bit's last pulse onset, whose
    output has the target's sign.

    Default timing (ms): trials of 2000 (100 steps at dt = 20), pulses of 20,
    2 pulses/s per channel, settle 100.

    Examples
    --------
    >>> task = FlipFlop()
    >>> x, y, m = task.batch(2, seed=3)
    >>> x.shape, y.shape
    (torch.Size([2, 100, 3]), torch.Size([2, 100, 3]))
    >>> bool(((y == 1) | (y == -1) | (y == 0)).all())
    True
    """

    name = "flip_flop"
    kind = "regression"

    def __init__(
        self,
        *,
        dt: float = 20.0,
        n_bits: int = 3,
        duration: float = 2000.0,
        pulse: float = 20.0,
        pulse_rate: float = 2.0,
        settle: float = 100.0,
    ):
        self.dt = _check_dt(dt)
        if isinstance(n_bits, bool) or not isinstance(n_bits, int) or n_bits < 1:
            raise ValueError(f"n_bits must be an int >= 1; got {n_bits!r}")
        self.n_bits = n_bits
        self.input_size = self.output_size = n_bits
        self.input_names = self.output_names = tuple(f"bit {k + 1}" for k in range(n_bits))
        self.duration = float(_check_duration("duration", duration, self.dt, minimum=1))
        self.pulse = float(_check_duration("pulse", pulse, self.dt, minimum=1))
        self.settle = float(_check_duration("settle", settle, self.dt, minimum=0))
        p = pulse_rate * self.dt / 1000.0
        if not (math.isfinite(pulse_rate) and 0 < p <= 1):
            raise ValueError(f"pulse_rate must be in (0, 1000/dt] Hz; got {pulse_rate!r}")
        self.pulse_rate = float(pulse_rate)

    @property
    def n_steps(self) -> int:
        return _steps(self.duration, self.dt)

    @property
    def timing(self) -> dict[str, Duration]:
        return {"duration": self.duration, "pulse": self.pulse, "settle": self.settle}

    def _generate(self, batch_size: int, g: torch.Generator) -> Batch:
        B, T, K = batch_size, self.n_steps, self.n_bits
        p = self.pulse_rate * self.dt / 1000.0
        starts = torch.rand(B, T, K, generator=g) < p
        signs = (torch.randint(0, 2, (B, T, K), generator=g) * 2 - 1).float()
        t = torch.arange(T)[None, :, None].expand(B, T, K)
        last = torch.where(starts, t, torch.full_like(t, -1)).cummax(dim=1).values
        held = torch.gather(signs, 1, last.clamp(min=0))
        held = torch.where(last >= 0, held, torch.zeros_like(held))
        since = t - last
        x = torch.where(
            (last >= 0) & (since < _steps(self.pulse, self.dt)), held, torch.zeros_like(held)
        )
        settled = (last >= 0) & (since >= _steps(self.settle, self.dt))
        return Batch(
            x, held, torch.ones(B, T), {"settled": settled, "n_pulses": starts.sum((1, 2))}
        )

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``(B, T, n_bits)`` bool over the counted entries: output sign equals target sign."""
        outputs = _tensor(outputs)
        return torch.sign(outputs) == torch.sign(batch.targets)

    def accuracy(self, outputs: torch.Tensor, batch: Batch) -> float:
        count = batch.trials["settled"] & (batch.mask[..., None] > 0)
        n = int(count.sum())
        if n == 0:
            return math.nan
        return float((self.correct(outputs, batch) & count).sum()) / n


# --------------------------------------------------------------------------- neurogym
class NeurogymTask(Task):
    """A neurogym-style environment as a :class:`Task` (see :func:`from_neurogym`)."""

    def __init__(
        self,
        env: Any,
        *,
        name: str | None = None,
        tolerance: float = 0.2,
        decision_weight: float = 3.0,
        seq_len: int | str | None = "auto",
    ):
        if (
            seq_len is not None
            and seq_len != "auto"
            and (isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1)
        ):
            raise ValueError(f"seq_len must be an int >= 1, 'auto' or None; got {seq_len!r}")
        if (
            isinstance(decision_weight, bool)
            or not isinstance(decision_weight, int | float)
            or (not (math.isfinite(decision_weight) and decision_weight > 0))
        ):
            raise ValueError(f"decision_weight must be a float > 0; got {decision_weight!r}")
        self.decision_weight = float(decision_weight)
        missing = [
            a for a in ("observation_space", "action_space", "new_trial") if not hasattr(env, a)
        ]
        if missing:
            raise TypeError(
                f"{type(env).__name__} is not a neurogym-style environment: "
                f"it lacks {', '.join(missing)}"
            )
        self.env = env
        self.dt = float(getattr(env, "dt", 100.0))
        self.name = name or _env_name(env)
        obs_shape = tuple(getattr(env.observation_space, "shape", ()) or ())
        if len(obs_shape) != 1:
            raise ValueError(f"the observation space must be 1-D (channels); got shape {obs_shape}")
        self.input_size = int(obs_shape[0])
        n = getattr(env.action_space, "n", None)
        if n is not None:
            self.kind = "classification"
            self.output_size = int(n)
        else:
            act_shape = tuple(getattr(env.action_space, "shape", ()) or ())
            if len(act_shape) != 1:
                raise ValueError(
                    f"the action space must be Discrete(n) or a 1-D Box; got {env.action_space!r}"
                )
            self.kind = "regression"
            self.output_size = int(act_shape[0])
        self.tolerance = float(tolerance)
        self.input_names = tuple(_space_names(env.observation_space, self.input_size, "ob"))
        self.output_names = tuple(_space_names(env.action_space, self.output_size, "action"))
        if seq_len == "auto":
            seq_len = 2 * self._longest_trial()
        #: Steps per row of trials back to back, or None (one trial per row).
        self.seq_len: int | None = seq_len

    def _longest_trial(self, n: int = 8) -> int:
        """The longest of ``n`` trials drawn with the environment seeded 0."""
        self._seed_env(0)
        longest = 0
        for _ in range(n):
            self.env.new_trial()
            longest = max(longest, len(self.env.ob))
        return max(longest, 1)

    def _seed_env(self, seed: int) -> None:
        env = self.env
        if callable(getattr(env, "seed", None)):
            env.seed(seed)
        elif callable(getattr(env, "reset", None)):
            env.reset(seed=seed)

    def _generate(self, batch_size: int, g: torch.Generator) -> Batch:
        import numpy as np

        self._seed_env(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        obs, gts, infos = [], [], []

        def one_trial() -> tuple[Any, Any, Any]:
            trial = self.env.new_trial()
            ob = np.asarray(self.env.ob, dtype=np.float32).reshape(-1, self.input_size)
            gt = np.asarray(self.env.gt)
            if gt.shape[0] != ob.shape[0]:
                raise ValueError(f"env.gt has {gt.shape[0]} steps but env.ob has {ob.shape[0]}")
            return ob, gt, trial

        for _ in range(batch_size):
            ob, gt, trial = one_trial()
            if self.seq_len is not None:  # trials back to back, cut at seq_len
                parts_ob, parts_gt, n = [ob], [gt], ob.shape[0]
                while n < self.seq_len:
                    ob, gt, _ = one_trial()
                    parts_ob.append(ob)
                    parts_gt.append(gt)
                    n += ob.shape[0]
                ob = np.concatenate(parts_ob)[: self.seq_len]
                gt = np.concatenate(parts_gt)[: self.seq_len]
                trial = {}
            obs.append(ob)
            gts.append(gt)
            infos.append(trial if isinstance(trial, Mapping) else {})
        T = max(o.shape[0] for o in obs)
        x = torch.zeros(batch_size, T, self.input_size)
        mask = torch.zeros(batch_size, T)
        if self.kind == "classification":
            y = torch.zeros(batch_size, T, dtype=torch.long)
        else:
            y = torch.zeros(batch_size, T, self.output_size)
        for i, (o, gt) in enumerate(zip(obs, gts, strict=True)):
            n = o.shape[0]
            x[i, :n] = torch.from_numpy(o)
            mask[i, :n] = 1.0
            if self.kind == "classification":
                y[i, :n] = torch.from_numpy(gt.astype(np.int64).reshape(n))
            else:
                y[i, :n] = torch.from_numpy(gt.astype(np.float32).reshape(n, -1))
        if self.kind == "classification" and self.decision_weight != 1.0:
            mask = mask + (self.decision_weight - 1.0) * ((y != 0) & (mask > 0)).float()
        return Batch(x, y, mask, _trial_info(infos))

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Classification: the argmax of the outputs averaged over the steps whose target is
        not 0 (the last step when there is none) equals the trial's final non-zero target,
        and the trial did not break fixation (see :meth:`fixation_breaks`).
        Regression: every counted step within ``tolerance`` of the target on every channel."""
        outputs = _tensor(outputs)
        counted = batch.mask > 0
        if self.kind == "regression":
            close = ((outputs - batch.targets).abs() <= self.tolerance).all(-1) | ~counted
            return close.all(1)
        if self.seq_len is not None:  # rows of several trials: every response step right
            respond = (batch.targets != 0) & counted
            return ((outputs.argmax(-1) == batch.targets) | ~respond).all(1)
        respond = (batch.targets != 0) & counted
        last = counted.long().cumsum(1).argmax(1)  # index of the last counted step
        none = ~respond.any(1)
        respond[none, last[none]] = True
        w = respond.to(outputs.dtype)
        mean = (outputs * w[..., None]).sum(1) / w.sum(1, keepdim=True)
        t = torch.arange(respond.shape[1], device=respond.device)
        final = torch.where(respond, t, -1).argmax(1)
        answer = batch.targets.gather(1, final[:, None]).squeeze(1)
        return (mean.argmax(-1) == answer) & ~self._broke(outputs, batch)

    def accuracy(self, outputs: torch.Tensor, batch: Batch) -> float:
        """With ``seq_len`` (classification): the fraction of response steps (target not 0)
        whose argmax output is the target, as neurogym scores its ``Dataset``. Otherwise
        the fraction of trials answered correctly (see :meth:`correct`)."""
        if self.seq_len is None or self.kind == "regression":
            return super().accuracy(outputs, batch)
        outputs = _tensor(outputs)
        respond = (batch.targets != 0) & (batch.mask > 0)
        n = int(respond.sum())
        return float((outputs.argmax(-1) == batch.targets)[respond].sum()) / n if n else math.nan

    def _broke(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        counted = batch.mask > 0
        respond = (batch.targets != 0) & counted
        t = torch.arange(respond.shape[1], device=respond.device)
        first = torch.where(respond, t, respond.shape[1]).amin(1)  # T when never
        before = counted & (t[None, :] < first[:, None]) & (batch.targets == 0)
        return ((outputs.argmax(-1) != 0) & before).any(1)

    def fixation_breaks(self, outputs: torch.Tensor, batch: Batch) -> float:
        """Classification: the fraction of trials in which an output other than 0 (neurogym's
        "fixate") wins at a counted step before the first step with a non-zero target.
        Such trials count as errors in :meth:`correct`. NaN for regression."""
        if self.kind == "regression":
            return math.nan
        return float(self._broke(_tensor(outputs), batch).float().mean())

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, Any]:
        """Adds ``fixation_breaks`` for classification environments."""
        outputs = _tensor(outputs)
        out = super().metrics(outputs, batch)
        if self.kind == "classification" and self.seq_len is None:
            out["fixation_breaks"] = self.fixation_breaks(outputs, batch)
        return out


def _env_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return str(getattr(spec, "id", None) or type(env).__name__)


def _space_names(space: Any, n: int, prefix: str) -> list[str]:
    names = getattr(space, "name", None)
    out = [f"{prefix} {k}" for k in range(n)]
    if isinstance(names, Mapping):
        for key, idx in names.items():
            for j, k in enumerate(idx if isinstance(idx, Sequence) else [idx]):
                if isinstance(k, int) and 0 <= k < n:
                    out[k] = str(key) if not isinstance(idx, Sequence) else f"{key} {j + 1}"
    return out


def _trial_info(infos: list[Mapping]) -> dict[str, torch.Tensor]:
    """Scalar numeric trial entries shared by every trial, as ``(B,)`` tensors."""
    if not infos:
        return {}
    out: dict[str, torch.Tensor] = {}
    for key in infos[0]:
        values = [info.get(key) for info in infos]
        try:
            if all(isinstance(v, int | float) or type(v).__module__ == "numpy" for v in values):
                t = torch.as_tensor([float(v) for v in values])
                out[str(key)] = t
        except (TypeError, ValueError):
            continue
    return out


def from_neurogym(
    env: Any,
    *,
    name: str | None = None,
    tolerance: float = 0.2,
    decision_weight: float = 3.0,
    seq_len: int | str | None = "auto",
) -> NeurogymTask:
    """Wrap a neurogym-style environment as a batch-first :class:`Task`.

    Duck-typed: the environment needs ``observation_space`` (a 1-D box),
    ``action_space`` (``Discrete(n)`` -> classification with ``n`` classes, or a
    1-D box -> regression), ``new_trial()`` which sets ``env.ob`` ``(T, obs)`` and
    ``env.gt`` ``(T,)`` (or ``(T, act)``), and ``dt`` (ms). neurogym itself is never
    imported. By default each batch row is a stream of trials back to back, as in
    ``neurogym.Dataset`` (but batch first); ``seq_len=None`` gives one trial per row
    (padded at the end with zero mask).
    The environment is re-seeded from the batch's seed (``env.seed(s)``, or
    ``env.reset(seed=s)``) so batches are reproducible.

    Parameters
    ----------
    env : object
        E.g. ``neurogym.make("PerceptualDecisionMaking-v0", dt=20)``.
    name : str, optional
        Task name (default: the environment's ``spec.id`` or class name).
    tolerance : float
        For regression environments, the largest error that counts as correct.
    decision_weight : float
        Classification: the weight in the loss of the steps whose target is not 0
        (the response) relative to the others (fixation). neurogym's own ``Dataset``
        weighs every step alike; there the response is a few steps of a long trial
        (5 of 110 in ``PerceptualDecisionMaking-v0`` at dt 20), and with weight 1 a
        network learns to fixate throughout before it learns to answer. 3 is the
        value measured in docs/training.md ("The recipe"); 1 gives neurogym's loss.
    seq_len : int, "auto" or None
        Each batch row is ``seq_len`` steps of trials back to back, as in
        ``neurogym.Dataset`` (batch first here), so a network learns to answer in a
        continuous stream of trials, where each trial starts from the state the
        previous one left, not from ``x0``: the way neurogym's ``Dataset`` and most
        neurogym code evaluate it. A network trained on isolated trials learns to
        answer from the rest state and keeps fixating in a stream (measured in
        docs/training.md). ``accuracy`` is then neurogym's: the fraction of response
        steps answered correctly. ``"auto"`` (default): twice the longest of 8 trials
        drawn with the environment seeded 0 (220 steps for
        ``PerceptualDecisionMaking-v0`` at dt 20), so every row holds at least one
        trial that starts from another's end state. ``None``: one trial per row, with
        the trial's own information in ``batch.trials``.

    Returns
    -------
    NeurogymTask

    Examples
    --------
    >>> import numpy as np
    >>> class Box:
    ...     shape = (2,)
    >>> class Discrete:
    ...     n = 2
    >>> class Env:
    ...     dt, observation_space, action_space = 100, Box(), Discrete()
    ...     def seed(self, s): self.rng = np.random.RandomState(s)
    ...     def new_trial(self):
    ...         side = int(self.rng.randint(2))
    ...         self.ob = np.eye(2)[[side] * 3]
    ...         self.gt = np.array([0, 0, 1])
    ...         return {"side": side}
    >>> task = from_neurogym(Env())
    >>> task.seq_len  # two trials of 3 steps
    6
    >>> task.batch(4, seed=0).inputs.shape
    torch.Size([4, 6, 2])
    >>> b = from_neurogym(Env(), seq_len=None).batch(4, seed=0)
    >>> b.inputs.shape, b.targets.shape, task.kind, sorted(b.trials)
    (torch.Size([4, 3, 2]), torch.Size([4, 3]), 'classification', ['side'])
    """
    return NeurogymTask(
        env, name=name, tolerance=tolerance, decision_weight=decision_weight, seq_len=seq_len
    )


# --------------------------------------------------------------------------- registry
#: Task name -> class. Aliases: see :func:`get_task`.
TASKS: dict[str, type[Task]] = {
    "perceptual_decision_making": PerceptualDecisionMaking,
    "context_dependent_integration": ContextDependentIntegration,
    "flip_flop": FlipFlop,
}

_ALIASES = {
    "pdm": "perceptual_decision_making",
    "perceptual": "perceptual_decision_making",
    "perceptualdecisionmaking": "perceptual_decision_making",
    "cdi": "context_dependent_integration",
    "mante": "context_dependent_integration",
    "context": "context_dependent_integration",
    "contextdependentintegration": "context_dependent_integration",
    "flipflop": "flip_flop",
    "3bit": "flip_flop",
    "3_bit_flip_flop": "flip_flop",
}


def get_task(name: str, **kwargs: Any) -> Task:
    """Build a task by name (case and ``-``/``_`` insensitive; aliases ``pdm``, ``cdi``,
    ``mante``, ``flipflop``, ``3bit``), or ``"neurogym:<env id>"`` when neurogym is installed.

    Examples
    --------
    >>> get_task("pdm", dt=10).dt
    10.0
    >>> get_task("Flip-Flop").name
    'flip_flop'
    """
    if not isinstance(name, str):
        raise TypeError(f"task name must be a string; got {type(name).__name__}")
    if name.startswith("neurogym:"):
        try:
            import neurogym
        except ImportError:
            raise ValueError(
                f"task {name!r} needs neurogym, which is not installed (pip install neurogym)"
            ) from None
        return from_neurogym(neurogym.make(name.split(":", 1)[1], **kwargs))
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, _ALIASES.get(key.replace("_", ""), key))
    if key not in TASKS:
        known = ", ".join([*TASKS, *_ALIASES])
        raise ValueError(f"unknown task {name!r}; known tasks: {known}, or neurogym:<env id>")
    return TASKS[key](**kwargs)
