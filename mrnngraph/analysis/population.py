"""Principal components of each region's activity, for recordings and models alike.

:func:`pca` fits one PCA per region, on condition-averaged trajectories (when a
condition variable is given) or on single-trial activity, and projects every
trial onto the components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._params import STEPS, validate_params
from ..recording import Recording
from .decoding import _region_rates, _times, trial_variable

__all__ = ["pca", "PopulationPCA", "RegionPCA"]


@dataclass(frozen=True, eq=False)
class RegionPCA:
    """One region's principal components.

    Attributes
    ----------
    components : ndarray, shape (k, neurons)
        Unit-norm principal axes, by decreasing variance.
    mean : ndarray, shape (neurons,)
        The mean of the fitted data, subtracted before projecting.
    explained_variance : ndarray, shape (k,)
        Variance of the fitted data along each axis.
    explained_variance_ratio : ndarray, shape (k,)
        The same as a fraction of the fitted data's total variance.
    projections : ndarray, shape (trials, T, k)
        Every trial projected on the components.
    condition_projections : ndarray, shape (conditions, T, k) or None
        The condition averages projected (what was fitted, with ``trial_average_by``).
    """

    components: np.ndarray
    mean: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    projections: np.ndarray
    condition_projections: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])


@dataclass(frozen=True, eq=False)
class PopulationPCA:
    """What :func:`pca` returns: a :class:`RegionPCA` by region, and the conditions.

    Attributes
    ----------
    regions : dict of str to RegionPCA
    times : ndarray, shape (T,)
        Time of each bin in ms.
    conditions : ndarray or None
        The condition values (sorted) when fitted on condition averages.
    condition_index : ndarray of int, shape (trials,) or None
        Each trial's index into ``conditions``.
    by : str or None
        The name of the condition variable, when given by name.
    fitted_on : {"condition averages", "single trials"}
    """

    regions: dict[str, RegionPCA]
    times: np.ndarray
    conditions: np.ndarray | None
    condition_index: np.ndarray | None
    by: str | None
    fitted_on: str

    def __getitem__(self, region: str) -> RegionPCA:
        if region not in self.regions:
            raise KeyError(f"no region {region!r} in this result; regions: {list(self.regions)}")
        return self.regions[region]

    @property
    def explained_variance_ratio(self) -> dict[str, np.ndarray]:
        """``{region: (k,) ratios}``."""
        return {r: p.explained_variance_ratio for r, p in self.regions.items()}

    @property
    def projections(self) -> dict[str, np.ndarray]:
        """``{region: (trials, T, k) projections}``."""
        return {r: p.projections for r, p in self.regions.items()}


@validate_params({"n_components": STEPS})
def pca(
    recording: Recording,
    n_components: int = 3,
    *,
    trial_average_by: Any = None,
    regions: Sequence[str] | str | None = None,
) -> PopulationPCA:
    """Per-region PCA of population activity over time.

    What is fitted, per region (rows = samples, columns = neurons):

    * ``trial_average_by`` given (a trial variable's name or a ``(trials,)`` array):
      the **condition-averaged** trajectories, one ``(T, neurons)`` mean per distinct
      value, stacked. Single-trial noise averages out, so the axes describe how
      activity evolves and differs between conditions (the usual choice for
      trajectories, e.g. Mante et al. 2013). Each condition weighs the same whatever
      its number of trials.
    * ``trial_average_by=None``: every bin of every trial (``trials * T`` rows). The
      axes then also capture trial-to-trial variability.

    Every single trial is then projected on the axes: ``(x - mean) @ components.T``.

    Parameters
    ----------
    recording : Recording
        Activity by region, ``rates[region]`` of shape ``(trials, T, neurons)``.
    n_components : int
        Axes kept per region (at most the region's neurons and the fitted samples; a
        smaller region keeps fewer).
    trial_average_by : str or array, optional
        The condition of each trial (see above).
    regions : str or sequence of str, optional
        Default: all of the recording's regions.

    Returns
    -------
    PopulationPCA

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> rng = np.random.default_rng(0)
    >>> latent = rng.normal(size=(50, 20, 2)) * [3.0, 1.0]   # 2 latent dimensions
    >>> rates = latent @ rng.normal(size=(2, 30)) + 0.01 * rng.normal(size=(50, 20, 30))
    >>> res = pca(SimpleNamespace(rates={"a": rates}, dt=10.0), 4)
    >>> res["a"].projections.shape, round(float(res["a"].explained_variance_ratio[:2].sum()), 3)
    ((50, 20, 4), 1.0)
    """
    rates = _region_rates(recording, regions)
    n, T = next(iter(rates.values())).shape[:2]
    conditions = index = by = None
    if trial_average_by is not None:
        cond, by = trial_variable(recording, trial_average_by, n, "trial_average_by")
        conditions, index = np.unique(cond, return_inverse=True)
    out = {}
    for region, x in rates.items():
        if not np.isfinite(x).all():
            raise ValueError(f"rates[{region!r}] have non-finite values")
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
        if conditions is None:
            fit = xt.reshape(n * T, -1)
            avg = None
        else:
            idx = torch.as_tensor(index)
            avg = torch.stack([xt[idx == c].mean(0) for c in range(conditions.size)])
            fit = avg.reshape(-1, xt.shape[-1])
        mean = fit.mean(0)
        fc = fit - mean
        # Eigendecomposition of the (neurons x neurons) covariance: rows >> neurons here.
        lam, vec = torch.linalg.eigh(fc.T @ fc)
        lam, vec = lam.flip(0).clamp(min=0.0), vec.flip(1)
        k = min(n_components, xt.shape[-1], fit.shape[0])
        comps = vec[:, :k].T
        # Sign convention: the largest loading of each axis is positive (deterministic).
        big = comps.abs().argmax(1)
        comps = comps * torch.sign(comps[torch.arange(k), big])[:, None]
        total = lam.sum()
        var = lam[:k] / max(fit.shape[0] - 1, 1)
        ratio = lam[:k] / total if float(total) > 0 else torch.zeros(k, dtype=lam.dtype)
        out[region] = RegionPCA(
            components=comps.numpy(),
            mean=mean.numpy(),
            explained_variance=var.numpy(),
            explained_variance_ratio=ratio.numpy(),
            projections=((xt - mean) @ comps.T).numpy(),
            condition_projections=None if avg is None else ((avg - mean) @ comps.T).numpy(),
        )
    return PopulationPCA(
        regions=out,
        times=_times(recording, T),
        conditions=conditions,
        condition_index=index,
        by=by,
        fitted_on="single trials" if conditions is None else "condition averages",
    )
