"""Deprecated alias of :mod:`mrnngraph.training` (``mrnngraph.train`` is the function)."""

from . import _deprecated_module

_deprecated_module("train", "training", globals())
