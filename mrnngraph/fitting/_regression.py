r"""The weights of a circuit by constrained one-step regression (:func:`regress`).

When every bin of every observed unit is known, the model's one-step map is linear in
its weights. With :math:`\alpha = dt / \tau` per unit,

.. math::

    x_{t+1} = (1 - \alpha) x_t + \alpha (W \varphi(x_t) + W_{in} u_{t+1} + b),

so the drive :math:`z_t = (x_{t+1} - (1 - \alpha) x_t) / \alpha` is
:math:`\Theta [\varphi(x_t); u_{t+1}; 1]` with :math:`\Theta = [W, W_{in}, b]`, where
the observed units' states come from the data through the inverse of the per-neuron
read-out (:class:`Observation`). :func:`regress` solves that least-squares problem under
the circuit's constraints (masks, Dale's law, frozen projections, fixed biases), with a
ridge and the pathway group lasso, by ADMM on Gram matrices computed once (each
iteration is one product per row with a factored ``(F, F)`` matrix), and writes the
result through the model's parametrizations. ``refine=k`` first corrects the read-out's
per-neuron scale and offset, which the regression cannot (see :func:`regress`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from .._params import COUNT, NON_NEGATIVE, STEPS, Optional, check
from .._scan import ACTIVATION_FUNCTIONS, activation_derivative
from ..recording import Recording
from ..schema import Boolean, Options
from ._evaluation import _observed_index, _prepare, _tensors
from ._lsq import _admm, _Constraints, _groups, _rows_times, _weighted_grams
from ._observation import (
    _CLIP,
    _TARGET_RANGE,
    Observation,
    _copy_observation,
    _inverse_activation,
    _inverse_link,
)

__all__ = ["regress", "RegressionReport"]

_LOSSES = Options(("gaussian", "poisson"))
_WEIGHTINGS = Options(("rate", "state"))


@dataclass
class RegressionReport:
    """What :func:`regress` did.

    Attributes
    ----------
    iterations : int
        Proximal-gradient iterations run.
    converged : bool
        Whether the relative change of the weights fell below ``tol`` before
        ``iterations`` ran out.
    r2 : float
        Fraction of the variance of the one-step targets :math:`z_t` (each unit's
        around its own mean) that the regression explains, over all observed units.
    residual : float
        Mean squared one-step error in the model's drive units (per unit and bin).
    objective : float
        The regression's objective at the solution (data term + ridge + group lasso).
    cpu_s, seconds : float
        Process CPU time and wall time of the call.
    pathways : dict of (str, str) to float
        Each penalised pathway's fitted gain, ``||W[dst, src]||_F / sqrt(size(dst))``
        over its observed units, keyed ``(src, dst)``.
    zeroed : list of (str, str)
        The penalised pathways the group lasso switched off.
    observation : Observation
        The read-out the states were computed through (also set as
        ``model.observation``).
    """

    iterations: int
    converged: bool
    r2: float
    residual: float
    objective: float
    cpu_s: float
    seconds: float
    pathways: dict[tuple[str, str], float] = field(default_factory=dict)
    zeroed: list[tuple[str, str]] = field(default_factory=list)
    observation: Observation | None = None
    refined: tuple[float, float] | None = None


def regress(
    model: nn.Module,
    recording: Recording,
    *,
    sparsity: float = 0.0,
    ridge: float = 1e-3,
    iterations: int = 3000,
    tol: float = 1e-5,
    loss: Literal["gaussian", "poisson"] = "gaussian",
    self_connections: bool = False,
    weighting: Literal["rate", "state"] = "rate",
    refine: int = 0,
    refine_trials: int | None = None,
    observation: Observation | None = None,
) -> RegressionReport:
    r"""Set ``model``'s weights by constrained one-step regression on ``recording``.

    Solves, over the recurrent weights among the observed units, their input weights
    and their learnable biases,

    .. math::

        \min_\Theta \frac{1}{2n} \sum_{t,i} w_{t,i} (z_{t,i} - \Theta_i \phi_t)^2
        + \frac{\rho}{2} \|[W, W_{in}]\|_F^2
        + \lambda \sum_{\mathrm{src} \ne \mathrm{dst}}
          \frac{\|W_{\mathrm{dst}, \mathrm{src}}\|_F}{\sqrt{\mathrm{size(dst)}}}

    subject to the circuit's masks, Dale's law and frozen entries, where ``n`` counts
    the training transitions (``trials * (T - 1)``), :math:`\phi_t = [\varphi(x_t);
    u_{t+1}; 1]`, and :math:`z_t` is the drive that takes the data's state :math:`x_t`
    to :math:`x_{t+1}` (module docs). ``weighting="rate"`` (default) weighs each bin by
    :math:`\varphi'(x_{t+1,i})^2`, so a drive error counts as the error it makes in the
    next bin's rate: a saturated bin, whose state the activation's inverse cannot tell
    (the rate is clipped before it), says little. Each unit's weights are scaled to mean
    1 (``"state"``: all 1), so the data term is a mean squared error in the drive's units.

    The read-out is :meth:`Observation.initial` with ``model.activation`` and ``loss``
    (where :func:`fit` starts), or ``observation``. Its per-neuron scale and offset fix
    how close to saturation each neuron's rates are, which the one-step map is very
    sensitive to: on the ground truth of ``docs/fitting.md`` (tanh units in pseudo-Hz),
    the initial read-out leaves a spurious pathway as strong as the true ones, which
    absorbs the misfit. ``refine=k`` corrects it: after a first solve (no group lasso),
    ``k`` L-BFGS iterations minimise the exact one-step loss in the data's units (the
    loss of ``fit(..., forcing=1)``) over the observed block's weights and each neuron's
    scale and offset together, on ``refine_trials`` evenly spaced trials (default:
    all); the last solve, at the refined read-out and with the group lasso, sets the
    weights. The read-out used is set as ``model.observation``, so :func:`pvar` and
    :func:`mrnngraph.analysis.pathway_strength` read the model in the data's units.

    The weights are written through the model's constrained parametrizations. A
    pathway the group lasso switches off is exactly zero; under Dale's law its
    entries (and every entry the sign constraint holds at zero) are the smallest
    positive float instead, so that a following ``fit`` can still move them (the
    gradient of ``|W|`` is 0 at 0).

    Parameters
    ----------
    model : MultiRegionRNN
        Dense, without conduction delays; ``model.dt`` must equal the recording's bin.
    recording : Recording
        Training trials (every bin is used).
    sparsity : float
        :math:`\lambda`, the weight of the group lasso on the pathways between
        regions (0: none). On the regression's scale (a mean squared drive error), not
        on :class:`PathwaySparsity`'s in :func:`fit`.
    ridge : float
        :math:`\rho`, an L2 penalty on the weights (not the biases).
    iterations : int
        Most ADMM iterations of each solve.
    tol : float
        Stop when the primal and dual residuals, relative to the weights and to the
        data term's gradient, are below this.
    loss : {"gaussian", "poisson"}
        The read-out's link, as in :func:`fit` (the states come through its inverse).
    self_connections : bool
        Also put the group lasso on each region's projection onto itself.
    weighting : {"rate", "state"}
        How each bin's drive error counts (see above).
    refine : int
        L-BFGS iterations that refine the read-out with the weights (0: none).
    refine_trials : int, optional
        Trials (evenly spaced) the refinement uses; the solves use all of them.
    observation : Observation, optional
        The read-out to start from (copied), e.g. a fitted model's
        ``model.observation``; default :meth:`Observation.initial`.

    Returns
    -------
    RegressionReport

    Raises
    ------
    TypeError, ValueError
        For arguments of the wrong kind or value, naming the argument.
    ValueError
        For a recording whose bin is several model steps (the map over a bin is then
        not linear in the weights: build the model with ``dt`` equal to the bin), a
        block-sparse model, conduction delays, an activation without an inverse, an
        observation that does not cover the recording.

    Notes
    -----
    Latent units (a region larger than its recorded population) have no states in the
    data, so only the observed block is regressed: the weights among observed units,
    their input weights and biases. Rows of latent units and the columns from them
    keep their values, and the regression does not see the current latent units send
    to observed ones (it is part of the residual); a following :func:`fit` trains
    them. (Zeroing those columns would make the regression exact for the observed
    block, but under Dale's law an entry at 0 has no gradient and could never grow
    back.)

    The one-step regression fits the noise of the next bin when the data are noisy
    (errors in variables), as ``fit(..., forcing=1)`` does: check the free run on
    held-out trials (:func:`pvar`), and follow with :func:`fit` where it falls short.
    ``fit`` starts its read-out from :meth:`Observation.initial`, so it continues
    from this consistently only without ``refine`` (or ``observation``).

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.fitting import pvar
    >>> from mrnngraph.presets.ground_truth import fitting_graph, simulate_ground_truth
    >>> rec = simulate_ground_truth(size=20, n_trials=12, n_steps=80)["recording"]  # Hz
    >>> model = mg.MultiRegionRNN.from_graph(fitting_graph(20), seed=1)
    >>> report = regress(model, rec, sparsity=0.1, refine=50)
    >>> max(report.pathways, key=report.pathways.get), pvar(model, rec)["all"] > 0.99
    (('a', 'b'), True)
    """
    cpu0, wall0 = time.process_time(), time.perf_counter()
    k = _prepare(model, recording)
    sparsity = check("sparsity", sparsity, NON_NEGATIVE)
    ridge = check("ridge", ridge, NON_NEGATIVE)
    iterations = check("iterations", iterations, STEPS)
    tol = check("tol", tol, NON_NEGATIVE)
    loss = check("loss", loss, _LOSSES)
    self_connections = check("self_connections", self_connections, Boolean())
    weighting = check("weighting", weighting, _WEIGHTINGS)
    refine = check("refine", refine, COUNT)
    refine_trials = check("refine_trials", refine_trials, Optional(STEPS))
    if model.activation not in _TARGET_RANGE:
        raise ValueError(
            f"cannot regress a model with activation {model.activation!r}; "
            f"use one of {', '.join(_TARGET_RANGE)}"
        )
    if k != 1:
        raise ValueError(
            f"regress needs one model step per bin; the recording's bin ({recording.dt:g} "
            f"ms) is {k} steps of the model (dt = {model.dt:g} ms), and over several steps "
            f"the map is not linear in the weights: build the model with dt={recording.dt:g}"
        )
    from ..ensemble import Ensemble

    if isinstance(model, Ensemble):
        raise TypeError(
            "regress fits one MultiRegionRNN, not an Ensemble; regress each member "
            "(ens[k]) and stack them with Ensemble.from_models"
        )
    if getattr(model, "sparse", False):
        raise ValueError("regress needs dense recurrent weights; build the model with sparse=False")
    if getattr(model, "_delays", None) is not None:
        raise ValueError(
            "regress cannot fit a circuit with conduction delays (the one-step map then "
            "reads earlier bins); fit it with mrnngraph.fitting.fit"
        )

    if observation is None:
        obs = Observation.initial(recording, model.activation, loss)
    else:
        obs = _copy_observation(observation, recording, model.activation)
    dev = model.alpha.device
    f64 = {"device": dev, "dtype": torch.float64}
    rates, u = _tensors(recording, model)
    rates = {r: v.to(**f64) for r, v in rates.items()}
    u = u.to(**f64)
    idx = _observed_index(model, recording).to(dev)
    con = _Constraints(model, idx, **f64)
    refined = None
    if refine:
        # A first solve without the group lasso is the start of the refinement; the last
        # solve, at the refined read-out, decides which pathways stay.
        theta, *_ = _solve(
            model, obs, rates, u, idx, con, weighting, ridge, 0.0, [], iterations, tol
        )
        con.write(model, theta)
        obs, refined = _refine(model, obs, rates, u, idx, refine, refine_trials)
        con = _Constraints(model, idx, **f64)
    groups = _groups(model, recording, con, self_connections) if sparsity > 0 else []
    theta, it, converged, sse, sst, objective = _solve(
        model, obs, rates, u, idx, con, weighting, ridge, sparsity, groups, iterations, tol
    )
    pathways, zeroed = {}, []
    for rows, cols, size, key in groups:
        gain = float(theta[rows, cols].norm()) / math.sqrt(size)
        pathways[key] = gain
        if gain == 0.0:
            zeroed.append(key)
    con.write(model, theta)
    model.observation = obs
    return RegressionReport(
        iterations=it,
        converged=converged,
        r2=1.0 - sse / sst if sst > 0 else math.nan,
        residual=sse / idx.numel(),
        objective=objective,
        cpu_s=time.process_time() - cpu0,
        seconds=time.perf_counter() - wall0,
        pathways=pathways,
        zeroed=zeroed,
        observation=obs,
        refined=refined,
    )


def _states(obs: Observation, rates: dict[str, torch.Tensor]) -> torch.Tensor:
    """Observed units' states ``(B, T, n_obs)`` from the data, in ``_observed_index`` order."""
    return torch.cat([obs.initial_state(r, y) for r, y in rates.items()], dim=2)


