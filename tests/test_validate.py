"""One test per problem the validator reports, each checking who it names."""

import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

import mrnngraph as mg
from mrnngraph import schema
from mrnngraph.errors import GraphError
from mrnngraph.validation import available_memory, estimate_memory


def base() -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    G.add_node("e", size=4, sign="exc")
    G.add_node("i", size=4, sign="inh")
    G.add_node("m", size=10, exc_frac=0.8)
    G.add_node("f", size=3)
    G.add_node("y", kind="output", size=1)
    G.add_edges_from([("u", "e"), ("e", "i"), ("i", "e"), ("e", "m"), ("m", "f"), ("f", "y")])
    return G


def problems(G, code=None):
    report = mg.validate(G)
    return [p for p in report.problems if code is None or p.code == code]


def only_error(G, code):
    errs = mg.validate(G).errors
    assert [p.code for p in errs] == [code], errs
    with pytest.raises(GraphError) as info:
        mg.compile(G, seed=0)
    assert [p.code for p in info.value.problems] == [code]
    return errs[0]


def test_valid_base_has_no_errors():
    report = mg.validate(base())
    assert report.ok and report.spec is not None
    assert report.spec.regions == ("e", "i", "m", "f")


@pytest.mark.parametrize("size", [None, 0, -3, 2.5, "4", True, math.nan])
def test_bad_or_missing_size(size):
    G = base()
    if size is None:
        del G.nodes["f"]["size"]
    else:
        G.nodes["f"]["size"] = size
    p = only_error(G, "missing-size" if size is None else "bad-value")
    assert p.where == "node 'f'"
    if size is not None:
        assert "integer >= 1" in p.message and repr(size) in p.message


def test_integral_float_size_is_accepted():
    G = base()
    G.nodes["f"]["size"] = 3.0
    assert mg.compile(G, seed=0).layout.sizes["f"] == 3


def test_unknown_kind():
    G = base()
    G.nodes["f"]["kind"] = "hidden"
    p = only_error(G, "bad-value")
    assert p.where == "node 'f'" and "'kind'" in p.message and "'recurrent'" in p.message


def test_unknown_attribute_with_hint():
    G = base()
    G.edges["e", "i"]["sparsty"] = 0.5
    p = only_error(G, "unknown-attribute")
    assert p.where == "edge ('e', 'i')" and "'sparsty'" in p.message
    assert p.hint == "did you mean 'sparsity'?"


def test_unknown_attribute_without_close_match_lists_known():
    G = base()
    G.nodes["e"]["zzzz"] = 1
    p = only_error(G, "unknown-attribute")
    assert "size" in p.hint


@pytest.mark.parametrize("value", [1.5, -0.1, math.nan, "dense"])
@pytest.mark.parametrize("key", ["sparsity", "density"])
def test_sparsity_out_of_range(key, value):
    G = base()
    G.edges["e", "i"][key] = value
    p = only_error(G, "bad-value")
    assert p.where == "edge ('e', 'i')" and "[0, 1]" in p.message


def test_sparsity_and_density_both():
    G = base()
    G.edges["e", "i"].update(sparsity=0.2, density=0.8)
    p = only_error(G, "exclusive-attributes")
    assert "'density'" in p.message and "'sparsity'" in p.message


def test_density_becomes_sparsity():
    G = base()
    G.edges["e", "i"]["density"] = 0.25
    spec = mg.check(G)
    assert [e.sparsity for e in spec.edges if (e.src, e.dst) == ("e", "i")] == [0.75]


def test_unknown_rule():
    G = base()
    G.edges["e", "i"]["rule"] = "gaussian"
    p = only_error(G, "bad-value")
    assert "'rule'" in p.message and "fixed_indegree" in p.message


def test_one_to_one_needs_equal_sizes():
    G = base()
    G.edges["m", "f"]["rule"] = "one_to_one"
    p = only_error(G, "one-to-one-sizes")
    assert p.where == "edge ('m', 'f')" and "10" in p.message and "3" in p.message


def test_one_to_one_self_edge_without_autapses():
    G = base()
    G.add_edge("f", "f", rule="one_to_one", autapses=False)
    p = only_error(G, "one-to-one-autapses")
    assert p.where == "edge ('f', 'f')" and "autapses=False" in p.message


def test_sign_with_exc_frac():
    G = base()
    G.nodes["m"]["sign"] = "exc"
    p = only_error(G, "exclusive-attributes")
    assert p.where == "node 'm'"


@pytest.mark.parametrize("sign", ["excitatory", 2, True, 0.5])
def test_bad_sign(sign):
    G = base()
    G.nodes["f"]["sign"] = sign
    p = only_error(G, "bad-value")
    assert "'sign'" in p.message


