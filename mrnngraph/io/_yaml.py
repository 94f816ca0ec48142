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

Files are read with PyYAML's safe loader (nothing in a file is executed), composed
once: the node tree gives the line of each region and connection and the duplicate
keys that a plain ``safe_load`` would silently drop. Reading takes time proportional
to the file: nesting deeper than :data:`~mrnngraph.io._common.MAX_DEPTH` levels,
recursive aliases, and aliases that would expand the document by more than
:data:`~mrnngraph.io._common.MAX_ALIAS_NODES` nodes (or as many as the file writes)
are refused before anything is built from them.

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

import re
from collections.abc import Mapping
from typing import Any

import networkx as nx
import yaml

from ..errors import GraphError, Problem
from ._common import FORMAT, VERSION, Lines, attrs_safe, check_digraph, file_problem
from ._json import check_header
from ._yaml_loader import key_lines, line_of, parse, section

__all__ = ["graph_to_yaml", "graph_from_yaml"]

_SECTIONS = ("regions", "connections")
_SURROGATE = re.compile("[\ud800-\udfff]")
_HEADER = ("format", "version")


class _Flow(dict):
    """A mapping written on one line (``{size: 4, sign: exc}``)."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # shared values are written out in full: files hold trees

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key: "connections:\n  - {...}".
        return super().increase_indent(flow, False)


_Dumper.add_representer(
    _Flow,
    lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True),
)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # YAML folds NEL, LS and PS like line breaks in plain and single-quoted scalars,
    # so they would not come back; double quotes write them (and other unprintable
    # characters) as escapes.
    odd = any(c in "\x85\u2028\u2029" or (not c.isprintable() and c != "\n") for c in data)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"' if odd else None)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10**9,
    )


def _surrogate_in(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(_surrogate_in(v) for v in value)
    if isinstance(value, dict):
        return any(_surrogate_in(k) or _surrogate_in(v) for k, v in value.items())
    return False


def _no_surrogates(
    attrs: dict[str, Any], place: dict[str, Any], problems: list[Problem], *, name: Any = None
) -> None:
    """YAML (libyaml) refuses lone surrogates, even escaped: name the attribute."""
    found = [("the region name", None)] if _surrogate_in(name) else []
    found += [
        (f"attribute {k!r}", k) for k, v in attrs.items() if _surrogate_in(k) or _surrogate_in(v)
    ]
    for what, key in found:
        problems.append(
            Problem(
                **place,
                message=f"{what} holds a lone surrogate (U+D800..U+DFFF), which YAML cannot store",
                code="not-serialisable",
                attribute=key,
                hint="save as JSON or GraphML, which can",
            )
        )


def _plain(name: Any) -> Any:
    return str.__str__(name) if isinstance(name, str) else name


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
    graph = attrs_safe(G.graph, "graph", {"subject": "graph"}, problems)
    _no_surrogates(graph, {"subject": "graph"}, problems)
    for key in (*_SECTIONS, *_HEADER):
        if key in graph:
            problems.append(
                Problem(
                    "graph",
                    f"a graph attribute called {key!r} clashes with the YAML layout",
                    "reserved-key",
                    attribute=key,
                )
            )
    regions = {}
    for n, attrs in G.nodes(data=True):
        if not isinstance(n, str):
            problems.append(
                Problem(
                    node=n,
                    message="node names must be strings to be saved",
                    code="not-serialisable",
                )
            )
        regions[_plain(n)] = _Flow(attrs_safe(attrs, "node", {"node": n}, problems))
        _no_surrogates(regions[_plain(n)], {"node": n}, problems, name=n)
    connections = []
    for u, v, attrs in G.edges(data=True):
        place = {"edge": (u, v)}
        for key in ("src", "dst"):
            if key in attrs:
                problems.append(
                    Problem(
                        **place,
                        message=f"an attribute called {key!r} clashes with the YAML layout",
                        code="reserved-key",
                        attribute=key,
                    )
                )
        connections.append(
            _Flow(
                {"src": _plain(u), "dst": _plain(v), **attrs_safe(attrs, "edge", place, problems)}
            )
        )
        _no_surrogates(
            {k: x for k, x in connections[-1].items() if k not in ("src", "dst")}, place, problems
        )
    if problems:
        raise GraphError(problems, header="the graph cannot be saved")
    parts = [_dump({"format": FORMAT, "version": VERSION, **graph})]
    parts.append(_dump({"regions": regions}) if regions else "regions: {}\n")
    parts.append(_dump({"connections": connections}) if connections else "connections: []\n")
    return "\n".join(parts)


def _name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a region name, or ``None``."""
    if isinstance(name, str) or (isinstance(name, int) and not isinstance(name, bool)):
        return None
    return f"region names must be strings; YAML read this one as {name!r} ({type(name).__name__})"


def _bad_keys(attrs: Mapping, place: dict[str, Any], problems: list[Problem]) -> None:
    for key in attrs:
        if not isinstance(key, str):
            problems.append(
                Problem(
                    **place,
                    message=f"attribute names must be strings; YAML "
                    f"read {key!r} ({type(key).__name__})",
                    code="bad-layout",
                    hint="quote the name",
                )
            )


