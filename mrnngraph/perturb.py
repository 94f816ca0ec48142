"""Deprecated alias of :mod:`mrnngraph.perturbation` (``mrnngraph.perturb`` is the function)."""

from . import _deprecated_module

_deprecated_module("perturb", "perturbation", globals())