def _solve(
    model: nn.Module,
    obs: Observation,
    rates: dict[str, torch.Tensor],
    u: torch.Tensor,
    idx: torch.Tensor,
    con: _Constraints,
    weighting: str,
    ridge: float,
    sparsity: float,
    groups: list[tuple[slice, slice, int, tuple[str, str]]],
    iterations: int,
    tol: float,
) -> tuple[torch.Tensor, int, bool, float, float, float]:
    """The regression at read-out ``obs``: (theta, iterations, converged, data term sum of
    squares per bin, its total, objective)."""
    x = _states(obs, rates)
    alpha = model.alpha.detach().to(x)[idx]
    h = ACTIVATION_FUNCTIONS[model.activation](x)
    # The target is the drive z. With weighting="rate" a bin's error in z counts as the
    # error it makes, linearised, in the next bin's rate (f'(x) * alpha * dz): bins where
    # the rate saturates (or was clipped before the inverse) say little about x. Each
    # row's weights are scaled to mean 1, so the data term is a mean squared error in
    # the drive's units whatever alpha and the weighting.
    if weighting == "rate":
        w = activation_derivative(model.activation, x[:, 1:], h[:, 1:]).pow(2)
        w = w / w.mean(dim=(0, 1)).clamp(min=1e-300)
    else:
        w = torch.ones_like(x[:, 1:])
    z = (x[:, 1:] - (1 - alpha) * x[:, :-1]) / alpha
    B, T1, n_obs = z.shape
    n = B * T1
    ones = torch.ones(B, T1, 1, dtype=x.dtype, device=x.device)
    feats = torch.cat([h[:, :-1], u[:, 1:], ones], dim=2)
    feats, z, w = feats.reshape(n, -1), z.reshape(n, n_obs), w.reshape(n, n_obs)
    if weighting == "rate":  # one Gram matrix per row: (n_obs, F, F)
        gram = _weighted_grams(feats, w) / n
    else:
        gram = (feats.T @ feats / n).unsqueeze(0)
    cross = (w * z).T @ feats / n  # (n_obs, F)
    zz = float((w * z * z).sum()) / n
    zc = z - (w * z).sum(0) / w.sum(0).clamp(min=1e-300)
    sst = float((w * zc * zc).sum()) / n

    reg = torch.zeros(con.free.shape[1], dtype=x.dtype, device=x.device)
    reg[: n_obs + u.shape[2]] = ridge
    thresholds = [(rows, cols, sparsity / math.sqrt(size)) for rows, cols, size, _ in groups]

    def prox(v: torch.Tensor, step: float) -> torch.Tensor:
        v = con.project(v)
        for rows, cols, lam in thresholds:
            block = v[rows, cols]
            norm = float(block.norm())
            v[rows, cols] = block * (max(0.0, 1.0 - step * lam / norm) if norm > 0 else 0.0)
        return v

    theta, it, converged = _admm(gram, cross, reg, prox, con.project(con.start), iterations, tol)
    sse = float((_rows_times(theta, gram) * theta).sum() - 2 * (cross * theta).sum()) + zz
    objective = 0.5 * sse + 0.5 * float((reg * theta * theta).sum())
    objective += sum(lam * float(theta[r, c].norm()) for r, c, lam in thresholds)
    return theta, it, converged, sse, sst, objective


