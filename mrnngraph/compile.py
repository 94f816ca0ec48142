"""Deprecated alias of :mod:`mrnngraph.compilation` (``mrnngraph.compile`` is the function)."""

from . import _deprecated_module

_deprecated_module("compile", "compilation", globals())
