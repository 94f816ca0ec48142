"""Constraint objects: each checks one kind of value and converts it to its canonical type.

``constraint.convert(value)`` returns ``float``, ``int``, ``bool``, ``str``, a tuple
of them, a dict (per-sub-pathway values) or ``None``, and raises :class:`Invalid`;
``constraint.check(value)`` returns ``None`` or a phrase saying what is wrong. Every
real-number type is a number (numpy scalars, 0-d arrays and tensors, ``Fraction``,
``Decimal``, ints of any size); booleans of any type are booleans, never numbers.
The same objects check function arguments (:mod:`mrnngraph._params`).
"""

from __future__ import annotations

import decimal
import math
import numbers
import warnings
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from ..errors import short_repr

__all__ = [
    "EI_ENTRIES",
    "FLOAT32_MAX",
    "FLOAT32_TINY",
    "MAX_SEQUENCE",
    "Invalid",
    "Interval",
    "Options",
    "Boolean",
    "Text",
    "FloatOrSequence",
    "EIList",
    "PerSubPathway",
    "Anything",
    "Constraint",
]

#: The E/I sub-pathway names: source type, then target type; one letter = every target.
EI_ENTRIES = ("EE", "EI", "IE", "II", "E", "I")


#: The largest finite float32, the dtype circuits compile to by default.
FLOAT32_MAX = 3.4028234663852886e38
#: The smallest positive float32 (subnormal); anything smaller rounds to 0.
FLOAT32_TINY = 1.401298464324817e-45
#: At most this many values in one per-unit sequence (``base_firing``, ``init``).
MAX_SEQUENCE = 2**28


def _unwrap(value: Any) -> Any:
    """A 0-d array, 0-d tensor or numpy scalar as the Python scalar it holds.

    ``.item()`` turns ``numpy.float32``, ``numpy.bool_``, ``numpy.str_``, 0-d arrays
    and 0-d tensors into ``float``, ``bool``, ``str``...; everything else is returned
    unchanged (Python scalars have no ``ndim``).
    """
    if (
        getattr(value, "ndim", None) == 0
        and callable(getattr(value, "item", None))
        and not isinstance(value, (bool, int, float, str))
    ):
        return value.item()
    return value


def _as_real(value: Any) -> Any:
    """``value`` if it is a real number other than a bool (``Decimal`` included), else None."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
        return None
    return value


def _to_float(value: Any) -> float:
    """``float(value)``; ``inf`` with the sign of the value where it is too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.longdouble warns on overflow
            return float(value) + 0.0  # + 0.0: -0.0 becomes 0.0, one spelling per value
    except OverflowError:
        return math.inf if value > 0 else -math.inf


class Invalid(ValueError):
    """A value that a constraint refuses.

    ``str(err)`` is a phrase completing "'<attribute>' ...", e.g. ``"must be a bool"``;
    ``code`` is the :class:`~mrnngraph.errors.Problem` code to report it under.
    """

    def __init__(self, phrase: str, code: str = "bad-value"):
        super().__init__(phrase)
        self.code = code


class _Constraint:
    """Base of the constraint objects: ``convert`` decides, ``check`` reports.

    Subclasses implement ``_convert(value, size)`` on the unwrapped value and raise
    :class:`Invalid`; any other exception an odd value provokes (a broken ``__eq__``,
    a signalling NaN, an overflow) is reported as the value not being what
    :meth:`describe` says, so checking a value never raises anything else.
    """

    def describe(self) -> str:
        raise NotImplementedError

    def _convert(self, value: Any, size: int | None) -> Any:
        raise NotImplementedError

    def convert(self, value: Any, *, size: int | None = None) -> Any:
        """The canonical Python value of ``value`` (``float``, ``int``, ``bool``, ``str``,
        a tuple of them, or ``None``).

        Parameters
        ----------
        value : Any
            As given by the user or read from a file.
        size : int, optional
            The node's number of units, where per-unit values are checked against it.

        Raises
        ------
        Invalid
            If the value does not satisfy the constraint.
        """
        try:
            return self._convert(_unwrap(value), size)
        except Invalid:
            raise
        except Exception:
            raise Invalid(f"must be {self.describe()}") from None

    def check(self, value: Any, *, size: int | None = None) -> str | None:
        """``None`` if ``value`` is acceptable, else a phrase saying what is wrong."""
        try:
            self.convert(value, size=size)
        except Invalid as err:
            return str(err)
        return None

    def valid_examples(self) -> list[Any]:
        return []

    def invalid_examples(self) -> list[Any]:
        return []


