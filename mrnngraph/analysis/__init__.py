"""Questions about a trained circuit, phrased in region names.

* :func:`currents` — the current each source region and input sends into each
  target region over time (sums exactly to the total drive); :func:`plot_currents`.
* :func:`find_fixed_points` — fixed and slow points of the update map, with
  stability (:class:`FixedPoints`); :func:`sample_states` picks initial states.
* :func:`jacobian` — the linearisation at a state, with region blocks ``J[dst, src]``
  and eigenvalues (:class:`Jacobian`); :func:`plot_block_norms`, :func:`plot_spectrum`.
* :func:`flow_field` — the velocity field on the plane of two principal components
  (:class:`FlowField`); :func:`plot_flow_field`.
* :func:`pathway_strength` — mean absolute current of every pathway of a model run on a
  :class:`~mrnngraph.Recording` (CURBD's summary), :func:`pathway_currents` over time;
  figures of a fit: :func:`plot_pathway_currents`, :func:`plot_pvar`,
  :func:`plot_fit_traces`.
* :func:`decode`, :func:`pca` — decoding and PCA by region of a :class:`~mrnngraph.Recording`;
  :func:`lesion_effect` — a named lesion against random ones of the same size; their figures
  :func:`plot_decoding`, :func:`plot_trajectories`, :func:`plot_lesion_effects`.
* The figures of a training run (``mrnngraph train``): :func:`circuit_figure`,
  :func:`connectivity_figure`, :func:`training_figure` (with :func:`accuracy_ceiling`),
  :func:`trials_figure`, :func:`psychometric_figure`.
* :func:`fit_psychometric` — a lapse-bounded cumulative Gaussian fitted to choices by
  maximum likelihood (``task.psychometric(outputs, batch)`` gives a task's curves);
  :func:`plot_psychometric`.

Lesions, clamps and stimulation are :func:`mrnngraph.perturb`; the connectivity
table is :func:`mrnngraph.report`. Every function here reads the model's effective
weights and leaves the model (parameters, buffers, ``requires_grad`` flags) unchanged.
"""

from .currents import currents, total_current
from .decoding import DecodingResult, decode
from .fit_plots import plot_fit_traces, plot_pathway_currents, plot_pvar
from .fixed_points import FixedPoints, find_fixed_points, sample_states
from .flow import FlowField, flow_field
from .lesions import LesionEffect, lesion_effect
from .linear import Jacobian, jacobian
from .pathways import pathway_currents, pathway_strength
from .plots import plot_block_norms, plot_currents, plot_flow_field, plot_spectrum
from .population import PopulationPCA, RegionPCA, pca
from .population_plots import plot_decoding, plot_lesion_effects, plot_trajectories
from .psychometrics import fit_psychometric, plot_psychometric
from .sweep_plots import member_curves_figure, member_psychometric_figure, seed_metric_figure
from .training_plots import (
    accuracy_ceiling,
    circuit_figure,
    connectivity_figure,
    psychometric_figure,
    training_figure,
    trials_figure,
)

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
    "decode",
    "DecodingResult",
    "pca",
    "PopulationPCA",
    "RegionPCA",
    "plot_decoding",
    "lesion_effect",
    "LesionEffect",
    "plot_trajectories",
    "plot_lesion_effects",
    "pathway_strength",
    "pathway_currents",
    "plot_pathway_currents",
    "plot_pvar",
    "plot_fit_traces",
    "circuit_figure",
    "connectivity_figure",
    "training_figure",
    "trials_figure",
    "psychometric_figure",
    "accuracy_ceiling",
    "fit_psychometric",
    "plot_psychometric",
    "seed_metric_figure",
    "member_curves_figure",
    "member_psychometric_figure",
]
