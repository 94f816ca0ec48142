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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import networkx as nx

from . import schema
from .errors import CircuitWarning, GraphError, Problem

__all__ = [
    "NodeSpec", "EdgeSpec", "Spec", "Report", "validate", "check", "where_node", "where_edge",
    "MemoryEstimate", "estimate_memory", "available_memory", "MAX_ELEMENTS", "MEMORY_LIMIT_ENV",
]


def where_node(name: Any) -> str:
    return f"node {schema.short_repr(name)}"


def where_edge(src: Any, dst: Any) -> str:
    return f"edge ({schema.short_repr(src)}, {schema.short_repr(dst)})"


def _at_node(name: Any) -> dict[str, Any]:
    """The location fields of a problem of node ``name``."""
    return {"where": where_node(name), "node": name}


def _at_edge(src: Any, dst: Any) -> dict[str, Any]:
    return {"where": where_edge(src, dst), "edge": (src, dst)}


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
            try:
                return int(self.size * self.exc_frac)
            except OverflowError:  # a size beyond float range; it will not compile anyway
                return math.floor(Fraction(self.size) * Fraction(self.exc_frac))
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
def _values(scope: schema.Scope, attrs: dict, loc: dict[str, Any], kind: str | None,
            problems: list[Problem], size: int | None = None) -> dict[str, Any]:
    """Check one attribute dict; return the valid values, converted to their canonical
    Python types (see :mod:`mrnngraph.schema`), under canonical names."""
    given: dict[str, Any] = {}
    spelled: dict[str, Any] = {}
    for key, value in attrs.items():
        name = schema.canonical_name(scope, key) if isinstance(key, str) else None
        attribute = key if isinstance(key, str) else None
        shown = schema.short_repr(key)
        if name is None:
            guess = schema.did_you_mean(scope, key)
            problems.append(Problem(
                **loc, message=f"unknown attribute {shown}", code="unknown-attribute",
                attribute=attribute,
                hint=f"did you mean {guess!r}?" if guess else
                f"known {scope} attributes: {', '.join(schema.attributes(scope))}"))
            continue
        if name in spelled:
            problems.append(Problem(
                **loc, message=f"{spelled[name]!r} and {shown} are the same attribute; "
                "give one", code="duplicate-attribute", attribute=attribute))
            continue
        spelled[name] = key
        attr = schema.attribute(scope, name)
        if kind is not None and kind in schema.NODE_KINDS and kind not in attr.kinds:
            problems.append(Problem(
                **loc, message=f"{shown} does not apply to {kind} nodes "
                f"(only to {', '.join(attr.kinds)} nodes)", code="not-applicable",
                attribute=attribute))
            continue
        if value is None and not attr.required:
            given[name] = None
            continue
        try:
            given[name] = attr.constraint.convert(value, size=size)
        except schema.Invalid as err:
            problems.append(Problem(
                **loc, message=f"{shown} {err}; got {schema.short_repr(value)}",
                code=err.code, attribute=attribute))
    for name in list(given):
        for other in schema.attribute(scope, name).excludes:
            if other in given and given[name] is not None and given[other] is not None \
                    and name < other:
                problems.append(Problem(
                    **loc, message=f"{spelled[name]!r} and {spelled[other]!r} exclude each "
                    "other; give one", code="exclusive-attributes", attribute=spelled[name]))
    return given


def _given(values: dict[str, Any], name: str, default: Any) -> Any:
    value = values.get(name)
    return default if value is None else value


def _size(attrs: dict) -> int | None:
    """A node's size if it is given once and valid, else None."""
    found = [v for k, v in attrs.items()
             if isinstance(k, str) and schema.canonical_name("node", k) == "size"]
    if len(found) != 1:
        return None
    try:
        return schema.attribute("node", "size").constraint.convert(found[0])
    except schema.Invalid:
        return None


def _node_spec(name: Any, attrs: dict, problems: list[Problem]) -> NodeSpec | None:
    loc = _at_node(name)
    n_before = len(problems)
    if not isinstance(name, str) or not name:
        problems.append(Problem(
            **loc, message=f"node names must be non-empty strings; got {schema.short_repr(name)}",
            code="bad-node-name", hint="relabel with networkx.relabel_nodes(G, str)"))
    kind = _lenient_value(attrs, "kind")
    values = _values("node", attrs, loc, kind, problems, size=_size(attrs))
    if "size" not in values:
        if not any(isinstance(k, str) and schema.canonical_name("node", k) == "size"
                   for k in attrs):
            problems.append(Problem(**loc, message="'size' is required (number of units)",
                                    code="missing-size", attribute="size"))
    if len(problems) > n_before:
        return None
    return NodeSpec(
        name=str(name), kind=values.get("kind") or "recurrent", size=values["size"],
        sign=values.get("sign"),
        exc_frac=values.get("exc_frac"),
        base_firing=_given(values, "base_firing", 0.0),
        learnable_bias=bool(values.get("learnable_bias") or False),
        init=_given(values, "init", 0.0),
        tau=values.get("tau"),
        parent=values.get("parent"),
    )


