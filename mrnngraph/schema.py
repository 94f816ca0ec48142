"""The attribute vocabulary of a circuit graph: one table that everything reads.

Validation, file I/O, the docs and the CLI all read :data:`ATTRIBUTES`; nothing
else in the package spells an attribute name, alias or default on its own.

Each attribute is an :class:`Attr` with a *constraint* object that both checks a
value (``constraint.check(value)`` returns ``None`` or a phrase saying what is
wrong) and offers a few invalid examples for the tests.

Examples
--------
>>> from mrnngraph.schema import attribute, canonical_name
>>> attribute("node", "size").required
True
>>> canonical_name("node", "num_units")
'size'
>>> attribute("edge", "sparsity").constraint.check(1.5)
'must be a float in [0, 1]'
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Scope",
    "Attr",
    "ATTRIBUTES",
    "NODE_KINDS",
    "RULES",
    "EI_ENTRIES",
    "SIGN_ALIASES",
    "ACTIVATIONS",
    "attribute",
    "attributes",
    "canonical_name",
    "did_you_mean",
    "normalize_sign",
    "attribute_table",
]

Scope = Literal["node", "edge", "graph"]

NODE_KINDS = ("recurrent", "input", "output")
RULES = ("bernoulli", "fixed_indegree", "fixed_outdegree", "fixed_total", "one_to_one")
EI_ENTRIES = ("EE", "EI", "IE", "II", "E", "I")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "retanh", "linear")

#: Every spelling of a sign that a user (or an imported file) may write.
SIGN_ALIASES: dict[Any, str | None] = {
    "exc": "exc", "pos": "exc", "E": "exc", "+": "exc", 1: "exc",
    "inh": "inh", "neg": "inh", "I": "inh", "-": "inh", -1: "inh",
    None: None, "none": None, "free": None,
}


def normalize_sign(value: Any) -> str | None:
    """Map any accepted spelling of a sign to ``"exc"``, ``"inh"`` or ``None``.

    Raises
    ------
    ValueError
        If ``value`` is not a known spelling.

    Examples
    --------
    >>> normalize_sign("pos"), normalize_sign(-1), normalize_sign(None)
    ('exc', 'inh', None)
    """
    # bool is an int subclass: True would silently mean +1, which no one intends.
    if isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"unknown sign {value!r}")
    key = value
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if float(value).is_integer():
            key = int(value)
    try:
        return SIGN_ALIASES[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sign {value!r}") from None


# --------------------------------------------------------------------------- constraints
def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


@dataclass(frozen=True)
class Interval:
    """A real number in ``[lo, hi]`` (ends open where ``closed`` says so)."""

    lo: float = -math.inf
    hi: float = math.inf
    closed: tuple[bool, bool] = (True, True)
    integer: bool = False

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

    def check(self, value: Any) -> str | None:
        ok = _is_real(value)
        if ok and self.integer:
            ok = isinstance(value, numbers.Integral) or float(value).is_integer()
        if ok:
            v = float(value)
            ok = not math.isnan(v)
            ok = ok and (v >= self.lo if self.closed[0] else v > self.lo)
            ok = ok and (v <= self.hi if self.closed[1] else v < self.hi)
        return None if ok else f"must be {self.describe()}"

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["x", float("nan"), True]
        if self.lo != -math.inf:
            out.append(self.lo - 1)
        if self.hi != math.inf:
            out.append(self.hi + 0.5)
        if self.integer:
            out.append(2.5)
        return out


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (after alias mapping, where given)."""

    values: tuple[Any, ...]
    aliases: dict[Any, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return f"must be {self.describe()}"
        try:
            v = self.aliases.get(value, value)
            return None if v in self.values else f"must be {self.describe()}"
        except TypeError:  # unhashable
            return f"must be {self.describe()}"

    def invalid_examples(self) -> list[Any]:
        return ["not-a-valid-option", 3.5, [1]]


@dataclass(frozen=True)
class Boolean:
    def describe(self) -> str:
        return "a bool"

    def check(self, value: Any) -> str | None:
        # numpy's bool is not a bool subclass but is what arrays hand back.
        t = type(value)
        ok = isinstance(value, bool) or (
            t.__module__ == "numpy" and t.__name__ in ("bool", "bool_"))
        return None if ok else "must be a bool (True or False)"

    def invalid_examples(self) -> list[Any]:
        return ["yes", 1, 2.0]


@dataclass(frozen=True)
class Text:
    def describe(self) -> str:
        return "a non-empty string"

    def check(self, value: Any) -> str | None:
        return None if isinstance(value, str) and value else "must be a non-empty string"

    def invalid_examples(self) -> list[Any]:
        return ["", 3]


@dataclass(frozen=True)
class FloatOrSequence:
    """A float, or a sequence of floats whose length is checked against ``size`` later."""

    def describe(self) -> str:
        return "a float or a sequence of floats"

    def check(self, value: Any) -> str | None:
        if _is_real(value):
            return None if math.isfinite(float(value)) else "must be finite"
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            return f"must be {self.describe()}"
        try:
            items = list(value.tolist() if hasattr(value, "tolist") else value)
        except TypeError:
            return f"must be {self.describe()}"
        if not all(_is_real(v) and math.isfinite(float(v)) for v in items):
            return "must contain only finite floats"
        return None

    def invalid_examples(self) -> list[Any]:
        return ["x", [1.0, "a"], float("inf")]


@dataclass(frozen=True)
class EIList:
    """A list of distinct sub-pathway names from :data:`EI_ENTRIES`."""

    def describe(self) -> str:
        return "a list of distinct entries from " + ", ".join(repr(e) for e in EI_ENTRIES)

    def check(self, value: Any) -> str | None:
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
            return f"must be {self.describe()} (non-empty; use zero=True for no synapses)"
        bad = [v for v in value if v not in EI_ENTRIES]
        if bad:
            return f"has unknown entries {bad!r}; allowed: {', '.join(EI_ENTRIES)}"
        if len(set(value)) != len(value):
            return "lists an entry twice"
        for one in ("E", "I"):
            if one in value:
                overlap = [v for v in value if len(v) == 2 and v[0] == one]
                if overlap:
                    return f"entry {one!r} already includes {overlap!r}"
        return None

    def invalid_examples(self) -> list[Any]:
        return ["EE", ["XY"], ["EE", "EE"], ["E", "EI"], []]


@dataclass(frozen=True)
class Anything:
    def describe(self) -> str:
        return "any value"

    def check(self, value: Any) -> str | None:
        return None

    def invalid_examples(self) -> list[Any]:
        return []


Constraint = Interval | Options | Boolean | Text | FloatOrSequence | EIList | Anything

REQUIRED = object()  #: marker default of a required attribute


@dataclass(frozen=True)
class Attr:
    """One attribute of a node, an edge or the graph.

    Attributes
    ----------
    name : str
        The canonical name, as compiled specs and saved files use it.
    scope : {"node", "edge", "graph"}
    constraint : Interval | Options | Boolean | Text | FloatOrSequence | EIList | Anything
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
_ALL = NODE_KINDS
_NEURAL = ("recurrent", "input")  # nodes whose units have an E/I identity

ATTRIBUTES: tuple[Attr, ...] = (
    # ---- nodes ----
    Attr("kind", "node", Options(NODE_KINDS), "recurrent",
         "'recurrent' (units with dynamics), 'input' (external channels) "
         "or 'output' (linear readout)"),
    Attr("size", "node", Interval(1, math.inf, integer=True), REQUIRED,
         "number of units", aliases=("num_units", "n_units")),
    Attr("sign", "node", Options(("exc", "inh", None), SIGN_ALIASES), None,
         "Dale's law for the region's outgoing weights, None = unconstrained; "
         "also 'pos', 'E', +1 for 'exc' and 'neg', 'I', -1 for 'inh'",
         kinds=_NEURAL, excludes=("exc_frac",)),
    Attr("exc_frac", "node", _UNIT, None,
         "mixed E/I region: the first floor(exc_frac*size) units are excitatory, "
         "the rest inhibitory",
         kinds=_NEURAL, excludes=("sign",)),
    Attr("base_firing", "node", FloatOrSequence(), 0.0,
         "tonic input (bias) of each unit: a float or one value per unit", kinds=("recurrent",)),
    Attr("learnable_bias", "node", Boolean(), False,
         "make base_firing a trainable parameter", kinds=("recurrent",)),
    Attr("init", "node", FloatOrSequence(), 0.0,
         "initial pre-activation state x0: a float or one value per unit", kinds=("recurrent",)),
    Attr("tau", "node", Interval(0.0, math.inf, closed=(False, True)), None,
         "time constant of this region's units (ms); None uses the model's tau",
         kinds=("recurrent",)),
    Attr("parent", "node", Text(), None,
         "group name (e.g. the area of several cell types); usable wherever a region name is"),
    Attr("pos", "node", Anything(), None, "drawing hint: (x, y) position"),
    Attr("label", "node", Anything(), None, "drawing hint: text shown instead of the name"),
    Attr("color", "node", Anything(), None, "drawing hint: a matplotlib colour"),
    Attr("meta", "node", Anything(), None, "free-form user data, carried along, never interpreted"),
    # ---- edges ----
    Attr("sparsity", "edge", _UNIT, 0.0,
         "fraction of absent synapses (as torch.nn.init.sparse_)", excludes=("density",)),
    Attr("density", "edge", _UNIT, None,
         "fraction of present synapses, 1 - sparsity", excludes=("sparsity",)),
    Attr("rule", "edge", Options(RULES), "bernoulli",
         "how the mask is drawn: " + ", ".join(RULES)),
    Attr("zero", "edge", Boolean(), False,
         "a declared pathway fixed at zero: drawn, listed, never trained"),
    Attr("ei", "edge", EIList(), None,
         "which E/I sub-pathways exist (source type, then target type); None means all"),
    Attr("autapses", "edge", Boolean(), True,
         "on a self-edge, whether a unit may connect to itself"),
    Attr("trainable", "edge", Boolean(), True,
         "False freezes the projection at its initial weights"),
    Attr("gain", "edge", Interval(0.0, math.inf, closed=(False, True)), 1.0,
         "scales the initial weights of this projection"),
    Attr("label", "edge", Anything(), None, "drawing hint: text on the arrow"),
    Attr("color", "edge", Anything(), None, "drawing hint: a matplotlib colour"),
    Attr("meta", "edge", Anything(), None, "free-form user data, carried along, never interpreted"),
    # ---- graph ----
    Attr("name", "graph", Text(), None, "the circuit's name"),
    Attr("dt", "graph", Interval(0.0, math.inf, closed=(False, True)), None,
         "model default: integration step (ms)"),
    Attr("tau", "graph", Interval(0.0, math.inf, closed=(False, True)), None,
         "model default: time constant (ms)"),
    Attr("activation", "graph", Options(ACTIVATIONS), None,
         "model default: activation function"),
    Attr("description", "graph", Anything(), None, "free text"),
    Attr("meta", "graph", Anything(), None,
         "free-form user data, carried along, never interpreted"),
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
