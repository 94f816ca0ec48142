"""Issue 16 vocabulary: edge ``delay``; node ``tau`` per unit, ``learn_tau``, ``tau_min``,
``tau_max``. Every bad value or combination is a problem naming its node or edge."""

import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.circuit import Block, CompiledCircuit
from mrnngraph.errors import GraphError
from mrnngraph.validation import EdgeSpec, NodeSpec, estimate_memory


def base() -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=4, exc_frac=0.5)
    G.add_node("b", size=3)
    G.add_node("y", kind="output", size=1)
    G.add_edges_from([("u", "a"), ("a", "b"), ("b", "a"), ("b", "y")])
    return G


def errors(G):
    return mg.validate(G, memory_limit=math.inf).errors


def only(G, code):
    errs = errors(G)
    assert [p.code for p in errs] == [code], errs
    with pytest.raises(GraphError):
        mg.compile(G, seed=0)
    return errs[0]


# --------------------------------------------------------------------------- delay
def test_delay_defaults_to_zero_everywhere():
    c = mg.compile(base(), seed=0)
    assert EdgeSpec("a", "b").delay == 0.0
    assert all(e.delay == 0.0 for e in c.spec.edges)
    assert all(b.delay == 0.0 for b in c.blocks.values())


@pytest.mark.parametrize("edge", [("u", "a"), ("a", "b"), ("b", "y")])
def test_delay_is_allowed_on_every_kind_of_edge_and_reaches_the_block(edge):
    G = base()
    G.edges[edge]["delay"] = np.float32(20)
    c = mg.compile(G, seed=0)
    assert c.blocks[edge].delay == 20.0 and type(c.blocks[edge].delay) is float
    assert [e.delay for e in c.spec.edges if (e.src, e.dst) == edge] == [20.0]
    others = [b.delay for k, b in c.blocks.items() if k != edge]
    assert others == [0.0] * len(others)


@pytest.mark.parametrize("bad", [-1.0, -1e-9, math.nan, math.inf, "10ms", True, [1.0]])
def test_bad_delay_is_a_problem_naming_the_edge(bad):
    G = base()
    G.edges["a", "b"]["delay"] = bad
    p = only(G, "bad-value")
    assert (p.edge, p.node, p.attribute) == (("a", "b"), None, "delay")
    assert "'delay'" in str(p) and "edge ('a', 'b')" in str(p)


def test_delay_leaves_the_random_streams_alone():
    G = base()
    plain = mg.compile(G, seed=3)
    for e in G.edges:
        G.edges[e]["delay"] = 30.0
    delayed = mg.compile(G, seed=3)
    for k, b in plain.blocks.items():
        assert torch.equal(b.weight, delayed.blocks[k].weight)
        assert torch.equal(b.mask, delayed.blocks[k].mask)


# --------------------------------------------------------------------------- tau
def test_tau_per_unit_fills_the_circuit_per_unit():
    G = base()
    G.nodes["a"]["tau"] = [10.0, 20.0, 30.0, 40.0]
    G.nodes["b"]["tau"] = 50.0
    c = mg.compile(G, seed=0)
    assert c.spec.nodes["a"].tau == (10.0, 20.0, 30.0, 40.0)
    assert c.tau.tolist() == [10.0, 20.0, 30.0, 40.0, 50.0, 50.0, 50.0]
    assert c.tau.dtype == torch.float32
    c64 = mg.compile(G, seed=0, dtype=torch.float64)
    assert c64.tau[:4].tolist() == [10.0, 20.0, 30.0, 40.0]


def test_tau_per_unit_accepts_arrays_and_tensors():
    for value in (np.array([1.5, 2.0, 3.0]), torch.tensor([1.5, 2.0, 3.0]), (1.5, 2, 3)):
        G = base()
        G.nodes["b"]["tau"] = value
        assert mg.check(G, memory_limit=math.inf).nodes["b"].tau == (1.5, 2.0, 3.0)