def _lenient_value(attrs: dict, key: str) -> Any:
    """A node's kind or size if it is valid, else None (kind defaults to recurrent)."""
    found = [v for k, v in attrs.items()
             if isinstance(k, str) and schema.canonical_name("node", k) == key]
    value = found[0] if found else ("recurrent" if key == "kind" else None)
    if value is None:
        return None
    try:
        return schema.attribute("node", key).constraint.convert(value)
    except schema.Invalid:
        return None


def _lenient(G: nx.DiGraph, node: Any, key: str) -> Any:
    """A node's kind or size if it is valid, else None (kind defaults to recurrent)."""
    return _lenient_value(G.nodes[node], key)


def _edge_spec(G: nx.DiGraph, src: str, dst: str, attrs: dict, nodes: dict[str, NodeSpec],
               problems: list[Problem]) -> EdgeSpec | None:
    loc = _at_edge(src, dst)
    n_before = len(problems)
    values = _values("edge", attrs, loc, None, problems)
    s, d = nodes.get(src), nodes.get(dst)
    # Kinds and sizes are read leniently, so an edge is checked even when a node has
    # other problems: the user sees every problem at once.
    k_src, k_dst = _lenient(G, src, "kind"), _lenient(G, dst, "kind")
    n_src, n_dst = _lenient(G, src, "size"), _lenient(G, dst, "size")
    shown_src, shown_dst = schema.short_repr(src), schema.short_repr(dst)
    found = []
    if k_dst == "input":
        found.append((f"input node {shown_dst} cannot receive edges; input nodes are channels "
                      "fed from outside", "edge-into-input", None))
    if k_src == "output":
        found.append((f"output node {shown_src} cannot send edges; output nodes are linear "
                      "readouts", "edge-out-of-output", None))
    if k_src == "input" and k_dst == "output":
        found.append(("an input cannot project straight to an output; route it through a "
                      "recurrent region", "input-to-output", None))
    if values.get("rule") == "one_to_one" and None not in (n_src, n_dst) and n_src != n_dst:
        found.append((f"rule 'one_to_one' needs equal sizes; {shown_src} has {n_src} units, "
                      f"{shown_dst} has {n_dst}", "one-to-one-sizes", None))
    if values.get("rule") == "one_to_one" and src == dst and values.get("autapses") is False:
        found.append(("rule 'one_to_one' on a self-edge connects each unit to itself, which "
                      "autapses=False forbids", "one-to-one-autapses",
                      "drop autapses=False, or use another rule"))
    for message, code, hint in found:
        problems.append(Problem(**loc, message=message, code=code, hint=hint))
    ei = values.get("ei")
    if ei is not None and s is not None and d is not None:
        _check_ei(list(ei), s, d, loc, problems)
    if len(problems) > n_before:
        return None
    sparsity = values.get("sparsity")
    if values.get("density") is not None:
        sparsity = 1.0 - values["density"]
    return EdgeSpec(
        src=str(src), dst=str(dst),
        sparsity=sparsity or 0.0,
        rule=values.get("rule") or "bernoulli",
        zero=bool(values.get("zero") or False),
        ei=values.get("ei"),
        autapses=True if values.get("autapses") is None else values["autapses"],
        trainable=True if values.get("trainable") is None else values["trainable"],
        gain=1.0 if values.get("gain") is None else values["gain"],
    )


_TYPE_WORD = {"E": "excitatory", "I": "inhibitory"}


