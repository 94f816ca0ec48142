"""Malformed circuit files (every problem named with its file, line and attribute) and
writes that fail (nothing partial is left)."""

from __future__ import annotations

import json
import math
import os

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph.io as mio
from mrnngraph import GraphError
from mrnngraph.io import graph_to_dict, load, save
from mrnngraph.presets import cbgt_loop, two_area_ei
from tests.test_io import FORMATS, assert_same_graph


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
