"""The ensemble's input and readout projections, laid out for the scan without copies.

The scan's sequences are ``(T, B, N * H)`` (member ``k``'s units at ``k * H ..``).
Plain autograd would hand the readout's rate gradient back as ``(N, T * B, H)``
and copy it into that layout, and would allocate the drive afresh each call; at
``(T, B, N * H)`` sizes those are tens of MB, which glibc serves with fresh pages
every step (``mrnngraph._buffers``). These two functions write both straight into
pooled buffers of the scan's layout. Under ``create_graph=True`` their backward is
made of differentiable operations, so higher derivatives still work.
"""

from __future__ import annotations

import torch

from . import _buffers

__all__ = ["shared_drive", "stacked_readout"]


class _SharedDrive(torch.autograd.Function):
    """``drive[t, b, k*H + j] = bias[k, j] + w[k, j] . u[t*B + b]``: ``(T*B, I)`` inputs
    shared by every member, ``w`` ``[N, H, I]``, ``bias`` ``[N, H]`` -> ``(T*B, N*H)``."""

    @staticmethod
    def forward(u: torch.Tensor, w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        N, H, I = w.shape
        out = _buffers.empty((u.shape[0], N * H), u.dtype, u.device)
        return torch.addmm(bias.reshape(-1), u, w.reshape(N * H, I).t(), out=out)

    @staticmethod
    def setup_context(ctx, inputs, output):
        u, w, _ = inputs
        ctx.save_for_backward(u, w)

    @staticmethod
    def backward(ctx, g):
        u, w = ctx.saved_tensors
        N, H, I = w.shape
        needs = ctx.needs_input_grad
        grad_u = g @ w.reshape(N * H, I) if needs[0] else None
        # u^T g, [I, T*B] @ [T*B, N*H]: MKL runs this shape fast; g^T u ([N*H, T*B] @
        # [T*B, I], three columns) ran at a tenth of the speed.
        grad_w = (u.t() @ g).t().reshape(N, H, I) if needs[1] else None
        grad_b = g.sum(0).view(N, H) if needs[2] else None
        return grad_u, grad_w, grad_b


class _StackedReadout(torch.autograd.Function):
    """``out[k] = rates[..., k*H:(k+1)*H] @ w[k]^T (+ b[k])``: rates ``(T, B, N*H)``,
    ``w`` ``[N, O, H]``, ``b`` ``[N, O]`` or None -> ``(N, T*B, O)``."""

    @staticmethod
    def forward(rates: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:  # type: ignore[override]
        r = _members(rates, w.shape[0])
        if b is None:
            return torch.bmm(r, w.transpose(1, 2))
        return torch.baddbmm(b[:, None, :], r, w.transpose(1, 2))

    @staticmethod
    def setup_context(ctx, inputs, output):
        rates, w, b = inputs
        ctx.has_bias = b is not None
        ctx.save_for_backward(rates, w)

    @staticmethod
    def backward(ctx, g):
        rates, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        N = w.shape[0]
        r = _members(rates, N)
        grad_rates = None
        if needs[0]:
            if torch.is_grad_enabled():  # create_graph: differentiable, with a copy
                grad_rates = torch.bmm(g, w).transpose(0, 1).reshape(rates.shape)
            else:
                grad_rates = _buffers.empty(rates.shape, rates.dtype, rates.device)
                # A strided output: one GEMM per member, each written in place.
                torch.bmm(g, w, out=_members(grad_rates, N))
        grad_w = torch.bmm(g.transpose(1, 2), r) if needs[1] else None
        grad_b = g.sum(1) if ctx.has_bias and needs[2] else None
        return grad_rates, grad_w, grad_b


def _members(x: torch.Tensor, n: int) -> torch.Tensor:
    """``(T, B, N*H)`` as the ``(N, T*B, H)`` view (no copy)."""
    return x.view(-1, n, x.shape[-1] // n).transpose(0, 1)


def shared_drive(u: torch.Tensor, w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``(T*B, N*H)`` drive of every member from shared inputs ``u`` ``(T*B, I)``.

    Examples
    --------
    >>> u, w, b = torch.randn(6, 2), torch.randn(3, 4, 2), torch.randn(3, 4)
    >>> d = shared_drive(u, w, b)
    >>> torch.allclose(d[:, 4:8], u @ w[1].t() + b[1])
    True
    """
    return _SharedDrive.apply(u, w, bias)


def stacked_readout(rates: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``(N, T*B, O)`` outputs of every member from the scan's rates ``(T, B, N*H)``.

    Examples
    --------
    >>> rates, w, b = torch.randn(5, 2, 12), torch.randn(3, 1, 4), torch.randn(3, 1)
    >>> y = stacked_readout(rates, w, b)
    >>> torch.allclose(y[2], rates[..., 8:12].reshape(10, 4) @ w[2].t() + b[2])
    True
    """
    return _StackedReadout.apply(rates, w, b)
