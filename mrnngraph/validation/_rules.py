"""The rules a circuit graph must follow beyond each attribute's own constraint: node
names, time-constant bounds, which nodes an edge may join, E/I sub-pathways, the
graph type, and the reachability warnings."""

from __future__ import annotations

from typing import Any

import networkx as nx

from .. import schema
from ..errors import Problem
from ._specs import EdgeSpec, NodeSpec, Spec, sub_pathways


def _node_spec(name: Any, reading: schema.Reading, problems: list[Problem]) -> NodeSpec | None:
    n_before = len(problems)
    if not isinstance(name, str) or not name:
        problems.append(
            Problem(
                node=name,
                message=f"node names must be non-empty strings; got {schema.short_repr(name)}",
                code="bad-node-name",
                hint="relabel with networkx.relabel_nodes(G, str)",
            )
        )
    problems.extend(reading.problems)
    _check_tau(name, reading, problems)
    if len(problems) > n_before:
        return None
    return NodeSpec.from_reading(name, reading)


def _check_tau(name: Any, reading: schema.Reading, problems: list[Problem]) -> None:
    """The time-constant attributes together: bounds only with ``learn_tau``, in order,
    and ``tau`` inside them."""
    spelled = reading.spelled

    def add(attr: str, message: str, code: str, hint: str | None = None) -> None:
        problems.append(
            Problem(
                node=name,
                message=message,
                code=code,
                attribute=spelled.get(attr, attr),
                hint=hint,
            )
        )

    bounds = {b: reading.valid(b) for b in ("tau_min", "tau_max")}
    learn = reading.valid("learn_tau")
    if learn is False or "learn_tau" in reading.invalid:
        for b, value in bounds.items():
            if value is not None and learn is False:
                add(
                    b,
                    f"{spelled[b]!r} bounds learned time constants, but learn_tau is not set; "
                    "it would be ignored",
                    "tau-bound-without-learn-tau",
                    "set learn_tau=True, or drop " + repr(spelled[b]),
                )
        return
    lo, hi = bounds["tau_min"], bounds["tau_max"]
    if lo is not None and hi is not None and not lo < hi:
        add(
            "tau_min",
            f"'tau_min' ({lo:g}) must be smaller than 'tau_max' ({hi:g})",
            "tau-bounds-order",
        )
        return
    tau = reading.valid("tau")
    if tau is None or (lo is None and hi is None):
        return
    values = tau if isinstance(tau, tuple) else (tau,)
    for i, t in enumerate(values):
        if (lo is not None and t < lo) or (hi is not None and t > hi):
            unit = f" (unit {i})" if isinstance(tau, tuple) else ""
            add(
                "tau",
                f"'tau'{unit} is {t:g}, outside [tau_min, tau_max] = "
                f"[{'dt' if lo is None else format(lo, 'g')}, "
                f"{'inf' if hi is None else format(hi, 'g')}]",
                "tau-out-of-bounds",
                "start tau inside the bounds, or widen them",
            )
            return


def _edge_spec(
    src: Any,
    dst: Any,
    reading: schema.Reading,
    readings: dict[Any, schema.Reading],
    nodes: dict[str, NodeSpec],
    problems: list[Problem],
) -> EdgeSpec | None:
    n_before = len(problems)
    problems.extend(reading.problems)
    values = reading.values
    s, d = nodes.get(src), nodes.get(dst)
    # Kinds and sizes are read leniently (a valid value, else None), so an edge is
    # checked even when a node has other problems: the user sees every problem at once.
    k_src, k_dst = readings[src].values.get("kind"), readings[dst].values.get("kind")
    n_src, n_dst = readings[src].valid("size"), readings[dst].valid("size")
    shown_src, shown_dst = schema.short_repr(src), schema.short_repr(dst)
    found = []
    if k_dst == "input":
        found.append(
            (
                f"input node {shown_dst} cannot receive edges; input nodes are channels "
                "fed from outside",
                "edge-into-input",
                None,
            )
        )
    if k_src == "output":
        found.append(
            (
                f"output node {shown_src} cannot send edges; output nodes are linear readouts",
                "edge-out-of-output",
                None,
            )
        )
    if k_src == "input" and k_dst == "output":
        found.append(
            (
                "an input cannot project straight to an output; route it through a "
                "recurrent region",
                "input-to-output",
                None,
            )
        )
    if values.get("rule") == "one_to_one" and None not in (n_src, n_dst) and n_src != n_dst:
        found.append(
            (
                f"rule 'one_to_one' needs equal sizes; {shown_src} has {n_src} units, "
                f"{shown_dst} has {n_dst}",
                "one-to-one-sizes",
                None,
            )
        )
    if values.get("rule") == "one_to_one" and src == dst and values.get("autapses") is False:
        found.append(
            (
                "rule 'one_to_one' on a self-edge connects each unit to itself, which "
                "autapses=False forbids",
                "one-to-one-autapses",
                "drop autapses=False, or use another rule",
            )
        )
    for message, code, hint in found:
        problems.append(Problem(edge=(src, dst), message=message, code=code, hint=hint))
    ei = values.get("ei")
    if s is not None and d is not None:
        n_ei = len(problems)
        if ei is not None:
            _check_ei(list(ei), s, d, (src, dst), problems)
        if len(problems) == n_ei:
            _check_sub_pathway_keys(reading, ei, s, d, (src, dst), problems)
    if len(problems) > n_before:
        return None
    return EdgeSpec.from_reading(src, dst, reading)


_TYPE_WORD = {"E": "excitatory", "I": "inhibitory"}


