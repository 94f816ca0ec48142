"""The one reader of the vocabulary: :func:`read` turns a node's, an edge's or the
graph's attribute dict into canonical values and located problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, short_repr
from ._attributes import (
    _BY_SCOPE,
    Scope,
    attribute,
    attributes,
    canonical_name,
    default,
    did_you_mean,
)
from ._constraints import Invalid

__all__ = ["Reading", "read"]


@dataclass
class Reading:
    """What :func:`read` made of one node's, edge's or graph's attributes.

    Attributes
    ----------
    scope : {"node", "edge", "graph"}
    values : dict
        Canonical name -> canonical value, for every attribute of the scope that is
        valid or absent: absent (or ``None``) ones hold their default; required ones
        that are absent, and every invalid or inapplicable one, are left out.
    problems : list of Problem
        What is wrong, located (``node=`` or ``edge=`` set), in the order found.
    spelled : dict
        Canonical name -> the key as the user spelled it.
    invalid : set of str
        Canonical names given with a value the schema refuses, or not applicable to
        the node's kind.
    duplicated : set of str
        Canonical names given under two spellings (``values`` holds the first).
    """

    scope: Scope
    values: dict[str, Any]
    problems: list[Problem]
    spelled: dict[str, Any]
    invalid: set[str]
    duplicated: set[str] = field(default_factory=set)

    def valid(self, name: str) -> Any:
        """The value of ``name`` if given once (or absent) and valid, else ``None``."""
        return None if name in self.duplicated else self.values.get(name)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lenient(self, name: str) -> Any:
        """The value of ``name``, its default where it is invalid (``None`` for required)."""
        if name in self.values:
            return self.values[name]
        return default(self.scope, name)


def _first(scope: Scope, attrs: Any, name: str) -> list[Any]:
    return [v for k, v in attrs.items() if isinstance(k, str) and canonical_name(scope, k) == name]


def _lenient_node_value(attrs: Any, name: str) -> Any:
    """A node's kind (first given, default recurrent) or size (given once) if valid."""
    found = _first("node", attrs, name)
    if name == "size" and len(found) != 1:
        return None
    value = found[0] if found and found[0] is not None else default("node", name)
    if value is None:
        return None
    try:
        return attribute("node", name).constraint.convert(value)
    except Invalid:
        return None


def read(
    scope: Scope, attrs: Any, *, node: Any = None, edge: tuple[Any, Any] | None = None
) -> Reading:
    """Read one attribute dict: canonical names, values checked and converted by the
    constraint objects, defaults filled. Never raises for bad values.

    The one reader of the vocabulary: validation builds its specs from it and drawing
    reads graphs that do not validate yet through it.

    Parameters
    ----------
    scope : {"node", "edge", "graph"}
    attrs : mapping
        As declared (``G.nodes[n]``, ``G.edges[u, v]``, ``G.graph``).
    node, edge : optional
        Where the attributes belong; the problems are located there (the graph
        otherwise).

    Examples
    --------
    >>> r = read("node", {"num_units": 4, "sign": "pos", "tau": -1}, node="ctx")
    >>> r.values["size"], r.values["sign"], r.values["kind"], "tau" in r.values
    (4, 'exc', 'recurrent', False)
    >>> print(r.problems[0])
    node 'ctx': 'tau' must be a float in (0, 3.40282e+38]; got -1
    """
    loc: dict[str, Any] = (
        {"node": node}
        if node is not None
        else {"edge": edge}
        if edge is not None
        else {"subject": "graph"}
    )
    problems: list[Problem] = []
    if not isinstance(attrs, Mapping):
        problems.append(
            Problem(
                **loc,
                message=f"attributes must be a mapping; got {short_repr(attrs)}",
                code="bad-value",
            )
        )
        attrs = {}
    kind = size = None
    if scope == "node":
        kind = _lenient_node_value(attrs, "kind")
        size = _lenient_node_value(attrs, "size")
    given: dict[str, Any] = {}
    spelled: dict[str, Any] = {}
    invalid: set[str] = set()
    duplicated: set[str] = set()
    for key, value in attrs.items():
        name = canonical_name(scope, key) if isinstance(key, str) else None
        user = key if isinstance(key, str) else None
        shown = short_repr(key)
        if name is None:
            guess = did_you_mean(scope, key)
            problems.append(
                Problem(
                    **loc,
                    message=f"unknown attribute {shown}",
                    code="unknown-attribute",
                    attribute=user,
                    hint=f"did you mean {guess!r}?"
                    if guess
                    else f"known {scope} attributes: {', '.join(attributes(scope))}",
                )
            )
            continue
        if name in spelled:
            problems.append(
                Problem(
                    **loc,
                    message=f"{spelled[name]!r} and {shown} are the same attribute; give one",
                    code="duplicate-attribute",
                    attribute=user,
                )
            )
            duplicated.add(name)
            continue  # the first spelling's value stands
        spelled[name] = key
        attr = attribute(scope, name)
        if kind is not None and kind not in attr.kinds:
            problems.append(
                Problem(
                    **loc,
                    message=f"{shown} does not apply to {kind} nodes "
                    f"(only to {', '.join(attr.kinds)} nodes)",
                    code="not-applicable",
                    attribute=user,
                )
            )
            invalid.add(name)
            continue
        if value is None and not attr.required:
            given[name] = None
            continue
        try:
            given[name] = attr.constraint.convert(value, size=size)
        except Invalid as err:
            problems.append(
                Problem(
                    **loc,
                    message=f"{shown} {err}; got {short_repr(value)}",
                    code=err.code,
                    attribute=user,
                )
            )
            invalid.add(name)
    for name in list(given):
        for other in attribute(scope, name).excludes:
            if (
                other in given
                and given[name] is not None
                and given[other] is not None
                and name < other
            ):
                problems.append(
                    Problem(
                        **loc,
                        message=f"{spelled[name]!r} and {spelled[other]!r} exclude each "
                        "other; give one",
                        code="exclusive-attributes",
                        attribute=spelled[name],
                    )
                )
    for a in _BY_SCOPE[scope].values():
        if a.required and a.name not in spelled:
            problems.append(
                Problem(
                    **loc,
                    message=f"{a.name!r} is required ({a.doc})",
                    code=f"missing-{a.name}",
                    attribute=a.name,
                )
            )
    values = {}
    for a in _BY_SCOPE[scope].values():
        value = given.get(a.name)
        if a.name in invalid or (value is None and a.required):
            continue
        values[a.name] = a.default if value is None else value
    return Reading(scope, values, problems, spelled, invalid, duplicated)
