"""The dense parametrization of a constrained weight: Dale's law, masks and frozen entries.

    W_eff = where(trainable, mask * (sign != 0 ? sign * |W| : W), W_frozen)

:class:`Constrained` owns its masks, signs and frozen values (buffers, never
parameters) and edits them for lesions (:meth:`Constrained.cut`); :class:`_BiasParam`
keeps fixed biases fixed. Split out of :mod:`mrnngraph.model`, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import nn

from ._sparse import (
    Cut,
    check_cuts,
    check_synapses,
    mask_select,
    swapped_buffers,
    unrepresentable,
)

__all__ = ["Constrained", "same_bits", "signed_columns"]


def signed_columns(w: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """``w`` with each column's ``sign`` where it has one (``sign * |w|``), unchanged in
    columns of sign 0: what :class:`Constrained` makes of a raw weight, mask aside. The
    model's initial readout under ``readout_sign`` is the circuit's readout so signed."""
    s = sign.to(device=w.device, dtype=w.dtype)
    return torch.where(s != 0, s * w.abs(), w)


class Constrained(nn.Module):
    """Parametrization ``W -> where(trainable, signed(where(mask, W, 0)), frozen)``.

    ``sign`` is one value per source column (``+1``, ``-1`` or ``0`` = free);
    ``frozen`` and ``trainable`` are given only when some entries are frozen. ``name``
    (the weight's) is used in error messages.
    """

    def __init__(
        self,
        mask: torch.Tensor,
        sign: torch.Tensor | None = None,
        frozen: torch.Tensor | None = None,
        trainable: torch.Tensor | None = None,
        *,
        name: str = "weight",
    ):
        super().__init__()
        self.name = name
        self.register_buffer("mask", mask.bool())
        self.register_buffer("sign", sign)
        self.register_buffer("frozen", frozen)
        self.register_buffer("trainable", None if trainable is None else trainable.bool())
        # With every column signed, sign * |W| needs no select, which costs a visible share
        # of a dense trial (bench/NOTES.md, "Figures behind code comments").
        self._all_signed = sign is not None and bool((sign != 0).all())

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        # Select, never multiply: masked entries are exactly 0 (and get a zero gradient)
        # even where the raw weight is NaN or inf. Selecting first also keeps a NaN
        # gradient of a masked entry from leaking through abs's backward.
        w = mask_select(raw, self.mask)
        if self._all_signed:
            w = w.abs() * self.sign
        elif self.sign is not None:
            w = torch.where(self.sign != 0, self.sign * w.abs(), w)
        if self.frozen is not None:
            w = torch.where(self.trainable, w, self.frozen)
        return w

    def right_inverse(self, w: torch.Tensor) -> torch.Tensor:
        """Effective weights that satisfy the constraint are their own preimage; any other
        value (off-mask, against a sign, a changed frozen entry, a wrong shape) would be
        read back changed, so it is refused with a ValueError saying what is wrong."""
        if w.shape != self.mask.shape:
            raise ValueError(
                f"{self.name} must have shape {tuple(self.mask.shape)}; got {tuple(w.shape)}"
            )
        frozen_where = None if self.trainable is None else ~self.trainable
        problem = unrepresentable(self.name, w, self.mask, self.sign, frozen_where, self.frozen)
        if problem is not None:
            raise ValueError(problem)
        return w

    # ------------------------------------------------------------------ cuts
    def n_synapses(self, *cuts: Cut) -> int:
        """Existing synapses (True mask entries) inside the ``(rows, cols)`` rectangles
        ``cuts`` (slices of the ``[dst, src]`` weight; all of them without ``cuts``)."""
        cuts = check_cuts(cuts)
        if not cuts:
            return int(self.mask.sum())
        hit = torch.zeros_like(self.mask)
        for rows, cols in cuts:
            hit[rows, cols] = True
        return int((self.mask & hit).sum())

    def cut(self, *cuts: Cut, synapses: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The buffers a cut changes, as edited copies (this parametrization is left as
        it is; :meth:`masked` applies them), as :mod:`torch.nn.utils.prune` computes a
        new mask.

        Parameters
        ----------
        *cuts : (slice, slice)
            ``(rows, cols)`` rectangles of the ``[dst, src]`` weight whose entries are cut.
        synapses : Tensor of int, optional
            Indices of existing synapses to cut, counted in :meth:`synapse_coordinates`
            order (the True mask entries in row-major order).

        Returns
        -------
        dict of str to Tensor
            ``mask`` with the cut entries False and, when some entries are frozen,
            ``frozen`` with them 0. Empty when nothing is cut.
        """
        cuts = check_cuts(cuts)
        pick = None
        if synapses is not None:
            flat = torch.nonzero(self.mask.reshape(-1)).reshape(-1)
            pick = flat[check_synapses(synapses, flat.numel()).to(flat.device)]
        if not cuts and pick is None:
            return {}

        def edit(t: torch.Tensor, off: bool | int) -> None:
            for rows, cols in cuts:
                t[rows, cols] = off
            if pick is not None:
                t.view(-1)[pick.to(t.device)] = off

        return self.edited_buffers(edit)

    def edited_buffers(
        self, edit: Callable[[torch.Tensor, bool | int], None]
    ) -> dict[str, torch.Tensor]:
        """Copies of ``mask`` and (when some entries are frozen) ``frozen`` with
        ``edit(copy, off)`` applied, ``off`` being the value a cut entry reads (False,
        0): what a cut changes, for :meth:`cut` and the stacked cuts of an ensemble."""
        out = {}
        for name, off in (("mask", False), ("frozen", 0)):
            old = getattr(self, name)
            if old is not None:
                out[name] = old.clone()
                edit(out[name], off)
        return out

    def masked(
        self, *cuts: Cut, synapses: torch.Tensor | None = None
    ) -> AbstractContextManager[Constrained]:
        """Context manager: inside, the weight reads as with :meth:`cut`'s buffers; on exit
        (also when the block raises) the original buffer tensors are back.

        The buffers are swapped, never edited in place, so a graph recorded inside the
        block can still be back-propagated after it. Nested blocks cut on top of each
        other.

        Examples
        --------
        >>> con = Constrained(torch.ones(2, 3, dtype=torch.bool))
        >>> with con.masked((slice(0, 1), slice(None))):
        ...     con(torch.ones(2, 3)).tolist()
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
        >>> con(torch.ones(2, 3)).sum().item()
        6.0
        """
        return swapped_buffers(self, self.cut(*cuts, synapses=synapses))

    def synapse_coordinates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, cols)`` of the existing synapses, in the order ``synapses=`` counts."""
        rows, cols = torch.nonzero(self.mask, as_tuple=True)
        return rows, cols


class _BiasParam(nn.Module):
    def __init__(self, learnable: torch.Tensor, fixed: torch.Tensor):
        super().__init__()
        self.register_buffer("learnable", learnable.bool())
        self.register_buffer("fixed", fixed)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.where(self.learnable, raw, self.fixed)

    def right_inverse(self, b: torch.Tensor) -> torch.Tensor:
        return b


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True if ``a`` and ``b`` have the same dtype, shape and bits (NaN payloads and the
    sign of zero included), which ``torch.equal`` does not check."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.is_floating_point or a.dtype.is_complex:
        bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
        size = a.element_size()
        if a.dtype.is_complex:
            a, b, size = torch.view_as_real(a), torch.view_as_real(b), size // 2
        a, b = a.contiguous().view(bits[size]), b.contiguous().view(bits[size])
    return torch.equal(a, b)
