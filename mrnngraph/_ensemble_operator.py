"""The recurrent term of ``N`` networks at once: a block-diagonal operator run with ``bmm``.

An ensemble of ``N`` members with ``H`` units each runs through
:func:`mrnngraph._scan.leaky_scan` as *one* network of ``N * H`` units whose recurrent
matrix is block-diagonal, never formed: the operator keeps the ``[N, H, H]`` stack and
does one batched matmul per step. States are ``(B, N * H)``, member ``k``'s units at
``k * H .. (k + 1) * H``; a view ``(B, N, H)`` transposed to ``(N, B, H)`` is what
``bmm`` reads (its last dimension stays contiguous, so no copy is made). ``bmm``
writes into a contiguous ``(N, B, H)`` scratch tensor: given a strided output, CPU
``bmm`` falls back to one ``addmm`` per member instead of MKL's batched GEMM.

Everything else in the scan is elementwise and needs nothing per member: the fused
sequence-level backward (one adjoint ``bmm`` per step, the weight gradient of every
member as one batched GEMM over all steps) and the CUDA-graph replay work unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["EnsembleOperator"]


class EnsembleOperator:
    """:class:`mrnngraph._scan.RecurrentOperator` for ``N`` members: ``weights`` is
    ``(W,)`` with ``W`` the ``[N, H, H]`` effective recurrent weights (``[dst, src]`` per
    member); states are ``(B, N * H)``; a per-unit ``alpha`` is ``[N * H]``.

    Examples
    --------
    >>> from mrnngraph._scan import OperatorWeights, leaky_scan
    >>> W = torch.randn(3, 4, 4) / 2                      # 3 members of 4 units
    >>> drive, x0 = torch.randn(5, 2, 12), torch.zeros(2, 12)
    >>> alpha = torch.full((12,), 0.2)
    >>> states = leaky_scan(OperatorWeights(EnsembleOperator(3, 4), (W,)), drive, x0,
    ...                     alpha, "tanh")
    >>> one = leaky_scan(W[1], drive[..., 4:8], x0[:, 4:8], alpha[4:8], "tanh")
    >>> torch.allclose(states[..., 4:8], one, atol=1e-6)
    True
    """

    uniform_alpha: float | None = None

    def __init__(self, n_members: int, hidden_size: int):
        self.n_members = n_members
        self.hidden_size = hidden_size
        self._scratch: torch.Tensor | None = None

    def key(self) -> tuple:
        return ("ensemble", self.n_members, self.hidden_size, self.uniform_alpha)

    def _members(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N * H)`` as the ``(N, B, H)`` view ``bmm`` reads."""
        return x.view(x.shape[0], self.n_members, self.hidden_size).transpose(0, 1)

    def _product(self, like: torch.Tensor) -> torch.Tensor:
        """A contiguous ``(N, B, H)`` tensor for the per-step products (contents undefined).

        Kept between steps on the CPU. On CUDA a fresh one per step: inside a CUDA-graph
        capture it comes from the graph's own memory pool, so a replay never writes into
        memory this operator has given back.
        """
        shape = (self.n_members, like.shape[0], self.hidden_size)
        if like.is_cuda:
            return torch.empty(shape, dtype=like.dtype, device=like.device)
        s = self._scratch
        if s is None or s.shape != shape or s.dtype != like.dtype or s.device != like.device:
            s = self._scratch = torch.empty(shape, dtype=like.dtype, device=like.device)
        return s

    def forward_prep(self, weights: Sequence[torch.Tensor], alpha: torch.Tensor) -> tuple:
        # W^T per member, contiguous: bmm reads it faster than the transposed view, and
        # one copy per call costs less than one matmul step.
        return (weights[0].transpose(1, 2).contiguous(),)

    def step_(
        self,
        prep: tuple,
        h: torch.Tensor,
        d: torch.Tensor,
        x: torch.Tensor,
        alpha: torch.Tensor | float,
        out: torch.Tensor,
    ) -> None:
        y = self._product(out)
        torch.baddbmm(self._members(d), self._members(h), prep[0], out=y)
        a = alpha if isinstance(alpha, float) else self._members(alpha[None])
        torch.lerp(self._members(x), y, a, out=self._members(out))

    def recurrent(self, weights: Sequence[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        y = torch.bmm(self._members(h), weights[0].transpose(1, 2))
        return y.transpose(0, 1).reshape(h.shape)

    def backward_prep(self, weights: Sequence[torch.Tensor], alpha: torch.Tensor) -> tuple:
        if self.uniform_alpha is not None:
            return (weights[0],)
        # lam @ (alpha[:, None] * W) = W^T (alpha * lam), member by member.
        return (weights[0] * alpha.view(self.n_members, self.hidden_size, 1),)

    def rmatvec_(self, prep: tuple, lam: torch.Tensor, out: torch.Tensor) -> None:
        y = self._product(out)
        torch.bmm(self._members(lam), prep[0], out=y)
        self._members(out).copy_(y)

    def weight_grads(
        self,
        weights: Sequence[torch.Tensor],
        delta: torch.Tensor,
        h0: torch.Tensor,
        rates: torch.Tensor,
        needs: Sequence[bool],
    ) -> list[torch.Tensor | None]:
        if not needs[0]:
            return [None]
        N, H = self.n_members, self.hidden_size
        # Per member sum_t delta[t]^T h[t]: one batched GEMM over all steps after the
        # first, [N, H, T*B] @ [N, T*B, H], on strided views of the (T, B, N*H) tensors.
        grad = torch.bmm(self._members(delta[0]).transpose(1, 2), self._members(h0))
        d2 = delta[1:].reshape(-1, N, H).permute(1, 2, 0)
        r2 = rates[:-1].reshape(-1, N, H).transpose(0, 1)
        grad.baddbmm_(d2, r2)
        return [grad]

    def rvec(self, weights: Sequence[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
        y = torch.bmm(v.view(self.n_members, 1, self.hidden_size), weights[0])
        return y.reshape(-1)
