"""Exact masking and mask editing shared by the dense and block-sparse parametrizations:
:func:`mask_select`, what a constrained weight cannot take (:func:`unrepresentable`),
cuts (:func:`check_cuts`, :func:`check_synapses`) and :func:`swapped_buffers`.
Split out of :mod:`mrnngraph._sparse`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = [
    "Cut",
    "check_cuts",
    "check_synapses",
    "mask_select",
    "swapped_buffers",
    "unrepresentable",
]


#: Same-size integer types for the bitwise select of :func:`mask_select`.
_BITS = {
    torch.float64: torch.int64,
    torch.float32: torch.int32,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


class _BitSelect(torch.autograd.Function):
    """``where(keep != 0, x, 0)`` as ``x & keep`` on the bits (``keep`` is ``-1`` or ``0``
    in the integer type of ``x``'s size). Its own derivative: the gradient is selected
    the same way, so masked entries get exactly 0 even from a NaN gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.bitwise_and(x.view(keep.dtype), keep).view(x.dtype)

    @staticmethod
    def setup_context(
        ctx: torch.autograd.function.FunctionCtx, inputs: tuple, output: torch.Tensor
    ) -> None:
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple:
        (keep,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return _BitSelect.apply(grad, keep), None


def mask_select(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``torch.where(mask, x, 0)``: exactly 0 where ``mask`` is False, whatever ``x`` holds
    (NaN, inf), with a gradient that is exactly 0 there too.

    A select, never ``x * mask`` (``NaN * 0`` is NaN). Done on the bits for the float
    types: on CPU ``torch.where`` costs several times a multiply, the bitwise ``and``
    about as much as the multiply, and it runs once per forward call on every weight.

    Examples
    --------
    >>> x = torch.tensor([float("nan"), 2.0, float("inf")])
    >>> mask_select(x, torch.tensor([False, True, False]))
    tensor([0., 2., 0.])
    """
    bits = _BITS.get(x.dtype)
    if bits is None:
        return torch.where(mask, x, 0.0)
    return _BitSelect.apply(x, mask.to(bits).neg_())


def unrepresentable(
    name: str,
    w: torch.Tensor,
    mask: torch.Tensor,
    sign: torch.Tensor | None,
    frozen_where: torch.Tensor | None = None,
    frozen: torch.Tensor | None = None,
) -> str | None:
    """Why effective weights ``w`` ``[dst, src]`` cannot come out of a constrained
    parametrization (non-zero off ``mask``, against the per-source ``sign``, different from
    ``frozen`` where ``frozen_where``), or None if they can."""
    free = None if frozen_where is None else ~frozen_where
    off = (w != 0) & ~mask
    checks = [("non-zero outside the connectivity mask", off if free is None else off & free)]
    if sign is not None:
        s = sign.to(w.device)[None, :]
        bad = mask & (((s > 0) & (w < 0)) | ((s < 0) & (w > 0)))
        checks.append(
            (
                "against the sign of their source unit (Dale's law)",
                bad if free is None else bad & free,
            )
        )
    if frozen_where is not None and frozen is not None:
        checks.append(
            (
                "different from the frozen weights (trainable=False or zero projections)",
                frozen_where & (w != frozen),
            )
        )
    found = []
    for what, bad in checks:
        n = int(bad.sum())
        if n:
            r, c = (int(i) for i in bad.nonzero()[0])
            found.append(f"{n} entries {what}, the first [{r}, {c}] = {float(w[r, c]):g}")
    if not found:
        return None
    return f"{name} cannot take this value: " + "; ".join(found)


#: A cut of a weight: ``(rows, cols)`` slices of its ``[dst, src]`` index space.
Cut = tuple[slice, slice]


def check_cuts(cuts: Sequence[Any]) -> list[Cut]:
    """``cuts`` as a list of ``(rows, cols)`` slice pairs with unit steps, else an error."""
    out = []
    for c in cuts:
        if not (isinstance(c, tuple) and len(c) == 2 and all(isinstance(x, slice) for x in c)):
            raise TypeError(f"a cut must be a (rows, cols) pair of slices; got {c!r}")
        if any(x.step not in (None, 1) for x in c):
            raise ValueError(f"a cut's slices must have step 1; got {c!r}")
        out.append(c)
    return out


def check_synapses(synapses: Any, n: int) -> torch.Tensor:
    """``synapses`` as a 1-D int64 CPU tensor of indices in ``[0, n)``, else an error."""
    if (
        not isinstance(synapses, torch.Tensor)
        or synapses.is_floating_point()
        or synapses.is_complex()
        or synapses.dtype == torch.bool
        or synapses.dim() != 1
    ):
        raise TypeError(
            f"synapses must be a 1-D integer tensor of synapse indices; got {synapses!r}"
        )
    idx = synapses.cpu().long()
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(
            f"synapse indices must be in [0, {n}) (the existing synapses); "
            f"got {int(idx.min())} .. {int(idx.max())}"
        )
    return idx


@contextmanager
def swapped_buffers(module: nn.Module, edited: dict[str, torch.Tensor]) -> Iterator[Any]:
    """Inside: ``module``'s buffers named in ``edited`` are those tensors; on exit (also
    after an exception) the tensors that were there before are back."""
    before: list[tuple[str, torch.Tensor]] = []
    try:
        for name, tensor in edited.items():
            before.append((name, getattr(module, name)))
            setattr(module, name, tensor)
        yield module
    finally:
        for name, tensor in reversed(before):
            setattr(module, name, tensor)
