"""Lenient reading of a declared circuit graph, for drawing.

Drawing must work on a graph that does not validate yet. The graph is validated
once; the drawing reads what validation read (:attr:`mrnngraph.validation.Report.nodes`
and ``.edges``: :func:`mrnngraph.schema.read` of each, aliases resolved, values
converted, defaults filled), anything that could not be understood falls back to its
default ("unconstrained", density unknown), and a node or edge that any problem
names is flagged so the drawing can mark it. Nothing here raises for bad attribute
values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .. import schema

__all__ = [
    "NodeLook",
    "EdgeLook",
    "CircuitLook",
    "read_graph",
    "edge_text",
    "node_text",
    "check_edge_labels",
    "CATEGORIES",
    "HEADS",
    "LEARNED_TAU",
    "DELAYS_IN_LABELS",
    "delays_in_labels",
    "labels_show_delays",
    "delay_text",
    "density_text",
]

#: Node categories, in the order the legend lists them.
CATEGORIES = ("input", "excitatory", "inhibitory", "mixed", "unconstrained", "output")
#: Arrowhead kinds, named after the E/I type of the units that actually project.
HEADS = ("exc", "inh", "mixed", "free")
#: The line a node's text ends with when its time constants are learned.
LEARNED_TAU = "τ learned"


@dataclass
class NodeLook:
    """What the drawing needs to know about one node (read leniently)."""

    name: Any
    kind: str
    size: int | None
    sign: str | None
    exc_frac: float | None
    parent: str | None
    label: str
    color: Any
    pos: tuple[float, float] | None
    invalid: bool = False
    learn_tau: bool = False  # its time constants are trained

    @property
    def category(self) -> str:
        if self.kind in ("input", "output"):
            return self.kind
        if self.exc_frac is not None:
            return "mixed"
        return {"exc": "excitatory", "inh": "inhibitory"}.get(self.sign or "", "unconstrained")

    @property
    def types(self) -> frozenset[str]:
        """E/I types present among the units (empty when unconstrained)."""
        if self.kind == "output":
            return frozenset()
        if self.exc_frac is not None:
            if self.size is not None:
                n_exc = schema.n_excitatory(self.size, self.exc_frac)
                n_inh = self.size - n_exc
            else:
                n_exc, n_inh = int(self.exc_frac > 0), int(self.exc_frac < 1)
            return frozenset(t for t, n in (("E", n_exc), ("I", n_inh)) if n > 0)
        return frozenset({"exc": {"E"}, "inh": {"I"}}.get(self.sign or "", set()))


@dataclass
class EdgeLook:
    """What the drawing needs to know about one edge (read leniently)."""

    src: Any
    dst: Any
    density: float | None
    zero: bool
    trainable: bool
    ei: tuple[str, ...] | None
    label: str | None
    color: Any
    head: str
    invalid: bool = False
    attrs: dict = field(default_factory=dict)  # as declared, for edge-label functions
    delay: float = 0.0  # conduction delay, ms
    #: The density of each E/I sub-pathway, where it is given per sub-pathway
    #: (``density`` then holds the share of the whole block).
    densities: dict[str, float] | None = None

    @property
    def style(self) -> str:
        """``"zero"``, ``"frozen"`` or ``"trained"`` (zero wins: it is never trained)."""
        if self.zero:
            return "zero"
        return "trained" if self.trainable else "frozen"


@dataclass
class CircuitLook:
    nodes: dict[Any, NodeLook]
    edges: list[EdgeLook]
    groups: dict[str, list[Any]]
    name: str | None


def _read_pos(value: Any) -> tuple[float, float] | None:
    try:
        x, y = value
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def _read_node(name: Any, r: schema.Reading, bad: bool) -> NodeLook:
    kind = r.lenient("kind")
    size = r.values.get("size")
    sign, exc_frac = r.lenient("sign"), r.lenient("exc_frac")
    if exc_frac is not None and sign is not None:
        sign = None  # they exclude each other (an error); the drawing shows the mixed form
    label = r.values.get("label")
    text = str(name) if label is None or label == "" else str(label)
    pos = r.values.get("pos")
    return NodeLook(
        name=name,
        kind=kind,
        size=size,
        sign=sign,
        exc_frac=exc_frac,
        parent=r.lenient("parent"),
        label=text,
        color=r.values.get("color"),
        pos=_read_pos(pos) if pos is not None else None,
        invalid=bad,
        learn_tau=kind == "recurrent" and r.lenient("learn_tau") is True,
    )


def _head(src: NodeLook | None, ei: tuple[str, ...] | None) -> str:
    types = set(src.types) if src is not None else set()
    if types and ei:
        chosen = {e[0] for e in ei} & types
        types = chosen or types  # an impossible 'ei' is flagged; show the source as it is
    if types == {"E"}:
        return "exc"
    if types == {"I"}:
        return "inh"
    return "mixed" if types else "free"


def _read_edge(
    u: Any, v: Any, attrs: Any, r: schema.Reading, bad: bool, nodes: dict[Any, NodeLook]
) -> EdgeLook:
    given: Any = None  # unknown where the value given is invalid: none drawn
    if r.values.get("density") is not None:
        given = r.values["density"]
    elif "density" not in r.invalid and "sparsity" not in r.invalid:
        sparsity = r.values["sparsity"]
        given = (
            {k: 1.0 - x for k, x in sparsity.items()}
            if isinstance(sparsity, Mapping)
            else 1.0 - sparsity
        )
    densities = dict(given) if isinstance(given, Mapping) else None
    density = _share(densities, nodes.get(u), nodes.get(v)) if densities else given
    ei = r.lenient("ei")
    label = r.values.get("label")
    return EdgeLook(
        src=u,
        dst=v,
        density=density,
        zero=r.lenient("zero"),
        trainable=r.lenient("trainable"),
        ei=ei,
        label=None if label is None or label == "" else str(label),
        color=r.values.get("color"),
        head=_head(nodes.get(u), ei),
        invalid=bad,
        attrs=dict(attrs) if isinstance(attrs, Mapping) else {},
        delay=_positive(r.lenient("delay")),
        densities=densities,
    )


def _type_counts(v: NodeLook | None) -> dict[str, int]:
    """Units of each E/I type in a node (1 each where its size is unknown)."""
    if v is None:
        return {}
    if v.size is None:
        return dict.fromkeys(v.types, 1)
    if v.exc_frac is not None:
        n_exc = schema.n_excitatory(v.size, v.exc_frac)
        return {"E": n_exc, "I": v.size - n_exc}
    return {t: v.size for t in v.types}


def _share(densities: dict[str, float], src: NodeLook | None, dst: NodeLook | None) -> float:
    """The density of a projection given per sub-pathway, over the sub-blocks it names:
    their densities weighted by their numbers of possible synapses (the plain mean where
    those are unknown). ``EE`` between areas of 80 E and 20 I units at 0.1 and ``EI`` at
    0.05 give 0.09."""
    src_n, dst_n = _type_counts(src), _type_counts(dst)
    dst_size = dst.size if dst is not None and dst.size is not None else 1
    weights = {
        k: src_n.get(k[0], 0) * (dst_n.get(k[1], 0) if len(k) == 2 else dst_size) for k in densities
    }
    total = sum(weights.values())
    if total == 0:
        return sum(densities.values()) / len(densities)
    return sum(densities[k] * w for k, w in weights.items()) / total


def _positive(value: Any) -> float:
    """``value`` as a float where it is a finite number > 0, else 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def _validated(G: Any) -> Any:
    """:func:`mrnngraph.validate` of ``G``, or ``None`` where checking it failed."""
    from ..validation import validate

    try:
        # Without a memory limit: a picture of the declaration must not depend on the
        # memory this machine has free, and a circuit too large to compile here is
        # still drawn as valid.
        return validate(G, memory_limit=math.inf)
    # The drawing of a broken circuit must never fail because checking it did.
    except Exception:
        return None


