"""to_dot: the Graphviz text of a circuit, with the same encoding as draw()."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mrnngraph.drawing import draw, to_dot  # noqa: E402
from mrnngraph.presets import cbgt_loop  # noqa: E402
from tests._dot import parse_dot  # noqa: E402
from tests.test_draw import (  # noqa: E402
    four_area,
    legend_texts,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_dot_text_has_the_same_nodes_edges_and_encoding():
    G = four_area()
    G.add_node("gate", size=10, sign="inh", parent="bg")
    G.add_node("relay", size=10, parent="bg")
    G.add_edge("gate", "relay", density=0.2)
    G.add_edge("V1", "gate", ei=["E"])
    text = to_dot(G)
    nodes, edges = parse_dot(text)
    assert set(nodes) == set(G.nodes) and set(edges) == set(G.edges)
    assert edges[("V1", "V4")]["arrowhead"] == "normal"
    assert edges[("V4", "V1")]["arrowhead"] == "tee"
    assert edges[("V1", "V1")]["arrowhead"] == "dot"
    assert edges[("img", "V1")]["arrowhead"] == "vee"
    assert edges[("PFC", "V1")]["style"] == "dashed"
    assert edges[("img", "V1")]["style"] == "dotted"
    assert edges[("V1", "V4")]["style"] == "solid"
    assert float(edges[("V1", "V4")]["penwidth"]) > float(edges[("V4", "V1")]["penwidth"])
    assert nodes["V1"]["style"] == "wedged" and ";0.800:" in nodes["V1"]["fillcolor"]
    assert nodes["img"]["shape"] == "box" and nodes["gate"]["shape"] == "circle"
    assert float(nodes["V1"]["width"]) > float(nodes["LIP"]["width"])
    cluster = re.search(r'subgraph "cluster_bg" \{(.*?)\n  \}', text, re.S)
    assert cluster and '"gate"' in cluster.group(1) and '"relay"' in cluster.group(1)
    assert '{ rank=source; "img"; }' in text and '{ rank=sink; "sacc"; }' in text
    assert text.startswith("digraph ") and text.rstrip().endswith("}")


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None)
@given(st.lists(names, min_size=1, max_size=6, unique=True), st.data())
def test_property_dot_names_round_trip(node_names, data):
    G = nx.DiGraph()
    for n in node_names:
        G.add_node(n, size=3, label=n)
    pairs = data.draw(
        st.lists(st.tuples(st.sampled_from(node_names), st.sampled_from(node_names)), max_size=6)
    )
    G.add_edges_from(pairs)
    nodes, edges = parse_dot(to_dot(G))
    assert set(nodes) == set(G.nodes) and set(edges) == set(G.edges)
    for n in node_names:
        assert nodes[n]["label"].split("\n")[0] == n


def test_dot_quotes_awkward_names():
    G = nx.DiGraph()
    for n in ("9/46d", 'say "hi"', "node", "a b", "back\\slash", "->"):
        G.add_node(n, size=2)
    G.add_edge("9/46d", 'say "hi"')
    G.add_edge("node", "->")
    text = to_dot(G)
    assert '"9/46d" -> "say \\"hi\\""' in text
    assert '"node" -> "->"' in text and '"back\\\\slash"' in text


def test_dot_parses_back_with_pydot_when_installed():
    pydot = pytest.importorskip("pydot")
    G = cbgt_loop()
    G.add_node("9/46d", size=5, sign="exc")
    G.add_edge("9/46d", "ctx_e")
    (graph,) = pydot.graph_from_dot_data(to_dot(G))
    H = nx.nx_pydot.from_pydot(graph)

    def clean(x: str) -> str:
        return x[1:-1] if x.startswith('"') and x.endswith('"') else x

    got_nodes = {clean(n) for n in H.nodes} - {"node", "edge", "graph", "\\n"}
    assert got_nodes == set(G.nodes)
    assert {(clean(u), clean(v)) for u, v in H.edges()} == set(G.edges)
    attrs = {(clean(u), clean(v)): d for u, v, d in H.edges(data=True)}
    assert clean(attrs[("d1", "gpe")]["style"]) == "dashed"
    assert clean(attrs[("d1", "snr")]["arrowhead"]) == "tee"


def test_to_dot_rejects_a_bad_rankdir():
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(cbgt_loop(), rankdir="UP")
    assert 'rankdir="TB"' in to_dot(cbgt_loop(), rankdir="TB")


def test_graphviz_engine_with_graphviz_installed():
    pytest.importorskip("graphviz")
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    ax = draw(cbgt_loop(), engine="graphviz")
    image = ax.images[-1].get_array()
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert "from inhibitory units" in legend_texts(ax)
