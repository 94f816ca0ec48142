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

import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import networkx as nx

from . import schema
from .errors import CircuitWarning, GraphError, Problem, location

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


def where_node(name: Any) -> str:
    """Deprecated: ``Problem(..., node=name).where`` (:func:`mrnngraph.errors.location`)."""
    warnings.warn(
        "where_node is deprecated; give Problem a node= and read .where, or use "
        "mrnngraph.errors.location(node=...)",
        DeprecationWarning,
        stacklevel=2,
    )
    return location(node=name)


def where_edge(src: Any, dst: Any) -> str:
    """Deprecated: ``Problem(..., edge=(src, dst)).where``."""
    warnings.warn(
        "where_edge is deprecated; give Problem an edge= and read .where, or use "
        "mrnngraph.errors.location(edge=...)",
        DeprecationWarning,
        stacklevel=2,
    )
    return location(edge=(src, dst))


def _at_node(name: Any) -> dict[str, Any]:
    """The location fields of a problem of node ``name``."""
    return {"node": name}


def _at_edge(src: Any, dst: Any) -> dict[str, Any]:
    return {"edge": (src, dst)}


def _default(scope: schema.Scope, name: str) -> Any:
    """A spec field whose default is the schema's (the spec fields are schema attributes:
    a field that is not fails here, at import)."""
    return field(default=schema.default(scope, name))


@dataclass(frozen=True)
class NodeSpec:
    """One checked node with every attribute filled in (canonical names only)."""

    name: str
    kind: str
    size: int
    sign: str | None = _default("node", "sign")
    exc_frac: float | None = _default("node", "exc_frac")
    base_firing: float | tuple[float, ...] = _default("node", "base_firing")
    learnable_bias: bool = _default("node", "learnable_bias")
    init: float | tuple[float, ...] = _default("node", "init")
    tau: float | tuple[float, ...] | None = _default("node", "tau")
    parent: str | None = _default("node", "parent")
    learn_tau: bool = _default("node", "learn_tau")
    tau_min: float | None = _default("node", "tau_min")
    tau_max: float | None = _default("node", "tau_max")

    @classmethod
    def from_reading(cls, name: Any, reading: schema.Reading) -> NodeSpec:
        """The spec of a node whose :func:`mrnngraph.schema.read` found no problem."""
        v = reading.values
        return cls(name=str(name), **{f.name: v[f.name] for f in fields(cls) if f.name != "name"})

    @property
    def n_exc(self) -> int:
        """Number of excitatory units (they come first inside the region)."""
        if self.exc_frac is not None:
            return schema.n_excitatory(self.size, self.exc_frac)
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
    """One checked projection (``density`` already turned into ``sparsity``).

    ``sparsity`` and ``gain`` are a float, or a dict from the edge's E/I sub-pathways
    to floats (:meth:`sparsity_of`, :meth:`gain_of` read one sub-pathway's value).
    """

    src: str
    dst: str
    sparsity: float | dict[str, float] = _default("edge", "sparsity")
    rule: str = _default("edge", "rule")
    zero: bool = _default("edge", "zero")
    ei: tuple[str, ...] | None = _default("edge", "ei")
    autapses: bool = _default("edge", "autapses")
    trainable: bool = _default("edge", "trainable")
    gain: float | dict[str, float] = _default("edge", "gain")
    delay: float = _default("edge", "delay")

    @classmethod
    def from_reading(cls, src: Any, dst: Any, reading: schema.Reading) -> EdgeSpec:
        """The spec of an edge whose reading found no problem (``density`` becomes
        ``sparsity``)."""
        v = dict(reading.values)
        density = v.get("density")
        if isinstance(density, dict):
            v["sparsity"] = {k: 1.0 - d for k, d in density.items()}
        elif density is not None:
            v["sparsity"] = 1.0 - density
        return cls(
            src=str(src),
            dst=str(dst),
            **{f.name: v[f.name] for f in fields(cls) if f.name not in ("src", "dst")},
        )

    @property
    def density(self) -> float | dict[str, float]:
        """``1 - sparsity`` (per sub-pathway where ``sparsity`` is a mapping)."""
        if isinstance(self.sparsity, dict):
            return {k: 1.0 - v for k, v in self.sparsity.items()}
        return 1.0 - self.sparsity

    @property
    def per_sub_pathway(self) -> bool:
        """Whether ``sparsity`` or ``gain`` is given per sub-pathway."""
        return isinstance(self.sparsity, dict) or isinstance(self.gain, dict)

    def sparsity_of(self, entry: str) -> float:
        """The sparsity of sub-pathway ``entry`` (``"EE"``, ..., ``"E"``, ``"I"``)."""
        return _value_of(self.sparsity, entry, "sparsity")

    def gain_of(self, entry: str) -> float:
        """The gain of sub-pathway ``entry`` (1 where a mapping does not name it)."""
        return _value_of(self.gain, entry, "gain")

    def sub_pathways(self, s: NodeSpec, d: NodeSpec) -> tuple[str, ...]:
        """The sub-pathways of this edge between ``s`` and ``d``: its ``ei`` entries, or,
        without ``ei``, every one their E/I types allow (:func:`sub_pathways`)."""
        return self.ei if self.ei is not None else sub_pathways(s, d)


