"""Drawing the anatomy of issue #16: conduction delays, learned time constants and
densities given per E/I sub-pathway, in the area diagram and in DOT."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mrnngraph.drawing import draw, to_dot  # noqa: E402
from mrnngraph.drawing._read import read_graph  # noqa: E402
from mrnngraph.drawing._style import DELAY_NAME  # noqa: E402
from tests.test_draw import gid_artists, label_boxes, legend_texts, overlapping  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def delayed_hierarchy() -> nx.DiGraph:
    """Three areas with delays on the inter-areal edges, two of them learning tau."""
    G = nx.DiGraph(name="delays", dt=10.0, tau=50.0)
    G.add_node("stim", kind="input", size=3)
    for area, learned in (("V1", False), ("V4", True), ("PFC", True)):
        G.add_node(area, size=100, exc_frac=0.8, learn_tau=learned)
        G.add_edge(area, area, density=0.2)
    G.add_node("choice", kind="output", size=2)
    G.add_edge("stim", "V1")
    G.add_edge("V1", "V4", density=0.1, ei=["EE", "EI"], delay=10.0)
    G.add_edge("V4", "PFC", density=0.1, ei=["EE", "EI"], delay=20.0)
    G.add_edge("PFC", "V4", density=0.05, ei=["EE"], delay=20.0)
    G.add_edge("V4", "V1", density=0.05, ei=["EE"], delay=2.5)
    G.add_edge("PFC", "choice", ei=["E"])
    return G


DELAYED = {"V1->V4": "10 ms", "V4->PFC": "20 ms", "PFC->V4": "20 ms", "V4->V1": "2.5 ms"}


def edge_label(ax, key: str) -> str | None:
    t = gid_artists(ax, "edgelabel").get(key)
    return None if t is None else t.get_text()


def bars_centre(mark) -> np.ndarray:
    """The middle of a delay mark's two bars (data coordinates)."""
    return np.mean([np.mean(seg, axis=0) for seg in mark.get_segments()[1:]], axis=0)


def ink_box(mark, fig) -> np.ndarray:
    """Display box of a delay mark's bars (pixels), half a bar width around them."""
    segments = mark.get_segments()[1:]
    xy = mark.get_transform().transform(np.concatenate(segments))
    half = mark.get_linewidths()[1] * fig.dpi / 72 / 2
    assert np.isfinite(xy).all()
    return np.array([*(xy.min(axis=0) - half), *(xy.max(axis=0) + half)])


def test_delays_get_a_mark_on_the_arrow_and_their_ms_in_the_label():
    ax = draw(delayed_hierarchy())
    marks = gid_artists(ax, "delay")
    # One mark (a gap between two bars) per delayed edge, none on the others.
    marked = {gid for gid in marks}
    assert marked == set(DELAYED)
    for key, mark in marks.items():
        # The gap (white, wider than the edge) and two bars in the edge's colour.
        colours = [tuple(c) for c in mark.get_colors()]
        assert len(mark.get_segments()) == 3 and colours[0] == (1.0, 1.0, 1.0, 1.0), key
        assert colours[1] == colours[2] != colours[0]
        edge = gid_artists(ax, "edge")[key]
        assert mark.get_linewidths()[0] > edge.get_linewidth()
    # Default labels (the edges' own, none here) still show the delay.
    for key, text in DELAYED.items():
        assert edge_label(ax, key) == text
    assert edge_label(ax, "stim->V1") is None
    assert f"{DELAY_NAME} (label: ms)" in legend_texts(ax)


def test_delay_marks_sit_on_their_edge_and_no_label_covers_them():
    G = delayed_hierarchy()
    for labels in ("label", True, "density"):
        ax = draw(G, edge_labels=labels)
        fig = ax.figure
        fig.canvas.draw()
        boxes = label_boxes(ax)
        assert overlapping(boxes) == []
        for a in ax.get_children():
            gid = a.get_gid() or ""
            if not gid.startswith("mrnngraph:delay:"):
                continue
            mark = ink_box(a, fig)
            for name, b in boxes.items():
                w = min(mark[2], b[2]) - max(mark[0], b[0])
                h = min(mark[3], b[3]) - max(mark[1], b[1])
                assert not (w > 0.5 and h > 0.5), (labels, gid, name)
        # The mark lies on its edge's path, a quarter of the way from the source.
        edges = gid_artists(ax, "edge")
        for key in DELAYED:
            path = edges[key].get_path().vertices
            centre = bars_centre(gid_artists(ax, "delay")[key])
            gaps = np.hypot(*(path - centre).T)
            assert gaps.min() < 0.05 * np.ptp(path[:, 0]) + 1e-9, key
            along = int(np.argmin(gaps)) / (len(path) - 1)
            assert 0.1 < along < 0.4, (key, along)


