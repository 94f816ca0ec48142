"""Questions about a trained circuit, phrased in region names.

* :func:`currents` — the current each source region and input sends into each
  target region over time (sums exactly to the total drive); :func:`plot_currents`.
* :func:`find_fixed_points` — fixed and slow points of the update map, with
  stability (:class:`FixedPoints`); :func:`sample_states` picks initial states.
* :func:`jacobian` — the linearisation at a state, with region blocks ``J[dst, src]``
  and eigenvalues (:class:`Jacobian`); :func:`plot_block_norms`, :func:`plot_spectrum`.
* :func:`flow_field` — the velocity field on the plane of two principal components
  (:class:`FlowField`); :func:`plot_flow_field`.

Lesions, clamps and stimulation are :func:`mrnngraph.perturb`; the connectivity
table is :func:`mrnngraph.report`. Every function here reads the model's effective
weights and leaves the model (parameters, buffers, ``requires_grad`` flags) unchanged.
"""

from .currents import currents, total_current
from .fixed_points import FixedPoints, find_fixed_points, sample_states
from .flow import FlowField, flow_field
from .linear import Jacobian, jacobian
from .plots import plot_block_norms, plot_currents, plot_flow_field, plot_spectrum

__all__ = [
    "currents",
    "total_current",
    "plot_currents",
    "find_fixed_points",
    "FixedPoints",
    "sample_states",
    "jacobian",
    "Jacobian",
    "plot_block_norms",
    "plot_spectrum",
    "flow_field",
    "FlowField",
    "plot_flow_field",
]
