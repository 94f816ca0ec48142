"""Pictures of a circuit, tested by content (artists, labels, boundaries), headless."""

from __future__ import annotations

import io
import itertools
import math
import sys
import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch, Polygon  # noqa: E402

import mrnngraph  # noqa: E402
from mrnngraph import schema  # noqa: E402
from mrnngraph.drawing import draw, to_dot  # noqa: E402
from mrnngraph.presets import cbgt_loop, cortical_hierarchy, two_area_ei  # noqa: E402
from tests._dot import parse_dot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def gid_artists(ax, kind: str) -> dict[str, object]:
    """Artists whose gid is ``mrnngraph:KIND:<rest>``, by ``<rest>``."""
    out = {}
    prefix = f"mrnngraph:{kind}:"
    for a in ax.get_children():
        gid = a.get_gid() or ""
        if gid.startswith(prefix):
            out[gid[len(prefix) :]] = a
    return out


def centre(patch) -> np.ndarray:
    if isinstance(patch, Circle):
        return np.array(patch.center)
    return np.array([patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2])


def area(patch) -> float:
    if isinstance(patch, Circle):
        return math.pi * patch.radius**2
    return patch.get_width() * patch.get_height()


def four_area() -> nx.DiGraph:
    """A mixed E/I hierarchy with a frozen input, an E->I feedback and a zero edge."""
    G = nx.DiGraph()
    G.add_node("img", kind="input", size=8)
    for name, size in (("V1", 160), ("V4", 120), ("LIP", 80), ("PFC", 100)):
        G.add_node(name, size=size, exc_frac=0.8)
    G.add_node("sacc", kind="output", size=2)
    G.add_edge("img", "V1", density=0.3, trainable=False)
    for a, b in itertools.pairwise(["V1", "V4", "LIP", "PFC"]):
        G.add_edge(a, b, density=0.25, ei=["EE", "EI"])
        G.add_edge(b, a, density=0.1, ei=["IE"])
    G.add_edge("V1", "V1", density=0.3)
    G.add_edge("PFC", "V1", zero=True)
    G.add_edge("PFC", "sacc", ei=["E"])
    return G


def dash_kind(patch) -> str:
    """'solid', 'dashed' or 'dotted', from the dash pattern matplotlib will draw."""
    offset, dashes = patch._dash_pattern  # the pattern after scaling by the line width
    if not dashes:
        return "solid"
    return "dotted" if dashes[0] < 1.5 * patch.get_linewidth() else "dashed"


# --------------------------------------------------------------------------- the diagram
def test_one_node_artist_per_node_and_one_line_per_edge():
    G = cbgt_loop()
    ax = draw(G)
    nodes = gid_artists(ax, "node")
    edges = gid_artists(ax, "edge")
    assert set(nodes) == set(G.nodes)
    assert set(edges) == {f"{u}->{v}" for u, v in G.edges}
    assert len(gid_artists(ax, "label")) == G.number_of_nodes()


def test_dashed_edges_are_the_zero_ones_and_dotted_the_frozen_ones():
    G = four_area()
    G.add_edge("V4", "V4", trainable=False, zero=True)  # zero wins over frozen
    ax = draw(G)
    kinds = {k: dash_kind(p) for k, p in gid_artists(ax, "edge").items()}
    assert {k for k, v in kinds.items() if v == "dashed"} == {"PFC->V1", "V4->V4"}
    assert {k for k, v in kinds.items() if v == "dotted"} == {"img->V1"}
    frozen = gid_artists(ax, "edge")["img->V1"]
    assert matplotlib.colors.to_hex(frozen.get_edgecolor()) == "#999999"


def test_node_area_is_proportional_to_unit_count():
    G = cbgt_loop()
    ax = draw(G)
    nodes = gid_artists(ax, "node")
    sizes = {n: d["size"] for n, d in G.nodes(data=True)}
    regions = [n for n, d in G.nodes(data=True) if d.get("kind", "recurrent") == "recurrent"]
    for a, b in itertools.combinations(regions, 2):
        assert area(nodes[a]) / area(nodes[b]) == pytest.approx(sizes[a] / sizes[b], rel=1e-6)
    by_size = sorted(G.nodes, key=lambda n: sizes[n])
    areas = [area(nodes[n]) for n in by_size]
    assert areas == sorted(areas)
    # Inputs and outputs are squares (channels), regions discs.
    assert isinstance(nodes["stim"], FancyBboxPatch) and isinstance(nodes["ctx_e"], Circle)


