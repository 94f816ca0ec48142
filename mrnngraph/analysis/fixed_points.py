r"""Fixed and slow points of the update map (Sussillo & Barak 2013).

A fixed point of :math:`F(x) = x + \alpha(-x + W_{hh} f(x) + W_{ih} u + b)` under a
constant input :math:`u` is a zero of :math:`R(x) = F(x) - x`; slow points are local
minima of :math:`q(x) = \tfrac12\lVert R(x)\rVert^2` where :math:`q` stays small
but positive. Because :math:`R = \alpha(-x + W f(x) + W_{ih} u + b)` the fixed
points are those of the continuous-time dynamics too.

Conduction delays do not move fixed points (a state held constant reads the same
rates whatever the delay), so the search uses the instantaneous map; the stability
of each point is taken from the delayed map on the augmented state
(:func:`mrnngraph.analysis.linear.delay_jacobian_matrices`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ._common import activation, as_input_batch, as_state_batch, effective, update
from .linear import delay_jacobian_matrices, jacobian_matrices

__all__ = ["FixedPoints", "find_fixed_points", "sample_states"]


@dataclass(frozen=True, eq=False)
class FixedPoints:
    """Result of :func:`find_fixed_points`: distinct points, best (lowest ``q``) first.

    Attributes
    ----------
    points : Tensor, shape (K, H)
        Pre-activation states.
    q : Tensor, shape (K,)
        :math:`\\tfrac12\\lVert F(x) - x\\rVert^2` at each point.
    converged : Tensor, shape (K,), bool
        ``q < tol``: a fixed point; the others are slow points (or optimiser failures).
    eigenvalues : Tensor, shape (K, H), complex
        Of the Jacobian of the update map at each point, largest modulus first. With
        recurrent delays of up to ``L`` steps: of the delayed map on the augmented
        state, shape ``(K, H (L + 1))``.
    inputs : Tensor, shape (K, I)
        The constant input each point was found under.
    tol : float
    n_initial : int
        How many initial states were optimised.
    n_dropped : int
        Initial states whose optimisation diverged (non-finite), left out.
    """

    points: torch.Tensor
    q: torch.Tensor
    converged: torch.Tensor
    eigenvalues: torch.Tensor
    inputs: torch.Tensor
    tol: float
    n_initial: int
    n_dropped: int = 0

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def stable(self) -> torch.Tensor:
        """``(K,)`` bool: every eigenvalue inside the unit circle."""
        return (self.eigenvalues.abs() < 1).all(dim=-1)

    @property
    def n_unstable(self) -> torch.Tensor:
        """``(K,)`` number of eigenvalues outside the unit circle (unstable directions)."""
        return (self.eigenvalues.abs() > 1).sum(dim=-1)

    def __repr__(self) -> str:
        n_conv = int(self.converged.sum())
        n_stable = int((self.stable & self.converged).sum())
        return (
            f"FixedPoints({len(self)} distinct from {self.n_initial} initial states: "
            f"{n_conv} with q < {self.tol:g} ({n_stable} stable), "
            f"{len(self) - n_conv} slow points)"
        )


def sample_states(
    states: torch.Tensor, n: int, *, noise: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` states drawn at random from trajectories ``(..., H)``, plus Gaussian noise.

    The usual initial states for :func:`find_fixed_points`: points visited while
    the network did the task.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> sample_states(torch.randn(4, 50, 8), 16, noise=0.1, generator=g).shape
    torch.Size([16, 8])
    """
    flat = states.detach().reshape(-1, states.shape[-1])
    if flat.shape[0] == 0:
        raise ValueError("states is empty")
    idx = torch.randint(flat.shape[0], (n,), generator=generator)
    out = flat[idx.to(flat.device)].clone()
    if noise > 0:
        out = out + noise * torch.randn(out.shape, generator=generator).to(out)
    return out


