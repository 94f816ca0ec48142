"""Block-sparse execution: the recurrent matrix kept as the circuit's declared blocks.

A circuit that is sparse at region level (most region pairs unconnected) wastes
most of a dense ``[H, H]`` matmul on zeros. Here each declared recurrent
projection stays a dense ``[size(dst), size(src)]`` block; blocks of the same
shape are stacked into one ``[n_blocks, n_dst, n_src]`` tensor, and one step of
the recurrence is, per shape group, a gather of the source units, one batched
matmul, and a scatter-add into the destination units (:class:`BlockOperator`, in
:mod:`mrnngraph._blocks`); units move in whole-region chunks when the regions of a
group line up. The sequence-level backward of :mod:`mrnngraph._scan` uses the same
operator, and the weight gradient of each block is one GEMM over all steps. Blocks
with conduction delays run through :class:`mrnngraph._delays.DelayedBlocks`.
Exact masking and cuts shared with the dense parametrization live in
:mod:`mrnngraph._masking`.

:class:`BlockSparse` is the parametrization the model registers for
``weight_hh`` in sparse mode: the trainable parameter is one flat vector of all
trainable block entries; masks (bool), per-unit signs and frozen blocks are
buffers, so Dale's law, the masks and frozen projections hold by construction,
exactly as with the dense :class:`mrnngraph.model.Constrained`. Reading
``model.weight_hh`` still gives the dense effective matrix (assembled on
demand, for analysis); the forward pass never assembles it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import AbstractContextManager

import torch
from torch import nn

from ._blocks import BlockOperator, _chunk, _Group
from ._delays import DelayedBlocks
from ._masking import (  # noqa: F401 - re-exported: the names lived here
    Cut,
    check_cuts,
    check_synapses,
    mask_select,
    swapped_buffers,
    unrepresentable,
)
from ._scan import OperatorWeights
from .circuit import CompiledCircuit

__all__ = [
    "BlockOperator",
    "BlockSparse",
    "block_coverage",
    "choose_sparse",
    "mask_select",
    "SPARSE_MIN_UNITS",
    "SPARSE_MAX_COVERAGE",
    "SPARSE_MIN_BLOCK_ENTRIES",
    "SPARSE_MAX_GROUPS",
]

#: ``sparse=None`` picks block-sparse execution from this many recurrent units ...
SPARSE_MIN_UNITS = 256
#: ... when the declared recurrent blocks cover at most this fraction of ``[H, H]`` ...
SPARSE_MAX_COVERAGE = 0.4
#: ... the average block has at least this many entries (small blocks cost more in
#: gathers and per-block work than they save) ...
SPARSE_MIN_BLOCK_ENTRIES = 1024
#: ... and the blocks come in at most this many distinct shapes (one batched matmul each).
SPARSE_MAX_GROUPS = 4


def _live_blocks(circuit: CompiledCircuit) -> list:
    """Recurrent blocks that can carry a weight (not ``zero``, some synapse in the mask)."""
    return [b for b in circuit.family_blocks("hh") if not b.zero and bool(b.mask.any())]


def block_coverage(circuit: CompiledCircuit) -> float:
    """Fraction of the ``[H, H]`` recurrent matrix inside blocks that can carry weights.

    Examples
    --------
    >>> import networkx as nx
    >>> from mrnngraph import compile
    >>> G = nx.DiGraph()
    >>> G.add_nodes_from([("a", {"size": 4}), ("b", {"size": 4})])
    >>> G.add_edges_from([("a", "a"), ("a", "b")])
    >>> block_coverage(compile(G, seed=0))
    0.5
    """
    H = circuit.layout.hidden_size
    if H == 0:
        return 0.0
    covered = sum(b.mask.shape[0] * b.mask.shape[1] for b in _live_blocks(circuit))
    return covered / (H * H)


def choose_sparse(circuit: CompiledCircuit) -> bool:
    """What ``sparse=None`` picks: block-sparse for circuits sparse at region level.

    True when the circuit has at least :data:`SPARSE_MIN_UNITS` recurrent units, its
    declared blocks cover at most :data:`SPARSE_MAX_COVERAGE` of ``[H, H]``, hold
    :data:`SPARSE_MIN_BLOCK_ENTRIES` entries on average and come in at most
    :data:`SPARSE_MAX_GROUPS` shapes. The thresholds come from the measurements in
    ``bench/NOTES.md``: outside them the gathers, scatters and per-block work cost
    more than the skipped zeros save.
    """
    H = circuit.layout.hidden_size
    blocks = _live_blocks(circuit)
    if H < SPARSE_MIN_UNITS or not blocks:
        return False
    covered = sum(b.mask.numel() for b in blocks)
    shapes = {(*b.mask.shape, bool(b.trainable)) for b in blocks}
    return (
        covered <= SPARSE_MAX_COVERAGE * H * H
        and covered >= SPARSE_MIN_BLOCK_ENTRIES * len(blocks)
        and len(shapes) <= SPARSE_MAX_GROUPS
    )


class BlockSparse(nn.Module):
    """Parametrization of ``weight_hh`` kept as the circuit's declared blocks.

    The original (trainable) tensor is one flat vector of every trainable block's
    entries. Per block, ``W_eff = mask * (sign != 0 ? sign * |W| : W)`` with the
    sign of each source unit; frozen blocks (``trainable=False``) are buffers.
    Blocks of ``zero`` projections and blocks with an empty mask are left out:
    their effective weights are always zero.

    Parameters
    ----------
    circuit : CompiledCircuit
    delays : dict of (src, dst) to int, optional
        Conduction delay of each recurrent edge in steps (see :mod:`mrnngraph._delays`);
        missing edges have none. Delays change no parameter or buffer.
    device, dtype : optional

    Examples
    --------
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> from mrnngraph import compile
    >>> c = compile(two_area_ei(size=10), seed=0)
    >>> p = BlockSparse(c)
    >>> raw = p.initial_original(c)
    >>> torch.equal(p(raw), c.weight_hh)
    True
    """

    def __init__(
        self,
        circuit: CompiledCircuit,
        *,
        delays: Mapping[tuple[str, str], int] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype or circuit.dtype}
        lay = circuit.layout
        self.hidden_size = H = lay.hidden_size
        rank = {n: i for i, n in enumerate(lay.regions)}
        delays = delays or {}
        by_key: dict[tuple[int, int, bool], list] = {}
        for b in _live_blocks(circuit):
            by_key.setdefault((*b.mask.shape, bool(b.trainable)), []).append(b)
        has_sign = bool((circuit.sign_h != 0).any())
        self.register_buffer("sign", circuit.sign_h.to(**factory) if has_sign else None)
        groups: list[_Group] = []
        self._keys: list[list[tuple[str, str]]] = []
        self._signed: list[str] = []
        offset = 0
        # Trainable groups first, so the flat parameter is their concatenation.
        for (nd, ns, trainable), blocks in sorted(by_key.items(), key=lambda kv: not kv[0][2]):
            blocks.sort(key=lambda b: (rank[b.dst], rank[b.src]))
            dst_starts = tuple(lay.slice(b.dst).start for b in blocks)
            src_starts = tuple(lay.slice(b.src).start for b in blocks)
            cd, dst_idx = _chunk(dst_starts, nd, H)
            cs, src_idx = _chunk(src_starts, ns, H)
            g = _Group(
                nd, ns, dst_starts, src_starts, trainable, offset if trainable else -1, cd, cs
            )
            steps = tuple(int(delays.get((b.src, b.dst), 0)) for b in blocks)
            if any(steps):
                g = dataclasses.replace(g, delays=steps)
            i = len(groups)
            groups.append(g)
            self._keys.append([(b.src, b.dst) for b in blocks])
            if trainable:
                offset += g.numel
            self.register_buffer(f"src_idx_{i}", src_idx.to(device), persistent=False)
            self.register_buffer(f"dst_idx_{i}", dst_idx.to(device), persistent=False)
            src = (torch.tensor(src_starts)[:, None] + torch.arange(ns)).reshape(-1)
            self.register_buffer(f"mask_{i}", torch.stack([b.mask for b in blocks]).to(device))
            sign = circuit.sign_h[src].view(g.nb, 1, ns).to(**factory) if has_sign else None
            self.register_buffer(f"sign_{i}", sign, persistent=False)
            n_signed = 0 if sign is None else int((sign != 0).sum())
            self._signed.append(
                "all" if n_signed == src.numel() else "some" if n_signed else "none"
            )
            frozen = None if trainable else torch.stack([b.weight for b in blocks]).to(**factory)
            self.register_buffer(f"frozen_{i}", frozen)
        self.groups = groups
        self.n_original = offset

    # ------------------------------------------------------------------ values
    def initial_original(self, circuit: CompiledCircuit) -> torch.Tensor:
        """The flat trainable vector holding the circuit's initial effective blocks (CPU,
        the circuit's dtype: move it with ``.to(original)``)."""
        parts = [
            circuit.blocks[key].weight.reshape(-1)
            for g, keys in zip(self.groups, self._keys, strict=True)
            if g.trainable
            for key in keys
        ]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=circuit.dtype)

    def effective(self, original: torch.Tensor) -> list[torch.Tensor]:
        """Effective ``[nb, nd, ns]`` weights of each group (differentiable in ``original``)."""
        out = []
        for i, g in enumerate(self.groups):
            if not g.trainable:
                out.append(self._buffers[f"frozen_{i}"])
                continue
            # A whole-tensor view has a cheaper backward than a slice of it.
            flat = (
                original if g.numel == original.numel() else original[g.offset : g.offset + g.numel]
            )
            # Select, never multiply: masked entries are exactly 0 whatever the raw
            # value (NaN, inf), and their gradient is exactly 0.
            w = mask_select(flat.view(g.nb, g.nd, g.ns), self._buffers[f"mask_{i}"])
            sign = self._buffers[f"sign_{i}"]
            if sign is not None and self._signed[i] == "all":
                w = w.abs() * sign
            elif sign is not None and self._signed[i] == "some":
                w = torch.where(sign != 0, sign * w.abs(), w)
            out.append(w)
        return out

    def operator(self) -> BlockOperator:
        n = len(self.groups)
        cls = DelayedBlocks if any(g.delays for g in self.groups) else BlockOperator
        return cls(
            self.groups,
            [self._buffers[f"src_idx_{i}"] for i in range(n)],
            [self._buffers[f"dst_idx_{i}"] for i in range(n)],
            self.hidden_size,
        )

    def blocks(self, original: torch.Tensor) -> OperatorWeights:
        """What the model passes to :func:`mrnngraph._scan.leaky_scan` in sparse mode."""
        return OperatorWeights(self.operator(), tuple(self.effective(original)))

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        """The dense effective ``[H, H]`` matrix (for reading ``model.weight_hh``)."""
        H = self.hidden_size
        out = original.new_zeros(H, H)
        for g, w in zip(self.groups, self.effective(original), strict=True):
            for k, (a, c) in enumerate(zip(g.dst_starts, g.src_starts, strict=True)):
                out[a : a + g.nd, c : c + g.ns] = w[k]
        return out

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        """Accept the flat original itself, or a dense effective ``[H, H]`` matrix that
        the parametrization can give (zero off the masks, signs kept, frozen blocks
        unchanged); anything else is a ValueError saying what is wrong."""
        if value.dim() == 1 and value.numel() == self.n_original:
            return value
        H = self.hidden_size
        if value.shape != (H, H):
            raise ValueError(
                f"block-sparse weight_hh takes a dense ({H}, {H}) matrix or the "
                f"flat vector of {self.n_original} block entries; "
                f"got {tuple(value.shape)}"
            )
        frozen_where = torch.zeros(H, H, dtype=torch.bool, device=value.device)
        frozen = value.new_zeros(H, H)
        for i, g in enumerate(self.groups):
            if not g.trainable:
                f = self._buffers[f"frozen_{i}"]
                for view, fview, b in zip(
                    self._dense_blocks(frozen_where, i),
                    self._dense_blocks(frozen, i),
                    f,
                    strict=True,
                ):
                    view.fill_(True)
                    fview.copy_(b)
        problem = unrepresentable(
            "weight_hh", value, self.mask.to(value.device), self.sign, frozen_where, frozen
        )
        if problem is not None:
            raise ValueError(problem)
        return self.original_from_dense(value)

    def original_from_dense(self, value: torch.Tensor) -> torch.Tensor:
        """The trainable blocks' entries of a dense ``[H, H]`` tensor as one flat vector, in
        the order of the parameter, unchecked (e.g. a dense model's gradient)."""
        parts = [
            value[a : a + g.nd, c : c + g.ns].reshape(-1)
            for g in self.groups
            if g.trainable
            for a, c in zip(g.dst_starts, g.src_starts, strict=True)
        ]
        return torch.cat(parts) if parts else value.new_zeros(0)

    # ------------------------------------------------------------------ cuts
    def _hits(self, cuts: list[Cut], i: int) -> list[tuple[int, slice, slice]]:
        """``(block, rows, cols)`` of group ``i``'s blocks (local indices) inside ``cuts``."""
        g, H = self.groups[i], self.hidden_size
        out = []
        for rows, cols in cuts:
            r0, r1, _ = rows.indices(H)
            c0, c1, _ = cols.indices(H)
            for k, (a, c) in enumerate(zip(g.dst_starts, g.src_starts, strict=True)):
                lo, hi = max(r0, a), min(r1, a + g.nd)
                left, right = max(c0, c), min(c1, c + g.ns)
                if lo < hi and left < right:
                    out.append((k, slice(lo - a, hi - a), slice(left - c, right - c)))
        return out

    def n_synapses(self, *cuts: Cut) -> int:
        """Existing synapses (True mask entries) inside the ``(rows, cols)`` rectangles
        ``cuts`` of the dense ``[H, H]`` index space (all of them without ``cuts``);
        as :meth:`mrnngraph.model.Constrained.n_synapses`, without assembling ``[H, H]``."""
        cuts = check_cuts(cuts)
        n = 0
        for i in range(len(self.groups)):
            mask = self._buffers[f"mask_{i}"]
            if not cuts:
                n += int(mask.sum())
                continue
            hit = torch.zeros_like(mask)
            for k, rows, cols in self._hits(cuts, i):
                hit[k, rows, cols] = True
            n += int((mask & hit).sum())
        return n

    def cut(self, *cuts: Cut, synapses: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The buffers a cut changes, as edited copies; nothing is changed here.

        As :meth:`mrnngraph.model.Constrained.cut`: ``cuts`` are ``(rows, cols)``
        rectangles of the dense ``[H, H]`` index space, ``synapses`` indices of existing
        synapses in :meth:`synapse_coordinates` order (group by group, block by block,
        row-major inside a block). The blocks of ``zero`` projections and empty masks
        are not stored: they have nothing to cut.
        """
        cuts = check_cuts(cuts)
        flats = (
            [
                torch.nonzero(self._buffers[f"mask_{i}"].reshape(-1)).reshape(-1)
                for i in range(len(self.groups))
            ]
            if synapses is not None
            else []
        )
        if synapses is not None:
            synapses = check_synapses(synapses, sum(f.numel() for f in flats))
        out = {}
        offset = 0
        for i in range(len(self.groups)):
            hits = self._hits(cuts, i)
            pick = None
            if synapses is not None:
                flat, start = flats[i], offset
                offset += flat.numel()
                sel = synapses[(synapses >= start) & (synapses < offset)] - start
                if sel.numel():
                    pick = flat[sel.to(flat.device)]
            if not hits and pick is None:
                continue
            for name, off in ((f"mask_{i}", False), (f"frozen_{i}", 0)):
                old = self._buffers[name]
                if old is None:
                    continue
                edited = old.clone()
                for k, rows, cols in hits:
                    edited[k, rows, cols] = off
                if pick is not None:
                    edited.view(-1)[pick.to(old.device)] = off
                out[name] = edited
        return out

    def masked(
        self, *cuts: Cut, synapses: torch.Tensor | None = None
    ) -> AbstractContextManager[BlockSparse]:
        """Context manager: inside, the blocks read as with :meth:`cut`'s buffers; on exit
        (also when the block raises) the original buffer tensors are back. As
        :meth:`mrnngraph.model.Constrained.masked`."""
        return swapped_buffers(self, self.cut(*cuts, synapses=synapses))

    def synapse_coordinates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, cols)`` in ``[H, H]`` of the existing synapses, in the order
        ``synapses=`` counts them."""
        rows, cols = [], []
        for i, g in enumerate(self.groups):
            k, r, c = torch.nonzero(self._buffers[f"mask_{i}"], as_tuple=True)
            rows.append(torch.tensor(g.dst_starts, device=k.device)[k] + r)
            cols.append(torch.tensor(g.src_starts, device=k.device)[k] + c)
        if not rows:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty.clone()
        return torch.cat(rows), torch.cat(cols)

    # ------------------------------------------------------------------ state dicts
    def _dense_blocks(self, dense: torch.Tensor, i: int) -> list[torch.Tensor]:
        """Views of group ``i``'s blocks inside a dense ``[H, H]`` tensor."""
        g = self.groups[i]
        return [
            dense[a : a + g.nd, c : c + g.ns]
            for a, c in zip(g.dst_starts, g.src_starts, strict=True)
        ]

    def _covered(self, device: torch.device) -> torch.Tensor:
        """``[H, H]`` bool: True inside the blocks this parametrization stores."""
        out = torch.zeros(self.hidden_size, self.hidden_size, dtype=torch.bool, device=device)
        for i in range(len(self.groups)):
            for view in self._dense_blocks(out, i):
                view.fill_(True)
        return out

    def state_from_dense(self, state: dict, prefix: str) -> str | None:
        """Rewrite, in ``state``, a dense model's recurrent entries under ``prefix``
        (``original [H, H]``, ``0.mask``, ``0.frozen``, ``0.trainable``) into this
        block form (flat ``original``, ``0.mask_<i>``, ``0.frozen_<i>``).

        Returns what cannot be represented (``state`` untouched then), else None.
        """
        H = self.hidden_size
        keys = {k: prefix + k for k in ("original", "0.mask", "0.frozen", "0.trainable")}
        got = {k: state.get(key) for k, key in keys.items()}
        for k, t in got.items():
            if t is not None and (not isinstance(t, torch.Tensor) or t.shape != (H, H)):
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                return f"{keys[k]}: expected a ({H}, {H}) tensor; got {shape}"
        raw, mask, frozen, trainable = (got[k] for k in keys)
        if mask is None:
            return f"{keys['0.mask']} is missing"
        outside = ~self._covered(mask.device)
        if bool((mask.bool() & outside).any()):
            return (
                f"{keys['0.mask']} has synapses outside the declared recurrent blocks of "
                "this block-sparse model (another graph, or a projection whose mask is "
                "empty in one circuit and not in the other)"
            )
        if (
            frozen is not None
            and trainable is not None
            and bool(((frozen != 0) & ~trainable.bool() & outside.to(frozen.device)).any())
        ):
            return f"{keys['0.frozen']} has weights outside the declared recurrent blocks"
        out: dict[str, torch.Tensor] = {}
        parts = []
        for i, g in enumerate(self.groups):
            out[f"{prefix}0.mask_{i}"] = torch.stack(self._dense_blocks(mask.bool(), i))
            if g.trainable:
                parts += [b.reshape(-1) for b in self._dense_blocks(raw, i)]
            elif frozen is None:
                return (
                    f"{keys['0.frozen']} is missing: this model has frozen projections "
                    f"{self._keys[i]}"
                )
            else:
                out[f"{prefix}0.frozen_{i}"] = torch.stack(self._dense_blocks(frozen, i))
        for key in keys.values():
            state.pop(key, None)
        state[keys["original"]] = torch.cat(parts) if parts else raw.new_zeros(0)
        state.update(out)
        return None

    def state_to_dense(
        self, state: dict, prefix: str, frozen: torch.Tensor | None, trainable: torch.Tensor | None
    ) -> str | None:
        """Rewrite, in ``state``, this block form under ``prefix`` into a dense model's
        entries; ``frozen`` and ``trainable`` are the dense model's own buffers (None if
        it has none), whose frozen blocks are overwritten with the stored ones.

        Returns what does not fit (``state`` untouched then), else None.
        """
        H = self.hidden_size
        key = prefix + "original"
        original = state.get(key)
        if not isinstance(original, torch.Tensor) or original.shape != (self.n_original,):
            shape = (
                tuple(original.shape)
                if isinstance(original, torch.Tensor)
                else type(original).__name__
            )
            return (
                f"{key}: expected the flat vector of this circuit's {self.n_original} "
                f"trainable block entries; got {shape}"
            )
        raw = original.new_zeros(H, H)
        mask = torch.zeros(H, H, dtype=torch.bool, device=original.device)
        dense_frozen = None if frozen is None else frozen.detach().clone()
        used = [key]
        for i, g in enumerate(self.groups):
            mkey = f"{prefix}0.mask_{i}"
            m = state.get(mkey)
            if not isinstance(m, torch.Tensor) or m.shape != (g.nb, g.nd, g.ns):
                return f"{mkey}: expected a mask of shape {(g.nb, g.nd, g.ns)}"
            used.append(mkey)
            if g.trainable:
                w = original[g.offset : g.offset + g.numel].view(g.nb, g.nd, g.ns)
            else:
                fkey = f"{prefix}0.frozen_{i}"
                w = state.get(fkey)
                if not isinstance(w, torch.Tensor) or w.shape != (g.nb, g.nd, g.ns):
                    return f"{fkey}: expected frozen weights of shape {(g.nb, g.nd, g.ns)}"
                if dense_frozen is None:
                    return f"{fkey}: this dense model has no frozen recurrent projections"
                used.append(fkey)
                for view, b in zip(self._dense_blocks(dense_frozen, i), w, strict=True):
                    view.copy_(b)
            for view, b in zip(self._dense_blocks(mask, i), m, strict=True):
                view.copy_(b)
            for view, b in zip(self._dense_blocks(raw, i), w, strict=True):
                view.copy_(b)
        for k in used:
            state.pop(k)
        state[key] = raw
        state[prefix + "0.mask"] = mask
        if dense_frozen is not None and trainable is not None:
            state[prefix + "0.frozen"] = dense_frozen
            state[prefix + "0.trainable"] = trainable.detach().clone()
        return None

    # ------------------------------------------------------------------ dense views
    @property
    def mask(self) -> torch.Tensor:
        """Dense ``[H, H]`` bool mask, assembled on demand (not stored)."""
        H = self.hidden_size
        out = torch.zeros(H, H, dtype=torch.bool)
        for i, g in enumerate(self.groups):
            m = self._buffers[f"mask_{i}"]
            out = out.to(m.device)
            for k, (a, c) in enumerate(zip(g.dst_starts, g.src_starts, strict=True)):
                out[a : a + g.nd, c : c + g.ns] = m[k]
        return out

    def extra_repr(self) -> str:
        nb = sum(g.nb for g in self.groups)
        return (
            f"hidden_size={self.hidden_size}, blocks={nb}, groups={len(self.groups)}, "
            f"trainable_entries={self.n_original}"
        )
