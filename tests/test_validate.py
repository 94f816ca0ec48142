"""One test per problem the validator reports, each checking who it names."""

import math

import networkx as nx
import pytest

import mrnngraph as mg
from mrnngraph import schema
from mrnngraph.errors import GraphError


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


@pytest.mark.parametrize("alias,expected", [("pos", 1), ("E", 1), (1, 1), (1.0, 1),
                                            ("neg", -1), ("I", -1), (-1, -1), ("inh", -1)])
def test_sign_aliases(alias, expected):
    G = base()
    G.nodes["f"]["sign"] = alias
    c = mg.compile(G, seed=0)
    assert set(c.sign_h[c.layout.slice("f")].tolist()) == {expected}


@pytest.mark.parametrize("edge,ei,code,fragment", [
    (("e", "i"), ["XY"], "bad-value", "unknown entries"),
    (("e", "i"), "EE", "bad-value", "list"),
    (("e", "i"), ["EE", "EE"], "bad-value", "twice"),
    (("e", "i"), ["E", "EI"], "bad-value", "already includes"),
    (("e", "m"), ["IE"], "ei-impossible", "source 'e' has no inhibitory units"),
    (("e", "i"), ["EE"], "ei-impossible", "target 'i' has no excitatory units"),
    (("e", "m"), ["I"], "ei-impossible", "source 'e' has no inhibitory units"),
])
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
    assert where == {"node 'e'", "node 'f'", "edge ('i', 'e')", "edge ('m', 'f')",
                     "edge ('y', 'e')"}
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
        "node 'dead_end'", "node 'lonely'", "node 'orphan'"]


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
                target = {"node": G.nodes["e"], "edge": G.edges["e", "i"],
                          "graph": G.graph}[scope]
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