def _value_of(value: float | dict[str, float], entry: str, name: str) -> float:
    if isinstance(value, dict):
        found = value.get(entry)
        return schema.default("edge", name) if found is None else found
    return value


def sub_pathways(s: NodeSpec, d: NodeSpec) -> tuple[str, ...]:
    """Every E/I sub-pathway from ``s`` to ``d``, in ``EE, EI, IE, II`` order: two-letter
    where the target has E/I types, one-letter (``E``, ``I``) onto an output or an
    unconstrained region; none from a source without E/I types.

    >>> sub_pathways(NodeSpec("a", "recurrent", 10, exc_frac=0.8), NodeSpec("b", "output", 2))
    ('E', 'I')
    """
    src = [t for t in ("E", "I") if t in s.types]
    if d.kind == "output" or not d.typed:
        return tuple(src)
    return tuple(a + b for a in src for b in ("E", "I") if b in d.types)


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
    #: What the schema read of each node, edge (by ``(src, dst)``) and the graph, also
    #: for a graph with errors (drawing shows those): see :func:`mrnngraph.schema.read`.
    nodes: dict[Any, schema.Reading] = field(default_factory=dict, repr=False)
    edges: dict[tuple[Any, Any], schema.Reading] = field(default_factory=dict, repr=False)
    graph: schema.Reading | None = field(default=None, repr=False)

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


# --------------------------------------------------------------------------- memory
#: torch indexes a tensor with a signed 64-bit count of elements.
MAX_ELEMENTS = 2**63 - 1
#: Environment variable overriding the memory limit of validation (bytes, with an
#: optional K/M/G/T suffix in powers of 1024, or "none" for no limit).
MEMORY_LIMIT_ENV = "MRNNGRAPH_MEMORY_LIMIT"


@dataclass(frozen=True)
class MemoryEstimate:
    """What compiling a circuit allocates, in bytes, counted from the sizes alone.

    Attributes
    ----------
    blocks : dict of (src, dst) to int
        Each projection's block: weights (``itemsize`` bytes each) and bool mask,
        ``size(dst) * size(src)`` entries (zero edges included: they are stored too).
    per_unit : dict of str to int
        Each node's per-unit vectors (``sign``, ``bias``, ``x0``, ``tau``,
        ``learnable_bias`` of a region, and ``learn_tau``, ``tau_min``, ``tau_max``
        where any region learns its time constants; ``sign`` of an input).
    transient : int
        The working memory of compiling on top of the result: the drawing threads'
        buffers for the largest blocks, the per-row synapse counts, float64 copies of
        the per-unit vectors.
    dense : int
        The dense ``[H, H]``, ``[H, I]`` and ``[O, H]`` weight, mask and trainable
        matrices (``circuit.weight_hh`` and friends, dense model execution): not
        allocated by ``compile``, reported for those who need them.
    elements : dict of str to int
        The element count of the largest tensor of each kind (``"block"``,
        ``"per-unit"``, ``"dense"``).
    """

    blocks: dict[tuple[str, str], int]
    per_unit: dict[str, int]
    transient: int
    dense: int
    elements: dict[str, int]

    @property
    def total(self) -> int:
        """Bytes compiling needs at its peak, about: blocks, per-unit vectors, working memory."""
        return sum(self.blocks.values()) + sum(self.per_unit.values()) + self.transient


# Bytes per entry of a projection's working buffers while its mask is drawn, by case
# (see compile.py): the plain Bernoulli case draws into a float32 scratch buffer; the
# others build a candidate matrix, uniform keys and, for fixed counts, int64 sort
# orders and ranks (or indices and a permutation). Rounded up from peak resident
# memory measured on 4,096-unit blocks (the plain case 4.6, fixed in-degree 25.5).
_DRAW_BYTES = {
    "plain": 5,
    "bernoulli": 7,
    "fixed_indegree": 26,
    "fixed_outdegree": 26,
    "fixed_total": 20,
    "one_to_one": 20,
}


