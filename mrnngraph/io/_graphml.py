"""GraphML with list-valued attributes encoded so that they round-trip.

GraphML stores only strings, numbers and booleans. Any other value (a list such
as ``ei`` or a per-unit ``base_firing``, a mapping, ``None``) is written as a
string :data:`MARKER` followed by its JSON text; a string that happens to start
with the marker is encoded the same way, so decoding is never ambiguous. Other
tools see ordinary string attributes.

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
import json
import re
from typing import Any
from xml.etree.ElementTree import ParseError

import networkx as nx

from ..errors import GraphError, Problem
from ._common import FORMAT, VERSION, check_digraph, json_safe, where_file

__all__ = ["MARKER", "graph_to_graphml", "graph_from_graphml"]

#: Prefix of a string attribute that holds the JSON text of a non-scalar value.
MARKER = "mrnngraph-json:"
_FORMAT_KEY = "mrnngraph_format"
_VERSION_KEY = "mrnngraph_version"
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Characters XML 1.0 cannot hold, or that its parsers rewrite (\r becomes \n).
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def _encode(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and not (value.startswith(MARKER) or _UNSAFE_TEXT.search(value)):
        return value
    return MARKER + json.dumps(value, ensure_ascii=False, allow_nan=True)


def _decode(value: Any, where: str, problems: list[Problem]) -> Any:
    if isinstance(value, str) and value.startswith(MARKER):
        try:
            return json.loads(value[len(MARKER):])
        except json.JSONDecodeError as err:
            problems.append(Problem(where, f"cannot decode {value!r}: {err.msg}",
                                    "bad-value"))
            return None
    return value


def _encode_all(attrs: dict, where: str, problems: list[Problem]) -> dict:
    return {k: _encode(v) for k, v in json_safe(attrs, where, problems).items()}


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
    graph = _encode_all(dict(G.graph), "graph", problems)
    for key in (_FORMAT_KEY, _VERSION_KEY):
        if key in graph:
            problems.append(Problem("graph", f"a graph attribute called {key!r} clashes with "
                                    "the GraphML header", "reserved-key"))
    H.graph.update({_FORMAT_KEY: FORMAT, _VERSION_KEY: VERSION, **graph})
    for n, attrs in G.nodes(data=True):
        if not isinstance(n, str):
            problems.append(Problem(f"node {n!r}", "GraphML node names are strings; relabel "
                                    "the node with a string name", "not-serialisable"))
        H.add_node(n, **_encode_all(dict(attrs), f"node {n!r}", problems))
    for u, v, attrs in G.edges(data=True):
        H.add_edge(u, v, **_encode_all(dict(attrs), f"edge ({u!r}, {v!r})", problems))
    if problems:
        raise GraphError(problems, header="the graph cannot be saved")
    buffer = io.BytesIO()
    nx.write_graphml(H, buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue()


def graph_from_graphml(data: bytes, *, source: str = "<graphml>") -> nx.DiGraph:
    """Parse a GraphML document written by :func:`graph_to_graphml` (or another tool).

    Raises
    ------
    GraphError
        On an XML syntax error (with its line), a DTD or entity declaration (never
        expanded), an undirected or multi-edge graph, an undecodable encoded value,
        or an unknown format or version header.
    """
    where = where_file(source)
    if _DTD.search(data):
        raise GraphError([Problem(where, "DTD and entity declarations are not allowed in "
                                  "circuit files", "bad-file")], header=f"cannot read {source}")
    try:
        H = nx.parse_graphml(data)
    except ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        raise GraphError([Problem(where_file(source, line), f"XML syntax error: {err}",
                                  "syntax-error")], header=f"cannot read {source}") from None
    except (nx.NetworkXError, ValueError, KeyError) as err:
        raise GraphError([Problem(where, f"not a readable GraphML graph: {err}",
                                  "bad-layout")], header=f"cannot read {source}") from None
    problems: list[Problem] = []
    if H.is_multigraph() or not H.is_directed():
        what = "an undirected graph" if not H.is_directed() else "parallel edges"
        raise GraphError([Problem(where, f"the file holds {what}; circuits are directed graphs "
                                  "with one edge per projection", "bad-layout")],
                         header=f"cannot read {source}")
    graph = dict(H.graph)
    for key in ("node_default", "edge_default"):
        graph.pop(key, None)
    fmt, version = graph.pop(_FORMAT_KEY, FORMAT), graph.pop(_VERSION_KEY, VERSION)
    if fmt != FORMAT:
        problems.append(Problem(where, f"unknown format {fmt!r}; expected {FORMAT!r}",
                                "bad-header"))
    if isinstance(version, bool) or version != VERSION:
        problems.append(Problem(where, f"unsupported version {version!r}; this mrnngraph reads "
                                f"version {VERSION}", "bad-version"))
    G = nx.DiGraph()
    G.graph.update({k: _decode(v, where, problems) for k, v in graph.items()})
    for n, attrs in H.nodes(data=True):
        G.add_node(n, **{k: _decode(v, f"{where}: node {n!r}", problems)
                         for k, v in attrs.items()})
    for u, v, attrs in H.edges(data=True):
        G.add_edge(u, v, **{k: _decode(x, f"{where}: edge ({u!r}, {v!r})", problems)
                            for k, x in attrs.items()})
    if problems:
        raise GraphError(problems, header=f"cannot read {source}")
    return G
