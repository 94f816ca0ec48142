"""The checked form of a circuit: :class:`NodeSpec`, :class:`EdgeSpec`, :class:`Spec`,
and the :class:`Report` validation returns."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

from .. import schema
from ..errors import Problem, location

__all__ = ["NodeSpec", "EdgeSpec", "Spec", "Report", "sub_pathways", "where_node", "where_edge"]


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
