"""Invariants over random valid (and invalid) circuits."""

import dataclasses
import math
import os
import warnings
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph import schema
from mrnngraph.errors import GraphError
from tests.strategies import odd_graphs, valid_graphs


def _compile(G, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.CircuitWarning)
        return mg.compile(G, seed=seed)


def _allowed(G, c, src, dst):
    """Independent recomputation of where a projection may have synapses."""
    e = G.edges[src, dst]
    lay = c.layout
    ns, nd = lay.sizes[src], lay.sizes[dst]
    out = torch.zeros(nd, ns, dtype=torch.bool)
    if e.get("zero"):
        return out

    def types(node, n):
        space = lay.space(node)
        if space == "o":
            return [None] * n
        sign = (c.sign_h if space == "h" else c.sign_i)[lay.slice(node)]
        return ["E" if s > 0 else "I" if s < 0 else None for s in sign.tolist()]

    st_, dt_ = types(src, ns), types(dst, nd)
    ei = e.get("ei")
    for i in range(nd):
        for j in range(ns):
            ok = ei is None or any(
                (len(x) == 1 and st_[j] == x) or (len(x) == 2 and st_[j] == x[0] and dt_[i] == x[1])
                for x in ei
            )
            if src == dst and i == j and e.get("autapses") is False:
                ok = False
            if e.get("rule") == "one_to_one" and i != j:
                ok = False
            out[i, j] = ok
    return out


@given(valid_graphs(), st.integers(0, 2**31))
def test_valid_graphs_compile_and_respect_declarations(G, seed):
    c = _compile(G, seed)
    lay = c.layout
    for fam, W, M in (
        ("hh", c.weight_hh, c.mask_hh),
        ("ih", c.weight_ih, c.mask_ih),
        ("ho", c.weight_ho, c.mask_ho),
    ):
        declared = torch.zeros_like(M)
        for b in c.family_blocks(fam):
            allowed = _allowed(G, c, b.src, b.dst)
            assert not (b.mask & ~allowed).any(), (b.src, b.dst)
            declared[lay.slice(b.dst), lay.slice(b.src)] |= allowed
        assert not (W[~declared] != 0).any()
        assert not (W[~M] != 0).any()
    # exact counts for the fixed rules inside each candidate set without ei sub-blocks
    for (src, dst), b in c.blocks.items():
        e = G.edges[src, dst]
        if e.get("zero") or e.get("ei") is not None:
            continue
        s = e.get("sparsity", 1 - e["density"] if "density" in e else 0.0)
        cand = _allowed(G, c, src, dst)
        rule = e.get("rule", "bernoulli")
        if rule == "fixed_indegree":
            n = cand.sum(1)
            assert torch.equal(b.mask.sum(1), n - torch.ceil(n.double() * s).long())
        elif rule == "fixed_outdegree":
            n = cand.sum(0)
            assert torch.equal(b.mask.sum(0), n - torch.ceil(n.double() * s).long())
        elif rule in ("fixed_total", "one_to_one"):
            n = int(cand.sum())
            assert int(b.mask.sum()) == n - math.ceil(n * s)


@given(valid_graphs(max_regions=3, max_size=8), st.integers(0, 1000))
def test_same_seed_same_tensors(G, seed):
    a, b = _compile(G, seed), _compile(G, seed)
    for k in a.blocks:
        assert torch.equal(a.blocks[k].weight, b.blocks[k].weight)
        assert torch.equal(a.blocks[k].mask, b.blocks[k].mask)


@settings(max_examples=12)
@given(valid_graphs(max_regions=3, max_size=8))
def test_constraints_hold_after_50_adam_steps(G):
    c = _compile(G, 0)
    model = mg.MultiRegionRNN(c)
    frozen = {k: b.weight.clone() for k, b in c.blocks.items() if not b.trainable or b.zero}
    if not list(model.parameters()):
        return
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(2, 6, model.output_size, generator=gen)
    for _ in range(50):
        opt.zero_grad()
        out = model(torch.randn(2, 6, model.input_size, generator=gen))
        loss = (out.outputs - target).pow(2).mean() + out.rates.mean() + out.states.pow(2).mean()
        loss.backward()
        opt.step()
    w = model.weight_hh.detach()
    assert (w[:, c.sign_h > 0] >= 0).all()
    assert (w[:, c.sign_h < 0] <= 0).all()
    assert (w[~c.mask_hh] == 0).all()
    wi = model.weight_ih.detach()
    assert (wi[:, c.sign_i > 0] >= 0).all() and (wi[:, c.sign_i < 0] <= 0).all()
    assert (wi[~c.mask_ih] == 0).all()
    assert (model.weight_ho.detach()[~c.mask_ho] == 0).all()
    wo = model.weight_ho.detach()  # readout_sign: Dale's law on the readout too
    assert (wo[:, c.sign_h > 0] >= 0).all() and (wo[:, c.sign_h < 0] <= 0).all()
    for (src, dst), w0 in frozen.items():
        if dst in c.layout.outputs:  # a frozen readout keeps its draw, with its units' signs
            s = c.sign_h[model.layout.slice(src)].to(w0.dtype)
            w0 = torch.where(s != 0, s * w0.abs(), w0)
        assert torch.equal(model.projection(src, dst).detach(), w0), (src, dst)