def find_fixed_points(
    model,
    inputs_const: torch.Tensor | float | None,
    initial_states: torch.Tensor,
    *,
    method: Literal["lm", "adam"] = "lm",
    tol: float = 1e-12,
    max_iter: int | None = None,
    lr: float = 0.05,
    refine_iter: int = 50,
    dedup_tol: float = 1e-4,
    dtype: torch.dtype = torch.float64,
) -> FixedPoints:
    r"""Find fixed and slow points by minimising :math:`q(x) = \tfrac12\lVert F(x) - x\rVert^2`.

    All initial states are optimised together, as one batch, each point on its own
    (the objective is the sum of the points' :math:`q`, which do not interact).

    ``method="lm"`` (default): **Levenberg–Marquardt** on the residual
    :math:`R(x) = F(x) - x` for at most ``max_iter`` (default 100) steps. Each point
    takes the step :math:`-(A^\top A + \lambda m I)^{-1} A^\top R` with
    :math:`A = \partial F/\partial x - I` and :math:`m` the mean of
    :math:`\mathrm{diag}(A^\top A)`, only where it lowers :math:`q` (then
    :math:`\lambda` shrinks tenfold, else it grows tenfold; start :math:`10^{-3}`), so
    :math:`q` never rises. Once :math:`q <` ``tol`` a point is polished until a step no
    longer halves :math:`q` (convergence is quadratic there, so this reaches the working
    precision in a few steps); a point also stops once :math:`\lambda > 10^{10}` (no
    step lowers :math:`q`: a local minimum of :math:`q` with :math:`q > 0`, a slow
    point). Costs :math:`O(N H^3)` per step.

    ``method="adam"``: **Adam** (learning rate ``lr``) on :math:`\sum_n q(x_n)` for
    ``max_iter`` (default 2000) steps, stopping early once every :math:`q <` ``tol``;
    then ``refine_iter`` Levenberg–Marquardt steps (0 skips them). :math:`O(N H^2)` per
    step; it drifts into the slow regions of state space, which is what mapping slow
    points (Sussillo & Barak 2013) needs, and scales to large ``H``.

    Points within ``dedup_tol`` (Euclidean distance) of a point with lower ``q``
    are duplicates and dropped; diverged (non-finite) points are dropped and counted.
    Stability comes from the eigenvalues of the Jacobian of :math:`F` at each point
    (stable if all have modulus < 1).

    The model is only read: its effective weights are copied once into plain tensors
    of ``dtype``, so parameters, gradients and every ``requires_grad`` flag are left
    exactly as they were, inside ``torch.no_grad()`` or not. Clamps and cuts of an
    active :func:`mrnngraph.perturb` apply; stimulation (time-varying) does not.

    Parameters
    ----------
    model : MultiRegionRNN
    inputs_const : Tensor, shape (I,) or (N, I), number or None
        The constant input :math:`u` (None: zeros); one per initial state if 2-D.
    initial_states : Tensor, shape (N, H)
        Where to start, e.g. :func:`sample_states` of the task's trajectories.
    method : {"lm", "adam"}
    tol : float
        ``q`` below which a point counts as fixed.
    max_iter : int, optional
        Steps of the main optimiser (default 100 for ``"lm"``, 2000 for ``"adam"``).
    lr : float
        Adam's learning rate.
    refine_iter : int
        Levenberg–Marquardt steps after Adam.
    dedup_tol : float
        Distance under which two points are the same.
    dtype : torch.dtype
        Working precision (float64 by default); the results are in it.

    Returns
    -------
    FixedPoints

    Examples
    --------
    >>> import networkx as nx, torch
    >>> from mrnngraph import MultiRegionRNN
    >>> G = nx.DiGraph(activation="linear")
    >>> G.add_node("u", kind="input", size=1)
    >>> G.add_node("a", size=3)
    >>> G.add_edges_from([("u", "a"), ("a", "a")])
    >>> model = MultiRegionRNN.from_graph(G, seed=0, spectral_radius=0.5)
    >>> fps = find_fixed_points(model, torch.ones(1), torch.randn(8, 3))
    >>> len(fps), bool(fps.converged.all()), bool(fps.stable.all())
    (1, True, True)
    """
    if method not in ("lm", "adam"):
        raise ValueError(f"method must be 'lm' or 'adam'; got {method!r}")
    if max_iter is None:
        max_iter = 100 if method == "lm" else 2000
    for name, v in (("tol", tol), ("lr", lr), ("dedup_tol", dedup_tol)):
        if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a float >= 0; got {v!r}")
    for name, v in (("max_iter", max_iter), ("refine_iter", refine_iter)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0; got {v!r}")
    x = as_state_batch(model, initial_states, "initial_states").detach().to(dtype).clone()
    n = x.shape[0]
    u = as_input_batch(model, inputs_const, n, x, "inputs_const").detach()
    w_hh, w_ih, bias, alpha = effective(model, dtype=dtype)
    f = activation(model)

    def residual(xx: torch.Tensor, uu: torch.Tensor) -> torch.Tensor:
        return update(xx, uu, w_hh, w_ih, bias, alpha, f) - xx

    if method == "adam":
        x = _adam(x, u, residual, max_iter, lr, tol)
        x = _levenberg_marquardt(model, x, u, residual, refine_iter, tol, dtype)
    else:
        x = _levenberg_marquardt(model, x, u, residual, max_iter, tol, dtype)

    with torch.no_grad():
        q = 0.5 * residual(x, u).pow(2).sum(-1)
    finite = torch.isfinite(q) & torch.isfinite(x).all(-1)
    x, q, u = x[finite], q[finite], u[finite]
    order = q.argsort()
    x, q = x[order], q[order]
    keep: list[int] = []
    if x.shape[0]:
        dist = torch.cdist(x, x)
        for i in range(x.shape[0]):
            if not keep or bool((dist[i, keep] > dedup_tol).all()):
                keep.append(i)
    x, q = x[keep], q[keep]
    delayed = delay_jacobian_matrices(model, x, dtype=dtype)
    J = jacobian_matrices(model, x, dtype=dtype) if delayed is None else delayed
    ev = (
        torch.linalg.eigvals(J)
        if x.shape[0]
        else torch.zeros(0, J.shape[-1], dtype=torch.complex128)
    )
    ev = torch.gather(ev, 1, ev.abs().argsort(dim=1, descending=True))
    inputs = u[order][keep]
    return FixedPoints(
        points=x,
        q=q,
        converged=q < tol,
        eigenvalues=ev,
        inputs=inputs,
        tol=float(tol),
        n_initial=n,
        n_dropped=int((~finite).sum()),
    )


def _adam(
    x: torch.Tensor, u: torch.Tensor, residual, steps: int, lr: float, tol: float
) -> torch.Tensor:
    with torch.enable_grad():
        x = x.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr)
        for it in range(steps):
            opt.zero_grad(set_to_none=True)
            q = 0.5 * residual(x, u).pow(2).sum(-1)
            if it % 10 == 0 and bool((q.detach() < tol).all()):
                break
            q.sum().backward()
            opt.step()
    return x.detach()