@pytest.mark.parametrize(
    "bad, code",
    [
        ([1.0, 2.0], "length-mismatch"),
        ([1.0, 2.0, 3.0, 4.0], "length-mismatch"),
        ([1.0, 0.0, 3.0], "bad-value"),
        ([1.0, -2.0, 3.0], "bad-value"),
        ([1.0, math.nan, 3.0], "bad-value"),
        ([1.0, math.inf, 3.0], "bad-value"),
        ([1.0, "x", 3.0], "bad-value"),
        ([], "length-mismatch"),
        (0.0, "bad-value"),
    ],
)
def test_bad_per_unit_tau_is_a_problem_naming_the_node(bad, code):
    G = base()
    G.nodes["b"]["tau"] = bad
    p = only(G, code)
    assert (p.node, p.attribute) == ("b", "tau")
    if code == "bad-value" and isinstance(bad, list):
        assert "value 1" in p.message


# --------------------------------------------------------------------------- learn_tau
def test_learn_tau_defaults_leave_the_circuit_without_learned_tau_tensors():
    c = mg.compile(base(), seed=0)
    assert (c.learn_tau, c.tau_min, c.tau_max) == (None, None, None)
    s = NodeSpec("a", "recurrent", 3)
    assert (s.learn_tau, s.tau_min, s.tau_max) == (False, None, None)


def test_learn_tau_and_bounds_are_compiled_per_unit():
    G = base()
    G.nodes["b"].update(learn_tau=True, tau=[20.0, 30.0, 40.0], tau_min=10.0, tau_max=200.0)
    G.nodes["a"]["learn_tau"] = True  # bounds unset: NaN
    c = mg.compile(G, seed=0)
    assert c.learn_tau.dtype == torch.bool and c.learn_tau.tolist() == [True] * 7
    assert torch.isnan(c.tau_min[:4]).all() and torch.isnan(c.tau_max[:4]).all()
    assert c.tau_min[4:].tolist() == [10.0] * 3 and c.tau_max[4:].tolist() == [200.0] * 3
    assert c.tau_min.dtype == c.tau_max.dtype == torch.float32
    G.nodes["a"]["learn_tau"] = False
    c = mg.compile(G, seed=0)
    assert c.learn_tau.tolist() == [False] * 4 + [True] * 3


def test_learn_tau_leaves_the_random_streams_alone():
    G = base()
    plain = mg.compile(G, seed=5)
    G.nodes["b"].update(learn_tau=True, tau_min=5.0, tau_max=500.0, tau=100.0)
    learned = mg.compile(G, seed=5)
    for k, b in plain.blocks.items():
        assert torch.equal(b.weight, learned.blocks[k].weight)


@pytest.mark.parametrize("node", ["u", "y"])
@pytest.mark.parametrize("attr, value", [("learn_tau", True), ("tau_min", 1.0), ("tau_max", 9.0)])
def test_learned_tau_attributes_on_inputs_and_outputs_are_problems(node, attr, value):
    G = base()
    G.nodes[node][attr] = value
    p = only(G, "not-applicable")
    assert (p.node, p.attribute) == (node, attr)


@pytest.mark.parametrize("bad", ["yes", 1, 0.0, [True]])
def test_learn_tau_must_be_a_bool(bad):
    G = base()
    G.nodes["b"]["learn_tau"] = bad
    p = only(G, "bad-value")
    assert (p.node, p.attribute) == ("b", "learn_tau")


@pytest.mark.parametrize("attr", ["tau_min", "tau_max"])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "5", [1.0]])
def test_bad_bound_is_a_problem_naming_the_node(attr, bad):
    G = base()
    G.nodes["b"].update({"learn_tau": True, attr: bad})
    p = only(G, "bad-value")
    assert (p.node, p.attribute) == ("b", attr)


@pytest.mark.parametrize("attr", ["tau_min", "tau_max"])
@pytest.mark.parametrize("learn", [False, None])
def test_bounds_without_learn_tau_are_problems(attr, learn):
    G = base()
    G.nodes["b"][attr] = 10.0
    if learn is not None:
        G.nodes["b"]["learn_tau"] = learn
    p = only(G, "tau-bound-without-learn-tau")
    assert (p.node, p.attribute) == ("b", attr)
    assert "learn_tau=True" in p.hint


@pytest.mark.parametrize("lo, hi", [(10.0, 10.0), (20.0, 10.0)])
def test_tau_min_must_be_below_tau_max(lo, hi):
    G = base()
    G.nodes["b"].update(learn_tau=True, tau_min=lo, tau_max=hi)
    p = only(G, "tau-bounds-order")
    assert (p.node, p.attribute) == ("b", "tau_min")


