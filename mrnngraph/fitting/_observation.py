"""The per-neuron read-out of the observed units (:class:`Observation`) and the inverses
that start each trial from its data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F

from ..recording import Recording

__all__ = ["Observation"]

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

    def _affine(self, region: str, like: torch.Tensor, dims: int) -> tuple[torch.Tensor, ...]:
        """:math:`a, c` of ``region`` as ``like``'s dtype and device, broadcastable against a
        result of ``dims`` dimensions."""
        return self.scale[region].to(like), self.offset[region].to(like)

    def decode(self, region: str, h: torch.Tensor) -> torch.Tensor:
        """The data the units' rates ``h (..., neurons)`` stand for (mean count for Poisson)."""
        a, c = self._affine(region, h, h.dim())
        z = a * h + c
        return F.softplus(z) if self.loss == "poisson" else z

    def initial_state(self, region: str, y0: torch.Tensor) -> torch.Tensor:
        """Pre-activation states whose (decoded) rates are the data ``y0 (B, neurons)``."""
        a, c = self._affine(region, y0, y0.dim() + self._members)
        h = (_inverse_link(self.loss, y0) - c) / a
        return _inverse_activation(self.activation, h)

    #: Leading member dimensions of what :meth:`initial_state` returns (0 here).
    _members = 0

    def detached(self) -> Observation:
        """A copy holding detached clones of the tensors (what a fit keeps)."""
        return Observation(
            {r: v.detach().clone() for r, v in self.scale.items()},
            {r: v.detach().clone() for r, v in self.offset.items()},
            self.loss,
            self.activation,
            {r: v.detach().clone() for r, v in self.weight.items()},
        )

    def covers(self, recording: Recording) -> None:
        for r, n in recording.n_neurons.items():
            if r not in self.scale:
                raise ValueError(
                    f"the observation has no neurons of region {r!r} (it "
                    f"covers {', '.join(map(repr, self.scale))}); fit on a "
                    "recording of the same regions"
                )
            if self.scale[r].shape[-1] != n:
                raise ValueError(
                    f"region {r!r}: the observation reads "
                    f"{self.scale[r].shape[-1]} neurons but the recording has {n}"
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


class _StackedObservation(Observation):
    """The observations of an ensemble's ``N`` members as one: ``scale[r]`` and
    ``offset[r]`` are ``(N, neurons)`` (member ``k``'s in row ``k``), ``weight[r]`` is
    shared (it comes from the data). :meth:`decode` reads rates ``(N, ..., neurons)``;
    :meth:`initial_state` maps the data ``(..., neurons)``, shared by the members, to
    states ``(N, ..., neurons)``."""

    _members = 1

    def _affine(self, region: str, like: torch.Tensor, dims: int) -> tuple[torch.Tensor, ...]:
        a, c = self.scale[region].to(like), self.offset[region].to(like)
        shape = (a.shape[0], *([1] * (dims - 2)), a.shape[-1])
        return a.reshape(shape), c.reshape(shape)

    @classmethod
    def stack(cls, members: Sequence[Observation]) -> _StackedObservation:
        """One observation per member, stacked (they must read the same neurons with the
        same link)."""
        first = members[0]
        for k, o in enumerate(members):
            if not isinstance(o, Observation):
                raise TypeError(
                    "observation must be a mrnngraph.fitting.Observation or one per member; "
                    f"item {k} is a {type(o).__name__}"
                )
            if (o.loss, o.activation) != (first.loss, first.activation) or {
                r: v.shape for r, v in o.scale.items()
            } != {r: v.shape for r, v in first.scale.items()}:
                raise ValueError(
                    f"the observation of member {k} differs from member 0's in its loss, "
                    "activation or neurons; an ensemble's members read the same neurons alike"
                )
        return cls(
            {r: torch.stack([o.scale[r] for o in members]) for r in first.scale},
            {r: torch.stack([o.offset[r] for o in members]) for r in first.offset},
            first.loss,
            first.activation,
            dict(first.weight),
        )

    def member(self, k: int) -> Observation:
        """Member ``k``'s observation (a detached copy)."""
        one = {r: v[k] for r, v in self.scale.items()}, {r: v[k] for r, v in self.offset.items()}
        return Observation(*one, self.loss, self.activation, self.weight).detached()


def _copy_observation(
    obs: Any,
    recording: Any,
    activation: str,
    loss: str | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
) -> Observation:
    """A detached copy of ``obs`` in ``dtype`` on ``device``, after checking that it reads
    ``recording``'s neurons for a model of ``activation`` (and, given, with the link of
    ``loss``)."""
    if not isinstance(obs, Observation):
        raise TypeError(
            f"observation must be a mrnngraph.fitting.Observation; got {type(obs).__name__}"
        )
    obs.covers(recording)
    if obs.activation != activation:
        raise ValueError(
            f"the observation was made for activation {obs.activation!r}, the model has "
            f"{activation!r}"
        )
    if loss is not None and obs.loss != loss:
        raise ValueError(
            f"the observation was made for loss={obs.loss!r}; this fit has loss={loss!r}"
        )

    def copy(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {r: v.detach().to(device=device, dtype=dtype, copy=True) for r, v in d.items()}

    return Observation(
        copy(obs.scale), copy(obs.offset), obs.loss, obs.activation, copy(obs.weight)
    )