def test_tiny_nodes_stay_visible():
    G = nx.DiGraph()
    G.add_node("big", size=4096, sign="exc")
    G.add_node("tiny", size=1, sign="inh")
    G.add_edge("big", "tiny")
    nodes = gid_artists(draw(G), "node")
    assert nodes["tiny"].radius >= 0.2 * nodes["big"].radius


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_legend_lists_the_node_types_and_edge_styles_present():
    texts = legend_texts(draw(cbgt_loop()))
    for want in (
        "input",
        "excitatory",
        "inhibitory",
        "output (readout)",
        "from excitatory units",
        "from inhibitory units",
        "from unconstrained units",
        "trained projection",
        "zero (declared, fixed at 0)",
    ):
        assert want in texts
    assert not any("mixed" in t or "frozen" in t or "E and I" in t for t in texts)
    texts = legend_texts(draw(two_area_ei()))
    assert "mixed E/I (wedge = E fraction)" in texts and "from E and I units" in texts
    assert "excitatory" not in texts
    assert "frozen (trainable=False)" in legend_texts(draw(four_area()))
    assert draw(two_area_ei(), legend=False).get_legend() is None


HEAD_TYPES = {"exc": Polygon, "inh": Line2D, "mixed": Circle, "free": Line2D}


def heads(ax) -> dict[str, tuple[str, object]]:
    out = {}
    for rest, artist in gid_artists(ax, "head").items():
        kind, edge = rest.split(":", 1)
        out[edge] = (kind, artist)
    return out


def test_arrowheads_show_which_units_project():
    h = heads(draw(cbgt_loop()))
    assert h["ctx_e->d1"][0] == "exc" and h["d1->snr"][0] == "inh"
    assert h["stim->ctx_e"][0] == "free"  # an input without a sign
    h4 = heads(draw(four_area()))
    assert h4["V1->V4"][0] == "exc"  # ei=["EE", "EI"]: only E units project
    assert h4["V4->V1"][0] == "inh"  # ei=["IE"]
    assert h4["V1->V1"][0] == "mixed" and h4["PFC->V1"][0] == "mixed"
    assert h4["PFC->sacc"][0] == "exc"
    for kind, artist in [*h.values(), *h4.values()]:
        assert isinstance(artist, HEAD_TYPES[kind])
    # A triangle for E, a bar (two points) for I, a chevron (three points) when free.
    assert len(h["ctx_e->d1"][1].get_xy()) >= 3
    assert len(h["d1->snr"][1].get_xdata()) == 2
    assert len(h["stim->ctx_e"][1].get_xdata()) == 3


def test_arrows_end_at_the_target_outline():
    G = cbgt_loop()
    ax = draw(G)
    nodes = gid_artists(ax, "node")
    for edge, (kind, artist) in heads(ax).items():
        if kind != "exc":
            continue
        dst = edge.split("->")[1]
        tip = artist.get_xy()[0]
        d = np.hypot(*(tip - centre(nodes[dst])))
        r = nodes[dst].radius if isinstance(nodes[dst], Circle) else nodes[dst].get_width() / 2
        assert r <= d <= r * 1.45 + 0.1, edge


def test_self_loops_are_drawn_outside_the_node():
    ax = draw(two_area_ei())
    nodes = gid_artists(ax, "node")
    for n in ("a1", "a2"):
        loop = gid_artists(ax, "edge")[f"{n}->{n}"]
        pts = loop.get_path().vertices
        dist = np.hypot(*(pts - centre(nodes[n])).T)
        assert dist.min() >= nodes[n].radius * 0.99
        assert dist.max() > nodes[n].radius * 1.4


