"""Issue 16: ``sparsity``/``density``/``gain`` per E/I sub-pathway of one edge.

What holds (and is tested here):
* each sub-pathway's mask is drawn with its own sparsity under the edge's rule, inside
  its own sub-block (fixed rules exact, bernoulli close to the declared density);
* with ``ei`` given, a mapping whose values are all equal gives bit-identical tensors
  to the scalar (same sub-blocks, drawn in the same order from the same generator);
* without ``ei``, a scalar sparsity draws the whole projection as one block while a
  mapping draws each sub-pathway on its own: same statistics, different streams;
* a ``gain`` mapping never changes a mask or a random stream; equal gains give the
  scalar's weights bit for bit, and each sub-block is scaled by its own gain.
"""

import math

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.validation import EdgeSpec, NodeSpec, estimate_memory, sub_pathways

RULES = ("bernoulli", "fixed_indegree", "fixed_outdegree", "fixed_total")


def two_areas(n_a=20, n_b=10, **edge) -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=n_a, exc_frac=0.75)
    G.add_node("b", size=n_b, exc_frac=0.5)
    G.add_node("y", kind="output", size=2)
    G.add_edges_from([("u", "a"), ("b", "a"), ("b", "y")])
    G.add_edge("a", "b", **edge)
    return G


def blocks_of(G, c, edge=("a", "b")):
    """(rows, cols) of each two-letter sub-pathway of an E/I -> E/I edge."""
    s, d = c.spec.nodes[edge[0]], c.spec.nodes[edge[1]]
    span = {
        ("s", "E"): slice(0, s.n_exc),
        ("s", "I"): slice(s.n_exc, s.size),
        ("d", "E"): slice(0, d.n_exc),
        ("d", "I"): slice(d.n_exc, d.size),
    }
    return {k: (span["d", k[1]], span["s", k[0]]) for k in ("EE", "EI", "IE", "II")}


def errors(G):
    return mg.validate(G, memory_limit=math.inf).errors


# --------------------------------------------------------------------------- validation
def test_kleinman_style_edge_validates_and_compiles():
    G = two_areas(80, 40, density={"EE": 0.1, "EI": 0.05}, ei=["EE", "EI"])
    c = mg.compile(G, seed=0)
    e = next(e for e in c.spec.edges if (e.src, e.dst) == ("a", "b"))
    assert e.sparsity == pytest.approx({"EE": 0.9, "EI": 0.95})
    assert e.density == pytest.approx({"EE": 0.1, "EI": 0.05})
    m = c.blocks["a", "b"].mask
    assert not m[:, 60:].any()  # no synapses from inhibitory units


@pytest.mark.parametrize("attr", ["sparsity", "density", "gain"])
def test_mapping_values_are_canonical(attr):
    import numpy as np

    G = two_areas(**{attr: {np.str_("EI"): np.float32(0.5), "EE": 0.25}}, ei=["EE", "EI"])
    e = next(e for e in mg.check(G).edges if e.src == "a" and e.dst == "b")
    value = e.gain if attr == "gain" else e.sparsity
    expected = {"EE": 0.25, "EI": 0.5} if attr != "density" else {"EE": 0.75, "EI": 0.5}
    assert value == expected and list(value) == ["EE", "EI"]
    assert all(type(k) is str and type(v) is float for k, v in value.items())


@pytest.mark.parametrize(
    "value",
    [{}, {"XY": 0.5}, {3: 0.5}, {"EE": 1.5}, {"EE": math.nan}, {"E": 0.5, "EI": 0.5}, "EE"],
)
@pytest.mark.parametrize("attr", ["sparsity", "density"])
def test_bad_mappings_are_bad_values_naming_the_edge(attr, value):
    G = two_areas(**{attr: value})
    (p,) = errors(G)
    assert (p.code, p.edge, p.attribute) == ("bad-value", ("a", "b"), attr)


