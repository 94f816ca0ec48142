"""The sequence-level scan: gradients equal autograd's, clamps, double backward, the model."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mrnngraph import MultiRegionRNN
from mrnngraph._scan import (
    ACTIVATION_FUNCTIONS,
    SCAN_METHODS,
    activation_derivative,
    leaky_scan,
)
from mrnngraph.presets.examples import cbgt_loop, two_area_ei

ACTS = list(ACTIVATION_FUNCTIONS)
D = torch.float64


def _inputs(H=5, T=4, B=2, seed=0, grad=True, uniform=False):
    g = torch.Generator().manual_seed(seed)
    W = (torch.randn(H, H, generator=g, dtype=D) / H**0.5).requires_grad_(grad)
    drive = torch.randn(T, B, H, generator=g, dtype=D).requires_grad_(grad)
    x0 = torch.randn(B, H, generator=g, dtype=D).requires_grad_(grad)
    # Per-unit alpha folds into the weights; one alpha for all is a scalar factor.
    alpha = (
        torch.full((H,), 0.3, dtype=D)
        if uniform
        else torch.rand(H, generator=g, dtype=D) * 0.8 + 0.1
    )
    return W, drive, x0, alpha


def _both(W, drive, x0, alpha, act, clamp=None, method="fused"):
    s, r = leaky_scan(W, drive, x0, alpha, act, clamp, method=method, return_rates=True)
    return s, r


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("uniform", [False, True])
def test_gradcheck_every_activation(act, uniform):
    W, drive, x0, alpha = _inputs(uniform=uniform)
    assert torch.autograd.gradcheck(lambda w, d, x: _both(w, d, x, alpha, act), (W, drive, x0))


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_gradcheck_with_clamp_and_clamp_value(act):
    W, drive, x0, alpha = _inputs(H=6)
    mask = torch.tensor([True, False, False, True, False, False])
    value = torch.tensor([0.3, 0, 0, -0.2, 0, 0], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda w, d, x, v: _both(w, d, x, alpha, act, (mask, v)), (W, drive, x0, value)
    )


@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_double_backward_by_recomputation(act):
    W, drive, x0, alpha = _inputs(H=4, T=3)
    assert torch.autograd.gradgradcheck(lambda w, d, x: _both(w, d, x, alpha, act), (W, drive, x0))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamped", [False, True])
@pytest.mark.parametrize("uniform", [False, True])
def test_fused_equals_plain_loop(act, clamped, uniform):
    W, drive, x0, alpha = _inputs(H=7, T=9, B=3, seed=1, uniform=uniform)
    clamp = (torch.arange(7) % 3 == 0, torch.linspace(-0.5, 0.5, 7, dtype=D)) if clamped else None
    results = {}
    for method in ("fused", "autograd"):
        s, r = _both(W, drive, x0, alpha, act, clamp, method)
        loss = (s.sin() * 1.3).sum() + (r * r).sum()
        grads = torch.autograd.grad(loss, (W, drive, x0))
        results[method] = (s, r, *grads)
    for a, b in zip(results["fused"], results["autograd"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    if clamped:
        # Clamped units hold their value at every step.
        r = results["fused"][1]
        assert torch.equal(r[..., clamp[0]], clamp[1][clamp[0]].expand_as(r[..., clamp[0]]))


@given(
    H=st.integers(1, 8),
    T=st.integers(0, 6),
    B=st.integers(1, 3),
    act=st.sampled_from(ACTS),
    seed=st.integers(0, 2**16),
    uniform=st.booleans(),
)
def test_fused_matches_autograd_property(H, T, B, act, seed, uniform):
    W, drive, x0, alpha = _inputs(H, T, B, seed, uniform=uniform)
    outs = {}
    for method in ("fused", "autograd"):
        s, r = _both(W, drive, x0, alpha, act, method=method)
        assert s.shape == r.shape == (T, B, H)
        loss = s.sum() + (r * torch.arange(H, dtype=D)).sum()
        outs[method] = (
            s,
            r,
            *torch.autograd.grad(loss, (W, drive, x0), allow_unused=True, materialize_grads=True),
        )
    for a, b in zip(outs["fused"], outs["autograd"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_no_grad_forward_is_the_same_loop():
    W, drive, x0, alpha = _inputs(H=6, T=5, grad=False)
    with torch.no_grad():
        fast = leaky_scan(W, drive, x0, alpha, "softplus")
    plain = leaky_scan(W, drive, x0, alpha, "softplus", method="autograd")
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-14)
    assert not fast.requires_grad


def test_weight_gradient_is_one_gemm_and_one_matmul_per_step():
    W, drive, x0, alpha = _inputs(H=16, T=12, B=4)
    s = leaky_scan(W, drive, x0, alpha, "relu")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        s.sum().backward()
    calls = {e.key: e.count for e in prof.key_averages()}
    # T products with W walking time, then delta[0]^T h0 and one GEMM over the other steps.
    matmuls = sum(
        n for k, n in calls.items() if k in ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm")
    )
    assert matmuls == 12 + 2


@pytest.mark.parametrize("act", ["tanh", "relu", "softplus"])
@pytest.mark.parametrize("clamped", [False, True])
def test_fused_differentiates_alpha(act, clamped):
    W, drive, x0, alpha = _inputs(H=5, T=6, B=2, seed=4)
    alpha.requires_grad_(True)
    clamp = (torch.tensor([True, False, False, True, False]), torch.full((5,), 0.2, dtype=D))
    clamp = clamp if clamped else None
    got = {}
    for method in ("auto", "autograd"):
        s, r = _both(W, drive, x0, alpha, act, clamp, method)
        loss = (s.sin() * 1.3).sum() + (r * r).sum()
        got[method] = torch.autograd.grad(loss, (alpha, W, drive, x0))
    for a, b in zip(got["auto"], got["autograd"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert bool(got["auto"][0].abs().sum() > 0)
    assert torch.autograd.gradcheck(
        lambda a, w, d: _both(w, d, x0, a, act, clamp, "fused"), (alpha, W, drive)
    )


def test_alpha_double_backward():
    W, drive, x0, alpha = _inputs(H=4, T=3, seed=2)
    alpha.requires_grad_(True)
    assert torch.autograd.gradgradcheck(
        lambda a, w: _both(w, drive, x0, a, "tanh", method="fused"), (alpha, W)
    )


def test_bad_arguments():
    W, drive, x0, alpha = _inputs(grad=False)
    with pytest.raises(ValueError, match="method must be one of"):
        leaky_scan(W, drive, x0, alpha, "relu", method="cudnn")
    with pytest.raises(ValueError, match="activation must be one of"):
        leaky_scan(W, drive, x0, alpha, "gelu")
    with pytest.raises(TypeError, match="weight must be a Tensor or OperatorWeights"):
        leaky_scan(W.numpy(), drive, x0, alpha, "relu")
    assert SCAN_METHODS == ("auto", "fused", "autograd")


@pytest.mark.parametrize("act", ACTS)
def test_activation_derivative_matches_autograd(act):
    x = torch.tensor([-30.0, -2.0, -1e-3, 0.0, 1e-3, 0.7, 19.0, 21.0], dtype=D, requires_grad=True)
    h = ACTIVATION_FUNCTIONS[act](x)
    (g,) = torch.autograd.grad(h.sum(), x)
    torch.testing.assert_close(activation_derivative(act, x.detach(), h.detach()), g)
    # Into a given buffer (what the fused backward does with a pooled one).
    out = torch.full_like(x, float("nan")).detach()
    got = activation_derivative(act, x.detach(), h.detach(), out=out)
    assert got.data_ptr() == out.data_ptr()
    torch.testing.assert_close(out, g)


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("make", [lambda: cbgt_loop(scale=0.5), lambda: two_area_ei(size=20)])
def test_model_fused_equals_autograd(make):
    G = make()
    models = {
        s: MultiRegionRNN.from_graph(G, seed=3, scan=s, noise_std=0.0, dtype=D, sparse=False)
        for s in ("auto", "autograd")
    }
    u = torch.randn(2, 15, models["auto"].input_size, dtype=D)
    got = {}
    for s, m in models.items():
        out = m(u)
        (out.outputs.square().mean() + out.rates.mean()).backward()
        got[s] = (*out, *(p.grad for p in m.parameters()))
    for a, b in zip(got["auto"], got["autograd"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert "scan='autograd'" in repr(models["autograd"])


def test_model_perturbation_clamp_and_drive_in_fused_path():
    from mrnngraph.model import Perturbation

    m = MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, dtype=D)
    ref = MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, dtype=D, scan="autograd")
    H = m.hidden_size
    mask = torch.zeros(H, dtype=torch.bool)
    mask[:5] = True
    value = torch.full((H,), 0.25, dtype=D)
    for model in (m, ref):
        model.perturbation = Perturbation(
            clamp=(mask, value),
            drive=lambda T, B, like: torch.ones(T, 1, like.shape[-1], dtype=like.dtype),
        )
    u = torch.randn(3, 8, m.input_size, dtype=D)
    out, out_ref = m(u), ref(u)
    assert bool((out.rates[..., :5] == 0.25).all())
    for a, b in zip(out, out_ref, strict=True):
        torch.testing.assert_close(a, b)
    out.outputs.sum().backward()
    out_ref.outputs.sum().backward()
    for p, q in zip(m.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def test_model_rejects_unknown_scan():
    with pytest.raises(ValueError, match="scan must be one of"):
        MultiRegionRNN.from_graph(two_area_ei(size=5), seed=0, scan="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_replay_equals_eager_loop(monkeypatch):
    W, drive, x0, alpha = (
        t.detach().cuda().requires_grad_(t.requires_grad) for t in _inputs(H=64, T=20, B=8)
    )
    W.requires_grad_(True)
    drive.requires_grad_(True)
    results = []
    for flag in ("1", "0"):
        monkeypatch.setenv("MRNNGRAPH_CUDA_GRAPHS", flag)
        for _ in range(2):  # the second call replays the captured graph
            s, r = _both(W, drive, x0, alpha, "tanh")
            grads = torch.autograd.grad(s.sum() + r.square().sum(), (W, drive))
        results.append((s, r, *grads))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)
