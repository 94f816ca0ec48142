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

The package is split by concern: ``_constraints`` (the constraint objects),
``_activations`` (the activation table), ``_attributes`` (the attribute table and its
look-ups) and ``_reading`` (:func:`read`); every name is imported from here.
"""

from __future__ import annotations

from ..errors import short_repr
from ._activations import _ACTIVATION_TABLE, ACTIVATIONS, Activation, activation
from ._attributes import (
    _ALIAS,
    _BY_SCOPE,
    _NEURAL,
    _SIGN,
    _TIME,
    _UNIT,
    ATTRIBUTES,
    GAIN_MAX,
    NODE_KINDS,
    REQUIRED,
    RULES,
    SIGN_ALIASES,
    Attr,
    Scope,
    attribute,
    attribute_table,
    attributes,
    canonical_name,
    default,
    did_you_mean,
    n_excitatory,
    normalize_sign,
)
from ._constraints import (
    EI_ENTRIES,
    FLOAT32_MAX,
    FLOAT32_TINY,
    MAX_SEQUENCE,
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
    _as_real,
    _Constraint,
    _to_float,
    _unwrap,
)
from ._reading import Reading, _first, _lenient_node_value, read

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

# Private names other modules (and tests) use, kept importable from here.
_PRIVATE = (
    _ACTIVATION_TABLE,
    _ALIAS,
    _BY_SCOPE,
    _NEURAL,
    _SIGN,
    _TIME,
    _UNIT,
    _as_real,
    _Constraint,
    _first,
    _lenient_node_value,
    _to_float,
    _unwrap,
    Constraint,
    FLOAT32_TINY,
    MAX_SEQUENCE,
    REQUIRED,
)
