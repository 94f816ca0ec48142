"""Running a fitted model free on a recording (:func:`free_run`), its version of the data
(:func:`reconstruct`) and CURBD's score (:func:`pvar`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..recording import Recording
from ._observation import Observation, _StackedObservation

__all__ = ["free_run", "reconstruct", "pvar"]


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


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module) or not hasattr(model, "layout"):
        raise TypeError(f"model must be a mrnngraph.MultiRegionRNN; got {type(model).__name__}")


def _prepare(model: Any, recording: Recording, name: str = "recording") -> int:
    """The model steps per bin of ``recording`` (argument ``name``), after checking it
    against ``model``."""
    _check_model(model)
    if not isinstance(recording, Recording):
        raise TypeError(f"{name} must be a mrnngraph.Recording; got {type(recording).__name__}")
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
    forcing: int | None = None,
) -> tuple[Any, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Free run from each trial's first bin; returns (out, x0, inputs per step, predictions
    (B, T-1, n) of bins 1..T-1 in data units).

    With ``forcing = m`` the observed units are set back to the data every ``m`` bins
    (bins 0, m, 2m, ...: the run is ``ceil((T-1)/m)`` pieces, latent units carried
    through); ``None`` runs free over the whole trial.

    An ensemble (``latent_x0 (N, H)``, ``obs`` a :class:`_StackedObservation`) runs every
    member on the same trials: ``out``, ``x0`` and the predictions get a leading member
    dimension; the inputs are shared."""
    lay = model.layout
    B = inputs.shape[0]
    T = inputs.shape[1]
    lead = latent_x0.shape[:-1]  # () for a model, (N,) for an ensemble

    def start(j: int, base: torch.Tensor) -> torch.Tensor:
        x = base.clone()
        for r, y in rates.items():
            s = lay.slice(r)
            x[..., s.start : s.start + y.shape[2]] = obs.initial_state(r, y[:, j])
        return x

    x0 = start(0, latent_x0[..., None, :].expand(*lead, B, -1))
    u = inputs[:, 1:]  # the input of bin t + 1 drives the steps that end in bin t + 1
    if k > 1:
        u = u.repeat_interleave(k, dim=1)
    batch_first = getattr(model, "batch_first", True)

    def call(u_part: torch.Tensor, x_start: torch.Tensor) -> Any:
        o = model(u_part if batch_first else u_part.transpose(0, 1), x_start)
        return o if batch_first else type(o)(*(t.transpose(-3, -2) for t in o))

    m = T - 1 if forcing is None else min(forcing, T - 1)
    observed = sum(y.shape[2] for y in rates.values())
    if m < T - 1 and observed == lay.hidden_size:
        # Every unit observed: the pieces are independent, so they run as one batch
        # (same result as the loop below, a fraction of its sequential steps); the last
        # piece is padded with zero input after the last bin, and the padding dropped.
        n = -(-(T - 1) // m)
        xs = x0.unsqueeze(-2).repeat(*([1] * len(lead)), 1, n, 1)
        for r, y in rates.items():
            s = lay.slice(r)
            xs[..., s.start : s.start + y.shape[2]] = obs.initial_state(r, y[:, : T - 1 : m])
        xs = xs.reshape(*lead, B * n, -1)
        pad = u.new_zeros(B, (n * m - (T - 1)) * k, u.shape[2])
        o = call(torch.cat([u, pad], dim=1).reshape(B * n, m * k, -1), xs)
        out = type(o)(
            *(t.reshape(*lead, B, n * m * k, t.shape[-1])[..., : (T - 1) * k, :] for t in o)
        )
    else:
        pieces, x = [], x0
        for j in range(0, T - 1, m):
            o = call(u[:, j * k : (j + m) * k], x if j == 0 else start(j, x))
            pieces.append(o)
            x = o.states[..., -1, :]
        out = (
            pieces[0]
            if len(pieces) == 1
            else type(pieces[0])(*(torch.cat(parts, dim=-2) for parts in zip(*pieces, strict=True)))
        )
    h = out.rates[..., k - 1 :: k, :]
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


def _is_ensemble(model: Any) -> bool:
    from ..ensemble import Ensemble

    return isinstance(model, Ensemble)


def _observation_of(model: Any, recording: Recording, observation: Any) -> Observation:
    """``observation``, else the one :func:`fit` set on ``model``, else the identity; for
    an ensemble, one per member stacked (:class:`_StackedObservation`)."""
    if _is_ensemble(model):
        obs = observation if observation is not None else getattr(model, "observations", None)
    else:
        obs = observation if observation is not None else getattr(model, "observation", None)
    if obs is None:
        obs = Observation.identity(recording, model.activation)
    if _is_ensemble(model) and not isinstance(obs, _StackedObservation):
        n = model.n_members
        if isinstance(obs, Observation):
            obs = [obs] * n
        if not isinstance(obs, Sequence) or isinstance(obs, str) or len(obs) != n:
            raise TypeError(
                "observation of an ensemble must be an Observation (shared by the members) "
                f"or a sequence of {n}, one per member; got {type(obs).__name__}"
                + (f" of length {len(obs)}" if isinstance(obs, Sequence) else "")
            )
        obs = _StackedObservation.stack(obs)
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
    observation: Any = None,
) -> tuple[Any, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model`` free from each trial's first bin with the recording's inputs.

    An :class:`~mrnngraph.Ensemble` runs every member on the same trials, each with its
    own observation (``ens.observations`` after :func:`mrnngraph.fit`, or
    ``observation=``: one :class:`Observation` for all members or a sequence of one per
    member); ``out``, ``x0`` and ``predictions`` then have a leading member dimension
    ``N`` (entry ``k`` is what member ``ens[k]`` gives alone); ``inputs`` are shared.

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
    model: Any, recording: Recording, *, observation: Any = None
) -> Recording | list[Recording]:
    """The model's version of ``recording``: its free run, read out in the data's units.

    Bin 0 is the data (each trial starts there); bins ``1..T-1`` are the model's. For an
    :class:`~mrnngraph.Ensemble`, a list with one Recording per member (as
    :func:`mrnngraph.report` gives one report per member).

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

    def one(p: Mapping[str, torch.Tensor]) -> Recording:
        rates = {
            r: np.concatenate([recording.rates[r][:, :1], v.cpu().numpy()], axis=1)
            for r, v in p.items()
        }
        return Recording(rates, recording.dt, inputs=recording.inputs, trials=recording.trials)

    if _is_ensemble(model):
        return [one({r: v[k] for r, v in pred.items()}) for k in range(model.n_members)]
    return one(pred)


def pvar(
    model: Any,
    recording: Recording,
    *,
    observation: Any = None,
) -> dict[str, Any]:
    r"""CURBD's percent variance explained of the model's free run, overall and per region.

    :math:`\mathrm{pVar} = 1 - \|D - M\|_F^2 / (N T \sigma_D^2)` with :math:`D` the data,
    :math:`M` the model (:func:`reconstruct`), :math:`N T` the number of entries and
    :math:`\sigma_D` the standard deviation of all the data, over bins ``1..T-1`` of
    every trial (bin 0 is where each trial starts, not a prediction). ``"all"`` pools
    every recorded neuron; each region uses its own neurons. 1 is perfect, 0 is as good
    as the data's grand mean, and it can be negative. Data in their own units (as CURBD,
    which scales all data by one number, leaving pVar unchanged).

    Parameters
    ----------
    model : MultiRegionRNN or Ensemble
    recording : Recording
    observation : Observation, or a sequence of one per member for an ensemble, optional
        Default: ``model.observation`` (``ens.observations``), else the identity.

    Returns
    -------
    dict
        ``{"all": float, region: float, ...}``; a region whose data never vary gives NaN.
        For an :class:`~mrnngraph.Ensemble` of ``N`` members the same keys with a
        leading member dimension, as :func:`mrnngraph.analysis.currents` gives: each
        value is a ``numpy.ndarray`` of shape ``(N,)`` whose entry ``k`` is member
        ``k``'s score (``pvar(ens, rec)["all"][k] == pvar(ens[k], rec)["all"]``, the
        members all run in one batched free run). The mean over members is
        ``scores["all"].mean()``.

    Examples
    --------
    >>> import torch, mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> ens = mg.Ensemble([mg.compile(two_area_ei(size=10), seed=s) for s in range(3)],
    ...                   activation="tanh")
    >>> from mrnngraph.recording import activity
    >>> rec = activity(ens[0], torch.randn(2, 20, 3))
    >>> scores = pvar(ens, rec)
    >>> sorted(scores), scores["all"].shape, bool(scores["all"][0] > 0.999)
    (['a1', 'a2', 'all'], (3,), True)
    """
    _, _, _, pred = free_run(model, recording, observation=observation)
    if not _is_ensemble(model):
        return _scores(pred, recording)
    members = [_scores({r: v[k] for r, v in pred.items()}, recording) for k in range(len(model))]
    return {key: np.array([m[key] for m in members]) for key in members[0]}


def _scores(pred: Mapping[str, torch.Tensor], recording: Recording) -> dict[str, float]:
    """pVar of one model's predictions (bins 1..T-1) against ``recording``."""
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
