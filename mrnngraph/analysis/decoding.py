"""Cross-validated linear decoding of a per-trial variable from each region, over time.

:func:`decode` answers "which region carries this variable, and when" for a
:class:`~mrnngraph.Recording` of recorded neurons or of a model's activity alike:
at every time bin (or window of bins) a ridge-regularised linear read-out is fit
on the training folds and scored on the held-out fold. Class labels give an
accuracy, continuous variables an R².
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from .._params import COUNT, POSITIVE, STEPS, Optional, check, validate_params
from ..recording import Recording
from ..schema import Interval, Options

__all__ = ["decode", "DecodingResult", "ALPHAS"]

#: Ridge penalties tried by default (on activity centred and scaled to unit mean square per
#: neuron); one is chosen per fold and time bin by leave-one-out error on the training trials.
ALPHAS: tuple[float, ...] = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4)
_CHUNK = 2**24


@dataclass(frozen=True, eq=False)
class DecodingResult:
    """What :func:`decode` returns.

    Attributes
    ----------
    folds : dict of str to ndarray, shape (folds, W)
        The held-out score of every fold at every time bin (or window), by region.
    chance : float
        The score of a read-out that ignores the activity: the frequency of the most
        common class for classification (what always guessing it scores), 0 for R².
    metric : {"accuracy", "r2"}
    kind : {"classification", "regression"}
    times : ndarray, shape (W,)
        Time of each bin in ms (the mean over a window's bins).
    classes : ndarray or None
        The class values, in the order of the read-out's outputs.
    alpha : dict of str to ndarray, shape (folds, W)
        The ridge penalty used for each fold and bin.
    label : str or None
        The name of the decoded trial variable, when given by name.
    window : int or None
        Bins averaged per window.
    """

    folds: dict[str, np.ndarray]
    chance: float
    metric: Literal["accuracy", "r2"]
    kind: Literal["classification", "regression"]
    times: np.ndarray
    classes: np.ndarray | None
    alpha: dict[str, np.ndarray]
    label: str | None = None
    window: int | None = None

    @property
    def regions(self) -> list[str]:
        return list(self.folds)

    @property
    def score(self) -> dict[str, np.ndarray]:
        """Mean over folds, a ``(W,)`` array by region."""
        return {r: f.mean(0) for r, f in self.folds.items()}

    @property
    def spread(self) -> dict[str, np.ndarray]:
        """Standard deviation over folds, a ``(W,)`` array by region."""
        return {r: f.std(0) for r, f in self.folds.items()}

    def __getitem__(self, region: str) -> np.ndarray:
        """The mean score of one region over time, ``(W,)``."""
        if region not in self.folds:
            raise KeyError(f"no region {region!r} in this result; regions: {self.regions}")
        return self.folds[region].mean(0)

    def peak(self) -> dict[str, tuple[float, float]]:
        """``{region: (best mean score, its time in ms)}``."""
        out = {}
        for r, s in self.score.items():
            k = int(np.argmax(s))
            out[r] = (float(s[k]), float(self.times[k]))
        return out


# --------------------------------------------------------------------------- inputs
def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _region_rates(
    recording: Recording, regions: Sequence[str] | str | None
) -> dict[str, np.ndarray]:
    """``{region: (trials, T, neurons)}`` for the regions asked (all by default)."""
    rates = getattr(recording, "rates", None)
    if not isinstance(rates, Mapping):
        raise TypeError(
            "recording must be a Recording (rates by region, see "
            f"mrnngraph.recording.Recording); got {type(recording).__name__}"
        )
    if regions is None:
        regions = list(getattr(recording, "regions", None) or rates)
    elif isinstance(regions, str):
        regions = [regions]
    out = {}
    for r in regions:
        if r not in rates:
            raise KeyError(f"recording has no region {r!r}; regions: {list(rates)}")
        a = _as_numpy(rates[r], f"rates[{r!r}]")
        if a.ndim != 3:
            raise ValueError(f"rates[{r!r}] must have shape (trials, T, neurons); got {a.shape}")
        out[r] = a
    if not out:
        raise ValueError("no regions to analyse")
    shapes = {a.shape[:2] for a in out.values()}
    if len(shapes) != 1:
        raise ValueError(
            "regions disagree on (trials, T): "
            + ", ".join(f"{r} {a.shape[:2]}" for r, a in out.items())
        )
    return out


def _times(recording: Any, T: int) -> np.ndarray:
    times = getattr(recording, "times", None)
    if times is not None:
        t = _as_numpy(times, "times").astype(float)
        if t.shape == (T,):
            return t
    dt = getattr(recording, "dt", None)
    dt = 1.0 if dt is None else float(dt)
    return np.arange(T, dtype=float) * dt


def trial_variable(
    recording: Any, labels: Any, n: int, what: str = "labels"
) -> tuple[np.ndarray, str | None]:
    """``labels`` (an array, or the name of a ``recording.trials`` variable) as ``(n,)``."""
    name = None
    if isinstance(labels, str):
        trials = getattr(recording, "trials", None) or {}
        if labels not in trials:
            raise KeyError(
                f"{what}: the recording has no trial variable {labels!r}; "
                f"trial variables: {sorted(trials)}"
            )
        name, labels = labels, trials[labels]
    y = _as_numpy(labels, what)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"{what}{f' {name!r}' if name else ''} must have one value per "
            f"trial, shape ({n},); got {y.shape}"
        )
    return y, name


def _windows(x: np.ndarray, times: np.ndarray, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Average ``x (n, T, N)`` over consecutive windows of ``window`` bins (the last may be
    shorter)."""
    if window is None or window == 1:
        return x, times
    T = x.shape[1]
    starts = range(0, T, window)
    xs = np.stack([x[:, s : s + window].mean(1) for s in starts], 1)
    ts = np.array([times[s : s + window].mean() for s in starts])
    return xs, ts


def stratified_folds(y: np.ndarray | None, n: int, folds: int, seed: int) -> np.ndarray:
    """Fold index ``(n,)`` of each trial: each class dealt round-robin over the folds after
    a seeded shuffle (plain shuffled folds for ``y=None``)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=np.int64)
    groups = [np.arange(n)] if y is None else [np.flatnonzero(y == c) for c in np.unique(y)]
    offset = 0
    for idx in groups:
        idx = rng.permutation(idx)
        # Continue the deal where the last class stopped, so fold sizes differ by <= 1.
        fold[idx] = (np.arange(idx.size) + offset) % folds
        offset = (offset + idx.size) % folds
    return fold


# --------------------------------------------------------------------------- ridge
def _ridge_fit(
    x: torch.Tensor, y: torch.Tensor, alphas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ridge read-outs for every bin at once, the penalty chosen by leave-one-out error.

    ``x (W, n, p)``, ``y (n, C)``. Returns ``(coef (W, p, C), intercept (W, C),
    mean (W, p), scale (W, p), alpha (W,))``; features are centred and scaled (one scale
    per bin) on these trials.
    """
    W, n, p = x.shape
    mean = x.mean(1)
    # One scale per bin (the region's root-mean-square deviation), not per neuron: the
    # penalty grid then fits rates in any unit, and nearly silent neurons (a relu unit
    # active on a few trials) are not blown up to the size of active ones.
    scale = (x - mean[:, None]).pow(2).mean((1, 2)).sqrt()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))[:, None].expand(W, p)
    xc = (x - mean[:, None]) / scale[:, None]
    ybar = y.mean(0)
    yc = y - ybar
    # Eigendecomposition of the smaller Gram matrix (batched over bins): faster than an
    # SVD of xc and as exact here, since the penalty keeps every system well conditioned.
    primal = p <= n
    gram = xc.transpose(1, 2) @ xc if primal else xc @ xc.transpose(1, 2)
    lam, vec = torch.linalg.eigh(gram)
    lam = lam.clamp(min=0.0)
    basis = xc @ vec if primal else vec  # (W, n, k)
    bty = basis.transpose(1, 2) @ yc  # (W, k, C)

    def fit_weight(a: torch.Tensor) -> torch.Tensor:
        """The hat matrix is ``basis diag(fit_weight) basis^T``."""
        return 1.0 / (lam + a) if primal else lam / (lam + a)

    if alphas.numel() == 1:
        best = alphas.expand(W)
    else:
        # Leave-one-out residual of ridge with an intercept: e_i / (1 - h_ii), with the
        # hat matrix's diagonal h_ii plus 1/n for the intercept (closed form, no refits).
        wt = fit_weight(alphas[:, None, None])  # (A, W, k)
        fitted = basis[None] @ (wt[..., None] * bty[None])  # (A, W, n, C)
        h = ((basis * basis)[None] @ wt[..., None])[..., 0] + 1.0 / n
        loo = (yc - fitted) / (1.0 - h).clamp(min=1e-9)[..., None]
        err = loo.pow(2).mean((-1, -2))  # (A, W)
        best = alphas[err.argmin(0)]
    inv = 1.0 / (lam + best[:, None])  # (W, k)
    if primal:
        coef = vec @ (inv[..., None] * bty)  # (W, p, C)
    else:
        coef = xc.transpose(1, 2) @ (vec @ (inv[..., None] * bty))
    intercept = ybar.expand(W, -1)
    return coef, intercept, mean, scale, best