def graph_from_yaml(text: str, *, source: str = "<yaml>") -> tuple[nx.DiGraph, Lines]:
    """Parse the YAML layout; return the graph and the line of each node, edge and key.

    Returns
    -------
    graph : networkx.DiGraph
    lines : Lines
        The line of each region (its name), connection (its ``-``) and attribute
        (its key), for :func:`~mrnngraph.io._common.locate`.

    Raises
    ------
    GraphError
        On a syntax error (with the parser's line), duplicate keys, nesting deeper
        than 100 levels, recursive or exploding aliases, a value that cannot be read
        (an integer of more than 4,300 digits, a date that does not exist), a wrong
        layout (sections of the wrong type, region names or attribute names that are
        not strings, connections without ``src``/``dst`` or naming unknown regions, a
        connection given twice), or an unknown format or version.
    """
    data, root = parse(text, source)
    problems: list[Problem] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise GraphError(
            [
                file_problem(
                    source,
                    "the top level must be a mapping (name, dt, "
                    "..., regions:, connections:); got "
                    f"{type(data).__name__}",
                    "bad-layout",
                    line=1,
                )
            ],
            header=f"cannot read {source}",
        )
    top_lines = key_lines(root)
    file = str(source)
    check_header(data, {"file": file}, problems, required=False)

    G = nx.DiGraph()
    lines = Lines()
    graph_attrs = {k: v for k, v in data.items() if k not in (*_SECTIONS, *_HEADER)}
    _bad_keys(graph_attrs, {"file": file}, problems)
    G.graph.update(graph_attrs)
    lines.graph({k: top_lines[k] for k in G.graph if k in top_lines})

    regions = data.get("regions")
    node_map = section(root, "regions")
    if regions is None:
        problems.append(
            file_problem(
                source,
                "missing 'regions:' section (a mapping of region names to their attributes)",
                "bad-layout",
            )
        )
        regions = {}
    elif not isinstance(regions, Mapping):
        problems.append(
            file_problem(
                source,
                f"'regions' must be a mapping; got {type(regions).__name__}",
                "bad-layout",
                line=top_lines.get("regions"),
            )
        )
        regions = {}
    entries = list(node_map.value) if isinstance(node_map, yaml.MappingNode) else []
    # Without duplicate keys, the constructed mapping keeps the document's key order.
    region_nodes = {} if len(entries) != len(regions) else dict(zip(regions, entries, strict=True))
    for name, attrs in regions.items():
        key, value = region_nodes.get(name, (None, None))
        line = None if key is None else line_of(key)
        why = _name_problem(name)
        if why is not None:
            problems.append(
                file_problem(source, why, "bad-layout", line=line, hint="quote the name")
            )
            continue
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, Mapping):
            problems.append(
                file_problem(
                    source,
                    f"region {name!r} must map to a mapping of attributes; got {attrs!r}",
                    "bad-layout",
                    line=line,
                )
            )
            continue
        _bad_keys(attrs, {"file": file, "line": line, "node": name}, problems)
        G.add_node(name)
        G.nodes[name].update(attrs)
        lines.node(name, line, key_lines(value))

    connections = data.get("connections")
    seq = section(root, "connections")
    if connections is None:
        connections = []
    if not isinstance(connections, list):
        problems.append(
            file_problem(
                source,
                f"'connections' must be a list; got {type(connections).__name__}",
                "bad-layout",
                line=top_lines.get("connections"),
            )
        )
        connections = []
    items = list(seq.value) if isinstance(seq, yaml.SequenceNode) else []
    for i, entry in enumerate(connections):
        item = items[i] if i < len(items) else None
        line = None if item is None else line_of(item)
        if not isinstance(entry, Mapping) or "src" not in entry or "dst" not in entry:
            problems.append(
                file_problem(
                    source,
                    f"connections[{i}] must be a mapping with 'src' and 'dst'; got {entry!r}",
                    "bad-layout",
                    line=line,
                )
            )
            continue
        attrs = dict(entry)
        u, v = attrs.pop("src"), attrs.pop("dst")
        unknown = [x for x in (u, v) if _name_problem(x) is not None or x not in G]
        if unknown:
            problems.append(
                file_problem(
                    source,
                    f"connection ({u!r}, {v!r}) names unknown regions {unknown!r}",
                    "unknown-node",
                    line=line,
                    hint="declare every region under 'regions:'",
                )
            )
        elif G.has_edge(u, v):
            problems.append(
                file_problem(
                    source, f"connection ({u!r}, {v!r}) is given twice", "duplicate-edge", line=line
                )
            )
        else:
            _bad_keys(attrs, {"file": file, "line": line, "edge": (u, v)}, problems)
            G.add_edge(u, v)
            G.edges[u, v].update(attrs)
            lines.edge(u, v, line, key_lines(item))
    if problems:
        raise GraphError(problems, header=f"cannot read {source}")
    return G, lines