@pytest.mark.parametrize(
    "alias,expected",
    [("pos", 1), ("E", 1), (1, 1), (1.0, 1), ("neg", -1), ("I", -1), (-1, -1), ("inh", -1)],
)
def test_sign_aliases(alias, expected):
    G = base()
    G.nodes["f"]["sign"] = alias
    c = mg.compile(G, seed=0)
    assert set(c.sign_h[c.layout.slice("f")].tolist()) == {expected}


@pytest.mark.parametrize(
    "edge,ei,code,fragment",
    [
        (("e", "i"), ["XY"], "bad-value", "unknown entries"),
        (("e", "i"), "EE", "bad-value", "list"),
        (("e", "i"), ["EE", "EE"], "bad-value", "twice"),
        (("e", "i"), ["E", "EI"], "bad-value", "already includes"),
        (("e", "m"), ["IE"], "ei-impossible", "source 'e' has no inhibitory units"),
        (("e", "i"), ["EE"], "ei-impossible", "target 'i' has no excitatory units"),
        (("e", "m"), ["I"], "ei-impossible", "source 'e' has no inhibitory units"),
    ],
)
def test_bad_ei(edge, ei, code, fragment):
    G = base()
    G.edges[edge]["ei"] = ei
    p = only_error(G, code)
    assert p.where == f"edge {edge!r}" and fragment in p.message


def test_two_letter_ei_onto_output():
    G = base()
    G.add_edge("m", "y", ei=["EE"])
    p = only_error(G, "ei-untyped-target")
    assert "output" in p.message and p.hint == "use the one-letter entry 'E'"


def test_two_letter_ei_onto_unconstrained_region():
    G = base()
    G.edges["m", "f"]["ei"] = ["EI"]
    p = only_error(G, "ei-untyped-target")
    assert "unconstrained" in p.message


def test_ei_from_untyped_source():
    G = base()
    G.edges["f", "y"]["ei"] = ["E"]
    p = only_error(G, "ei-untyped-source")
    assert p.where == "edge ('f', 'y')"


def test_edge_into_input():
    G = base()
    G.add_edge("e", "u")
    assert only_error(G, "edge-into-input").where == "edge ('e', 'u')"


def test_edge_out_of_output():
    G = base()
    G.add_edge("y", "e")
    assert only_error(G, "edge-out-of-output").where == "edge ('y', 'e')"


def test_input_to_output():
    G = base()
    G.add_edge("u", "y")
    assert only_error(G, "input-to-output").where == "edge ('u', 'y')"


@pytest.mark.parametrize("cls", [nx.MultiDiGraph, nx.Graph, nx.MultiGraph])
def test_wrong_graph_class(cls):
    G = cls()
    G.add_node("a", size=3)
    report = mg.validate(G)
    assert [p.code for p in report.errors] == ["not-a-digraph"]
    assert cls.__name__ in report.errors[0].message
    with pytest.raises(GraphError, match=cls.__name__):
        mg.compile(G)


def test_not_a_graph_at_all():
    report = mg.validate({"a": 1})
    assert [p.code for p in report.errors] == ["not-a-digraph"]
    with pytest.raises(TypeError, match="networkx.DiGraph"):
        mg.compile({"a": 1})


@pytest.mark.parametrize("name", [3, "", ("a", "b")])
def test_node_names_must_be_nonempty_strings(name):
    G = base()
    G.add_node(name, size=2)
    G.add_edge("u", name)
    G.add_edge(name, "y")
    p = only_error(G, "bad-node-name")
    assert repr(name) in p.where


def test_attribute_not_applicable_to_kind():
    G = base()
    G.nodes["u"]["tau"] = 20.0
    G.nodes["y"]["sign"] = "exc"
    codes = [(p.where, p.code) for p in mg.validate(G).errors]
    assert codes == [("node 'u'", "not-applicable"), ("node 'y'", "not-applicable")]


def test_alias_and_canonical_together():
    G = base()
    G.nodes["f"]["num_units"] = 3
    assert only_error(G, "duplicate-attribute").where == "node 'f'"


def test_per_unit_length_mismatch():
    G = base()
    G.nodes["f"]["base_firing"] = [0.1, 0.2]
    p = only_error(G, "length-mismatch")
    assert "2 values" in p.message and "size 3" in p.message


def test_parent_clashing_with_a_node():
    G = base()
    G.nodes["e"]["parent"] = "i"
    assert only_error(G, "parent-clash").where == "node 'e'"


def test_no_recurrent_region():
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=1)
    assert "no-regions" in [p.code for p in mg.validate(G).errors]


def test_unknown_graph_attribute():
    G = base()
    G.graph["dtt"] = 5
    p = only_error(G, "unknown-attribute")
    assert p.where == "graph" and p.hint == "did you mean 'dt'?"