def side(pts: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Mean signed distance of ``pts`` from the line a -> b (positive: left)."""
    d = (b - a) / np.hypot(*(b - a))
    return float(np.mean((pts[:, 0] - a[0]) * -d[1] + (pts[:, 1] - a[1]) * d[0]))


def test_reciprocal_edges_bend_apart():
    ax = draw(two_area_ei())
    nodes, edges = gid_artists(ax, "node"), gid_artists(ax, "edge")
    a, b = centre(nodes["a1"]), centre(nodes["a2"])
    forward = side(edges["a1->a2"].get_path().vertices, a, b)
    back = side(edges["a2->a1"].get_path().vertices, a, b)
    assert forward > 0.02 and back < -0.02


def test_edges_avoid_nodes_in_between():
    G = nx.DiGraph()
    for n in "abc":
        G.add_node(n, size=10)
    G.add_edge("a", "b")
    G.add_edge("b", "c")
    G.add_edge("a", "c")  # straight, it would run through b
    ax = draw(G, layout={"a": (0, 0), "b": (1, 0), "c": (2, 0)})
    b = gid_artists(ax, "node")["b"]
    pts = gid_artists(ax, "edge")["a->c"].get_path().vertices
    assert np.hypot(*(pts - centre(b)).T).min() > b.radius


def assert_inputs_left_outputs_right(G, ax) -> None:
    x = {n: centre(p)[0] for n, p in gid_artists(ax, "node").items()}
    kind = {n: d.get("kind", "recurrent") for n, d in G.nodes(data=True)}
    xs = {k: [x[n] for n in G if kind[n] == k] for k in ("input", "recurrent", "output")}
    assert max(xs["input"]) < min(xs["recurrent"])
    assert max(xs["recurrent"]) < min(xs["output"])


@pytest.mark.parametrize("make", [cbgt_loop, two_area_ei, four_area])
def test_inputs_left_outputs_right_regions_between(make):
    G = make()
    assert_inputs_left_outputs_right(G, draw(G, legend=False))


def pairwise_ratio(points: dict) -> np.ndarray:
    names = sorted(points)
    d = np.array(
        [
            np.hypot(*(np.asarray(points[a]) - np.asarray(points[b])))
            for a, b in itertools.combinations(names, 2)
        ]
    )
    return d / d.max()


def test_user_positions_dict_function_and_pos_attributes_are_honoured():
    G = cbgt_loop()
    given = nx.circular_layout(G)
    for kwargs in ({"layout": given}, {"layout": nx.circular_layout}):
        nodes = gid_artists(draw(G, **kwargs), "node")
        got = {n: centre(p) for n, p in nodes.items()}
        np.testing.assert_allclose(pairwise_ratio(got), pairwise_ratio(given), atol=1e-6)
    H = G.copy()
    for n, p in given.items():
        H.nodes[n]["pos"] = tuple(p)
    got = {n: centre(p) for n, p in gid_artists(draw(H), "node").items()}
    np.testing.assert_allclose(pairwise_ratio(got), pairwise_ratio(given), atol=1e-6)


def test_a_partial_layout_places_the_rest():
    G = two_area_ei()
    nodes = gid_artists(draw(G, layout={"a1": (0, 0), "a2": (3, 0)}), "node")
    assert set(nodes) == set(G)
    assert centre(nodes["a2"])[0] > centre(nodes["a1"])[0]


def test_bad_layouts_are_reported():
    with pytest.raises(ValueError, match="layout must be"):
        draw(cbgt_loop(), layout="spiral")
    with pytest.raises(TypeError, match="layout must be"):
        draw(cbgt_loop(), layout=3)
    with pytest.raises(ValueError, match="position of 'a1'"):
        draw(two_area_ei(), layout={"a1": ("x", 1)})


def test_parent_group_is_a_box_around_its_children_with_its_name():
    ax = draw(cbgt_loop())
    group = gid_artists(ax, "group")["ctx"]
    bbox = group.get_path().get_extents(group.get_patch_transform())
    nodes = gid_artists(ax, "node")
    for n, p in nodes.items():
        c, r = centre(p), (p.radius if isinstance(p, Circle) else p.get_width() / 2)
        inside = (
            bbox.x0 <= c[0] - r
            and c[0] + r <= bbox.x1
            and bbox.y0 <= c[1] - r
            and c[1] + r <= bbox.y1
        )
        assert inside == (n in ("ctx_e", "ctx_i")), n
    assert gid_artists(ax, "grouplabel")["ctx"].get_text() == "ctx"


def test_a_group_with_an_outsider_between_its_members_is_drawn_around_members_only():
    G = nx.DiGraph()
    for n, p in (("a", (0, 0)), ("x", (1, 0)), ("b", (2, 0)), ("c", (1, 1.2))):
        G.add_node(n, size=10, pos=p)
        if n != "x":
            G.nodes[n]["parent"] = "g"
    ax = draw(G)
    halo = gid_artists(ax, "group")["g"]
    nodes = gid_artists(ax, "node")
    path = halo.get_path()
    assert not path.contains_point(centre(nodes["x"]))
    assert all(path.contains_point(centre(nodes[n])) for n in "abc")
    assert gid_artists(ax, "grouplabel")["g"].get_text() == "g"


def label_boxes(ax) -> dict[str, np.ndarray]:
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = {}
    for t in ax.texts:
        gid = t.get_gid() or ""
        if (
            gid.startswith(("mrnngraph:label:", "mrnngraph:edgelabel:", "mrnngraph:grouplabel:"))
            and t.get_text()
        ):
            b = t.get_window_extent(renderer)
            out[gid] = np.array([b.x0, b.y0, b.x1, b.y1])
    return out


def overlapping(boxes: dict[str, np.ndarray], tol: float = 0.5) -> list[tuple[str, str]]:
    bad = []
    for (a, p), (b, q) in itertools.combinations(boxes.items(), 2):
        if min(p[2], q[2]) - max(p[0], q[0]) > tol and min(p[3], q[3]) - max(p[1], q[1]) > tol:
            bad.append((a, b))
    return bad


def test_the_29_area_hierarchy_has_no_overlapping_labels():
    G = cortical_hierarchy()
    ax = draw(G)
    boxes = label_boxes(ax)
    assert len(boxes) == G.number_of_nodes()
    assert overlapping(boxes) == []
    fig_w, fig_h = ax.figure.bbox.width, ax.figure.bbox.height
    for gid, b in boxes.items():
        assert b[0] >= -0.5 and b[1] >= -0.5 and b[2] <= fig_w + 0.5 and b[3] <= fig_h + 0.5, gid
    sizes = [
        t.get_fontsize() for t in ax.texts if (t.get_gid() or "").startswith("mrnngraph:label:")
    ]
    assert min(sizes) >= 7.0  # legible: the placement did not shrink labels to fit
    # 29 areas, 603 projections: every one drawn, from the input on the left to the readout.
    assert len(gid_artists(ax, "edge")) == G.number_of_edges()
    assert_inputs_left_outputs_right(G, ax)


@pytest.mark.parametrize("make", [cbgt_loop, two_area_ei, four_area])
def test_labels_do_not_overlap_with_edge_labels_on(make):
    assert overlapping(label_boxes(draw(make(), edge_labels=True))) == []


def test_labels_do_not_collide_with_a_legend_outside_the_axes():
    ax = draw(two_area_ei())
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    for b in label_boxes(ax).values():
        assert b[2] <= legend.x0 + 0.5 or b[0] >= legend.x1 - 0.5 or b[3] <= legend.y0 + 0.5


def invalid_graph() -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=3)
    G.add_node("bad_sign", size=10, sign="sideways")
    G.add_node("no_size", sign="exc")
    G.add_node("bad_size", num_units="many", exc_frac=1.7)
    G.add_node("both", size=5, sign="E", exc_frac=0.5)
    G.add_node("odd_kind", kind="hidden", size=4)
    G.add_node(7, size=4, colour="red")
    G.add_node("y", kind="output", size=2)
    G.add_edge("u", "bad_sign", sparsity=1.5)
    G.add_edge("bad_sign", "no_size", density=0.5, sparsity=0.5)
    G.add_edge("no_size", "bad_size", zero="yes", trainable=3, ei=["XY"])
    G.add_edge("both", "u", sparsty=0.1)  # into an input, and a typo
    G.add_edge("y", "odd_kind")  # out of an output
    G.add_edge("u", "y")
    G.add_edge(7, 7, label=("tuple", "label"), color="not-a-colour")
    return G


def test_draw_never_fails_on_an_invalid_graph_and_marks_what_is_wrong():
    G = invalid_graph()
    assert not mrnngraph.validate(G).ok
    ax = draw(G, edge_labels=True)
    nodes = gid_artists(ax, "node")
    assert set(nodes) == {str(n) for n in G}
    assert len(gid_artists(ax, "edge")) == G.number_of_edges()
    assert nodes["bad_sign"].mrnngraph_category == "unconstrained"
    assert nodes["both"].mrnngraph_category == "mixed"
    assert nodes["odd_kind"].mrnngraph_category == "unconstrained"
    flagged = set(gid_artists(ax, "invalid:node"))
    assert {"bad_sign", "no_size", "bad_size", "both", "odd_kind", "7"} <= flagged
    assert "u" not in flagged and "y" not in flagged
    assert {
        "u->bad_sign",
        "bad_sign->no_size",
        "no_size->bad_size",
        "both->u",
        "y->odd_kind",
        "u->y",
    } <= set(gid_artists(ax, "invalid:edge"))
    assert "invalid attribute (see validate)" in legend_texts(ax)
    assert "?" in gid_artists(ax, "label")["no_size"].get_text()
    to_dot(G)  # the DOT text is as lenient


def attribute_values(scope: str) -> st.SearchStrategy:
    """A dict of attribute values for ``scope``: valid defaults and the schema's invalid ones."""
    pools = {}
    for name, attr in schema.attributes(scope).items():
        if name in ("pos", "meta"):
            continue
        pool = list(attr.constraint.invalid_examples())
        if not attr.required and attr.default is not None:
            pool.append(attr.default)
        pools[name] = st.sampled_from(pool) if pool else st.none()
    return st.dictionaries(st.sampled_from(sorted(pools)), st.none(), max_size=4).flatmap(
        lambda keys: st.fixed_dictionaries({k: pools[k] for k in keys})
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(attribute_values("node"), min_size=1, max_size=4),
    edges=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), attribute_values("edge")), max_size=5
    ),
)
def test_property_draw_and_to_dot_never_fail_on_schema_values(nodes, edges):
    G = nx.DiGraph()
    for i, attrs in enumerate(nodes):
        G.add_node(f"n{i}", **attrs)
    for u, v, attrs in edges:
        if u < len(nodes) and v < len(nodes):
            G.add_edge(f"n{u}", f"n{v}", **attrs)
    try:
        ax = draw(G, edge_labels=True)
        assert len(gid_artists(ax, "node")) == G.number_of_nodes()
        assert len(gid_artists(ax, "edge")) == G.number_of_edges()
    finally:
        plt.close("all")
    text = to_dot(G)
    assert set(parse_dot(text)[1]) == set(G.edges)


