"""Hostile and odd circuit files, and graphs with odd attribute types, for the file tests.

``hostile_files()`` is a fixed corpus of files that once hung a reader, exhausted its
stack or escaped as an exception other than ``GraphError`` (issue 13), with variations.
``odd_value_graphs()`` draws valid circuits whose attributes hold numpy scalars, numpy
strings, fractions, lone surrogates, control characters and nested or shared values.

Run the campaign (every hostile file through ``load``, ``validate_file`` and the CLI,
each in a child process with a timeout) with::

    .venv/bin/python -m tests.strategies_files [--cli] [--timeout 20]
"""

from __future__ import annotations

import json
import string
from decimal import Decimal
from fractions import Fraction

import networkx as nx
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

__all__ = ["hostile_files", "odd_value_graphs", "file_form"]

_GRAPHML_HEAD = (
    '<?xml version="1.0" encoding="{enc}"?>\n'
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n'
)
_KEYS = (
    '  <key id="d0" for="node" attr.name="size" attr.type="long"/>\n'
    '  <key id="d1" for="node" attr.name="meta" attr.type="string"/>\n'
)


def _graphml(
    body: str, *, keys: str = _KEYS, enc: str = "utf-8", doctype: str = "", graph: bool = True
) -> str:
    head = _GRAPHML_HEAD.format(enc=enc)
    if doctype:
        head = head.replace("<graphml", doctype + "\n<graphml", 1)
    inner = f'  <graph edgedefault="directed">\n{body}  </graph>\n' if graph else body
    return head + keys + inner + "</graphml>\n"


def _node(name: str = "a", size: str = "2", meta: str | None = None) -> str:
    data = f'<data key="d0">{size}</data>'
    if meta is not None:
        data += f'<data key="d1">{meta}</data>'
    return f'    <node id="{name}">{data}</node>\n'


def _yaml_chain(levels: int, width: int = 9, style: str = "flow") -> str:
    lines = ["meta:"]
    lines.append(f"  a0: &a0 [{', '.join(['x'] * width)}]")
    for i in range(1, levels):
        if style == "flow":
            lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
        else:
            lines.append(f"  a{i}: &a{i}")
            lines += [f"    - *a{i - 1}"] * width
    lines.append("regions: {a: {size: 2}}")
    return "\n".join(lines) + "\n"


def _yaml_merge_chain(levels: int) -> str:
    lines = ["meta:", "  m0: &m0 {x0: 1, y0: 2}"]
    for i in range(1, levels):
        lines.append(f"  m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], x{i}: 1}}")
    lines.append("regions: {a: {size: 2}}")
    return "\n".join(lines) + "\n"


def _yaml_deep(depth: int, style: str) -> str:
    if style == "flow":
        return f"meta: {'[' * depth}{']' * depth}\nregions: {{a: {{size: 2}}}}\n"
    if style == "map":
        return f"meta: {'{a: ' * depth}1{'}' * depth}\nregions: {{a: {{size: 2}}}}\n"
    lines = ["meta:"]
    for i in range(depth):
        lines.append("  " * (i + 1) + f"k{i}:")
    lines[-1] += " 1"
    return "\n".join(lines) + "\nregions: {a: {size: 2}}\n"


def _json_doc(nodes: list, links: list | None = None, graph: dict | None = None) -> str:
    return json.dumps(
        {
            "format": "mrnngraph",
            "version": 1,
            "directed": True,
            "multigraph": False,
            "graph": graph or {},
            "nodes": nodes,
            "links": links or [],
        }
    )


def _json_deep(depth: int, where: str) -> str:
    value = "[" * depth + "]" * depth
    if where == "node":
        return _json_doc([{"id": "a", "size": 2, "meta": 0}]).replace(
            '"meta": 0', f'"meta": {value}'
        )
    if where == "graph":
        return _json_doc([{"id": "a", "size": 2}], graph={"meta": 0}).replace(
            '"meta": 0', f'"meta": {value}'
        )
    return value  # the whole document


def _mrnn(region: dict | None = None, conn: dict | None = None, **top) -> str:
    r = {"name": "a", "num_units": 2, **(region or {})}
    doc = {
        "recurrent_regions": [r, {"name": "b", "num_units": 2}],
        "input_regions": [],
        "recurrent_connections": [{"src_region": "a", "dst_region": "b", **(conn or {})}],
        "input_connections": [],
        **top,
    }
    return json.dumps(doc)


