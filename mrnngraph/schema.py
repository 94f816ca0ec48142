"""The attribute vocabulary of a circuit graph: one table that everything reads.

Validation, file I/O, the docs and the CLI all read :data:`ATTRIBUTES`; nothing
else in the package spells an attribute name, alias or default on its own.

Each attribute is an :class:`Attr` with a *constraint* object that checks a value
and converts it to its canonical Python type (``constraint.convert(value)`` returns
``float``, ``int``, ``bool``, ``str``, a tuple of them or ``None``, and raises
:class:`Invalid`; ``constraint.check(value)`` returns ``None`` or a phrase saying
what is wrong), and offers a few valid and invalid examples for the tests. Every
real-number type is a number (numpy scalars, 0-d arrays and tensors, ``Fraction``,
``Decimal``, ints of any size); booleans of any type are booleans, never numbers.
These objects are the one place such rules live: validation, file readers and the
docs all ask them.

Examples
--------
>>> from mrnngraph.schema import attribute, canonical_name
>>> attribute("node", "size").required
True
>>> canonical_name("node", "num_units")
'size'
>>> attribute("edge", "sparsity").constraint.check(1.5)
'must be a float in [0, 1]'
>>> import numpy as np
>>> attribute("node", "size").constraint.convert(np.float64(3.0))
3
"""

from __future__ import annotations

import decimal
import difflib
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import Problem, short_repr

__all__ = [
    "Scope",
    "Attr",
    "ATTRIBUTES",
    "NODE_KINDS",
    "RULES",
    "EI_ENTRIES",
    "SIGN_ALIASES",
    "ACTIVATIONS",
    "Activation",
    "activation",
    "Reading",
    "read",
    "default",
    "n_excitatory",
    "attribute",
    "attributes",
    "canonical_name",
    "did_you_mean",
    "normalize_sign",
    "attribute_table",
    "Invalid",
    "Interval",
    "Options",
    "Boolean",
    "Text",
    "FloatOrSequence",
    "EIList",
    "PerSubPathway",
    "Anything",
    "FLOAT32_MAX",
    "GAIN_MAX",
    "short_repr",
]

Scope = Literal["node", "edge", "graph"]

NODE_KINDS = ("recurrent", "input", "output")
RULES = ("bernoulli", "fixed_indegree", "fixed_outdegree", "fixed_total", "one_to_one")
EI_ENTRIES = ("EE", "EI", "IE", "II", "E", "I")


# --------------------------------------------------------------------------- activations
# The one table of activation functions. torch is imported where a function runs, never
# here: the vocabulary is read (validation, file I/O, the CLI) without torch.
def _relu(x: Any) -> Any:
    return x.relu()


def _relu_into(x: Any, out: Any) -> None:
    import torch

    torch.clamp_min(x, 0, out=out)


def _relu_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.gt(x, 0, out=out)  # one pass, straight to float


def _tanh(x: Any) -> Any:
    return x.tanh()


def _tanh_into(x: Any, out: Any) -> None:
    import torch

    torch.tanh(x, out=out)


def _tanh_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.mul(h, h, out=out).neg_().add_(1)


def _sigmoid(x: Any) -> Any:
    return x.sigmoid()


def _sigmoid_into(x: Any, out: Any) -> None:
    import torch

    torch.sigmoid(x, out=out)


def _sigmoid_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.sub(h, torch.mul(h, h, out=out), out=out)


def _softplus(x: Any) -> Any:
    import torch.nn.functional as F

    return F.softplus(x)


def _softplus_into(x: Any, out: Any) -> None:
    out.copy_(_softplus(x))


def _softplus_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.sigmoid(x, out=out).masked_fill_(x > 20, 1.0)


def _retanh(x: Any) -> Any:
    return x.tanh().clamp(min=0)


def _retanh_into(x: Any, out: Any) -> None:
    import torch

    torch.tanh(x, out=out).clamp_(min=0)


def _retanh_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.mul(h, h, out=out).neg_().add_(1).mul_(x >= 0)


def _linear(x: Any) -> Any:
    return x


def _linear_into(x: Any, out: Any) -> None:
    out.copy_(x)


def _linear_grad(x: Any, h: Any, out: Any) -> Any:
    return out.fill_(1)


@dataclass(frozen=True)
class Activation:
    """One activation function ``f`` of a model's units, with what the time loop needs.

    Attributes
    ----------
    name : str
        As a graph's or a model's ``activation`` spells it.
    doc : str
    function : callable
        ``f(x)`` on a tensor, differentiable by autograd.
    into : callable
        ``into(x, out)`` writes ``f(x)`` into ``out`` without allocating (the forward
        loop's per-step activation).
    derivative : callable
        ``derivative(x, h, out)`` writes ``f'(x)`` into ``out`` and returns it, given
        ``h = f(x)``, with autograd's conventions at kinks: relu has derivative 0 at 0,
        retanh (``tanh(x).clamp(min=0)``) 1, softplus switches to 1 above ``x = 20``.
    """

    name: str
    doc: str
    function: Any
    into: Any
    derivative: Any