def read_graph(G: Any) -> CircuitLook:
    """Read every node and edge of ``G`` leniently.

    Raises
    ------
    TypeError
        If ``G`` is not a networkx graph.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.DiGraph()
    >>> G.add_node("a", num_units=10, sign="neg")
    >>> G.add_node("b", size="many", sign="sideways")
    >>> G.add_edge("a", "b", sparsity=0.75)
    >>> look = read_graph(G)
    >>> look.nodes["a"].category, look.nodes["b"].category, look.nodes["b"].invalid
    ('inhibitory', 'unconstrained', True)
    >>> look.edges[0].density, look.edges[0].head
    (0.25, 'inh')
    """
    if not isinstance(G, nx.Graph):
        raise TypeError(f"expected a networkx graph; got {type(G).__name__}")
    # One reading of the declaration: validation's, with the schema's reading of every
    # node and edge (kept for graphs with errors too). A graph validation refuses as a
    # whole (a multigraph, an undirected graph) is read through the schema directly.
    report = _validated(G)
    node_readings = report.nodes if report is not None else {}
    edge_readings = report.edges if report is not None else {}
    errors = report.errors if report is not None else []
    bad_nodes = {p.node for p in errors if p.node is not None}
    bad_edges = {p.edge for p in errors if p.edge is not None}
    nodes = {}
    for n, d in G.nodes(data=True):
        r = node_readings.get(n) or schema.read("node", d, node=n)
        nodes[n] = _read_node(n, r, bool(r.problems) or n in bad_nodes)
    edges: list[EdgeLook] = []
    seen: set[tuple[Any, Any]] = set()
    for u, v, d in G.edges(data=True):
        if (u, v) in seen:  # parallel edges of a multigraph: one arrow, flagged
            for e in edges:
                if (e.src, e.dst) == (u, v):
                    e.invalid = True
            continue
        seen.add((u, v))
        r = edge_readings.get((u, v)) or schema.read("edge", d, edge=(u, v))
        edges.append(_read_edge(u, v, d, r, bool(r.problems) or (u, v) in bad_edges, nodes))
    groups: dict[str, list[Any]] = {}
    for n, look in nodes.items():
        if look.parent is not None:
            groups.setdefault(look.parent, []).append(n)
    name = G.graph.get("name") if isinstance(G.graph.get("name"), str) else None
    return CircuitLook(nodes=nodes, edges=edges, groups=groups, name=name)


