"""Lenient reading of a declared circuit graph, for drawing.

Drawing must work on a graph that does not validate yet: every attribute is read
through :mod:`mrnngraph.schema` (aliases resolved, signs normalised), anything that
cannot be understood falls back to "unconstrained"/"unknown", and the node or edge
is flagged so the drawing can mark it. Nothing here raises for bad attribute values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .. import schema

__all__ = ["NodeLook", "EdgeLook", "CircuitLook", "read_graph", "edge_text", "node_text",
           "check_edge_labels",
           "CATEGORIES", "HEADS"]

#: Node categories, in the order the legend lists them.
CATEGORIES = ("input", "excitatory", "inhibitory", "mixed", "unconstrained", "output")
#: Arrowhead kinds, named after the E/I type of the units that actually project.
HEADS = ("exc", "inh", "mixed", "free")


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
                n_exc = int(self.size * self.exc_frac)
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


def _canonical(scope: schema.Scope, attrs: Any) -> tuple[dict[str, Any], bool]:
    """Attributes under canonical names; ``bad`` if any name is unknown or given twice."""
    out: dict[str, Any] = {}
    bad = False
    if not isinstance(attrs, dict):
        return out, True
    for key, value in attrs.items():
        name = schema.canonical_name(scope, key) if isinstance(key, str) else None
        if name is None or name in out:
            bad = True
            continue
        out[name] = value
    return out, bad


def _ok(scope: schema.Scope, name: str, value: Any) -> bool:
    try:
        return schema.attribute(scope, name).constraint.check(value) is None
    except Exception:  # a user value whose comparison itself fails (odd array types)
        return False


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _read_pos(value: Any) -> tuple[float, float] | None:
    try:
        x, y = value
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def _read_node(name: Any, attrs: Any) -> NodeLook:
    a, bad = _canonical("node", attrs)
    kind = a.get("kind", "recurrent")
    if kind not in schema.NODE_KINDS:
        bad, kind = True, "recurrent"
    size = a.get("size")
    if size is not None and _ok("node", "size", size):
        size = int(size)
    else:
        bad, size = True, None
    sign = None
    if a.get("sign") is not None:
        try:
            sign = schema.normalize_sign(a["sign"])
        except ValueError:
            bad = True
    exc_frac = a.get("exc_frac")
    if exc_frac is not None:
        if _ok("node", "exc_frac", exc_frac):
            exc_frac = float(exc_frac)
        else:
            bad, exc_frac = True, None
    if exc_frac is not None and sign is not None:
        bad = True  # they exclude each other; the drawing shows the mixed form
        sign = None
    parent = a.get("parent")
    if parent is not None and not (isinstance(parent, str) and parent):
        bad, parent = True, None
    label = a.get("label")
    text = str(name) if label is None or label == "" else str(label)
    return NodeLook(name=name, kind=kind, size=size, sign=sign, exc_frac=exc_frac,
                    parent=parent, label=text, color=a.get("color"),
                    pos=_read_pos(a.get("pos")) if a.get("pos") is not None else None,
                    invalid=bad)


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


def _read_edge(u: Any, v: Any, attrs: Any, nodes: dict[Any, NodeLook]) -> EdgeLook:
    a, bad = _canonical("edge", attrs)
    density: float | None = 1.0 - float(schema.attribute("edge", "sparsity").default)
    if a.get("density") is not None and a.get("sparsity") is not None:
        bad = True
    if a.get("density") is not None:
        density = float(a["density"]) if _ok("edge", "density", a["density"]) else None
    elif a.get("sparsity") is not None:
        density = 1.0 - float(a["sparsity"]) if _ok("edge", "sparsity", a["sparsity"]) else None
    bad = bad or density is None
    flags = {}
    for key in ("zero", "trainable"):
        value = a.get(key, schema.attribute("edge", key).default)
        if value is None:
            value = schema.attribute("edge", key).default
        if not _is_bool(value):
            bad, value = True, schema.attribute("edge", key).default
        flags[key] = bool(value)
    ei = a.get("ei")
    if ei is not None:
        if _ok("edge", "ei", ei):
            ei = tuple(ei)
        else:
            bad, ei = True, None
    label = a.get("label")
    return EdgeLook(src=u, dst=v, density=density, zero=flags["zero"],
                    trainable=flags["trainable"], ei=ei,
                    label=None if label is None or label == "" else str(label),
                    color=a.get("color"), head=_head(nodes.get(u), ei), invalid=bad,
                    attrs=dict(attrs) if isinstance(attrs, Mapping) else {})


def _flag_problems(G: Any, look: CircuitLook) -> None:
    """Mark the nodes and edges that :func:`mrnngraph.validate` reports errors for."""
    from ..validate import validate, where_edge, where_node

    try:
        # Without a memory limit: a picture of the declaration must not depend on the
        # memory this machine has free, and a circuit too large to compile here is
        # still drawn as valid.
        report = validate(G, memory_limit=math.inf)
    # The drawing of a broken circuit must never fail because checking it did.
    except Exception:
        return
    wheres = {p.where for p in report.errors}
    for name, node in look.nodes.items():
        node.invalid = node.invalid or where_node(name) in wheres
    for e in look.edges:
        e.invalid = e.invalid or where_edge(e.src, e.dst) in wheres


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
    nodes = {n: _read_node(n, d) for n, d in G.nodes(data=True)}
    edges: list[EdgeLook] = []
    seen: set[tuple[Any, Any]] = set()
    for u, v, d in G.edges(data=True):
        if (u, v) in seen:  # parallel edges of a multigraph: one arrow, flagged
            for e in edges:
                if (e.src, e.dst) == (u, v):
                    e.invalid = True
            continue
        seen.add((u, v))
        edges.append(_read_edge(u, v, d, nodes))
    groups: dict[str, list[Any]] = {}
    for n, look in nodes.items():
        if look.parent is not None:
            groups.setdefault(look.parent, []).append(n)
    name = G.graph.get("name") if isinstance(G.graph.get("name"), str) else None
    out = CircuitLook(nodes=nodes, edges=edges, groups=groups, name=name)
    _flag_problems(G, out)
    return out


_EDGE_LABEL_CHOICES = ("label", "density", "ei")


def check_edge_labels(spec: Any) -> None:
    """Raise ``ValueError`` for an ``edge_labels`` value :func:`edge_text` cannot use."""
    if spec is None or isinstance(spec, bool) or isinstance(spec, Mapping) or callable(spec):
        return
    if isinstance(spec, str) and spec in _EDGE_LABEL_CHOICES:
        return
    raise ValueError("edge_labels must be 'label', 'density', 'ei', a bool, a dict or a "
                     f"callable; got {spec!r}")


def edge_text(e: EdgeLook, attrs: Any, spec: Any) -> str | None:
    """The text shown on an edge for an ``edge_labels`` choice (see :func:`draw`).

    >>> e = EdgeLook("a", "b", 0.25, False, True, ("EE",), "ff", None, "exc")
    >>> edge_text(e, {}, "density"), edge_text(e, {}, "ei"), edge_text(e, {}, True)
    ('0.25', 'EE', 'ff\\nd=0.25 EE')
    """
    if spec is None or spec is False:
        return None
    text: Any
    if isinstance(spec, Mapping):
        text = spec.get((e.src, e.dst))
    elif callable(spec):
        text = spec(e.src, e.dst, dict(attrs) if isinstance(attrs, Mapping) else {})
    elif spec is True:
        facts = " ".join(p for p in ("" if e.density is None else f"d={e.density:.2g}",
                                     ",".join(e.ei) if e.ei else "") if p)
        text = "\n".join(p for p in (e.label or "", facts) if p)
    elif spec == "label":
        text = e.label
    elif spec == "density":
        text = None if e.density is None else f"{e.density:.2g}"
    elif spec == "ei":
        text = ",".join(e.ei) if e.ei else None
    else:
        check_edge_labels(spec)
        text = None
    return str(text) if text else None


def node_text(v: NodeLook, show_sizes: bool) -> str:
    if not show_sizes:
        return v.label
    size = "?" if v.size is None else f"{v.size}"
    if v.category == "mixed" and v.exc_frac is not None:
        size += f" ({round(100 * v.exc_frac)}% E)"
    return f"{v.label}\n{size}"
