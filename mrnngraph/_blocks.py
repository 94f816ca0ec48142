"""The block-sparse recurrent operator: the circuit's declared blocks, stacked by shape.

Each group of blocks of one shape (and trainability, and delay) is one
``[nb, nd, ns]`` tensor; a step is, per group, a gather of the source units, one
batched matmul and a scatter-add into the destination units. Split out of
:mod:`mrnngraph._sparse` (the parametrization), which re-exports these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["BlockOperator"]


@dataclass(frozen=True)
class _Group:
    """Blocks of one shape and one trainability, stacked ``[nb, nd, ns]``."""

    nd: int
    ns: int
    dst_starts: tuple[int, ...]
    src_starts: tuple[int, ...]
    trainable: bool
    offset: int  # into the flat trainable parameter (trainable groups only)
    # Units are gathered and scattered in chunks of this many (a divisor of the block
    # size, of every block start and of H): whole blocks when regions are aligned.
    cd: int = 1
    cs: int = 1
    #: Steps of conduction delay of each block (see mrnngraph._delays); () for none.
    delays: tuple[int, ...] = ()

    @property
    def nb(self) -> int:
        return len(self.dst_starts)

    @property
    def numel(self) -> int:
        return self.nb * self.nd * self.ns


class BlockOperator:
    """The recurrent term as stacked dense blocks. States are ``(B, H)``.

    A :class:`mrnngraph._scan.RecurrentOperator` whose ``weights`` are the stacked
    ``[nb, nd, ns]`` blocks of each group.
    One step per shape group: gather the source chunks, one batched matmul, one
    scatter-add into the destination chunks.

    Parameters
    ----------
    groups : list of _Group
        Shapes, chunk sizes and offsets of each group of blocks.
    src_idx, dst_idx : list of Tensor
        Per group, the chunk indices of the blocks' sources ``[nb * ns / cs]`` and
        destinations ``[nb * nd / cd]``, on the device of the states.
    hidden_size : int
    """

    uniform_alpha: float | None = None

    def __init__(
        self,
        groups: list[_Group],
        src_idx: list[torch.Tensor],
        dst_idx: list[torch.Tensor],
        hidden_size: int,
    ):
        self.groups = groups
        self.src_idx = src_idx
        self.dst_idx = dst_idx
        self.hidden_size = hidden_size

    def key(self) -> tuple:
        # The index tensors are baked into a captured CUDA graph by address.
        return (
            "blocks",
            self.uniform_alpha,
            tuple(
                (g.nb, g.nd, g.ns, s.data_ptr(), d.data_ptr())
                for g, s, d in zip(self.groups, self.src_idx, self.dst_idx, strict=True)
            ),
        )

    def _products(self, weights, h: torch.Tensor):
        """``(group, dst chunk index, [nb, B, nd] block outputs W_k h[src_k])`` per group."""
        B = h.shape[0]
        for g, s, d, w in zip(self.groups, self.src_idx, self.dst_idx, weights, strict=True):
            hs = _gather(h, g.cs, s).reshape(B, g.nb, g.ns).transpose(0, 1)
            yield g, d, torch.bmm(hs, w.transpose(1, 2))

    def forward_prep(self, weights, alpha: torch.Tensor) -> tuple:
        return self.backward_prep(weights, alpha)

    def step_(
        self,
        prep: tuple,
        h: torch.Tensor,
        d: torch.Tensor,
        x: torch.Tensor,
        alpha: torch.Tensor | float,
        out: torch.Tensor,
    ) -> None:
        # lerp(x, d + W h, alpha) = lerp(x, d, alpha) + alpha * W h: the block products
        # are scattered straight into the state, scaled on the way.
        n = len(self.groups)
        torch.lerp(x, d, alpha, out=out)
        rows = prep[n:] if self.uniform_alpha is None else (None,) * n
        for (g, di, y), a in zip(self._products(prep[:n], h), rows, strict=True):
            if a is not None:
                y.mul_(a)
            _scatter_add_(out, g.cd, di, y, 1.0 if a is not None else self.uniform_alpha)

    def recurrent(self, weights, h: torch.Tensor) -> torch.Tensor:
        B, H = h.shape
        out = h.new_zeros(h.shape)
        for g, di, y in self._products(weights, h):
            src = y.transpose(0, 1).reshape(B, -1, g.cd)
            out = out.view(B, H // g.cd, g.cd).index_add(1, di, src).view(B, H)
        return out

    def backward_prep(self, weights, alpha: torch.Tensor) -> tuple:
        # alpha scales the gathered [nb, B, nd] adjoints rather than the weights: a pass
        # over every weight per call costs more than one per step unless T is long.
        if self.uniform_alpha is not None:
            return tuple(weights)
        rows = tuple(
            _gather(alpha[None], g.cd, d).reshape(g.nb, 1, g.nd)
            for g, d in zip(self.groups, self.dst_idx, strict=True)
        )
        return (*weights, *rows)

    def rmatvec_(self, prep: tuple, lam: torch.Tensor, out: torch.Tensor) -> None:
        B, n = lam.shape[0], len(self.groups)
        rows = prep[n:] if self.uniform_alpha is None else (None,) * n
        out.zero_()
        for g, s, d, w, a in zip(
            self.groups, self.src_idx, self.dst_idx, prep[:n], rows, strict=True
        ):
            ls = _gather(lam, g.cd, d).reshape(B, g.nb, g.nd).transpose(0, 1)
            if a is not None:
                ls = ls * a
            _scatter_add_(out, g.cs, s, torch.bmm(ls, w))

    def weight_grads(
        self, weights, delta: torch.Tensor, h0: torch.Tensor, rates: torch.Tensor, needs
    ) -> list[torch.Tensor | None]:
        if not any(needs):
            return [None] * len(weights)
        H = delta.shape[-1]
        # Steps after the first as [T*B, H]: each block's gradient is one GEMM over all
        # of them on column slices (plus the first step's, with h0).
        d2, r2 = delta[1:].reshape(-1, H), rates[:-1].reshape(-1, H)
        out: list[torch.Tensor | None] = []
        for g, w, need in zip(self.groups, weights, needs, strict=True):
            if not need:
                out.append(None)
                continue
            grad = torch.empty_like(w)
            for k, (a, c) in enumerate(zip(g.dst_starts, g.src_starts, strict=True)):
                torch.mm(delta[0, :, a : a + g.nd].t(), h0[:, c : c + g.ns], out=grad[k])
                grad[k].addmm_(d2[:, a : a + g.nd].t(), r2[:, c : c + g.ns])
            out.append(grad)
        return out

    def rvec(self, weights, v: torch.Tensor) -> torch.Tensor:
        out = v.new_zeros(1, self.hidden_size)
        for g, s, d, w in zip(self.groups, self.src_idx, self.dst_idx, weights, strict=True):
            vs = _gather(v[None], g.cd, d).reshape(1, g.nb, g.nd).transpose(0, 1)
            _scatter_add_(out, g.cs, s, torch.bmm(vs, w))
        return out[0]


def _gather(x: torch.Tensor, c: int, idx: torch.Tensor) -> torch.Tensor:
    """``x[:, units]`` for ``(B, H)`` ``x``, the units given as chunks of ``c``: ``(B, n, c)``."""
    B, H = x.shape
    return x.view(B, H // c, c).index_select(1, idx)


def _scatter_add_(
    out: torch.Tensor, c: int, idx: torch.Tensor, y: torch.Tensor, scale: float = 1.0
) -> None:
    """``out[:, units] += scale * y`` for block outputs ``y`` of shape ``[nb, B, n]``."""
    B, H = out.shape
    out.view(B, H // c, c).index_add_(1, idx, y.transpose(0, 1).reshape(B, -1, c), alpha=scale)


def _chunk(starts: tuple[int, ...], size: int, H: int) -> tuple[int, torch.Tensor]:
    """The largest chunk dividing the block size, every start and ``H``, and the chunk
    indices of the blocks in order."""
    c = math.gcd(size, H, *starts)
    idx = (torch.tensor(starts)[:, None] // c + torch.arange(size // c)).reshape(-1)
    return c, idx
