"""perturb(ens, ...): each member perturbed as perturb(ens[k], ...) perturbs it, undone
exactly on exit; currents inside the block read the cuts and the stimulus."""

from __future__ import annotations

import functools

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.analysis.currents import currents, total_current
from mrnngraph.model import same_bits
from tests.test_ensemble import circuits, variant

D = torch.float64
FAMILIES = ("weight_hh", "weight_ih", "weight_ho")

PERTURBATIONS = [
    {"silence": "str"},
    {"clamp": {"thal": torch.linspace(0.1, 0.6, 6, dtype=D)}, "cut": [("ctx", "ctx")]},
    # thal -> ctx is frozen in members 0-2 and trainable in member 3; str -> thal is zero
    # in all but member 2; stim -> ctx and ctx -> choice are an input and a readout edge.
    {"cut": [("thal", "ctx"), ("str", "thal"), ("stim", "ctx"), ("ctx", "choice")]},
    {
        "stimulate": {"ctx": lambda t: 0.1 * t, "str": torch.linspace(-1, 1, 6, dtype=D)},
        "window": {"ctx": (2, 5), "str": (1, None)},
        "silence": ["thal"],
    },
    {"stimulate": {"str": torch.randn(3, 7, 6, dtype=D)}, "cut": ("ctx", "str")},
]


@pytest.fixture(scope="module")
def ens():
    e = mg.Ensemble(circuits(), dtype=D, activation="softplus")
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in e.parameters():  # trained apart: member weights unlike their circuits'
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=D))
    return e


@pytest.mark.parametrize("kw", PERTURBATIONS)
def test_each_member_is_perturbed_as_it_is_alone(ens, kw):
    """Effective weights, clamps and stimulus bit for bit; runs and gradients to rounding;
    currents (computed from the same rates) bit for bit."""
    u = torch.randn(3, 7, 3, generator=torch.Generator().manual_seed(0), dtype=D)
    before = {k: v.clone() for k, v in ens.state_dict().items()}
    ens.zero_grad()
    with mg.perturb(ens, **kw) as same:
        assert same is ens
        out = ens(u)
        (out.outputs.square().sum() + out.rates.sum()).backward()
        weights = {name: getattr(ens, name).detach().clone() for name in FAMILIES}
        cur = currents(ens, out.rates, u)
    assert ens.perturbation is None
    grads = {n: p.grad for n, p in ens.named_parameters()}
    for k in range(len(ens)):
        m = ens[k]
        with mg.perturb(m, **kw):
            for name in FAMILIES:
                assert same_bits(getattr(m, name), weights[name][k]), (k, name)
            mine = m(u)
            alone = currents(m, out.rates[k], u)
            (mine.outputs.square().sum() + mine.rates.sum()).backward()
        for a, b in zip(mine, (out.outputs[k], out.rates[k], out.states[k]), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
        for name, p in m.named_parameters():
            torch.testing.assert_close(p.grad, grads[name][k], rtol=1e-11, atol=1e-12)
        assert alone.keys() == cur.keys()
        for key, value in alone.items():
            assert torch.equal(value, cur[key][k]), (k, key)
    after = ens.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert same_bits(after[key], value), key


def test_cut_weights_read_zero_and_the_stack_is_never_written(ens):
    con = ens.parametrizations.weight_hh[0]
    tensors = {name: getattr(con, name) for name in ("mask", "sign", "frozen", "trainable")}
    snapshot = {name: t.clone() for name, t in tensors.items()}
    lay = ens.layout
    u = torch.randn(2, 4, 3, dtype=D)
    ens.zero_grad()
    with mg.perturb(ens, cut=[("thal", "ctx")]):
        w = ens.weight_hh
        assert not w[:, lay.slice("ctx"), lay.slice("thal")].any()
        loss = ens(u).outputs.sum()
    # the original buffer tensors are back, unchanged, and a graph recorded inside the
    # block still back-propagates after it
    for name, t in tensors.items():
        assert getattr(con, name) is t and same_bits(t, snapshot[name])
    loss.backward()
    g = ens.parametrizations.weight_hh.original.grad
    assert not g[:, lay.slice("ctx"), lay.slice("thal")].any()
    ens.zero_grad()


def test_restored_when_the_block_raises_and_nested_blocks_add_up(ens):
    before = {k: v.clone() for k, v in ens.state_dict().items()}
    u = torch.randn(2, 5, 3, dtype=D)
    with pytest.raises(RuntimeError, match="inside"):
        with mg.perturb(ens, silence="str", cut=[("ctx", "str")]):
            raise RuntimeError("inside")
    assert ens.perturbation is None
    for key, value in ens.state_dict().items():
        assert same_bits(value, before[key]), key
    with mg.perturb(ens, silence="str"), mg.perturb(ens, clamp={"thal": 0.5}):
        both = ens(u).rates
    with mg.perturb(ens, silence="str", clamp={"thal": 0.5}):
        once = ens(u).rates
    assert torch.equal(both, once)
    assert not both[..., ens.layout.slice("str")].any()
    assert (both[..., ens.layout.slice("thal")] == 0.5).all()


def _without_thal_to_ctx() -> nx.DiGraph:
    G = variant(1)
    G.remove_edge("thal", "ctx")
    return G


def test_an_edge_some_members_lack_is_cut_where_declared():
    cs = circuits(3)
    cs[1] = mg.compile(_without_thal_to_ctx(), seed=1)
    ens = mg.Ensemble(cs, dtype=D)
    u = torch.randn(2, 5, 3, dtype=D)
    with mg.perturb(ens, cut=("thal", "ctx")):
        out = ens(u)
        c = currents(ens, out.rates, u)
    for k in (0, 2):
        m = ens[k]
        with mg.perturb(m, cut=("thal", "ctx")):
            torch.testing.assert_close(m(u).outputs, out.outputs[k], rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(ens[1](u).outputs, out.outputs[1], rtol=1e-12, atol=1e-13)
    # the pathway is in the currents of every member, with zero current where cut or absent
    assert not c[("thal", "ctx")].any()
    with pytest.raises(KeyError, match=r"declares no edge \('str', 'ctx'\).*none of the 3"):
        with mg.perturb(ens, cut=[("str", "ctx")]):
            pass
    with pytest.raises(KeyError, match="nope"):
        with mg.perturb(ens, cut=[("nope", "ctx")]):
            pass


def test_currents_of_members_with_different_edges_stack_with_zeros():
    cs = circuits(2)
    cs[1] = mg.compile(_without_thal_to_ctx(), seed=1)
    ens = mg.Ensemble(cs, dtype=D)
    u = torch.randn(2, 5, 3, dtype=D)
    out = ens(u)
    c = currents(ens, out.rates, u)
    assert ("thal", "ctx") not in currents(ens[1], out.rates[1], u)
    assert not c[("thal", "ctx")][1].any() and c[("thal", "ctx")][0].any()
    keys = list(c)
    assert keys.index(("thal", "ctx")) < keys.index(("bias", "ctx"))
    total = total_current(ens, c)
    alpha = ens.alpha[:, None, None, :]
    x_prev = torch.cat([ens.x0[:, None, None, :].expand(2, 2, 1, -1), out.states[:, :, :-1]], 2)
    torch.testing.assert_close(out.states - (1 - alpha) * x_prev, alpha * total)


def test_the_stimulus_is_a_current_of_every_member(ens):
    u = torch.zeros(2, 6, 3, dtype=D)
    with torch.no_grad(), mg.perturb(ens, stimulate={"ctx": 2.0}, window=(1, 3)):
        out = ens(u)
        c = currents(ens, out.rates, u)
    s = c[("stimulus", "ctx")]
    assert s.shape == (4, 2, 6, 12)
    assert (s[:, :, 1:3] == 2.0).all() and not s[:, :, [0, 3, 4, 5]].any()


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"silence": "stim"}, ValueError, "not a recurrent region"),
        ({"clamp": {"ctx": torch.zeros(5)}}, ValueError, r"shape \(12,\)"),
        ({"cut": [("ctx",)]}, TypeError, "pairs"),
        ({"stimulate": {"ctx": "x"}}, TypeError, "number, a tensor or a callable"),
        ({"window": (0, 3)}, ValueError, "no stimulation"),
    ],
)
def test_bad_arguments_are_refused_before_anything_changes(ens, kwargs, exc, pattern):
    before = {k: v.clone() for k, v in ens.state_dict().items()}
    with pytest.raises(exc, match=pattern):
        with mg.perturb(ens, **kwargs):
            pass
    assert ens.perturbation is None
    for key, value in ens.state_dict().items():
        assert same_bits(value, before[key]), key


