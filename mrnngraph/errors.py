"""The one exception family of mrnngraph.

Every exception the package defines derives from :class:`MrnngraphError` (as networkx's
derive from ``NetworkXException``), and each also from the built-in exception it refines,
so ``except ValueError`` keeps working:

- :class:`GraphError` (``ValueError``): an invalid circuit, listing every :class:`Problem`;
- ``TrainingDiverged`` (``FloatingPointError``, in :mod:`mrnngraph.train`): a training run
  whose loss, gradients or weights stopped being finite.

Warnings derive from :class:`MrnngraphWarning` (a ``UserWarning``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MrnngraphError", "MrnngraphWarning", "Problem", "GraphError", "CircuitWarning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or worth knowing about) a circuit.

    Attributes
    ----------
    where : str
        What it belongs to: ``"graph"``, ``"node 'ctx'"``, ``"edge ('ctx', 'str')"``,
        or a file name.
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

    The structured fields are optional and keyword-only in spirit: ``where`` stays the
    text shown to people, these are for programs (``[p for p in err.problems if
    p.attribute == "tau"]``).
    """

    where: str
    message: str
    code: str = "error"
    level: Literal["error", "warning"] = "error"
    hint: str | None = None
    node: Any = None
    edge: tuple[Any, Any] | None = None
    attribute: str | None = None
    file: str | None = None
    line: int | None = None

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
    >>> err = GraphError([Problem("node 'a'", "'size' is required")])
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
