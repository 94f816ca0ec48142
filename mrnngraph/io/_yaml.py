"""The human-first YAML layout: graph attributes on top, ``regions:`` and ``connections:``.

.. code-block:: yaml

    format: mrnngraph
    version: 1
    name: tiny
    dt: 10.0
    regions:
      stim: {kind: input, size: 2}
      ctx: {size: 20, exc_frac: 0.8}
      choice: {kind: output, size: 2}
    connections:
      - {src: stim, dst: ctx}
      - {src: ctx, dst: ctx, density: 0.3}
      - {src: ctx, dst: choice, ei: [E]}

Files are read with :func:`yaml.safe_load` (nothing in a file is executed) and
composed once more with the safe loader to know the line of each region and
connection, and to catch duplicate keys that ``safe_load`` would silently drop.

Examples
--------
>>> import networkx as nx
>>> G = nx.DiGraph(name="tiny")
>>> G.add_node("ctx", size=4, sign="exc")
>>> G.add_edge("ctx", "ctx", density=0.5, ei=["EE"])
>>> text = graph_to_yaml(G)
>>> print(text)
format: mrnngraph
version: 1
name: tiny
<BLANKLINE>
regions:
  ctx: {size: 4, sign: exc}
<BLANKLINE>
connections:
  - {src: ctx, dst: ctx, density: 0.5, ei: [EE]}
<BLANKLINE>
>>> H, _ = graph_from_yaml(text)
>>> list(H.edges(data=True))
[('ctx', 'ctx', {'density': 0.5, 'ei': ['EE']})]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import yaml

from ..errors import GraphError, Problem
from ._common import FORMAT, VERSION, check_digraph, json_safe, where_file
from ._json import check_header

__all__ = ["graph_to_yaml", "graph_from_yaml"]

_SECTIONS = ("regions", "connections")
_HEADER = ("format", "version")


class _Flow(dict):
    """A mapping written on one line (``{size: 4, sign: exc}``)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key: "connections:\n  - {...}".
        return super().increase_indent(flow, False)


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data,
                                                         flow_style=True))


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # YAML folds NEL, LS and PS like line breaks in plain and single-quoted scalars,
    # so they would not come back; double quotes write them (and other unprintable
    # characters) as escapes.
    odd = any(c in "\x85\u2028\u2029" or (not c.isprintable() and c != "\n") for c in data)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"' if odd else None)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=10**9)


