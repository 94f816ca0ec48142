"""Circuit files: JSON / YAML / GraphML round trips, malformed files, atomic writes, adjacency."""

from __future__ import annotations

import json
import math
import os
import string
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mrnngraph.io as mio
from mrnngraph import GraphError, compile, validate
from mrnngraph.io import from_adjacency, graph_from_dict, graph_to_dict, load, save
from mrnngraph.presets import cbgt_loop, cortical_hierarchy, two_area_ei

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "circuits"
FORMATS = ("json", "yaml", "graphml")
TENSORS = (
    "weight_hh",
    "mask_hh",
    "trainable_hh",
    "weight_ih",
    "mask_ih",
    "weight_ho",
    "mask_ho",
    "sign_h",
    "sign_i",
    "bias",
    "x0",
    "tau",
    "learnable_bias",
)


def quiet_compile(G, seed=0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(G, seed=seed, **kw)


def plain(value):
    """What a value looks like after a trip through a file (tuples as lists)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def assert_same_graph(G, H):
    assert list(H.nodes) == list(G.nodes)
    assert [plain(d) for _, d in G.nodes(data=True)] == [d for _, d in H.nodes(data=True)]
    assert list(H.edges) == list(G.edges)
    assert [plain(d) for *_, d in G.edges(data=True)] == [d for *_, d in H.edges(data=True)]
    assert H.graph == plain(G.graph)


def assert_same_tensors(G, H, seed=3):
    a, b = quiet_compile(G, seed), quiet_compile(H, seed)
    for name in TENSORS + ("learn_tau", "tau_min", "tau_max"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert torch.equal(torch.nan_to_num(x, nan=-7.0), torch.nan_to_num(y, nan=-7.0)), name
    assert a.blocks.keys() == b.blocks.keys()
    for key, block in a.blocks.items():
        assert block.delay == b.blocks[key].delay, key


def roundtrip(G, tmp_path, fmt, **load_kw):
    path = tmp_path / f"circuit.{fmt}"
    save(G, path)
    return load(path, **load_kw)


# --------------------------------------------------------------------------- strategy
_FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)
_SMALL = st.floats(-3, 3, allow_nan=False)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
_NAME = st.one_of(
    st.text(
        string.ascii_letters + string.digits + "_-. :#{},'\"[]&*!|>%@`äé✓", min_size=1, max_size=6
    ),
    st.sampled_from(
        [
            "yes",
            "no",
            "null",
            "true",
            "1.5",
            "12",
            "~",
            "-",
            "on",
            "1e3",
            "mrnngraph-json:x",
            " pad ",
            "a\nb",
        ]
    ),
).filter(lambda s: not s.startswith("grp"))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _FLOATS | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)


_DELAYS = st.one_of(st.just(0.0), st.integers(0, 200), st.floats(0, 500), st.just(1e-300))
_TAUS = st.floats(20, 400)


def _draw_tau(draw, attrs, size):
    """``tau`` (none, one, or one per unit) and maybe ``learn_tau`` with its bounds."""
    learn = draw(st.booleans())
    lo, hi = 5.0, 1e6
    if learn:
        attrs["learn_tau"] = True
        if draw(st.booleans()):
            lo = attrs["tau_min"] = draw(st.floats(1, 20))
        if draw(st.booleans()):
            hi = attrs["tau_max"] = draw(st.floats(400, 1e4))
    elif draw(st.integers(0, 3)) == 0:
        attrs["learn_tau"] = False
    choice = draw(st.sampled_from(["absent", "float", "list"]))
    if choice == "float":
        attrs["tau"] = draw(st.floats(max(lo, 20), min(hi, 400)))
    elif choice == "list":
        attrs["tau"] = draw(
            st.lists(st.floats(max(lo, 20), min(hi, 400)), min_size=size, max_size=size)
        )


@st.composite
def circuits(draw):
    """Random valid circuit graphs using every node and edge attribute."""
    G = nx.DiGraph()
    for key, strat in (
        ("name", _TEXT.filter(bool)),
        ("dt", st.floats(0.1, 50)),
        ("tau", st.floats(50, 500)),
        ("activation", st.sampled_from(["relu", "tanh", "softplus"])),
        ("description", _TEXT),
        ("meta", _JSON),
    ):
        if draw(st.booleans()):
            G.graph[key] = draw(strat)
    names = draw(st.lists(_NAME, min_size=2, max_size=6, unique=True))
    kinds = ["recurrent"] + [
        draw(st.sampled_from(["recurrent", "input", "output"])) for _ in names[1:]
    ]
    types = {}
    for name, kind in zip(names, kinds, strict=True):
        size = draw(st.integers(1, 5))
        attrs = {"size": size}
        if kind != "recurrent" or draw(st.booleans()):
            attrs["kind"] = kind
        ei = draw(st.sampled_from(["none", "sign", "exc_frac"])) if kind != "output" else "none"
        if ei == "sign":
            attrs["sign"] = draw(st.sampled_from(["exc", "inh", "pos", "neg", "E", "I", 1, -1]))
            types[name] = {"E"} if attrs["sign"] in ("exc", "pos", "E", 1) else {"I"}
        elif ei == "exc_frac":
            attrs["exc_frac"] = draw(st.floats(0, 1))
            n_exc = int(size * attrs["exc_frac"])
            types[name] = {t for t, k in (("E", n_exc), ("I", size - n_exc)) if k}
        else:
            types[name] = set()
        if kind == "recurrent":
            for key in ("base_firing", "init"):
                choice = draw(st.sampled_from(["absent", "float", "list"]))
                if choice == "float":
                    attrs[key] = draw(_FLOATS.filter(lambda x: abs(x) < 1e300))
                elif choice == "list":
                    attrs[key] = draw(st.lists(_SMALL, min_size=size, max_size=size))
            if draw(st.booleans()):
                attrs["learnable_bias"] = draw(st.booleans())
            _draw_tau(draw, attrs, size)
        if draw(st.booleans()):
            attrs["parent"] = draw(st.sampled_from(["grp_a", "grp_b"]))
        if draw(st.booleans()):
            attrs["label"] = draw(_TEXT)
        if draw(st.booleans()):
            attrs["pos"] = [draw(_SMALL), draw(_SMALL)]
        if draw(st.booleans()):
            attrs["color"] = draw(st.sampled_from(["#1f77b4", "C3", "red"]))
        if draw(st.booleans()):
            attrs["meta"] = draw(_JSON)
        G.add_node(name, **attrs)
    kind_of = dict(zip(names, kinds, strict=True))
    pairs = [
        (u, v)
        for u in names
        for v in names
        if kind_of[u] != "output"
        and kind_of[v] != "input"
        and not (kind_of[u] == "input" and kind_of[v] == "output")
    ]
    chosen = (
        draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1, max_size=len(pairs)))
        if pairs
        else []
    )
    for u, v in chosen:
        attrs = {}
        if draw(st.booleans()):
            key = draw(st.sampled_from(["sparsity", "density"]))
            attrs[key] = draw(st.floats(0, 1))
        rules = ["bernoulli", "fixed_indegree", "fixed_outdegree", "fixed_total"]
        if G.nodes[u]["size"] == G.nodes[v]["size"]:
            rules.append("one_to_one")
        if draw(st.booleans()):
            attrs["rule"] = draw(st.sampled_from(rules))
        if draw(st.integers(0, 4)) == 0:
            attrs["zero"] = draw(st.booleans())
        src_types = sorted(types[u])
        dst_typed = kind_of[v] != "output" and types[v]
        if src_types and draw(st.booleans()):
            if dst_typed and draw(st.booleans()):
                entries = [s + d for s in src_types for d in sorted(types[v])]
            else:
                entries = src_types
            attrs["ei"] = draw(st.lists(st.sampled_from(entries), min_size=1, unique=True))
        if u == v and draw(st.booleans()):
            attrs["autapses"] = draw(st.booleans())
        if draw(st.booleans()):
            attrs["trainable"] = draw(st.booleans())
        if draw(st.booleans()):
            attrs["gain"] = draw(st.floats(0.01, 5))
        if src_types:  # per sub-pathway: keys from the edge's ei, else all its types allow
            allowed = attrs.get("ei") or (
                [s + d for s in src_types for d in sorted(types[v])] if dst_typed else src_types
            )
            if draw(st.integers(0, 2)) == 0:  # sparsity/density: every sub-pathway
                key = draw(st.sampled_from(["sparsity", "density"]))
                attrs.pop("sparsity", None)
                attrs.pop("density", None)
                attrs[key] = {k: draw(st.floats(0, 1)) for k in draw(st.permutations(allowed))}
            if draw(st.integers(0, 2)) == 0:  # gain: any of them (1 for the others)
                keys = draw(st.lists(st.sampled_from(allowed), min_size=1, unique=True))
                attrs["gain"] = {k: draw(st.floats(0.01, 5)) for k in keys}
        if draw(st.booleans()):
            attrs["delay"] = draw(_DELAYS)
        if draw(st.booleans()):
            attrs["label"] = draw(_TEXT)
        G.add_edge(u, v, **attrs)
    report = validate(G)
    assume(report.ok)
    return G


ROUNDTRIP = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("fmt", FORMATS)
@ROUNDTRIP
@given(G=circuits())
def test_roundtrip_random_graphs(G, fmt, tmp_path):
    H = roundtrip(G, tmp_path, fmt)
    assert_same_graph(G, H)
    assert_same_tensors(G, H)
    # A second trip changes nothing: the file is a fixed point.
    path = tmp_path / f"again.{fmt}"
    save(H, path)
    assert (tmp_path / f"circuit.{fmt}").read_bytes() == path.read_bytes()


@ROUNDTRIP
@given(G=circuits())
def test_dict_roundtrip_random_graphs(G):
    d = graph_to_dict(G)
    assert json.loads(json.dumps(d)) == d  # JSON-safe as it is
    assert_same_graph(G, graph_from_dict(d))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("factory", [cbgt_loop, two_area_ei, lambda: cortical_hierarchy(6)])
def test_roundtrip_presets(factory, fmt, tmp_path):
    G = factory()
    H = roundtrip(G, tmp_path, fmt)
    assert_same_graph(G, H)
    assert_same_tensors(G, H)


def test_dict_converts_numpy_torch_and_tuples():
    G = nx.DiGraph(dt=np.float32(10.0))
    G.add_node(
        "ctx",
        size=np.int64(3),
        exc_frac=np.float64(0.5),
        pos=(1.0, 2),
        base_firing=np.array([0.1, 0.2, 0.3]),
        init=torch.tensor([0.0, 1.0, 2.0]),
        learnable_bias=np.bool_(True),
    )
    G.add_edge("ctx", "ctx", ei=("EE", "II"), gain=torch.tensor(2.0))
    d = graph_to_dict(G)
    json.dumps(d)
    node = d["nodes"][0]
    assert node == {
        "id": "ctx",
        "size": 3,
        "exc_frac": 0.5,
        "pos": [1.0, 2],
        "base_firing": [0.1, 0.2, 0.3],
        "init": [0.0, 1.0, 2.0],
        "learnable_bias": True,
    }
    assert type(node["size"]) is int and type(node["learnable_bias"]) is bool
    assert d["links"][0] == {"source": "ctx", "target": "ctx", "ei": ["EE", "II"], "gain": 2.0}
    assert d["graph"] == {"dt": 10.0}
    clean = nx.DiGraph(dt=10.0)
    clean.add_node(
        "ctx",
        size=3,
        exc_frac=0.5,
        pos=[1.0, 2],
        base_firing=[0.1, 0.2, 0.3],
        init=[0.0, 1.0, 2.0],
        learnable_bias=True,
    )
    clean.add_edge("ctx", "ctx", ei=["EE", "II"], gain=2.0)
    assert_same_graph(clean, graph_from_dict(d))
    assert_same_tensors(clean, graph_from_dict(d))


def test_dict_rejects_objects_and_reserved_keys():
    G = nx.DiGraph()
    G.add_node("a", size=2, meta={"when": object()}, id="x")
    G.add_node("b", size=1, meta={1: "int key"})
    G.add_edge("a", "b", source="x")
    with pytest.raises(GraphError) as err:
        graph_to_dict(G)
    wheres = [p.where for p in err.value.problems]
    assert wheres.count("node 'a'") == 2 and "node 'b'" in wheres and "edge ('a', 'b')" in wheres
    with pytest.raises(TypeError):
        graph_to_dict(nx.MultiDiGraph())
    with pytest.raises(TypeError):
        graph_to_dict({"nodes": []})


def test_examples_equal_presets(tmp_path):
    for stem, G in (("cbgt_loop", cbgt_loop()), ("two_area_ei", two_area_ei())):
        H = load(EXAMPLES / f"{stem}.yaml")
        assert_same_graph(G, H)
        assert_same_tensors(G, H)


def test_yaml_layout_is_human_first(tmp_path):
    path = tmp_path / "c.yaml"
    save(two_area_ei(), path)
    text = path.read_text()
    assert text.startswith("format: mrnngraph\nversion: 1\nname: two_area_ei\n")
    assert "\nregions:\n  stim: {kind: input, size: 3}\n" in text
    assert "  - {src: a1, dst: a2, density: 0.3, ei: [EE, EI], label: feedforward}\n" in text


def test_yaml_accepts_a_file_without_header(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("regions:\n  ctx: {size: 3}\nconnections:\n  - {src: ctx, dst: ctx}\n")
    G = load(path)
    assert list(G.nodes(data=True)) == [("ctx", {"size": 3})]
    assert list(G.edges) == [("ctx", "ctx")]


def test_graphml_encodes_lists_and_keeps_bools(tmp_path):
    G = nx.DiGraph()
    G.add_node(
        "a",
        size=2,
        base_firing=[0.5, 1.5],
        pos=[0.0, 1.0],
        learnable_bias=False,
        label="mrnngraph-json:not json",
    )
    G.add_node("b", size=2, sign="exc")
    G.add_edge("b", "a", ei=["E"], trainable=False)
    path = tmp_path / "c.graphml"
    save(G, path)
    text = path.read_text()
    assert 'attr.type="boolean"' in text and "mrnngraph-json:[0.5, 1.5]" in text
    H = load(path)
    assert H.nodes["a"]["learnable_bias"] is False and H.edges["b", "a"]["trainable"] is False
    assert_same_graph(G, H)


def test_format_override_and_unknown_extension(tmp_path):
    G = two_area_ei(size=10)
    path = tmp_path / "circuit.txt"
    with pytest.raises(GraphError, match="unknown file extension") as err:
        save(G, path)
    assert "circuit.txt" in err.value.problems[0].where
    save(G, path, format="yaml")
    assert path.read_text().startswith("format: mrnngraph")
    assert_same_graph(G, load(path, format="yaml"))
    with pytest.raises(GraphError, match="unknown file extension"):
        load(path)
    with pytest.raises(ValueError, match="format must be one of"):
        load(path, format="toml")
    with pytest.raises(TypeError):
        load(3)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------- malformed files
def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def problems_of(path, **kw):
    with pytest.raises(GraphError) as err:
        load(path, **kw)
    for p in err.value.problems:
        assert str(path) in p.where, p
    return err.value.problems


def test_json_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "c.json", '{\n  "format": "mrnngraph",\n  "version": 1,,\n}\n')
    (p,) = problems_of(path)
    assert "line 3" in p.where and p.code == "syntax-error"


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ([], "expected a mapping"),
        ({"format": "mrnngraph", "version": 2, "nodes": []}, "unsupported version 2"),
        ({"format": "networkx", "version": 1}, "unknown format 'networkx'"),
        ({"nodes": []}, "missing 'format'"),
        ({"format": "mrnngraph", "version": True}, "unsupported version True"),
        ({"format": "mrnngraph", "version": 1, "nodez": []}, "unknown key 'nodez'"),
        ({"format": "mrnngraph", "version": 1, "nodes": {"a": 1}}, "'nodes' must be a list"),
        ({"format": "mrnngraph", "version": 1, "nodes": [{"size": 1}]}, "with an 'id'"),
        (
            {"format": "mrnngraph", "version": 1, "nodes": [{"id": "a"}, {"id": "a"}]},
            "listed twice",
        ),
        (
            {
                "format": "mrnngraph",
                "version": 1,
                "nodes": [{"id": "a"}],
                "links": [{"source": "a", "target": "b"}],
            },
            "unknown nodes ['b']",
        ),
        (
            {
                "format": "mrnngraph",
                "version": 1,
                "nodes": [{"id": "a"}],
                "links": [{"source": "a", "target": "a"}, {"source": "a", "target": "a"}],
            },
            "listed twice",
        ),
        ({"format": "mrnngraph", "version": 1, "directed": False}, "'directed' must be true"),
        ({"format": "mrnngraph", "version": 1, "graph": [1]}, "'graph' must be a mapping"),
    ],
)
def test_json_bad_layout(tmp_path, doc, fragment):
    path = write(tmp_path, "c.json", json.dumps(doc))
    problems = problems_of(path)
    assert any(fragment in p.message for p in problems), problems


def test_json_duplicate_keys(tmp_path):
    path = write(tmp_path, "c.json", '{"format": "mrnngraph", "version": 1, "version": 1}')
    (p,) = problems_of(path)
    assert p.code == "duplicate-key" and "'version'" in p.message


def test_json_lists_every_problem_at_once(tmp_path):
    doc = {"format": "mrnngraph", "version": 3, "extra": 1, "nodes": [{"id": "a"}, {"id": "a"}, 5]}
    problems = problems_of(write(tmp_path, "c.json", json.dumps(doc)))
    assert {p.code for p in problems} == {
        "bad-version",
        "unknown-key",
        "duplicate-node",
        "bad-layout",
    }


def test_json_invalid_circuit_checked_unless_asked(tmp_path):
    doc = graph_to_dict(two_area_ei(size=10))
    doc["nodes"][1]["size"] = "ten"
    doc["links"][0]["sparsty"] = 0.2
    path = write(tmp_path, "c.json", json.dumps(doc))
    problems = problems_of(path)
    assert {p.code for p in problems} == {"bad-value", "unknown-attribute"}
    bad = next(p for p in problems if p.code == "unknown-attribute")
    assert "edge ('stim', 'a1')" in bad.where and bad.hint == "did you mean 'sparsity'?"
    G = load(path, check=False)
    assert G.nodes["a1"]["size"] == "ten"


YAML_OK = """\
format: mrnngraph
version: 1
name: small
dt: 10.0
regions:
  u: {kind: input, size: 2}
  ctx: {size: 4, exc_frac: 0.5}
  y: {kind: output, size: 1}
connections:
  - {src: u, dst: ctx}
  - {src: ctx, dst: ctx, density: 0.5}
  - {src: ctx, dst: y}
"""


def test_yaml_example_loads(tmp_path):
    G = load(write(tmp_path, "c.yaml", YAML_OK))
    assert list(G) == ["u", "ctx", "y"] and G.graph == {"name": "small", "dt": 10.0}


@pytest.mark.parametrize(
    "old, new, line, fragment",
    [
        ("  ctx: {size: 4, exc_frac: 0.5}", "  ctx: {size: 4, exc_frac: 0.5", 8, "YAML syntax"),
        ("  y: {kind: output, size: 1}", "\ty: {kind: output, size: 1}", 8, "YAML syntax"),
        ("  y: {kind: output, size: 1}", "  ctx: {size: 1}", 8, "given twice (first on line 7)"),
        (
            "  - {src: ctx, dst: y}",
            "  - {src: ctx, dst: u}\n  - {src: ctx, dst: u}",
            13,
            "given twice",
        ),
        ("  - {src: ctx, dst: y}", "  - {src: ctx, dst: z}", 12, "unknown regions ['z']"),
        ("  - {src: ctx, dst: y}", "  - {src: ctx}", 12, "with 'src' and 'dst'"),
        ("  - {src: ctx, dst: y}", "  - [ctx, y]", 12, "with 'src' and 'dst'"),
        ("version: 1", "version: 7", None, "unsupported version 7"),
        ("format: mrnngraph", "format: yEd", None, "unknown format 'yEd'"),
        ("  u: {kind: input, size: 2}", "  u: 3", 6, "must map to a mapping"),
    ],
)
def test_yaml_bad_layout(tmp_path, old, new, line, fragment):
    assert old in YAML_OK
    path = write(tmp_path, "c.yaml", YAML_OK.replace(old, new))
    problems = problems_of(path)
    hit = [p for p in problems if fragment in p.message]
    assert hit, problems
    if line is not None:
        assert f"line {line}" in hit[0].where


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("- a\n- b\n", "top level must be a mapping"),
        ("name: x\n", "missing 'regions:'"),
        ("regions: [a, b]\n", "'regions' must be a mapping"),
        ("regions: {a: {size: 1}}\nconnections: {a: a}\n", "'connections' must be a list"),
    ],
)
def test_yaml_bad_sections(tmp_path, text, fragment):
    problems = problems_of(write(tmp_path, "c.yaml", text))
    assert any(fragment in p.message for p in problems), problems


def test_yaml_circuit_problems_name_their_lines(tmp_path):
    text = (
        YAML_OK.replace("  ctx: {size: 4, exc_frac: 0.5}", "  ctx: {size: -4, exc_frac: 0.5}")
        .replace("{src: ctx, dst: ctx, density: 0.5}", "{src: ctx, dst: ctx, densty: 0.5}")
        .replace("dt: 10.0", "dtt: 10.0")
    )
    problems = problems_of(write(tmp_path, "c.yaml", text))
    assert sorted(p.code for p in problems) == [
        "bad-value",
        "unknown-attribute",
        "unknown-attribute",
    ]
    wheres = [p.where for p in problems]
    assert any(w.endswith("line 7: node 'ctx'") for w in wheres)
    assert any(w.endswith("line 11: edge ('ctx', 'ctx')") for w in wheres)
    assert any(w.endswith("line 4: graph") for w in wheres)


BAD_ATTRIBUTES = """\
regions:
  ctx:
    size: -3
    tau: 10.0
  out: {kind: output, size: 2}
connections:
  - src: ctx
    dst: ctx
    density: 1.5
  - {src: ctx, dst: out}
dt: -1
"""


@pytest.mark.parametrize(
    "old, new, node, edge, attribute, line",
    [
        (None, None, "ctx", None, "size", 3),
        ("size: -3", "size: 3", None, ("ctx", "ctx"), "density", 9),
        ("size: -3", "size: 3", None, None, "dt", 11),
    ],
)
def test_yaml_problems_carry_file_line_and_attribute(
    tmp_path, old, new, node, edge, attribute, line
):
    text = BAD_ATTRIBUTES if old is None else BAD_ATTRIBUTES.replace(old, new)
    if attribute != "density":
        text = text.replace("density: 1.5", "density: 0.5")
    if attribute != "dt":
        text = text.replace("dt: -1", "dt: 1")
    path = write(tmp_path, "c.yaml", text)
    with pytest.raises(GraphError) as info:
        load(path)
    (p,) = info.value.problems
    assert (p.file, p.line, p.node, p.edge, p.attribute) == (str(path), line, node, edge, attribute)
    what = (
        "graph"
        if node is None and edge is None
        else f"node {node!r}"
        if node is not None
        else f"edge {edge!r}"
    )
    assert str(p).startswith(f"file {str(path)!r}, line {line}: {what}: {attribute!r} must be")


def test_yaml_attribute_lines_follow_merge_keys_and_fall_back_to_the_region(tmp_path):
    text = (
        "meta: &b {size: -2}\nregions:\n  a:\n    <<: *b\n    tau: 10.0\n"
        "  b:\n    size: 2\n    exc_frac: 0.5\n    sign: exc\n  c:\n    tau: 10.0\n"
    )
    path = write(tmp_path, "c.yaml", text)
    with pytest.raises(GraphError) as info:
        load(path)
    lines = {(p.node, p.attribute): p.line for p in info.value.problems}
    # a: 'size' is written on line 1, where the merged mapping is; c: 'size' is
    # missing, so the problem is at the region's name.
    assert lines == {("a", "size"): 1, ("b", "exc_frac"): 8, ("c", "size"): 10}


def mangled(fmt, tmp_path):
    """A circuit saved in ``fmt`` with a bad node, edge and graph attribute."""
    G = nx.DiGraph(dt=-1.0)
    G.add_node("ctx", size=-3, tau=10.0)
    G.add_node("out", kind="output", size=2)
    G.add_edge("ctx", "ctx", density=1.5)
    G.add_edge("ctx", "out")
    path = tmp_path / f"c.{fmt}"
    save(G, path)
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_locates_attributes_on_their_lines(tmp_path, fmt):
    path = mangled(fmt, tmp_path)
    lines = path.read_text().splitlines()
    with pytest.raises(GraphError) as info:
        load(path)
    found = {(p.node, p.edge, p.attribute): p for p in info.value.problems}
    assert set(found) == {
        ("ctx", None, "size"),
        (None, ("ctx", "ctx"), "density"),
        (None, None, "dt"),
    }
    for (_, _, attribute), p in found.items():
        assert p.file == str(path) and p.line is not None
        value = {"size": "-3", "density": "1.5", "dt": "-1"}[attribute]
        assert value in lines[p.line - 1], (p, lines[p.line - 1])
        if fmt != "graphml":
            assert attribute in lines[p.line - 1]
    assert mio.validate_file(path).errors == info.value.problems


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=5)
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    st.sampled_from([None, 0, 1, 3]),
    st.sampled_from([None, 0, 1, 2]),
)
@settings(max_examples=100, deadline=None)
def test_json_positions_read_what_json_reads_with_the_line_of_each_value(value, indent, depth):
    from mrnngraph.io._common import json_positions

    text = json.dumps(value, indent=indent)
    lines = text.splitlines()

    def strip(pos, level):
        """``pos`` without its lines, checking each key is on its value's line."""
        if depth is not None and level >= depth:
            return pos  # read whole
        if isinstance(pos, dict):
            for key, (n, _) in pos.items():
                assert json.dumps(key) in lines[n - 1]
            return {k: strip(x, level + 1) for k, (_, x) in pos.items()}
        if isinstance(pos, list):
            return [strip(x, level + 1) for _, x in pos]
        return pos

    assert strip(json_positions(text, depth), 0) == json.loads(text)


def test_yaml_never_executes_tags(tmp_path):
    marker = tmp_path / "pwned"
    text = f"regions: !!python/object/apply:os.system ['touch {marker}']\n"
    (p,) = problems_of(write(tmp_path, "c.yaml", text))
    assert p.code == "syntax-error" and "line 1" in p.where
    assert not marker.exists()


def test_graphml_syntax_error_names_line(tmp_path):
    G = two_area_ei(size=4)
    path = tmp_path / "c.graphml"
    save(G, path)
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace("/>", ">")
    path.write_text("\n".join(lines))
    (p,) = problems_of(path)
    assert p.code == "syntax-error" and "line" in p.where


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (
            lambda t: t.replace("<graphml", '<!DOCTYPE x [<!ENTITY a "b">]>\n<graphml', 1),
            "DTD and entity",
        ),
        (
            lambda t: t.replace('edgedefault="directed"', 'edgedefault="undirected"'),
            "undirected graph",
        ),
        (lambda t: t.replace("mrnngraph-json:[", "mrnngraph-json:[[", 1), "cannot decode"),
        (lambda t: t.replace(">1</data>", ">2</data>", 1), "unsupported version 2"),
    ],
)
def test_graphml_bad_files(tmp_path, mutate, fragment):
    path = tmp_path / "c.graphml"
    save(two_area_ei(size=4), path)
    text = path.read_text()
    new = mutate(text)
    assert new != text
    path.write_text(new)
    problems = problems_of(path)
    assert any(fragment in p.message for p in problems), problems