def _check_ei(
    ei: list[str], s: NodeSpec, d: NodeSpec, edge: tuple[Any, Any], problems: list[Problem]
) -> None:
    def add(message: str, code: str, hint: str | None = None) -> None:
        problems.append(Problem(edge=edge, message=message, code=code, attribute="ei", hint=hint))

    if not s.typed:
        add(
            f"'ei' selects E/I sub-pathways but source {s.name!r} has no E/I types "
            "(no 'sign' or 'exc_frac')",
            "ei-untyped-source",
            "give the source a sign or exc_frac, or drop 'ei'",
        )
        return
    for entry in ei:
        if entry[0] not in s.types:
            add(
                f"sub-pathway {entry!r} cannot exist: source {s.name!r} has no "
                f"{_TYPE_WORD[entry[0]]} units",
                "ei-impossible",
            )
        if len(entry) == 2:
            if d.kind == "output" or not d.typed:
                what = "an output" if d.kind == "output" else "an unconstrained region"
                add(
                    f"two-letter entry {entry!r} needs a target with E/I types, but "
                    f"{d.name!r} is {what}",
                    "ei-untyped-target",
                    f"use the one-letter entry {entry[0]!r}",
                )
            elif entry[1] not in d.types:
                add(
                    f"sub-pathway {entry!r} cannot exist: target {d.name!r} has no "
                    f"{_TYPE_WORD[entry[1]]} units",
                    "ei-impossible",
                )


def _check_sub_pathway_keys(
    reading: schema.Reading,
    ei: tuple[str, ...] | None,
    s: NodeSpec,
    d: NodeSpec,
    edge: tuple[Any, Any],
    problems: list[Problem],
) -> None:
    """Mapping-valued ``sparsity``/``density``/``gain``: every key a sub-pathway of the
    edge; ``sparsity``/``density`` give all of them (no synapse density is guessed)."""
    allowed = ei if ei is not None else sub_pathways(s, d)
    shown = ", ".join(repr(k) for k in allowed) or "none"
    for name in ("sparsity", "density", "gain"):
        value = reading.valid(name)
        if not isinstance(value, dict):
            continue
        attr = reading.spelled[name]

        def add(message: str, code: str, hint: str, attr: str = attr) -> None:
            problems.append(
                Problem(edge=edge, message=message, code=code, attribute=attr, hint=hint)
            )

        for key in value:
            if key in allowed:
                continue
            if ei is not None:
                hint = f"the edge's ei lists {shown}: add {key!r} to ei, or drop the key"
            elif not s.typed:
                hint = (
                    f"source {s.name!r} has no E/I types (no 'sign' or 'exc_frac'): "
                    "give it one, or a single value"
                )
            elif len(key) == 1 and len(allowed[0]) == 2:
                hint = (
                    f"the target has E/I types, so the keys are {shown}; for "
                    f"{key!r} onto every target unit, list it in ei"
                )
            else:
                hint = f"between {s.name!r} and {d.name!r} the sub-pathways are {shown}"
            add(
                f"{attr!r} key {key!r} is not a sub-pathway of this edge",
                "sub-pathway-key",
                hint,
            )
        missing = [k for k in allowed if k not in value]
        if missing and name != "gain" and all(k in allowed for k in value):
            add(
                f"{attr!r} gives no value for the edge's "
                f"sub-pathway{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(k) for k in missing)}",
                "sub-pathway-missing",
                "give every sub-pathway a value, or restrict the edge with ei=["
                + ", ".join(repr(k) for k in value)
                + "]",
            )


def _graph_type_problem(G: Any) -> Problem | None:
    if isinstance(G, (nx.MultiGraph, nx.MultiDiGraph)):
        return Problem(
            message=f"got a {type(G).__name__}; parallel edges have no meaning for a projection",
            code="not-a-digraph",
            hint="merge parallel edges and pass networkx.DiGraph(G)",
        )
    if isinstance(G, nx.Graph) and not G.is_directed():
        return Problem(
            message=f"got an undirected {type(G).__name__}; projections have a "
            "direction (source -> destination)",
            code="not-a-digraph",
            hint="build a networkx.DiGraph, e.g. G.to_directed() for both directions",
        )
    if not isinstance(G, nx.DiGraph):
        return Problem(
            message=f"expected a networkx.DiGraph; got {type(G).__name__}", code="not-a-digraph"
        )
    return None


def _reach_warnings(spec: Spec, problems: list[Problem]) -> None:
    live = nx.DiGraph()
    live.add_nodes_from(spec.nodes)
    live.add_edges_from((e.src, e.dst) for e in spec.edges if not e.zero)
    touched = {n for e in spec.edges for n in (e.src, e.dst)}
    for name in spec.regions:
        if name not in touched:
            problems.append(
                Problem(
                    node=name,
                    message="region has no edges at all",
                    code="isolated",
                    level="warning",
                )
            )
    for kind, find, word, fix in (
        ("input", nx.descendants, "is unreachable from any input", "add an edge from an input"),
        ("output", nx.ancestors, "has no path to any output", "add a path to an output"),
    ):
        ends = spec.names(kind)
        if not ends:
            problems.append(
                Problem(
                    message=f"the circuit has no {kind} nodes", code=f"no-{kind}", level="warning"
                )
            )
            continue
        reached = set().union(*(find(live, n) for n in ends))
        for name in spec.regions:
            if name not in reached and name in touched:
                problems.append(
                    Problem(
                        node=name,
                        message=f"region {word}",
                        code=f"unreachable-{kind}",
                        level="warning",
                        hint=fix,
                    )
                )
