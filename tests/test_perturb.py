"""mrnngraph.perturb: silence, clamp, cut and stimulate by name; exact restoration."""

from __future__ import annotations

import copy

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mrnngraph import MultiRegionRNN
from mrnngraph.perturbation import perturb
from mrnngraph.presets.examples import cbgt_loop


@pytest.fixture(scope="module")
def model():
    G = cbgt_loop(scale=0.25)
    G.edges["snr", "thal"]["trainable"] = False  # a frozen projection to cut
    G.nodes["stn"]["base_firing"] = 1.0  # STN active, so silencing it shows downstream
    return MultiRegionRNN.from_graph(G, seed=5)


@pytest.fixture(scope="module")
def u():
    return torch.rand(2, 16, 3, generator=torch.Generator().manual_seed(0))


def _snapshot(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def _assert_same_state(m, snap):
    sd = m.state_dict()
    assert sd.keys() == snap.keys()
    for k in sd:
        assert sd[k].dtype == snap[k].dtype and torch.equal(sd[k], snap[k]), k
    assert m.perturbation is None


def _run(m, u, **kw):
    with torch.no_grad():
        return m(u, **kw)


def test_silence_holds_rates_at_zero_and_restores(model, u):
    base = _run(model, u)
    snap = _snapshot(model)
    with torch.no_grad(), perturb(model, silence=["stn"]) as m:
        assert m is model
        out = model(u)
    assert float(model.region_activity(out.rates, "stn").abs().max()) == 0.0
    # STN excites SNr: without it SNr fires less
    snr = model.region_activity(out.rates, "snr").sum()
    assert float(snr) < float(model.region_activity(base.rates, "snr").sum())
    _assert_same_state(model, snap)
    assert torch.equal(_run(model, u).outputs, base.outputs)


def test_clamp_number_tensor_and_group(model, u):
    n_thal = model.layout.sizes["thal"]
    values = torch.linspace(0.1, 0.5, n_thal)
    with torch.no_grad(), perturb(model, clamp={"thal": values, "ctx": 0.25}):
        out = model(u)
    thal = model.region_activity(out.rates, "thal")
    assert torch.equal(thal, values.expand_as(thal))
    ctx = model.region_activity(out.rates, "ctx")  # the group: ctx_e and ctx_i
    assert ctx.shape[-1] == len(model.layout.indices("ctx")) and bool((ctx == 0.25).all())


def test_cut_equals_a_model_without_the_projection(model, u):
    ref = copy.deepcopy(model)
    with torch.no_grad():
        w = ref.weight_hh.clone()
        w[model.layout.slice("stn"), model.layout.slice("gpe")] = 0
        ref.weight_hh = w
    with torch.no_grad(), perturb(model, cut=[("gpe", "stn")]):
        cut = model(u)
        assert float(model.projection("gpe", "stn").abs().max()) == 0.0
        assert torch.allclose(cut.states, ref(u).states, atol=1e-6)
    with torch.no_grad():
        assert float(model.projection("gpe", "stn").abs().max()) > 0


def test_cut_input_readout_frozen_and_groups(model, u):
    snap = _snapshot(model)
    with (
        torch.no_grad(),
        perturb(model, cut=[("stim", "ctx"), ("ctx_e", "choice"), ("snr", "thal")]),
    ):
        assert float(model.projection("stim", "ctx").abs().max()) == 0.0
        assert float(model.projection("snr", "thal").abs().max()) == 0.0  # frozen block
        out = model(u)
    assert float(out.outputs.abs().max()) == 0.0
    _assert_same_state(model, snap)
    assert float(model.projection("snr", "thal").abs().max().detach()) > 0


def test_restored_when_the_block_raises(model, u):
    snap = _snapshot(model)
    with (
        pytest.raises(RuntimeError, match="boom"),
        perturb(model, silence="gpe", cut=[("stn", "snr")], stimulate={"d1": 1.0}),
    ):
        raise RuntimeError("boom")
    _assert_same_state(model, snap)


def test_gradients_flow_and_backward_after_exit(model, u):
    snap = _snapshot(model)
    with perturb(model, cut=[("gpe", "stn")], silence=["d2"]):
        loss = model(u).outputs.pow(2).sum()
    loss.backward()  # the graph recorded inside stays valid after the masks come back
    g = model.parametrizations.weight_hh.original.grad
    assert g is not None and bool(g.abs().sum() > 0)
    rows, cols = model.layout.slice("stn"), model.layout.slice("gpe")
    assert float(g[rows, cols].abs().max()) == 0.0  # cut weights get no gradient
    model.zero_grad(set_to_none=True)
    _assert_same_state(model, snap)


def test_clamp_value_can_carry_a_gradient(model, u):
    v = torch.full((model.layout.sizes["thal"],), 0.3, requires_grad=True)
    with perturb(model, clamp={"thal": v}):
        model(u).outputs.sum().backward()
    assert v.grad is not None and bool(v.grad.abs().sum() > 0)
    model.zero_grad(set_to_none=True)


def test_stimulus_window_and_forms(model, u):
    base = _run(model, u)
    n = model.layout.sizes["ctx_e"]
    T, B = u.shape[1], u.shape[0]
    with torch.no_grad(), perturb(model, stimulate={"ctx_e": 0.5}, window=(4, 9)):
        out = model(u)
    assert torch.equal(out.states[:, :4], base.states[:, :4])
    assert not torch.allclose(out.states[:, 4], base.states[:, 4])
    # the stimulus enters like an input current: x[5] - x[5](base)... check step 4 exactly
    a = model.alpha[model.layout.slice("ctx_e")]
    diff = (out.states[:, 4] - base.states[:, 4])[:, model.layout.slice("ctx_e")]
    assert torch.allclose(diff, (a * 0.5).expand_as(diff), atol=1e-6)

    forms = {
        "number": 0.5,
        "per unit": torch.full((n,), 0.5),
        "per step": torch.full((T, n), 0.5),
        "per trial": torch.full((B, T, n), 0.5),
        "callable (T,)": lambda t: torch.full_like(t, 0.5),
        "callable (T, n)": lambda t: torch.full((t.shape[0], n), 0.5),
    }
    results = {}
    for name, v in forms.items():
        with torch.no_grad(), perturb(model, stimulate={"ctx_e": v}, window={"ctx_e": (4, 9)}):
            results[name] = model(u).states
    for name, states in results.items():
        assert torch.allclose(states, out.states, atol=1e-6), name

    with torch.no_grad(), perturb(model, stimulate={"ctx_e": lambda t: (t == 2).float()}):
        pulse = model(u)
    assert torch.equal(pulse.states[:, :2], base.states[:, :2])
    assert not torch.equal(pulse.states[:, 2], base.states[:, 2])


def test_nested_perturbations_add_up_and_unwind(model, u):
    snap = _snapshot(model)
    with torch.no_grad(), perturb(model, cut=[("gpe", "stn")]):
        with perturb(model, silence="d1"):
            inner = model(u)
            assert float(model.projection("gpe", "stn").abs().max()) == 0.0
        outer = model(u)
        assert float(model.projection("gpe", "stn").abs().max()) == 0.0
    assert float(model.region_activity(inner.rates, "d1").abs().max()) == 0.0
    assert float(model.region_activity(outer.rates, "d1").abs().max()) > 0
    _assert_same_state(model, snap)


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"silence": ["stnn"]}, KeyError, r"unknown region 'stnn'; known names: .*'stn'"),
        ({"silence": ["stim"]}, ValueError, "'stim' is not a recurrent region"),
        ({"cut": [("gpe", "d1")]}, KeyError, r"declares no edge \('gpe', 'd1'\).*\('gpe', 'stn'\)"),
        ({"cut": [("gpx", "stn")]}, KeyError, "unknown region 'gpx'"),
        ({"cut": ["gpe"]}, TypeError, "cut must be a list of"),
        ({"clamp": {"thal": "high"}}, TypeError, r"clamp\['thal'\] must be a number"),
        ({"clamp": {"thal": torch.ones(3)}}, ValueError, r"tensor of shape \(6,\)"),
        ({"silence": ["thal"], "clamp": {"thal": 1.0}}, ValueError, "overlaps"),
        ({"stimulate": {"ctx_e": "x"}}, TypeError, "must be a number, a tensor or a callable"),
        ({"stimulate": {"ctx_e": torch.ones(5)}}, ValueError, "must end in the region size 24"),
        ({"stimulate": {"ctx_e": 1.0}, "window": (5, 2)}, ValueError, "0 <= t0 < t1"),
        ({"stimulate": {"ctx_e": 1.0}, "window": (1.5, 2)}, TypeError, "pair of ints"),
        ({"stimulate": {"ctx_e": 1.0}, "window": {"thal": (0, 2)}}, KeyError, "not stimulated"),
        ({"window": (0, 2)}, ValueError, "no stimulation"),
    ],
)
def test_errors_name_the_culprit_and_change_nothing(model, kwargs, exc, pattern):
    snap = _snapshot(model)
    with pytest.raises(exc, match=pattern), perturb(model, **kwargs):
        pass
    _assert_same_state(model, snap)