def test_graphml_parallel_edges(tmp_path):
    M = nx.MultiDiGraph()
    M.add_node("a", size=1)
    M.add_edges_from([("a", "a"), ("a", "a")])
    path = tmp_path / "m.graphml"
    nx.write_graphml(M, path)
    (p,) = problems_of(path)
    assert "parallel edges" in p.message


def test_graphml_from_another_tool(tmp_path):
    G = nx.DiGraph()
    G.add_node("a", size=3, sign="exc")
    G.add_edge("a", "a", density=0.5)
    path = tmp_path / "plain.graphml"
    nx.write_graphml(G, path)  # no mrnngraph header
    assert_same_graph(G, load(path))


def test_not_utf8(tmp_path):
    (p,) = problems_of(write(tmp_path, "c.yaml", b"regions:\n  \xff: {size: 1}\n"))
    assert "UTF-8" in p.message


# --------------------------------------------------------------------------- writing
def test_failed_save_leaves_no_partial_file(tmp_path):
    path = tmp_path / "c.json"
    save(two_area_ei(size=4), path)
    before = path.read_bytes()
    G = two_area_ei(size=4)
    G.nodes["a1"]["meta"] = {"x": object()}
    for fmt in FORMATS:
        target = path.with_suffix(f".{fmt}")
        if fmt != "json":
            save(two_area_ei(size=4), target)
        old = target.read_bytes()
        with pytest.raises(GraphError, match="cannot be saved"):
            save(G, target)
        assert target.read_bytes() == old
    H = two_area_ei(size=4)
    H.nodes["a1"]["meta"] = {"x": math.nan}
    with pytest.raises(GraphError, match="NaN") as err:
        save(H, path)
    assert err.value.problems[0].hint == "save as YAML, which can hold them"
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.graphml", "c.json", "c.yaml"]
    save(H, tmp_path / "nan.yaml")  # YAML holds NaN
    assert math.isnan(load(tmp_path / "nan.yaml").nodes["a1"]["meta"]["x"])