def test_draw_rejects_what_is_not_a_graph_and_unknown_options():
    with pytest.raises(TypeError, match="networkx graph"):
        draw({"a": 1})
    with pytest.raises(TypeError, match="unknown style option"):
        draw(cbgt_loop(), colour="red")
    with pytest.raises(ValueError, match="unknown colour key"):
        draw(cbgt_loop(), colors={"purple": "red"})
    with pytest.raises(ValueError, match="edge_labels"):
        draw(cbgt_loop(), edge_labels="weights")
    with pytest.raises(ValueError, match="engine"):
        draw(cbgt_loop(), engine="tikz")
    with pytest.raises(ValueError, match="edge_labels"):
        to_dot(nx.DiGraph(), edge_labels=3)


def test_edge_labels_label_density_ei_dict_and_function():
    G = cbgt_loop()
    texts = {k: t.get_text() for k, t in gid_artists(draw(G), "edgelabel").items()}
    assert texts == {f"{u}->{v}": d["label"] for u, v, d in G.edges(data=True) if "label" in d}
    texts = {
        k: t.get_text() for k, t in gid_artists(draw(G, edge_labels="density"), "edgelabel").items()
    }
    assert texts["ctx_e->stn"] == "0.2" and texts["ctx_e->choice"] == "1"
    texts = {
        k: t.get_text()
        for k, t in gid_artists(draw(two_area_ei(), edge_labels="ei"), "edgelabel").items()
    }
    assert texts == {"a1->a2": "EE,EI", "a2->a1": "EE,EI", "a2->choice": "E"}
    ax = draw(G, edge_labels={("gpe", "stn"): "loop"})
    assert [t.get_text() for t in gid_artists(ax, "edgelabel").values()] == ["loop"]
    ax = draw(G, edge_labels=lambda u, v, d: "fb" if v == "ctx_e" else None)
    assert set(gid_artists(ax, "edgelabel")) == {
        "stim->ctx_e",
        "ctx_i->ctx_e",
        "ctx_e->ctx_e",
        "thal->ctx_e",
    }
    assert gid_artists(draw(G, edge_labels=False), "edgelabel") == {}


