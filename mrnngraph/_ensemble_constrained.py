"""The constraints of ``N`` stacked weights: :class:`StackedConstrained`.

One :class:`~mrnngraph._constrained.Constrained` over ``[N, dst, src]`` tensors: its
forward is elementwise, so each member's effective weights have exactly the bits its
own model computes. Refusals of unrepresentable values name the member, and cuts
(:func:`mrnngraph.perturb` of an ensemble) edit each member's rectangles of copied
buffers, never the ensemble's own tensors. Split out of :mod:`mrnngraph.ensemble`,
which re-exports :class:`StackedConstrained`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch

from ._constrained import Constrained
from ._masking import Cut, check_cuts, swapped_buffers, unrepresentable

__all__ = ["StackedConstrained", "stack_constraints"]


class StackedConstrained(Constrained):
    """:class:`~mrnngraph.model.Constrained` for ``N`` stacked weights ``[N, dst, src]``.

    The forward pass is :class:`Constrained`'s, unchanged: it is elementwise, so with
    the masks stacked ``[N, dst, src]`` and the signs ``[N, 1, src]`` each member's
    effective weights have exactly the bits its own model computes. The refusal of
    unrepresentable values is per member, naming the member; a cut's rectangles apply
    to every member (:meth:`cut`) or to each member its own (:meth:`cut_members`).

    Examples
    --------
    >>> con = StackedConstrained(torch.ones(2, 2, 3, dtype=torch.bool))
    >>> with con.masked_members({1: [(slice(0, 1), slice(None))]}):
    ...     con(torch.ones(2, 2, 3)).sum((1, 2)).tolist()
    [6.0, 3.0]
    >>> con(torch.ones(2, 2, 3)).sum().item()
    12.0
    """

    def right_inverse(self, w: torch.Tensor) -> torch.Tensor:
        if w.shape != self.mask.shape:
            raise ValueError(
                f"{self.name} must have shape {tuple(self.mask.shape)}; got {tuple(w.shape)}"
            )
        for k in range(w.shape[0]):
            problem = unrepresentable(
                f"{self.name} of member {k}",
                w[k],
                self.mask[k],
                None if self.sign is None else self.sign[k, 0],
                None if self.trainable is None else ~self.trainable[k],
                None if self.frozen is None else self.frozen[k],
            )
            if problem is not None:
                raise ValueError(problem)
        return w

    # ------------------------------------------------------------------ cuts
    def cut_members(self, cuts: Mapping[int, Sequence[Cut]]) -> dict[str, torch.Tensor]:
        """The buffers a cut changes, as edited copies: member ``k``'s ``(rows, cols)``
        rectangles ``cuts[k]`` of its ``[dst, src]`` weight read 0 (``mask`` False and,
        where some entries are frozen, ``frozen`` 0), as :meth:`Constrained.cut` does for
        one model. Empty when nothing is cut."""
        n = self.mask.shape[0]
        checked: dict[int, list[Cut]] = {}
        for k, rects in cuts.items():
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n:
                raise ValueError(f"cuts: member {k!r} is not one of the {n} members")
            checked[k] = check_cuts(rects)
        if not any(checked.values()):
            return {}

        def edit(t: torch.Tensor, off: bool | int) -> None:
            for k, rects in checked.items():
                for rows, cols in rects:
                    t[k, rows, cols] = off

        return self.edited_buffers(edit)

    def masked_members(
        self, cuts: Mapping[int, Sequence[Cut]]
    ) -> AbstractContextManager[StackedConstrained]:
        """Context manager: inside, the weights read as with :meth:`cut_members`'s
        buffers; on exit (also when the block raises) the original tensors are back."""
        return swapped_buffers(self, self.cut_members(cuts))

    def cut(self, *cuts: Cut, synapses: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """:meth:`cut_members` with the same rectangles for every member."""
        if synapses is not None:
            _refuse_synapses()
        return self.cut_members(dict.fromkeys(range(self.mask.shape[0]), list(cuts)))

    def masked(
        self, *cuts: Cut, synapses: torch.Tensor | None = None
    ) -> AbstractContextManager[StackedConstrained]:
        """:meth:`masked_members` with the same rectangles for every member."""
        return swapped_buffers(self, self.cut(*cuts, synapses=synapses))

    def _per_member(self, *args: Any, **kwargs: Any) -> Any:
        _refuse_synapses()

    n_synapses = synapse_coordinates = _per_member  # type: ignore[assignment]


def _refuse_synapses() -> None:
    raise NotImplementedError(
        "synapses of an ensemble's stacked weights are not counted or cut by index; "
        "take the member with ens[k] and cut its synapses"
    )


def stack_constraints(cons: list[Constrained], name: str) -> StackedConstrained:
    """One :class:`StackedConstrained` holding every member's buffers (a member without
    signs or frozen entries contributes zeros and an all-trainable map)."""
    mask = torch.stack([c.mask for c in cons])
    like = cons[0].mask
    n_src = like.shape[1]
    sign = None
    if any(c.sign is not None for c in cons):
        dtype = next(c.sign.dtype for c in cons if c.sign is not None)
        sign = torch.stack(
            [
                (
                    c.sign
                    if c.sign is not None
                    else torch.zeros(n_src, dtype=dtype, device=like.device)
                ).reshape(1, n_src)
                for c in cons
            ]
        )
    frozen = trainable = None
    if any(c.frozen is not None for c in cons):
        dtype = next(c.frozen.dtype for c in cons if c.frozen is not None)
        frozen = torch.stack(
            [
                c.frozen if c.frozen is not None else torch.zeros_like(c.mask, dtype=dtype)
                for c in cons
            ]
        )
        trainable = torch.stack(
            [c.trainable if c.trainable is not None else torch.ones_like(c.mask) for c in cons]
        )
    return StackedConstrained(mask, sign, frozen, trainable, name=name)