def hostile_files() -> list[tuple[str, bytes]]:
    """``(file name, content)`` of every hostile or malformed file of the campaign.

    The extension picks the reader (``.mrnntorch.json`` for mRNNTorch configs). None
    of them is a valid circuit file except a few marked ``ok-`` (odd but legal), and
    every reader must answer each within a time proportional to its size: a graph or a
    ``GraphError`` naming the file.
    """
    out: list[tuple[str, str | bytes]] = []
    add = out.append
    big = "1" + "0" * 5000
    # ---------------------------------------------------------------- YAML
    for levels in (3, 6, 10, 12, 40):
        add((f"yaml-alias-chain-{levels}.yaml", _yaml_chain(levels)))
    for levels in (10, 30):
        add((f"yaml-alias-chain-block-{levels}.yaml", _yaml_chain(levels, style="block")))
    add(("yaml-alias-chain-wide.yaml", _yaml_chain(5, width=200)))
    add(("ok-yaml-alias-few.yaml", "meta: {d: &d {size: 2}}\nregions: {a: *d, b: *d}\n"))
    add(
        (
            "ok-yaml-merge-few.yaml",
            "meta: {x: &d {size: 2, sign: exc}}\nregions: {a: {<<: *d}, b: {<<: *d, size: 3}}\n",
        )
    )
    for levels in (8, 25, 60):
        add((f"yaml-merge-chain-{levels}.yaml", _yaml_merge_chain(levels)))
    add(("yaml-recursive-seq.yaml", "meta: &r [*r]\nregions: {a: {size: 2}}\n"))
    add(("yaml-recursive-map.yaml", "meta: &r {a: *r}\nregions: {a: {size: 2}}\n"))
    add(("yaml-recursive-region.yaml", "regions: {a: &r {size: 2, meta: *r}}\n"))
    add(("yaml-recursive-merge.yaml", "meta: &m {<<: *m, a: 1}\nregions: {a: {size: 2}}\n"))
    add(("yaml-recursive-key.yaml", "meta: &k {? *k : 1}\nregions: {a: {size: 2}}\n"))
    add(("yaml-recursive-top.yaml", "&t {meta: *t, regions: {a: {size: 2}}}\n"))
    add(("yaml-undefined-alias.yaml", "meta: *nope\nregions: {a: {size: 2}}\n"))
    for depth in (150, 1000, 5000, 100000):
        add((f"yaml-deep-flow-{depth}.yaml", _yaml_deep(depth, "flow")))
    for depth in (1000, 20000):
        add((f"yaml-deep-map-{depth}.yaml", _yaml_deep(depth, "map")))
    for depth in (500, 3000):
        add((f"yaml-deep-block-{depth}.yaml", _yaml_deep(depth, "block")))
    add(
        (
            "yaml-deep-regions.yaml",
            "regions: {a: {size: 2, meta: " + "[" * 3000 + "]" * 3000 + "}}\n",
        )
    )
    add(("yaml-int-key-attr.yaml", "regions: {a: {1: 2, size: 2}}\n"))
    add(
        (
            "yaml-int-key-conn.yaml",
            "regions: {a: {size: 2}}\nconnections: [{src: a, dst: a, 2: x}]\n",
        )
    )
    add(("yaml-null-key-attr.yaml", "regions: {a: {~: 2, size: 2}}\n"))
    add(("yaml-bool-key-attr.yaml", "regions: {a: {yes: 2, size: 2}}\n"))
    add(("yaml-int-key-top.yaml", "1: x\nregions: {a: {size: 2}}\n"))
    add(("yaml-seq-key.yaml", "regions: {a: {? [x] : 1, size: 2}}\n"))
    add(("yaml-map-key.yaml", "regions: {? {x: 1} : {size: 2}}\n"))
    for name in ("~", "null", "yes", "no", "1.5", "2001-01-01", ".inf", "[x]"):
        add(
            (
                f"yaml-region-name-{name.strip('[]~.') or 'tilde'}.yaml",
                f"regions: {{{name}: {{size: 2}}}}\n",
            )
        )
    add(("yaml-src-null.yaml", "regions: {a: {size: 2}}\nconnections: [{src: ~, dst: a}]\n"))
    add(("yaml-src-list.yaml", "regions: {a: {size: 2}}\nconnections: [{src: [a], dst: a}]\n"))
    for attr in ("node_for_adding", "u_of_edge", "v_of_edge", "self", "attr"):
        add((f"yaml-node-attr-{attr}.yaml", f"regions: {{a: {{size: 2, {attr}: 1}}}}\n"))
        add(
            (
                f"yaml-edge-attr-{attr}.yaml",
                f"regions: {{a: {{size: 2}}}}\nconnections: [{{src: a, dst: a, {attr}: 1}}]\n",
            )
        )
    add(("yaml-huge-int-size.yaml", f"regions: {{a: {{size: {big}}}}}\n"))
    add(("yaml-huge-int-meta.yaml", f"meta: {big}\nregions: {{a: {{size: 2}}}}\n"))
    add(("yaml-huge-int-100k.yaml", f"meta: {'9' * 100000}\nregions: {{a: {{size: 2}}}}\n"))
    add(("yaml-huge-hex.yaml", f"meta: 0x{'f' * 4000}\nregions: {{a: {{size: 2}}}}\n"))
    add(
        (
            "yaml-huge-sexagesimal.yaml",
            f"meta: {':'.join(['59'] * 3000)}\nregions: {{a: {{size: 2}}}}\n",
        )
    )
    add(("yaml-bad-date.yaml", "meta: 2001-02-30\nregions: {a: {size: 2}}\n"))
    add(
        ("yaml-bad-timestamp.yaml", "meta: 2001-12-14t21:59:43.10+99:00\nregions: {a: {size: 2}}\n")
    )
    add(("yaml-huge-float.yaml", "meta: 1e999999\nregions: {a: {size: 2}}\n"))
    add(("yaml-value-tag.yaml", "meta: =\nregions: {a: {size: 2}}\n"))
    add(("yaml-python-tag.yaml", "regions: !!python/object/apply:os.system ['true']\n"))
    add(("yaml-python-name.yaml", "meta: !!python/name:os.system\nregions: {a: {size: 2}}\n"))
    add(("yaml-binary-tag.yaml", "meta: !!binary 'AAAA'\nregions: {a: {size: 2}}\n"))
    add(("yaml-set-tag.yaml", "meta: !!set {a, b}\nregions: {a: {size: 2}}\n"))
    add(("yaml-bad-binary.yaml", "meta: !!binary '!!!'\nregions: {a: {size: 2}}\n"))
    add(("yaml-unknown-tag.yaml", "meta: !foo 1\nregions: {a: {size: 2}}\n"))
    add(("yaml-two-docs.yaml", "regions: {a: {size: 2}}\n---\nregions: {b: {size: 2}}\n"))
    add(("yaml-list-top.yaml", "- a\n- b\n"))
    add(("yaml-scalar-top.yaml", "hello\n"))
    add(("yaml-empty.yaml", ""))
    add(("yaml-not-utf8.yaml", b"regions:\n  \xff: {size: 1}\n"))
    add(("yaml-utf16.yaml", "regions: {a: {size: 2}}\n".encode("utf-16")))
    add(("yaml-nul.yaml", "regions: {a\x00: {size: 2}}\n"))
    add(("yaml-regions-list.yaml", "regions: [a, b]\n"))
    add(("yaml-conn-scalar.yaml", "regions: {a: {size: 2}}\nconnections: 3\n"))
    add(("yaml-long-key.yaml", "regions: {" + "a" * 2000 + ": {size: 2}}\n"))
    # ---------------------------------------------------------------- JSON
    for depth in (150, 1000, 5000, 100000):
        add((f"json-deep-node-{depth}.json", _json_deep(depth, "node")))
    add(("json-deep-graph-5000.json", _json_deep(5000, "graph")))
    add(("json-deep-doc-5000.json", _json_deep(5000, "doc")))
    add(
        (
            "json-deep-objects.json",
            _json_doc([{"id": "a", "size": 2, "meta": 0}]).replace(
                '"meta": 0', '"meta": ' + '{"a": ' * 5000 + "1" + "}" * 5000
            ),
        )
    )
    add(
        (
            "json-huge-int-size.json",
            _json_doc([{"id": "a", "size": 0}]).replace('"size": 0', f'"size": {big}'),
        )
    )
    add(
        (
            "json-huge-int-meta.json",
            _json_doc([{"id": "a", "size": 2}], graph={"meta": 0}).replace(
                '"meta": 0', f'"meta": {big}'
            ),
        )
    )
    add(
        (
            "json-huge-int-id.json",
            _json_doc([{"id": 0, "size": 2}]).replace('"id": 0', f'"id": {big}'),
        )
    )
    add(
        (
            "json-huge-exponent.json",
            _json_doc([{"id": "a", "size": 2, "meta": 0}]).replace('"meta": 0', '"meta": 1e999999'),
        )
    )
    for attr in ("node_for_adding", "u_of_edge", "v_of_edge", "self", "attr"):
        add((f"json-node-attr-{attr}.json", _json_doc([{"id": "a", "size": 2, attr: 1}])))
        add(
            (
                f"json-edge-attr-{attr}.json",
                _json_doc([{"id": "a", "size": 2}], [{"source": "a", "target": "a", attr: 1}]),
            )
        )
    add(
        (
            "json-graph-attr-incoming.json",
            _json_doc([{"id": "a", "size": 2}], graph={"incoming_graph_data": 1}),
        )
    )
    for bad_id in (None, True, 1.5, [1], {"a": 1}):
        add((f"json-node-id-{type(bad_id).__name__}.json", _json_doc([{"id": bad_id, "size": 2}])))
    add(
        (
            "json-link-source-list.json",
            _json_doc([{"id": "a", "size": 2}], [{"source": ["a"], "target": "a"}]),
        )
    )
    add(("json-bom.json", "\ufeff" + _json_doc([{"id": "a", "size": 2}])))
    add(("json-utf16.json", _json_doc([{"id": "a", "size": 2}]).encode("utf-16")))
    add(("json-not-utf8.json", b'{"format": "mrnngraph", "\xff": 1}'))
    add(("json-lone-surrogate-escape.json", _json_doc([{"id": "\ud800", "size": 2}])))
    add(("json-nul-escape.json", _json_doc([{"id": "a\x00", "size": 2}])))
    add(("json-list-top.json", "[1, 2]"))
    add(("json-null-top.json", "null"))
    add(("json-number-top.json", "12"))
    add(("json-string-top.json", '"x"'))
    add(("json-empty.json", ""))
    add(
        (
            "json-nan-literal.json",
            _json_doc([{"id": "a", "size": 2, "meta": 0}]).replace(
                '"meta": 0', '"meta": [NaN, Infinity, -Infinity]'
            ),
        )
    )
    add(
        (
            "json-graph-list.json",
            _json_doc([{"id": "a", "size": 2}]).replace('"graph": {}', '"graph": []'),
        )
    )
    add(
        (
            "json-duplicate-deep.json",
            _json_doc([{"id": "a", "size": 2, "meta": 0}]).replace(
                '"meta": 0', '"meta": {"x": 1, "x": 2}'
            ),
        )
    )
    add(("json-trailing.json", _json_doc([{"id": "a", "size": 2}]) + " garbage"))
    # ---------------------------------------------------------------- mRNNTorch
    for sign in (["pos"], {"a": 1}, None, True, 1, "exc"):
        add((f"mrnn-sign-{type(sign).__name__}-{sign!s:.5}.mrnntorch.json", _mrnn({"sign": sign})))
    for units in (0, -1, 2.0, "2", [2], True):
        add(
            (
                f"mrnn-units-{type(units).__name__}-{units!s:.3}.mrnntorch.json",
                _mrnn({"num_units": units}),
            )
        )
    add(
        (
            "mrnn-units-huge.mrnntorch.json",
            _mrnn({"num_units": 0}).replace('"num_units": 0', f'"num_units": {big}'),
        )
    )
    add(
        (
            "mrnn-units-10e400.mrnntorch.json",
            _mrnn({"num_units": 0}).replace('"num_units": 0', f'"num_units": 1{"0" * 400}'),
        )
    )
    for key in ("base_firing", "init"):
        add(
            (
                f"mrnn-{key}-huge-int.mrnntorch.json",
                _mrnn({key: 0}).replace(f'"{key}": 0', f'"{key}": 1{"0" * 400}'),
            )
        )
        add(
            (
                f"mrnn-{key}-huge-list.mrnntorch.json",
                _mrnn({key: 0}).replace(f'"{key}": 0', f'"{key}": [1{"0" * 400}, 1]'),
            )
        )
        add((f"mrnn-{key}-dict.mrnntorch.json", _mrnn({key: {"a": 1}})))
    for name in (["a"], None, 3, ""):
        add((f"mrnn-name-{type(name).__name__}.mrnntorch.json", _mrnn({"name": name})))
    add(("mrnn-parent-dict.mrnntorch.json", _mrnn({"parent_region": {"x": 1}})))
    add(("mrnn-lb-list.mrnntorch.json", _mrnn({"learnable_bias": [1]})))
    for sp in ([0.5], "0.5", float("nan"), 2.0):
        add(
            (
                f"mrnn-sparsity-{type(sp).__name__}-{sp!s:.3}.mrnntorch.json",
                _mrnn(conn={"sparsity": sp}),
            )
        )
    add(("mrnn-src-list.mrnntorch.json", _mrnn(conn={"src_region": ["a"]})))
    add(("mrnn-src-dict.mrnntorch.json", _mrnn(conn={"dst_region": {"a": 1}})))
    add(("mrnn-zero-list.mrnntorch.json", _mrnn(conn={"zero_connection": [True]})))
    add(
        (
            "mrnn-deep-comment.mrnntorch.json",
            _mrnn().replace(
                '"input_regions"', '"__comment": ' + "[" * 5000 + "]" * 5000 + ', "input_regions"'
            ),
        )
    )
    add(("mrnn-sections-dict.mrnntorch.json", json.dumps({"recurrent_regions": {"a": 1}})))
    add(("mrnn-sections-str.mrnntorch.json", json.dumps({"recurrent_regions": "a"})))
    add(("mrnn-entry-list.mrnntorch.json", json.dumps({"recurrent_regions": [["a", 2]]})))
    add(("mrnn-unknown-key-list.mrnntorch.json", _mrnn({"sparsty": 1})))
    add(("mrnn-top-list.mrnntorch.json", "[]"))
    # ---------------------------------------------------------------- GraphML
    add(("graphml-no-graph.graphml", _graphml(_node(), graph=False)))
    add(("graphml-root-only.graphml", '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"/>'))
    add(("graphml-bare-root.graphml", "<graphml></graphml>"))
    add(("graphml-other-root.graphml", "<svg><graph/></svg>"))
    add(("graphml-not-xml.graphml", "hello"))
    add(("graphml-empty.graphml", ""))
    add(
        (
            "graphml-two-graphs.graphml",
            _graphml(_node() + '  </graph>\n  <graph edgedefault="directed">\n' + _node("b")),
        )
    )
    laughs = (
        '<!DOCTYPE g [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c}{"" if i else ""} "{("&" + p + ";") * 10}">'
            for i, (c, p) in enumerate(zip("bcdefghi", "abcdefgh", strict=True))
        )
        + "]>"
    )
    body = _node(meta="&i;")
    for enc in ("utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        text = _graphml(body, doctype=laughs, enc=enc.replace("-le", "").replace("-be", ""))
        data = text.encode(enc)
        if enc in ("utf-16-le", "utf-16-be"):  # with a BOM, as editors write them
            data = ("\ufeff" + text).encode(enc)
        add((f"graphml-laughs-{enc}.graphml", data))
    add(
        (
            "graphml-laughs-lowercase.graphml",
            _graphml(body, doctype=laughs.replace("DOCTYPE", "doctype")),
        )
    )
    add(
        (
            "graphml-xxe.graphml",
            _graphml(
                _node(meta="&x;"),
                doctype='<!DOCTYPE g [<!ENTITY x SYSTEM "file:///etc/hostname">]>',
            ),
        )
    )
    add(
        (
            "graphml-dtd-external.graphml",
            _graphml(_node(), doctype='<!DOCTYPE graphml SYSTEM "http://example.invalid/x.dtd">'),
        )
    )
    add(("graphml-ok-utf16.graphml", _graphml(_node(), enc="utf-16").encode("utf-16")))
    add(("graphml-cp1252.graphml", _graphml(_node("\u00e9"), enc="cp1252").encode("cp1252")))
    add(("graphml-unknown-encoding.graphml", _graphml(_node(), enc="x-nope")))
    for depth in (150, 1000, 5000, 100000):
        add(
            (
                f"graphml-deep-json-{depth}.graphml",
                _graphml(_node(meta="mrnngraph-json:" + "[" * depth + "]" * depth)),
            )
        )
    add(("graphml-huge-json-int.graphml", _graphml(_node(meta=f"mrnngraph-json:{big}"))))
    add(("graphml-huge-long.graphml", _graphml(_node(size=big))))
    add(("graphml-bad-json.graphml", _graphml(_node(meta="mrnngraph-json:[1,"))))
    add(("graphml-json-nul.graphml", _graphml(_node(meta='mrnngraph-json:"\\u0000"'))))
    for attr in ("node_for_adding", "u_of_edge", "self"):
        keys = _KEYS + (
            f'  <key id="d9" for="node" attr.name="{attr}" attr.type="int"/>\n'
            f'  <key id="d8" for="edge" attr.name="{attr}" attr.type="int"/>\n'
        )
        add(
            (
                f"graphml-attr-{attr}.graphml",
                _graphml(
                    '    <node id="a"><data key="d0">2</data><data key="d9">1</data></node>\n'
                    '    <edge source="a" target="a"><data key="d8">1</data></edge>\n',
                    keys=keys,
                ),
            )
        )
    add(
        (
            "graphml-key-no-name.graphml",
            _graphml(
                '    <node id="a"><data key="d0">2</data><data key="d7">1</data></node>\n',
                keys=_KEYS + '  <key id="d7" for="node" attr.type="int"/>\n',
            ),
        )
    )
    add(
        (
            "graphml-bad-type.graphml",
            _graphml(_node(), keys=_KEYS.replace('attr.type="long"', 'attr.type="complex"')),
        )
    )
    add(
        (
            "graphml-bad-bool.graphml",
            _graphml(
                '    <node id="a"><data key="d0">2</data><data key="d7">maybe</data></node>\n',
                keys=_KEYS + '  <key id="d7" for="node" attr.name="b" attr.type="boolean"/>\n',
            ),
        )
    )
    add(("graphml-bad-int.graphml", _graphml(_node(size="two"))))
    add(
        (
            "graphml-unknown-key.graphml",
            _graphml('    <node id="a"><data key="zz">2</data></node>\n'),
        )
    )
    add(("graphml-node-no-id.graphml", _graphml('    <node><data key="d0">2</data></node>\n')))
    add(("graphml-edge-no-source.graphml", _graphml(_node() + '    <edge target="a"/>\n')))
    add(
        (
            "graphml-edge-unknown-node.graphml",
            _graphml(_node() + '    <edge source="a" target="zz"/>\n'),
        )
    )
    nested = (
        "".join(f'    <node id="g{i}" yfiles.foldertype="group"><graph>\n' for i in range(2000))
        + "</graph></node>" * 2000
        + "\n"
    )
    add(("graphml-nested-groups.graphml", _graphml(nested)))
    add(
        (
            "graphml-nested-one.graphml",
            _graphml(
                '    <node id="g"><graph edgedefault="directed"><node id="x"/></graph></node>\n'
            ),
        )
    )
    add(("graphml-deep-xml.graphml", _graphml(_node() + "<x>" * 100000 + "</x>" * 100000 + "\n")))
    add(("graphml-hyperedge.graphml", _graphml(_node() + "    <hyperedge/>\n")))
    add(
        (
            "graphml-undirected-edge.graphml",
            _graphml(_node() + '    <edge source="a" target="a" directed="false"/>\n'),
        )
    )
    add(("graphml-id-marker.graphml", _graphml(_node(name="mrnngraph-json:[1]"))))
    add(("graphml-id-bad-marker.graphml", _graphml(_node(name="mrnngraph-json:[1"))))
    add(
        (
            "graphml-attr-no-type.graphml",
            _graphml(
                '    <node id="a"><data key="d0">2</data><data key="d7">x</data></node>\n',
                keys=_KEYS + '  <key id="d7" for="node" attr.name="label"/>\n',
            ),
        )
    )
    return [
        (name, data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        for name, data in out
    ]


# --------------------------------------------------------------------------- odd values
_SCALAR_KINDS = ("plain", "np64", "np32", "npint", "fraction", "decimal", "npstr")
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=5)
_ODD_TEXT = st.one_of(
    _TEXT,
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=5),  # surrogates
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\ud800",
            "x\udfff",
            "\ufffe",
            "\uffff",
            "\x7f",
            "\r",
            "\t",
            " ",
            "mrnngraph-json:",
            "<<",
            "=",
            "~",
            "&x",
            "*x",
            "!x",
            "\x85",
            "\u2028",
            "\ufeff",
            "\x1b[0m",
            "a" * 200,
        ]
    ),
)