MUTATIONS = (
    "bad-attr-value",
    "unknown-attr",
    "edge-into-input",
    "size",
    "sign-and-frac",
    "bad-rule",
    "both-sparsity-density",
)


@st.composite
def invalid_graphs(draw):
    G = draw(valid_graphs(max_regions=3, max_size=6))
    kind = draw(st.sampled_from(MUTATIONS))
    regions = [n for n, d in G.nodes(data=True) if d.get("kind", "recurrent") == "recurrent"]
    r = draw(st.sampled_from(regions))
    if kind == "bad-attr-value":
        attr = draw(
            st.sampled_from(
                [
                    a
                    for a in schema.attributes("node").values()
                    if a.constraint.invalid_examples() and "recurrent" in a.kinds
                ]
            )
        )
        G.nodes[r][attr.name] = draw(st.sampled_from(attr.constraint.invalid_examples()))
    elif kind == "unknown-attr":
        G.nodes[r][draw(st.sampled_from(["sizee", "sgn", "tau_ms", "bias"]))] = 1
    elif kind == "edge-into-input":
        G.add_node("extra_in", kind="input", size=2)
        G.add_edge(r, "extra_in")
    elif kind == "size":
        G.nodes[r]["size"] = draw(st.sampled_from([0, -1, 1.5, None, "3"]))
    elif kind == "sign-and-frac":
        G.nodes[r].pop("sign", None)
        G.nodes[r].update(sign="exc", exc_frac=0.5)
    elif kind == "bad-rule":
        G.add_edge(r, r, rule=draw(st.sampled_from(["uniform", "", None, 3])))
        if G.edges[r, r]["rule"] is None:
            G.edges[r, r]["sparsity"] = 2.0
    else:
        G.add_edge(r, r, sparsity=0.5, density=0.5)
    return G


@given(invalid_graphs())
def test_invalid_graphs_raise_graph_error_and_nothing_else(G):
    with pytest.raises(GraphError) as info:
        _compile(G)
    assert info.value.problems
    assert all(p.where.startswith(("node", "edge", "graph")) for p in info.value.problems)


# --------------------------------------------------------------------------- odd input
# The campaign of issue 13 as standing properties. Outside CI, run many more examples:
#   HYPOTHESIS_PROFILE=campaign .venv/bin/python -m pytest tests/test_properties.py -k odd
# (12,000 graphs per property; see tests/conftest.py).
_CANONICAL = (int, float, bool, str, type(None))


def _canonical(value):
    if isinstance(value, tuple):
        return all(type(v) in _CANONICAL for v in value)
    return type(value) in _CANONICAL


@given(odd_graphs())
def test_odd_graphs_validate_never_raises_and_compile_raises_only_graph_error(G):
    # A fixed, small memory limit: the same verdict on every machine, and nothing large
    # is ever allocated here.
    with mock.patch.dict(os.environ, {"MRNNGRAPH_MEMORY_LIMIT": "256M"}):
        report = mg.validate(G)
        try:
            c = _compile(G)
        except GraphError as err:
            assert [p.code for p in err.problems] == [p.code for p in report.errors]
            assert report.errors and report.spec is None
            return
    assert report.ok
    for s in (*report.spec.nodes.values(), *report.spec.edges):
        for f in dataclasses.fields(s):
            assert _canonical(getattr(s, f.name)), (s, f.name)
    assert all(
        _canonical(report.spec.graph[k])
        for k in ("dt", "tau", "activation", "name")
        if k in report.spec.graph
    )
    for b in c.blocks.values():
        assert torch.isfinite(b.weight).all()
    assert torch.isfinite(c.bias).all() and torch.isfinite(c.x0).all()
    assert not (c.tau <= 0).any() and not torch.isinf(c.tau).any()


@given(odd_graphs())
def test_odd_graphs_problems_name_their_place(G):
    for p in mg.validate(G, memory_limit=2**28).errors:
        assert p.where.startswith(("node", "edge", "graph"))
        if p.where.startswith("node"):
            assert p.node is not None or p.code == "bad-node-name"
        if p.where.startswith("edge"):
            assert p.edge is not None
        if p.code == "bad-value":
            assert p.attribute is not None and repr(p.attribute) in p.message


@given(invalid_graphs())
def test_invalid_graphs_problems_carry_their_place_and_drawing_flags_it(G):
    from mrnngraph.drawing._read import read_graph
    from mrnngraph.errors import location

    errors = mg.validate(G, memory_limit=math.inf).errors
    assert errors
    for p in errors:
        assert p.node is None or p.edge is None, p
        if p.node is not None:
            assert p.node in G
        if p.edge is not None:
            assert G.has_edge(*p.edge)
        assert p.where == location(node=p.node, edge=p.edge, subject=p.subject)
    look = read_graph(G)
    flagged_nodes = {n for n, v in look.nodes.items() if v.invalid}
    flagged_edges = {(e.src, e.dst) for e in look.edges if e.invalid}
    assert {p.node for p in errors if p.node is not None} <= flagged_nodes
    assert {p.edge for p in errors if p.edge is not None} <= flagged_edges
