"""Graph factories: ready-made circuits and the multi-area layouts of other tools.

Every factory returns a plain :class:`networkx.DiGraph`; change it as you like
before compiling.
"""

from . import ground_truth
from .examples import cbgt_loop, cortical_hierarchy, two_area_ei
from .ground_truth import fitting_graph, ground_truth_graph, simulate_ground_truth
from .nn4n import multi_area, multi_area_ei

__all__ = [
    "cbgt_loop",
    "two_area_ei",
    "cortical_hierarchy",
    "multi_area",
    "multi_area_ei",
    "ground_truth",
    "ground_truth_graph",
    "simulate_ground_truth",
    "fitting_graph",
]
