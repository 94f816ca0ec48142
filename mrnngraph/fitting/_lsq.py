"""The constrained least-squares machinery of :func:`~mrnngraph.fitting.regress`: the
feasible set (:class:`_Constraints`), the pathway groups, per-row Gram matrices and the
ADMM solver."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..recording import Recording

__all__: list[str] = []


def _rows_times(v: torch.Tensor, mats: torch.Tensor) -> torch.Tensor:
    """Row ``i`` of ``v (R, F)`` times ``mats[i] (F, F)``, or times ``mats[0]`` for all."""
    if mats.shape[0] == 1:
        return v @ mats[0]
    return torch.bmm(v.unsqueeze(1), mats).squeeze(1)


def _weighted_grams(feats: torch.Tensor, w: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """``G_i = sum_n w[n, i] feats[n]' feats[n]`` for every column ``i`` of ``w``, a few
    rows at a time (the weighted copies of ``feats`` are ``chunk * n * F``). Summed in
    single precision (the cost of a call is ``n_obs * n * F^2`` multiply-adds, 2.5x
    less in float32 here), returned in ``feats``' precision."""
    out = feats.new_empty(w.shape[1], feats.shape[1], feats.shape[1])
    f32, w32 = feats.float(), w.float()
    ft = f32.T
    for i in range(0, w.shape[1], chunk):
        part = w32[:, i : i + chunk].T.unsqueeze(2) * f32  # (c, n, F)
        out[i : i + chunk] = torch.matmul(ft, part).transpose(1, 2).to(out.dtype)
    return out


def _admm(
    gram: torch.Tensor,
    cross: torch.Tensor,
    reg: torch.Tensor,
    prox: Callable[[torch.Tensor, float], torch.Tensor],
    start: torch.Tensor,
    iterations: int,
    tol: float,
) -> tuple[torch.Tensor, int, bool]:
    """ADMM (Boyd et al. 2011, scaled form) for ``min 1/2 sum_i th_i G_i th_i' - C_i th_i'
    + 1/2 sum reg th^2 + g(th)``, ``g`` given by its proximal map: the quadratic step is
    one product with ``(G_i + diag(reg) + rho I)^-1``, factored once per ``rho``; ``rho``
    is balanced between the primal and dual residuals (every 25 iterations, at most 10
    times). Returns the feasible iterate, the iterations run, and whether it converged."""
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    rho = float(gram.diagonal(dim1=-2, dim2=-1).mean()) + float(reg.mean())
    rho = max(rho, 1e-12)

    def factor(r: float) -> torch.Tensor:
        # The quadratic step is regularised by rho, so its inverse is well conditioned and
        # applied in single precision (the per-row products are bound by memory).
        m = torch.linalg.cholesky(gram + torch.diag(reg) + r * eye)
        return torch.cholesky_inverse(m).float()

    inv, rebalanced = factor(rho), 0
    psi, dual = start.clone(), torch.zeros_like(start)
    scale = max(float(cross.norm()), 1e-12)
    it, converged = 0, False
    while it < iterations:
        it += 1
        v = cross + rho * (psi - dual)
        theta = _rows_times(v.float(), inv).to(v.dtype)
        old = psi
        psi = prox(theta + dual, 1.0 / rho)
        dual = dual + theta - psi
        primal = float((theta - psi).norm())
        dual_res = rho * float((psi - old).norm())
        size = max(float(theta.norm()), float(psi.norm()), 1e-12)
        if primal <= tol * size and dual_res <= tol * max(scale, rho * float(dual.norm())):
            converged = True
            break
        if it % 25 == 0 and rebalanced < 10:
            ratio = (primal / size) / max(dual_res / scale, 1e-300)
            if ratio > 10 or ratio < 0.1:
                f = 3.0 if ratio > 10 else 1 / 3.0
                rho, dual = rho * f, dual / f
                inv, rebalanced = factor(rho), rebalanced + 1
    return psi, it, converged


