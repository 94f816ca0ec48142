"""mrnngraph: multi-region recurrent network models declared as networkx graphs.

A circuit is a plain :class:`networkx.DiGraph` (regions are nodes, projections are
edges). :func:`validate` reports every problem, :func:`compile` turns the graph
into block tensors, and :class:`MultiRegionRNN` is the trainable PyTorch module.
"""

from . import analysis, io, presets, tasks
from ._buffers import release_buffers
from .checkpoint import load_checkpoint, load_model, save_model
from .circuit import CompiledCircuit, Connection, Layout
from .compile import compile
from .draw import draw, plot_connectivity, to_dot
from .errors import CircuitWarning, GraphError, Problem
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
from .perturb import perturb
from .report import ConnectivityReport, format_report, report
from .train import History, TrainingDiverged, evaluate, train
from .validate import Report, Spec, check, validate

__version__ = "0.1.0"

__all__ = [
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
    "save_model",
    "load_model",
    "load_checkpoint",
    "analysis",
    "perturb",
    "report",
    "format_report",
    "ConnectivityReport",
]