def _check_ei(ei: list[str], s: NodeSpec, d: NodeSpec, loc: dict[str, Any],
              problems: list[Problem]) -> None:
    def add(message: str, code: str, hint: str | None = None) -> None:
        problems.append(Problem(**loc, message=message, code=code, attribute="ei", hint=hint))

    if not s.typed:
        add(f"'ei' selects E/I sub-pathways but source {s.name!r} has no E/I types "
            "(no 'sign' or 'exc_frac')", "ei-untyped-source",
            "give the source a sign or exc_frac, or drop 'ei'")
        return
    for entry in ei:
        if entry[0] not in s.types:
            add(f"sub-pathway {entry!r} cannot exist: source {s.name!r} has no "
                f"{_TYPE_WORD[entry[0]]} units", "ei-impossible")
        if len(entry) == 2:
            if d.kind == "output" or not d.typed:
                what = "an output" if d.kind == "output" else "an unconstrained region"
                add(f"two-letter entry {entry!r} needs a target with E/I types, but "
                    f"{d.name!r} is {what}", "ei-untyped-target",
                    f"use the one-letter entry {entry[0]!r}")
            elif entry[1] not in d.types:
                add(f"sub-pathway {entry!r} cannot exist: target {d.name!r} has no "
                    f"{_TYPE_WORD[entry[1]]} units", "ei-impossible")


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
                                    "isolated", "warning", node=name))
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
                                        f"unreachable-{kind}", "warning", hint=fix, node=name))


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
        ``learnable_bias`` of a region; ``sign`` of an input).
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
_DRAW_BYTES = {"plain": 5, "bernoulli": 7, "fixed_indegree": 26, "fixed_outdegree": 26,
               "fixed_total": 20, "one_to_one": 20}


def _estimate(nodes: dict[str, NodeSpec], edges: Sequence[EdgeSpec],
              itemsize: int = 4, workers: int | None = None) -> MemoryEstimate:
    per_unit = {}
    for n, s in nodes.items():
        per_unit[n] = s.size * ((4 * itemsize + 1) if s.kind == "recurrent" else
                                itemsize if s.kind == "input" else 0)
    blocks, draw = {}, []
    for e in edges:
        if e.src not in nodes or e.dst not in nodes:
            continue
        n = nodes[e.dst].size * nodes[e.src].size
        blocks[(e.src, e.dst)] = n * (itemsize + 1)
        plain = e.ei is None and e.rule == "bernoulli" and (e.src != e.dst or e.autapses)
        # Weights are drawn in float32 and cast: one more block of float32 if not float32.
        draw.append(0 if e.zero else n * (_DRAW_BYTES["plain" if plain else e.rule]
                                          + 4 * (itemsize != 4)))
    workers = workers or max(1, min(len(draw), os.cpu_count() or 1))
    h = sum(s.size for s in nodes.values() if s.kind == "recurrent")
    i = sum(s.size for s in nodes.values() if s.kind == "input")
    o = sum(s.size for s in nodes.values() if s.kind == "output")
    rows = sum(nodes[e.dst].size for e in edges if e.dst in nodes and e.src in nodes)
    # Per unit: the float64 copies the per-unit vectors are built from (measured 11.4
    # bytes per unit at 10**7 units), and the unit signs of every node.
    transient = (sum(sorted(draw, reverse=True)[:workers]) + 12 * rows
                 + 8 * h + 4 * (h + i + o))
    dense = (h * h + h * i + o * h) * (itemsize + 2)
    elements = {"block": max((b // (itemsize + 1) for b in blocks.values()), default=0),
                "per-unit": max(h, i, o), "dense": h * h}
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
        problems.append(Problem(
            "environment", f"{MEMORY_LIMIT_ENV} must be a number of bytes (K, M, G, T suffixes "
            f"allowed) or 'none'; got {schema.short_repr(env)}", "bad-memory-limit"))
    return available_memory()


def _count(n: int) -> str:
    """An int of any size for a message: ``"1,000"``, ``"1.18e+21"``."""
    if n < 10**15:
        return f"{n:,}"
    e = math.floor(math.log10(n))
    return f"{n / 10**e:.2f}e+{e}"


def _show_bytes(n: int) -> str:
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30),
                        ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit} ({_count(n)} bytes)" if n < 2**70 else \
                f"{_count(n)} bytes"
    return f"{n:,} bytes"