def graph_to_yaml(G: nx.DiGraph) -> str:
    """The YAML text of a circuit graph (see the module docstring for the layout).

    Raises
    ------
    TypeError
        If ``G`` is not a networkx DiGraph.
    GraphError
        If an attribute has no YAML form, a graph attribute is called ``regions``,
        ``connections``, ``format`` or ``version``, or an edge attribute ``src``/``dst``.
    """
    check_digraph(G)
    problems: list[Problem] = []
    graph = json_safe(dict(G.graph), "graph", problems)
    for key in (*_SECTIONS, *_HEADER):
        if key in graph:
            problems.append(Problem("graph", f"a graph attribute called {key!r} clashes with "
                                    "the YAML layout", "reserved-key"))
    regions = {}
    for n, attrs in G.nodes(data=True):
        if not isinstance(n, str):
            problems.append(Problem(f"node {n!r}", "node names must be strings to be saved",
                                    "not-serialisable"))
        regions[n] = _Flow(json_safe(dict(attrs), f"node {n!r}", problems))
    connections = []
    for u, v, attrs in G.edges(data=True):
        where = f"edge ({u!r}, {v!r})"
        for key in ("src", "dst"):
            if key in attrs:
                problems.append(Problem(where, f"an attribute called {key!r} clashes with the "
                                        "YAML layout", "reserved-key"))
        connections.append(_Flow({"src": u, "dst": v, **json_safe(dict(attrs), where,
                                                                  problems)}))
    if problems:
        raise GraphError(problems, header="the graph cannot be saved")
    parts = [_dump({"format": FORMAT, "version": VERSION, **graph})]
    parts.append(_dump({"regions": regions}) if regions else "regions: {}\n")
    parts.append(_dump({"connections": connections}) if connections else "connections: []\n")
    return "\n".join(parts)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _duplicate_keys(node: yaml.Node, source: str, problems: list[Problem]) -> None:
    """Every mapping key given twice, anywhere (``safe_load`` keeps only the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                ident = (key.tag, key.value)
                if ident in seen:
                    problems.append(Problem(
                        where_file(source, _line(key)),
                        f"key {key.value!r} is given twice (first on line {seen[ident]})",
                        "duplicate-key"))
                else:
                    seen[ident] = _line(key)
            _duplicate_keys(value, source, problems)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicate_keys(item, source, problems)


def _section(root: yaml.Node | None, name: str) -> yaml.Node | None:
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value == name:
                return value
    return None


def graph_from_yaml(text: str, *, source: str = "<yaml>") -> tuple[nx.DiGraph, dict[str, Any]]:
    """Parse the YAML layout; return the graph and the line of each node, edge and key.

    Returns
    -------
    graph : networkx.DiGraph
    lines : dict
        ``{"node 'a'": 3, "edge ('a', 'b')": 9, ...}`` and, under ``"graph"``, a
        mapping of graph attribute names to lines.

    Raises
    ------
    GraphError
        On a syntax error (with the parser's line), duplicate keys, a wrong layout
        (sections of the wrong type, connections without ``src``/``dst`` or naming
        unknown regions, a connection given twice), or an unknown format or version.
    """
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(x) for x in (err.context, err.problem) if x)
        raise GraphError([Problem(where_file(source, line), f"YAML syntax error: {message}",
                                  "syntax-error")], header=f"cannot read {source}") from None
    except yaml.YAMLError as err:
        raise GraphError([Problem(where_file(source), f"YAML error: {err}", "syntax-error")],
                         header=f"cannot read {source}") from None
    problems: list[Problem] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise GraphError([Problem(where_file(source, 1), "the top level must be a mapping "
                                  "(name, dt, ..., regions:, connections:); got "
                                  f"{type(data).__name__}", "bad-layout")],
                         header=f"cannot read {source}")
    _duplicate_keys(root, source, problems)
    top_lines = {}
    if isinstance(root, yaml.MappingNode):
        top_lines = {k.value: _line(k) for k, _ in root.value if isinstance(k, yaml.ScalarNode)}
    check_header(data, where_file(source), problems, required=False)

    G = nx.DiGraph()
    G.graph.update({k: v for k, v in data.items() if k not in (*_SECTIONS, *_HEADER)})
    lines: dict[str, Any] = {"graph": {k: top_lines[k] for k in G.graph if k in top_lines}}

    regions = data.get("regions")
    node_map = _section(root, "regions")
    if regions is None:
        problems.append(Problem(where_file(source), "missing 'regions:' section (a mapping "
                                "of region names to their attributes)", "bad-layout"))
        regions = {}
    elif not isinstance(regions, Mapping):
        problems.append(Problem(where_file(source, top_lines.get("regions")),
                                f"'regions' must be a mapping; got {type(regions).__name__}",
                                "bad-layout"))
        regions = {}
    key_lines = ([_line(k) for k, _ in node_map.value]
                 if isinstance(node_map, yaml.MappingNode) else [])
    # Without duplicate keys, safe_load keeps the document's key order.
    region_lines = ({} if len(key_lines) != len(regions)
                    else dict(zip(regions, key_lines, strict=True)))
    for name, attrs in regions.items():
        line = region_lines.get(name)
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, Mapping):
            problems.append(Problem(where_file(source, line), f"region {name!r} must map to a "
                                    f"mapping of attributes; got {attrs!r}", "bad-layout"))
            continue
        G.add_node(name, **attrs)
        if line is not None:
            lines[f"node {name!r}"] = line

    connections = data.get("connections")
    seq = _section(root, "connections")
    if connections is None:
        connections = []
    if not isinstance(connections, list):
        problems.append(Problem(where_file(source, top_lines.get("connections")),
                                f"'connections' must be a list; got "
                                f"{type(connections).__name__}", "bad-layout"))
        connections = []
    item_lines = ([_line(x) for x in seq.value] if isinstance(seq, yaml.SequenceNode) else [])
    for i, entry in enumerate(connections):
        line = item_lines[i] if i < len(item_lines) else None
        at = where_file(source, line)
        if not isinstance(entry, Mapping) or "src" not in entry or "dst" not in entry:
            problems.append(Problem(at, f"connections[{i}] must be a mapping with 'src' and "
                                    f"'dst'; got {entry!r}", "bad-layout"))
            continue
        attrs = dict(entry)
        u, v = attrs.pop("src"), attrs.pop("dst")
        try:
            unknown = [x for x in (u, v) if x not in G]
        except TypeError:  # an unhashable name, e.g. a list
            unknown = [x for x in (u, v) if not isinstance(x, (str, int))]
        if unknown:
            problems.append(Problem(at, f"connection ({u!r}, {v!r}) names unknown regions "
                                    f"{unknown!r}", "unknown-node",
                                    hint="declare every region under 'regions:'"))
        elif G.has_edge(u, v):
            problems.append(Problem(at, f"connection ({u!r}, {v!r}) is given twice",
                                    "duplicate-edge"))
        else:
            G.add_edge(u, v, **attrs)
            if line is not None:
                lines[f"edge ({u!r}, {v!r})"] = line
    if problems:
        raise GraphError(problems, header=f"cannot read {source}")
    return G, lines