class _Constraints:
    """The feasible set of :math:`\\Theta = [W_{obs,obs}, W_{in,obs}, b_{obs}]`: which
    entries are free, their sign bounds, and the values of the fixed ones."""

    def __init__(self, model: nn.Module, idx: torch.Tensor, **f64: Any):
        rows = idx
        parts_free, parts_lo, parts_hi, parts_fixed = [], [], [], []
        for name, cols in (("weight_hh", idx), ("weight_ih", None)):
            c = model._constraint(name)
            w = getattr(model, name).detach().to(**f64)[rows]
            mask = c.mask[rows]
            sign = c.sign
            trainable = c.trainable[rows] if c.trainable is not None else None
            if cols is not None:
                w, mask = w[:, cols], mask[:, cols]
                sign = None if sign is None else sign[cols]
                trainable = None if trainable is None else trainable[:, cols]
            free = mask if trainable is None else mask & trainable
            lo = torch.full_like(w, -math.inf)
            hi = torch.full_like(w, math.inf)
            if sign is not None:
                s = sign.to(**f64).expand_as(w)
                lo = torch.where(s > 0, torch.zeros_like(w), lo)
                hi = torch.where(s < 0, torch.zeros_like(w), hi)
            parts_free.append(free)
            parts_lo.append(lo)
            parts_hi.append(hi)
            parts_fixed.append(torch.where(mask, w, torch.zeros_like(w)))
        b = model.bias.detach().to(**f64)[rows].unsqueeze(1)
        learnable = torch.zeros_like(b, dtype=torch.bool)
        if parametrize.is_parametrized(model, "bias"):
            learnable = model.parametrizations.bias[0].learnable[rows].unsqueeze(1)
        parts_free.append(learnable)
        parts_lo.append(torch.full_like(b, -math.inf))
        parts_hi.append(torch.full_like(b, math.inf))
        parts_fixed.append(b)
        self.free = torch.cat(parts_free, dim=1)
        self.lo = torch.cat(parts_lo, dim=1)
        self.hi = torch.cat(parts_hi, dim=1)
        self.start = torch.cat(parts_fixed, dim=1)
        self.signed = self.free & (torch.isfinite(self.lo) | torch.isfinite(self.hi))
        self.idx = idx

    def project(self, v: torch.Tensor) -> torch.Tensor:
        return torch.where(self.free, torch.clamp(v, self.lo, self.hi), self.start)

    @torch.no_grad()
    def write(self, model: nn.Module, theta: torch.Tensor) -> None:
        idx, n_obs = self.idx, self.idx.numel()
        n_in = model.input_size
        w_hh = model.weight_hh.detach().clone()
        dtype = w_hh.dtype
        # Under Dale's law an entry at 0 has no gradient (d|W|/dW = 0 there): keep the
        # smallest positive magnitude so that a following fit can move it.
        tiny = torch.finfo(dtype).tiny
        sgn = torch.where(self.lo == 0, 1.0, -1.0).to(theta)
        theta = torch.where(self.signed & (theta == 0), sgn * tiny, theta)
        block = theta[:, :n_obs].to(dtype)
        w_hh[idx.unsqueeze(1), idx.unsqueeze(0)] = block
        model.weight_hh = w_hh
        if n_in:
            w_ih = model.weight_ih.detach().clone()
            w_ih[idx] = theta[:, n_obs : n_obs + n_in].to(dtype)
            model.weight_ih = w_ih
        if parametrize.is_parametrized(model, "bias"):
            b = model.bias.detach().clone()
            b[idx] = theta[:, -1].to(dtype)
            model.bias = b


def _groups(
    model: nn.Module,
    recording: Recording,
    con: _Constraints,
    self_connections: bool,
) -> list[tuple[slice, slice, int, tuple[str, str]]]:
    """The penalised pathways as (rows, cols) of :math:`\\Theta` (observed units only),
    the target region's size and the ``(src, dst)`` key; frozen or empty ones left out."""
    lay = model.layout
    pos, start = {}, 0
    for r, n in recording.n_neurons.items():
        pos[r] = slice(start, start + n)
        start += n
    out = []
    for (src, dst), block in model.circuit.blocks.items():
        if block.family != "hh" or (src == dst and not self_connections):
            continue
        if src not in pos or dst not in pos:
            continue
        rows, cols = pos[dst], pos[src]
        if not bool(con.free[rows, cols].any()):
            continue
        size = lay.slice(dst).stop - lay.slice(dst).start
        out.append((rows, cols, size, (src, dst)))
    return out
