"""Deprecated alias of :mod:`mrnngraph.reporting` (``mrnngraph.report`` is the function)."""

from . import _deprecated_module

_deprecated_module("report", "reporting", globals())
