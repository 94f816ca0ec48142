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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from . import schema
from .errors import CircuitWarning, GraphError, Problem

__all__ = [
    "NodeSpec", "EdgeSpec", "Spec", "Report", "validate", "check", "where_node", "where_edge",
]


def where_node(name: Any) -> str:
    return f"node {name!r}"


def where_edge(src: Any, dst: Any) -> str:
    return f"edge ({src!r}, {dst!r})"


@dataclass(frozen=True)
class NodeSpec:
    """One checked node with every attribute filled in (canonical names only)."""

    name: str
    kind: str
    size: int
    sign: str | None = None
    exc_frac: float | None = None
    base_firing: float | tuple[float, ...] = 0.0
    learnable_bias: bool = False
    init: float | tuple[float, ...] = 0.0
    tau: float | None = None
    parent: str | None = None

    @property
    def n_exc(self) -> int:
        """Number of excitatory units (they come first inside the region)."""
        if self.exc_frac is not None:
            # int() truncation, exactly as nn4n's MultiAreaEI does.
            return int(self.size * self.exc_frac)
        return self.size if self.sign == "exc" else 0

    @property
    def n_inh(self) -> int:
        if self.exc_frac is not None:
            return self.size - self.n_exc
        return self.size if self.sign == "inh" else 0

    @property
    def typed(self) -> bool:
        """Whether the units have an E/I identity (Dale's law applies)."""
        return self.exc_frac is not None or self.sign is not None

    @property
    def types(self) -> frozenset[str]:
        """The E/I types present among the units: a subset of ``{"E", "I"}``."""
        return frozenset(t for t, n in (("E", self.n_exc), ("I", self.n_inh)) if n > 0)


@dataclass(frozen=True)
class EdgeSpec:
    """One checked projection (``density`` already turned into ``sparsity``)."""

    src: str
    dst: str
    sparsity: float = 0.0
    rule: str = "bernoulli"
    zero: bool = False
    ei: tuple[str, ...] | None = None
    autapses: bool = True
    trainable: bool = True
    gain: float = 1.0

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity


