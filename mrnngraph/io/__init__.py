"""Circuit files and other tools' formats: JSON, YAML, GraphML, mRNNTorch and nn4n.

* :func:`load` / :func:`save` pick the format from the file extension;
* :func:`graph_to_dict` / :func:`graph_from_dict` are the JSON layout as Python data
  (what checkpoints store);
* :func:`from_mrnntorch` / :func:`to_mrnntorch` read and write mRNNTorch configs;
* :func:`to_nn4n` gives the masks nn4n's ``CTRNN`` takes;
* :func:`from_adjacency` turns a connectome-style weighted matrix into a circuit.
"""

from ._json import graph_from_dict, graph_to_dict
from .adjacency import from_adjacency
from .files import FORMATS, load, save, validate_file
from .mrnntorch import from_mrnntorch, to_mrnntorch
from .nn4n import to_nn4n

__all__ = [
    "FORMATS",
    "load",
    "save",
    "validate_file",
    "graph_to_dict",
    "graph_from_dict",
    "from_mrnntorch",
    "to_mrnntorch",
    "to_nn4n",
    "from_adjacency",
]
