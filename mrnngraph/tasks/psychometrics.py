r"""Psychometric curves: choices against a signed stimulus strength, and their fit.

A psychometric curve is the probability of one choice ("choice 1") at each level of
a signed stimulus (coherence towards choice 1 positive, towards choice 2 negative).
It is fitted by maximum likelihood with a **lapse-bounded cumulative Gaussian**

.. math::

    P(\text{choice 1} \mid s) = \gamma + (1 - \gamma - \lambda)\,
        \Phi\!\left(\frac{s - \mu}{\sigma}\right)

with

* ``bias`` :math:`\mu`: the stimulus at which the curve is half-way between its
  asymptotes (the point of subjective equality; 0 for an unbiased observer), in the
  stimulus's units (coherence in %);
* ``threshold`` :math:`\sigma > 0`: the stimulus change that takes the curve from
  half-way to 84.1 % of the way between its asymptotes (:math:`\Phi(1)`), same units;
  small is sensitive, large is flat;
* ``lapse_low`` :math:`\gamma` and ``lapse_high`` :math:`\lambda` in ``[0, max_lapse]``:
  choice 1 on the strongest choice-2 stimuli, and choice 2 on the strongest choice-1
  stimuli (stimulus-independent errors).

The likelihood is binomial on the counts of each level. The parameters are mapped to
bounded ranges (``bias`` within a range of the levels on each side, ``threshold``
between 1/1000 and 100 times the levels' range, lapses in ``[0, max_lapse]``), so
the fit cannot run off to infinity on degenerate data (every choice the same); it
starts from the best point of a grid and is refined by damped Fisher scoring in float64 with
``log_ndtr`` (no ``log(0)``). A parameter the data do not pin down (a step-like
curve, a bias beyond the levels, a lapse at 0) is named in ``at_bound``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._params import PROBABILITY, check
from ..schema import Boolean

__all__ = [
    "PsychometricFit",
    "PsychometricCurve",
    "ContextPsychometrics",
    "fit_psychometric",
    "psychometric_curve",
]

_PARAMS = ("bias", "threshold", "lapse_low", "lapse_high")


@dataclass(frozen=True, eq=False)
class PsychometricFit:
    r"""A fitted lapse-bounded cumulative Gaussian (see the module's docstring).

    Attributes
    ----------
    bias, threshold, lapse_low, lapse_high : float
        :math:`\mu`, :math:`\sigma`, :math:`\gamma`, :math:`\lambda`, in the stimulus's
        units (lapses are probabilities).
    log_likelihood : float
        At the fit (binomial, without the constant binomial coefficients).
    n_trials : int
        Trials fitted.
    converged : bool
        Whether the fit ended with a gradient norm below 1e-5 per trial.
    at_bound : tuple of str
        Parameters the data do not pin down: the bias outside the range of the levels;
        the threshold of a step (every level more than 3 thresholds from the bias, so
        any steeper curve fits as well) or of a flat curve (more than 10 times the
        levels' range); a lapse rate at 0 or at ``max_lapse`` (a lapse at 0 is common
        and harmless).
    """

    bias: float
    threshold: float
    lapse_low: float
    lapse_high: float
    log_likelihood: float
    n_trials: int
    converged: bool
    at_bound: tuple[str, ...] = ()

    def __call__(self, stimulus: Any) -> np.ndarray:
        """P(choice 1) at ``stimulus`` (array-like), as a numpy array."""
        s = torch.as_tensor(np.asarray(stimulus, dtype=np.float64))
        phi = torch.special.ndtr((s - self.bias) / self.threshold)
        return (self.lapse_low + (1 - self.lapse_low - self.lapse_high) * phi).numpy()

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers, for JSON."""
        return {
            "bias": self.bias,
            "threshold": self.threshold,
            "lapse_low": self.lapse_low,
            "lapse_high": self.lapse_high,
            "log_likelihood": self.log_likelihood,
            "n_trials": self.n_trials,
            "converged": self.converged,
            "at_bound": list(self.at_bound),
        }


def _unpack(theta: torch.Tensor, lo: float, hi: float, max_lapse: float, lapse: bool):
    """Unconstrained ``(B, 4)`` -> bias, log threshold, log lapses (bounded smoothly)."""
    mid, half = (lo + hi) / 2, max(hi - lo, 1e-12)
    bias = mid + 1.5 * half * torch.tanh(theta[:, 0])
    log_lo, log_hi = math.log(half / 1000), math.log(100 * half)
    log_sigma = log_lo + (log_hi - log_lo) * torch.sigmoid(theta[:, 1])
    if lapse:
        log_g = math.log(max_lapse) + torch.nn.functional.logsigmoid(theta[:, 2])
        log_l = math.log(max_lapse) + torch.nn.functional.logsigmoid(theta[:, 3])
    else:
        log_g = log_l = torch.full_like(bias, -math.inf)
    return bias, log_sigma, log_g, log_l


def _log_probs(theta, s, lo, hi, max_lapse, lapse) -> tuple[torch.Tensor, torch.Tensor]:
    """``log P(choice 1)`` and ``log P(choice 2)`` at levels ``s``, for each row of ``theta``
    ``(B, 4)``: two ``(B, L)`` tensors."""
    bias, log_sigma, log_g, log_l = _unpack(theta, lo, hi, max_lapse, lapse)
    z = (s[None] - bias[:, None]) / log_sigma.exp()[:, None]
    # log(1 - g - l), computed from the logs so that it is exact for small lapses.
    log_rest = torch.log1p(-(log_g.exp() + log_l.exp())).clamp(max=0.0)[:, None]
    log_p = torch.logaddexp(log_g[:, None], log_rest + torch.special.log_ndtr(z))
    log_q = torch.logaddexp(log_l[:, None], log_rest + torch.special.log_ndtr(-z))
    return log_p, log_q


def _nll(theta, s, k, n, lo, hi, max_lapse, lapse) -> torch.Tensor:
    """Binomial negative log-likelihood of each row of ``theta`` ``(B, 4)``: ``(B,)``."""
    log_p, log_q = _log_probs(theta, s, lo, hi, max_lapse, lapse)
    return -(k[None] * log_p + (n - k)[None] * log_q).sum(1)


def _fisher_scoring(theta: torch.Tensor, args: tuple, *, max_iter: int = 100):
    """Maximise the binomial likelihood from ``theta`` ``(4,)`` by Fisher scoring with
    Levenberg-Marquardt damping (the Fisher information ``J^T diag(n / (p q)) J`` is
    positive semi-definite wherever the gradient is finite, unlike the Hessian); a step
    is taken only where it lowers the negative log-likelihood. Returns ``(theta,
    nll, |gradient|)``. (``torch.optim`` is not used: building an optimizer imports
    torch's compiler, seconds on first use.)"""
    s, k, n, lo, hi, max_lapse, lapse = args

    def nll(t: torch.Tensor) -> torch.Tensor:
        return _nll(t[None], *args)[0]

    def prob(t: torch.Tensor) -> torch.Tensor:
        return _log_probs(t[None], s, lo, hi, max_lapse, lapse)[0][0].exp()

    x = theta.detach().clone()
    value, damping, eye = float(nll(x)), 1e-3, torch.eye(x.numel(), dtype=x.dtype)
    for _ in range(max_iter):
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(nll(xg), xg)
        if not bool(torch.isfinite(g).all()) or float(g.norm()) < 1e-12:
            break
        jac = torch.autograd.functional.jacobian(prob, x)  # (L, 4)
        p = prob(x).clamp(1e-12, 1 - 1e-12)
        fisher = jac.T @ ((n / (p * (1 - p)))[:, None] * jac)
        fisher = torch.nan_to_num(fisher, nan=0.0, posinf=0.0, neginf=0.0)
        scale = fisher.diagonal().clamp(min=1e-12)
        done = True
        while damping < 1e10:
            step = torch.linalg.solve(fisher + damping * torch.diag(scale) + 1e-12 * eye, -g)
            trial = float(nll(x + step))
            if math.isfinite(trial) and trial <= value:
                # Done when it stops improving, or fits the data exactly (a step-like
                # curve, where only ever steeper ones improve: they are all as good).
                done = value - trial < 1e-12 * max(1.0, abs(value)) or trial < 1e-8
                x, value = x + step, trial
                damping = max(damping / 10, 1e-9)
                break
            damping *= 10
        if done:
            break
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nll(xg), xg)
    return x, value, float(g.norm())


