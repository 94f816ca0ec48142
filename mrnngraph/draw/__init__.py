"""Pictures of a circuit: the area diagram, the connectivity matrix and Graphviz DOT text.

- :func:`draw` — area diagram of the *declared* graph (works on invalid graphs too);
- :func:`plot_connectivity` — heat map of a compiled circuit's or a model's matrices;
- :func:`to_dot` — Graphviz DOT text with the same visual encoding.

``mrnngraph.draw`` (the attribute of the package) is the function once the
package re-exports it; import the helpers of this sub-package with ``from``:
``from mrnngraph.draw import diagram_figsize``.
"""

from .diagram import diagram_figsize, diagram_frame, draw
from .dot import to_dot
from .matrix import plot_connectivity

__all__ = ["draw", "plot_connectivity", "to_dot", "diagram_figsize", "diagram_frame"]