@dataclass(frozen=True)
class Spec:
    """The checked, normalised circuit: nodes in a fixed order, edges, model defaults."""

    nodes: dict[str, NodeSpec]
    edges: tuple[EdgeSpec, ...]
    graph: dict[str, Any] = field(default_factory=dict)

    def names(self, kind: str) -> tuple[str, ...]:
        return tuple(n for n, s in self.nodes.items() if s.kind == kind)

    @property
    def regions(self) -> tuple[str, ...]:
        return self.names("recurrent")

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.names("input")

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.names("output")

    @property
    def parents(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for s in self.nodes.values():
            if s.parent is not None:
                out.setdefault(s.parent, []).append(s.name)
        return {k: tuple(v) for k, v in out.items()}


@dataclass
class Report:
    """What :func:`validate` found. ``spec`` is set only when there are no errors."""

    problems: list[Problem]
    spec: Spec | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if not self.problems:
            return "no problems"
        return "\n".join(f"{p.level}: {p}" for p in self.problems)


# --------------------------------------------------------------------------- helpers
def _values(scope: schema.Scope, attrs: dict, where: str, kind: str | None,
            problems: list[Problem]) -> dict[str, Any]:
    """Check one attribute dict; return the valid values under canonical names."""
    given: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in attrs.items():
        name = schema.canonical_name(scope, key) if isinstance(key, str) else None
        if name is None:
            guess = schema.did_you_mean(scope, key)
            problems.append(Problem(
                where, f"unknown attribute {key!r}", "unknown-attribute",
                hint=f"did you mean {guess!r}?" if guess else
                f"known {scope} attributes: {', '.join(schema.attributes(scope))}"))
            continue
        if name in spelled:
            problems.append(Problem(
                where, f"{spelled[name]!r} and {key!r} are the same attribute; give one",
                "duplicate-attribute"))
            continue
        spelled[name] = key
        attr = schema.attribute(scope, name)
        if kind is not None and kind in schema.NODE_KINDS and kind not in attr.kinds:
            problems.append(Problem(
                where, f"{key!r} does not apply to {kind} nodes "
                f"(only to {', '.join(attr.kinds)} nodes)", "not-applicable"))
            continue
        if value is None and not attr.required:
            given[name] = None
            continue
        msg = attr.constraint.check(value)
        if msg is not None:
            problems.append(Problem(where, f"{key!r} {msg}; got {value!r}", "bad-value"))
            continue
        given[name] = value
    for name in list(given):
        for other in schema.attribute(scope, name).excludes:
            if other in given and given[name] is not None and given[other] is not None \
                    and name < other:
                problems.append(Problem(
                    where, f"{spelled[name]!r} and {spelled[other]!r} exclude each other; "
                    "give one", "exclusive-attributes"))
    return given


def _given(values: dict[str, Any], name: str, default: Any) -> Any:
    value = values.get(name)
    return default if value is None else value


def _per_unit(value: Any, size: int, key: str, where: str,
              problems: list[Problem]) -> float | tuple[float, ...]:
    # "+ 0.0" turns -0.0 into 0.0: the spec holds one spelling of each value.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) + 0.0
    seq = tuple(float(v) + 0.0
                for v in (value.tolist() if hasattr(value, "tolist") else value))
    if len(seq) != size:
        problems.append(Problem(
            where, f"{key!r} has {len(seq)} values but the node has size {size}",
            "length-mismatch"))
    return seq


def _node_spec(name: Any, attrs: dict, problems: list[Problem]) -> NodeSpec | None:
    where = where_node(name)
    n_before = len(problems)
    if not isinstance(name, str) or not name:
        problems.append(Problem(
            where, f"node names must be non-empty strings; got {name!r}", "bad-node-name",
            hint="relabel with networkx.relabel_nodes(G, str)"))
    kind = attrs.get("kind", "recurrent")
    kind_ok = schema.attribute("node", "kind").constraint.check(kind) is None
    values = _values("node", attrs, where, kind if kind_ok else None, problems)
    if "size" not in values:
        if not any(schema.canonical_name("node", k) == "size" for k in attrs):
            problems.append(Problem(where, "'size' is required (number of units)",
                                    "missing-size"))
    if len(problems) > n_before:
        return None
    size = int(values["size"])
    sign = values.get("sign")
    out = NodeSpec(
        name=name, kind=values.get("kind") or "recurrent", size=size,
        sign=schema.normalize_sign(sign) if sign is not None else None,
        exc_frac=None if values.get("exc_frac") is None else float(values["exc_frac"]),
        base_firing=_per_unit(_given(values, "base_firing", 0.0), size, "base_firing", where,
                              problems),
        learnable_bias=bool(values.get("learnable_bias") or False),
        init=_per_unit(_given(values, "init", 0.0), size, "init", where, problems),
        tau=None if values.get("tau") is None else float(values["tau"]),
        parent=values.get("parent"),
    )
    return None if len(problems) > n_before else out


def _lenient(G: nx.DiGraph, node: Any, key: str) -> Any:
    """A node's kind or size if it is valid, else None (kind defaults to recurrent)."""
    attrs = G.nodes[node]
    found = [v for k, v in attrs.items() if schema.canonical_name("node", k) == key]
    value = found[0] if found else ("recurrent" if key == "kind" else None)
    if value is None or schema.attribute("node", key).constraint.check(value) is not None:
        return None
    return int(value) if key == "size" else value


def _edge_spec(G: nx.DiGraph, src: str, dst: str, attrs: dict, nodes: dict[str, NodeSpec],
               problems: list[Problem]) -> EdgeSpec | None:
    where = where_edge(src, dst)
    n_before = len(problems)
    values = _values("edge", attrs, where, None, problems)
    s, d = nodes.get(src), nodes.get(dst)
    # Kinds and sizes are read leniently, so an edge is checked even when a node has
    # other problems: the user sees every problem at once.
    k_src, k_dst = _lenient(G, src, "kind"), _lenient(G, dst, "kind")
    if k_dst == "input":
        problems.append(Problem(where, f"input node {dst!r} cannot receive edges; "
                                "input nodes are channels fed from outside", "edge-into-input"))
    if k_src == "output":
        problems.append(Problem(where, f"output node {src!r} cannot send edges; "
                                "output nodes are linear readouts", "edge-out-of-output"))
    if k_src == "input" and k_dst == "output":
        problems.append(Problem(where, "an input cannot project straight to an output; "
                                "route it through a recurrent region", "input-to-output"))
    n_src, n_dst = _lenient(G, src, "size"), _lenient(G, dst, "size")
    if values.get("rule") == "one_to_one" and None not in (n_src, n_dst) and n_src != n_dst:
        problems.append(Problem(
            where, f"rule 'one_to_one' needs equal sizes; {src!r} has {n_src} units, "
            f"{dst!r} has {n_dst}", "one-to-one-sizes"))
    if values.get("rule") == "one_to_one" and src == dst and values.get("autapses") is False:
        problems.append(Problem(
            where, "rule 'one_to_one' on a self-edge connects each unit to itself, which "
            "autapses=False forbids", "one-to-one-autapses",
            hint="drop autapses=False, or use another rule"))
    ei = values.get("ei")
    if ei is not None and s is not None and d is not None:
        _check_ei(list(ei), s, d, where, problems)
    if len(problems) > n_before:
        return None
    sparsity = values.get("sparsity")
    if values.get("density") is not None:
        sparsity = 1.0 - float(values["density"])
    return EdgeSpec(
        src=src, dst=dst,
        sparsity=float(sparsity or 0.0),
        rule=values.get("rule") or "bernoulli",
        zero=bool(values.get("zero") or False),
        ei=None if values.get("ei") is None else tuple(values["ei"]),
        autapses=True if values.get("autapses") is None else bool(values["autapses"]),
        trainable=True if values.get("trainable") is None else bool(values["trainable"]),
        gain=1.0 if values.get("gain") is None else float(values["gain"]),
    )


_TYPE_WORD = {"E": "excitatory", "I": "inhibitory"}


def _check_ei(ei: list[str], s: NodeSpec, d: NodeSpec, where: str,
              problems: list[Problem]) -> None:
    if not s.typed:
        problems.append(Problem(
            where, f"'ei' selects E/I sub-pathways but source {s.name!r} has no E/I types "
            "(no 'sign' or 'exc_frac')", "ei-untyped-source",
            hint="give the source a sign or exc_frac, or drop 'ei'"))
        return
    for entry in ei:
        if entry[0] not in s.types:
            problems.append(Problem(
                where, f"sub-pathway {entry!r} cannot exist: source {s.name!r} has no "
                f"{_TYPE_WORD[entry[0]]} units", "ei-impossible"))
        if len(entry) == 2:
            if d.kind == "output" or not d.typed:
                what = "an output" if d.kind == "output" else "an unconstrained region"
                problems.append(Problem(
                    where, f"two-letter entry {entry!r} needs a target with E/I types, but "
                    f"{d.name!r} is {what}", "ei-untyped-target",
                    hint=f"use the one-letter entry {entry[0]!r}"))
            elif entry[1] not in d.types:
                problems.append(Problem(
                    where, f"sub-pathway {entry!r} cannot exist: target {d.name!r} has no "
                    f"{_TYPE_WORD[entry[1]]} units", "ei-impossible"))


def _graph_type_problem(G: Any) -> Problem | None:
    if isinstance(G, (nx.MultiGraph, nx.MultiDiGraph)):
        return Problem("graph", f"got a {type(G).__name__}; parallel edges have no meaning "
                       "for a projection", "not-a-digraph",
                       hint="merge parallel edges and pass networkx.DiGraph(G)")
    if isinstance(G, nx.Graph) and not G.is_directed():
        return Problem("graph", f"got an undirected {type(G).__name__}; projections have a "
                       "direction (source -> destination)", "not-a-digraph",
                       hint="build a networkx.DiGraph, e.g. G.to_directed() for both directions")
    if not isinstance(G, nx.DiGraph):
        return Problem("graph", f"expected a networkx.DiGraph; got {type(G).__name__}",
                       "not-a-digraph")
    return None


def _reach_warnings(spec: Spec, problems: list[Problem]) -> None:
    live = nx.DiGraph()
    live.add_nodes_from(spec.nodes)
    live.add_edges_from((e.src, e.dst) for e in spec.edges if not e.zero)
    touched = {n for e in spec.edges for n in (e.src, e.dst)}
    for name in spec.regions:
        if name not in touched:
            problems.append(Problem(where_node(name), "region has no edges at all",
                                    "isolated", "warning"))
    for kind, find, word, fix in (
        ("input", nx.descendants, "is unreachable from any input", "add an edge from an input"),
        ("output", nx.ancestors, "has no path to any output", "add a path to an output"),
    ):
        ends = spec.names(kind)
        if not ends:
            problems.append(Problem("graph", f"the circuit has no {kind} nodes", f"no-{kind}",
                                    "warning"))
            continue
        reached = set().union(*(find(live, n) for n in ends))
        for name in spec.regions:
            if name not in reached and name in touched:
                problems.append(Problem(where_node(name), f"region {word}",
                                        f"unreachable-{kind}", "warning", hint=fix))


# --------------------------------------------------------------------------- public
def validate(G: Any, *, order: Sequence[str] | None = None) -> Report:
    """Check a circuit graph and report every problem; never raises for bad input.

    Parameters
    ----------
    G : networkx.DiGraph
        The circuit: regions are nodes, projections are edges (see :mod:`mrnngraph.schema`).
    order : sequence of str, optional
        Node order to use instead of insertion order: all nodes, or only the
        recurrent regions (inputs and outputs then keep insertion order).

    Returns
    -------
    Report
        ``report.errors`` and ``report.warnings``; ``report.spec`` when there are no errors.
    """
    problems: list[Problem] = []
    bad_type = _graph_type_problem(G)
    if bad_type is not None:
        return Report([bad_type])
    _values("graph", dict(G.graph), "graph", None, problems)

    nodes: dict[str, NodeSpec] = {}
    for name, attrs in G.nodes(data=True):
        spec = _node_spec(name, attrs, problems)
        if spec is not None:
            nodes[name] = spec
    node_names = set(G.nodes)
    for s in nodes.values():
        if s.parent is not None and s.parent in node_names:
            problems.append(Problem(where_node(s.name), f"parent {s.parent!r} is also a node "
                                    "name; group names must differ from node names",
                                    "parent-clash"))
    if not any(s.kind == "recurrent" for s in nodes.values()) and not any(
            G.nodes[n].get("kind", "recurrent") == "recurrent" for n in G.nodes):
        problems.append(Problem("graph", "the circuit has no recurrent region",
                                "no-regions"))

    edges: list[EdgeSpec] = []
    for src, dst, attrs in G.edges(data=True):
        e = _edge_spec(G, src, dst, attrs, nodes, problems)
        if e is not None:
            edges.append(e)

    ordered = list(nodes)
    if order is not None:
        ordered = _apply_order(order, G, nodes, problems)

    if any(p.level == "error" for p in problems):
        return Report(problems)
    spec = Spec(nodes={n: nodes[n] for n in ordered}, edges=tuple(edges),
                graph={k: v for k, v in G.graph.items() if v is not None})
    _reach_warnings(spec, problems)
    return Report(problems, spec)


def _apply_order(order: Iterable[str], G: Any, nodes: dict[str, NodeSpec],
                 problems: list[Problem]) -> list[str]:
    order = list(order)
    unknown = [n for n in order if n not in G]
    dup = sorted({n for n in order if order.count(n) > 1}, key=str)
    regions = [n for n, s in nodes.items() if s.kind == "recurrent"]
    if unknown or dup:
        problems.append(Problem("order", f"unknown names {unknown!r} or repeated names {dup!r}",
                                "bad-order"))
        return list(nodes)
    if set(order) == set(G.nodes):
        return [n for n in order if n in nodes]
    if set(order) == set(regions):
        it = iter(order)
        return [next(it) if s.kind == "recurrent" else n for n, s in nodes.items()]
    problems.append(Problem("order", "must list every node, or every recurrent region, once; "
                            f"missing {sorted(set(regions) - set(order), key=str)!r}",
                            "bad-order"))
    return list(nodes)


def check(G: Any, *, order: Sequence[str] | None = None) -> Spec:
    """Return the :class:`Spec` of a valid circuit; raise listing every problem otherwise.

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
    report = validate(G, order=order)
    if report.errors:
        raise GraphError(report.errors)
    for w in report.warnings:
        warnings.warn(str(w), CircuitWarning, stacklevel=3)
    return report.spec  # type: ignore[return-value]  # set whenever there are no errors
