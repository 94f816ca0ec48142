"""The attribute table: every node, edge and graph attribute, with its constraint,
default, aliases and meaning, and the look-ups everything else uses."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import short_repr
from ._activations import ACTIVATIONS
from ._constraints import (
    FLOAT32_MAX,
    Anything,
    Boolean,
    Constraint,
    EIList,
    FloatOrSequence,
    Interval,
    Invalid,
    Options,
    PerSubPathway,
    Text,
)

__all__ = [
    "Scope",
    "Attr",
    "ATTRIBUTES",
    "NODE_KINDS",
    "RULES",
    "SIGN_ALIASES",
    "REQUIRED",
    "GAIN_MAX",
    "attribute",
    "attributes",
    "canonical_name",
    "did_you_mean",
    "normalize_sign",
    "attribute_table",
    "default",
    "n_excitatory",
]

Scope = Literal["node", "edge", "graph"]

NODE_KINDS = ("recurrent", "input", "output")
RULES = ("bernoulli", "fixed_indegree", "fixed_outdegree", "fixed_total", "one_to_one")


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


_SIGN = Options(("exc", "inh", None), SIGN_ALIASES)

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
