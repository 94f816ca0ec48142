"""Deprecated alias of :mod:`mrnngraph.validation` (``mrnngraph.validate`` is the function)."""

from . import _deprecated_module

_deprecated_module("validate", "validation", globals())
