"""GraphML with list-valued attributes encoded so that they round-trip.

GraphML stores only strings, numbers and booleans. Any other value (a list such
as ``ei`` or a per-unit ``base_firing``, a mapping, ``None``) is written as a
string :data:`MARKER` followed by its JSON text; a string that happens to start
with the marker is encoded the same way, so decoding is never ambiguous. Node
names that XML cannot carry (NUL, lone surrogates, ...) or that start with the
marker are encoded the same way. Other tools see ordinary string attributes.

Reading parses the document with expat first and refuses any DTD (``<!DOCTYPE``,
whatever the encoding), so no entity is ever expanded; encoded values are read
with the same depth and digit bounds as JSON files.

Examples
--------
>>> import networkx as nx
>>> G = nx.DiGraph()
>>> G.add_node("ctx", size=4, exc_frac=0.5, base_firing=[0.0, 0.1, 0.2, 0.3])
>>> G.add_edge("ctx", "ctx", ei=["EE", "EI"], autapses=False)
>>> H = graph_from_graphml(graph_to_graphml(G))
>>> H.nodes["ctx"]["base_firing"], H.edges["ctx", "ctx"]
([0.0, 0.1, 0.2, 0.3], {'ei': ['EE', 'EI'], 'autapses': False})
"""

from __future__ import annotations

import io
import re
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

import networkx as nx
from networkx.readwrite.graphml import GraphMLReader

from ..errors import GraphError, Problem
from ._common import (
    FORMAT,
    VERSION,
    Lines,
    attrs_safe,
    check_digraph,
    file_problem,
    json_text,
    loads_json,
)

__all__ = ["MARKER", "graph_to_graphml", "graph_from_graphml", "graphml_lines"]