# --------------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class Interval(_Constraint):
    """A real number in ``[lo, hi]`` (ends open where ``closed`` says so).

    Any real type is accepted (numpy scalars, 0-d arrays and tensors, ``Fraction``,
    ``Decimal``, ints of any size) and converted to ``int`` (``integer=True``) or
    ``float``; booleans are not numbers here. With ``float32=True`` the value is
    stored as float32 when compiled, so a non-zero value may not round to 0 there
    (``hi`` already keeps it from overflowing).
    """

    lo: float = -math.inf
    hi: float = math.inf
    closed: tuple[bool, bool] = (True, True)
    integer: bool = False
    float32: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a float"
        if self.lo == -math.inf and self.hi == math.inf:
            return kind
        if self.hi == math.inf:
            op = ">=" if self.closed[0] else ">"
            return f"{kind} {op} {self.lo:g}"
        left = "[" if self.closed[0] else "("
        right = "]" if self.closed[1] else ")"
        return f"{kind} in {left}{self.lo:g}, {self.hi:g}{right}"

    def _convert(self, value: Any, size: int | None) -> int | float:
        v = _as_real(value)
        bad = Invalid(f"must be {self.describe()}")
        if v is None:
            raise bad
        out: int | float
        if self.integer:
            out = int(v)  # ValueError / OverflowError for nan / inf: caught by convert
            if out != v:
                raise bad
        else:
            out = _to_float(v)
            if math.isnan(out):
                raise bad
        if not (out >= self.lo if self.closed[0] else out > self.lo):
            raise bad
        if not (out <= self.hi if self.closed[1] else out < self.hi):
            raise bad
        if self.float32 and out != 0 and abs(out) < FLOAT32_TINY / 2:
            raise Invalid(f"must be {self.describe()} and not round to 0 in float32")
        return out

    def valid_examples(self) -> list[Any]:
        lo = 1 if self.integer else 0.5
        lo = (
            max(lo, self.lo) if self.closed[0] else max(lo, self.lo + (1 if self.integer else 0.25))
        )
        return [lo if self.hi == math.inf else min(lo, self.hi)]

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["x", float("nan"), True]
        if self.lo != -math.inf:
            out.append(self.lo - 1)
        if self.hi != math.inf:
            out.append(self.hi + 0.5 if self.hi < 1e15 else self.hi * 2)
        if self.integer:
            out.append(2.5)
        if self.float32 and self.lo == 0 and not self.closed[0]:
            out.append(1e-50)
        return out