def test_every_built_in_label_choice_ends_with_the_delay_and_user_labels_stay_theirs():
    G = delayed_hierarchy()
    assert edge_label(draw(G, edge_labels="density"), "V1->V4") == "0.1\n10 ms"
    assert edge_label(draw(G, edge_labels="ei"), "V4->V1") == "EE\n2.5 ms"
    assert edge_label(draw(G, edge_labels=True), "V1->V4") == "d=0.1 EE,EI\n10 ms"
    # A dict or a function says exactly what is written; False writes nothing.
    ax = draw(G, edge_labels={("V1", "V4"): "ff"})
    assert edge_label(ax, "V1->V4") == "ff" and edge_label(ax, "V4->PFC") is None
    ax = draw(G, edge_labels=lambda u, v, d: f"{d.get('delay', 0):g}")
    assert edge_label(ax, "V4->V1") == "2.5"
    ax = draw(G, edge_labels=False)
    assert gid_artists(ax, "edgelabel") == {}
    assert set(gid_artists(ax, "delay")) == set(DELAYED)  # the marks stay


def test_no_delay_means_no_mark_and_no_legend_entry():
    G = delayed_hierarchy()
    for u, v in G.edges:
        G.edges[u, v].pop("delay", None)
    G.edges["V1", "V4"]["delay"] = 0.0
    ax = draw(G)
    assert gid_artists(ax, "delay") == {}
    assert not any(t.startswith(DELAY_NAME) for t in legend_texts(ax))
    assert edge_label(ax, "V1->V4") is None


def test_an_invalid_delay_is_flagged_not_drawn():
    G = delayed_hierarchy()
    G.edges["V1", "V4"]["delay"] = -5.0
    G.edges["V4", "PFC"]["delay"] = "soon"
    ax = draw(G)
    assert set(gid_artists(ax, "delay")) == set(DELAYED) - {"V1->V4", "V4->PFC"}
    assert {"edge:V1->V4", "edge:V4->PFC"} <= set(gid_artists(ax, "invalid"))


def test_learned_time_constants_are_named_in_the_node_and_the_legend():
    G = delayed_hierarchy()
    ax = draw(G)
    labels = {k: t.get_text() for k, t in gid_artists(ax, "label").items()}
    assert labels["V4"].endswith("τ learned") and labels["PFC"].endswith("τ learned")
    assert "τ learned" not in labels["V1"]
    assert labels["V4"] == "V4\n100 (80% E)\nτ learned"
    assert any(t.startswith("τ learned") for t in legend_texts(ax))
    # Without sizes the name and the mark remain; learn_tau elsewhere is no mark.
    ax = draw(G, show_sizes=False)
    assert gid_artists(ax, "label")["PFC"].get_text() == "PFC\nτ learned"
    G.nodes["stim"]["learn_tau"] = True  # invalid on an input: flagged, not marked
    look = read_graph(G)
    assert not look.nodes["stim"].learn_tau and look.nodes["stim"].invalid
    for n in ("V4", "PFC"):
        G.nodes[n]["learn_tau"] = False
    assert not any(t.startswith("τ learned") for t in legend_texts(draw(G)))


def test_labels_do_not_overlap_with_delays_and_learned_tau():
    ax = draw(delayed_hierarchy(), edge_labels=True)
    assert overlapping(label_boxes(ax)) == []


def dot_line(text: str, start: str) -> str:
    (line,) = [x for x in text.splitlines() if x.strip().startswith(start)]
    return line


def test_to_dot_carries_delays_and_learned_tau():
    text = to_dot(delayed_hierarchy())
    line = dot_line(text, '"V4" -> "V1"')
    assert 'delay="2.5"' in line and 'label="2.5 ms"' in line and "delay 2.5 ms" in line
    line = dot_line(text, '"V1" -> "V4"')
    assert 'delay="10"' in line and 'label="10 ms"' in line
    assert "delay=" not in dot_line(text, '"stim" -> "V1"')
    assert 'learn_tau="true"' in dot_line(text, '"PFC" [')
    assert "τ learned" in dot_line(text, '"PFC" [')
    assert "learn_tau" not in dot_line(text, '"V1" [')
    with_density = to_dot(delayed_hierarchy(), edge_labels="density")
    assert 'label="0.05\\n2.5 ms"' in dot_line(with_density, '"V4" -> "V1"')