def _odd_real(draw, value: float) -> object:
    kind = draw(st.sampled_from(_SCALAR_KINDS[:6]))
    if kind == "np64":
        return np.float64(value)
    if kind == "np32" and abs(value) < 1e38:
        return np.float32(value)
    if kind == "npint" and float(value).is_integer() and abs(value) < 2**62:
        return np.int64(int(value))
    if kind == "fraction":
        return Fraction(value)
    if kind == "decimal":
        return Decimal(value)
    return value


def _odd_str(draw, value: str) -> str:
    return np.str_(value) if draw(st.booleans()) else value


@st.composite
def _odd_json(draw, depth: int = 0):
    kind = draw(
        st.sampled_from(
            ["none", "bool", "int", "float", "text", "list", "dict", "tuple", "array", "deep"]
            if depth < 3
            else ["none", "bool", "int", "float", "text"]
        )
    )
    if kind == "none":
        return None
    if kind == "bool":
        return draw(st.sampled_from([True, False, np.True_, np.False_]))
    if kind == "int":
        v = draw(st.one_of(st.integers(-(10**6), 10**6), st.integers(-(10**400), 10**400)))
        return np.int64(v) if -(2**63) <= v < 2**63 and draw(st.booleans()) else v
    if kind == "float":
        return _odd_real(draw, draw(st.floats(allow_nan=False, allow_infinity=False)))
    if kind == "text":
        return _odd_str(draw, draw(_ODD_TEXT))
    if kind == "array":
        return np.arange(
            draw(st.integers(0, 3)), dtype=draw(st.sampled_from([np.float32, np.int64, np.float64]))
        )
    if kind == "deep":  # as deep as files may nest values
        value: object = draw(st.integers(0, 3))
        for _ in range(draw(st.sampled_from([10, 50, 85]))):
            value = [value]
        return value
    items = draw(st.lists(_odd_json(depth + 1), max_size=3))
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    keys = draw(st.lists(_ODD_TEXT, min_size=len(items), max_size=len(items), unique=True))
    return {_odd_str(draw, k): v for k, v in zip(keys, items, strict=True)}


