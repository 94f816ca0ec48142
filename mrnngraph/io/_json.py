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
from ._common import _INT_LIMIT, FORMAT, VERSION, Lines, attrs_safe, check_digraph, json_positions

__all__ = ["graph_to_dict", "graph_from_dict", "json_lines"]

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
        if not _name_ok(n):
            problems.append(
                Problem(
                    node=n,
                    message="node names must be strings to be saved",
                    code="not-serialisable",
                )
            )
        if "id" in attrs:
            problems.append(
                Problem(
                    node=n,
                    message="an attribute called 'id' clashes with the node name in node-link data",
                    code="reserved-key",
                    attribute="id",
                )
            )
        nodes.append({"id": _plain(n), **attrs_safe(attrs, "node", {"node": n}, problems)})
    links = []
    for u, v, attrs in G.edges(data=True):
        for key in ("source", "target"):
            if key in attrs:
                problems.append(
                    Problem(
                        edge=(u, v),
                        message=f"an attribute called {key!r} clashes with the node-link layout",
                        code="reserved-key",
                        attribute=key,
                    )
                )
        links.append(
            {
                "source": _plain(u),
                "target": _plain(v),
                **attrs_safe(attrs, "edge", {"edge": (u, v)}, problems),
            }
        )
    graph = attrs_safe(G.graph, "graph", {"subject": "graph"}, problems)
    if problems:
        raise GraphError(problems, header="the graph cannot be saved")
    return {
        "format": FORMAT,
        "version": VERSION,
        "directed": True,
        "multigraph": False,
        "graph": graph,
        "nodes": nodes,
        "links": links,
    }


def _name_ok(x: Any) -> bool:
    return (
        isinstance(x, (str, int))
        and not isinstance(x, bool)
        and (isinstance(x, str) or -_INT_LIMIT < x < _INT_LIMIT)
    )


def _plain(name: Any) -> Any:
    """A node name as JSON holds it: ``numpy.str_`` and other str subclasses as str."""
    return str.__str__(name) if isinstance(name, str) else int(name) if _name_ok(name) else name


def check_header(
    d: Mapping, place: Mapping[str, Any], problems: list[Problem], *, required: bool = True
) -> None:
    """Check the ``format`` and ``version`` keys shared by every native layout; problems
    are at ``place`` (the location fields of a :class:`Problem`)."""

    def problem(message: str, code: str, hint: str | None = None) -> Problem:
        return Problem(**place, message=message, code=code, hint=hint)

    fmt, version = d.get("format"), d.get("version")
    if "format" not in d and required:
        problems.append(problem("missing 'format': 'mrnngraph' header", "bad-header"))
    elif "format" in d and fmt != FORMAT:
        problems.append(problem(f"unknown format {fmt!r}; expected {FORMAT!r}", "bad-header"))
    if "version" not in d and required:
        problems.append(problem("missing 'version' header", "bad-header"))
    elif "version" in d and (isinstance(version, bool) or version != VERSION):
        problems.append(
            problem(
                f"unsupported version {version!r}; this mrnngraph reads version {VERSION}",
                "bad-version",
                hint="upgrade mrnngraph to read files written by a newer one",
            )
        )


def _place(source: str, part: str | None = None) -> dict[str, Any]:
    """The location fields of a problem in ``source`` (a file, or ``"<dict>"``)."""
    if source == "<dict>":
        return {"subject": source if part is None else f"{source}: {part}"}
    return {"file": source, "subject": part}