def per_pathway() -> nx.DiGraph:
    """One node per area; feedforward E->E at 10 % and E->I at 5 %, feedback E->E 5 %."""
    G = delayed_hierarchy()
    G.edges["V1", "V4"]["density"] = {"EE": 0.1, "EI": 0.05}
    G.edges["V4", "PFC"].pop("density")
    G.edges["V4", "PFC"]["sparsity"] = {"EI": 0.95, "EE": 0.9}  # shown in ei order
    G.edges["PFC", "V4"]["density"] = {"EE": 0.05}
    return G


def test_densities_per_sub_pathway_show_one_line_each():
    G = per_pathway()
    ax = draw(G, edge_labels="density")
    assert edge_label(ax, "V1->V4") == "EE 0.1\nEI 0.05\n10 ms"
    assert edge_label(ax, "V4->PFC") == "EE 0.1\nEI 0.05\n20 ms"
    assert edge_label(ax, "PFC->V4") == "EE 0.05\n20 ms"
    ax = draw(G, edge_labels=True)
    assert edge_label(ax, "V1->V4") == "d=0.1 EE\nd=0.05 EI\n10 ms"
    assert edge_label(ax, "V4->V1") == "d=0.05 EE\n2.5 ms"  # a scalar, as before
    assert overlapping(label_boxes(ax)) == []


def test_a_projection_given_per_sub_pathway_is_as_wide_as_its_mean_density():
    G = per_pathway()
    ax = draw(G)
    widths = {k: a.get_linewidth() for k, a in gid_artists(ax, "edge").items()}
    # 80 E and 20 I units each side: (0.1 * 80*80 + 0.05 * 80*20) / (80*80 + 80*20) = 0.09.
    G.edges["V1", "V4"]["density"] = 0.09
    G.edges["V4", "PFC"].pop("sparsity")
    G.edges["V4", "PFC"]["density"] = 0.09
    ax = draw(G)
    scalar = {k: a.get_linewidth() for k, a in gid_artists(ax, "edge").items()}
    assert widths["V1->V4"] == pytest.approx(scalar["V1->V4"])
    assert widths["V4->PFC"] == pytest.approx(scalar["V4->PFC"])


def test_an_impossible_sub_pathway_key_is_drawn_and_flagged():
    G = per_pathway()
    G.edges["V1", "V4"]["density"] = {"EE": 0.1, "II": 0.05}  # II: not in its ei
    ax = draw(G, edge_labels="density")
    assert "edge:V1->V4" in gid_artists(ax, "invalid")
    assert edge_label(ax, "V1->V4") == "EE 0.1\nII 0.05\n10 ms"


def test_to_dot_writes_densities_per_sub_pathway():
    text = to_dot(per_pathway(), edge_labels=True)
    line = dot_line(text, '"V1" -> "V4"')
    assert 'label="d=0.1 EE\\nd=0.05 EI\\n10 ms"' in line
    assert "density EE 0.1, EI 0.05" in line  # the tooltip


def test_a_large_circuit_keeps_its_delays_to_the_marks_unless_asked():
    G = nx.DiGraph()
    names = [f"a{i}" for i in range(7)]
    for n in names:
        G.add_node(n, size=4, sign="exc")
    for u in names:
        for v in names:
            G.add_edge(u, v, density=0.5, delay=10.0 if u != v else 0.0)
    assert G.number_of_edges() == 49  # more than 40: the labels stay short
    ax = draw(G, edge_labels="density")
    assert edge_label(ax, "a0->a1") == "0.5"
    assert len(gid_artists(ax, "delay")) == 42
    assert DELAY_NAME in legend_texts(ax)  # no "(label: ms)"
    ax = draw(G, edge_labels="delay")
    assert edge_label(ax, "a0->a1") == "10 ms" and edge_label(ax, "a0->a0") is None
    assert f"{DELAY_NAME} (label: ms)" in legend_texts(ax)
    assert 'label="10 ms"' not in to_dot(G)
    assert 'label="10 ms"' in to_dot(G, edge_labels="delay")


def test_the_delay_choice_on_a_small_circuit_writes_only_delays():
    ax = draw(delayed_hierarchy(), edge_labels="delay")
    assert edge_label(ax, "V4->V1") == "2.5 ms" and edge_label(ax, "stim->V1") is None


def test_a_delayed_self_loop_has_its_mark_at_the_top_of_the_loop():
    G = delayed_hierarchy()
    G.edges["V4", "V4"]["delay"] = 1.0
    ax = draw(G)
    path = gid_artists(ax, "edge")["V4->V4"].get_path().vertices
    centre = bars_centre(gid_artists(ax, "delay")["V4->V4"])
    along = int(np.argmin(np.hypot(*(path - centre).T))) / (len(path) - 1)
    assert 0.35 < along < 0.65  # away from both ends, where the loop meets its node
