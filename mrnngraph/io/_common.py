"""Helpers shared by the file formats: JSON-safe values, bounded parsing, file problems."""

from __future__ import annotations

import bisect
import dataclasses
import json
import numbers
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import networkx as nx

from .._files import atomic_write
from ..errors import GraphError, Problem
from ..schema import canonical_name, normalize_sign

__all__ = [
    "FORMAT",
    "VERSION",
    "MAX_DEPTH",
    "MAX_VALUE_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_ALIAS_NODES",
    "PathLike",
    "file_problem",
    "file_error",
    "Lines",
    "json_positions",
    "json_safe",
    "attrs_safe",
    "json_text",
    "loads_json",
    "check_digraph",
    "atomic_write",
    "locate",
]

#: The ``format`` header of every file mrnngraph writes, and the layout version.
FORMAT = "mrnngraph"
VERSION = 1

#: Readers refuse a document whose lists and mappings nest deeper than this (the
#: layout itself uses 3 levels); deeper input would exhaust Python's stack.
MAX_DEPTH = 100
#: ``save`` refuses an attribute value nested deeper than this, so that every file it
#: writes stays within :data:`MAX_DEPTH` when read back.
MAX_VALUE_DEPTH = 90
#: Integers with more decimal digits cannot be read back by Python (``int`` refuses
#: to parse them, see :func:`sys.get_int_max_str_digits`).
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS
#: YAML aliases may add at most this many nodes to a document once expanded (or as
#: many as the file writes, if that is more).
MAX_ALIAS_NODES = 10_000
# save: how many items the repeats of shared parts (``[x] * 9`` nested) may add to a
# value written out in full.
_MAX_SHARED_ITEMS = 100 * MAX_ALIAS_NODES

PathLike = str | os.PathLike


def file_problem(
    path: Any,
    message: str,
    code: str = "bad-file",
    *,
    line: int | None = None,
    hint: str | None = None,
    **place: Any,
) -> Problem:
    """A problem located in file ``path`` (and ``line``); ``place`` gives ``node=``,
    ``edge=``, ``attribute=`` or ``subject=`` (what in the file it belongs to)."""
    return Problem(message=message, code=code, hint=hint, file=str(path), line=line, **place)


def file_error(
    path: Any,
    message: str,
    *,
    line: int | None = None,
    code: str = "bad-file",
    hint: str | None = None,
) -> GraphError:
    """A :class:`GraphError` with one problem located in ``path`` (and ``line``)."""
    return GraphError(
        [file_problem(path, message, code, line=line, hint=hint)],
        header=f"cannot read or write {str(path)!r}",
    )