def _refine(
    model: nn.Module,
    obs: Observation,
    rates: dict[str, torch.Tensor],
    u: torch.Tensor,
    idx: torch.Tensor,
    iterations: int,
    trials: int | None,
) -> tuple[Observation, tuple[float, float]]:
    """L-BFGS on the observed block's weights and the read-out's scale and offset together,
    on the exact one-step loss in the data's units (``fit(..., forcing=1)``'s loss), so
    that each neuron's scale and offset say how far its rate is from saturation; returns
    the refined read-out and the loss before and after. The weights move through the
    model's parametrizations, so they keep every constraint."""
    regions = list(rates)
    dtype = model.alpha.dtype
    act = ACTIVATION_FUNCTIONS[model.activation]
    y = torch.cat([rates[r] for r in regions], dim=2).to(dtype)  # (B, T, n_obs)
    if trials is not None and trials < y.shape[0]:
        # Evenly spaced trials: the read-out needs far fewer bins than the weights.
        sel = torch.linspace(0, y.shape[0] - 1, trials).round().long().to(y.device)
        y, u = y[sel], u[sel]
    gy = _inverse_link(obs.loss, y)  # the link's inverse does not depend on a, c
    uu = u.to(dtype)
    cat = lambda d: torch.cat([d[r] for r in regions]).to(uu)  # noqa: E731
    a0, c0, weight = cat(obs.scale), cat(obs.offset), cat(obs.weight)
    lo, hi = _CLIP[model.activation]
    log_a = torch.zeros_like(a0, requires_grad=True)
    shift = torch.zeros_like(c0, requires_grad=True)
    raws = [model.parametrizations.weight_hh.original, model.parametrizations.weight_ih.original]
    if parametrize.is_parametrized(model, "bias"):
        raws.append(model.parametrizations.bias.original)
    raws = [p for p in raws if p.requires_grad]
    alpha = model.alpha.detach()[idx]
    target = y[:, 1:]

    def value() -> torch.Tensor:
        a = a0 * log_a.exp()
        c = c0 + a0 * shift
        h = ((gy[:, :-1] - c) / a).clamp(lo, hi)
        x = _inverse_activation(model.activation, h)
        # f(f^-1(h)) = h inside the clip range (relu: the inverse is the identity), which
        # saves an activation and its backward on every bin.
        h = h.clamp(min=0) if model.activation == "relu" else h
        w_hh = model.weight_hh[idx][:, idx]
        drive = h @ w_hh.T + uu[:, 1:] @ model.weight_ih[idx].T + model.bias[idx]
        z = a * act((1 - alpha) * x + alpha * drive) + c
        if obs.loss == "poisson":
            return torch.nn.functional.poisson_nll_loss(
                torch.nn.functional.softplus(z), target, log_input=False, full=False, eps=1e-6
            )
        return ((z - target).pow(2) * weight).mean()

    params = [*raws, log_a, shift]
    opt = torch.optim.LBFGS(
        params, lr=1.0, max_iter=iterations, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        v = value()
        v.backward()
        return v

    with torch.no_grad():
        before = float(value())
    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        after = float(value())
        scale, offset = (a0 * log_a.exp()).float().cpu(), (c0 + a0 * shift).float().cpu()
    for p in params:
        p.grad = None
    sizes = [rates[r].shape[2] for r in regions]
    out = Observation(
        dict(zip(regions, scale.split(sizes), strict=True)),
        dict(zip(regions, offset.split(sizes), strict=True)),
        obs.loss,
        obs.activation,
        dict(zip(regions, weight.float().cpu().split(sizes), strict=True)),
    )
    return out, (before, after)