_EDGE_LABEL_CHOICES = ("label", "density", "ei", "delay")
#: Up to this many edges, every built-in ``edge_labels`` choice also writes the delays;
#: in larger circuits the delay marks alone show them (or ``edge_labels="delay"``).
DELAYS_IN_LABELS = 40


def delays_in_labels(look: CircuitLook) -> bool:
    """Whether the built-in edge labels of this circuit write the delays."""
    return len(look.edges) <= DELAYS_IN_LABELS


def labels_show_delays(look: CircuitLook, spec: Any) -> bool:
    """Whether the edge labels asked for by ``spec`` write the delays (in ms)."""
    if isinstance(spec, str) and spec == "delay":
        return True
    built_in = spec is True or (isinstance(spec, str) and spec in _EDGE_LABEL_CHOICES)
    return built_in and delays_in_labels(look)


def check_edge_labels(spec: Any) -> None:
    """Raise ``ValueError`` for an ``edge_labels`` value :func:`edge_text` cannot use."""
    if spec is None or isinstance(spec, bool) or isinstance(spec, Mapping) or callable(spec):
        return
    if isinstance(spec, str) and spec in _EDGE_LABEL_CHOICES:
        return
    raise ValueError(
        "edge_labels must be 'label', 'density', 'ei', 'delay', a bool, a dict or a "
        f"callable; got {spec!r}"
    )


def delay_text(e: EdgeLook) -> str:
    """``"5 ms"`` for an edge with a conduction delay, else ``""``."""
    return f"{e.delay:.3g} ms" if e.delay > 0 else ""


def density_text(e: EdgeLook) -> str:
    """The density as a label shows it: ``"0.25"``, or one line per sub-pathway
    (``"EE 0.1\\nEI 0.05"``)."""
    if e.densities:
        return "\n".join(f"{k} {v:.2g}" for k, v in e.densities.items())
    return "" if e.density is None else f"{e.density:.2g}"


def edge_text(e: EdgeLook, attrs: Any, spec: Any, *, delays: bool = True) -> str | None:
    """The text shown on an edge for an ``edge_labels`` choice (see :func:`draw`).

    With ``delays``, every built-in choice (not a dict or a function) ends with the
    edge's conduction delay, where it has one; ``"delay"`` writes only that.

    >>> e = EdgeLook("a", "b", 0.25, False, True, ("EE",), "ff", None, "exc")
    >>> edge_text(e, {}, "density"), edge_text(e, {}, "ei"), edge_text(e, {}, True)
    ('0.25', 'EE', 'ff\\nd=0.25 EE')
    >>> e.delay, e.densities = 5.0, {"EE": 0.1, "EI": 0.05}
    >>> edge_text(e, {}, "label"), edge_text(e, {}, "density")
    ('ff\\n5 ms', 'EE 0.1\\nEI 0.05\\n5 ms')
    >>> edge_text(e, {}, True)
    'ff\\nd=0.1 EE\\nd=0.05 EI\\n5 ms'
    """
    if spec is None or spec is False:
        return None
    text: Any
    if isinstance(spec, Mapping):
        text = spec.get((e.src, e.dst))
        return str(text) if text else None
    if callable(spec):
        text = spec(e.src, e.dst, dict(attrs) if isinstance(attrs, Mapping) else {})
        return str(text) if text else None
    if spec is True:
        if e.densities:  # one line per sub-pathway, which names the ei entries too
            facts = "\n".join(f"d={v:.2g} {k}" for k, v in e.densities.items())
        else:
            density = "" if e.density is None else f"d={e.density:.2g}"
            facts = " ".join(p for p in (density, ",".join(e.ei) if e.ei else "") if p)
        text = "\n".join(p for p in (e.label or "", facts) if p)
    elif spec == "label":
        text = e.label
    elif spec == "density":
        text = density_text(e)
    elif spec == "ei":
        text = ",".join(e.ei) if e.ei else None
    elif spec == "delay":
        return delay_text(e) or None
    else:
        check_edge_labels(spec)
        text = None
    if not delays:
        return str(text) if text else None
    text = "\n".join(p for p in (str(text) if text else "", delay_text(e)) if p)
    return text or None


def node_text(v: NodeLook, show_sizes: bool) -> str:
    """The text in a node: its name, its unit count (and E share) with ``show_sizes``,
    and ``"τ learned"`` where its time constants are trained (``learn_tau``)."""
    lines = [v.label]
    if show_sizes:
        size = "?" if v.size is None else f"{v.size}"
        if v.category == "mixed" and v.exc_frac is not None:
            size += f" ({round(100 * v.exc_frac)}% E)"
        lines.append(size)
    if v.learn_tau:
        lines.append(LEARNED_TAU)
    return "\n".join(lines)