@pytest.mark.parametrize(
    "edge, key, hint",
    [
        ({"ei": ["EE", "EI"], "density": {"EE": 0.1, "II": 0.2, "EI": 0.1}}, "II", "ei lists"),
        ({"density": {"IE": 0.1, "II": 0.1, "E": 0.2}}, "E", None),
        ({"gain": {"E": 2.0}}, "E", "list it in ei"),
    ],
)
def test_keys_that_are_not_sub_pathways_of_the_edge_are_problems(edge, key, hint):
    G = two_areas(**edge)
    codes = [p.code for p in errors(G)]
    p = next(p for p in errors(G) if p.code == "sub-pathway-key")
    assert p.edge == ("a", "b") and repr(key) in p.message, codes
    if hint:
        assert hint in p.hint


def test_impossible_keys_name_the_missing_unit_type():
    G = two_areas()
    G.nodes["b"].pop("exc_frac")
    G.nodes["b"]["sign"] = "exc"  # b has no inhibitory units: EI and II cannot exist
    G.edges["a", "b"]["density"] = {"EE": 0.5, "EI": 0.5, "IE": 0.5}
    (p,) = errors(G)
    assert (p.code, p.edge, p.attribute) == ("sub-pathway-key", ("a", "b"), "density")
    assert "'EI'" in p.message and "'EE', 'IE'" in p.hint


def test_untyped_source_has_no_sub_pathways():
    G = two_areas()
    G.nodes["a"].pop("exc_frac")
    G.edges["a", "b"]["gain"] = {"EE": 2.0}
    (p,) = errors(G)
    assert p.code == "sub-pathway-key" and "no E/I types" in p.hint


@pytest.mark.parametrize("attr", ["sparsity", "density"])
def test_a_density_mapping_must_cover_every_sub_pathway(attr):
    G = two_areas(**{attr: {"EE": 0.1, "EI": 0.05}})
    (p,) = errors(G)
    assert (p.code, p.edge, p.attribute) == ("sub-pathway-missing", ("a", "b"), attr)
    assert "'IE', 'II'" in p.message and "ei=['EE', 'EI']" in p.hint


def test_a_gain_mapping_may_leave_sub_pathways_at_one():
    G = two_areas(gain={"IE": 2.0})
    assert errors(G) == []
    e = next(e for e in mg.check(G).edges if e.src == "a" and e.dst == "b")
    assert (e.gain_of("IE"), e.gain_of("EE")) == (2.0, 1.0)


def test_one_letter_keys_onto_outputs_and_unconstrained_regions():
    G = two_areas(density={"E": 0.5, "I": 0.25})
    G.nodes["b"].pop("exc_frac")
    G.add_edge("a", "y", gain={"E": 2.0, "I": 0.5})
    assert errors(G) == []
    a, b, y = (
        NodeSpec("a", "recurrent", 4, exc_frac=0.5),
        NodeSpec("b", "recurrent", 2),
        NodeSpec("y", "output", 1),
    )
    assert sub_pathways(a, b) == sub_pathways(a, y) == ("E", "I")
    assert sub_pathways(b, a) == ()


# --------------------------------------------------------------------------- compile
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=st.sampled_from(RULES),
    dens=st.fixed_dictionaries({k: st.floats(0.0, 1.0) for k in ("EE", "EI", "IE", "II")}),
    seed=st.integers(0, 2**32),
    self_edge=st.booleans(),
)
def test_each_sub_block_is_drawn_with_its_own_density(rule, dens, seed, self_edge):
    G = two_areas(40, 24, density=dens, rule=rule)
    edge = ("a", "b")
    if self_edge:
        G.add_edge("a", "a", density=dens, rule=rule, autapses=False)
        edge = ("a", "a")
    c = mg.compile(G, seed=seed)
    mask = c.blocks[edge].mask
    for key, (rows, cols) in blocks_of(G, c, edge).items():
        sub = mask[rows, cols]
        cand = torch.ones_like(sub)
        if self_edge:
            r = torch.arange(rows.start, rows.stop)[:, None]
            cand &= r != torch.arange(cols.start, cols.stop)[None, :]
        s = 1.0 - dens[key]
        assert not (sub & ~cand).any()
        if rule == "fixed_indegree":
            n = cand.sum(1)
            assert sub.sum(1).tolist() == (n - torch.ceil(n.double() * s).long()).tolist()
        elif rule == "fixed_outdegree":
            n = cand.sum(0)
            assert sub.sum(0).tolist() == (n - torch.ceil(n.double() * s).long()).tolist()
        elif rule == "fixed_total":
            n = int(cand.sum())
            assert int(sub.sum()) == n - math.ceil(n * s)
        else:
            n = int(cand.sum())
            p = dens[key]
            # Binomial: within 6 standard deviations (false alarm < 1e-8 per block).
            assert abs(int(sub.sum()) - n * p) <= 6 * math.sqrt(n * p * (1 - p)) + 1e-9


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=st.sampled_from(RULES),
    value=st.floats(0.0, 1.0),
    ei=st.lists(st.sampled_from(["EE", "EI", "IE", "II"]), min_size=1, max_size=4, unique=True),
    seed=st.integers(0, 2**32),
)
def test_equal_mapping_with_ei_is_the_scalar_bit_for_bit(rule, value, ei, seed):
    scalar = mg.compile(two_areas(density=value, ei=ei, rule=rule), seed=seed)
    mapped = mg.compile(two_areas(density=dict.fromkeys(ei, value), ei=ei, rule=rule), seed=seed)
    for k, b in scalar.blocks.items():
        assert torch.equal(b.mask, mapped.blocks[k].mask)
        assert torch.equal(b.weight, mapped.blocks[k].weight)