class _Converter:
    """One value to plain JSON types, refusing cycles, excess depth and blow-ups.

    Containers met twice (shared, not cyclic) are converted once; the items that
    sharing adds to the written value are counted against a bound, so a value of
    exponential expanded size is refused instead of written forever.
    """

    def __init__(
        self,
        place: Mapping[str, Any],
        problems: list[Problem],
        prefix: str = "",
        attribute: str | None = None,
    ):
        self.place = place
        self.prefix = prefix
        self.attribute = attribute
        self.problems = problems
        self.open: set[int] = set()
        self.memo: dict[int, tuple[Any, Any, int]] = {}  # keeps the original alive
        self.shared = 0
        self.failed = False

    def fail(self, message: str) -> None:
        if not self.failed:  # one problem per value is enough to name it
            self.problems.append(
                Problem(
                    **self.place,
                    message=self.prefix + message,
                    code="not-serialisable",
                    attribute=self.attribute,
                )
            )
        self.failed = True

    def convert(self, value: Any, depth: int) -> tuple[Any, int]:
        """``(plain value, number of items it holds)``."""
        if value is None or isinstance(value, bool):
            return value, 1
        if isinstance(value, str):
            return str.__str__(value), 1  # a plain str, also from numpy.str_
        if isinstance(value, numbers.Integral):
            v = int(value)
            if -_INT_LIMIT < v < _INT_LIMIT:
                return v, 1
            self.fail(
                f"an integer with more than {MAX_INT_DIGITS} digits cannot be read back from a file"
            )
            return None, 1
        if isinstance(value, (numbers.Real, Decimal)):
            try:
                return float(value), 1
            except (OverflowError, ValueError):
                self.fail(f"{value!r} does not fit in a float")
                return None, 1
        if type(value).__name__ == "bool_":  # numpy.bool_ is not a bool subclass
            return bool(value), 1
        if isinstance(value, (list, tuple, Mapping)) or (
            hasattr(value, "tolist") and callable(value.tolist)
        ):
            key = id(value)
            if key in self.open:
                self.fail("the value contains itself; files hold trees")
                return None, 1
            if key in self.memo:
                _, out, size = self.memo[key]
                self.shared += size
                if self.shared > _MAX_SHARED_ITEMS:
                    self.fail(
                        f"the value repeats shared parts more than {_MAX_SHARED_ITEMS} "
                        "times over; written out in full it would not end"
                    )
                    return None, 1
                return out, size
            if depth >= MAX_VALUE_DEPTH:
                self.fail(f"the value nests lists or mappings deeper than {MAX_VALUE_DEPTH} levels")
                return None, 1
            self.open.add(key)
            try:
                out, size = self._container(value, depth)
            finally:
                self.open.discard(key)
            self.memo[key] = (value, out, size)
            return out, size
        self.fail(
            f"value {value!r} of type {type(value).__name__} cannot be saved (files "
            "hold numbers, strings, booleans, lists and mappings)"
        )
        return None, 1

    def _container(self, value: Any, depth: int) -> tuple[Any, int]:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            size = 1
            for k, v in value.items():
                if not isinstance(k, str):
                    self.fail(
                        f"mapping key {k!r} is not a string; files can only store string keys"
                    )
                    continue
                out[str.__str__(k)], n = self.convert(v, depth + 1)
                size += n
            return out, size
        if not isinstance(value, (list, tuple)):  # numpy arrays and scalars, tensors
            plain = value.tolist()
            if not isinstance(plain, list):
                return self.convert(plain, depth)
            value = plain
        items = []
        size = 1
        for v in value:
            x, n = self.convert(v, depth + 1)
            items.append(x)
            size += n
        return items, size


def json_safe(
    value: Any,
    place: Mapping[str, Any],
    problems: list[Problem],
    *,
    prefix: str = "",
    attribute: str | None = None,
) -> Any:
    """``value`` with tuples as lists and numpy/torch numbers and arrays as Python ones.

    Strings come back as plain ``str`` (also from ``numpy.str_``), fractions and
    decimals as floats. Anything that has no JSON form or could not be read back
    (sets, arbitrary objects, non-string mapping keys, integers of more than
    :data:`MAX_INT_DIGITS` digits, a value containing itself or nested deeper than
    :data:`MAX_VALUE_DEPTH`) adds a problem at ``place`` (the location fields of a
    :class:`Problem`: ``{"node": n}``, ``{"edge": (u, v)}``, ``{"subject": "graph"}``)
    about ``attribute``, whose message starts with ``prefix``, and comes back as ``None``.
    """
    out, _ = _Converter(place, problems, prefix, attribute).convert(value, 0)
    return out


