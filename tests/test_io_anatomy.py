"""Circuit files and the anatomy of issue #16: delays, learned time constants, per-unit
tau and values per E/I sub-pathway, written and read back in every format."""

from __future__ import annotations

import json
import warnings

import networkx as nx
import pytest

from mrnngraph import GraphError, compile
from mrnngraph.io import load, save
from tests.test_io import assert_same_graph, assert_same_tensors

FORMATS = ("json", "yaml", "graphml")


def kleinman() -> nx.DiGraph:
    """Kleinman et al. (2021)-style: one node per area, E->E 10 % feedforward, E->I 5 %,
    E->E 5 % feedback, with delays and learned time constants."""
    G = nx.DiGraph(name="kleinman", dt=10.0, tau=50.0)
    G.add_node("cue", kind="input", size=4)
    for i, area in enumerate(("a1", "a2", "a3")):
        attrs = {"size": 20, "exc_frac": 0.8}
        if i:
            attrs.update(learn_tau=True, tau_min=20.0, tau_max=400.0)
        if i == 2:
            attrs["tau"] = [40.0 + j for j in range(20)]
        G.add_node(area, **attrs)
        G.add_edge(area, area, density=0.5)
    G.add_node("out", kind="output", size=2)
    G.add_edge("cue", "a1", delay=5)
    for src, dst in (("a1", "a2"), ("a2", "a3")):
        G.add_edge(src, dst, ei=["EE", "EI"], density={"EE": 0.1, "EI": 0.05}, delay=10.0)
        G.add_edge(dst, src, ei=["EE"], sparsity={"EE": 0.95}, gain={"EE": 0.5}, delay=20.0)
    G.add_edge("a3", "out", ei=["E"], delay=2.5)
    return G


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_new_attributes_round_trip_in_every_format(fmt, tmp_path):
    G = kleinman()
    path = tmp_path / f"k.{fmt}"
    save(G, path)
    H = load(path)
    assert_same_graph(G, H)
    assert_same_tensors(G, H)
    assert H.edges["a1", "a2"]["density"] == {"EE": 0.1, "EI": 0.05}
    assert H.nodes["a3"]["tau"] == [40.0 + j for j in range(20)]
    assert H.edges["a3", "out"]["delay"] == 2.5
    save(H, tmp_path / f"again.{fmt}")
    assert (tmp_path / f"again.{fmt}").read_bytes() == path.read_bytes()


def test_the_yaml_form_is_readable(tmp_path):
    save(kleinman(), tmp_path / "k.yaml")
    text = (tmp_path / "k.yaml").read_text()
    assert "a2: {size: 20, exc_frac: 0.8, learn_tau: true, tau_min: 20.0, tau_max: 400.0}" in text
    assert ("- {src: a1, dst: a2, ei: [EE, EI], density: {EE: 0.1, EI: 0.05}, delay: 10.0}") in text
    assert "sparsity: {EE: 0.95}, gain: {EE: 0.5}, delay: 20.0}" in text


def test_graphml_stores_mappings_and_sequences_as_encoded_strings(tmp_path):
    save(kleinman(), tmp_path / "k.graphml")
    text = (tmp_path / "k.graphml").read_text()
    assert 'mrnngraph-json:{"EE": 0.1, "EI": 0.05}' in text.replace("&quot;", '"')
    # Numbers stay numbers: other tools read delay and learn_tau as typed values.
    assert 'attr.name="delay" attr.type="double"' in text
    assert 'attr.name="learn_tau" attr.type="boolean"' in text


def test_bad_new_values_in_a_file_name_their_line(tmp_path):
    G = kleinman()
    path = tmp_path / "k.yaml"
    save(G, path)
    lines = path.read_text().splitlines()
    bad = {
        "delay: 10.0}": "delay: -3.0}",
        "density: {EE: 0.1, EI: 0.05}": "density: {EE: 0.1, II: 0.05}",
    }
    text = []
    want = {}
    for i, line in enumerate(lines, 1):
        for old, new in bad.items():
            # One change per line: each on its own region or connection.
            if old in line and old not in want and i not in want.values():
                line = line.replace(old, new)
                want[old] = i
        text.append(line)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(GraphError) as err:
        load(path)
    found = {(p.attribute, p.line) for p in err.value.problems}
    assert ("delay", want["delay: 10.0}"]) in found
    assert ("density", want["density: {EE: 0.1, EI: 0.05}"]) in found
    # A region's bad bounds: its line (the edges touching it are not checked again).
    path.write_text(path.read_text().replace("tau_max: 400.0}", "tau_max: 10.0}", 1))
    with pytest.raises(GraphError) as err:
        load(path)
    (p,) = [p for p in err.value.problems if p.node == "a2"]
    assert p.line == 10 and p.attribute in ("tau_min", "tau_max")


def test_a_compiled_file_equals_the_compiled_graph(tmp_path):
    G = kleinman()
    save(G, tmp_path / "k.json")
    doc = json.loads((tmp_path / "k.json").read_text())
    a3 = next(n for n in doc["nodes"] if n["id"] == "a3")
    assert a3["tau"] == [40.0 + j for j in range(20)] and a3["learn_tau"] is True
    link = next(x for x in doc["links"] if (x["source"], x["target"]) == ("a1", "a2"))
    assert link["density"] == {"EE": 0.1, "EI": 0.05} and link["delay"] == 10.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = compile(G, seed=1), compile(load(tmp_path / "k.json"), seed=1)
    assert a.blocks[("a1", "a2")].delay == b.blocks[("a1", "a2")].delay == 10.0
    assert bool(b.learn_tau[a.layout.slice("a2")].all())