def test_every_problem_at_once():
    G = base()
    G.nodes["e"]["size"] = -1
    G.nodes["f"]["sign"] = "both"
    G.edges["i", "e"]["sparsty"] = 0.1
    G.edges["m", "f"]["rule"] = "one_to_one"
    G.add_edge("y", "e")
    with pytest.raises(GraphError) as info:
        mg.compile(G)
    where = {p.where for p in info.value.problems}
    assert where == {
        "node 'e'",
        "node 'f'",
        "edge ('i', 'e')",
        "edge ('m', 'f')",
        "edge ('y', 'e')",
    }
    text = str(info.value)
    assert text.startswith("5 problems in the circuit:")
    assert all(w in text for w in where)
    assert isinstance(info.value, ValueError)


def test_warnings_for_unreachable_and_isolated():
    G = base()
    G.add_node("lonely", size=2)
    G.add_node("dead_end", size=2)
    G.add_edge("e", "dead_end")
    G.add_node("orphan", size=2)
    G.add_edge("orphan", "f")
    G.add_edge("i", "f", zero=True)  # zero edges carry nothing, so they do not reach
    report = mg.validate(G)
    assert report.ok
    got = {(p.where, p.code) for p in report.warnings}
    assert got == {
        ("node 'lonely'", "isolated"),
        ("node 'dead_end'", "unreachable-output"),
        ("node 'orphan'", "unreachable-input"),
    }
    with pytest.warns(mg.CircuitWarning) as caught:
        mg.compile(G, seed=0)
    assert sorted(str(w.message).split(":")[0] for w in caught) == [
        "node 'dead_end'",
        "node 'lonely'",
        "node 'orphan'",
    ]


def test_no_inputs_or_outputs_warns_once():
    G = nx.DiGraph()
    G.add_node("a", size=2)
    G.add_edge("a", "a")
    codes = sorted(p.code for p in mg.validate(G).warnings)
    assert codes == ["no-input", "no-output"]


def test_order_argument():
    G = base()
    spec = mg.check(G, order=["f", "m", "i", "e"])
    assert spec.regions == ("f", "m", "i", "e") and spec.inputs == ("u",)
    spec = mg.check(G, order=["y", "f", "m", "u", "i", "e"])
    assert spec.regions == ("f", "m", "i", "e")
    with pytest.raises(GraphError, match="order"):
        mg.check(G, order=["f", "m"])
    with pytest.raises(GraphError, match="unknown names"):
        mg.check(G, order=["f", "m", "i", "zz"])


def test_every_schema_constraint_rejects_its_invalid_examples():
    """The attribute table drives the invalid values tried here."""
    for scope in ("node", "edge", "graph"):
        for attr in schema.attributes(scope).values():
            for bad in attr.constraint.invalid_examples():
                G = base()
                target = {"node": G.nodes["e"], "edge": G.edges["e", "i"], "graph": G.graph}[scope]
                if scope == "node" and "recurrent" not in attr.kinds:
                    continue
                if attr.excludes and scope == "node":
                    G.nodes["e"].pop("sign", None)
                target[attr.name] = bad
                codes = [p.code for p in mg.validate(G).errors]
                assert codes == ["bad-value"], (scope, attr.name, bad, codes)


def test_report_str_lists_levels():
    G = base()
    G.add_node("lonely", size=1)
    assert "warning: node 'lonely': region has no edges at all" in str(mg.validate(G))


# --------------------------------------------------------------------------- odd value types
def one_node(**attrs) -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_node("a", **{"size": 4, **attrs})
    G.add_edge("a", "a")
    return G


@pytest.mark.parametrize(
    "value",
    [
        np.float32(0.1),
        np.float64(0.1),
        np.int64(2),
        Fraction(1, 3),
        Decimal("0.25"),
        np.array(0.5),
        torch.tensor(0.5),
    ],
)
def test_odd_real_types_are_numbers(value):
    spec = mg.validate(one_node(base_firing=value, init=value, tau=value, exc_frac=value / 4))
    node = spec.spec.nodes["a"]
    for got in (node.base_firing, node.init, node.tau, node.exc_frac):
        assert type(got) is float
    assert node.base_firing == float(value) and node.exc_frac == float(value / 4)


@pytest.mark.parametrize(
    "size",
    [np.int64(4), np.float64(4.0), Fraction(8, 2), Decimal("4"), np.array(4), torch.tensor(4)],
)
def test_odd_integer_types_are_sizes(size):
    spec = mg.check(one_node(size=size))
    assert spec.nodes["a"].size == 4 and type(spec.nodes["a"].size) is int