def test_mixed_nodes_show_their_e_fraction_as_a_wedge():
    G = nx.DiGraph()
    G.add_node("m", size=10, exc_frac=0.7)
    ax = draw(G)
    e, i = gid_artists(ax, "wedge:E")["m"], gid_artists(ax, "wedge:I")["m"]
    span = (e.theta2 - e.theta1) % 360
    assert span == pytest.approx(0.7 * 360)
    assert (i.theta2 - i.theta1) % 360 == pytest.approx(0.3 * 360)
    assert "70% E" in gid_artists(ax, "label")["m"].get_text()
    assert "70%" not in gid_artists(draw(G, show_sizes=False), "label")["m"].get_text()


def test_style_options_change_what_they_say():
    ax = draw(cbgt_loop(), colors={"excitatory": "#000000"}, node_scale=0.5, title="CBGT")
    assert matplotlib.colors.to_hex(gid_artists(ax, "node")["stn"].get_facecolor()) == "#000000"
    assert ax.get_title() == "CBGT"
    small = gid_artists(ax, "node")["ctx_e"].radius
    assert small == pytest.approx(gid_artists(draw(cbgt_loop()), "node")["ctx_e"].radius / 2)
    G = cbgt_loop()
    G.nodes["gpe"]["color"] = "yellow"
    ax = draw(G)
    assert matplotlib.colors.to_hex(gid_artists(ax, "node")["gpe"].get_facecolor()) == "#ffff00"


