r"""Fit a declared circuit to recorded multi-region activity (data-constrained RNNs).

:func:`fit` trains a :class:`~mrnngraph.MultiRegionRNN` by gradient descent, through
its normal forward (the fused scan), so that its free-running activity reproduces a
:class:`~mrnngraph.Recording` trial by trial; :func:`pvar` scores it as CURBD does
(Perich et al. 2020); :func:`reconstruct` gives the model's version of the data.

The choices, and why
--------------------
* **Observed and latent units.** Region ``r`` with ``n`` recorded neurons: its first
  ``n`` units are matched, in order, to the neurons; its other units are latent
  (constrained only through the observed ones). A recording may leave regions out.
* **Observation.** Each observed neuron ``k`` reads its unit's rate :math:`h_k` through
  a per-neuron affine map, :math:`\hat y_k = a_k h_k + c_k` (``loss="gaussian"``), or
  :math:`\lambda_k = \mathrm{softplus}(a_k h_k + c_k)` as the mean of a Poisson count
  (``loss="poisson"``). :math:`a, c` start so that each neuron's training range fills
  most of the activation's range (:class:`Observation`) and are learned with the
  weights (``learn_observation=True``). So Hz, counts per bin or z-scores all work
  without normalising by hand. The Gaussian loss is the squared error of each
  neuron divided by its variance over the training data, so quiet and busy neurons
  count alike.
* **Initial state.** Trial ``i`` starts from its data: an observed unit's state is
  :math:`x_0 = f^{-1}((g^{-1}(y_{i,0}) - c)/a)` (the activation's inverse, the rate
  clipped inside its range; :math:`g` the link) — the first bin is given, bins
  ``1..T-1`` are predicted. Latent units start from a learned vector shared by all
  trials, kept in ``model.x0`` (a buffer the checkpoint saves); ``learn_x0=False``
  keeps the circuit's ``init`` instead.
* **Time.** A bin of ``dt`` ms is ``dt / model.dt`` model steps (an integer; CURBD's
  ``dtFactor``). Bin ``t + 1`` is compared with the rates after the steps that lead
  into it from bin ``t``, driven by the input of bin ``t + 1`` held over them — the
  convention of the model's ``forward`` and of :func:`mrnngraph.activity`, where
  ``rates[:, t]`` is the state after the input ``inputs[:, t]``.
* **Constraints.** Masks, Dale's law and frozen projections are the model's
  parametrizations, so they hold after every optimizer step; nothing here touches
  them (see ``tests/test_fitting.py``).

The fitted :class:`Observation` is set as ``model.observation`` (and returned in
``history.observation``) so that :func:`pvar`, :func:`reconstruct` and
:func:`mrnngraph.analysis.pathway_strength` read the model and the data in the same
units; pass ``observation=`` to use another (e.g. after :func:`mrnngraph.load_model`,
``Observation.from_dict(metadata["observation"])``).
"""

from __future__ import annotations

import copy
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .recording import Recording
from .training import History, TrainingDiverged, _seed_of, _terms, guarded_backward

__all__ = ["fit", "pvar", "reconstruct", "free_run", "Observation", "FitHistory", "PathwaySparsity"]

#: Where each activation's rates are mapped at the start: (low, high) of the training range.
_TARGET_RANGE = {
    "tanh": (-0.8, 0.8),
    "linear": (-0.8, 0.8),
    "relu": (0.0, 1.0),
    "softplus": (0.1, 1.0),
    "sigmoid": (0.1, 0.9),
    "retanh": (0.0, 0.8),
}
#: Rates are clipped inside these bounds before the activation's inverse.
_CLIP = {
    "tanh": (-0.995, 0.995),
    "sigmoid": (0.005, 0.995),
    "retanh": (0.0, 0.995),
    "softplus": (1e-3, math.inf),
    "relu": (-math.inf, math.inf),
    "linear": (-math.inf, math.inf),
}