@pytest.mark.parametrize(
    "value,fragment",
    [
        (10**400, "float32"),
        (-(10**400), "float32"),
        (1e39, "float32"),
        (math.inf, "float32"),
        (Decimal("sNaN"), "a float"),
        (Decimal("1e400"), "float32"),
        (Fraction(10**400, 3), "float32"),
        (1 + 0j, "a float"),
        (np.complex128(1), "a float"),
        (True, "a float"),
        (np.True_, "a float"),
        (np.array([0.1]), "has 1 values"),
        (np.zeros((2, 2)), "a float"),
        ({"a": 1.0}, "a float"),
    ],
)
def test_odd_base_firing_is_a_problem_of_its_node(value, fragment):
    errs = mg.validate(one_node(base_firing=value)).errors
    assert len(errs) == 1 and errs[0].node == "a" and errs[0].attribute == "base_firing"
    assert fragment in errs[0].message and errs[0].where == "node 'a'"


@pytest.mark.parametrize(
    "attrs,attribute",
    [
        ({"tau": 1e300}, "tau"),
        ({"tau": 1e-50}, "tau"),
        ({"tau": np.float64(-1)}, "tau"),
        ({"size": Fraction(9, 2)}, "size"),
        ({"size": np.float32(2.5)}, "size"),
        ({"exc_frac": Decimal("NaN")}, "exc_frac"),
    ],
)
def test_values_float32_cannot_hold_are_problems(attrs, attribute):
    errs = mg.validate(one_node(**attrs)).errors
    assert [(p.node, p.attribute, p.code) for p in errs] == [("a", attribute, "bad-value")]


def test_gain_keeps_initial_weights_finite_in_float32():
    G = one_node()
    G.edges["a", "a"]["gain"] = schema.GAIN_MAX
    c = mg.compile(G, seed=0)
    assert torch.isfinite(c.blocks[("a", "a")].weight).all()
    G.edges["a", "a"]["gain"] = schema.GAIN_MAX * 2
    p = only_error(G, "bad-value")
    assert p.edge == ("a", "a") and p.attribute == "gain"


@pytest.mark.parametrize(
    "plain,odd",
    [(True, np.True_), (False, np.False_), (True, torch.tensor(True)), (1, np.int64(1))],
)
def test_sign_of_numpy_values_is_the_sign_of_python_values(plain, odd):
    a, b = mg.validate(one_node(sign=plain)), mg.validate(one_node(sign=odd))
    assert [p.code for p in a.errors] == [p.code for p in b.errors]
    assert (a.spec and a.spec.nodes["a"].sign) == (b.spec and b.spec.nodes["a"].sign)


def test_sign_true_is_not_excitatory():
    for value in (True, np.True_, np.array(True)):
        p = only_error(one_node(sign=value), "bad-value")
        assert p.attribute == "sign" and "'exc'" in p.message
        with pytest.raises(ValueError, match="unknown sign"):
            schema.normalize_sign(value)


@pytest.mark.parametrize("autapses", [False, np.False_, np.array(False), torch.tensor(False)])
def test_one_to_one_without_autapses_is_the_same_error_for_every_false(autapses):
    G = one_node()
    G.edges["a", "a"].update(rule="one_to_one", autapses=autapses)
    assert only_error(G, "one-to-one-autapses").edge == ("a", "a")


def test_spec_holds_canonical_python_values():
    G = nx.DiGraph(dt=np.float32(10), activation=np.str_("tanh"), name=np.str_("c"))
    G.add_node(
        np.str_("a"),
        size=np.int64(3),
        sign=np.str_("pos"),
        parent=np.str_("g"),
        learnable_bias=np.True_,
        base_firing=np.array([1, 2, 3]),
    )
    G.add_edge(
        "a",
        "a",
        ei=np.array(["E"]),
        trainable=np.False_,
        density=Fraction(1, 2),
        rule=np.str_("fixed_total"),
    )
    spec = mg.check(G)
    node, edge = spec.nodes["a"], spec.edges[0]
    assert type(node.name) is str and node.sign == "exc" and type(node.parent) is str
    assert node.learnable_bias is True and node.base_firing == (1.0, 2.0, 3.0)
    assert edge.ei == ("E",) and type(edge.ei[0]) is str and edge.trainable is False
    assert edge.sparsity == 0.5 and type(edge.rule) is str and type(edge.src) is str
    assert spec.graph == {"dt": 10.0, "activation": "tanh", "name": "c"}
    assert all(type(v) in (float, str) for v in spec.graph.values())