def _estimate(
    nodes: dict[str, NodeSpec],
    edges: Sequence[EdgeSpec],
    itemsize: int = 4,
    workers: int | None = None,
) -> MemoryEstimate:
    per_unit = {}
    # learn_tau, tau_min and tau_max are compiled only where some region learns its tau.
    learned = any(s.learn_tau for s in nodes.values() if s.kind == "recurrent")
    per_recurrent = 4 * itemsize + 1 + (2 * itemsize + 1 if learned else 0)
    for n, s in nodes.items():
        per_unit[n] = s.size * (
            per_recurrent if s.kind == "recurrent" else itemsize if s.kind == "input" else 0
        )
    blocks, draw = {}, []
    for e in edges:
        if e.src not in nodes or e.dst not in nodes:
            continue
        n = nodes[e.dst].size * nodes[e.src].size
        blocks[(e.src, e.dst)] = n * (itemsize + 1)
        plain = (
            e.ei is None
            and not isinstance(e.sparsity, dict)
            and e.rule == "bernoulli"
            and (e.src != e.dst or e.autapses)
        )
        # Weights are drawn in float32 and cast: one more block of float32 if not float32.
        draw.append(
            0 if e.zero else n * (_DRAW_BYTES["plain" if plain else e.rule] + 4 * (itemsize != 4))
        )
    workers = workers or max(1, min(len(draw), os.cpu_count() or 1))
    h = sum(s.size for s in nodes.values() if s.kind == "recurrent")
    i = sum(s.size for s in nodes.values() if s.kind == "input")
    o = sum(s.size for s in nodes.values() if s.kind == "output")
    rows = sum(nodes[e.dst].size for e in edges if e.dst in nodes and e.src in nodes)
    # Per unit: the float64 copies the per-unit vectors are built from (measured 11.4
    # bytes per unit at 10**7 units), and the unit signs of every node.
    transient = sum(sorted(draw, reverse=True)[:workers]) + 12 * rows + 8 * h + 4 * (h + i + o)
    dense = (h * h + h * i + o * h) * (itemsize + 2)
    elements = {
        "block": max((b // (itemsize + 1) for b in blocks.values()), default=0),
        "per-unit": max(h, i, o),
        "dense": h * h,
    }
    return MemoryEstimate(blocks, per_unit, transient, dense, elements)


def estimate_memory(spec: Spec, *, itemsize: int = 4) -> MemoryEstimate:
    """Estimate what compiling ``spec`` allocates, without allocating anything.

    Parameters
    ----------
    spec : Spec
        A checked circuit (:func:`check`).
    itemsize : int
        Bytes per weight: 4 for float32 (the default dtype), 8 for float64.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.DiGraph()
    >>> G.add_node("a", size=1000)
    >>> G.add_edge("a", "a")
    >>> est = estimate_memory(check(G))
    >>> est.blocks[("a", "a")], est.per_unit["a"]
    (5000000, 17000)
    """
    return _estimate(spec.nodes, spec.edges, itemsize)


def _parse_bytes(text: str) -> float | None:
    """Bytes from ``"123"``, ``"1.5G"``, ``"64MiB"`` (K/M/G/T are powers of 1024); inf for
    ``"none"``; None if unreadable."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t in ("none", "inf", "off", "unlimited"):
        return math.inf
    scale = 1
    if t[-1:] in "kmgt" and t:
        scale = 1024 ** ("kmgt".index(t[-1]) + 1)
        t = t[:-1]
    try:
        value = float(t) * scale
    except ValueError:
        return None
    return value if value >= 0 and not math.isnan(value) else None


def _read_int(path: str, key: str | None = None) -> int | None:
    """An integer from a small text file (``key`` picks a ``key: value kB`` line)."""
    try:
        with open(path) as f:
            text = f.read(65536)
    except OSError:
        return None
    if key is None:
        return int(text) if text.strip().isdigit() else None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * (1024 if line.endswith("kB") else 1)
    return None


def available_memory() -> tuple[int | None, str]:
    """Bytes this process could still allocate, and where the figure comes from.

    The smallest of: ``MemAvailable`` (/proc/meminfo), the cgroup's ``memory.max`` less
    ``memory.current``, and ``RLIMIT_AS`` less the process's address space; else
    ``os.sysconf`` available pages; ``(None, ...)`` where none of them can be read.
    Reads a few small files: cheap enough for every validation.
    """
    found: list[tuple[int, str]] = []
    avail = _read_int("/proc/meminfo", "MemAvailable")
    if avail is not None:
        found.append((avail, "the memory available (MemAvailable in /proc/meminfo)"))
    cg_max = _read_int("/sys/fs/cgroup/memory.max")
    cg_cur = _read_int("/sys/fs/cgroup/memory.current")
    if cg_max is not None and cg_cur is not None:
        found.append((max(0, cg_max - cg_cur), "what the cgroup's memory.max leaves"))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            used = _read_int("/proc/self/status", "VmSize") or 0
            found.append((max(0, soft - used), "what the process's RLIMIT_AS leaves"))
    except (ImportError, OSError, ValueError):
        pass
    if not found:
        try:
            pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            found.append((pages, "the memory available (os.sysconf('SC_AVPHYS_PAGES'))"))
        except (ValueError, OSError, AttributeError):
            return None, "unknown"
    return min(found)


def _memory_limit(arg: float | None, problems: list[Problem]) -> tuple[float | None, str]:
    if arg is not None:
        return float(arg), "the memory_limit= given"
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env is not None:
        value = _parse_bytes(env)
        if value is not None:
            return value, f"the {MEMORY_LIMIT_ENV} set"
        problems.append(
            Problem(
                subject="environment",
                message=f"{MEMORY_LIMIT_ENV} must be a number of bytes "
                f"(K, M, G, T suffixes allowed) or 'none'; got {schema.short_repr(env)}",
                code="bad-memory-limit",
            )
        )
    return available_memory()


def _count(n: int) -> str:
    """An int of any size for a message: ``"1,000"``, ``"1.18e+21"``."""
    if n < 10**15:
        return f"{n:,}"
    e = math.floor(math.log10(n))
    return f"{n / 10**e:.2f}e+{e}"


def _show_bytes(n: int) -> str:
    for unit, scale in (
        ("EiB", 2**60),
        ("PiB", 2**50),
        ("TiB", 2**40),
        ("GiB", 2**30),
        ("MiB", 2**20),
        ("KiB", 2**10),
    ):
        if n >= scale:
            return (
                f"{n / scale:,.1f} {unit} ({_count(n)} bytes)"
                if n < 2**70
                else f"{_count(n)} bytes"
            )
    return f"{n:,} bytes"


def _check_memory(
    nodes: dict[str, NodeSpec],
    edges: Sequence[EdgeSpec],
    limit: float | None,
    source: str,
    problems: list[Problem],
) -> None:
    """Problems for circuits no machine (or not this one) can compile, before allocating."""
    # Tensors torch cannot index at all, whatever the memory: a block, or a per-unit
    # vector of one node kind.
    too_many = False
    for e in edges:
        if e.src in nodes and e.dst in nodes:
            n = nodes[e.dst].size * nodes[e.src].size
            if n > MAX_ELEMENTS:
                too_many = True
                problems.append(
                    Problem(
                        **_at_edge(e.src, e.dst),
                        message=f"the projection has {_count(n)} "
                        f"entries ({_count(nodes[e.dst].size)} x {_count(nodes[e.src].size)} "
                        "units); torch cannot "
                        "index more than 2**63 - 1 in one tensor",
                        code="too-many-elements",
                    )
                )
    for kind in schema.NODE_KINDS:
        members = [s for s in nodes.values() if s.kind == kind]
        total = sum(s.size for s in members)
        if total > MAX_ELEMENTS:
            too_many = True
            big = [s for s in members if s.size > MAX_ELEMENTS]
            loc = _at_node(big[0].name) if len(big) == 1 else {"subject": "graph"}
            names = ", ".join(repr(s.name) for s in members[:8])
            problems.append(
                Problem(
                    **loc,
                    message=f"{_count(total)} {kind} units in all ({names}); torch cannot "
                    "index "
                    "more than 2**63 - 1 in one tensor",
                    code="too-many-elements",
                    attribute="size" if len(big) == 1 else None,
                )
            )
    if too_many or limit is None or limit == math.inf:
        return
    est = _estimate(nodes, edges)
    if est.total <= limit:
        return
    parts = [
        (
            b,
            f"projection ({k[0]!r}, {k[1]!r}), "
            f"{_count(nodes[k[1]].size * nodes[k[0]].size)} entries",
            _at_edge(*k),
        )
        for k, b in est.blocks.items()
    ]
    parts += [
        (b, f"per-unit vectors of {n!r}, {_count(nodes[n].size)} units", _at_node(n))
        for n, b in est.per_unit.items()
    ]
    parts.sort(key=lambda p: -p[0])
    top = "; ".join(f"{what}: {_show_bytes(b)}" for b, what, _ in parts[:3])
    # Name the node or edge responsible where one holds most of what is kept; the graph
    # otherwise.
    kept = est.total - est.transient
    loc = parts[0][2] if parts and 2 * parts[0][0] >= kept else {"subject": "graph"}
    problems.append(
        Problem(
            **loc,
            message=f"compiling needs about {_show_bytes(est.total)}, more than "
            f"{_show_bytes(int(limit))}, {source}; largest: {top}",
            code="too-much-memory",
            hint=f"make regions or dense projections smaller, or raise the limit with "
            f"{MEMORY_LIMIT_ENV} (bytes, or 'none') or validate(..., memory_limit=)",
        )
    )


# --------------------------------------------------------------------------- public
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