def fit_psychometric(
    stimulus: Any, chose: Any, *, lapse: bool = True, max_lapse: float = 0.25
) -> PsychometricFit:
    """Fit a lapse-bounded cumulative Gaussian to choices by maximum likelihood.

    Parameters
    ----------
    stimulus : array-like, shape (n,)
        Signed stimulus strength of each trial (positive: evidence for choice 1).
    chose : array-like of bool, shape (n,)
        Whether each trial chose 1 (trials without a choice must be left out).
    lapse : bool
        Fit the two lapse rates (default); ``False`` fixes them at 0 (a plain
        cumulative Gaussian).
    max_lapse : float
        Upper bound of each lapse rate, in (0, 0.5].

    Returns
    -------
    PsychometricFit

    Raises
    ------
    ValueError
        For fewer than two distinct stimulus levels, non-finite stimuli, arrays of
        different lengths, or ``max_lapse`` outside (0, 0.5].

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = np.repeat([-40.0, -20, -10, -5, 0, 5, 10, 20, 40], 400)
    >>> chose = rng.random(s.size) < 0.02 + 0.96 * 0.5 * (1 + np.vectorize(math.erf)(
    ...     (s - 3) / 8 / math.sqrt(2)))
    >>> f = fit_psychometric(s, chose)
    >>> abs(f.bias - 3) < 1, abs(f.threshold - 8) < 1, f.converged  # the truth: 3, 8
    (True, True, True)
    """
    lapse = check("lapse", lapse, Boolean())
    max_lapse = check("max_lapse", max_lapse, PROBABILITY)
    if not 0 < max_lapse <= 0.5:
        raise ValueError(f"max_lapse must be a float in (0, 0.5]; got {max_lapse!r}")
    s = np.asarray(stimulus, dtype=np.float64).reshape(-1)
    c = np.asarray(chose).reshape(-1)
    if s.shape != c.shape:
        raise ValueError(
            f"stimulus and chose must have one value per trial; got {s.size} and {c.size}"
        )
    if not np.isfinite(s).all():
        raise ValueError("stimulus has non-finite values")
    levels, inverse = np.unique(s, return_inverse=True)
    if levels.size < 2:
        raise ValueError(
            f"a psychometric function needs at least two stimulus levels; got {levels.tolist()}"
        )
    k = np.bincount(inverse, weights=c.astype(np.float64), minlength=levels.size)
    n = np.bincount(inverse, minlength=levels.size).astype(np.float64)
    st, kt, nt = (torch.as_tensor(a) for a in (levels, k, n))
    lo, hi = float(levels[0]), float(levels[-1])
    args = (st, kt, nt, lo, hi, max_lapse, lapse)

    # The likelihood has local optima once lapses are free (a lapse rate can stand in for
    # a shallow flank): fit without lapses first, from the best point of a grid of bias x
    # threshold, then with lapses from there and from the grid's best with lapses at 1 %,
    # and keep the better.
    grid = torch.cartesian_prod(
        torch.linspace(-2.0, 2.0, 21, dtype=torch.float64),
        torch.linspace(-4.0, 4.0, 21, dtype=torch.float64),
    )

    def with_lapses(x: torch.Tensor, rate: float) -> torch.Tensor:
        a = math.log(rate / max_lapse) - math.log1p(-rate / max_lapse)  # logit(rate / max)
        return torch.cat([x, torch.full((x.shape[0], 2), a, dtype=torch.float64)], 1)

    plain = (*args[:-1], False)
    starts = with_lapses(grid, 0.01)
    theta, loss, grad = _fisher_scoring(starts[_nll(starts, *plain).argmin()], plain)
    if lapse:
        fits = [
            _fisher_scoring(start, args)
            for start in (
                with_lapses(theta[None, :2], 0.001)[0],
                starts[_nll(starts, *args).argmin()],
            )
        ]
        theta, loss, grad = min(fits, key=lambda f: f[1])
    theta = theta[None]
    with torch.no_grad():
        bias, log_sigma, log_g, log_l = (
            float(v[0]) for v in _unpack(theta, lo, hi, max_lapse, lapse)
        )
    sigma = math.exp(log_sigma)
    g, lam = min(math.exp(log_g), max_lapse), min(math.exp(log_l), max_lapse)
    z = np.abs(levels - bias) / sigma
    loose = {
        "bias": not lo <= bias <= hi,
        # A step (no level on the slope: any steeper curve fits as well), or flat.
        "threshold": bool(z.min() > 3.0) or sigma > 10 * (hi - lo),
        "lapse_low": lapse and not 1e-6 < g < max_lapse * (1 - 1e-6),
        "lapse_high": lapse and not 1e-6 < lam < max_lapse * (1 - 1e-6),
    }
    total = float(n.sum())
    return PsychometricFit(
        bias=bias,
        threshold=sigma,
        lapse_low=g,
        lapse_high=lam,
        log_likelihood=-loss,
        n_trials=int(total),
        converged=bool(grad <= 1e-5 * max(total, 1.0)),
        at_bound=tuple(p for p in _PARAMS if loose[p]),
    )