def _check_memory(nodes: dict[str, NodeSpec], edges: Sequence[EdgeSpec],
                  limit: float | None, source: str, problems: list[Problem]) -> None:
    """Problems for circuits no machine (or not this one) can compile, before allocating."""
    # Tensors torch cannot index at all, whatever the memory: a block, or a per-unit
    # vector of one node kind.
    too_many = False
    for e in edges:
        if e.src in nodes and e.dst in nodes:
            n = nodes[e.dst].size * nodes[e.src].size
            if n > MAX_ELEMENTS:
                too_many = True
                problems.append(Problem(
                    **_at_edge(e.src, e.dst), message=f"the projection has {_count(n)} "
                    f"entries ({_count(nodes[e.dst].size)} x {_count(nodes[e.src].size)} "
                    "units); torch cannot "
                    "index more than 2**63 - 1 in one tensor", code="too-many-elements"))
    for kind in schema.NODE_KINDS:
        members = [s for s in nodes.values() if s.kind == kind]
        total = sum(s.size for s in members)
        if total > MAX_ELEMENTS:
            too_many = True
            big = [s for s in members if s.size > MAX_ELEMENTS]
            loc = _at_node(big[0].name) if len(big) == 1 else {"where": "graph"}
            names = ", ".join(repr(s.name) for s in members[:8])
            problems.append(Problem(
                **loc, message=f"{_count(total)} {kind} units in all ({names}); torch cannot "
                "index "
                "more than 2**63 - 1 in one tensor", code="too-many-elements",
                attribute="size" if len(big) == 1 else None))
    if too_many or limit is None or limit == math.inf:
        return
    est = _estimate(nodes, edges)
    if est.total <= limit:
        return
    parts = [(b, f"projection ({k[0]!r}, {k[1]!r}), "
              f"{_count(nodes[k[1]].size * nodes[k[0]].size)} entries", _at_edge(*k))
             for k, b in est.blocks.items()]
    parts += [(b, f"per-unit vectors of {n!r}, {_count(nodes[n].size)} units", _at_node(n))
              for n, b in est.per_unit.items()]
    parts.sort(key=lambda p: -p[0])
    top = "; ".join(f"{what}: {_show_bytes(b)}" for b, what, _ in parts[:3])
    # Name the node or edge responsible where one holds most of what is kept; the graph
    # otherwise.
    kept = est.total - est.transient
    loc = parts[0][2] if parts and 2 * parts[0][0] >= kept else {"where": "graph"}
    problems.append(Problem(
        **loc, message=f"compiling needs about {_show_bytes(est.total)}, more than "
        f"{_show_bytes(int(limit))}, {source}; largest: {top}",
        code="too-much-memory",
        hint=f"make regions or dense projections smaller, or raise the limit with "
        f"{MEMORY_LIMIT_ENV} (bytes, or 'none') or validate(..., memory_limit=)"))


# --------------------------------------------------------------------------- public
def validate(G: Any, *, order: Sequence[str] | None = None,
             memory_limit: float | None = None) -> Report:
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
    graph = _values("graph", dict(G.graph), {"where": "graph"}, None, problems)

    nodes: dict[str, NodeSpec] = {}
    for name, attrs in G.nodes(data=True):
        spec = _node_spec(name, attrs, problems)
        if spec is not None:
            nodes[spec.name] = spec
    node_names = set(G.nodes)
    for s in nodes.values():
        if s.parent is not None and s.parent in node_names:
            problems.append(Problem(**_at_node(s.name), message=f"parent {s.parent!r} is also "
                                    "a node name; group names must differ from node names",
                                    code="parent-clash", attribute="parent"))
    if not any(_lenient_value(attrs, "kind") == "recurrent" for _, attrs in G.nodes(data=True)):
        problems.append(Problem("graph", "the circuit has no recurrent region",
                                "no-regions"))

    edges: list[EdgeSpec] = []
    for src, dst, attrs in G.edges(data=True):
        e = _edge_spec(G, src, dst, attrs, nodes, problems)
        if e is not None:
            edges.append(e)

    if memory_limit is not None and (isinstance(memory_limit, bool) or not isinstance(
            memory_limit, (int, float)) or not memory_limit >= 0):
        problems.append(Problem("memory_limit", "must be a number of bytes >= 0 or math.inf; "
                                f"got {schema.short_repr(memory_limit)}", "bad-memory-limit"))
    else:
        limit, source = _memory_limit(memory_limit, problems)
        _check_memory(nodes, edges, limit, source, problems)

    ordered = list(nodes)
    if order is not None:
        ordered = _apply_order(order, G, nodes, problems)

    if any(p.level == "error" for p in problems):
        return Report(problems)
    spec = Spec(nodes={n: nodes[n] for n in ordered}, edges=tuple(edges),
                graph={k: v for k, v in graph.items() if v is not None})
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


def check(G: Any, *, order: Sequence[str] | None = None,
          memory_limit: float | None = None) -> Spec:
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
