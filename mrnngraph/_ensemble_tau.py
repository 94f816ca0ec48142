r"""Learned time constants of an ensemble's members: :class:`StackedTimeConstants`.

Each member that has ``learn_tau`` regions trains its own time constants exactly as
its :class:`~mrnngraph.model.MultiRegionRNN` does (:mod:`mrnngraph._tau`): the same
reflected log-parametrization within the same bounds, elementwise, so member ``k``'s
``alpha`` has the bits its own model computes. The trained tensor is one raw value per
unit and member, ``[N, H]``; the raw values of units that do not learn (every unit of a
member without ``learn_tau``) are not read and get a zero gradient, so the optimizer
leaves them where they are and a member's gradient norm is its own model's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from ._tau import ROUNDING, TimeConstants

__all__ = ["StackedTimeConstants", "stack_time_constants", "member_raw_alpha"]


class StackedTimeConstants(nn.Module):
    """Parametrization ``raw [N, H] -> alpha [N, H]``: the learned units' alpha from their
    raw values (as :class:`mrnngraph._tau.TimeConstants` computes it), every other
    unit's fixed.

    Parameters
    ----------
    fixed : Tensor, shape (N, H)
        The alpha every unit starts from (``dt / tau``).
    learn : Tensor of bool, shape (N, H)
        The learned units of each member.
    alpha_lo, alpha_hi, span : Tensor, shape (N, H)
        Bounds and ``log(alpha_hi / alpha_lo)`` of the learned units (values elsewhere
        are never used, but are finite).
    regions : list of list of str
        Per member, the region of each unit (for error messages).
    """

    def __init__(
        self,
        fixed: torch.Tensor,
        learn: torch.Tensor,
        alpha_lo: torch.Tensor,
        alpha_hi: torch.Tensor,
        span: torch.Tensor,
        regions: list[list[str]],
    ):
        super().__init__()
        self.register_buffer("fixed", fixed.clone())
        self.register_buffer("learn", learn.bool())
        self.register_buffer("alpha_lo", alpha_lo)
        self.register_buffer("alpha_hi", alpha_hi)
        self.register_buffer("span", span)
        self.regions = regions

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        # TimeConstants.forward, elementwise on the stack (the same bits per unit).
        period = 2.0 * self.span
        m = torch.remainder(raw, period)
        g = torch.where(m <= self.span, m, period - m)
        a = torch.clamp(self.alpha_hi * torch.exp(-g), min=self.alpha_lo, max=self.alpha_hi)
        return torch.where(self.learn, a, self.fixed)

    def right_inverse(self, alpha: torch.Tensor) -> torch.Tensor:
        """The raw values that give ``alpha`` (0 for units that do not learn); refuses
        (ValueError naming the member) a changed fixed unit or a learned one outside
        its bounds."""
        if alpha.shape != self.fixed.shape:
            raise ValueError(
                f"alpha must have shape {tuple(self.fixed.shape)}; got {tuple(alpha.shape)}"
            )
        alpha = alpha.detach().to(self.fixed)
        learn = self.learn
        for k in range(alpha.shape[0]):
            if not torch.equal(alpha[k][~learn[k]], self.fixed[k][~learn[k]]):
                raise ValueError(
                    f"alpha of member {k}: units that do not learn their time constants "
                    "are fixed at dt / tau; the new value changes some of them"
                )
        a = alpha.double()
        lo, hi = self.alpha_lo.double(), self.alpha_hi.double()
        bad = learn & ~(a.isfinite() & (a >= lo * (1 - ROUNDING)) & (a <= hi * (1 + ROUNDING)))
        if bool(bad.any()):
            k, i = (int(v) for v in torch.nonzero(bad)[0])
            raise ValueError(
                f"alpha of member {k}, a unit of region {self.regions[k][i]!r} (unit {i}), "
                f"must be in [{float(lo[k, i]):g}, {float(hi[k, i]):g}] (dt / tau within "
                f"its bounds); got {float(a[k, i])!r}"
            )
        raw = torch.minimum(torch.log(hi / a).clamp(min=0.0), self.span.double())
        return torch.where(learn, raw, torch.zeros_like(raw)).to(self.fixed)


def _time_constants(model: nn.Module) -> TimeConstants | None:
    if not parametrize.is_parametrized(model, "alpha"):
        return None
    return model.parametrizations.alpha[0]  # type: ignore[index,return-value]


def stack_time_constants(members: Sequence[nn.Module]) -> StackedTimeConstants | None:
    """The stacked parametrization of the members' ``alpha``, or None when no member
    learns its time constants (the ensemble's ``alpha`` is then a buffer)."""
    tcs = [_time_constants(m) for m in members]
    if all(tc is None for tc in tcs):
        return None
    fixed = torch.stack([m.alpha.detach() for m in members])
    learn = torch.zeros(fixed.shape, dtype=torch.bool, device=fixed.device)
    lo, hi = fixed.clone(), fixed.clone()
    span = torch.ones_like(fixed)
    regions = []
    for k, (m, tc) in enumerate(zip(members, tcs, strict=True)):
        lay = m.layout
        regions.append([lay.regions[int(r)] for r in lay.unit_region.tolist()])
        if tc is None:
            continue
        fixed[k] = tc.fixed
        learn[k, tc.index] = True
        lo[k, tc.index] = tc.alpha_lo
        hi[k, tc.index] = tc.alpha_hi
        span[k, tc.index] = tc.span
    return StackedTimeConstants(fixed, learn, lo, hi, span, regions)


def member_raw_alpha(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(index, raw)``: a member model's learned units and their raw values, or None."""
    tc = _time_constants(model)
    if tc is None:
        return None
    return tc.index, model.parametrizations.alpha.original  # type: ignore[union-attr]