_ACTIVATION_TABLE: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", "max(x, 0)", _relu, _relu_into, _relu_grad),
        Activation("tanh", "tanh(x)", _tanh, _tanh_into, _tanh_grad),
        Activation("sigmoid", "1 / (1 + exp(-x))", _sigmoid, _sigmoid_into, _sigmoid_grad),
        Activation(
            "softplus",
            "log(1 + exp(x)) (torch's, linear above x = 20)",
            _softplus,
            _softplus_into,
            _softplus_grad,
        ),
        Activation("retanh", "max(tanh(x), 0)", _retanh, _retanh_into, _retanh_grad),
        Activation("linear", "x", _linear, _linear_into, _linear_grad),
    )
}

#: The names of the activation functions, in table order.
ACTIVATIONS: tuple[str, ...] = tuple(_ACTIVATION_TABLE)


def activation(name: Any) -> Activation:
    """The :class:`Activation` called ``name``.

    Raises
    ------
    ValueError
        If there is none (the message lists the names there are).

    Examples
    --------
    >>> activation("tanh").doc
    'tanh(x)'
    """
    found = _ACTIVATION_TABLE.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(
            f"activation must be one of {', '.join(ACTIVATIONS)}; got {short_repr(name)}"
        )
    return found


#: Every spelling of a sign that a user (or an imported file) may write.
SIGN_ALIASES: dict[Any, str | None] = {
    "exc": "exc",
    "pos": "exc",
    "E": "exc",
    "+": "exc",
    1: "exc",
    "inh": "inh",
    "neg": "inh",
    "I": "inh",
    "-": "inh",
    -1: "inh",
    None: None,
    "none": None,
    "free": None,
}


def normalize_sign(value: Any) -> str | None:
    """Map any accepted spelling of a sign to ``"exc"``, ``"inh"`` or ``None``.

    Numbers of any type that equal ``+1`` or ``-1`` (``1.0``, ``numpy.int64(-1)``,
    ``Fraction(1)``) are accepted; booleans of any type are not.

    Raises
    ------
    ValueError
        If ``value`` is not a known spelling.

    Examples
    --------
    >>> normalize_sign("pos"), normalize_sign(-1), normalize_sign(None)
    ('exc', 'inh', None)
    """
    if value is None:
        return None
    try:
        return _SIGN.convert(value)
    except Invalid:
        raise ValueError(f"unknown sign {short_repr(value)}") from None


# --------------------------------------------------------------------------- values
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
        out = []
        for v in map(_unwrap, items):
            if _as_real(v) is None:
                raise Invalid("must contain only floats")
            f = _to_float(v)
            if not abs(f) <= FLOAT32_MAX:
                raise Invalid(
                    "must contain only finite floats of at most "
                    f"{FLOAT32_MAX:g} in magnitude (float32)"
                )
            out.append(f)
        if size is not None and n != size:
            raise Invalid(f"has {n} values but the node has size {size}", "length-mismatch")
        return tuple(out)

    def _convert_elements(
        self, element: Interval, value: Any, size: int | None
    ) -> float | tuple[float, ...]:
        if _as_real(value) is not None:
            return element._convert(value, None)
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
        out = []
        for i, v in enumerate(map(_unwrap, items)):
            try:
                out.append(element._convert(v, None))
            except Exception:
                raise Invalid(
                    f"must contain only values that are {element.describe()}; "
                    f"value {i} is {short_repr(v)}"
                ) from None
        if size is not None and n != size:
            raise Invalid(f"has {n} values but the node has size {size}", "length-mismatch")
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


_SIGN = Options(("exc", "inh", None), SIGN_ALIASES)

Constraint = (
    Interval | Options | Boolean | Text | FloatOrSequence | EIList | PerSubPathway | Anything
)

REQUIRED = object()  #: marker default of a required attribute


@dataclass(frozen=True)
class Attr:
    """One attribute of a node, an edge or the graph.

    Attributes
    ----------
    name : str
        The canonical name, as compiled specs and saved files use it.
    scope : {"node", "edge", "graph"}
    constraint : Interval, Options, Boolean, Text, FloatOrSequence, EIList, PerSubPathway or
        Anything
    default : Any
        The value used when absent; :data:`REQUIRED` for required attributes.
    doc : str
        One-line meaning, shown in docs and ``mrnngraph info``.
    aliases : tuple of str
        Other accepted names (e.g. ``num_units`` for ``size``).
    kinds : tuple of str
        For node attributes, the node kinds it applies to.
    excludes : tuple of str
        Canonical names it may not be given together with.
    """

    name: str
    scope: Scope
    constraint: Constraint
    default: Any
    doc: str
    aliases: tuple[str, ...] = ()
    kinds: tuple[str, ...] = NODE_KINDS
    excludes: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