def test_exact_twins_of_every_example_check_like_the_example():
    """For every attribute of the table, a value in another type holding exactly the same
    thing (numpy, 0-d array or tensor, Fraction, Decimal) gives the same report."""
    from tests.strategies import exact_twins

    tried = 0
    for scope in ("node", "edge", "graph"):
        for attr in schema.attributes(scope).values():
            if scope == "node" and "recurrent" not in attr.kinds:
                continue
            c = attr.constraint
            for value in [*c.valid_examples(), *c.invalid_examples()]:
                reports = []
                for v in [value, *exact_twins(value)]:
                    G = base()
                    target = {"node": G.nodes["e"], "edge": G.edges["e", "i"], "graph": G.graph}[
                        scope
                    ]
                    if attr.excludes and scope == "node":
                        G.nodes["e"].pop("sign", None)
                    target[attr.name] = v
                    r = mg.validate(G)
                    reports.append(([p.code for p in r.problems], r.spec))
                    tried += 1
                assert all(r == reports[0] for r in reports), (scope, attr.name, value, reports)
    assert tried > 150


class _Hostile:
    def _fail(self, *a):
        raise RuntimeError("hostile")

    __repr__ = __eq__ = __hash__ = __float__ = __len__ = __iter__ = __bool__ = _fail


@pytest.mark.parametrize("key", ["size", "base_firing", "sign", "kind", "parent", "tau"])
def test_objects_that_raise_everywhere_are_problems(key):
    G = base()
    G.nodes["f"][key] = _Hostile()
    errs = mg.validate(G).errors
    assert [(p.node, p.attribute) for p in errs] == [("f", key)]
    assert "got a _Hostile" in errs[0].message
    with pytest.raises(GraphError):
        mg.compile(G, seed=0)


def test_short_repr_is_short_and_never_raises():
    assert schema.short_repr(_Hostile()) == "a _Hostile"
    assert len(schema.short_repr("x" * 10_000)) < 100
    big = 10**5000  # over Python's 4,300-digit limit for str(int)
    assert schema.short_repr(big) == f"an int of {big.bit_length()} bits"


# --------------------------------------------------------------------------- memory
def test_memory_estimate_counts_what_compile_stores(example_graph):
    spec = mg.check(example_graph)
    c = mg.compile(example_graph, seed=0)
    est = estimate_memory(spec)
    for key, b in c.blocks.items():
        assert est.blocks[key] == b.weight.nbytes + b.mask.nbytes, key
    vectors = (c.sign_h, c.bias, c.x0, c.tau, c.learnable_bias, c.sign_i)
    assert sum(est.per_unit.values()) == sum(t.nbytes for t in vectors)
    assert est.dense == sum(
        t.nbytes
        for t in (
            c.weight_hh,
            c.mask_hh,
            c.trainable_hh,
            c.weight_ih,
            c.mask_ih,
            c.trainable_ih,
            c.weight_ho,
            c.mask_ho,
            c.trainable_ho,
        )
    )
    assert estimate_memory(spec, itemsize=8).total > est.total > 0


def test_region_larger_than_memory_is_a_problem_naming_it_and_the_bytes():
    G = nx.DiGraph()
    G.add_node("big", size=10**9)
    p = mg.validate(G, memory_limit=2**30).errors
    assert [(x.code, x.node) for x in p] == [("too-much-memory", "big")]
    assert "'big'" in p[0].message and "bytes" in p[0].message and "1.0 GiB" in p[0].message
    assert "MRNNGRAPH_MEMORY_LIMIT" in p[0].hint
    assert mg.validate(G, memory_limit=math.inf).ok


def test_projection_larger_than_memory_is_named():
    G = nx.DiGraph()
    G.add_node("a", size=100_000)
    G.add_node("b", size=10)
    G.add_edges_from([("a", "a"), ("a", "b"), ("b", "a")])
    p = mg.validate(G, memory_limit=2**30).errors
    assert [(x.code, x.edge) for x in p] == [("too-much-memory", ("a", "a"))]
    assert "10,000,000,000 entries" in p[0].message


def test_many_regions_together_are_a_graph_problem():
    G = nx.DiGraph()
    for i in range(4):
        G.add_node(f"r{i}", size=20_000)
        G.add_edge(f"r{i}", f"r{i}")
    p = mg.validate(G, memory_limit=2**30).errors
    assert [(x.code, x.where) for x in p] == [("too-much-memory", "graph")]
    assert "('r0', 'r0')" in p[0].message


@pytest.mark.parametrize("limit", [math.inf, None])
def test_tensors_torch_cannot_index_are_always_problems(limit):
    G = nx.DiGraph()
    G.add_node("huge", size=2**70)
    G.add_node("a", size=2**40)
    G.add_node("b", size=2**40)
    G.add_edge("a", "b")
    errs = mg.validate(G, memory_limit=limit).errors
    assert {(p.code, p.node, p.edge) for p in errs} == {
        ("too-many-elements", "huge", None),
        ("too-many-elements", None, ("a", "b")),
    }
    with pytest.raises(GraphError, match="2\\*\\*63"):
        mg.compile(G, seed=0)