def test_equal_mapping_without_ei_draws_per_sub_pathway():
    # Stated in the module doc: one block for the scalar, four for the mapping.
    value = 0.5
    scalar = mg.compile(two_areas(40, 20, density=value), seed=1).blocks["a", "b"].mask
    mapped = (
        mg.compile(
            two_areas(40, 20, density=dict.fromkeys(("EE", "EI", "IE", "II"), value)), seed=1
        )
        .blocks["a", "b"]
        .mask
    )
    assert not torch.equal(scalar, mapped)
    assert abs(scalar.float().mean() - mapped.float().mean()) < 0.1


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gains=st.fixed_dictionaries({k: st.floats(0.1, 10.0) for k in ("EE", "EI", "IE", "II")}),
    seed=st.integers(0, 2**32),
    target=st.sampled_from(["b", "y"]),
)
def test_each_sub_block_is_scaled_by_its_own_gain(gains, seed, target):
    G = two_areas(density=0.5)
    G.add_edge("a", "y")
    edge = ("a", target)
    if target == "y":
        gains = {"E": gains["EE"], "I": gains["IE"]}
    plain = mg.compile(G, seed=seed)
    G.add_edge(*edge, gain=gains)
    scaled = mg.compile(G, seed=seed)
    # Masks, and every other block, unchanged.
    for k, b in plain.blocks.items():
        assert torch.equal(b.mask, scaled.blocks[k].mask)
        if k != edge:
            assert torch.equal(b.weight, scaled.blocks[k].weight)
    w0, w1 = plain.blocks[edge].weight, scaled.blocks[edge].weight
    n_exc = 15
    for key, g in gains.items():
        cols = slice(0, n_exc) if key[0] == "E" else slice(n_exc, 20)
        rows = slice(None) if len(key) == 1 else (slice(0, 5) if key[1] == "E" else slice(5, 10))
        torch.testing.assert_close(w1[rows, cols], w0[rows, cols] * g, rtol=1e-6, atol=0)


@pytest.mark.parametrize("ei", [None, ["EE", "EI", "IE", "II"], ["EE", "II"]])
def test_equal_gain_mapping_is_the_scalar_bit_for_bit(ei):
    kw = {} if ei is None else {"ei": ei}
    keys = ei or ["EE", "EI", "IE", "II"]
    scalar = mg.compile(two_areas(gain=1.7, **kw), seed=4)
    mapped = mg.compile(two_areas(gain=dict.fromkeys(keys, 1.7), **kw), seed=4)
    for k, b in scalar.blocks.items():
        assert torch.equal(b.weight, mapped.blocks[k].weight)


def test_per_sub_pathway_edges_do_not_change_other_streams():
    base = mg.compile(two_areas(), seed=9)
    mapped = mg.compile(
        two_areas(density={"EE": 0.1, "EI": 0.2, "IE": 0.3, "II": 0.4}, gain={"EE": 3.0}),
        seed=9,
    )
    for k in (("u", "a"), ("b", "a")):
        assert torch.equal(base.blocks[k].weight, mapped.blocks[k].weight)