def attrs_safe(
    attrs: Mapping[Any, Any], scope: str, place: Mapping[str, Any], problems: list[Problem]
) -> dict[str, Any]:
    """The attributes of a node, an edge or the graph as a file holds them.

    Each problem is at ``place`` (see :func:`json_safe`) and names the attribute. A
    ``sign`` spelt with a number type that a file cannot keep (a numpy number, a float,
    a fraction) is written as the schema's canonical ``"exc"``/``"inh"``/``None``, so it
    means the same when read.
    """
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if not isinstance(k, str):
            problems.append(
                Problem(
                    **place,
                    message=f"attribute name {k!r} is not a string; "
                    "files can only store string names",
                    code="not-serialisable",
                )
            )
            continue
        name = str.__str__(k)
        if (
            scope == "node"
            and canonical_name("node", name) == "sign"
            and not (v is None or isinstance(v, str) or type(v) is int)
        ):
            try:
                v = normalize_sign(v)
            except ValueError:
                pass  # an invalid sign is written as it is; validation names it
        out[name] = json_safe(v, place, problems, prefix=f"attribute {name!r}: ", attribute=name)
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(
    value: Any,
    *,
    indent: int | None = None,
    allow_nan: bool = False,
    escape: re.Pattern[str] = _SURROGATE,
) -> str:
    """``json.dumps`` keeping non-ASCII text readable, with unencodable characters escaped.

    Lone surrogates (and whatever else ``escape`` matches) are written as ``\\uXXXX``:
    outside its strings JSON text is ASCII, so every match is inside a string.
    """
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=allow_nan)
    return escape.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_too_deep(text: str) -> int | None:
    """The offset where ``text`` nests deeper than :data:`MAX_DEPTH`, or ``None``."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    stripped = _JSON_STRING.sub(lambda m: " " * (m.end() - m.start()), text)
    depth = 0
    for m in _JSON_BRACKET.finditer(stripped):
        if m.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return m.start()
        else:
            depth -= 1
    return None


def loads_json(text: str, where: Any, *, line_offset: int = 0, **kwargs: Any) -> Any:
    """``json.loads`` bounded in depth and digits; every failure is a GraphError.

    ``where`` names the place (a file path); ``kwargs`` go to :func:`json.loads`.
    """

    def error(message: str, line: int | None, code: str) -> GraphError:
        return GraphError(
            [file_problem(where, message, code, line=line)], header=f"cannot read {str(where)!r}"
        )

    offset = _json_too_deep(text)
    if offset is not None:
        raise error(
            f"lists and mappings nest deeper than {MAX_DEPTH} levels",
            text.count("\n", 0, offset) + 1 + line_offset,
            "too-deep",
        )
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError as err:
        raise error(
            f"JSON syntax error: {err.msg} (column {err.colno})",
            err.lineno + line_offset,
            "syntax-error",
        ) from None
    except ValueError as err:  # an integer of more digits than int() parses
        m = re.search(rf"\d{{{MAX_INT_DIGITS + 1},}}", text)
        line = text.count("\n", 0, m.start()) + 1 + line_offset if m else None
        raise error(f"cannot read a number: {err}", line, "bad-value") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise error("nested too deeply", None, "too-deep") from None


def check_digraph(G: Any) -> None:
    """Raise TypeError unless ``G`` is a (non-multi) networkx DiGraph."""
    if not isinstance(G, nx.DiGraph) or isinstance(G, nx.MultiDiGraph):
        raise TypeError(f"expected a networkx.DiGraph; got {type(G).__name__}")


class Lines:
    """Where a file sets each node, edge and attribute: 1-based lines, recorded by the
    readers and looked up by the structured fields of a :class:`Problem`.

    >>> lines = Lines()
    >>> lines.node("ctx", 2, {"size": 3})
    >>> lines.graph({"dt": 1})
    >>> lines.line_of(Problem(message="bad", node="ctx", attribute="size"))
    3
    >>> lines.line_of(Problem(message="bad", node="ctx", attribute="tau"))  # not in the file
    2
    >>> lines.line_of(Problem("graph", "bad", attribute="dt"))
    1
    """

    def __init__(self) -> None:
        self._at: dict[tuple, int] = {}

    def _set(self, key: tuple, line: int | None, attrs: Mapping[Any, int] | None) -> None:
        if line is not None:
            self._at[key] = line
        for name, n in (attrs or {}).items():
            if isinstance(name, str):
                self._at[(*key, name)] = n

    def node(self, name: Any, line: int | None, attrs: Mapping[Any, int] | None = None) -> None:
        """Node ``name`` starts on ``line``; ``attrs`` maps its attribute names to lines."""
        self._set(("node", name), line, attrs)

    def edge(
        self, src: Any, dst: Any, line: int | None, attrs: Mapping[Any, int] | None = None
    ) -> None:
        """Edge ``(src, dst)`` starts on ``line``; ``attrs`` as for :meth:`node`."""
        self._set(("edge", (src, dst)), line, attrs)

    def graph(self, attrs: Mapping[Any, int]) -> None:
        """The lines of the graph's attributes."""
        self._set(("graph",), None, attrs)

    def line_of(self, problem: Problem) -> int | None:
        """The line of the attribute, else of the node or edge, that ``problem`` names."""
        if problem.edge is not None:
            key: tuple = ("edge", tuple(problem.edge))
        elif problem.node is not None:
            key = ("node", problem.node)
        elif problem.attribute is not None:
            key = ("graph",)
        else:
            return None
        try:
            if problem.attribute is not None and (*key, problem.attribute) in self._at:
                return self._at[(*key, problem.attribute)]
            return self._at.get(key)
        except TypeError:  # an unhashable name cannot be in a file
            return None