def _problem(place: dict[str, Any], message: str, code: str = "error") -> Problem:
    return Problem(**place, message=message, code=code)


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
    where = _place(source)
    if not isinstance(d, Mapping):
        raise GraphError(
            [
                _problem(
                    where, f"expected a mapping (JSON object); got {type(d).__name__}", "bad-layout"
                )
            ],
            header=f"cannot read {source}",
        )
    problems: list[Problem] = []
    check_header(d, where, problems)
    for key in d:
        if key not in _TOP_KEYS:
            problems.append(
                _problem(
                    where,
                    f"unknown key {key!r}; known keys: {', '.join(_HEADER_KEYS)}",
                    "unknown-key",
                )
            )
    if d.get("directed", True) is not True:
        problems.append(
            _problem(where, "'directed' must be true: circuits are directed graphs", "bad-layout")
        )
    if d.get("multigraph", False) is not False:
        problems.append(
            _problem(
                where,
                "'multigraph' must be false: parallel projections have no meaning",
                "bad-layout",
            )
        )
    if "links" in d and "edges" in d:
        problems.append(_problem(where, "give 'links' or 'edges', not both", "bad-layout"))
    graph = d.get("graph", {})
    if not isinstance(graph, Mapping):
        problems.append(
            _problem(where, f"'graph' must be a mapping; got {type(graph).__name__}", "bad-layout")
        )
        graph = {}
    G = nx.DiGraph()
    G.graph.update(graph)
    nodes = d.get("nodes", [])
    if not isinstance(nodes, list):
        problems.append(
            _problem(where, f"'nodes' must be a list; got {type(nodes).__name__}", "bad-layout")
        )
        nodes = []
    for i, entry in enumerate(nodes):
        at = _place(source, f"nodes[{i}]")
        if not isinstance(entry, Mapping) or "id" not in entry:
            problems.append(_problem(at, "each node must be a mapping with an 'id'", "bad-layout"))
            continue
        attrs = dict(entry)
        n = attrs.pop("id")
        if not _name_ok(n):
            problems.append(_problem(at, f"node id must be a string; got {n!r}", "bad-layout"))
        elif n in G:
            problems.append(_problem(at, f"node {n!r} is listed twice", "duplicate-node"))
        else:
            G.add_node(n)
            G.nodes[n].update(attrs)
    links = d.get("links", d.get("edges", []))
    if not isinstance(links, list):
        problems.append(
            _problem(where, f"'links' must be a list; got {type(links).__name__}", "bad-layout")
        )
        links = []
    for i, entry in enumerate(links):
        at = _place(source, f"links[{i}]")
        if not isinstance(entry, Mapping) or "source" not in entry or "target" not in entry:
            problems.append(
                _problem(at, "each link must be a mapping with 'source' and 'target'", "bad-layout")
            )
            continue
        attrs = dict(entry)
        u, v = attrs.pop("source"), attrs.pop("target")
        missing = [x for x in (u, v) if not _name_ok(x) or x not in G]
        if missing:
            problems.append(
                _problem(at, f"edge ({u!r}, {v!r}) names unknown nodes {missing!r}", "unknown-node")
            )
        elif G.has_edge(u, v):
            problems.append(_problem(at, f"edge ({u!r}, {v!r}) is listed twice", "duplicate-edge"))
        else:
            G.add_edge(u, v)
            G.edges[u, v].update(attrs)
    if problems:
        raise GraphError(problems, header=f"cannot read {source}")
    return G


def json_lines(text: str) -> Lines:
    """The line of each node, edge and attribute of the node-link JSON ``text``.

    ``text`` must be a document :func:`~mrnngraph.io._common.loads_json` has read (the
    lines are found by a second, slower pass, run only to locate problems).

    >>> lines = json_lines('{"graph": {"dt": 1},\\n "nodes": [{"id": "a",\\n "size": -3}]}')
    >>> from mrnngraph.errors import Problem
    >>> lines.line_of(Problem(message="bad", node="a", attribute="size"))
    3
    """
    lines = Lines()
    top = json_positions(text, depth=3)
    if not isinstance(top, dict):
        return lines

    def entries(key: str) -> list[tuple[int, dict]]:
        value = top.get(key, (None, None))[1]
        if not isinstance(value, list):
            return []
        return [(n, x) for n, x in value if isinstance(x, dict)]

    def attr_lines(entry: dict, skip: tuple[str, ...]) -> dict[str, int]:
        return {k: n for k, (n, _) in entry.items() if k not in skip}

    graph = top.get("graph", (None, None))[1]
    if isinstance(graph, dict):
        lines.graph(attr_lines(graph, ()))
    for n, entry in entries("nodes"):
        name = entry.get("id", (None, None))[1]
        if _name_ok(name):
            lines.node(name, n, attr_lines(entry, ("id",)))
    for n, entry in entries("links" if "links" in top else "edges"):
        u, v = entry.get("source", (None, None))[1], entry.get("target", (None, None))[1]
        if _name_ok(u) and _name_ok(v):
            lines.edge(u, v, n, attr_lines(entry, ("source", "target")))
    return lines
