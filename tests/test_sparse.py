"""Block-sparse execution: identical to the dense path, constraints by construction."""

import networkx as nx
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mrnngraph import MultiRegionRNN, compile
from mrnngraph._scan import OperatorWeights, leaky_scan
from mrnngraph._sparse import (
    SPARSE_MAX_COVERAGE,
    SPARSE_MIN_BLOCK_ENTRIES,
    SPARSE_MIN_UNITS,
    BlockSparse,
    block_coverage,
    choose_sparse,
    mask_select,
)
from mrnngraph.model import Perturbation
from mrnngraph.presets.examples import cbgt_loop

from .strategies import valid_graphs

D = torch.float64


def mixed_graph() -> nx.DiGraph:
    """Regions of three sizes, every constraint kind: signs, frozen, zero, ei, autapses."""
    G = nx.DiGraph(dt=10.0, tau=50.0)
    G.add_node("u", kind="input", size=3)
    G.add_node("a", size=12, exc_frac=0.75)
    G.add_node("b", size=12, sign="inh")
    G.add_node("c", size=7)
    G.add_node("d", size=12, sign="exc", tau=20.0)
    G.add_node("y", kind="output", size=2)
    G.add_edge("u", "a")
    G.add_edge("u", "c")
    G.add_edge("a", "a", density=0.5, autapses=False)
    G.add_edge("a", "b", density=0.4, ei=["E"])
    G.add_edge("b", "a", density=0.6)
    G.add_edge("a", "d", density=0.7, trainable=False)
    G.add_edge("d", "c", density=0.5)
    G.add_edge("c", "c", density=0.9)
    G.add_edge("c", "b", zero=True)
    G.add_edge("d", "y")
    G.add_edge("a", "y")
    return G


def _pair(G, seed=0, dtype=D, **kw):
    c = compile(G, seed=seed)
    return (
        MultiRegionRNN(c, sparse=False, dtype=dtype, **kw),
        MultiRegionRNN(c, sparse=True, dtype=dtype, **kw),
    )


def _run(model, u):
    model.zero_grad(set_to_none=True)
    out = model(u)
    (out.outputs.square().mean() + out.rates.mean()).backward()
    return out


