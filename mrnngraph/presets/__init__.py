"""Graph factories: ready-made circuits and the multi-area layouts of other tools.

Every factory returns a plain :class:`networkx.DiGraph`; change it as you like
before compiling.
"""

from .examples import cbgt_loop, cortical_hierarchy, two_area_ei
from .nn4n import multi_area, multi_area_ei

__all__ = ["cbgt_loop", "two_area_ei", "cortical_hierarchy", "multi_area", "multi_area_ei"]