@dataclass(frozen=True)
class Options(_Constraint):
    """One of a fixed set of values (after alias mapping, where given).

    Only strings, ``None`` and real numbers (never booleans) can match; the result
    is the canonical entry of ``values``.
    """

    values: tuple[Any, ...]
    aliases: dict[Any, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def _convert(self, value: Any, size: int | None) -> Any:
        bad = Invalid(f"must be {self.describe()}")
        if not (value is None or isinstance(value, str) or _as_real(value) is not None):
            raise bad
        key = self.aliases.get(value, value)
        for v in self.values:
            if (v is None and key is None) or (
                isinstance(v, str) and isinstance(key, str) and v == key
            ):
                return v
        raise bad

    def valid_examples(self) -> list[Any]:
        return [v for v in self.values if v is not None][:2]

    def invalid_examples(self) -> list[Any]:
        return ["not-a-valid-option", 3.5, [1]]


@dataclass(frozen=True)
class Boolean(_Constraint):
    """``True`` or ``False``, of any boolean type (``numpy.bool_``, 0-d bool tensors)."""

    def describe(self) -> str:
        return "a bool"

    def _convert(self, value: Any, size: int | None) -> bool:
        if isinstance(value, bool):
            return value
        raise Invalid("must be a bool (True or False)")

    def valid_examples(self) -> list[Any]:
        return [True, False]

    def invalid_examples(self) -> list[Any]:
        return ["yes", 1, 2.0]


@dataclass(frozen=True)
class Text(_Constraint):
    def describe(self) -> str:
        return "a non-empty string"

    def _convert(self, value: Any, size: int | None) -> str:
        if isinstance(value, str) and value:
            return str(value)
        raise Invalid("must be a non-empty string")

    def valid_examples(self) -> list[Any]:
        return ["grp"]

    def invalid_examples(self) -> list[Any]:
        return ["", 3]


@dataclass(frozen=True)
class FloatOrSequence(_Constraint):
    """A float, or a sequence of floats, one per unit (``size`` of them where known).

    Each value must fit in float32 (``|v| <= FLOAT32_MAX``), and satisfy ``element``
    where one is given (e.g. ``tau``: each value a time > 0). The result is a
    ``float`` or a ``tuple`` of floats.
    """

    element: Interval | None = None

    def describe(self) -> str:
        if self.element is not None:
            e = self.element.describe()
            return f"{e}, or a sequence of them (one per unit)"
        return "a float or a sequence of floats (finite in float32)"

    def _convert(self, value: Any, size: int | None) -> float | tuple[float, ...]:
        if self.element is not None:
            return self._convert_elements(self.element, value, size)
        finite = Invalid(f"must be finite and at most {FLOAT32_MAX:g} in magnitude (float32)")
        if _as_real(value) is not None:
            f = _to_float(value)
            if not abs(f) <= FLOAT32_MAX:
                raise finite
            return f
        items = self._items(value)
        out = []
        for v in items:
            if _as_real(v) is None:
                raise Invalid("must contain only floats")
            f = _to_float(v)
            if not abs(f) <= FLOAT32_MAX:
                raise Invalid(
                    "must contain only finite floats of at most "
                    f"{FLOAT32_MAX:g} in magnitude (float32)"
                )
            out.append(f)
        if size is not None and len(out) != size:
            raise Invalid(f"has {len(out)} values but the node has size {size}", "length-mismatch")
        return tuple(out)

    def _items(self, value: Any) -> Iterator[Any]:
        """The values of a one-dimensional sequence (a list, tuple, 1-d array or tensor),
        unwrapped to Python scalars one by one; :class:`Invalid` for anything else."""
        bad = Invalid(f"must be {self.describe()}")
        if (
            isinstance(value, (str, bytes, bytearray, Mapping, Set))
            or getattr(value, "ndim", 1) != 1
        ):
            raise bad
        n = len(value)
        if n > MAX_SEQUENCE:
            raise Invalid(
                f"has {n} values; a sequence holds at most {MAX_SEQUENCE} "
                "(give one float for every unit)"
            )
        items = value.tolist() if callable(getattr(value, "tolist", None)) else value
        if not isinstance(items, Sequence):
            raise bad
        return map(_unwrap, items)

    def _convert_elements(
        self, element: Interval, value: Any, size: int | None
    ) -> float | tuple[float, ...]:
        if _as_real(value) is not None:
            return element._convert(value, None)
        items = self._items(value)
        out = []
        for i, v in enumerate(items):
            try:
                out.append(element._convert(v, None))
            except Exception:
                raise Invalid(
                    f"must contain only values that are {element.describe()}; "
                    f"value {i} is {short_repr(v)}"
                ) from None
        if size is not None and len(out) != size:
            raise Invalid(f"has {len(out)} values but the node has size {size}", "length-mismatch")
        return tuple(out)

    def valid_examples(self) -> list[Any]:
        if self.element is not None:
            return self.element.valid_examples()
        return [0.5, -1.0]

    def invalid_examples(self) -> list[Any]:
        if self.element is not None:
            return [*self.element.invalid_examples(), [1.0, -1.0], [1.0, "a"], [[1.0]], "x1"]
        return ["x", [1.0, "a"], float("inf"), 1e39, [[1.0]]]


@dataclass(frozen=True)
class EIList(_Constraint):
    """A list of distinct sub-pathway names from :data:`EI_ENTRIES` (a tuple of str)."""

    def describe(self) -> str:
        return "a list of distinct entries from " + ", ".join(repr(e) for e in EI_ENTRIES)

    def _convert(self, value: Any, size: int | None) -> tuple[str, ...]:
        if getattr(value, "ndim", 1) == 1 and callable(getattr(value, "tolist", None)):
            value = value.tolist()
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
            raise Invalid(f"must be {self.describe()} (non-empty; use zero=True for no synapses)")
        entries = [_unwrap(v) for v in value]
        bad = [v for v in entries if not (isinstance(v, str) and v in EI_ENTRIES)]
        if bad:
            raise Invalid(
                f"has unknown entries {short_repr(bad)}; allowed: {', '.join(EI_ENTRIES)}"
            )
        entries = [str(v) for v in entries]
        if len(set(entries)) != len(entries):
            raise Invalid("lists an entry twice")
        for one in ("E", "I"):
            if one in entries:
                overlap = [v for v in entries if len(v) == 2 and v[0] == one]
                if overlap:
                    raise Invalid(f"entry {one!r} already includes {overlap!r}")
        return tuple(entries)

    def valid_examples(self) -> list[Any]:
        return [["EE"], ["E", "II"]]

    def invalid_examples(self) -> list[Any]:
        return ["EE", ["XY"], ["EE", "EE"], ["E", "EI"], [], [1]]


@dataclass(frozen=True)
class PerSubPathway(_Constraint):
    """A value ``value`` accepts, or a mapping from E/I sub-pathways to such values.

    The keys are entries of :data:`EI_ENTRIES` (``"EE"``, ``"EI"``, ``"IE"``, ``"II"``,
    ``"E"``, ``"I"``), each at most once and not overlapping (``"E"`` already includes
    ``"EE"`` and ``"EI"``). The result is the scalar's canonical value or a ``dict``
    from ``str`` keys (in :data:`EI_ENTRIES` order) to them. Whether the keys are
    sub-pathways of a given edge is checked by validation, which knows its nodes.
    """

    value: Interval

    def describe(self) -> str:
        return (
            f"{self.value.describe()}, or a mapping from sub-pathways "
            f"({', '.join(EI_ENTRIES)}) to such floats"
        )

    def _convert(self, value: Any, size: int | None) -> float | dict[str, float]:
        if not isinstance(value, Mapping):
            return self.value._convert(value, size)
        if not value:
            raise Invalid("must name at least one sub-pathway when it is a mapping")
        keys = [_unwrap(k) for k in value]
        bad = [k for k in keys if not (isinstance(k, str) and k in EI_ENTRIES)]
        if bad:
            raise Invalid(
                f"has unknown sub-pathway keys {short_repr(bad)}; allowed: {', '.join(EI_ENTRIES)}"
            )
        out: dict[str, float] = {}
        for key, v in zip(keys, value.values(), strict=True):
            k = str(key)
            if k in out:
                raise Invalid(f"gives sub-pathway {k!r} twice")
            try:
                out[k] = self.value._convert(_unwrap(v), size)
            except Exception:
                raise Invalid(
                    f"value for {k!r} must be {self.value.describe()}; got {short_repr(v)}"
                ) from None
        for one in ("E", "I"):
            overlap = [k for k in out if len(k) == 2 and k[0] == one]
            if one in out and overlap:
                raise Invalid(f"key {one!r} already includes {overlap!r}")
        return {k: out[k] for k in EI_ENTRIES if k in out}

    def valid_examples(self) -> list[Any]:
        return self.value.valid_examples()

    def invalid_examples(self) -> list[Any]:
        lo = self.value.valid_examples()[0]
        return [
            *self.value.invalid_examples(),
            {},
            {"XY": lo},
            {3: lo},
            {"EE": "x"},
            {"EE": float("nan")},
            {"E": lo, "EI": lo},
        ]


@dataclass(frozen=True)
class Anything(_Constraint):
    def describe(self) -> str:
        return "any value"

    def _convert(self, value: Any, size: int | None) -> Any:
        return value

    def convert(self, value: Any, *, size: int | None = None) -> Any:
        return value  # carried along as given, never unwrapped or interpreted

    def valid_examples(self) -> list[Any]:
        return [None, "x", (1.0, 2.0)]


Constraint = (
    Interval | Options | Boolean | Text | FloatOrSequence | EIList | PerSubPathway | Anything
)