@pytest.mark.parametrize("scan", ["fused", "autograd"])
def test_sparse_matches_dense_float32(scan):
    dense, sparse = _pair(mixed_graph(), dtype=torch.float32, scan=scan, activation="tanh")
    u = torch.randn(4, 30, 3)
    out_d, out_s = _run(dense, u), _run(sparse, u)
    for a, b in zip(out_d, out_s, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    con = sparse._constraint("weight_hh")
    g_dense_as_blocks = con.original_from_dense(dense.parametrizations.weight_hh.original.grad)
    torch.testing.assert_close(
        sparse.parametrizations.weight_hh.original.grad, g_dense_as_blocks, rtol=1e-4, atol=1e-6
    )
    for name in ("weight_ih", "weight_ho"):
        torch.testing.assert_close(
            getattr(sparse.parametrizations, name).original.grad,
            getattr(dense.parametrizations, name).original.grad,
            rtol=1e-4,
            atol=1e-6,
        )


@pytest.mark.parametrize("uniform", [False, True])
def test_gradcheck_block_operator(uniform):
    c = compile(mixed_graph(), seed=1)
    p = BlockSparse(c, dtype=D)
    raw = p.initial_original(c).to(D).requires_grad_(True)
    H = c.layout.hidden_size
    g = torch.Generator().manual_seed(0)
    drive = torch.randn(3, 2, H, dtype=D, generator=g, requires_grad=True)
    x0 = torch.randn(2, H, dtype=D, generator=g, requires_grad=True)
    alpha = torch.full((H,), 0.3, dtype=D) if uniform else torch.linspace(0.1, 0.9, H, dtype=D)

    def run(r, d, x):
        return leaky_scan(p.blocks(r), d, x, alpha, "softplus", return_rates=True)

    # fast_mode: a random projection of the Jacobian (raw has ~1,000 entries).
    assert torch.autograd.gradcheck(run, (raw, drive, x0), fast_mode=True)


def test_initial_weights_masks_and_signs_equal_the_circuit():
    c = compile(mixed_graph(), seed=2)
    m = MultiRegionRNN(c, sparse=True)
    assert torch.equal(m.weight_hh, c.weight_hh)
    assert torch.equal(m.mask_hh, c.mask_hh)
    assert torch.equal(m.sign_h, c.sign_h)
    assert "sparse=True" in repr(m)


def test_no_dense_hh_tensor_is_stored():
    c = compile(cbgt_loop(), seed=0)
    m = MultiRegionRNN(c, sparse=True)
    H = m.hidden_size
    for name, t in [*m.named_parameters(), *m.named_buffers()]:
        assert t.numel() < H * H, name
    # The model never asked the circuit for its dense recurrent mask or trainable map.
    assert not {"weight_hh", "mask_hh", "trainable_hh"} & c.__dict__.keys()
    n_entries = sum(
        b.mask.numel()
        for b in c.family_blocks("hh")
        if not b.zero and b.trainable and bool(b.mask.any())
    )
    assert m.parametrizations.weight_hh.original.numel() == n_entries


def test_constraints_hold_after_training_steps():
    c = compile(mixed_graph(), seed=3)
    m = MultiRegionRNN(c, sparse=True, activation="tanh")
    frozen_before = c.connection("a", "d").weight.clone()
    opt = torch.optim.SGD(m.parameters(), lr=2.0)
    for _ in range(3):
        opt.zero_grad()
        out = m(torch.randn(2, 10, 3))
        (out.rates - 0.3).square().mean().backward()
        opt.step()
    W = m.weight_hh.detach()
    assert bool(W.isfinite().all())
    lay = m.layout
    assert bool((W[~c.mask_hh] == 0).all())
    exc = c.sign_h > 0
    inh = c.sign_h < 0
    assert bool((W[:, exc] >= 0).all()) and bool((W[:, inh] <= 0).all())
    assert torch.equal(W[lay.slice("d"), lay.slice("a")], frozen_before)
    assert bool((W[lay.slice("b"), lay.slice("c")] == 0).all())  # the zero projection
    assert not torch.equal(W, c.weight_hh)  # something did train


def test_state_dict_round_trip_and_dtype_move():
    c = compile(mixed_graph(), seed=4)
    m = MultiRegionRNN(c, sparse=True)
    with torch.no_grad():
        m.parametrizations.weight_hh.original.mul_(0.5)
    m2 = MultiRegionRNN(c, sparse=True)
    m2.load_state_dict(m.state_dict())
    assert torch.equal(m2.weight_hh, m.weight_hh)
    m2 = m2.to(D)
    out = m2(torch.randn(1, 5, 3, dtype=D))
    assert out.rates.dtype == D


def test_clamp_perturbation_in_sparse_mode():
    dense, sparse = _pair(mixed_graph(), seed=5)
    H = dense.hidden_size
    mask = torch.zeros(H, dtype=torch.bool)
    mask[dense.layout.slice("c")] = True
    value = torch.full((H,), 0.5, dtype=D)
    for m in (dense, sparse):
        m.perturbation = Perturbation(clamp=(mask, value))
    u = torch.randn(2, 12, 3, dtype=D)
    out_d, out_s = _run(dense, u), _run(sparse, u)
    assert bool((out_s.rates[..., mask] == 0.5).all())
    for a, b in zip(out_d, out_s, strict=True):
        torch.testing.assert_close(a, b)


@given(G=valid_graphs(max_regions=4, max_size=8), act=st.sampled_from(["relu", "tanh"]))
def test_sparse_equals_dense_on_random_circuits(G, act):
    dense, sparse = _pair(G, seed=7, activation=act)
    u = torch.rand(2, 6, dense.input_size, dtype=D)
    out_d, out_s = _run(dense, u), _run(sparse, u)
    for a, b in zip(out_d, out_s, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    g_d = dense.parametrizations.weight_hh.original.grad
    g_s = sparse.parametrizations.weight_hh.original.grad
    con = sparse._constraint("weight_hh")
    if g_s is not None and g_s.numel():
        torch.testing.assert_close(g_s, con.original_from_dense(g_d), rtol=1e-9, atol=1e-12)


def _region_graph(n_regions: int, size: int, edges: list[tuple[int, int]]) -> nx.DiGraph:
    G = nx.DiGraph()
    for i in range(n_regions):
        G.add_node(f"r{i}", size=size)
    G.add_edges_from((f"r{a}", f"r{b}", {"density": 0.1}) for a, b in edges)
    return G


def test_automatic_choice():
    small = compile(cbgt_loop(), seed=0)
    assert not choose_sparse(small)  # 240 units in blocks of eight shapes
    assert not MultiRegionRNN(small).sparse
    ring = [(i, i) for i in range(8)] + [(i, (i + 1) % 8) for i in range(8)]
    big_blocks = compile(_region_graph(8, 64, ring), seed=0)
    assert block_coverage(big_blocks) == pytest.approx(16 / 64)
    assert choose_sparse(big_blocks) and MultiRegionRNN(big_blocks).sparse
    # The same ring in regions of 8 units: blocks too small to pay for their gathers.
    ring32 = [(i, i) for i in range(32)] + [(i, (i + 1) % 32) for i in range(32)]
    tiny_blocks = compile(_region_graph(32, SPARSE_MIN_UNITS // 32, ring32), seed=0)
    assert SPARSE_MIN_UNITS // 32 < SPARSE_MIN_BLOCK_ENTRIES**0.5
    assert not choose_sparse(tiny_blocks)
    all_pairs = compile(_region_graph(4, 64, [(a, b) for a in range(4) for b in range(4)]), seed=0)
    assert block_coverage(all_pairs) == 1.0 > SPARSE_MAX_COVERAGE
    assert not choose_sparse(all_pairs)
    assert not choose_sparse(compile(_region_graph(2, 8, [(0, 1)]), seed=0))  # too few units


def test_sparse_option_type_and_bad_right_inverse():
    c = compile(mixed_graph(), seed=0)
    with pytest.raises(TypeError, match="sparse must be a bool or None"):
        MultiRegionRNN(c, sparse="yes")
    p = BlockSparse(c)
    with pytest.raises(ValueError, match="dense"):
        p.right_inverse(torch.zeros(3, 3))


def test_operator_weights_validate_through_leaky_scan():
    c = compile(mixed_graph(), seed=0)
    p = BlockSparse(c)
    ow = p.blocks(p.initial_original(c))
    assert isinstance(ow, OperatorWeights) and len(ow.tensors) == len(p.groups)
    H = c.layout.hidden_size
    s = leaky_scan(ow, torch.zeros(4, 2, H), torch.zeros(2, H), torch.full((H,), 0.5), "relu")
    assert s.shape == (4, 2, H)


def _constraints_hold(m, c):
    W = m.weight_hh.detach()
    assert bool((W[~c.mask_hh] == 0).all())
    assert bool((W[:, c.sign_h > 0] >= 0).all()) and bool((W[:, c.sign_h < 0] <= 0).all())
    frozen = ~c.trainable_hh
    assert torch.equal(W[frozen], c.weight_hh[frozen].to(W))


@pytest.mark.parametrize("source_sparse", [False, True])
def test_dense_and_sparse_models_exchange_state_dicts(source_sparse):
    """Issue 12 section 4: sparse.load_state_dict(dense.state_dict()) failed, and back."""
    G = mixed_graph()
    src = MultiRegionRNN.from_graph(G, seed=0, sparse=source_sparse, dtype=D)
    dst = MultiRegionRNN.from_graph(G, seed=0, sparse=not source_sparse, dtype=D)
    opt = torch.optim.SGD(src.parameters(), lr=0.5)  # trained: not the initial weights
    for _ in range(2):
        opt.zero_grad()
        _run(src, torch.randn(2, 8, 3, dtype=D))
        opt.step()
    assert not torch.equal(src.weight_hh, dst.weight_hh)
    dst.load_state_dict(src.state_dict())
    u = torch.randn(3, 10, 3, dtype=D)
    for a, b in zip(src(u), dst(u), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.equal(dst.weight_hh, src.weight_hh)
    _constraints_hold(dst, src.circuit)
    # Back again: the state dict of the converted model loads into the first path.
    back = MultiRegionRNN.from_graph(G, seed=0, sparse=source_sparse, dtype=D)
    back.load_state_dict(dst.state_dict())
    assert torch.equal(back.weight_hh, src.weight_hh)
    # ... and trains on with its constraints.
    opt = torch.optim.SGD(dst.parameters(), lr=2.0)
    opt.zero_grad()
    _run(dst, torch.randn(2, 8, 3, dtype=D))
    opt.step()
    _constraints_hold(dst, src.circuit)


def test_exchange_refuses_a_mask_outside_the_blocks():
    G = mixed_graph()
    dense = MultiRegionRNN.from_graph(G, seed=0, sparse=False)
    sparse = MultiRegionRNN.from_graph(G, seed=0, sparse=True)
    state = dense.state_dict()
    lay = dense.layout
    state["parametrizations.weight_hh.0.mask"][lay.slice("d"), lay.slice("b")] = True
    with pytest.raises(
        RuntimeError,
        match="dense recurrent weights into this block-sparse "
        "model.*outside the declared recurrent blocks",
    ):
        sparse.load_state_dict(state)
    block_state = sparse.state_dict()
    block_state["parametrizations.weight_hh.original"] = torch.zeros(5)
    with pytest.raises(
        RuntimeError,
        match=r"block recurrent weights into this dense model.*"
        r"flat vector of this circuit's \d+ trainable block entries",
    ):
        dense.load_state_dict(block_state)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, D])
def test_mask_select_is_an_exact_select_with_an_exact_gradient(dtype):
    x = torch.tensor(
        [float("nan"), 2.0, float("inf"), -3.0, -0.0, float("-inf")],
        dtype=dtype,
        requires_grad=True,
    )
    mask = torch.tensor([False, True, False, True, True, True])
    y = mask_select(x, mask)
    expected = torch.where(mask, x.detach(), 0.0)
    assert torch.equal(y.isnan(), expected.isnan()) and torch.equal(y[1:], expected[1:])
    assert not bool(y[~mask].isnan().any()) and bool((y[~mask] == 0).all())
    y.backward(torch.full((6,), float("nan"), dtype=dtype))
    assert bool((x.grad[~mask] == 0).all()) and bool(x.grad[mask].isnan().all())


def test_mask_select_derivatives_and_torch_func():
    from torch.func import jacrev, vmap

    mask = torch.rand(5, 4, generator=torch.Generator().manual_seed(0)) < 0.5
    x = torch.randn(5, 4, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: mask_select(a, mask) * a, (x,))
    assert torch.autograd.gradgradcheck(lambda a: mask_select(a, mask) * a, (x,))
    jac = jacrev(lambda a: mask_select(a, mask))(x.detach())
    assert torch.equal(jac.reshape(20, 20), torch.diag(mask.reshape(-1).to(D)))
    batch = torch.randn(3, 5, 4, dtype=D)
    assert torch.equal(vmap(lambda a: mask_select(a, mask))(batch), torch.where(mask, batch, 0.0))
    assert torch.equal(
        mask_select(torch.ones(2, dtype=torch.complex64), torch.tensor([True, False])),
        torch.tensor([1, 0], dtype=torch.complex64),
    )  # torch.where fallback