def _inverse_activation(name: str, h: torch.Tensor) -> torch.Tensor:
    lo, hi = _CLIP[name]
    h = h.clamp(lo, hi)
    if name in ("tanh", "retanh"):
        return torch.atanh(h)
    if name == "sigmoid":
        return torch.logit(h)
    if name == "softplus":
        return h + torch.log(-torch.expm1(-h))  # log(exp(h) - 1), stable
    return h  # relu (a rate of 0 starts at 0), linear


def _inverse_link(loss: str, y: torch.Tensor) -> torch.Tensor:
    if loss == "poisson":
        y = y.clamp(min=0.05)  # a count of 0 maps to a low rate, not -inf
        return y + torch.log(-torch.expm1(-y))
    return y


# --------------------------------------------------------------------------- observation
@dataclass
class Observation:
    r"""Per-neuron affine read-out of the observed units: :math:`a h + c` (then the link).

    Attributes
    ----------
    scale, offset : dict of str to Tensor, shape (neurons,)
        :math:`a` and :math:`c` of each region's recorded neurons.
    loss : {"gaussian", "poisson"}
        The link: identity, or softplus for the Poisson mean.
    activation : str
        The model's activation (its inverse sets each trial's initial state).
    weight : dict of str to Tensor, shape (neurons,)
        ``1 / variance`` of each neuron over the training data (Gaussian loss weights).
    """

    scale: dict[str, torch.Tensor]
    offset: dict[str, torch.Tensor]
    loss: str = "gaussian"
    activation: str = "tanh"
    weight: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def initial(
        cls,
        recording: Recording,
        activation: str,
        loss: str = "gaussian",
    ) -> Observation:
        """Map each neuron's 1st-99th percentile range of ``recording`` onto most of the
        activation's range (see ``_TARGET_RANGE``); neurons that never change get
        ``a = 1``."""
        lo_t, hi_t = _TARGET_RANGE[activation]
        scale, offset, weight = {}, {}, {}
        for r, y in recording.rates.items():
            z = _inverse_link(loss, torch.from_numpy(y)).reshape(-1, y.shape[2]).double()
            lo = torch.quantile(z, 0.01, dim=0) if z.shape[0] > 1 else z.min(0).values
            hi = torch.quantile(z, 0.99, dim=0) if z.shape[0] > 1 else z.max(0).values
            span = hi - lo
            a = torch.where(
                span > 1e-8 * (1 + hi.abs()), span / (hi_t - lo_t), torch.ones_like(span)
            )
            scale[r] = a.float()
            offset[r] = (lo - a * lo_t).float()
            var = torch.from_numpy(y).reshape(-1, y.shape[2]).double().var(0, unbiased=False)
            floor = max(float(var.max()) * 1e-6, 1e-12)
            weight[r] = (1.0 / var.clamp(min=floor)).float()
        return cls(scale, offset, loss, activation, weight)

    @classmethod
    def identity(cls, recording: Recording, activation: str) -> Observation:
        """``a = 1, c = 0``: the model's rates are compared with the data as they are."""
        n = recording.n_neurons
        return cls(
            {r: torch.ones(k) for r, k in n.items()},
            {r: torch.zeros(k) for r, k in n.items()},
            "gaussian",
            activation,
            {r: torch.ones(k) for r, k in n.items()},
        )

    def decode(self, region: str, h: torch.Tensor) -> torch.Tensor:
        """The data the units' rates ``h (..., neurons)`` stand for (mean count for Poisson)."""
        a, c = self.scale[region].to(h), self.offset[region].to(h)
        z = a * h + c
        return F.softplus(z) if self.loss == "poisson" else z

    def initial_state(self, region: str, y0: torch.Tensor) -> torch.Tensor:
        """Pre-activation states whose (decoded) rates are the data ``y0 (B, neurons)``."""
        a, c = self.scale[region].to(y0), self.offset[region].to(y0)
        h = (_inverse_link(self.loss, y0) - c) / a
        return _inverse_activation(self.activation, h)

    def covers(self, recording: Recording) -> None:
        for r, n in recording.n_neurons.items():
            if r not in self.scale:
                raise ValueError(
                    f"the observation has no neurons of region {r!r} (it "
                    f"covers {', '.join(map(repr, self.scale))}); fit on a "
                    "recording of the same regions"
                )
            if self.scale[r].shape[0] != n:
                raise ValueError(
                    f"region {r!r}: the observation reads "
                    f"{self.scale[r].shape[0]} neurons but the recording has {n}"
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (lists of floats), e.g. for ``save_model(..., metadata=...)``."""
        return {
            "loss": self.loss,
            "activation": self.activation,
            "scale": {r: v.tolist() for r, v in self.scale.items()},
            "offset": {r: v.tolist() for r, v in self.offset.items()},
            "weight": {r: v.tolist() for r, v in self.weight.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Observation:
        def t(m: Mapping[str, Any]) -> dict[str, torch.Tensor]:
            return {str(r): torch.tensor(v, dtype=torch.float32) for r, v in m.items()}

        return cls(
            t(d["scale"]),
            t(d["offset"]),
            str(d.get("loss", "gaussian")),
            str(d.get("activation", "tanh")),
            t(d.get("weight", {})),
        )


# --------------------------------------------------------------------------- regulariser
class PathwaySparsity:
    r"""Group lasso over pathways: ``weight * sum ||W[dst, src]||_F / sqrt(size(dst))``.

    One term per declared recurrent projection between different regions (and the
    self-projections with ``self_connections=True``). Each block's norm shrinks as a
    whole, so pathways the data do not need go to (near) zero instead of every synapse
    shrinking a little: what a fit that declares every pair of regions needs to tell
    absent pathways from weak ones. A regulariser for :func:`fit` (``losses=``) or
    :func:`mrnngraph.train`.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> term = PathwaySparsity(1e-2)
    >>> term.name, bool(term(model, None, None) > 0)
    ('pathway_sparsity', True)
    """

    name = "pathway_sparsity"

    def __init__(self, weight: float, *, self_connections: bool = False):
        self.weight = _check_number("weight", weight, positive=False)
        self.self_connections = bool(self_connections)

    def __call__(self, model: nn.Module, out: Any, batch: Any) -> torch.Tensor:
        w = model.weight_hh
        lay = model.layout
        total = w.new_zeros(())
        for (src, dst), block in model.circuit.blocks.items():
            if block.family != "hh" or (src == dst and not self.self_connections):
                continue
            rows, cols = lay.slice(dst), lay.slice(src)
            total = total + (w[rows, cols].pow(2).sum() + 1e-12).sqrt() / math.sqrt(
                rows.stop - rows.start
            )
        return self.weight * total


# --------------------------------------------------------------------------- history
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


# --------------------------------------------------------------------------- helpers
def _steps_per_bin(model: Any, recording: Recording) -> int:
    k = recording.dt / model.dt
    if abs(k - round(k)) > 1e-6 * k or round(k) < 1:
        raise ValueError(
            f"the recording's bin width ({recording.dt:g} ms) must be a whole "
            f"number of model steps (model dt = {model.dt:g} ms); build the "
            f"model with dt={recording.dt:g} or a divisor of it"
        )
    return int(round(k))


def _observed_index(model: Any, recording: Recording) -> torch.Tensor:
    lay = model.layout
    return torch.cat(
        [
            torch.arange(lay.slice(r).start, lay.slice(r).start + n)
            for r, n in recording.n_neurons.items()
        ]
    )


def _prepare(model: Any, recording: Recording) -> int:
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a mrnngraph.Recording; got {type(recording).__name__}")
    recording.check_against(model)
    if recording.n_steps < 2:
        raise ValueError(
            f"the recording has {recording.n_steps} time bin; fitting predicts "
            "bins 1..T-1 from bin 0, so it needs at least 2"
        )
    return _steps_per_bin(model, recording)


def _run(
    model: Any,
    obs: Observation,
    rates: Mapping[str, torch.Tensor],
    inputs: torch.Tensor,
    latent_x0: torch.Tensor,
    k: int,
) -> tuple[Any, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Free run from each trial's first bin; returns (out, x0, inputs per step, predictions
    (B, T-1, n) of bins 1..T-1 in data units)."""
    lay = model.layout
    B = inputs.shape[0]
    x0 = latent_x0.expand(B, -1).clone()
    for r, y in rates.items():
        s = lay.slice(r)
        n = y.shape[2]
        x0[:, s.start : s.start + n] = obs.initial_state(r, y[:, 0])
    u = inputs[:, 1:]  # the input of bin t + 1 drives the steps that end in bin t + 1
    if k > 1:
        u = u.repeat_interleave(k, dim=1)
    batch_first = getattr(model, "batch_first", True)
    out = model(u if batch_first else u.transpose(0, 1), x0)
    if not batch_first:
        out = type(out)(*(t.transpose(0, 1) for t in out))
    h = out.rates[:, k - 1 :: k]
    pred = {}
    for r, y in rates.items():
        s = lay.slice(r)
        pred[r] = obs.decode(r, h[..., s.start : s.start + y.shape[2]])
    return out, x0, u, pred


def _tensors(recording: Recording, model: Any) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    dev, dtype = model.alpha.device, model.alpha.dtype
    rates = {r: torch.as_tensor(v, device=dev, dtype=dtype) for r, v in recording.rates.items()}
    if recording.inputs is None:
        u = torch.zeros(recording.n_trials, recording.n_steps, 0, device=dev, dtype=dtype)
    else:
        u = torch.as_tensor(recording.inputs, device=dev, dtype=dtype)
    return rates, u


def _observation_of(
    model: Any, recording: Recording, observation: Observation | None
) -> Observation:
    obs = observation if observation is not None else getattr(model, "observation", None)
    if obs is None:
        obs = Observation.identity(recording, model.activation)
    if not isinstance(obs, Observation):
        raise TypeError(
            f"observation must be a mrnngraph.fitting.Observation; got {type(obs).__name__}"
        )
    obs.covers(recording)
    return obs


def free_run(
    model: Any,
    recording: Recording,
    *,
    observation: Observation | None = None,
) -> tuple[Any, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model`` free from each trial's first bin with the recording's inputs.

    Returns
    -------
    out : RNNOutput
        Batch first, over ``(T - 1) * steps_per_bin`` model steps.
    x0 : Tensor, shape (trials, H)
        The initial states (observed units from the data, latent from ``model.x0``).
    inputs : Tensor, shape (trials, (T - 1) * steps_per_bin, I)
        The inputs of each model step.
    predictions : dict of str to Tensor, shape (trials, T - 1, neurons)
        Bins ``1..T-1`` of each region in the data's units.
    """
    k = _prepare(model, recording)
    obs = _observation_of(model, recording, observation)
    rates, u = _tensors(recording, model)
    with torch.no_grad():
        return _run(model, obs, rates, u, model.x0, k)


def reconstruct(
    model: Any, recording: Recording, *, observation: Observation | None = None
) -> Recording:
    """The model's version of ``recording``: its free run, read out in the data's units.

    Bin 0 is the data (each trial starts there); bins ``1..T-1`` are the model's.

    Examples
    --------
    >>> import numpy as np, torch, mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, activation="tanh")
    >>> from mrnngraph.recording import activity
    >>> rec = activity(model, torch.randn(2, 20, 3))
    >>> rec_m = reconstruct(model, rec)
    >>> rec_m.rates["a1"].shape
    (2, 20, 10)
    """
    _, _, _, pred = free_run(model, recording, observation=observation)
    rates = {
        r: np.concatenate([recording.rates[r][:, :1], p.cpu().numpy()], axis=1)
        for r, p in pred.items()
    }
    return Recording(rates, recording.dt, inputs=recording.inputs, trials=recording.trials)


def pvar(
    model: Any,
    recording: Recording,
    *,
    observation: Observation | None = None,
) -> dict[str, float]:
    r"""CURBD's percent variance explained of the model's free run, overall and per region.

    :math:`\mathrm{pVar} = 1 - \|D - M\|_F^2 / (N T \sigma_D^2)` with :math:`D` the data,
    :math:`M` the model (:func:`reconstruct`), :math:`N T` the number of entries and
    :math:`\sigma_D` the standard deviation of all the data, over bins ``1..T-1`` of
    every trial (bin 0 is where each trial starts, not a prediction). ``"all"`` pools
    every recorded neuron; each region uses its own neurons. 1 is perfect, 0 is as good
    as the data's grand mean, and it can be negative. Data in their own units (as CURBD,
    which scales all data by one number, leaving pVar unchanged).

    Returns
    -------
    dict
        ``{"all": float, region: float, ...}``; a region whose data never vary gives NaN.
    """
    _, _, _, pred = free_run(model, recording, observation=observation)
    out: dict[str, float] = {}
    sse_all, data_all = 0.0, []
    per: dict[str, float] = {}
    for r, p in pred.items():
        d = recording.rates[r][:, 1:].astype(np.float64)
        err = float(((d - p.cpu().double().numpy()) ** 2).sum())
        var = float(d.var())
        per[r] = 1.0 - err / (d.size * var) if var > 0 else math.nan
        sse_all += err
        data_all.append(d.ravel())
    d = np.concatenate(data_all)
    var = float(d.var())
    out["all"] = 1.0 - sse_all / (d.size * var) if var > 0 else math.nan
    out.update(per)
    return out


# --------------------------------------------------------------------------- fit
def _check_number(name: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a float; got {type(value).__name__}")
    if not math.isfinite(value) or (positive and value <= 0) or value < 0:
        raise ValueError(f"{name} must be a float {'> 0' if positive else '>= 0'}; got {value!r}")
    return float(value)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return value


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

    if not isinstance(model, nn.Module) or not hasattr(model, "layout"):
        raise TypeError(f"model must be a mrnngraph.MultiRegionRNN; got {type(model).__name__}")
    steps = _check_int("steps", steps, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    lr = _check_number("lr", lr)
    output_weight = _check_number("output_weight", output_weight, positive=False)
    if clip_grad is not None:
        clip_grad = _check_number("clip_grad", clip_grad)
    if loss not in ("gaussian", "poisson"):
        raise ValueError(f"loss must be 'gaussian' or 'poisson'; got {loss!r}")
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
        _prepare(model, validation)
        if validation.n_neurons != recording.n_neurons:
            raise ValueError(
                f"validation has neurons {validation.n_neurons} but the "
                f"training recording has {recording.n_neurons}"
            )
        if eval_every is None:
            eval_every = max(1, steps // 20)
    if eval_every is not None:
        eval_every = _check_int("eval_every", eval_every, 1)
    if early_stopping is not None:
        early_stopping = _check_int("early_stopping", early_stopping, 1)
        if validation is None:
            raise ValueError("early_stopping needs a validation recording")
    terms = _terms(losses)
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
        out, _, u_steps, pred = _run(_Bound(model, kwargs), obs, sub, u, x0_full(), k)
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
        values = [(name, term(model, out, batch)) for name, term in terms]
        for _, v in values:
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
            value = float(total.detach())
            if not math.isfinite(value):
                raise fail(step, "loss", value)
            norm = guarded_backward(opt, total, params, good, clip_grad, fail, step)
            good_step = step
            opt.step()
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
