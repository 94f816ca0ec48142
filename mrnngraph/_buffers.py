"""Reuse of the large CPU sequence buffers of the fused scan across calls.

A training step of the fused scan allocates a few ``(T, B, H)`` buffers (states,
rates, ``f'(x)``, the adjoint). glibc serves buffers of more than a few MB with
``mmap`` and hands them back to the kernel when they are freed, so every step pays
page faults to get the same memory again, a large share of a trial at a few hundred
units (figures in ``bench/NOTES.md``, "Figures behind code comments").

:func:`empty` keeps such buffers' storages after the call and hands one out again
only when **nothing outside the pool uses it**: the pool checks the storage's use
count (every tensor and view sharing the storage, autograd's saved tensors and
``.grad`` included, holds a reference), so a buffer the caller still holds, or that
autograd saved, is never handed out twice. Only CPU tensors are pooled (CUDA has
its own caching allocator).

The pool holds at most ``MRNNGRAPH_BUFFER_POOL_MB`` MiB (default 256; ``0`` turns
it off, read at each call); :func:`release_buffers` empties it.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict

import torch

__all__ = ["empty", "release_buffers", "pool_bytes"]

_DEFAULT_MB = 256
#: Buffers smaller than this are left to the allocator (glibc keeps them in the heap).
_MIN_BYTES = 1 << 20

_lock = threading.Lock()
# id(storage) -> storage, least recently handed out first.
_pool: OrderedDict[int, torch.UntypedStorage] = OrderedDict()


def _budget() -> int:
    raw = os.environ.get("MRNNGRAPH_BUFFER_POOL_MB", "").strip()
    if not raw:
        return _DEFAULT_MB << 20
    try:
        mb = float(raw)
    except ValueError:
        mb = math.nan
    if not mb >= 0 or math.isinf(mb):
        raise ValueError(
            f"MRNNGRAPH_BUFFER_POOL_MB must be a number of MiB >= 0 (0 turns "
            f"the buffer pool off); got {raw!r}"
        )
    return int(mb * (1 << 20))


# References to a storage (tensors, views, Python storage objects). Without it (a torch
# that lacks this private function) nothing is pooled: reuse would not be safe.
_STORAGE_USE_COUNT = getattr(torch._C, "_storage_Use_Count", None)


def _use_count(storage: torch.UntypedStorage) -> int:
    return _STORAGE_USE_COUNT(storage._cdata)


def _wrap(
    storage: torch.UntypedStorage, shape: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape)


def empty(
    shape: tuple[int, ...] | torch.Size, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype, device=device)``, contiguous, reusing a pooled
    CPU buffer of the same size that nothing else uses (contents undefined)."""
    shape = tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    budget = _budget()
    if (
        torch.device(device).type != "cpu"
        or nbytes < _MIN_BYTES
        or 4 * nbytes > budget
        or _STORAGE_USE_COUNT is None
    ):
        return torch.empty(shape, dtype=dtype, device=device)
    with _lock:
        for key, storage in _pool.items():
            # Only the pool's reference left: free to hand out again.
            if storage.nbytes() == nbytes and _use_count(storage) == 1:
                _pool.move_to_end(key)
                return _wrap(storage, shape, dtype)
        out = torch.empty(shape, dtype=dtype)
        storage = out.untyped_storage()
        _pool[id(storage)] = storage
        total = sum(s.nbytes() for s in _pool.values())
        while total > budget and _pool:
            # Dropping the pool's reference never frees a buffer still in use.
            _, old = _pool.popitem(last=False)
            total -= old.nbytes()
        return out


def release_buffers() -> None:
    """Drop every pooled sequence buffer (memory in use elsewhere stays valid).

    The fused scan keeps up to ``MRNNGRAPH_BUFFER_POOL_MB`` MiB (default 256) of
    CPU ``(T, B, H)`` buffers between calls to avoid page faults; call this to give
    that memory back, e.g. after training.

    Examples
    --------
    >>> import mrnngraph
    >>> mrnngraph.release_buffers()
    >>> pool_bytes()
    0
    """
    with _lock:
        _pool.clear()


def pool_bytes() -> int:
    """Bytes of the buffers the pool holds (in use or free)."""
    with _lock:
        return sum(s.nbytes() for s in _pool.values())
