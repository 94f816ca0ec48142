"""Circuit files and other tools' formats: JSON, YAML, GraphML, mRNNTorch and nn4n.

* :func:`load` / :func:`save` pick the format from the file extension;
* :func:`graph_to_dict` / :func:`graph_from_dict` are the JSON layout as Python data
  (what checkpoints store);
* :func:`from_mrnntorch` / :func:`to_mrnntorch` read and write mRNNTorch configs;
* :func:`to_nn4n` gives the masks nn4n's ``CTRNN`` takes;
* :func:`from_adjacency` turns a connectome-style weighted matrix into a circuit.
"""

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from ._json import graph_from_dict, graph_to_dict
from .files import FORMATS, load, save, validate_file
from .mrnntorch import from_mrnntorch, to_mrnntorch

if TYPE_CHECKING:
    from .adjacency import from_adjacency
    from .nn4n import to_nn4n
    from .nwb import read_nwb

# Imported on first use: nn4n's masks need torch, the adjacency reader numpy; reading
# and writing circuit files needs neither.
_LAZY = {"to_nn4n": ".nn4n", "from_adjacency": ".adjacency", "read_nwb": ".nwb"}

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
    "read_nwb",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f".{name}", __name__)  # a sub-module: io.nwb
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
