"""The cognitive tasks: perceptual decision making, context-dependent integration, flip-flop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .._params import POSITIVE, STEPS, check
from .base import Batch, Duration, Task, _check_dt, _check_duration, _EpochTask, _steps, _tensor
from .psychometrics import ContextPsychometrics, PsychometricCurve, psychometric_curve

__all__ = ["PerceptualDecisionMaking", "ContextDependentIntegration", "FlipFlop"]


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

    has_psychometric = True

    def psychometric(
        self, outputs: torch.Tensor, batch: Batch, *, lapse: bool = True
    ) -> PsychometricCurve:
        """P(choice 1) against the **signed** coherence (positive: evidence for choice 1),
        with a fitted psychometric function, and the accuracy at each level.

        Trials that give no answer (still fixating in the decision epoch) or break
        fixation are left out of P(choice 1) and the fit (and counted in
        ``n_trials - n_answered``); they are errors in ``accuracy``, as in
        :meth:`correct`. At 0 % coherence both signs are the same level.

        Parameters
        ----------
        outputs : Tensor, shape (B, T, O), or the model's RNNOutput
        batch : Batch
            The trials (``coherence`` and ``choice`` in ``batch.trials``).
        lapse : bool
            Fit lapse rates (see :func:`~mrnngraph.tasks.psychometrics.fit_psychometric`).

        Returns
        -------
        PsychometricCurve
            ``levels`` (signed %), ``p_choice1``, counts, ``accuracy`` and ``fit``
            (``bias``, ``threshold`` in % coherence, lapse rates).

        Examples
        --------
        >>> task = PerceptualDecisionMaking()
        >>> b = task.batch(600, seed=0)
        >>> curve = task.psychometric(task.optimal_outputs(b), b)
        >>> curve.levels.tolist()
        [-51.2, -25.6, -12.8, -6.4, -3.2, 0.0, 3.2, 6.4, 12.8, 25.6, 51.2]
        >>> curve.p_choice1[[0, -1]].tolist(), int(curve.n_trials.sum())
        ([0.0, 1.0], 600)
        """
        outputs = _tensor(outputs)
        signed = torch.where(
            batch.trials["choice"] == 1, batch.trials["coherence"], -batch.trials["coherence"]
        )
        signed = torch.where(signed == 0, 0.0, signed)  # one level at 0 %, not +0 and -0
        return psychometric_curve(
            signed.cpu().numpy(),
            self.answers(outputs, batch).cpu().numpy(),
            self.correct(outputs, batch).cpu().numpy(),
            name="coherence",
            lapse=lapse,
        )

    def _accuracy_by_coherence(
        self, outputs: torch.Tensor, batch: Batch
    ) -> dict[float, tuple[float, int]]:
        """Accuracy at each unsigned coherence: ``{coherence %: (accuracy, n_trials)}``,
        sorted (fixation breaks count as errors, as in :meth:`correct`)."""
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
            for c, (a, n) in self._accuracy_by_coherence(outputs, batch).items()
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

    has_psychometric = True
    #: Context names, in the order of the ``context`` trial variable (0, 1).
    CONTEXTS = ("motion", "color")

    def psychometric(
        self, outputs: torch.Tensor, batch: Batch, *, lapse: bool = True
    ) -> ContextPsychometrics:
        """Per context, P(choice 1) against the relevant and against the irrelevant
        stimulus's signed coherence, each with a fitted psychometric function (the figure
        of Mante et al. 2013: steep against the relevant stimulus, flat against the
        irrelevant one).

        Trials without an answer or breaking fixation are left out of P(choice 1) and
        the fits, as in :meth:`PerceptualDecisionMaking.psychometric`. Against the
        irrelevant stimulus every level pools trials of every relevant coherence.

        Returns
        -------
        ContextPsychometrics
            ``result["motion", "motion"]`` (motion context, motion coherence: relevant),
            ``result["motion", "color"]`` (irrelevant), ``result["color", "motion"]``,
            ``result["color", "color"]``; each a
            :class:`~mrnngraph.tasks.psychometrics.PsychometricCurve`.

        Examples
        --------
        >>> task = ContextDependentIntegration()
        >>> b = task.batch(800, seed=0)
        >>> res = task.psychometric(task.optimal_outputs(b), b)
        >>> list(res)
        [('motion', 'motion'), ('motion', 'color'), ('color', 'color'), ('color', 'motion')]
        >>> res.relevant("motion").p_choice1[[0, -1]].tolist()
        [0.0, 1.0]
        """
        outputs = _tensor(outputs)
        answers = self.answers(outputs, batch).cpu().numpy()
        ok = self.correct(outputs, batch).cpu().numpy()
        context = batch.trials["context"].cpu().numpy()
        curves = {}
        for k, ctx in enumerate(self.CONTEXTS):
            sel = context == k
            order = (ctx, *[s for s in self.CONTEXTS if s != ctx])
            for stim in order:
                coh = batch.trials[f"{stim}_coherence"].cpu().numpy()
                curves[(ctx, stim)] = psychometric_curve(
                    coh[sel],
                    answers[sel],
                    ok[sel],
                    name=f"{stim}_coherence",
                    context=ctx,
                    relevant=stim == ctx,
                    lapse=lapse,
                )
        return ContextPsychometrics(self.CONTEXTS, self.CONTEXTS, curves)

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, Any]:
        """Adds accuracy per context and ``fixation_breaks`` (trials answering before the
        go cue; they already count as errors in every accuracy)."""
        outputs = _tensor(outputs)
        out = super().metrics(outputs, batch)
        ok = self.correct(outputs, batch)
        for k, name in enumerate(self.CONTEXTS):
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
        n_bits = check("n_bits", n_bits, STEPS)
        self.n_bits = n_bits
        self.input_size = self.output_size = n_bits
        self.input_names = self.output_names = tuple(f"bit {k + 1}" for k in range(n_bits))
        self.duration = float(_check_duration("duration", duration, self.dt, minimum=1))
        self.pulse = float(_check_duration("pulse", pulse, self.dt, minimum=1))
        self.settle = float(_check_duration("settle", settle, self.dt, minimum=0))
        pulse_rate = check("pulse_rate", pulse_rate, POSITIVE)
        if pulse_rate * self.dt / 1000.0 > 1:
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
