"""The CPU buffer pool of the fused scan: reuse only what nothing else holds."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph
from mrnngraph import _buffers
from mrnngraph._scan import leaky_scan

SHAPE = (64, 32, 256)  # 2 MiB of float32: above the pooling threshold


@pytest.fixture(autouse=True)
def _empty_pool(monkeypatch):
    monkeypatch.delenv("MRNNGRAPH_BUFFER_POOL_MB", raising=False)
    _buffers.release_buffers()
    yield
    _buffers.release_buffers()


def _ptr(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def test_freed_buffer_is_handed_out_again():
    a = _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
    p = _ptr(a)
    del a
    b = _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
    assert _ptr(b) == p
    assert b.shape == SHAPE and b.is_contiguous() and b.dtype == torch.float32


def test_buffer_in_use_is_not_handed_out():
    a = _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
    view = a[3]  # a view alone keeps the storage in use
    del a
    b = _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
    assert _ptr(b) != _ptr(view)


def test_saved_by_autograd_is_not_handed_out():
    w = torch.randn(256, 256, requires_grad=True)
    a = _buffers.empty(SHAPE, torch.float32, torch.device("cpu")).normal_()
    y = (a @ w).sum()  # autograd saves `a` for the weight gradient
    p = _ptr(a)
    del a
    b = _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
    assert _ptr(b) != p
    del y, b


def test_small_buffers_and_budget_zero_bypass_the_pool(monkeypatch):
    _buffers.empty((4, 4), torch.float32, torch.device("cpu"))
    assert _buffers.pool_bytes() == 0
    monkeypatch.setenv("MRNNGRAPH_BUFFER_POOL_MB", "0")
    _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
    assert _buffers.pool_bytes() == 0


def test_without_a_use_count_nothing_is_pooled(monkeypatch):
    monkeypatch.setattr(_buffers, "_STORAGE_USE_COUNT", None)
    a = _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
    assert a.shape == SHAPE and _buffers.pool_bytes() == 0


@pytest.mark.parametrize("bad", ["lots", "-1", "inf", "nan"])
def test_bad_budget_is_an_error_naming_the_variable(monkeypatch, bad):
    monkeypatch.setenv("MRNNGRAPH_BUFFER_POOL_MB", bad)
    with pytest.raises(ValueError, match="MRNNGRAPH_BUFFER_POOL_MB must be a number"):
        _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))


def test_budget_caps_the_pool(monkeypatch):
    monkeypatch.setenv("MRNNGRAPH_BUFFER_POOL_MB", "16")  # 2 MiB buffers: at most 8 kept
    held = [_buffers.empty(SHAPE, torch.float32, torch.device("cpu")) for _ in range(12)]
    assert _buffers.pool_bytes() <= 16 << 20
    # Dropping the pool's reference left the buffers in use intact and distinct.
    assert len({_ptr(t) for t in held}) == 12
    mrnngraph.release_buffers()
    assert _buffers.pool_bytes() == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 7)), min_size=1, max_size=40))
def test_live_buffers_never_share_memory(ops):
    """Any interleaving of allocations and frees: live buffers never alias, and the
    values written into each survive every later allocation."""
    _buffers.release_buffers()
    live: dict[int, tuple[torch.Tensor, float]] = {}
    for n, (alloc, k) in enumerate(ops):
        if alloc or not live:
            t = _buffers.empty(SHAPE, torch.float32, torch.device("cpu"))
            t.fill_(float(n))
            live[n] = (t, float(n))
        else:
            live.pop(sorted(live)[k % len(live)])
        ptrs = [_ptr(t) for t, _ in live.values()]
        assert len(ptrs) == len(set(ptrs))
        for t, v in live.values():
            assert t[0, 0, 0].item() == v and t[-1, -1, -1].item() == v


def test_outputs_of_earlier_calls_survive_later_calls():
    """The scan's pooled states of one call are not overwritten by the next call while
    the caller still holds them, in training (autograd) and under no_grad."""
    torch.manual_seed(0)
    H, T, B = 128, 40, 64  # (T, B, H) float32 is 1.25 MiB: pooled
    W = (torch.randn(H, H) / H**0.5).requires_grad_(True)
    alpha = torch.full((H,), 0.2)
    x0 = torch.zeros(B, H)
    drives = [torch.randn(T, B, H) for _ in range(3)]
    expected = [leaky_scan(W.detach(), d, x0, alpha, "tanh", method="autograd") for d in drives]
    outs = []
    for d in drives:
        s = leaky_scan(W, d, x0, alpha, "tanh")
        s.square().mean().backward()
        outs.append(s)
    with torch.no_grad():
        outs += [leaky_scan(W, d, x0, alpha, "tanh") for d in drives]
    for got, want in zip(outs, expected + expected, strict=True):
        torch.testing.assert_close(got.detach(), want, atol=1e-5, rtol=1e-5)
    assert _buffers.pool_bytes() > 0


def test_pooled_and_unpooled_gradients_agree(monkeypatch):
    torch.manual_seed(1)
    H, T, B = 128, 40, 64
    W = torch.randn(H, H) / H**0.5
    alpha = torch.full((H,), 0.1)
    drive, x0 = torch.randn(T, B, H), torch.randn(B, H)

    def grads() -> list[torch.Tensor]:
        w, d = W.clone().requires_grad_(True), drive.clone().requires_grad_(True)
        for _ in range(3):  # later calls reuse the first call's buffers
            w.grad = d.grad = None
            states, rates = leaky_scan(w, d, x0, alpha, "relu", return_rates=True)
            (states.sin().sum() + rates.square().sum()).backward()
        return [w.grad, d.grad]

    pooled = grads()
    monkeypatch.setenv("MRNNGRAPH_BUFFER_POOL_MB", "0")
    _buffers.release_buffers()
    plain = grads()
    for a, b in zip(pooled, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