def test_memory_limit_from_the_environment(monkeypatch):
    G = nx.DiGraph()
    G.add_node("a", size=10**6)
    monkeypatch.setenv("MRNNGRAPH_MEMORY_LIMIT", "1M")
    p = mg.validate(G).errors
    assert [x.code for x in p] == ["too-much-memory"] and "MRNNGRAPH_MEMORY_LIMIT" in p[0].message
    monkeypatch.setenv("MRNNGRAPH_MEMORY_LIMIT", "none")
    assert mg.validate(G).ok
    monkeypatch.setenv("MRNNGRAPH_MEMORY_LIMIT", "2G")
    assert mg.validate(G).ok
    monkeypatch.setenv("MRNNGRAPH_MEMORY_LIMIT", "lots")
    p = mg.validate(G).errors
    assert [(x.where, x.code) for x in p] == [("environment", "bad-memory-limit")]


@pytest.mark.parametrize("bad", [-1, "1G", math.nan, True])
def test_bad_memory_limit_argument(bad):
    errs = mg.validate(base(), memory_limit=bad).errors
    assert [(p.where, p.code) for p in errs] == [("memory_limit", "bad-memory-limit")]


def test_available_memory_is_a_positive_figure_with_its_source():
    avail, source = available_memory()
    assert avail is None or avail > 0
    assert isinstance(source, str) and source