def test_memory_estimate_counts_a_mapped_bernoulli_edge_as_drawn_in_sub_blocks():
    spec = mg.check(two_areas(100, 100, density=0.5), memory_limit=math.inf)
    mapped = mg.check(
        two_areas(100, 100, density=dict.fromkeys(("EE", "EI", "IE", "II"), 0.5)),
        memory_limit=math.inf,
    )
    assert estimate_memory(mapped).transient > estimate_memory(spec).transient
    assert estimate_memory(mapped).blocks == estimate_memory(spec).blocks


def test_edge_spec_reads_one_sub_pathway():
    e = EdgeSpec("a", "b", sparsity={"EE": 0.25}, gain=2.0)
    assert (e.sparsity_of("EE"), e.sparsity_of("II"), e.gain_of("II")) == (0.25, 0.0, 2.0)
    assert e.per_sub_pathway and not EdgeSpec("a", "b").per_sub_pathway


def test_the_kleinman_example_in_the_docs_compiles_as_it_says():
    import re
    import warnings
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "graph.md").read_text()
    start = text.index("Kleinman et al. (2021)")
    code = re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)
    scope = {"nx": nx, "mg": mg}
    exec(compile(code, "graph.md", "exec"), scope)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = mg.compile(scope["G"], seed=0)
    for src, dst in (("a1", "a2"), ("a2", "a3")):
        m = c.blocks[src, dst].mask.float()
        assert abs(m[:80, :80].mean() - 0.10) < 0.03  # E -> E
        assert abs(m[80:, :80].mean() - 0.05) < 0.04  # E -> I
        assert not m[:, 80:].any()  # no inhibitory source
        back = c.blocks[dst, src].mask  # feedback: E -> E and E -> I only
        assert not back[:, 80:].any() and back.any()


TYPES = {"exc": {"sign": "exc"}, "inh": {"sign": "inh"}, "mixed": {"exc_frac": 0.5}, "free": {}}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    src=st.sampled_from(sorted(TYPES)),
    dst=st.sampled_from([*sorted(TYPES), "output"]),
    attr=st.sampled_from(["sparsity", "density", "gain"]),
    keys=st.lists(st.sampled_from(["EE", "EI", "IE", "II", "E", "I"]), min_size=1, unique=True),
    ei=st.one_of(
        st.none(), st.lists(st.sampled_from(["EE", "EI", "IE", "II"]), min_size=1, unique=True)
    ),
)
def test_a_mapping_is_valid_exactly_when_its_keys_are_the_edges_sub_pathways(
    src, dst, attr, keys, ei
):
    G = nx.DiGraph()
    G.add_node("s", size=4, **TYPES[src])
    if dst == "output":
        G.add_node("d", kind="output", size=2)
    else:
        G.add_node("d", size=4, **TYPES[dst])
    G.add_edge("s", "d", **{attr: dict.fromkeys(keys, 0.5)}, **({} if ei is None else {"ei": ei}))
    codes = [p.code for p in mg.validate(G, memory_limit=math.inf).errors]
    if "bad-value" in codes or any(c.startswith("ei-") for c in codes):
        return  # overlapping keys, or an ei the nodes cannot have: not about the mapping
    report = mg.validate(G, memory_limit=math.inf)
    s = NodeSpec("s", "recurrent", 4, **TYPES[src])
    d = (
        NodeSpec("d", "output", 2)
        if dst == "output"
        else NodeSpec("d", "recurrent", 4, **TYPES[dst])
    )
    allowed = tuple(ei) if ei is not None else sub_pathways(s, d)
    fits = set(keys) <= set(allowed) and (attr == "gain" or set(keys) == set(allowed))
    assert report.ok == fits, (codes, allowed)
    for p in report.errors:
        assert p.edge == ("s", "d") and p.attribute == attr
        assert p.code in ("sub-pathway-key", "sub-pathway-missing")
    if fits:
        mg.compile(G, seed=0)