@dataclass(frozen=True, eq=False)
class PsychometricCurve:
    """Choices at each level of a signed stimulus, and the fitted psychometric function.

    Attributes
    ----------
    stimulus : str
        What the levels are (``"coherence"``, ``"motion_coherence"``, ...), signed:
        positive is evidence for choice 1.
    levels : ndarray, shape (L,)
        The distinct signed stimulus levels, ascending (in %).
    p_choice1 : ndarray, shape (L,)
        Fraction of the answered trials at each level that chose 1 (NaN where none
        answered).
    n_choice1, n_answered, n_trials : ndarray of int, shape (L,)
        Trials that chose 1; trials that chose 1 or 2 (the denominator of
        ``p_choice1``); all trials at the level (``n_trials - n_answered`` gave no
        answer or broke fixation).
    accuracy : ndarray, shape (L,)
        Fraction of all trials at each level answered correctly, as the task scores
        them (no answer and fixation breaks are errors); where the stimulus is the
        irrelevant one, accuracy over whatever the relevant one was.
    fit : PsychometricFit or None
        The fitted function, None where fewer than two levels had answers.
    context : str or None
        The context the trials were in (context-dependent tasks).
    relevant : bool or None
        Whether ``stimulus`` is the one the context says to report.
    """

    stimulus: str
    levels: np.ndarray
    p_choice1: np.ndarray
    n_choice1: np.ndarray
    n_answered: np.ndarray
    n_trials: np.ndarray
    accuracy: np.ndarray
    fit: PsychometricFit | None
    context: str | None = None
    relevant: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and lists, for JSON (NaN as None)."""
        return {
            "stimulus": self.stimulus,
            "context": self.context,
            "relevant": self.relevant,
            "levels": self.levels.tolist(),
            "p_choice1": _nan_to_none(self.p_choice1),
            "n_choice1": self.n_choice1.tolist(),
            "n_answered": self.n_answered.tolist(),
            "n_trials": self.n_trials.tolist(),
            "accuracy": _nan_to_none(self.accuracy),
            "fit": None if self.fit is None else self.fit.to_dict(),
        }


def _nan_to_none(a: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in a.tolist()]


def psychometric_curve(
    stimulus: Any,
    answers: Any,
    correct: Any,
    *,
    name: str = "stimulus",
    context: str | None = None,
    relevant: bool | None = None,
    lapse: bool = True,
) -> PsychometricCurve:
    """A :class:`PsychometricCurve` from per-trial signed stimuli, answers and scores.

    Parameters
    ----------
    stimulus : array-like, shape (n,)
        Signed stimulus strength per trial.
    answers : array-like of int, shape (n,)
        1 or 2 for a choice; anything else (0 = no answer, -1 = broke fixation) is left
        out of ``p_choice1`` and the fit.
    correct : array-like of bool, shape (n,)
        Whether each trial was scored correct.
    name, context, relevant
        Stored on the result.
    lapse : bool
        Fit lapse rates (see :func:`fit_psychometric`).
    """
    s = np.asarray(stimulus, dtype=np.float64).reshape(-1)
    a = np.asarray(answers).reshape(-1)
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    levels, inverse = np.unique(s, return_inverse=True)
    answered = (a == 1) | (a == 2)
    count = np.bincount(inverse, minlength=levels.size)
    n_ans = np.bincount(inverse, weights=answered, minlength=levels.size).astype(np.int64)
    n_one = np.bincount(inverse, weights=a == 1, minlength=levels.size).astype(np.int64)
    n_ok = np.bincount(inverse, weights=ok, minlength=levels.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n_ans > 0, n_one / np.maximum(n_ans, 1), np.nan)
        acc = np.where(count > 0, n_ok / np.maximum(count, 1), np.nan)
    fit = None
    if np.unique(s[answered]).size >= 2:
        fit = fit_psychometric(s[answered], a[answered] == 1, lapse=lapse)
    return PsychometricCurve(
        stimulus=name,
        levels=levels,
        p_choice1=p,
        n_choice1=n_one,
        n_answered=n_ans,
        n_trials=count.astype(np.int64),
        accuracy=acc,
        fit=fit,
        context=context,
        relevant=relevant,
    )


@dataclass(frozen=True, eq=False)
class ContextPsychometrics(Mapping):
    """Psychometric curves of a context-dependent task: one per context and stimulus.

    A mapping ``(context, stimulus) -> PsychometricCurve`` (``("motion", "motion")``
    is the relevant stimulus in the motion context, ``("motion", "color")`` the
    irrelevant one), in context order, relevant first.

    Attributes
    ----------
    contexts : tuple of str
    stimuli : tuple of str
    curves : dict
    """

    contexts: tuple[str, ...]
    stimuli: tuple[str, ...]
    curves: dict[tuple[str, str], PsychometricCurve] = field(default_factory=dict)

    def __getitem__(self, key: tuple[str, str]) -> PsychometricCurve:
        return self.curves[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.curves)

    def __len__(self) -> int:
        return len(self.curves)

    def relevant(self, context: str) -> PsychometricCurve:
        """The curve against the stimulus ``context`` says to report."""
        return next(c for (ctx, _), c in self.curves.items() if ctx == context and c.relevant)

    def irrelevant(self, context: str) -> list[PsychometricCurve]:
        """The curves against the stimuli ``context`` says to ignore."""
        return [c for (ctx, _), c in self.curves.items() if ctx == context and not c.relevant]

    def to_dict(self) -> dict[str, Any]:
        """``{"<context> context, <stimulus>": curve.to_dict()}``, for JSON."""
        return {f"{ctx} context, {stim}": c.to_dict() for (ctx, stim), c in self.curves.items()}