_CHILD = r"""
import json, resource, sys
import networkx as nx
import mrnngraph as mg

def vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

# Everything compile needs imported first (import mrnngraph is lazy): then allow only
# 512 MiB more address space than is mapped.
import torch
mg.compile, mg.validate
cap = vm_size() + 512 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
out = {}
for size in (10**9, 2**70):
    G = nx.DiGraph()
    G.add_node("a", size=size)
    G.add_edge("a", "a")
    codes = [(p.code, p.where) for p in mg.validate(G).errors]
    try:
        mg.compile(G, seed=0)
        compiled = "compiled"
    except mg.GraphError as err:
        compiled = [p.code for p in err.problems]
    out[str(size)] = [codes, compiled]
print(json.dumps(out))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_impossible_sizes_are_found_without_allocating_in_a_child_process():
    """In a process that cannot map 512 MiB more, validating and compiling 10**9- and
    2**70-unit regions returns problems (an allocation would fail with MemoryError)."""
    env = {k: v for k, v in os.environ.items() if k != "MRNNGRAPH_MEMORY_LIMIT"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out[str(10**9)] == [[["too-much-memory", "edge ('a', 'a')"]], ["too-much-memory"]]
    assert out[str(2**70)] == [
        [["too-many-elements", "edge ('a', 'a')"], ["too-many-elements", "node 'a'"]],
        ["too-many-elements", "too-many-elements"],
    ]


# --------------------------------------------------------------------------- locations
def _messy_graphs():
    """Invalid graphs whose problems the code before structured locations listed (the
    expected text below is what it printed, kept to show the format did not change)."""
    G = nx.DiGraph(dt=-1, activaton="relu")
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=0, sign="sideways", sparsty=1)
    G.add_node("b", num_units=3, size=3, exc_frac=0.5, sign="exc", base_firing=[1.0, 2.0])
    G.add_node("c", kind="output", size=1, tau=5.0)
    G.add_node("d", kind="bogus", size=2)
    G.add_node("e")
    G.add_edge("a", "u", sparsity=2)
    G.add_edge("c", "b", density=0.5, sparsity=0.5)
    G.add_edge("u", "c")
    G.add_edge("b", "b", rule="one_to_one", autapses=False, ei=["EE", "XY"])
    G.add_edge("b", "c", ei=["EI"])
    G.add_edge("u", "a", gain=0)
    H = nx.DiGraph()
    H.add_node("x", size=4, sign="inh")
    H.add_node("y", size=4)
    H.add_node(("t", 1), size=4, parent="x")
    H.add_edge("x", "y", ei=["EE"], zero="yes")
    H.add_edge("y", "x", ei=["E"])
    K = nx.DiGraph()
    K.add_node("r", size=5)
    K.add_node("q", size=5)
    K.add_edge("r", "r")
    return [G, H, K]


_OLD_TEXT = [
    [
        "graph: 'dt' must be a float in (0, 3.40282e+38]; got -1",
        "graph: unknown attribute 'activaton' (hint: did you mean 'activation'?)",
        "node 'a': 'size' must be an integer >= 1; got 0",
        "node 'a': 'sign' must be one of 'exc', 'inh', None; got 'sideways'",
        "node 'a': unknown attribute 'sparsty' (hint: did you mean 'parent'?)",
        "node 'b': 'num_units' and 'size' are the same attribute; give one",
        "node 'b': 'exc_frac' and 'sign' exclude each other; give one",
        "node 'c': 'tau' does not apply to output nodes (only to recurrent nodes)",
        "node 'd': 'kind' must be one of 'recurrent', 'input', 'output'; got 'bogus'",
        "node 'e': 'size' is required (number of units)",
        "edge ('u', 'c'): an input cannot project straight to an output; route it through a "
        "recurrent region",
        "edge ('u', 'a'): 'gain' must be a float in (0, 2.12676e+37]; got 0",
        "edge ('a', 'u'): 'sparsity' must be a float in [0, 1]; got 2",
        "edge ('a', 'u'): input node 'u' cannot receive edges; input nodes are channels fed "
        "from outside",
        "edge ('b', 'b'): 'ei' has unknown entries ['XY']; allowed: EE, EI, IE, II, E, I; got "
        "['EE', 'XY']",
        "edge ('b', 'b'): rule 'one_to_one' on a self-edge connects each unit to itself, which "
        "autapses=False forbids (hint: drop autapses=False, or use another rule)",
        "edge ('c', 'b'): 'density' and 'sparsity' exclude each other; give one",
        "edge ('c', 'b'): output node 'c' cannot send edges; output nodes are linear readouts",
    ],
    [
        "node ('t', 1): node names must be non-empty strings; got ('t', 1) (hint: relabel with "
        "networkx.relabel_nodes(G, str))",
        "edge ('x', 'y'): 'zero' must be a bool (True or False); got 'yes'",
        "edge ('x', 'y'): sub-pathway 'EE' cannot exist: source 'x' has no excitatory units",
        "edge ('x', 'y'): two-letter entry 'EE' needs a target with E/I types, but 'y' is an "
        "unconstrained region (hint: use the one-letter entry 'E')",
        "edge ('y', 'x'): 'ei' selects E/I sub-pathways but source 'y' has no E/I types (no "
        "'sign' or 'exc_frac') (hint: give the source a sign or exc_frac, or drop 'ei')",
    ],
    [
        "node 'q': region has no edges at all",
        "graph: the circuit has no input nodes",
        "graph: the circuit has no output nodes",
    ],
]


@pytest.mark.parametrize("i", range(len(_OLD_TEXT)))
def test_problem_text_is_what_the_hand_written_locations_gave(i):
    problems = mg.validate(_messy_graphs()[i], memory_limit=math.inf).problems
    assert [str(p) for p in problems] == _OLD_TEXT[i]


@pytest.mark.parametrize("i", range(len(_OLD_TEXT)))
def test_every_node_or_edge_problem_carries_its_node_or_edge(i):
    G = _messy_graphs()[i]
    for p in mg.validate(G, memory_limit=math.inf).problems:
        assert (p.node is None) != (p.edge is None) or p.where.startswith("graph"), p
        if p.node is not None:
            assert p.node in G and p.where == f"node {p.node!r}"
        elif p.edge is not None:
            assert G.has_edge(*p.edge) and p.where == f"edge {p.edge!r}"
        else:
            assert p.where == "graph" and p.subject in (None, "graph")


@pytest.mark.parametrize("scope", ["node", "edge"])
def test_every_invalid_attribute_value_is_located_at_its_node_or_edge(scope):
    for a in schema.attributes(scope).values():
        for bad in a.constraint.invalid_examples():
            G = base()
            target = G.nodes["f"] if scope == "node" else G.edges["e", "i"]
            target[a.name] = bad
            errors = mg.validate(G, memory_limit=math.inf).errors
            assert errors, (a.name, bad)
            for p in errors:
                if scope == "node":
                    assert (p.node, p.edge, p.attribute) == ("f", None, a.name), p
                else:
                    assert (p.node, p.edge) == (None, ("e", "i")), p


def test_problem_where_is_formatted_from_the_fields():
    from mrnngraph.errors import Problem, location

    p = Problem(message="'size' is required", node="a", code="missing-size")
    assert p.where == "node 'a'" and str(p) == "node 'a': 'size' is required"
    e = Problem(message="bad", edge=("a", "b"), file="c.yaml", line=3, hint="fix it")
    assert str(e) == "file 'c.yaml', line 3: edge ('a', 'b'): bad (hint: fix it)"
    assert Problem(message="unreadable", file="c.yaml").where == "file 'c.yaml'"
    assert Problem(message="x", code="c").where == "graph"
    assert location(subject="order") == "order"
    # The old positional form still works, and dataclasses.replace keeps the place.
    old = Problem("graph", "no regions", "no-regions", "warning")
    assert (old.where, old.code, old.level, old.subject) == (
        "graph",
        "no-regions",
        "warning",
        "graph",
    )
    import dataclasses

    moved = dataclasses.replace(p, file="c.yaml", line=2)
    assert moved.where == "file 'c.yaml', line 2: node 'a'" and moved.node == "a"
    assert dataclasses.replace(old, level="error").where == "graph"
    with pytest.raises(TypeError, match="message"):
        Problem(node="a")


def test_where_node_and_where_edge_are_deprecated_but_work():
    from mrnngraph.validation import where_edge, where_node

    with pytest.warns(DeprecationWarning, match="where_node"):
        assert where_node("a") == "node 'a'"
    with pytest.warns(DeprecationWarning, match="where_edge"):
        assert where_edge("a", "b") == "edge ('a', 'b')"


# --------------------------------------------------------------------------- one reader
def test_specs_take_their_defaults_from_the_schema():
    from mrnngraph.validation import EdgeSpec, NodeSpec

    node, edge = NodeSpec("a", "recurrent", 3), EdgeSpec("a", "a")
    for f in ("sign", "exc_frac", "base_firing", "learnable_bias", "init", "tau", "parent"):
        assert getattr(node, f) == schema.default("node", f), f
    for f in ("sparsity", "rule", "zero", "ei", "autapses", "trainable", "gain"):
        assert getattr(edge, f) == schema.default("edge", f), f


def test_the_spec_is_the_reading_of_the_schema():
    G = base()
    G.nodes["m"]["num_units"] = G.nodes["m"].pop("size")
    G.edges["e", "m"]["density"] = 0.25
    report = mg.validate(G, memory_limit=math.inf)
    r = report.nodes["m"]
    assert r.values["size"] == 10 and r.spelled["size"] == "num_units"
    assert report.spec.nodes["m"].size == 10 and report.spec.nodes["m"].n_exc == 8
    assert report.edges["e", "m"].values["density"] == 0.25
    edges = {(e.src, e.dst): e for e in report.spec.edges}
    assert edges["e", "m"].sparsity == 0.75 and edges["e", "m"].density == 0.25


def test_readings_are_kept_for_an_invalid_graph():
    G = base()
    G.nodes["f"]["sign"] = "sideways"
    report = mg.validate(G, memory_limit=math.inf)
    assert report.spec is None
    r = report.nodes["f"]
    assert "sign" in r.invalid and r.lenient("sign") is None and r.values["size"] == 3
    assert [p.code for p in r.problems] == ["bad-value"] and r.problems[0].node == "f"


def test_read_never_raises_and_locates_its_problems():
    r = schema.read("edge", {"sparsty": 0.5, "gain": -1}, edge=("a", "b"))
    assert [(p.code, p.edge, p.attribute) for p in r.problems] == [
        ("unknown-attribute", ("a", "b"), "sparsty"),
        ("bad-value", ("a", "b"), "gain"),
    ]
    assert "gain" not in r.values and r.lenient("gain") == 1.0 and r.values["sparsity"] == 0.0
    assert schema.read("graph", {"dt": 0}).problems[0].where == "graph"


def test_n_excitatory_truncates_as_nn4n_and_stays_exact_beyond_float_range():
    assert schema.n_excitatory(10, 0.8) == 8 and schema.n_excitatory(3, 0.5) == 1
    assert schema.n_excitatory(10**400, 0.5) == 10**400 // 2


# --------------------------------------------------------------------------- activations
def test_one_activation_table_and_one_error_text():
    from mrnngraph._scan import ACTIVATION_FUNCTIONS, activation_derivative, leaky_scan

    assert tuple(ACTIVATION_FUNCTIONS) == schema.ACTIVATIONS
    assert schema.attribute("graph", "activation").constraint.values == schema.ACTIVATIONS
    text = "activation must be one of relu, tanh, sigmoid, softplus, retanh, linear; got 'elu'"
    with pytest.raises(ValueError) as a:
        schema.activation("elu")
    with pytest.raises(ValueError) as b:
        activation_derivative("elu", torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError) as c:
        leaky_scan(torch.zeros(2, 2), torch.zeros(3, 1, 2), torch.zeros(1, 2), 0.1, "elu")
    G = base()
    with pytest.raises(ValueError) as d:
        mg.MultiRegionRNN.from_graph(G, seed=0, activation="elu")
    assert str(a.value) == str(b.value) == str(c.value) == str(d.value) == text


def test_model_defaults_has_its_name_and_the_old_one_warns():
    from mrnngraph import model

    assert model.MODEL_DEFAULTS == {"dt": 10.0, "tau": 100.0, "activation": "relu"}
    with pytest.warns(DeprecationWarning, match="MODEL_DEFAULTS"):
        assert model.DEFAULTS is model.MODEL_DEFAULTS
