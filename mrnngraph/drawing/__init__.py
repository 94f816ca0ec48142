"""Pictures of a circuit: the area diagram, the connectivity matrix and Graphviz DOT text.

- :func:`draw` — area diagram of the *declared* graph (works on invalid graphs too);
- :func:`plot_connectivity` — heat map of a compiled circuit's or a model's matrices;
- :func:`to_dot` — Graphviz DOT text with the same visual encoding.

``mrnngraph.draw`` (the attribute of the package) is the function once the
package re-exports it; import the helpers of this sub-package with ``from``:
``from mrnngraph.drawing import diagram_figsize``.
"""

import importlib
from typing import Any

__all__ = ["draw", "plot_connectivity", "to_dot", "diagram_figsize", "diagram_frame"]

# Imported on first use (PEP 562): the DOT text needs neither matplotlib's axes nor
# torch, the diagram needs no torch.
_WHERE = {
    "draw": "diagram",
    "diagram_figsize": "diagram",
    "diagram_frame": "diagram",
    "to_dot": "dot",
    "plot_connectivity": "matrix",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