_UNIT = Interval(0.0, 1.0)
# Times become float32 tensors (alpha = dt / tau): finite, and not rounding to 0.
_TIME = Interval(0.0, FLOAT32_MAX, closed=(False, True), float32=True)
#: Largest ``gain``: initial weights are at most about 8.6 * gain in magnitude (the
#: largest |N(0, 1)| torch draws), so this keeps every one finite in float32.
GAIN_MAX = FLOAT32_MAX / 16
_ALL = NODE_KINDS
_NEURAL = ("recurrent", "input")  # nodes whose units have an E/I identity

ATTRIBUTES: tuple[Attr, ...] = (
    # ---- nodes ----
    Attr(
        "kind",
        "node",
        Options(NODE_KINDS),
        "recurrent",
        "'recurrent' (units with dynamics), 'input' (external channels) "
        "or 'output' (linear readout)",
    ),
    Attr(
        "size",
        "node",
        Interval(1, math.inf, integer=True),
        REQUIRED,
        "number of units",
        aliases=("num_units", "n_units"),
    ),
    Attr(
        "sign",
        "node",
        _SIGN,
        None,
        "Dale's law for the region's outgoing weights, None = unconstrained; "
        "also 'pos', 'E', +1 for 'exc' and 'neg', 'I', -1 for 'inh'",
        kinds=_NEURAL,
        excludes=("exc_frac",),
    ),
    Attr(
        "exc_frac",
        "node",
        _UNIT,
        None,
        "mixed E/I region: the first floor(exc_frac*size) units are excitatory, "
        "the rest inhibitory",
        kinds=_NEURAL,
        excludes=("sign",),
    ),
    Attr(
        "base_firing",
        "node",
        FloatOrSequence(),
        0.0,
        "tonic input (bias) of each unit: a float or one value per unit",
        kinds=("recurrent",),
    ),
    Attr(
        "learnable_bias",
        "node",
        Boolean(),
        False,
        "make base_firing a trainable parameter",
        kinds=("recurrent",),
    ),
    Attr(
        "init",
        "node",
        FloatOrSequence(),
        0.0,
        "initial pre-activation state x0: a float or one value per unit",
        kinds=("recurrent",),
    ),
    Attr(
        "tau",
        "node",
        FloatOrSequence(_TIME),
        None,
        "time constant of this region's units (ms): a float or one value per unit; "
        "None uses the model's tau",
        kinds=("recurrent",),
    ),
    Attr(
        "learn_tau",
        "node",
        Boolean(),
        False,
        "train this region's time constants (per unit, starting from tau), alpha = dt/tau "
        "kept in [dt/tau_max, min(1, dt/tau_min)]",
        kinds=("recurrent",),
    ),
    Attr(
        "tau_min",
        "node",
        _TIME,
        None,
        "with learn_tau: the smallest time constant training may reach (ms); "
        "None means dt (alpha at most 1)",
        kinds=("recurrent",),
    ),
    Attr(
        "tau_max",
        "node",
        _TIME,
        None,
        "with learn_tau: the largest time constant training may reach (ms); None means no bound",
        kinds=("recurrent",),
    ),
    Attr(
        "parent",
        "node",
        Text(),
        None,
        "group name (e.g. the area of several cell types); usable wherever a region name is",
    ),
    Attr("pos", "node", Anything(), None, "drawing hint: (x, y) position"),
    Attr("label", "node", Anything(), None, "drawing hint: text shown instead of the name"),
    Attr("color", "node", Anything(), None, "drawing hint: a matplotlib colour"),
    Attr("meta", "node", Anything(), None, "free-form user data, carried along, never interpreted"),
    # ---- edges ----
    Attr(
        "sparsity",
        "edge",
        PerSubPathway(_UNIT),
        0.0,
        "fraction of absent synapses (as torch.nn.init.sparse_); a mapping gives one "
        "per E/I sub-pathway (keys: the edge's ei entries)",
        excludes=("density",),
    ),
    Attr(
        "density",
        "edge",
        PerSubPathway(_UNIT),
        None,
        "fraction of present synapses, 1 - sparsity; a mapping gives one per E/I sub-pathway",
        excludes=("sparsity",),
    ),
    Attr("rule", "edge", Options(RULES), "bernoulli", "how the mask is drawn: " + ", ".join(RULES)),
    Attr(
        "zero",
        "edge",
        Boolean(),
        False,
        "a declared pathway fixed at zero: drawn, listed, never trained",
    ),
    Attr(
        "ei",
        "edge",
        EIList(),
        None,
        "which E/I sub-pathways exist (source type, then target type); None means all",
    ),
    Attr(
        "autapses", "edge", Boolean(), True, "on a self-edge, whether a unit may connect to itself"
    ),
    Attr(
        "trainable", "edge", Boolean(), True, "False freezes the projection at its initial weights"
    ),
    Attr(
        "gain",
        "edge",
        PerSubPathway(Interval(0.0, GAIN_MAX, closed=(False, True))),
        1.0,
        "scales the initial weights of this projection (bounded so that every initial "
        "weight is finite in float32); a mapping gives one per E/I sub-pathway (1 where "
        "none is given)",
    ),
    Attr(
        "delay",
        "edge",
        Interval(0.0, FLOAT32_MAX),
        0.0,
        "conduction delay (ms): the target sees the source's rates from delay/dt steps "
        "earlier (a whole number of steps at the model's dt); before the trial, f(x0)",
    ),
    Attr("label", "edge", Anything(), None, "drawing hint: text on the arrow"),
    Attr("color", "edge", Anything(), None, "drawing hint: a matplotlib colour"),
    Attr("meta", "edge", Anything(), None, "free-form user data, carried along, never interpreted"),
    # ---- graph ----
    Attr("name", "graph", Text(), None, "the circuit's name"),
    Attr("dt", "graph", _TIME, None, "model default: integration step (ms)"),
    Attr("tau", "graph", _TIME, None, "model default: time constant (ms)"),
    Attr("activation", "graph", Options(ACTIVATIONS), None, "model default: activation function"),
    Attr("description", "graph", Anything(), None, "free text"),
    Attr(
        "meta", "graph", Anything(), None, "free-form user data, carried along, never interpreted"
    ),
)