@st.composite
def odd_value_graphs(draw):
    """Valid circuits whose names and values have odd types and odd characters.

    Names may hold NUL, lone surrogates, ``\\ufffe``, YAML indicators or start with
    GraphML's ``mrnngraph-json:`` marker; numbers may be numpy scalars, fractions or
    decimals; strings may be ``numpy.str_``; ``meta`` holds nested, shared and deep
    values. Only graphs that :func:`mrnngraph.validate` accepts are kept.
    """
    from mrnngraph import validate

    G = nx.DiGraph()
    if draw(st.booleans()):
        G.graph["name"] = _odd_str(draw, draw(_ODD_TEXT.filter(bool)))
    if draw(st.booleans()):
        G.graph["dt"] = _odd_real(draw, draw(st.sampled_from([1.0, 10.0, 0.5])))
    if draw(st.booleans()):
        G.graph["meta"] = draw(_odd_json())
    names = draw(
        st.lists(
            st.one_of(
                _ODD_TEXT.filter(bool), st.text(string.ascii_letters, min_size=1, max_size=3)
            ),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    kinds = ["recurrent"] + [
        draw(st.sampled_from(["recurrent", "input", "output"])) for _ in names[1:]
    ]
    names = [_odd_str(draw, n) for n in names]
    for name, kind in zip(names, kinds, strict=True):
        size = draw(st.integers(1, 4))
        attrs: dict = {"size": np.int64(size) if draw(st.booleans()) else size}
        if kind != "recurrent":
            attrs["kind"] = _odd_str(draw, kind)
        if kind != "output":
            choice = draw(st.sampled_from(["none", "sign", "exc_frac"]))
            if choice == "sign":
                attrs["sign"] = draw(
                    st.sampled_from(
                        [
                            "exc",
                            "inh",
                            np.str_("pos"),
                            np.str_("I"),
                            1,
                            -1,
                            np.int64(1),
                            np.int8(-1),
                            1.0,
                            np.float32(-1.0),
                            Fraction(1),
                            None,
                        ]
                    )
                )
            elif choice == "exc_frac":
                attrs["exc_frac"] = _odd_real(draw, draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])))
        if kind == "recurrent":
            if draw(st.booleans()):
                attrs["base_firing"] = _odd_real(draw, draw(st.floats(-1, 1)))
            if draw(st.booleans()):
                attrs["init"] = (
                    np.linspace(0, 1, size, dtype=draw(st.sampled_from([np.float32, np.float64])))
                    if draw(st.booleans())
                    else [_odd_real(draw, 0.5) for _ in range(size)]
                )
            if draw(st.booleans()):
                attrs["learnable_bias"] = draw(st.sampled_from([True, False]))
            if draw(st.booleans()):
                attrs["tau"] = _odd_real(draw, draw(st.sampled_from([20.0, 50.5, 100.0])))
        if draw(st.booleans()):
            attrs["label"] = _odd_str(draw, draw(_ODD_TEXT))
        if draw(st.booleans()):
            attrs["meta"] = draw(_odd_json())
        G.add_node(name, **attrs)
    kind_of = dict(zip(names, kinds, strict=True))
    pairs = [
        (u, v) for u in names for v in names if kind_of[u] != "output" and kind_of[v] != "input"
    ]
    for u, v in draw(st.lists(st.sampled_from(pairs), unique=True, max_size=4)) if pairs else []:
        attrs = {}
        if draw(st.booleans()):
            attrs["density"] = _odd_real(draw, draw(st.sampled_from([0.0, 0.3, 1.0])))
        if draw(st.booleans()):
            attrs["gain"] = _odd_real(draw, draw(st.sampled_from([0.5, 2.0])))
        if draw(st.booleans()):
            attrs["rule"] = _odd_str(
                draw, draw(st.sampled_from(["bernoulli", "fixed_indegree", "fixed_total"]))
            )
        if draw(st.booleans()):
            attrs["trainable"] = draw(st.sampled_from([True, False]))
        if draw(st.booleans()):
            attrs["meta"] = draw(_odd_json())
        G.add_edge(u, v, **attrs)
    try:
        ok = validate(G).ok
    except Exception:  # noqa: BLE001 - validate bugs are another test's business
        ok = False
    assume(ok)
    return G


