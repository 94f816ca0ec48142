"""mrnngraph: multi-region recurrent network models declared as networkx graphs.

A circuit is a plain :class:`networkx.DiGraph` (regions are nodes, projections are
edges). :func:`validate` reports every problem, :func:`compile` turns the graph
into block tensors, and :class:`MultiRegionRNN` is the trainable PyTorch module.

Names are imported on first use (PEP 562, as scipy does): ``import mrnngraph`` loads
neither torch nor matplotlib, so the command line answers ``validate``, ``info`` and
``convert`` without them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import CircuitWarning, GraphError, MrnngraphError, MrnngraphWarning, Problem
from .validation import Report, Spec, check, validate

if TYPE_CHECKING:  # what the lazy table below provides, for type checkers and IDEs
    from . import analysis, io, presets, tasks
    from ._buffers import release_buffers
    from .checkpoint import load_checkpoint, load_model, save_model
    from .circuit import CompiledCircuit, Connection, Layout
    from .compilation import compile
    from .drawing import draw, plot_connectivity, to_dot
    from .ensemble import Ensemble, EnsembleOutput
    from .fitting import fit, pvar, regress
    from .io import (
        from_adjacency,
        from_mrnntorch,
        graph_from_dict,
        graph_to_dict,
        load,
        save,
        to_mrnntorch,
        to_nn4n,
    )
    from .model import MultiRegionRNN, RNNOutput
    from .perturbation import perturb
    from .recording import Recording, activity
    from .reporting import ConnectivityReport, format_report, report
    from .training import (
        History,
        TrainingDiverged,
        TrainingInterrupted,
        TrainingWarning,
        evaluate,
        train,
    )

__version__ = "0.1.0"

# name -> module that defines it (a module of its own for the sub-packages).
_LAZY: dict[str, str] = {
    "analysis": ".analysis",
    "io": ".io",
    "presets": ".presets",
    "tasks": ".tasks",
    "release_buffers": "._buffers",
    **dict.fromkeys(["load_checkpoint", "load_model", "save_model"], ".checkpoint"),
    **dict.fromkeys(["CompiledCircuit", "Connection", "Layout"], ".circuit"),
    "compile": ".compilation",
    **dict.fromkeys(["draw", "plot_connectivity", "to_dot"], ".drawing"),
    **dict.fromkeys(
        [
            "from_adjacency",
            "from_mrnntorch",
            "graph_from_dict",
            "graph_to_dict",
            "load",
            "save",
            "to_mrnntorch",
            "to_nn4n",
        ],
        ".io",
    ),
    **dict.fromkeys(["MultiRegionRNN", "RNNOutput"], ".model"),
    **dict.fromkeys(["Ensemble", "EnsembleOutput"], ".ensemble"),
    "perturb": ".perturbation",
    **dict.fromkeys(["Recording", "activity"], ".recording"),
    **dict.fromkeys(["fit", "pvar", "regress"], ".fitting"),
    **dict.fromkeys(["ConnectivityReport", "format_report", "report"], ".reporting"),
    **dict.fromkeys(
        [
            "History",
            "TrainingDiverged",
            "TrainingInterrupted",
            "TrainingWarning",
            "evaluate",
            "train",
        ],
        ".training",
    ),
}

# Functions whose names were also module names until 0.1 (``mrnngraph/compile.py`` is
# now ``compilation.py``; the old paths stay one release as deprecated aliases):
# importing an old path must not replace the function on the package.
_SHADOWING = frozenset({"compile", "draw", "perturb", "report", "train", "validate"})

__all__ = [
    "MrnngraphError",
    "MrnngraphWarning",
    "GraphError",
    "CircuitWarning",
    "Problem",
    "Report",
    "Spec",
    "validate",
    "check",
    "compile",
    "CompiledCircuit",
    "Connection",
    "Layout",
    "MultiRegionRNN",
    "Ensemble",
    "EnsembleOutput",
    "release_buffers",
    "RNNOutput",
    "load",
    "save",
    "graph_to_dict",
    "graph_from_dict",
    "from_mrnntorch",
    "to_mrnntorch",
    "to_nn4n",
    "from_adjacency",
    "draw",
    "plot_connectivity",
    "to_dot",
    "tasks",
    "presets",
    "io",
    "train",
    "evaluate",
    "History",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingWarning",
    "save_model",
    "load_model",
    "load_checkpoint",
    "analysis",
    "perturb",
    "report",
    "format_report",
    "ConnectivityReport",
    "Recording",
    "activity",
    "fit",
    "pvar",
    "regress",
]


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        # Any other public sub-module (``mg.checkpoint``, ``mg.schema``), as before.
        if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        where = f".{name}"
    module = importlib.import_module(where, __name__)
    value = (
        module
        if module.__name__ == f"{__name__}.{name}" and name not in _SHADOWING
        else getattr(module, name)
    )
    globals()[name] = value
    return value


def _deprecated_module(old: str, new: str, namespace: dict[str, Any]) -> None:
    """Fill the module ``mrnngraph.<old>`` (a deprecated alias) from ``mrnngraph.<new>``."""
    import warnings

    module = importlib.import_module(f"{__name__}.{new}")
    public = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    namespace.update({n: getattr(module, n) for n in public})
    namespace["__all__"] = list(public)
    warnings.warn(
        f"the module mrnngraph.{old} is now mrnngraph.{new} (mrnngraph.{old}, the "
        "function, is unchanged); the old module path goes in the next release",
        DeprecationWarning,
        stacklevel=3,
    )


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package module: binding a sub-module under a name a function owns is ignored."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWING and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