def locate(problems: list[Problem], path: Any, lines: Lines | None = None) -> list[Problem]:
    """Each problem with ``file=path`` and, where ``lines`` knows its node, edge or
    attribute, ``line=``.

    A problem of no node or edge is the graph's: it keeps saying so (``"file 'c.yaml',
    line 2: graph: ..."``) rather than reading as a problem of the file itself.
    """
    out = []
    for p in problems:
        line = lines.line_of(p) if lines is not None else None
        graph = p.node is None and p.edge is None and p.subject is None
        out.append(
            dataclasses.replace(
                p, file=str(path), line=line, subject="graph" if graph else p.subject
            )
        )
    return out


_DECODER = json.JSONDecoder()
_JSON_SCALAR = re.compile(r"[^\s,:\[\]{}\"]+")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def json_positions(text: str, depth: int | None = None) -> Any:
    """The JSON document ``text`` with the line of each value: an object as a dict of
    ``key -> (line, value)``, an array as a list of ``(line, value)``, other values as
    :func:`json.loads` reads them.

    Values nested ``depth`` levels deep (the top is level 0) are read whole, without
    lines, by the C decoder: a file's lines are wanted down to its attributes, not
    inside their values. ``text`` must be a document :func:`loads_json` has accepted
    (so its nesting is bounded). Used only to locate problems, after reading.

    >>> json_positions('{"a": 1,\\n "b": [true,\\n null]}')
    {'a': (1, 1), 'b': (2, [(2, True), (3, None)])}
    >>> json_positions('{"a": 1,\\n "b": [true,\\n null]}', depth=1)
    {'a': (1, 1), 'b': (2, [True, None])}
    """
    breaks = [m.start() for m in re.finditer("\n", text)]

    def line(pos: int) -> int:
        return bisect.bisect_left(breaks, pos) + 1

    def space(pos: int) -> int:
        return _JSON_SPACE.match(text, pos).end()  # type: ignore[union-attr]

    def value(pos: int, level: int) -> tuple[Any, int]:
        if depth is not None and level >= depth:
            return _DECODER.raw_decode(text, pos)
        c = text[pos]
        if c == "{":
            out: dict[str, Any] = {}
            pos = space(pos + 1)
            if text[pos] == "}":
                return out, pos + 1
            while True:
                m = _JSON_STRING.match(text, pos)
                key = json.loads(m.group())  # type: ignore[union-attr]
                pos = space(space(m.end()) + 1)  # type: ignore[union-attr]
                at = line(pos)
                out[key], pos = value(pos, level + 1)
                out[key] = (at, out[key])
                pos = space(pos)
                if text[pos] == "}":
                    return out, pos + 1
                pos = space(pos + 1)
        if c == "[":
            items: list[Any] = []
            pos = space(pos + 1)
            if text[pos] == "]":
                return items, pos + 1
            while True:
                at = line(pos)
                x, pos = value(pos, level + 1)
                items.append((at, x))
                pos = space(pos)
                if text[pos] == "]":
                    return items, pos + 1
                pos = space(pos + 1)
        m = (_JSON_STRING if c == '"' else _JSON_SCALAR).match(text, pos)
        return json.loads(m.group()), m.end()  # type: ignore[union-attr]

    return value(space(0), 0)[0]
