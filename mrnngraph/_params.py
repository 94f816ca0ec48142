"""Function arguments checked one way, on the schema's constraint objects.

scikit-learn's ``validate_params`` is the model: each public function states what its
arguments must be, as data, and one helper turns a wrong value into

- ``TypeError`` when the value is not of the kind asked for (a string for a number,
  a float for an integer, an int for a bool), and
- ``ValueError`` when it is of that kind but out of range (``steps=0``, ``lr=nan``,
  ``method="fast"``),

both worded ``"<name> must be <what>; got <value>"``. The constraints are the ones
graph attributes use (:class:`~mrnngraph.schema.Interval`,
:class:`~mrnngraph.schema.Options`, :class:`~mrnngraph.schema.Boolean`, ...), so an
argument and an attribute that mean the same thing are checked by the same object;
:class:`InstanceOf` and :class:`Optional` cover what graphs never hold (a generator,
a module, "or None").

>>> check("steps", 10, STEPS)
10
>>> check("steps", 2.5, STEPS)
Traceback (most recent call last):
...
TypeError: steps must be an integer >= 1; got 2.5
>>> check("lr", float("nan"), POSITIVE)
Traceback (most recent call last):
...
ValueError: lr must be a float > 0; got nan
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import short_repr
from .schema import Boolean, Interval, Invalid, Options, Text, _Constraint, _unwrap

__all__ = [
    "check",
    "validate_params",
    "InstanceOf",
    "Optional",
    "STEPS",
    "COUNT",
    "POSITIVE",
    "NON_NEGATIVE",
    "PROBABILITY",
    "FINITE",
    "SEED",
]

F = TypeVar("F", bound=Callable[..., Any])

#: An integer >= 1 (steps, batch sizes, folds, components).
STEPS = Interval(1, math.inf, integer=True)
#: An integer >= 0 (counts that may be zero: warm-up steps, random lesions).
COUNT = Interval(0, math.inf, integer=True)
#: A finite float > 0 (learning rates, time steps, time constants).
POSITIVE = Interval(0.0, math.inf, closed=(False, False))
#: A finite float >= 0 (noise levels, regulariser weights).
NON_NEGATIVE = Interval(0.0, math.inf, closed=(True, False))
#: A float in [0, 1].
PROBABILITY = Interval(0.0, 1.0)
#: Any integer (seeds: torch.Generator.manual_seed takes negative ones too).
SEED = Interval(integer=True)


@dataclass(frozen=True)
class _Finite(Interval):
    def describe(self) -> str:
        return "a finite float"


#: Any finite float.
FINITE = _Finite(-math.inf, math.inf, closed=(False, False))


@dataclass(frozen=True)
class InstanceOf(_Constraint):
    """An instance of one of ``types`` (never converted)."""

    types: tuple[type, ...]
    what: str = ""

    def describe(self) -> str:
        return self.what or " or ".join(t.__name__ for t in self.types)

    def _convert(self, value: Any, size: int | None) -> Any:
        if isinstance(value, self.types):
            return value
        raise Invalid(f"must be {self.describe()}")

    def convert(self, value: Any, *, size: int | None = None) -> Any:
        return self._convert(value, size)  # not unwrapped: a 0-d tensor stays a tensor


@dataclass(frozen=True)
class Optional(_Constraint):
    """``None``, or what ``inner`` accepts."""

    inner: _Constraint

    def describe(self) -> str:
        return f"{self.inner.describe()} or None"

    def convert(self, value: Any, *, size: int | None = None) -> Any:
        if value is None:
            return None
        try:
            return self.inner.convert(value, size=size)
        except Invalid:
            raise Invalid(f"must be {self.describe()}") from None


def _kind_is_wrong(constraint: _Constraint, value: Any) -> bool:
    """True where ``value`` is not even of the kind ``constraint`` asks for (TypeError)."""
    if isinstance(constraint, Optional):
        return value is not None and _kind_is_wrong(constraint.inner, value)
    if isinstance(constraint, InstanceOf):
        return not isinstance(value, constraint.types)
    v = _unwrap(value)
    if isinstance(constraint, Interval):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return True
        return constraint.integer and not isinstance(v, numbers.Integral)
    if isinstance(constraint, Boolean):
        return not isinstance(v, bool)
    if isinstance(constraint, Text):
        return not isinstance(v, str)
    if isinstance(constraint, Options):
        kinds = {type(o) for o in constraint.values if o is not None}
        return not any(isinstance(v, k) for k in kinds) and not (
            v is None and None in constraint.values
        )
    return False


def check(name: str, value: Any, constraint: _Constraint) -> Any:
    """The canonical value of argument ``name``, or a ``TypeError``/``ValueError``.

    Parameters
    ----------
    name : str
        The argument as the caller wrote it (``"steps"``, ``"train(lr=...)"``).
    value : Any
        What was passed.
    constraint : schema constraint, InstanceOf or Optional
        What it must be.

    Returns
    -------
    Any
        ``constraint.convert(value)``: an ``int`` for integer intervals, a ``float``
        for the others, the canonical option, the value itself for ``InstanceOf``.
    """
    try:
        if _kind_is_wrong(constraint, value):  # e.g. 2.0, which is not a step count
            raise Invalid(f"must be {constraint.describe()}")
        return constraint.convert(value)
    except Invalid as err:
        kind = TypeError if _kind_is_wrong(constraint, value) else ValueError
        got = type(value).__name__ if kind is TypeError and not _plain(value) else None
        shown = f"a {got}" if got else short_repr(value)
        raise kind(f"{name} {err}; got {shown}") from None


def _plain(value: Any) -> bool:
    """Whether ``repr(value)`` is short and says what it is (numbers, strings, None)."""
    return value is None or isinstance(value, (bool, int, float, str))


def validate_params(constraints: dict[str, _Constraint]) -> Callable[[F], F]:
    """Decorator: check the named arguments of every call before the body runs.

    Arguments left at their default are not checked (a default is trusted), so the
    check costs one ``inspect.Signature.bind`` per call and nothing else.

    >>> @validate_params({"steps": STEPS})
    ... def run(steps=1):
    ...     return steps
    >>> run(steps="3")
    Traceback (most recent call last):
    ...
    TypeError: steps must be an integer >= 1; got '3'
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:  # a programming error in this package, caught at import
            raise TypeError(f"{fn.__qualname__} has no arguments {sorted(unknown)}")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            for name, value in bound.arguments.items():
                constraint = constraints.get(name)
                if constraint is not None:
                    bound.arguments[name] = check(name, value, constraint)
            return fn(*bound.args, **bound.kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
