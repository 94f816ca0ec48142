"""Ensembles: each member behaves as its own MultiRegionRNN, constraints hold per member,
layouts are checked, members come out (``ens[k]``) and go in (``from_models``) intact."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import networkx as nx
import pytest
import torch
from hypothesis import given, reject, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph._ensemble_linear import shared_drive, stacked_readout
from mrnngraph._ensemble_operator import EnsembleOperator
from mrnngraph._scan import OperatorWeights, RecurrentOperator, leaky_scan
from mrnngraph.ensemble import Ensemble, EnsembleOutput, StackedConstrained
from mrnngraph.model import MultiRegionRNN, same_bits
from tests.strategies import valid_graphs

D = torch.float64
ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("weight_hh", "weight_ih", "weight_ho")


def variant(v: int, *, ctx: int = 12) -> nx.DiGraph:
    """Four circuits of one layout that differ in signs, E/I split, time constants,
    biases (one learnable), frozen and ``zero`` pathways and masks."""
    G = nx.DiGraph()
    G.add_node("stim", kind="input", size=3)
    G.add_node(
        "ctx", size=ctx, exc_frac=[0.75, 0.5, 1.0, 0.0][v % 4], tau=[50, 80, 100, 200][v % 4]
    )
    G.add_node("str", size=6, **({"sign": "inh"} if v % 2 else {}), base_firing=0.1 * v)
    G.add_node("thal", size=6, sign="exc", base_firing=1.0, init=0.5, learnable_bias=v == 1)
    G.add_node("choice", kind="output", size=2)
    G.add_edge("stim", "ctx", sparsity=0.5)
    G.add_edge("ctx", "ctx", sparsity=0.6, autapses=False)
    G.add_edge("ctx", "str", density=0.5)
    G.add_edge("str", "thal", zero=v != 2)
    G.add_edge("thal", "ctx", trainable=v == 3, gain=0.5)
    G.add_edge("ctx", "choice")
    return G


def circuits(n: int = 4, **kw) -> list[mg.CompiledCircuit]:
    return [mg.compile(variant(v, **kw), seed=v) for v in range(n)]


def raw(module: torch.nn.Module, name: str) -> torch.Tensor:
    return module.parametrizations[name].original


# ---------------------------------------------------------------------------- equivalence
@pytest.mark.parametrize("per_member_inputs", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_each_member_equals_its_standalone_model(per_member_inputs, batch_first):
    """Outputs, rates, states and every parameter's gradient, float64, to rounding."""
    ens = Ensemble(circuits(), dtype=D, activation="softplus", batch_first=batch_first)
    members = [ens[k] for k in range(len(ens))]
    g = torch.Generator().manual_seed(1)
    shape = (3, 7, 3) if batch_first else (7, 3, 3)
    u = torch.randn((4, *shape) if per_member_inputs else shape, generator=g, dtype=D)
    out = ens(u)
    assert isinstance(out, EnsembleOutput)
    weights = torch.randn(out.outputs.shape, generator=g, dtype=D)
    ((out.outputs * weights).sum() + (out.rates**2).sum()).backward()
    grads = {n: p.grad for n, p in ens.named_parameters()}
    for k, m in enumerate(members):
        mine = m(u[k] if per_member_inputs else u)
        for a, b in zip(mine, (out.outputs[k], out.rates[k], out.states[k]), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
        ((mine.outputs * weights[k]).sum() + (mine.rates**2).sum()).backward()
        for name, p in m.named_parameters():
            torch.testing.assert_close(p.grad, grads[name][k], rtol=1e-11, atol=1e-12)


def test_x0_shapes_and_the_default_initial_state():
    ens = Ensemble(circuits(3), dtype=D)
    N, H = 3, ens.hidden_size
    u = torch.randn(2, 5, 3, dtype=D)
    x0 = torch.randn(N, 2, H, dtype=D)
    given = ens(u, x0)
    for k in range(N):
        torch.testing.assert_close(given.rates[k], ens[k](u, x0[k]).rates, rtol=1e-12, atol=0)
    per_member = ens(u, x0[:, 0])
    torch.testing.assert_close(per_member.rates, ens(u, x0[:, :1].expand(N, 2, H)).rates)
    shared = ens(u, x0[0, 0])
    torch.testing.assert_close(shared.rates, ens(u, x0[0, 0].expand(N, 2, H)).rates)
    # The default is each member's own init (thal starts at 0.5).
    torch.testing.assert_close(ens(u).rates, ens(u, ens.x0).rates)
    with pytest.raises(ValueError, match=r"x0 must have shape \(3, 2, 24\)"):
        ens(u, torch.zeros(2, H, dtype=D))


def test_the_fused_and_the_autograd_scan_agree():
    results = []
    for scan in ("fused", "autograd"):
        ens = Ensemble(circuits(), dtype=D, scan=scan, activation="tanh")
        out = ens(torch.linspace(-1, 1, 2 * 6 * 3, dtype=D).view(2, 6, 3))
        (out.outputs.sin().sum() + out.states.square().sum()).backward()
        results.append((*out, *(p.grad for p in ens.parameters())))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("uniform", [False, True])
def test_the_operator_follows_the_protocol_and_passes_gradcheck(uniform):
    op = EnsembleOperator(3, 4)
    assert isinstance(op, RecurrentOperator)
    g = torch.Generator().manual_seed(0)
    W = (torch.randn(3, 4, 4, generator=g, dtype=D) / 2).requires_grad_()
    drive = torch.randn(5, 2, 12, generator=g, dtype=D, requires_grad=True)
    x0 = torch.randn(2, 12, generator=g, dtype=D, requires_grad=True)
    alpha = torch.full((12,), 0.3, dtype=D) if uniform else torch.rand(12, generator=g, dtype=D)
    clamp = (torch.arange(12) % 5 == 0, torch.linspace(-1, 1, 12, dtype=D).requires_grad_())

    def run(w, d, x, v):
        ow = OperatorWeights(EnsembleOperator(3, 4), (w,))
        return leaky_scan(ow, d, x, alpha, "tanh", (clamp[0], v), return_rates=True)

    assert torch.autograd.gradcheck(run, (W, drive, x0, clamp[1]))
    # Member k of the block-diagonal scan is the dense scan of W[k] on its units.
    states = leaky_scan(OperatorWeights(op, (W,)), drive, x0, alpha, "tanh")
    for k in range(3):
        units = slice(4 * k, 4 * k + 4)
        one = leaky_scan(W[k], drive[..., units], x0[:, units], alpha[units], "tanh")
        torch.testing.assert_close(states[..., units], one, rtol=1e-12, atol=1e-14)


def test_the_pooled_projections_have_exact_first_and_second_derivatives():
    g = torch.Generator().manual_seed(0)

    def t(*shape):
        return torch.randn(*shape, generator=g, dtype=D, requires_grad=True)

    u, w, b = t(6, 2), t(3, 4, 2), t(3, 4)
    assert torch.autograd.gradcheck(shared_drive, (u, w, b))
    assert torch.autograd.gradgradcheck(shared_drive, (u, w, b))
    rates, wo, bo = t(5, 2, 12), t(3, 2, 4), t(3, 2)
    assert torch.autograd.gradcheck(stacked_readout, (rates, wo, bo))
    assert torch.autograd.gradgradcheck(stacked_readout, (rates, wo, bo))
    assert torch.autograd.gradcheck(lambda r, w: stacked_readout(r, w, None), (rates, wo))


def test_a_gradient_penalty_differentiates_through_the_ensemble():
    """create_graph=True (double backward) gives the same as the plain autograd loop."""
    results = []
    for scan in ("fused", "autograd"):
        ens = Ensemble(circuits(2), dtype=D, scan=scan, activation="tanh")
        u = torch.linspace(-1, 1, 2 * 5 * 3, dtype=D).view(2, 5, 3).requires_grad_()
        (du,) = torch.autograd.grad(ens(u).outputs.sum(), u, create_graph=True)
        du.square().sum().backward()
        results.append([p.grad for p in ens.parameters()])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_training_together_gives_the_weights_of_training_each_alone():
    ens = Ensemble(circuits(), dtype=D)
    models = [ens[k] for k in range(len(ens))]
    opt = torch.optim.Adam(ens.parameters(), lr=1e-2)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in models]
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        u = torch.randn(4, 6, 3, generator=g, dtype=D)
        y = torch.randn(4, 6, 2, generator=g, dtype=D)
        opt.zero_grad()
        ((ens(u).outputs - y) ** 2).mean((1, 2, 3)).sum().backward()
        opt.step()
        for m, o in zip(models, opts, strict=True):
            o.zero_grad()
            ((m(u).outputs - y) ** 2).mean().backward()
            o.step()
    for k, m in enumerate(models):
        for name, p in m.named_parameters():
            torch.testing.assert_close(
                dict(ens.named_parameters())[name][k], p, rtol=1e-9, atol=1e-11
            )


