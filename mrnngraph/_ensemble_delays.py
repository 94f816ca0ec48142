"""Conduction delays of an ensemble's members: the delayed input drive and readout.

A member whose input or output edges have a ``delay`` gets its drive and readout from
its own :class:`mrnngraph._delay_model.ModelDelays`, member by member, exactly as its
model computes them; the recurrent delays run in the one scan of all members
(:class:`mrnngraph._ensemble_blocks.EnsembleBlocks` with ``dt``). Without delays the
ensemble never comes here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._delay_model import ModelDelays

__all__ = ["delayed_drive", "delayed_readout", "has_input_delays", "has_output_delays"]


def has_input_delays(delays: Sequence[ModelDelays | None]) -> bool:
    return any(d is not None and d.ih is not None for d in delays)


def has_output_delays(delays: Sequence[ModelDelays | None]) -> bool:
    return any(d is not None and d.ho is not None for d in delays)


def delayed_drive(
    delays: Sequence[ModelDelays | None],
    u: torch.Tensor,
    w_ih: torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    """``(T, B, N * H)`` drive from inputs ``(T, B, I)`` (shared) or ``(N, T, B, I)``,
    each member's as its model's forward computes it."""
    parts = []
    for k, d in enumerate(delays):
        uk = u if u.dim() == 3 else u[k]
        T, B, _ = uk.shape
        if d is None:
            y = torch.addmm(bias[k], uk.reshape(T * B, -1), w_ih[k].t().contiguous())
            parts.append(y.view(T, B, -1))
        else:
            parts.append(d.drive(uk, w_ih[k], bias[k]))
    T, B, H = parts[0].shape
    return torch.stack(parts, dim=2).reshape(T, B, len(parts) * H)


def delayed_readout(
    delays: Sequence[ModelDelays | None],
    rates: torch.Tensor,
    x0: torch.Tensor,
    clamp: tuple[torch.Tensor, torch.Tensor] | None,
    activation: str,
    w_ho: torch.Tensor,
    bias_ho: torch.Tensor | None,
) -> torch.Tensor:
    """``(N, T, B, O)`` outputs from the scan's rates ``(T, B, N * H)`` and ``x0``
    ``(B, N * H)``, each member's as its model's forward computes it."""
    N = len(delays)
    T, B, NH = rates.shape
    H = NH // N
    out = []
    for k, d in enumerate(delays):
        units = slice(k * H, (k + 1) * H)
        r = rates[..., units]
        b = None if bias_ho is None else bias_ho[k]
        if d is None or d.ho is None:
            out.append(torch.nn.functional.linear(r, w_ho[k], b))
            continue
        c = None if clamp is None else (clamp[0][units], clamp[1][units])
        out.append(d.readout(r, x0[:, units], c, activation, w_ho[k], b))
    return torch.stack(out)