@pytest.mark.parametrize(
    "tau, bounds, unit",
    [
        (5.0, {"tau_min": 10.0}, None),
        (500.0, {"tau_max": 100.0}, None),
        (500.0, {"tau_min": 1.0, "tau_max": 100.0}, None),
        ([20.0, 5.0, 30.0], {"tau_min": 10.0, "tau_max": 100.0}, 1),
        ([20.0, 50.0, 300.0], {"tau_max": 100.0}, 2),
    ],
)
def test_tau_outside_its_bounds_is_a_problem(tau, bounds, unit):
    G = base()
    G.nodes["b"].update(learn_tau=True, tau=tau, **bounds)
    p = only(G, "tau-out-of-bounds")
    assert (p.node, p.attribute) == ("b", "tau")
    assert (f"(unit {unit})" in p.message) == (unit is not None)


def test_tau_on_its_bounds_is_fine():
    G = base()
    G.nodes["b"].update(learn_tau=True, tau=[10.0, 50.0, 100.0], tau_min=10.0, tau_max=100.0)
    assert errors(G) == []


def test_every_problem_is_found_at_once():
    G = base()
    G.nodes["a"]["tau_min"] = 3.0  # without learn_tau
    G.nodes["b"].update(learn_tau=True, tau_min=20.0, tau_max=10.0)
    G.edges["a", "b"]["delay"] = -1
    G.nodes["y"]["learn_tau"] = True
    got = sorted((p.code, str(p.node or p.edge)) for p in errors(G))
    assert got == [
        ("bad-value", "('a', 'b')"),
        ("not-applicable", "y"),
        ("tau-bound-without-learn-tau", "a"),
        ("tau-bounds-order", "b"),
    ]


# --------------------------------------------------------------------------- circuit
def test_old_constructors_keep_working():
    c = mg.compile(base(), seed=0)
    b = c.blocks["a", "b"]
    again = Block(b.src, b.dst, b.family, b.weight, b.mask, b.zero, b.trainable)
    assert again.delay == 0.0
    fields = dict(
        layout=c.layout,
        blocks=c.blocks,
        sign_h=c.sign_h,
        sign_i=c.sign_i,
        bias=c.bias,
        x0=c.x0,
        tau=c.tau,
        learnable_bias=c.learnable_bias,
        seed=c.seed,
        spec=c.spec,
    )
    assert CompiledCircuit(**fields).learn_tau is None


def test_memory_estimate_counts_the_learned_tau_vectors():
    G = base()
    plain = estimate_memory(mg.check(G, memory_limit=math.inf))
    assert plain.per_unit["a"] == 4 * (4 * 4 + 1)
    G.nodes["b"]["learn_tau"] = True
    est = estimate_memory(mg.check(G, memory_limit=math.inf))
    # learn_tau (bool) and tau_min, tau_max (float32) for every recurrent unit.
    assert est.per_unit["a"] == 4 * (6 * 4 + 2) and est.per_unit["b"] == 3 * (6 * 4 + 2)
    c = mg.compile(G, seed=0)
    vectors = (c.sign_h, c.bias, c.x0, c.tau, c.learnable_bias, c.learn_tau, c.tau_min, c.tau_max)
    assert (
        sum(t.numel() * t.element_size() for t in vectors) == est.per_unit["a"] + est.per_unit["b"]
    )


@settings(max_examples=30, deadline=None)
@given(
    taus=st.lists(
        st.floats(min_value=1e-3, max_value=1e6, allow_nan=False), min_size=3, max_size=3
    ),
    lo=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e6)),
    hi=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e6)),
)
def test_per_unit_tau_and_bounds_check_exactly_as_stated(taus, lo, hi):
    G = base()
    G.nodes["b"].update(learn_tau=True, tau=taus, tau_min=lo, tau_max=hi)
    codes = [p.code for p in errors(G)]
    if lo is not None and hi is not None and not lo < hi:
        assert codes == ["tau-bounds-order"]
    elif any((lo is not None and t < lo) or (hi is not None and t > hi) for t in taus):
        assert codes == ["tau-out-of-bounds"]
    else:
        assert codes == []
        c = mg.compile(G, seed=0, dtype=torch.float64)
        assert c.tau[4:].tolist() == taus
        assert c.learn_tau[4:].all() and not c.learn_tau[:4].any()