def _ridge_predict(
    x: torch.Tensor,
    coef: torch.Tensor,
    intercept: torch.Tensor,
    mean: torch.Tensor,
    scale: torch.Tensor,
) -> torch.Tensor:
    """``x (W, m, p)`` -> scores ``(W, m, C)``."""
    return ((x - mean[:, None]) / scale[:, None]) @ coef + intercept[:, None]


def _check_alphas(alphas: float | Sequence[float]) -> torch.Tensor:
    """The ridge penalties as a float64 tensor: each a float > 0, at least one."""
    if isinstance(alphas, torch.Tensor):
        alphas = alphas.detach().cpu().numpy()
    values = [alphas] if np.ndim(alphas) == 0 else list(np.asarray(alphas, dtype=object).ravel())
    if not values:
        raise ValueError(f"alphas must be one or more ridge penalties > 0; got {alphas!r}")
    return torch.tensor([check("alphas", a, POSITIVE) for a in values], dtype=torch.float64)


# --------------------------------------------------------------------------- decode
@validate_params(
    {
        "folds": Interval(2, math.inf, integer=True),
        "seed": COUNT,
        "window": Optional(STEPS),
        "kind": Options(("auto", "classification", "regression")),
    }
)
def decode(
    recording: Recording,
    labels: Any,
    *,
    folds: int = 5,
    seed: int = 0,
    window: int | None = None,
    regions: Sequence[str] | str | None = None,
    kind: Literal["auto", "classification", "regression"] = "auto",
    alphas: float | Sequence[float] = ALPHAS,
) -> DecodingResult:
    """Cross-validated linear decoding of a per-trial variable from each region over time.

    At every time bin (or window of ``window`` bins, averaged), each region's activity
    ``(trials, neurons)`` is centred on the training folds and divided by one number,
    its root-mean-square deviation there (per-neuron z-scoring would inflate neurons
    that are silent on nearly every trial), and read out linearly with a ridge
    penalty: one-vs-rest least squares on ±1 targets for class labels (the answer is
    the class with the largest score), least squares for a continuous variable.
    The penalty is chosen among ``alphas`` for every fold and bin by the exact
    leave-one-out error on the training trials (nested: the held-out fold
    never takes part), so small and large regions are each regularised as they need.

    Parameters
    ----------
    recording : Recording
        Activity by region, ``rates[region]`` of shape ``(trials, T, neurons)``; a
        model's (:func:`mrnngraph.activity`) or recorded neurons.
    labels : array of shape (trials,) or str
        The variable to decode, or the name of one of ``recording.trials``.
    folds : int
        Cross-validation folds (>= 2). Folds are stratified by class for class labels
        (every class spread evenly over the folds), shuffled with ``seed``.
    seed : int
        Seed of the fold assignment (the only randomness).
    window : int, optional
        Average the activity over consecutive windows of this many bins (the last may
        be shorter) and decode once per window.
    regions : str or sequence of str, optional
        Regions to decode from (default all of the recording's).
    kind : {"auto", "classification", "regression"}
        ``"auto"``: integer, boolean and string labels are classes, floats are
        continuous (pass ``kind="classification"`` for float-coded conditions).
    alphas : float or sequence of float
        Ridge penalties on the scaled activity; one value fixes it.

    Returns
    -------
    DecodingResult
        Per-fold scores ``(folds, W)`` by region (``.score`` the mean ``(W,)``,
        ``.spread`` the std over folds), the chance level and the bin times.
        Accuracy for classes; R² for a continuous variable (``1 - SS_res / SS_tot``
        on each held-out fold, around that fold's mean: 0 is no better than the mean,
        negative worse).

    Raises
    ------
    KeyError
        For an unknown region or trial variable.
    ValueError
        For labels of the wrong length, fewer than two classes, a class with fewer
        trials than folds, non-finite values, or bad options.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 40)
    >>> rates = {"a": rng.normal(size=(80, 3, 5)), "b": rng.normal(size=(80, 3, 5))}
    >>> rates["a"][:, 2, 0] += 4 * y                      # "a" encodes y in the last bin
    >>> rec = SimpleNamespace(rates=rates, dt=10.0, trials={"y": y})
    >>> res = decode(rec, "y")
    >>> res.chance, bool(res["a"][2] > 0.95), bool(res["b"][2] < 0.8)
    (0.5, True, True)
    """
    a = _check_alphas(alphas)
    rates = _region_rates(recording, regions)
    n, T = next(iter(rates.values())).shape[:2]
    if folds > n:
        raise ValueError(f"folds={folds} is more than the {n} trials")
    y_raw, name = trial_variable(recording, labels, n)
    if kind == "auto":
        kind = "regression" if y_raw.dtype.kind in "fc" else "classification"

    classes = None
    if kind == "classification":
        classes, y = np.unique(y_raw, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"labels{f' {name!r}' if name else ''} have a single class "
                f"({classes[0]!r}); nothing to decode"
            )
        counts = np.bincount(y)
        small = classes[counts < folds].tolist()
        if small:
            raise ValueError(
                f"classes {small} have fewer trials than folds={folds}; "
                "use fewer folds or merge classes"
            )
        target = torch.full((n, classes.size), -1.0, dtype=torch.float64)
        target[torch.arange(n), torch.as_tensor(y)] = 1.0
        fold = stratified_folds(y, n, folds, seed)
        chance = float(counts.max() / n)
        metric: Literal["accuracy", "r2"] = "accuracy"
    else:
        y = y_raw.astype(np.float64)
        if not np.isfinite(y).all():
            raise ValueError(f"labels{f' {name!r}' if name else ''} have non-finite values")
        target = torch.as_tensor(y)[:, None]
        fold = stratified_folds(None, n, folds, seed)
        chance = 0.0
        metric = "r2"

    times = _times(recording, T)
    scores: dict[str, np.ndarray] = {}
    chosen: dict[str, np.ndarray] = {}
    for region, x in rates.items():
        if not np.isfinite(x).all():
            raise ValueError(f"rates[{region!r}] have non-finite values")
        xw, tw = _windows(x.astype(np.float64, copy=False), times, window)
        xt = torch.as_tensor(xw).transpose(0, 1)  # (W, n, p)
        per_fold, per_alpha = [], []
        for f in range(folds):
            test = torch.as_tensor(fold == f)
            # Bins in chunks, so that the batched fit holds at most about _CHUNK numbers
            # per array whatever the number of trials and neurons.
            ntr, p = int((~test).sum()), xt.shape[-1]
            step = max(1, _CHUNK // (ntr * max(min(ntr, p), 1) * len(a)))
            parts = [
                _ridge_fit(xt[s : s + step, ~test], target[~test], a)
                for s in range(0, xt.shape[0], step)
            ]
            coef, icpt, mu, sd, best = (torch.cat(z) for z in zip(*parts, strict=True))
            pred = _ridge_predict(xt[:, test], coef, icpt, mu, sd)
            truth = target[test]
            if kind == "classification":
                hit = pred.argmax(-1) == truth.argmax(-1)[None]
                per_fold.append(hit.double().mean(1))
            else:
                res = (pred[..., 0] - truth[None, :, 0]).pow(2).sum(1)
                tot = (truth[:, 0] - truth[:, 0].mean()).pow(2).sum()
                per_fold.append(
                    1.0 - res / tot if float(tot) > 0 else torch.full_like(res, float("nan"))
                )
            per_alpha.append(best)
        scores[region] = torch.stack(per_fold).numpy()
        chosen[region] = torch.stack(per_alpha).numpy()
    return DecodingResult(
        folds=scores,
        chance=chance,
        metric=metric,
        kind=kind,
        times=tw,
        classes=classes,
        alpha=chosen,
        label=name,
        window=window,
    )
