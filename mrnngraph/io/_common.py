"""Helpers shared by the file formats: JSON-safe values, atomic writes, file problems."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

import networkx as nx

from .._files import atomic_write
from ..errors import GraphError, Problem

__all__ = [
    "FORMAT",
    "VERSION",
    "PathLike",
    "where_file",
    "file_error",
    "json_safe",
    "check_digraph",
    "atomic_write",
    "locate",
]

#: The ``format`` header of every file mrnngraph writes, and the layout version.
FORMAT = "mrnngraph"
VERSION = 1

PathLike = str | os.PathLike


def where_file(path: Any, line: int | None = None) -> str:
    """``"file 'c.yaml', line 3"``: how problems name a place in a file."""
    text = f"file {str(path)!r}"
    return f"{text}, line {line}" if line else text


def file_error(path: Any, message: str, *, line: int | None = None, code: str = "bad-file",
               hint: str | None = None) -> GraphError:
    """A :class:`GraphError` with one problem located in ``path`` (and ``line``)."""
    return GraphError([Problem(where_file(path, line), message, code, hint=hint)],
                      header=f"cannot read or write {str(path)!r}")


def json_safe(value: Any, where: str, problems: list[Problem]) -> Any:
    """``value`` with tuples as lists and numpy/torch numbers and arrays as Python ones.

    Anything that has no JSON form (sets, arbitrary objects, non-string mapping
    keys) adds a problem naming ``where`` and comes back as ``None``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if type(value).__name__ == "bool_":  # numpy.bool_ is not a bool subclass
        return bool(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars, tensors
        return json_safe(value.tolist(), where, problems)
    if isinstance(value, (list, tuple)):
        return [json_safe(v, where, problems) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(Problem(where, f"mapping key {k!r} is not a string; files "
                                        "can only store string keys", "not-serialisable"))
                continue
            out[k] = json_safe(v, where, problems)
        return out
    problems.append(Problem(where, f"value {value!r} of type {type(value).__name__} cannot be "
                            "saved (files hold numbers, strings, booleans, lists and "
                            "mappings)", "not-serialisable"))
    return None


def is_finite_tree(value: Any) -> bool:
    """Whether no float inside ``value`` is NaN or infinite (JSON cannot hold those)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_finite_tree(v) for v in value)
    if isinstance(value, dict):
        return all(is_finite_tree(v) for v in value.values())
    return True


def check_digraph(G: Any) -> None:
    """Raise TypeError unless ``G`` is a (non-multi) networkx DiGraph."""
    if not isinstance(G, nx.DiGraph) or isinstance(G, nx.MultiDiGraph):
        raise TypeError(f"expected a networkx.DiGraph; got {type(G).__name__}")


def locate(problems: list[Problem], path: Any, lines: Mapping[str, int] | None = None,
           graph_lines: Mapping[str, int] | None = None) -> list[Problem]:
    """Prefix each problem's ``where`` with the file (and the line, where known).

    ``lines`` maps a problem's ``where`` (``"node 'a'"``, ``"edge ('a', 'b')"``) to a
    line; ``graph_lines`` maps graph attribute names to the line that sets them.
    """
    lines = lines or {}
    graph_lines = graph_lines or {}
    out = []
    for p in problems:
        line = lines.get(p.where)
        if not isinstance(line, int):  # "graph" maps to graph_lines, not to one line
            line = None
        if line is None and p.where == "graph":
            line = next((n for k, n in graph_lines.items() if repr(k) in p.message), None)
        out.append(Problem(f"{where_file(path, line)}: {p.where}", p.message, p.code, p.level,
                           p.hint))
    return out
