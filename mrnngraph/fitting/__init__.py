r"""Fit a declared circuit to recorded multi-region activity (data-constrained RNNs).

:func:`fit` trains a :class:`~mrnngraph.MultiRegionRNN` by gradient descent, through
its normal forward (the fused scan), so that its free-running activity reproduces a
:class:`~mrnngraph.Recording` trial by trial; :func:`pvar` scores it as CURBD does
(Perich et al. 2020); :func:`reconstruct` gives the model's version of the data.

The choices, and why
--------------------
* **Observed and latent units.** Region ``r`` with ``n`` recorded neurons: its first
  ``n`` units are matched, in order, to the neurons; its other units are latent
  (constrained only through the observed ones). A recording may leave regions out.
* **Observation.** Each observed neuron ``k`` reads its unit's rate :math:`h_k` through
  a per-neuron affine map, :math:`\hat y_k = a_k h_k + c_k` (``loss="gaussian"``), or
  :math:`\lambda_k = \mathrm{softplus}(a_k h_k + c_k)` as the mean of a Poisson count
  (``loss="poisson"``). :math:`a, c` start so that each neuron's training range fills
  most of the activation's range (:class:`Observation`) and are learned with the
  weights (``learn_observation=True``). So Hz, counts per bin or z-scores all work
  without normalising by hand. The Gaussian loss is the squared error of each
  neuron divided by its variance over the training data, so quiet and busy neurons
  count alike.
* **Initial state.** Trial ``i`` starts from its data: an observed unit's state is
  :math:`x_0 = f^{-1}((g^{-1}(y_{i,0}) - c)/a)` (the activation's inverse, the rate
  clipped inside its range; :math:`g` the link) — the first bin is given, bins
  ``1..T-1`` are predicted. Latent units start from a learned vector shared by all
  trials, kept in ``model.x0`` (a buffer the checkpoint saves); ``learn_x0=False``
  keeps the circuit's ``init`` instead.
* **Time.** A bin of ``dt`` ms is ``dt / model.dt`` model steps (an integer; CURBD's
  ``dtFactor``). Bin ``t + 1`` is compared with the rates after the steps that lead
  into it from bin ``t``, driven by the input of bin ``t + 1`` held over them — the
  convention of the model's ``forward`` and of :func:`mrnngraph.activity`, where
  ``rates[:, t]`` is the state after the input ``inputs[:, t]``.
* **Forcing.** ``fit(..., forcing=m)`` sets the observed units back to the data
  every ``m`` bins during training (pieces of ``m`` bins; latent units carry on), so
  each pathway's weight is tied to what its source did in the data, which a free run
  of a chaotic circuit loses after a few time constants. Evaluation always runs free.
* **Pathway sparsity.** :class:`PathwaySparsity` is a group lasso over between-region
  blocks that ``fit`` applies as a proximal step after each optimizer step (exact
  zeros; step ``lr``, decoupled from Adam's scaling).
* **Constraints.** Masks, Dale's law and frozen projections are the model's
  parametrizations, so they hold after every optimizer step; nothing here touches
  them (see ``tests/test_fitting.py``).
* **Ensembles.** ``fit(ens, recording)`` fits the ``N`` members of an
  :class:`~mrnngraph.Ensemble` in one batched run, each as if fitted alone on the same
  trial batches (its own observation, latent initial state, clipping, proximal step,
  divergence and early stopping: :func:`fit`'s "Ensembles"); :func:`pvar` and
  :func:`mrnngraph.analysis.pathway_strength` of an ensemble give each value a leading
  member dimension, ``(N,)``, as :func:`mrnngraph.analysis.currents` does.

The fitted :class:`Observation` is set as ``model.observation`` (and returned in
``history.observation``; an ensemble's as ``ens.observations``, one per member, and
``history.member_observation``) so that :func:`pvar`, :func:`reconstruct` and
:func:`mrnngraph.analysis.pathway_strength` read the model and the data in the same
units; pass ``observation=`` to use another (e.g. after :func:`mrnngraph.load_model`,
``Observation.from_dict(metadata["observation"])``).
"""

from ._evaluation import free_run, pvar, reconstruct
from ._loop import FitHistory, fit
from ._observation import Observation
from ._regression import RegressionReport, regress
from ._regularisers import PathwaySparsity

__all__ = [
    "fit",
    "pvar",
    "reconstruct",
    "free_run",
    "regress",
    "RegressionReport",
    "Observation",
    "FitHistory",
    "PathwaySparsity",
]
