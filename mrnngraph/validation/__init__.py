"""Check a circuit graph and turn it into a :class:`Spec`, the form ``compile`` reads.

:func:`validate` never raises for a graph: it returns a :class:`Report` with every
problem it found. :func:`check` raises one :class:`~mrnngraph.errors.GraphError`
listing all of them, or returns the :class:`Spec`.

Examples
--------
>>> import networkx as nx
>>> G = nx.DiGraph()
>>> G.add_node("ctx", size=10, sign="pos")
>>> G.add_edge("ctx", "ctx", sparsty=0.5)
>>> report = validate(G)
>>> print(report.errors[0])
edge ('ctx', 'ctx'): unknown attribute 'sparsty' (hint: did you mean 'sparsity'?)

The package is split by concern: ``_specs`` (the checked form), ``_rules`` (the
rules beyond each attribute's constraint) and ``_memory`` (the memory estimate);
every name is imported from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx

from .. import schema
from ..errors import CircuitWarning, GraphError, Problem
from ._memory import (
    _DRAW_BYTES,
    MAX_ELEMENTS,
    MEMORY_LIMIT_ENV,
    MemoryEstimate,
    _check_memory,
    _count,
    _estimate,
    _memory_limit,
    _parse_bytes,
    _read_int,
    _show_bytes,
    available_memory,
    estimate_memory,
)
from ._rules import (
    _TYPE_WORD,
    _check_ei,
    _check_sub_pathway_keys,
    _check_tau,
    _edge_spec,
    _graph_type_problem,
    _node_spec,
    _reach_warnings,
)
from ._specs import (
    EdgeSpec,
    NodeSpec,
    Report,
    Spec,
    _at_edge,
    _at_node,
    _default,
    _value_of,
    sub_pathways,
    where_edge,
    where_node,
)

__all__ = [
    "NodeSpec",
    "EdgeSpec",
    "Spec",
    "Report",
    "validate",
    "check",
    "where_node",
    "where_edge",
    "MemoryEstimate",
    "estimate_memory",
    "available_memory",
    "MAX_ELEMENTS",
    "MEMORY_LIMIT_ENV",
    "sub_pathways",
]

# Private names other modules (and tests) use, kept importable from here.
_PRIVATE = (
    _DRAW_BYTES,
    _TYPE_WORD,
    _at_edge,
    _at_node,
    _check_ei,
    _check_sub_pathway_keys,
    _check_tau,
    _count,
    _default,
    _estimate,
    _parse_bytes,
    _read_int,
    _show_bytes,
    _value_of,
)


def validate(
    G: Any, *, order: Sequence[str] | None = None, memory_limit: float | None = None
) -> Report:
    """Check a circuit graph and report every problem; never raises for bad input.

    Values of any real-number type (numpy scalars, 0-d arrays and tensors,
    ``Fraction``, ``Decimal``, ints of any size) and numpy booleans are accepted where
    their value is, and appear in ``report.spec`` as ``float``, ``int`` and ``bool``.

    Before anything is allocated, the memory compiling needs is estimated from the
    sizes (:func:`estimate_memory`): a tensor torch cannot index (more than
    ``2**63 - 1`` entries) is always an error (``"too-many-elements"``), and so is
    needing more than the memory limit (``"too-much-memory"``, naming the largest
    regions or projections and the bytes).

    Parameters
    ----------
    G : networkx.DiGraph
        The circuit: regions are nodes, projections are edges (see :mod:`mrnngraph.schema`).
    order : sequence of str, optional
        Node order to use instead of insertion order: all nodes, or only the
        recurrent regions (inputs and outputs then keep insertion order).
    memory_limit : float, optional
        Bytes compiling may use; ``math.inf`` for no limit. Default: the environment
        variable ``MRNNGRAPH_MEMORY_LIMIT`` (bytes, with an optional K/M/G/T suffix in
        powers of 1024, or ``none``) if set, else the memory available now
        (:func:`available_memory`).

    Returns
    -------
    Report
        ``report.errors`` and ``report.warnings``; ``report.spec`` when there are no errors.
    """
    problems: list[Problem] = []
    bad_type = _graph_type_problem(G)
    if bad_type is not None:
        return Report([bad_type])
    graph_reading = schema.read("graph", G.graph)
    problems.extend(graph_reading.problems)
    graph = graph_reading.values

    readings = {name: schema.read("node", attrs, node=name) for name, attrs in G.nodes(data=True)}
    nodes: dict[str, NodeSpec] = {}
    for name, reading in readings.items():
        spec = _node_spec(name, reading, problems)
        if spec is not None:
            nodes[spec.name] = spec
    node_names = set(G.nodes)
    for s in nodes.values():
        if s.parent is not None and s.parent in node_names:
            problems.append(
                Problem(
                    node=s.name,
                    message=f"parent {s.parent!r} is also "
                    "a node name; group names must differ from node names",
                    code="parent-clash",
                    attribute="parent",
                )
            )
    if not any(r.values.get("kind") == "recurrent" for r in readings.values()):
        problems.append(Problem(message="the circuit has no recurrent region", code="no-regions"))

    edges: list[EdgeSpec] = []
    edge_readings: dict[tuple[Any, Any], schema.Reading] = {}
    for src, dst, attrs in G.edges(data=True):
        reading = edge_readings[src, dst] = schema.read("edge", attrs, edge=(src, dst))
        e = _edge_spec(src, dst, reading, readings, nodes, problems)
        if e is not None:
            edges.append(e)
    found = {"nodes": readings, "edges": edge_readings, "graph": graph_reading}

    if memory_limit is not None and (
        isinstance(memory_limit, bool)
        or not isinstance(memory_limit, (int, float))
        or not memory_limit >= 0
    ):
        problems.append(
            Problem(
                subject="memory_limit",
                message="must be a number of bytes >= 0 "
                f"or math.inf; got {schema.short_repr(memory_limit)}",
                code="bad-memory-limit",
            )
        )
    else:
        limit, source = _memory_limit(memory_limit, problems)
        _check_memory(nodes, edges, limit, source, problems)

    ordered = list(nodes)
    if order is not None:
        ordered = _apply_order(order, G, nodes, problems)

    if any(p.level == "error" for p in problems):
        return Report(problems, **found)
    spec = Spec(
        nodes={n: nodes[n] for n in ordered},
        edges=tuple(edges),
        graph={k: v for k, v in graph.items() if v is not None},
    )
    _reach_warnings(spec, problems)
    return Report(problems, spec, **found)


def _apply_order(
    order: Iterable[str], G: Any, nodes: dict[str, NodeSpec], problems: list[Problem]
) -> list[str]:
    order = list(order)
    unknown = [n for n in order if n not in G]
    dup = sorted({n for n in order if order.count(n) > 1}, key=str)
    regions = [n for n, s in nodes.items() if s.kind == "recurrent"]
    if unknown or dup:
        problems.append(
            Problem(
                subject="order",
                message=f"unknown names {unknown!r} or repeated names {dup!r}",
                code="bad-order",
            )
        )
        return list(nodes)
    if set(order) == set(G.nodes):
        return [n for n in order if n in nodes]
    if set(order) == set(regions):
        it = iter(order)
        return [next(it) if s.kind == "recurrent" else n for n, s in nodes.items()]
    problems.append(
        Problem(
            subject="order",
            message="must list every node, or every recurrent "
            "region, once; missing "
            f"{sorted(set(regions) - set(order), key=str)!r}",
            code="bad-order",
        )
    )
    return list(nodes)


def check(G: Any, *, order: Sequence[str] | None = None, memory_limit: float | None = None) -> Spec:
    """Return the :class:`Spec` of a valid circuit; raise listing every problem otherwise.

    ``order`` and ``memory_limit`` as in :func:`validate`.

    Warnings are issued through :func:`warnings.warn` with category
    :class:`~mrnngraph.errors.CircuitWarning` (filter them like any warning).

    Raises
    ------
    TypeError
        If ``G`` is not a networkx graph at all.
    GraphError
        If the graph has any error; ``.problems`` lists all of them.
    """
    import warnings

    if not isinstance(G, nx.Graph):
        raise TypeError(f"expected a networkx.DiGraph; got {type(G).__name__}")
    report = validate(G, order=order, memory_limit=memory_limit)
    if report.errors:
        raise GraphError(report.errors)
    for w in report.warnings:
        warnings.warn(str(w), CircuitWarning, stacklevel=3)
    return report.spec  # type: ignore[return-value]  # set whenever there are no errors
