"""Deprecated alias of :mod:`mrnngraph.drawing` (``mrnngraph.draw`` is the function)."""

from .. import _deprecated_module

_deprecated_module("draw", "drawing", globals())
