"""The one exception family of mrnngraph.

Every exception the package defines derives from :class:`MrnngraphError` (as networkx's
derive from ``NetworkXException``), and each also from the built-in exception it refines,
so ``except ValueError`` keeps working:

- :class:`GraphError` (``ValueError``): an invalid circuit, listing every :class:`Problem`;
- ``TrainingDiverged`` (``FloatingPointError``, in :mod:`mrnngraph.training`): a training run
  whose loss, gradients or weights stopped being finite.

``TrainingInterrupted`` (Ctrl-C inside ``train``) stays a plain ``KeyboardInterrupt``, so
that ``except Exception`` never swallows an interrupt.

Warnings derive from :class:`MrnngraphWarning` (a ``UserWarning``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "MrnngraphError",
    "MrnngraphWarning",
    "Problem",
    "GraphError",
    "CircuitWarning",
    "location",
    "short_repr",
]


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message: at most ``limit`` characters, never raising.

    >>> short_repr(10**400)
    '1000000000000000000000000000000000000000000000000000000000000000000000... (401 chars)'
    """
    try:
        text = repr(value)
    except Exception:  # a broken __repr__, or an int over Python's digit limit
        bits = value.bit_length() if isinstance(value, int) else None
        return f"an int of {bits} bits" if bits else f"a {type(value).__name__}"
    if len(text) > limit:
        return f"{text[: limit - 10]}... ({len(text)} chars)"
    return text


def location(
    *,
    node: Any = None,
    edge: tuple[Any, Any] | None = None,
    subject: str | None = None,
    file: Any = None,
    line: int | None = None,
) -> str:
    """How a problem names its place: the one formatter of locations.

    ``"node 'ctx'"``, ``"edge ('ctx', 'str')"``, ``subject`` (``"graph"``, an argument
    name) otherwise, prefixed by ``"file 'c.yaml', line 3"`` where a file is known.

    Examples
    --------
    >>> location(node="ctx"), location(edge=("ctx", "str"))
    ("node 'ctx'", "edge ('ctx', 'str')")
    >>> location(file="c.yaml", line=3, node="a"), location(file="c.yaml")
    ("file 'c.yaml', line 3: node 'a'", "file 'c.yaml'")
    """
    if subject is not None:
        what = subject
    elif node is not None:
        what = f"node {short_repr(node)}"
    elif edge is not None:
        what = f"edge ({short_repr(edge[0])}, {short_repr(edge[1])})"
    else:
        what = None if file is not None else "graph"
    if file is None:
        return what or "graph"
    place = f"file {str(file)!r}" + (f", line {line}" if line else "")
    return f"{place}: {what}" if what else place


@dataclass(frozen=True, init=False)
class Problem:
    """One thing wrong with (or worth knowing about) a circuit.

    The place is given in fields (``Problem(message="'size' is required", node="a",
    code="missing-size")``) and :attr:`where`, the text people read, is derived from
    them by :func:`location`, the one formatter. A positional ``where`` string
    (``Problem("graph", "no regions", "no-regions")``) is still accepted: it becomes
    :attr:`subject`, what the problem belongs to when no node or edge does.

    Attributes
    ----------
    where : str
        What it belongs to, as shown to people: ``"graph"``, ``"node 'ctx'"``,
        ``"edge ('ctx', 'str')"``, prefixed by ``"file 'c.yaml', line 3: "`` where a
        file is known. Derived from the fields below (read-only).
    message : str
        The rule and the offending value.
    code : str
        A stable short identifier (``"unknown-attribute"``, ``"bad-value"``, ...).
    level : {"error", "warning"}
    hint : str or None
        How to fix it, where there is an obvious way.
    node : str or None
        The node it belongs to, where it belongs to one.
    edge : tuple of (source, destination) or None
        The edge it belongs to, where it belongs to one.
    attribute : str or None
        The attribute at fault, as the user spelled it.
    file : str or None
        The file it was read from.
    line : int or None
        The line of ``file`` (1-based), where known.
    subject : str or None
        What it belongs to when that is neither a node nor an edge (``"graph"``,
        ``"order"``, an argument name); the ``where`` string given positionally.

    Examples
    --------
    >>> p = Problem(message="'size' is required", node="a", code="missing-size")
    >>> p.where, str(p)
    ("node 'a'", "node 'a': 'size' is required")
    >>> str(Problem(message="bad", edge=("a", "b"), file="c.yaml", line=3))
    "file 'c.yaml', line 3: edge ('a', 'b'): bad"
    """

    message: str
    code: str
    level: Literal["error", "warning"]
    hint: str | None
    node: Any
    edge: tuple[Any, Any] | None
    attribute: str | None
    file: str | None
    line: int | None
    subject: str | None

    def __init__(
        self,
        where: str | None = None,
        message: str | None = None,
        code: str = "error",
        level: Literal["error", "warning"] = "error",
        hint: str | None = None,
        node: Any = None,
        edge: tuple[Any, Any] | None = None,
        attribute: str | None = None,
        file: str | None = None,
        line: int | None = None,
        subject: str | None = None,
    ) -> None:
        if message is None:
            raise TypeError("Problem() needs a message")
        if where is not None and subject is not None and where != subject:
            raise TypeError("give where or subject, not both")
        subject = where if subject is None else subject
        for name, value in (
            ("message", message),
            ("code", code),
            ("level", level),
            ("hint", hint),
            ("node", node),
            ("edge", None if edge is None else tuple(edge)),
            ("attribute", attribute),
            ("file", file),
            ("line", line),
            ("subject", subject),
        ):
            object.__setattr__(self, name, value)

    @property
    def where(self) -> str:
        return location(
            node=self.node, edge=self.edge, subject=self.subject, file=self.file, line=self.line
        )

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class MrnngraphError(Exception):
    """Base class of every exception mrnngraph defines."""


class MrnngraphWarning(UserWarning):
    """Base class of every warning mrnngraph issues."""


class GraphError(MrnngraphError, ValueError):
    """A circuit (graph or file) is invalid; ``.problems`` lists every problem found.

    Examples
    --------
    >>> err = GraphError([Problem(message="'size' is required", node="a")])
    >>> print(err)
    1 problem in the circuit:
      - node 'a': 'size' is required
    """

    def __init__(self, problems: Iterable[Problem], *, header: str | None = None):
        self.problems: list[Problem] = list(problems)
        n = len(self.problems)
        head = header or f"{n} problem{'s' if n != 1 else ''} in the circuit"
        lines = [f"{head}:"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class CircuitWarning(MrnngraphWarning):
    """A circuit compiles but looks unintended (an unreachable or isolated region, say)."""