def file_form(value: object) -> object:
    """What a value is after a trip through any file: plain Python types, tuples as lists.

    The oracle of the round-trip tests, written apart from the library's conversion.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Fraction, Decimal)):
        return float(value)
    if isinstance(value, str):
        return "".join([value])  # a plain str, also from numpy.str_
    if isinstance(value, np.ndarray):
        return file_form(value.tolist())
    if isinstance(value, (list, tuple)):
        return [file_form(v) for v in value]
    if isinstance(value, dict):
        return {file_form(k): file_form(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- campaign
_WORKER = r"""
import sys, time, traceback, warnings
warnings.simplefilter("ignore")
import mrnngraph as mg
from mrnngraph.errors import GraphError
for line in sys.stdin:
    path = line.rstrip("\n")
    t = time.perf_counter()
    try:
        mg.load(path)
        what = "loaded"
    except GraphError:
        what = "GraphError"
    except BaseException as err:
        what = type(err).__name__
    print(f"{what}\t{time.perf_counter() - t:.3f}", flush=True)
"""


def _campaign(timeout: float, cli: bool) -> None:  # pragma: no cover - a command
    import collections
    import os
    import subprocess
    import sys
    import tempfile
    import threading

    tmp = tempfile.mkdtemp(prefix="hostile-")
    files = hostile_files()
    paths = []
    for name, data in files:
        p = os.path.join(tmp, name)
        with open(p, "wb") as fh:
            fh.write(data)
        paths.append(p)
    results: dict[str, str] = {}
    times: dict[str, float] = {}
    todo = list(paths)
    while todo:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        proc.stdin.write("\n".join(todo) + "\n")
        proc.stdin.close()
        done = 0
        for path in todo:
            line: list[str] = []
            reader = threading.Thread(
                target=lambda out=line, p=proc: out.append(p.stdout.readline())
            )
            reader.start()
            reader.join(timeout)
            if not line or not line[0]:
                hung = reader.is_alive()
                proc.kill()
                reader.join()
                results[path] = "TIMEOUT" if hung else "CRASH"
                done += 1
                break
            results[path], seconds = line[0].split("\t")
            times[path] = float(seconds)
            done += 1
        proc.wait()
        todo = todo[done:]
    counts = collections.Counter(results.values())
    print(f"{len(files)} files: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    if times:
        slowest = max(times, key=times.__getitem__)
        print(
            f"slowest answer: {times[slowest]:.2f} s ({os.path.basename(slowest)}); "
            f"hangs count as {timeout:g} s and are listed below"
        )
    for path, what in results.items():
        if what != "GraphError" or os.path.basename(path).startswith("ok-"):
            print(f"  {what:>16}  {os.path.basename(path)}")
    if cli:
        traces = 0
        for path in paths:
            for cmd in ("validate", "info"):
                try:
                    r = subprocess.run(
                        [sys.executable, "-m", "mrnngraph", cmd, path],
                        capture_output=True,
                        text=True,
                        timeout=timeout,
                    )
                except subprocess.TimeoutExpired:
                    print(f"  CLI {cmd} TIMEOUT {os.path.basename(path)}")
                    traces += 1
                    continue
                if "Traceback" in r.stderr:
                    traces += 1
                    last = r.stderr.strip().splitlines()[-1][:100]
                    print(f"  CLI {cmd} traceback {os.path.basename(path)}: {last}")
        print(f"CLI: {traces} tracebacks or timeouts in {2 * len(paths)} runs")


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description="run the hostile-file campaign")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--cli", action="store_true")
    args = parser.parse_args()
    _campaign(args.timeout, args.cli)