#: Prefix of a string attribute that holds the JSON text of a non-scalar value.
MARKER = "mrnngraph-json:"
_FORMAT_KEY = "mrnngraph_format"
_VERSION_KEY = "mrnngraph_version"
# networkx's reader puts these in the graph attributes; a graph attribute of that
# name would not come back.
_READER_KEYS = ("node_default", "edge_default")
# Characters XML 1.0 cannot hold, or that its parsers rewrite (\r becomes \n).
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
# In attribute values (node names) whitespace is normalised too.
_UNSAFE_NAME = re.compile("[\x00-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def _json(value: Any) -> str:
    return MARKER + json_text(value, allow_nan=True, escape=_UNSAFE_TEXT)


def _encode(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and not (value.startswith(MARKER) or _UNSAFE_TEXT.search(value)):
        return value
    return _json(value)


def _encode_name(name: str) -> str:
    if name.startswith(MARKER) or _UNSAFE_NAME.search(name):
        return _json(name)
    return name


def _decode(
    value: Any, place: dict[str, Any], problems: list[Problem], attribute: str | None = None
) -> Any:
    if isinstance(value, str) and value.startswith(MARKER):
        try:
            return loads_json(value[len(MARKER) :], "<encoded value>")
        except GraphError as err:
            problems.append(
                Problem(
                    **place,
                    message=f"cannot decode {_short(value)}: {err.problems[0].message}",
                    code="bad-value",
                    attribute=attribute,
                )
            )
            return None
    return value


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _encode_all(attrs: dict, scope: str, place: dict[str, Any], problems: list[Problem]) -> dict:
    out = {}
    for k, v in attrs_safe(attrs, scope, place, problems).items():
        if _UNSAFE_NAME.search(k):
            problems.append(
                Problem(
                    **place,
                    message=f"attribute name {k!r} holds characters GraphML cannot carry",
                    code="not-serialisable",
                    attribute=k,
                )
            )
        out[k] = _encode(v)
    return out


def graph_to_graphml(G: nx.DiGraph) -> bytes:
    """The GraphML document (UTF-8 bytes) of a circuit graph.

    Raises
    ------
    TypeError
        If ``G`` is not a networkx DiGraph.
    GraphError
        If a node name is not a string or an attribute has no JSON form.
    """
    check_digraph(G)
    problems: list[Problem] = []
    H = nx.DiGraph()
    graph = _encode_all(dict(G.graph), "graph", {"subject": "graph"}, problems)
    for key in (_FORMAT_KEY, _VERSION_KEY, *_READER_KEYS):
        if key in graph:
            problems.append(
                Problem(
                    "graph",
                    f"a graph attribute called {key!r} clashes with the GraphML header",
                    "reserved-key",
                    attribute=key,
                )
            )
    H.graph.update({_FORMAT_KEY: FORMAT, _VERSION_KEY: VERSION, **graph})
    names = {}
    for n, attrs in G.nodes(data=True):
        if not isinstance(n, str):
            problems.append(
                Problem(
                    node=n,
                    message="GraphML node names are strings; relabel the node with a string name",
                    code="not-serialisable",
                )
            )
            continue
        names[n] = _encode_name(str.__str__(n))
        H.add_node(names[n])
        H.nodes[names[n]].update(_encode_all(dict(attrs), "node", {"node": n}, problems))
    for u, v, attrs in G.edges(data=True):
        if u in names and v in names:
            H.add_edge(names[u], names[v])
            H.edges[names[u], names[v]].update(
                _encode_all(dict(attrs), "edge", {"edge": (u, v)}, problems)
            )
    if problems:
        raise GraphError(problems, header="the graph cannot be saved")
    buffer = io.BytesIO()
    nx.write_graphml(H, buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue()


class _DTD(Exception):
    def __init__(self, line: int):
        self.line = line


def _check_xml(data: bytes, source: str) -> None:
    """Parse once with expat: syntax errors with their line; any DTD is refused.

    Expat decodes the document first (UTF-8, UTF-16, UTF-32 with a BOM, a declared
    Latin-1...), so a ``<!DOCTYPE`` is found whatever bytes spell it, and parsing
    stops there, before an entity is declared or expanded.
    """
    parser = expat.ParserCreate()

    def refuse(*args: Any) -> None:
        raise _DTD(parser.CurrentLineNumber)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except _DTD as dtd:
        raise GraphError(
            [
                file_problem(
                    source,
                    "DTD and entity declarations are not allowed in circuit files",
                    "bad-file",
                    line=dtd.line,
                )
            ],
            header=f"cannot read {source}",
        ) from None
    except LookupError as err:  # an encoding="..." Python does not know
        raise GraphError(
            [file_problem(source, f"cannot read the document: {err}", "bad-file", line=1)],
            header=f"cannot read {source}",
        ) from None
    except expat.ExpatError as err:
        raise GraphError(
            [
                file_problem(
                    source,
                    f"XML syntax error: {expat.ErrorString(err.code)}: column {err.offset + 1}",
                    "syntax-error",
                    line=err.lineno,
                )
            ],
            header=f"cannot read {source}",
        ) from None


class _Reader(GraphMLReader):
    """networkx's reader, refusing what it would get wrong: nested graphs, nodes without
    an id or declared twice, edges to undeclared nodes; attributes are never keywords."""

    def __init__(self) -> None:
        super().__init__(node_type=str)
        self.declared: set[str] = set()

    def add_node(self, G: nx.Graph, node_xml: Any, graphml_keys: Any, defaults: Any) -> None:
        if node_xml.find(f"{{{self.NS_GRAPHML}}}graph") is not None:
            raise nx.NetworkXError("a <graph> inside a <node> (nested graphs are not supported)")
        node_id = node_xml.get("id")
        if node_id is None:
            raise nx.NetworkXError("a <node> without an 'id'")
        if node_id in self.declared:
            raise nx.NetworkXError(f"node {node_id!r} is declared twice")
        self.declared.add(node_id)
        data = self.decode_data_elements(graphml_keys, node_xml)
        G.add_node(node_id)
        G.nodes[node_id].update(data)

    def add_edge(self, G: nx.Graph, edge_element: Any, graphml_keys: Any) -> None:
        for end in ("source", "target"):
            name = edge_element.get(end)
            if name is None:
                raise nx.NetworkXError(f"an <edge> without a '{end}'")
            if name not in self.declared:
                raise nx.NetworkXError(f"an <edge> names the undeclared node {name!r}")
        super().add_edge(G, edge_element, graphml_keys)


def _parse(data: bytes) -> nx.Graph:
    graphs = list(_Reader()(string=data))
    if not graphs and b"<graphml>" in data:  # no namespace: read it as GraphML anyway
        header = b'<graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        graphs = list(_Reader()(string=data.replace(b"<graphml>", header, 1)))
    if len(graphs) != 1:
        raise nx.NetworkXError(
            "no <graph> element"
            if not graphs
            else f"{len(graphs)} <graph> elements; a circuit file holds one"
        )
    return graphs[0]


def graph_from_graphml(data: bytes, *, source: str = "<graphml>") -> nx.DiGraph:
    """Parse a GraphML document written by :func:`graph_to_graphml` (or another tool).

    Raises
    ------
    GraphError
        On an XML syntax error (with its line), a DTD or entity declaration (never
        expanded, in any encoding), a document without exactly one ``<graph>``, nested
        graphs, nodes without an id or declared twice, edges to undeclared nodes, an
        undirected or multi-edge graph, an unreadable typed value, an undecodable or
        too deeply nested encoded value, or an unknown format or version header.
    """
    return read_graphml(data, source=source)[0]


def read_graphml(data: bytes, *, source: str = "<graphml>") -> tuple[nx.DiGraph, dict[str, Any]]:
    """:func:`graph_from_graphml`, also returning the name each node id in the file
    decodes to (for :func:`graphml_lines`)."""

    def error(message: str, code: str, line: int | None = None) -> GraphError:
        return GraphError(
            [file_problem(source, message, code, line=line)], header=f"cannot read {source}"
        )

    file = str(source)
    _check_xml(data, source)
    try:
        H = _parse(data)
    except ParseError as err:  # pragma: no cover - expat has already parsed it
        line = err.position[0] if getattr(err, "position", None) else None
        raise error(f"XML syntax error: {err}", "syntax-error", line) from None
    except (nx.NetworkXError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise error(f"not a readable GraphML graph: {err}", "bad-layout") from None
    problems: list[Problem] = []
    if H.is_multigraph() or not H.is_directed():
        what = "an undirected graph" if not H.is_directed() else "parallel edges"
        raise error(
            f"the file holds {what}; circuits are directed graphs with one edge per projection",
            "bad-layout",
        )
    graph = dict(H.graph)
    for key in _READER_KEYS:
        graph.pop(key, None)
    fmt, version = graph.pop(_FORMAT_KEY, FORMAT), graph.pop(_VERSION_KEY, VERSION)
    if fmt != FORMAT:
        problems.append(
            file_problem(source, f"unknown format {fmt!r}; expected {FORMAT!r}", "bad-header")
        )
    if isinstance(version, bool) or version != VERSION:
        problems.append(
            file_problem(
                source,
                f"unsupported version {version!r}; this mrnngraph reads version {VERSION}",
                "bad-version",
            )
        )
    G = nx.DiGraph()
    G.graph.update({k: _decode(v, {"file": file}, problems, k) for k, v in graph.items()})
    names: dict[str, Any] = {}
    for n in H.nodes:
        name = _decode(n, {"file": file, "subject": f"node {_short(n)}"}, problems)
        if not isinstance(name, str):
            if name is not None:
                problems.append(
                    file_problem(
                        source,
                        f"an encoded node name must be a string; got {name!r}",
                        "bad-layout",
                        subject=f"node {_short(n)}",
                    )
                )
            continue
        if name in G:
            problems.append(
                file_problem(
                    source, "the node is declared twice (once encoded)", "duplicate-node", node=name
                )
            )
            continue
        names[n] = name
        place = {"file": file, "node": name}
        G.add_node(name)
        G.nodes[name].update({k: _decode(v, place, problems, k) for k, v in H.nodes[n].items()})
    for u, v, attrs in H.edges(data=True):
        if u in names and v in names:
            place = {"file": file, "edge": (names[u], names[v])}
            G.add_edge(names[u], names[v])
            G.edges[names[u], names[v]].update(
                {k: _decode(x, place, problems, k) for k, x in attrs.items()}
            )
    if problems:
        raise GraphError(problems, header=f"cannot read {source}")
    return G, names


def graphml_lines(data: bytes, names: dict[str, Any]) -> Lines:
    """The line of each ``<node>``, ``<edge>`` and ``<data>`` of a document that
    :func:`read_graphml` has read; ``names`` is what it returned with the graph.

    A second expat pass, run only to locate problems.

    >>> doc = (b'<graphml><key id="d0" for="node" attr.name="size"/><graph>\\n'
    ...        b'<node id="a">\\n<data key="d0">-3</data></node></graph></graphml>')
    >>> from mrnngraph.errors import Problem
    >>> graphml_lines(doc, {"a": "a"}).line_of(Problem(message="", node="a", attribute="size"))
    3
    """
    parser = expat.ParserCreate()
    keys: dict[str, str] = {}
    owners: list[tuple] = []  # open <node>/<edge> elements: (scope, key, line, data lines)
    graph: dict[str, int] = {}
    found: list[tuple] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        tag = tag.rpartition(":")[2]
        line = parser.CurrentLineNumber
        if tag == "key" and "id" in attrs and "attr.name" in attrs:
            keys[attrs["id"]] = attrs["attr.name"]
        elif tag == "node":
            owners.append(("node", attrs.get("id"), line, {}))
        elif tag == "edge":
            owners.append(("edge", (attrs.get("source"), attrs.get("target")), line, {}))
        elif tag == "data" and "key" in attrs:
            (owners[-1][3] if owners else graph).setdefault(attrs["key"], line)

    def end(tag: str) -> None:
        if tag.rpartition(":")[2] in ("node", "edge") and owners:
            found.append(owners.pop())

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data, True)
    lines = Lines()
    lines.graph({keys.get(k, k): n for k, n in graph.items()})
    for scope, key, line, data_lines in found:
        attrs = {keys.get(k, k): n for k, n in data_lines.items()}
        if scope == "node" and key in names:
            lines.node(names[key], line, attrs)
        elif scope == "edge" and key[0] in names and key[1] in names:
            lines.edge(names[key[0]], names[key[1]], line, attrs)
    return lines