# ---------------------------------------------------------------------------- constraints
def _check_member_constraints(ens: Ensemble, k: int, c: mg.CompiledCircuit) -> None:
    for fam, sign in (("hh", c.sign_h), ("ih", c.sign_i), ("ho", c.sign_h)):
        w = getattr(ens, f"weight_{fam}")[k].detach()
        mask, trainable = getattr(c, f"mask_{fam}"), getattr(c, f"trainable_{fam}")
        initial = getattr(c, f"weight_{fam}").to(w.dtype)
        if fam == "ho":  # readout_sign: the circuit's readout with each unit's sign
            s = c.sign_h.to(w.dtype)
            initial = torch.where(s != 0, s * initial.abs(), initial)
        assert (w[~mask & trainable] == 0).all(), f"weight_{fam} of member {k} off its mask"
        assert torch.equal(w[~trainable], initial[~trainable]), f"frozen weight_{fam} moved"
        if sign is not None:
            s = sign.to(w.dtype).expand_as(w)
            # NaN has no sign: after huge steps only a wrongly signed number is a failure.
            wrong = ((s > 0) & (w < 0)) | ((s < 0) & (w > 0))
            assert not wrong.any(), f"weight_{fam} of member {k} against Dale's law"


@settings(max_examples=15, deadline=None)
@given(
    versions=st.lists(st.integers(0, 3), min_size=1, max_size=3),
    lr=st.sampled_from([1e2, 1e5, 1e9]),
    adam=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_member_constraints_hold_after_huge_optimizer_steps(versions, lr, adam, seed):
    cs = [mg.compile(variant(v), seed=seed + i) for i, v in enumerate(versions)]
    ens = Ensemble(cs)
    opt = (torch.optim.Adam if adam else torch.optim.SGD)(ens.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(2):
        opt.zero_grad()
        out = ens(torch.randn(2, 4, 3, generator=g))
        (out.outputs.sum() - out.rates.mean()).backward()
        opt.step()
    for k, c in enumerate(cs):
        _check_member_constraints(ens, k, c)
        member = ens[k]
        for name in FAMILIES:
            assert same_bits(getattr(member, name), getattr(ens, name)[k].detach())


@settings(max_examples=15, deadline=None)
@given(
    G=valid_graphs(max_regions=3, max_size=6),
    seeds=st.lists(st.integers(0, 99), min_size=1, max_size=3),
)
def test_random_circuits_keep_their_constraints_per_member(G, seeds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cs = [mg.compile(G, seed=s) for s in seeds]
            ens = Ensemble(cs, tau=200.0)
        except NotImplementedError:  # features ensembles do not stack yet
            reject()
    opt = torch.optim.SGD(ens.parameters(), lr=1e6)
    out = ens(torch.randn(2, 3, ens.input_size))
    (out.outputs.sum() + out.rates.sum()).backward()
    opt.step()
    for k, c in enumerate(cs):
        _check_member_constraints(ens, k, c)


def test_values_against_a_members_constraint_are_refused_naming_the_member():
    ens = Ensemble(circuits(3))
    w = ens.weight_hh.detach().clone()
    exc = int(ens.circuits[2].layout.exc_slice("ctx").start)
    w[2, 0, exc] = -1.0
    with pytest.raises(ValueError, match="weight_hh of member 2 cannot take this value"):
        ens.weight_hh = w
    with pytest.raises(ValueError, match=r"must have shape \(3, 24, 24\)"):
        ens.weight_hh = w[:2]
    con = ens.parametrizations.weight_hh[0]
    good = torch.where(con.trainable, ens.weight_hh.detach() * 0.5, ens.weight_hh.detach())
    ens.weight_hh = good
    assert torch.equal(ens.weight_hh, good)
    assert isinstance(ens.parametrizations.weight_hh[0], StackedConstrained)
    with pytest.raises(NotImplementedError, match="ens\\[k\\]"):
        ens.parametrizations.weight_hh[0].synapse_coordinates()


# ---------------------------------------------------------------------------- layouts
def _renamed(G: nx.DiGraph, old: str, new: str) -> nx.DiGraph:
    return nx.relabel_nodes(G, {old: new})


@pytest.mark.parametrize(
    "change, pattern",
    [
        (lambda: _renamed(variant(0), "str", "gpe"), r"circuits\[2\] has regions \['ctx', 'gpe'"),
        (
            lambda: variant(0, ctx=10),
            r"circuits\[2\]: region 'ctx' has 10 units, in circuits\[0\] 12",
        ),
        (lambda: _renamed(variant(0), "stim", "cue"), r"circuits\[2\] has inputs \['cue'\]"),
        (lambda: _renamed(variant(0), "choice", "y"), r"circuits\[2\] has outputs \['y'\]"),
    ],
)
def test_a_member_with_another_layout_is_refused_by_name(change, pattern):
    bad = [*circuits(2), mg.compile(change(), seed=0)]
    with pytest.raises(ValueError, match=pattern):
        Ensemble(bad)


def test_region_order_matters():
    G = variant(0)
    order = ["thal", "ctx", "str"]
    with pytest.raises(ValueError, match=r"circuits\[1\] has regions \['thal', 'ctx', 'str'\]"):
        Ensemble([mg.compile(G, seed=0), mg.compile(G, seed=0, order=order)])


def test_bad_arguments():
    with pytest.raises(TypeError, match="sequence of CompiledCircuit"):
        Ensemble(circuits(1)[0])
    with pytest.raises(TypeError, match=r"circuits\[1\] must be a CompiledCircuit"):
        Ensemble([circuits(1)[0], "x"])
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(ValueError, match="tau must be"):
        Ensemble(circuits(1), tau=-1.0)
    with pytest.raises(TypeError):
        Ensemble(circuits(1), taus=3.0)
    ens = Ensemble(circuits(2))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, T, 3\)"):
        ens(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"\(N=2, B, T, 3\)"):
        ens(torch.zeros(3, 2, 5, 3))
    with pytest.raises(IndexError, match="member 2 out of range"):
        ens[2]
    with pytest.raises(TypeError, match="indexed by an int"):
        ens[0:1]


# ---------------------------------------------------------------------------- members
def test_a_member_is_an_independent_standalone_model():
    ens = Ensemble(circuits(), dtype=D)
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    u = torch.randn(2, 5, 3, dtype=D)
    out = ens(u)
    for k in (0, 3, -1):
        m = ens[k]
        assert type(m).__mro__[1] is MultiRegionRNN and m.circuit is ens.circuits[k]
        for name in FAMILIES:
            assert same_bits(raw(m, name), raw(ens, name)[k])
            assert same_bits(getattr(m, name), getattr(ens, name)[k].detach())
        assert same_bits(m.bias, ens.bias[k].detach()) and same_bits(m.x0, ens.x0[k])
        assert same_bits(m.alpha, ens.alpha[k])
        torch.testing.assert_close(m(u).outputs, out.outputs[k], rtol=1e-12, atol=1e-13)
    before = ens.weight_hh.detach().clone()
    with torch.no_grad():
        raw(ens[1], "weight_hh").add_(1.0)
    assert torch.equal(ens.weight_hh, before)


def test_a_sparse_option_reaches_the_members():
    ens = Ensemble(circuits(2), sparse=True, dtype=D)
    assert ens.options()["sparse"] is True
    m = ens[1]
    assert m.sparse
    # The block-sparse model assembles its dense view on +0.0 where the dense one has -0.0.
    assert torch.equal(m.weight_hh, ens.weight_hh[1].detach())
    u = torch.randn(2, 5, 3, dtype=D)
    torch.testing.assert_close(m(u).outputs, ens(u).outputs[1], rtol=1e-12, atol=1e-13)


def test_from_models_round_trip():
    models = [MultiRegionRNN(c, dtype=D) for c in circuits()]
    g = torch.Generator().manual_seed(0)
    for m in models:  # trained apart: different weights, raw values off their masks too
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.randn(p.shape, generator=g, dtype=D))
            m.x0.add_(0.1)
    ens = Ensemble.from_models(models)
    assert ens.options() == models[0].options()
    u = torch.randn(2, 5, 3, dtype=D)
    out = ens(u)
    for k, m in enumerate(models):
        back = ens[k].state_dict()
        for key, value in m.state_dict().items():
            assert same_bits(back[key], value), key
        torch.testing.assert_close(out.outputs[k], m(u).outputs, rtol=1e-12, atol=1e-13)
    again = Ensemble.from_models([ens[k] for k in range(len(ens))])
    for (key, a), b in zip(again.state_dict().items(), ens.state_dict().values(), strict=True):
        assert same_bits(a, b), key


def test_from_models_takes_block_sparse_models():
    G = variant(0)
    models = [MultiRegionRNN.from_graph(G, seed=s, sparse=True, dtype=D) for s in range(2)]
    ens = Ensemble.from_models(models)
    u = torch.randn(2, 5, 3, dtype=D)
    for k, m in enumerate(models):
        assert ens[k].sparse and torch.equal(ens[k].weight_hh, m.weight_hh)
        torch.testing.assert_close(ens(u).outputs[k], m(u).outputs, rtol=1e-12, atol=1e-13)


def test_from_models_refuses_what_cannot_be_stacked():
    cs = circuits(2)
    with pytest.raises(TypeError, match=r"models\[1\] must be a MultiRegionRNN"):
        Ensemble.from_models([MultiRegionRNN(cs[0]), cs[1]])
    with pytest.raises(ValueError, match="no models"):
        Ensemble.from_models([])
    with pytest.raises(ValueError, match=r"models\[1\] has dt=20.0, models\[0\] has dt=10.0"):
        Ensemble.from_models([MultiRegionRNN(cs[0]), MultiRegionRNN(cs[1], dt=20.0)])
    with pytest.raises(ValueError, match=r"models\[1\] has dtype"):
        Ensemble.from_models([MultiRegionRNN(cs[0]), MultiRegionRNN(cs[1], dtype=D)])
    other = mg.compile(variant(0, ctx=10), seed=0)
    with pytest.raises(ValueError, match=r"models\[1\]: region 'ctx' has 10 units"):
        Ensemble.from_models([MultiRegionRNN(cs[0]), MultiRegionRNN(other)])
    edited = MultiRegionRNN(cs[1])
    mask = edited.parametrizations.weight_hh[0].mask
    mask.view(-1)[int(mask.view(-1).nonzero()[0])] = False
    with pytest.raises(ValueError, match=r"models\[1\]'s buffers \[.*weight_hh.0.mask"):
        Ensemble.from_models([MultiRegionRNN(cs[0]), edited])


def test_state_dict_round_trip_and_reset():
    ens = Ensemble(circuits(3))
    first = {k: v.clone() for k, v in ens.state_dict().items()}
    with torch.no_grad():
        for p in ens.parameters():
            p.mul_(2.0)
    twin = Ensemble(ens.circuits, **ens.options())
    twin.load_state_dict(ens.state_dict())
    u = torch.randn(2, 4, 3)
    assert torch.equal(twin(u).outputs, ens(u).outputs)
    ens.reset_parameters()
    for key, value in ens.state_dict().items():
        assert same_bits(value, first[key]), key
    assert "members=3" in repr(ens)


def test_noise_is_drawn_per_member_from_the_generator():
    c = mg.compile(variant(0), seed=0)
    ens = Ensemble([c, c], noise_std=0.1, input_noise_std=0.1)
    u = torch.randn(2, 6, 3)
    a = ens(u, generator=torch.Generator().manual_seed(5)).outputs
    b = ens(u, generator=torch.Generator().manual_seed(5)).outputs
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])  # identical members, their own noise


def test_default_threads_in_a_child_process():
    """The batched matmuls may run on several threads: a member still equals its model."""
    code = textwrap.dedent(
        """
        import warnings, torch, mrnngraph as mg
        from mrnngraph.ensemble import Ensemble
        from mrnngraph.presets.examples import two_area_ei
        warnings.simplefilter("ignore")
        cs = [mg.compile(two_area_ei(size=20), seed=s) for s in range(4)]
        ens = Ensemble(cs, dtype=torch.float64)
        u = torch.randn(8, 10, 3, dtype=torch.float64)
        out = ens(u)
        out.outputs.square().sum().backward()
        g = ens.parametrizations.weight_hh.original.grad
        for k in (0, 3):
            m = ens[k]
            o = m(u)
            o.outputs.square().sum().backward()
            torch.testing.assert_close(o.outputs, out.outputs[k], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(
                m.parametrizations.weight_hh.original.grad, g[k], rtol=1e-10, atol=1e-12)
        print("ok", torch.get_num_threads())
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok")
