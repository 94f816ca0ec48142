"""Circuit files: JSON / YAML / GraphML round trips and atomic writes (malformed files and
failed writes: test_io_malformed.py; connectome matrices: test_io_adjacency.py)."""

from __future__ import annotations

import json
import string
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mrnngraph import GraphError, compile, validate
from mrnngraph.io import graph_from_dict, graph_to_dict, load, save
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