def test_save_interrupted_by_error_in_writer(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    save(two_area_ei(size=4), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save(cbgt_loop(), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.yaml"]


def test_validate_file_reports_lines_and_warnings(tmp_path):
    text = YAML_OK.replace("  - {src: ctx, dst: y}\n", "") + "  - {src: ctx, dst: ctx2}\n"
    path = write(
        tmp_path,
        "c.yaml",
        text.replace(
            "  y: {kind: output, size: 1}\n", "  y: {kind: output, size: 1}\n  ctx2: {size: 0}\n"
        ),
    )
    report = mio.validate_file(path)
    assert not report.ok
    (err,) = report.errors
    assert "line 9" in err.where and "node 'ctx2'" in err.where
    path2 = write(tmp_path, "ok.yaml", YAML_OK.replace("  - {src: ctx, dst: y}\n", ""))
    report = mio.validate_file(path2)
    assert report.ok and report.spec is not None
    assert any(p.code == "unreachable-output" for p in report.warnings)


# --------------------------------------------------------------------------- from_adjacency
FLN = np.array(
    [
        [0.0, 0.02, 0.0, 0.2],
        [0.30, 0.0, 0.001, np.nan],
        [0.05, 0.40, 0.0, 0.0],
        [0.0, 0.0, 0.6, 0.9],
    ]
)
AREAS = ["V1", "V2", "V4", "PFC"]


def test_adjacency_mapping_problems_name_the_edge_and_attribute():
    with pytest.raises(GraphError) as info:
        from_adjacency(
            FLN,
            AREAS,
            10,
            threshold=0.01,
            density=lambda w: 2.0 if w > 0.1 else 0.5,
            gain=lambda w: -1.0,
        )
    found = {(p.edge, p.attribute) for p in info.value.problems}
    # FLN[0, 1] = 0.02 is V1 <- V2 (dst_src): its density maps fine, its gain does not.
    assert ((AREAS[1], AREAS[0]), "gain") in found
    assert {a for _, a in found} == {"density", "gain"}
    assert all(
        str(p).startswith(f"edge ({p.edge[0]!r}, {p.edge[1]!r}): strength")
        for p in info.value.problems
    )


def test_adjacency_orientation_and_threshold():
    G = from_adjacency(FLN, AREAS, 10, threshold=0.01)
    assert sorted(G.edges) == sorted(
        [
            ("V2", "V1"),
            ("PFC", "V1"),
            ("V1", "V2"),
            ("V1", "V4"),
            ("V2", "V4"),
            ("V4", "PFC"),
            ("PFC", "PFC"),
        ]
    )
    assert all(d["density"] == 1.0 for *_, d in G.edges(data=True))
    assert G.edges["V1", "V2"]["meta"] == {"strength": 0.3}
    H = from_adjacency(FLN.T, AREAS, 10, threshold=0.01, orientation="src_dst")
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    # threshold 0: every positive entry is kept, NaN never
    assert ("V4", "V2") in from_adjacency(FLN, AREAS, 10).edges
    assert ("PFC", "V2") not in from_adjacency(FLN, AREAS, 10).edges


def test_adjacency_mappings():
    G = from_adjacency(
        FLN,
        AREAS,
        [8, 8, 6, 6],
        threshold=0.01,
        density="log",
        density_range=(0.1, 0.5),
        gain="linear",
        gain_range=(1.0, 3.0),
    )
    dens = {(u, v): d["density"] for u, v, d in G.edges(data=True)}
    assert dens[("V2", "V4")] == pytest.approx(
        0.1 + 0.4 * math.log(0.4 / 0.02) / math.log(0.9 / 0.02)
    )
    assert dens[("V2", "V1")] == pytest.approx(0.1) and dens[("PFC", "PFC")] == pytest.approx(0.5)
    assert G.edges["PFC", "PFC"]["gain"] == pytest.approx(3.0)
    assert "gain" not in G.edges["V2", "V1"]  # gain 1.0 is the default
    H = from_adjacency(
        FLN,
        AREAS,
        5,
        threshold=0.01,
        density=lambda w: min(1.0, 2 * w),
        gain=0.5,
        rule="fixed_indegree",
        exc_frac=0.8,
        ei=["EE", "EI"],
        self_density=0.2,
        input_to=["V1"],
        readout_from="PFC",
        n_outputs=2,
        name="fln",
    )
    assert H.edges["V1", "V2"]["density"] == pytest.approx(0.6)
    assert H.edges["V1", "V2"]["ei"] == ["EE", "EI"] and H.edges["V1", "V2"]["gain"] == 0.5
    assert H.edges["V1", "V1"] == {"density": 0.2, "autapses": False, "rule": "fixed_indegree"}
    assert H.edges["PFC", "PFC"]["density"] == 0.2
    assert list(H) == ["input", *AREAS, "readout"] and H.graph["name"] == "fln"
    c = quiet_compile(H)
    assert c.layout.hidden_size == 20 and c.layout.output_size == 2


def test_adjacency_signs_per_region():
    G = from_adjacency(FLN, AREAS, 4, sign=["exc", "exc", "inh", None])
    assert [G.nodes[a].get("sign") for a in AREAS] == ["exc", "exc", "inh", None]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"matrix": FLN[:3]}, "shape (4, 4)"),
        ({"names": ["V1", "V1", "V4", "PFC"]}, "more than once"),
        ({"names": ["V1", "", "V4", "PFC"]}, "non-empty strings"),
        ({"sizes": [1, 2]}, "sizes has 2 values for 4 regions"),
        ({"exc_frac": [0.8]}, "exc_frac has 1 values"),
        ({"orientation": "rows"}, "orientation must be"),
        ({"density": "sqrt"}, "density must be a float"),
        ({"density": lambda w: 2.0}, "outside [0, 1]"),
        ({"gain": lambda w: -w}, "gains must be > 0"),
        ({"matrix": -FLN}, "finite and >= 0"),
        ({"self_density": 1.5}, "self_density"),
        ({"input_to": ["MT"]}, "unknown region 'MT'"),
        ({"sizes": 0}, "'size'"),
    ],
)
def test_adjacency_errors(kwargs, fragment):
    args = {"matrix": FLN, "names": AREAS, "sizes": 4, "threshold": 0.01} | kwargs
    with pytest.raises(GraphError) as err:
        from_adjacency(args.pop("matrix"), args.pop("names"), args.pop("sizes"), **args)
    assert any(fragment in str(p) for p in err.value.problems), err.value.problems


