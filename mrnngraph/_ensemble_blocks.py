"""Block-sparse execution of an ensemble's recurrence, where it pays.

The ensemble keeps its ``[N, H, H]`` stacked parameters and constraints; only the
time loop changes. Every member's declared recurrent blocks (those that can carry a
weight: not ``zero``, some synapse in the mask) are placed in one recurrence of
``N * H`` units, member ``k``'s block at ``(k * H + dst, k * H + src)``, grouped by
shape and run by :class:`mrnngraph._blocks.BlockOperator` (a gather, one ``bmm`` and a
scatter-add per shape and step). The blocks' effective weights are gathered from the
effective ``[N, H, H]`` stack once per forward call, so masks, signs, frozen entries
and the cuts of :func:`mrnngraph.perturb` hold exactly as in the dense path, and the
gradient flows back into the stack. Entries outside these blocks are always 0.

Measured in ``bench/NOTES.md`` ("Block-sparse ensembles"): 16 members of 8 regions
(each feeding itself and 2 others, 37.5 % of ``[H, H]``), whole forward+backward: at
512 units per member block-sparse took 0.68x the dense ``bmm``'s time (B=16) and 0.71x
(B=64); at 256 units 0.94-1.01x (B=16) and 1.16x (B=64), since one batched matmul of
``N`` members runs nearer the core's peak than a single model's. Hence
:func:`choose_sparse_ensemble`: every member's circuit meets
:func:`mrnngraph._sparse.choose_sparse` and has at least :data:`ENSEMBLE_SPARSE_MIN_UNITS`
units.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._blocks import BlockOperator, _chunk, _Group
from ._delay_model import edge_steps
from ._delays import DelayedBlocks
from ._scan import OperatorWeights
from ._sparse import _live_blocks, choose_sparse
from .circuit import CompiledCircuit

__all__ = ["ENSEMBLE_SPARSE_MIN_UNITS", "EnsembleBlocks", "choose_sparse_ensemble"]

#: An ensemble's ``sparse=None`` runs block-sparse from this many units per member (a
#: single model from :data:`mrnngraph._sparse.SPARSE_MIN_UNITS`, 256).
ENSEMBLE_SPARSE_MIN_UNITS = 512


def choose_sparse_ensemble(circuits: Sequence[CompiledCircuit]) -> bool:
    """What an ensemble's ``sparse=None`` picks: block-sparse when every member's circuit
    is one :func:`~mrnngraph._sparse.choose_sparse` runs block-sparse, with at least
    :data:`ENSEMBLE_SPARSE_MIN_UNITS` recurrent units."""
    return all(
        c.layout.hidden_size >= ENSEMBLE_SPARSE_MIN_UNITS and choose_sparse(c) for c in circuits
    )


class EnsembleBlocks:
    """The members' live recurrent blocks as one :class:`BlockOperator` over ``N * H``
    units, and the gather of their weights from the effective ``[N, H, H]`` stack.

    With ``dt``, each block carries its edge's conduction delay in steps
    (:class:`mrnngraph._delays.DelayedBlocks`): how an ensemble runs members with
    recurrent delays, which the dense batched matmul cannot.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> cs = [mg.compile(two_area_ei(size=4), seed=s) for s in range(2)]
    >>> blocks = EnsembleBlocks(cs)
    >>> w = torch.stack([c.weight_hh for c in cs])
    >>> ow = blocks.weights(w)
    >>> h = torch.randn(3, 16)
    >>> y = ow.operator.recurrent(ow.tensors, h)
    >>> torch.allclose(y[:, 8:], h[:, 8:] @ w[1].T, atol=1e-6)
    True
    """

    def __init__(self, circuits: Sequence[CompiledCircuit], dt: float | None = None):
        lay = circuits[0].layout
        H, N = lay.hidden_size, len(circuits)
        self.n_members, self.hidden_size = N, H
        by_shape: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
        for k, c in enumerate(circuits):
            # Conduction delays in steps of dt (given when some member has them).
            steps = {} if dt is None else edge_steps(c, dt)
            for b in _live_blocks(c):
                entry = (k, lay.slice(b.dst).start, lay.slice(b.src).start)
                delay = steps.get((b.src, b.dst), 0)
                by_shape.setdefault(tuple(b.mask.shape), []).append((*entry, delay))  # type: ignore[arg-type]
        self.groups: list[_Group] = []
        self._src: list[torch.Tensor] = []
        self._dst: list[torch.Tensor] = []
        self._take: list[torch.Tensor] = []
        for (nd, ns), entries in sorted(by_shape.items()):
            dst_starts = tuple(k * H + d for k, d, _, _ in entries)
            src_starts = tuple(k * H + s for k, _, s, _ in entries)
            delays = tuple(e[3] for e in entries)
            cd, dst_idx = _chunk(dst_starts, nd, N * H)
            cs, src_idx = _chunk(src_starts, ns, N * H)
            self.groups.append(
                _Group(
                    nd, ns, dst_starts, src_starts, True, 0, cd, cs, delays if any(delays) else ()
                )
            )
            self._src.append(src_idx)
            self._dst.append(dst_idx)
            # Flat indices of each block's entries in the [N, H, H] stack: [nb, nd, ns].
            k, d, s, _ = (torch.tensor(v) for v in zip(*entries, strict=True))
            rows = d[:, None] + torch.arange(nd)
            cols = s[:, None] + torch.arange(ns)
            self._take.append((k * H * H)[:, None, None] + rows[:, :, None] * H + cols[:, None, :])
        self._device: torch.device | None = None
        self._operator: BlockOperator | None = None

    def _on(self, device: torch.device) -> BlockOperator:
        if self._operator is None or self._device != device:
            self._src = [t.to(device) for t in self._src]
            self._dst = [t.to(device) for t in self._dst]
            self._take = [t.to(device) for t in self._take]
            delayed = any(g.delays for g in self.groups)
            self._operator = (DelayedBlocks if delayed else BlockOperator)(
                self.groups, self._src, self._dst, self.n_members * self.hidden_size
            )
            self._device = device
        return self._operator

    def weights(self, w_hh: torch.Tensor) -> OperatorWeights:
        """The operator and the blocks of ``w_hh`` (``[N, H, H]``, differentiable)."""
        op = self._on(w_hh.device)
        flat = w_hh.reshape(-1)
        return OperatorWeights(op, tuple(flat[idx] for idx in self._take))