def test_draw_into_given_axes_of_a_bare_figure():
    fig = matplotlib.figure.Figure(figsize=(8, 4))
    ax = fig.add_axes((0.05, 0.05, 0.6, 0.9))
    assert draw(cbgt_loop(), ax=ax) is ax
    for fmt in ("png", "svg", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt)
        assert buf.getbuffer().nbytes > 1000


def test_svg_keeps_the_gids_as_element_ids():
    ax = draw(two_area_ei())
    buf = io.StringIO()
    ax.figure.savefig(buf, format="svg")
    assert 'id="mrnngraph:node:a1"' in buf.getvalue()


def test_graphviz_engine_names_the_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r"mrnngraph\[graphviz\]"):
        draw(cbgt_loop(), engine="graphviz")


def test_graphviz_engine_renders_the_dot_text(monkeypatch):
    seen = []
    png = io.BytesIO()
    plt.imsave(png, np.zeros((12, 20, 3)), format="png")

    class Source:
        def __init__(self, text):
            seen.append(text)

        def pipe(self, format):
            assert format == "png"
            return png.getvalue()

    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Source=Source))
    G = cbgt_loop()
    ax = draw(G, engine="graphviz")
    assert seen == [to_dot(G)]
    assert ax.images[-1].get_gid() == "mrnngraph:graphviz"
    assert ax.images[-1].get_array().shape[:2] == (12, 20)
    assert "excitatory" in legend_texts(ax)


def test_drawing_reads_validation_once_and_flags_what_its_problems_name(monkeypatch):
    from mrnngraph.drawing._read import read_graph

    v = sys.modules["mrnngraph.validation"]  # the module (mg.validate is the function)

    calls = []
    real = v.validate

    def counting(G, **kw):
        calls.append(kw)
        return real(G, **kw)

    monkeypatch.setattr(v, "validate", counting)
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    G.add_node("a", num_units=4, sign="neg", tau=-1)
    G.add_node("b", size=4)
    G.add_edge("u", "a", density=0.25)
    G.add_edge("a", "u")  # an error of the edge that no attribute of it shows
    G.add_edge("a", "b", sparsity=7)
    look = read_graph(G)
    assert len(calls) == 1
    a = look.nodes["a"]
    assert (a.size, a.sign, a.invalid, look.nodes["b"].invalid) == (4, "inh", True, False)
    edges = {(e.src, e.dst): e for e in look.edges}
    assert (edges["u", "a"].density, edges["u", "a"].invalid) == (0.25, False)
    assert edges["a", "u"].invalid and edges["a", "u"].head == "inh"
    assert edges["a", "b"].invalid and edges["a", "b"].density is None


def test_drawing_reads_a_multigraph_validation_refuses_as_a_whole():
    from mrnngraph.drawing._read import read_graph

    G = nx.MultiDiGraph()
    G.add_node("a", size=3, sign="exc")
    G.add_edge("a", "a", sparsity=0.5)
    G.add_edge("a", "a")
    look = read_graph(G)
    assert not look.nodes["a"].invalid and look.nodes["a"].category == "excitatory"
    assert len(look.edges) == 1 and look.edges[0].invalid and look.edges[0].density == 0.5