def test_stacked_cuts_refuse_synapses_and_members_out_of_range(ens):
    con = ens.parametrizations.weight_hh[0]
    with pytest.raises(NotImplementedError, match=r"ens\[k\]"):
        con.cut(synapses=torch.tensor([0]))
    with pytest.raises(NotImplementedError, match=r"ens\[k\]"):
        con.n_synapses()
    with pytest.raises(ValueError, match="member 4 is not one of the 4"):
        con.cut_members({4: [(slice(0, 1), slice(None))]})
    edited = con.cut((slice(0, 2), slice(None)))
    assert not edited["mask"][:, :2].any() and torch.equal(edited["mask"][:, 2:], con.mask[:, 2:])


@functools.cache
def _three() -> mg.Ensemble:
    return mg.Ensemble(circuits(3), dtype=D)


EDGES = [("ctx", "ctx"), ("ctx", "str"), ("str", "thal"), ("thal", "ctx"), ("stim", "ctx")]


@settings(max_examples=12, deadline=None)
@given(
    silence=st.lists(st.sampled_from(["ctx", "str", "thal"]), unique=True, max_size=2),
    cut=st.lists(st.sampled_from(EDGES), unique=True, max_size=3),
    clamp=st.one_of(st.none(), st.floats(-1.0, 1.0)),
    raise_inside=st.booleans(),
)
def test_any_perturbation_is_each_members_and_leaves_no_trace(silence, cut, clamp, raise_inside):
    ens = _three()
    kw = {"silence": silence, "cut": cut}
    if clamp is not None and "thal" not in silence:
        kw["clamp"] = {"thal": clamp}
    before = {k: v.clone() for k, v in ens.state_dict().items()}
    u = torch.ones(1, 4, 3, dtype=D)
    try:
        with mg.perturb(ens, **kw):
            weights = {name: getattr(ens, name).detach().clone() for name in FAMILIES}
            rates = ens(u).rates.detach()
            if raise_inside:
                raise RuntimeError("inside")
    except RuntimeError:
        pass
    for key, value in ens.state_dict().items():
        assert same_bits(value, before[key]), key
    assert ens.perturbation is None
    for k in range(len(ens)):
        m = ens[k]
        with mg.perturb(m, **kw):
            for name in FAMILIES:
                assert same_bits(getattr(m, name), weights[name][k]), (k, name)
            torch.testing.assert_close(m(u).rates, rates[k], rtol=1e-12, atol=1e-13)