def test_run_time_stimulus_shape_errors(model, u):
    with (
        pytest.raises(ValueError, match="has 3 steps; the run has 16"),
        torch.no_grad(),
        perturb(model, stimulate={"ctx_e": torch.ones(3, 24)}),
    ):
        model(u)
    with (
        pytest.raises(ValueError, match="returned shape"),
        torch.no_grad(),
        perturb(model, stimulate={"ctx_e": lambda t: torch.ones(2, 2)}),
    ):
        model(u)
    assert model.perturbation is None


def test_batch_first_false_stimulus_layout():
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=1)
    G.add_node("a", size=2)
    G.add_edges_from([("u", "a"), ("a", "a")])
    m = MultiRegionRNN.from_graph(G, seed=0, batch_first=False, activation="linear", alpha=1.0)
    with torch.no_grad():
        m.weight_hh = torch.zeros(2, 2)
        m.weight_ih = torch.zeros(2, 1)
    s = torch.arange(12.0).reshape(3, 2, 2)  # (T, B, n)
    with torch.no_grad(), perturb(m, stimulate={"a": s}):
        out = m(torch.zeros(3, 2, 1))
    assert torch.equal(out.states, s)  # alpha = 1, no weights: the state is the stimulus


@settings(max_examples=20, deadline=None)
@given(
    silence=st.sets(st.sampled_from(["ctx_e", "d1", "gpe", "stn", "thal"]), max_size=3),
    cuts=st.sets(
        st.sampled_from(
            [
                ("ctx_e", "d1"),
                ("gpe", "stn"),
                ("stn", "gpe"),
                ("snr", "thal"),
                ("stim", "ctx_i"),
                ("d1", "gpe"),
            ]
        ),
        max_size=4,
    ),
    raise_inside=st.booleans(),
)
def test_state_dict_bit_identical_after_any_perturbation(model, u, silence, cuts, raise_inside):
    snap = _snapshot(model)
    masks = {n: model.parametrizations[n][0].mask for n in ("weight_hh", "weight_ih")}
    try:
        with torch.no_grad(), perturb(model, silence=sorted(silence), cut=sorted(cuts)):
            model(u[:, :3])
            if raise_inside:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    _assert_same_state(model, snap)
    # the very same buffer objects are back, not copies
    assert all(model.parametrizations[n][0].mask is t for n, t in masks.items())


