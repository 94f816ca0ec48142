"""Regularisers added to the task loss (:class:`LossTerm` and its kinds) and the
:class:`StopAt` callback."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._params import FINITE, NON_NEGATIVE, STEPS, check
from ..tasks import Batch
from ._history import History

__all__ = ["LossTerm", "RateL2", "WeightL1", "WeightL2", "StopAt"]


class LossTerm(abc.ABC):
    """A regulariser: ``term(model, out, batch) -> scalar Tensor`` (already weighted).

    ``model`` is the bare :class:`~mrnngraph.MultiRegionRNN` (never the DDP wrapper),
    ``out`` its :class:`~mrnngraph.RNNOutput` (batch-first), ``batch`` the
    :class:`~mrnngraph.tasks.Batch`. Subclasses set :attr:`name`.
    """

    name: str = "term"
    weight: float = 1.0

    @abc.abstractmethod
    def __call__(self, model: nn.Module, out: Any, batch: Batch) -> torch.Tensor:
        """The weighted value of this term for one batch."""


def _names(name: str, value: Any, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A str or a non-empty sequence of str as a tuple (TypeError for other kinds, ValueError
    for an empty sequence or a name not in ``allowed``)."""
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(x, str) for x in items):
        raise TypeError(f"{name} must be a str or a sequence of str; got {value!r}")
    if allowed is not None and (not items or any(x not in allowed for x in items)):
        among = ", ".join(map(repr, allowed))
        raise ValueError(f"{name} must be one or more of {among}; got {value!r}")
    if not items:
        raise ValueError(f"{name} must name at least one; got {value!r}")
    return tuple(items)


class RateL2(LossTerm):
    """``weight * mean(rate**2)`` over the counted steps and the units of ``regions``.

    Parameters
    ----------
    weight : float
    regions : sequence of str, optional
        Region (or parent group) names; all recurrent units when omitted. Add one
        term per region for per-region weights.

    Examples
    --------
    >>> RateL2(1e-3, regions=["ctx_e"]).name
    'rate_l2[ctx_e]'
    """

    def __init__(self, weight: float, regions: Sequence[str] | None = None):
        self.weight = check("weight", weight, NON_NEGATIVE)
        self.regions = None if regions is None else _names("regions", regions)
        self.name = "rate_l2" if self.regions is None else f"rate_l2[{','.join(self.regions)}]"

    def __call__(self, model: nn.Module, out: Any, batch: Batch) -> torch.Tensor:
        rates = out.rates
        if self.regions is not None:
            rates = model.region_activity(rates, *self.regions)
        w = (batch.mask > 0).to(rates.dtype)
        per_step = rates.pow(2).mean(-1)
        return self.weight * (per_step * w).sum() / w.sum().clamp(min=1)


class _WeightNorm(LossTerm):
    p: int = 1

    def __init__(self, weight: float, which: str | Sequence[str] = "hh"):
        self.weight = check("weight", weight, NON_NEGATIVE)
        self.which = which = _names("which", which, ("hh", "ih", "ho"))
        self.name = f"weight_l{self.p}[{','.join(which)}]"

    def __call__(self, model: nn.Module, out: Any, batch: Batch) -> torch.Tensor:
        total = 0.0
        for fam in self.which:
            w = getattr(model, f"weight_{fam}")
            n = getattr(model, f"mask_{fam}").sum().clamp(min=1)
            total = total + (w.abs() if self.p == 1 else w.pow(2)).sum() / n
        return self.weight * total


class WeightL1(_WeightNorm):
    """``weight * mean |W|`` over the existing synapses of the named matrices
    (``"hh"`` recurrent, ``"ih"`` input, ``"ho"`` readout)."""

    p = 1


class WeightL2(_WeightNorm):
    """``weight * mean W**2`` over the existing synapses of the named matrices."""

    p = 2


class StopAt:
    """Callback that stops training once the mean training accuracy of the last
    ``window`` steps reaches ``accuracy``.

    Examples
    --------
    >>> stop = StopAt(0.9, window=2)
    >>> h = History(step=[1, 2], accuracy=[0.8, 0.95])
    >>> stop(2, h, None), stop(3, History(step=[1, 2, 3], accuracy=[0.8, 0.95, 0.97]), None)
    (False, True)
    """

    def __init__(self, accuracy: float, *, window: int = 20):
        self.threshold = check("accuracy", accuracy, FINITE)
        self.window = check("window", window, STEPS)

    def __call__(self, step: int, history: History, model: Any) -> bool:
        acc = history.accuracy[-self.window :]
        if len(acc) < self.window:
            return False
        return sum(acc) / len(acc) >= self.threshold


def _terms(losses: Any) -> list[tuple[str, Callable]]:
    if losses is None:
        return []
    if isinstance(losses, Mapping):
        items = list(losses.items())
    elif callable(losses):
        items = [(getattr(losses, "name", "term"), losses)]
    else:
        items = [(getattr(t, "name", f"term{k}"), t) for k, t in enumerate(losses)]
    out, seen = [], set()
    for name, term in items:
        if not callable(term):
            raise TypeError(f"loss term {name!r} is not callable; got {type(term).__name__}")
        base, k = str(name), 2
        while name in seen:
            name, k = f"{base}#{k}", k + 1
        seen.add(name)
        out.append((str(name), term))
    return out
