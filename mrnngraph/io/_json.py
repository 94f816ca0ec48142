"""The native JSON layout: networkx node-link data under a ``format``/``version`` header.

Examples
--------
>>> import networkx as nx
>>> G = nx.DiGraph(name="tiny")
>>> G.add_node("ctx", size=4, sign="exc")
>>> G.add_edge("ctx", "ctx", density=0.5)
>>> d = graph_to_dict(G)
>>> d["format"], d["version"], d["nodes"]
('mrnngraph', 1, [{'id': 'ctx', 'size': 4, 'sign': 'exc'}])
>>> d["links"]
[{'source': 'ctx', 'target': 'ctx', 'density': 0.5}]
>>> H = graph_from_dict(d)
>>> dict(H.nodes(data=True)) == dict(G.nodes(data=True)), H.graph
(True, {'name': 'tiny'})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from ..errors import GraphError, Problem
from ._common import _INT_LIMIT, FORMAT, VERSION, attrs_safe, check_digraph, where_file

__all__ = ["graph_to_dict", "graph_from_dict"]

_HEADER_KEYS = ("format", "version", "directed", "multigraph", "graph", "nodes", "links")
# networkx >= 3.4 may write "edges" instead of "links"; both are read.
_TOP_KEYS = frozenset(_HEADER_KEYS) | {"edges"}


def graph_to_dict(G: nx.DiGraph) -> dict[str, Any]:
    """The JSON-safe node-link form of a circuit graph, with the mrnngraph header.

    Tuples become lists; numpy and torch numbers and arrays become Python numbers
    and lists. Node and edge order is kept.

    Parameters
    ----------
    G : networkx.DiGraph

    Returns
    -------
    dict
        ``{"format": "mrnngraph", "version": 1, "directed": True, "multigraph": False,
        "graph": {...}, "nodes": [{"id": ..., ...}], "links": [{"source": ...,
        "target": ..., ...}]}``.

    Raises
    ------
    TypeError
        If ``G`` is not a networkx DiGraph.
    GraphError
        If an attribute has no JSON form, or a node attribute is called ``id`` or
        an edge attribute ``source``/``target`` (the layout's own keys).
    """
    check_digraph(G)
    problems: list[Problem] = []
    nodes = []
    for n, attrs in G.nodes(data=True):
        where = f"node {n!r}"
        if not _name_ok(n):
            problems.append(Problem(where, "node names must be strings to be saved",
                                    "not-serialisable"))
        if "id" in attrs:
            problems.append(Problem(where, "an attribute called 'id' clashes with the node "
                                    "name in node-link data", "reserved-key"))
        nodes.append({"id": _plain(n), **attrs_safe(attrs, "node", where, problems)})
    links = []
    for u, v, attrs in G.edges(data=True):
        where = f"edge ({u!r}, {v!r})"
        for key in ("source", "target"):
            if key in attrs:
                problems.append(Problem(where, f"an attribute called {key!r} clashes with the "
                                        "node-link layout", "reserved-key"))
        links.append({"source": _plain(u), "target": _plain(v),
                      **attrs_safe(attrs, "edge", where, problems)})
    graph = attrs_safe(G.graph, "graph", "graph", problems)
    if problems:
        raise GraphError(problems, header="the graph cannot be saved")
    return {"format": FORMAT, "version": VERSION, "directed": True, "multigraph": False,
            "graph": graph, "nodes": nodes, "links": links}


def _name_ok(x: Any) -> bool:
    return isinstance(x, (str, int)) and not isinstance(x, bool) and (
        isinstance(x, str) or -_INT_LIMIT < x < _INT_LIMIT)


def _plain(name: Any) -> Any:
    """A node name as JSON holds it: ``numpy.str_`` and other str subclasses as str."""
    return str.__str__(name) if isinstance(name, str) else int(name) if _name_ok(name) else name


def check_header(d: Mapping, where: str, problems: list[Problem], *,
                 required: bool = True) -> None:
    """Check the ``format`` and ``version`` keys shared by every native layout."""
    fmt, version = d.get("format"), d.get("version")
    if "format" not in d and required:
        problems.append(Problem(where, "missing 'format': 'mrnngraph' header", "bad-header"))
    elif "format" in d and fmt != FORMAT:
        problems.append(Problem(where, f"unknown format {fmt!r}; expected {FORMAT!r}",
                                "bad-header"))
    if "version" not in d and required:
        problems.append(Problem(where, "missing 'version' header", "bad-header"))
    elif "version" in d and (isinstance(version, bool) or version != VERSION):
        problems.append(Problem(
            where, f"unsupported version {version!r}; this mrnngraph reads version {VERSION}",
            "bad-version", hint="upgrade mrnngraph to read files written by a newer one"))


def graph_from_dict(d: Mapping[str, Any], *, source: str = "<dict>") -> nx.DiGraph:
    """Rebuild the graph written by :func:`graph_to_dict`.

    Checks the layout (header, keys, node and edge entries) and reports every
    problem at once; the circuit's attributes are left to :func:`mrnngraph.validate`.

    Parameters
    ----------
    d : mapping
        Node-link data with the mrnngraph header.
    source : str
        Where ``d`` came from, used to name the place of each problem.

    Raises
    ------
    GraphError
        Naming ``source`` for an unknown format or version, unknown keys, entries
        of the wrong type, duplicate nodes or edges, or edges to unknown nodes.
    """
    where = where_file(source) if source != "<dict>" else source
    if not isinstance(d, Mapping):
        raise GraphError([Problem(where, f"expected a mapping (JSON object); got "
                                  f"{type(d).__name__}", "bad-layout")],
                         header=f"cannot read {source}")
    problems: list[Problem] = []
    check_header(d, where, problems)
    for key in d:
        if key not in _TOP_KEYS:
            problems.append(Problem(where, f"unknown key {key!r}; known keys: "
                                    f"{', '.join(_HEADER_KEYS)}", "unknown-key"))
    if d.get("directed", True) is not True:
        problems.append(Problem(where, "'directed' must be true: circuits are directed graphs",
                                "bad-layout"))
    if d.get("multigraph", False) is not False:
        problems.append(Problem(where, "'multigraph' must be false: parallel projections "
                                "have no meaning", "bad-layout"))
    if "links" in d and "edges" in d:
        problems.append(Problem(where, "give 'links' or 'edges', not both", "bad-layout"))
    graph = d.get("graph", {})
    if not isinstance(graph, Mapping):
        problems.append(Problem(where, f"'graph' must be a mapping; got {type(graph).__name__}",
                                "bad-layout"))
        graph = {}
    G = nx.DiGraph()
    G.graph.update(graph)
    nodes = d.get("nodes", [])
    if not isinstance(nodes, list):
        problems.append(Problem(where, f"'nodes' must be a list; got {type(nodes).__name__}",
                                "bad-layout"))
        nodes = []
    for i, entry in enumerate(nodes):
        at = f"{where}: nodes[{i}]"
        if not isinstance(entry, Mapping) or "id" not in entry:
            problems.append(Problem(at, "each node must be a mapping with an 'id'",
                                    "bad-layout"))
            continue
        attrs = dict(entry)
        n = attrs.pop("id")
        if not _name_ok(n):
            problems.append(Problem(at, f"node id must be a string; got {n!r}", "bad-layout"))
        elif n in G:
            problems.append(Problem(at, f"node {n!r} is listed twice", "duplicate-node"))
        else:
            G.add_node(n)
            G.nodes[n].update(attrs)
    links = d.get("links", d.get("edges", []))
    if not isinstance(links, list):
        problems.append(Problem(where, f"'links' must be a list; got {type(links).__name__}",
                                "bad-layout"))
        links = []
    for i, entry in enumerate(links):
        at = f"{where}: links[{i}]"
        if not isinstance(entry, Mapping) or "source" not in entry or "target" not in entry:
            problems.append(Problem(at, "each link must be a mapping with 'source' and "
                                    "'target'", "bad-layout"))
            continue
        attrs = dict(entry)
        u, v = attrs.pop("source"), attrs.pop("target")
        missing = [x for x in (u, v) if not _name_ok(x) or x not in G]
        if missing:
            problems.append(Problem(at, f"edge ({u!r}, {v!r}) names unknown nodes "
                                    f"{missing!r}", "unknown-node"))
        elif G.has_edge(u, v):
            problems.append(Problem(at, f"edge ({u!r}, {v!r}) is listed twice",
                                    "duplicate-edge"))
        else:
            G.add_edge(u, v)
            G.edges[u, v].update(attrs)
    if problems:
        raise GraphError(problems, header=f"cannot read {source}")
    return G