def test_cut_in_block_sparse_mode_matches_dense(u):
    G = cbgt_loop(scale=0.25)
    G.edges["snr", "thal"]["trainable"] = False
    sparse = MultiRegionRNN.from_graph(G, seed=5, sparse=True)
    dense = MultiRegionRNN.from_graph(G, seed=5, sparse=False)
    snap = _snapshot(sparse)
    cuts = [("gpe", "stn"), ("snr", "thal"), ("stim", "ctx_e"), ("d1", "gpe")]
    with (
        torch.no_grad(),
        perturb(sparse, cut=cuts, silence="d2"),
        perturb(dense, cut=cuts, silence="d2"),
    ):
        a, b = sparse(u), dense(u)
        assert float(sparse.projection("snr", "thal").abs().max()) == 0.0
    assert torch.allclose(a.states, b.states, atol=1e-5)
    _assert_same_state(sparse, snap)
    with torch.no_grad():
        assert torch.allclose(sparse(u).states, dense(u).states, atol=1e-5)


@pytest.mark.parametrize("sparse", [False, True])
def test_cuts_go_through_the_parametrizations_own_masked(sparse, monkeypatch):
    """perturb asks each weight's parametrization for the cut (its ``masked``) with the
    edges' (rows, cols) rectangles; it touches no buffer itself."""
    G = cbgt_loop(scale=0.25)
    m = MultiRegionRNN.from_graph(G, seed=5, sparse=sparse)
    lay = m.layout
    calls = []
    for name in ("weight_hh", "weight_ih"):
        con = m.parametrizations[name][0]
        real = con.masked

        def spy(*rects, _name=name, _real=real, **kw):
            calls.append((_name, rects, kw))
            return _real(*rects, **kw)

        monkeypatch.setattr(con, "masked", spy)
    cuts = [("gpe", "stn"), ("stim", "ctx_e")]
    with torch.no_grad(), perturb(m, cut=cuts):
        pass
    assert calls == [
        ("weight_hh", ((lay.slice("stn"), lay.slice("gpe")),), {}),
        ("weight_ih", ((lay.slice("ctx_e"), lay.slice("stim")),), {}),
    ]