_BY_SCOPE: dict[str, dict[str, Attr]] = {"node": {}, "edge": {}, "graph": {}}
_ALIAS: dict[str, dict[str, str]] = {"node": {}, "edge": {}, "graph": {}}
for _a in ATTRIBUTES:
    _BY_SCOPE[_a.scope][_a.name] = _a
    _ALIAS[_a.scope][_a.name] = _a.name
    for _alias in _a.aliases:
        _ALIAS[_a.scope][_alias] = _a.name
del _a, _alias


def attributes(scope: Scope) -> dict[str, Attr]:
    """All attributes of one scope, by canonical name, in table order."""
    return dict(_BY_SCOPE[scope])


def attribute(scope: Scope, name: str) -> Attr:
    """The :class:`Attr` for ``name`` (canonical or alias) in ``scope``.

    Raises
    ------
    KeyError
        If the name is unknown in that scope.
    """
    return _BY_SCOPE[scope][_ALIAS[scope][name]]


def canonical_name(scope: Scope, name: str) -> str | None:
    """The canonical name for ``name`` (itself or an alias), or ``None`` if unknown."""
    return _ALIAS[scope].get(name)


def did_you_mean(scope: Scope, name: str) -> str | None:
    """The closest known attribute name, for an error hint, or ``None``.

    >>> did_you_mean("edge", "sparsty")
    'sparsity'
    """
    if not isinstance(name, str):
        return None
    match = difflib.get_close_matches(name, list(_ALIAS[scope]), n=1, cutoff=0.6)
    return match[0] if match else None


def attribute_table(scope: Scope) -> str:
    """A markdown table of one scope's attributes (used by the docs and ``mrnngraph info``)."""
    rows = ["| name | allowed values | default | meaning |", "| --- | --- | --- | --- |"]
    for a in _BY_SCOPE[scope].values():
        names = f"`{a.name}`"
        if a.aliases:
            names += " (alias " + ", ".join(f"`{x}`" for x in a.aliases) + ")"
        default = "required" if a.required else repr(a.default)
        rows.append(f"| {names} | {a.constraint.describe()} | {default} | {a.doc} |")
    return "\n".join(rows)


def default(scope: Scope, name: str) -> Any:
    """The default of an attribute (``None`` for a required one, which has none).

    >>> default("edge", "rule"), default("node", "kind")
    ('bernoulli', 'recurrent')
    """
    d = attribute(scope, name).default
    return None if d is REQUIRED else d


def n_excitatory(size: int, exc_frac: float) -> int:
    """Excitatory units of a mixed region: ``floor(exc_frac * size)``, computed as
    ``int(size * exc_frac)`` (nn4n's ``MultiAreaEI`` truncation), exactly also for a
    size beyond float range.

    >>> n_excitatory(10, 0.8), n_excitatory(7, 0.5)
    (8, 3)
    """
    try:
        return int(size * exc_frac)
    except OverflowError:  # a size beyond float range; it will not compile anyway
        from fractions import Fraction

        return math.floor(Fraction(size) * Fraction(exc_frac))


# --------------------------------------------------------------------------- reading
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