def test_adjacency_lists_every_problem_and_type_errors():
    with pytest.raises(GraphError) as err:
        from_adjacency(FLN[:3], ["a", "a"], [1, 2, 3], orientation="x")
    assert len(err.value.problems) == 4
    with pytest.raises(TypeError):
        from_adjacency([["a", "b"], ["c", "d"]], ["x", "y"], 2)
    with pytest.raises(TypeError):
        from_adjacency(FLN, "V1", 2)


@pytest.mark.parametrize("fmt", ["json", "yaml", "graphml"])
@pytest.mark.parametrize(
    "text",
    [
        "\x85",
        "a\u2028b",
        "c\u2029",
        "tab\there",
        "cr\rlf\n",
        "bell\x07",
        " padded ",
        "quote ' and \"",
        "ünïcødé ⊣",
    ],
)
def test_awkward_strings_round_trip(fmt, text, tmp_path):
    """Found by hypothesis: YAML folded NEL into a space when it was written unquoted."""
    G = nx.DiGraph(name=text)
    G.add_node("a", size=2, label=text)
    G.add_edge("a", "a", label=text)
    path = tmp_path / f"c.{fmt}"
    save(G, path)
    H = load(path)
    assert H.graph["name"] == text
    assert H.nodes["a"]["label"] == text and H.edges["a", "a"]["label"] == text