def _levenberg_marquardt(
    model, x: torch.Tensor, u: torch.Tensor, residual, steps: int, tol: float, dtype: torch.dtype
) -> torch.Tensor:
    if steps == 0 or x.shape[0] == 0:
        return x
    H = x.shape[1]
    eye = torch.eye(H, dtype=dtype, device=x.device)
    lam = torch.full((x.shape[0],), 1e-3, dtype=dtype, device=x.device)
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    with torch.no_grad():
        r = residual(x, u)
        q = 0.5 * r.pow(2).sum(-1)
        for _ in range(steps):
            active = torch.isfinite(q) & ~done & (lam <= 1e10)
            if not bool(active.any()):
                break
            idx = active.nonzero().squeeze(1)
            xa, ra = x[idx], r[idx]
            a = jacobian_matrices(model, xa, dtype=dtype) - eye
            at = a.transpose(1, 2)
            ata = at @ a
            scale = ata.diagonal(dim1=1, dim2=2).mean(-1).clamp(min=torch.finfo(dtype).tiny)
            lhs = ata + (lam[idx] * scale)[:, None, None] * eye
            # The damped normal equations are symmetric positive definite: Cholesky, not
            # the batched LU of torch.linalg.solve, which fails inside MKL once a process
            # has called torch.set_num_threads(>= 2) (pytorch/pytorch#142815). A failed
            # factorisation counts as no improvement, so the damping grows.
            chol, info = torch.linalg.cholesky_ex(lhs)
            factored = info == 0
            chol = torch.where(factored[:, None, None], chol, eye)
            step = torch.cholesky_solve(-(at @ ra.unsqueeze(-1)), chol).squeeze(-1)
            x_new = xa + step
            r_new = residual(x_new, u[idx])
            q_new = 0.5 * r_new.pow(2).sum(-1)
            better = factored & torch.isfinite(q_new) & (q_new < q[idx])
            # A fixed point is polished until a step no longer halves q.
            done[idx] = (q[idx] < tol) & ~(better & (q_new < 0.5 * q[idx]))
            x[idx[better]] = x_new[better]
            r[idx[better]] = r_new[better]
            q[idx[better]] = q_new[better]
            lam[idx] = torch.where(better, (lam[idx] / 10).clamp(min=1e-12), lam[idx] * 10)
    return x
