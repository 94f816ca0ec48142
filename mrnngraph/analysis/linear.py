"""Linearisation of the update map around a state, with region blocks by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch

from ..circuit import Layout
from ._common import activation, as_input_batch, as_state_batch, effective, update

__all__ = ["Jacobian", "delay_jacobian_matrices", "jacobian", "jacobian_matrices"]


def _fprime(f, x: torch.Tensor) -> torch.Tensor:
    """Derivative of an elementwise rate function at ``x`` (0 at clamped units)."""
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        y = f(xx)
        if not y.requires_grad:
            return torch.zeros_like(x)
        (g,) = torch.autograd.grad(y.sum(), xx)
    return g


def jacobian_matrices(
    model, x: torch.Tensor, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    r"""Jacobians of the update map at a batch of states, ``(N, H, H)``.

    :math:`\partial F/\partial x = \mathrm{diag}(1 - \alpha) + \mathrm{diag}(\alpha)\,
    W_{hh}\,\mathrm{diag}(f'(x))`; the input enters additively and drops out. With
    conduction delays this is the *instantaneous* map (every delay set to 0): its zeros of
    :math:`F(x) - x` are the delayed network's fixed points too, but its eigenvalues do not
    decide their stability (:func:`delay_jacobian_matrices` does).
    """
    x = as_state_batch(model, x).to(dtype)
    w_hh, _, _, alpha = effective(model, dtype=dtype)
    d = _fprime(activation(model), x)
    eye = torch.diag_embed((1 - alpha).expand_as(x))
    return eye + alpha[:, None] * w_hh * d[:, None, :]


def delay_jacobian_matrices(
    model, x: torch.Tensor, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor | None:
    r"""Jacobians of the delayed update map on the augmented state, ``(N, H(L+1), H(L+1))``;
    None when no recurrent edge has a delay.

    With delays of up to ``L`` steps the network is a map of
    :math:`z_t = (x_t, x_{t-1}, \dots, x_{t-L})`:
    :math:`x_{t+1} = (1 - \alpha) x_t + \alpha(\sum_k W_k f(x_{t-k}) + W_{ih} u + b)`,
    :math:`W_k` the recurrent weights of delay ``k``. Its Jacobian at a state held for
    ``L`` steps (as at a fixed point) has the first block row
    :math:`[\mathrm{diag}(1-\alpha) + \alpha W_0 D, \alpha W_1 D, \dots, \alpha W_L D]`,
    :math:`D = \mathrm{diag}(f'(x))`, and identities below the diagonal (the history
    shifts by one step). A fixed point is locally stable when all its eigenvalues have
    modulus < 1.
    """
    delays = getattr(model, "_delays", None)
    plan = None if delays is None else delays.hh
    if plan is None:
        return None
    x = as_state_batch(model, x).to(dtype)
    w_hh, _, _, alpha = effective(model, dtype=dtype)
    d = _fprime(activation(model), x)
    N, H, L = x.shape[0], x.shape[1], plan.max_delay
    D = plan.steps.to(w_hh.device)
    out = x.new_zeros(N, (L + 1) * H, (L + 1) * H)
    zero = torch.zeros((), dtype=dtype, device=w_hh.device)
    for k in range(L + 1):
        w = torch.where(D == k, w_hh, zero)
        out[:, :H, k * H : (k + 1) * H] = alpha[:, None] * w * d[:, None, :]
    out[:, :H, :H] += torch.diag(1 - alpha)
    eye = torch.eye(L * H, dtype=dtype, device=x.device)
    out[:, H:, : L * H] = eye
    return out


@dataclass(frozen=True, eq=False)
class Jacobian:
    r"""The Jacobian of the one-step update map :math:`F` at one state.

    :math:`F(x) = x + \alpha(-x + W_{hh} f(x) + W_{ih} u + b)` is the map
    :meth:`MultiRegionRNN.forward` iterates, so ``matrix`` is
    :math:`\partial F / \partial x` (rows = destination units, columns = source
    units, like the weights); a state is locally stable when every eigenvalue has
    modulus < 1. :attr:`continuous` gives the Jacobian of the continuous-time flow
    :math:`dx/dt = (F(x) - x)/dt`, stable when every real part is < 0.

    With conduction delays ``matrix`` (and :attr:`continuous`, :meth:`block`,
    :meth:`block_norms`) is the instantaneous map, every delay set to 0: how much each
    region moves each other, whenever it arrives. Stability then depends on the delays:
    ``delayed`` holds the Jacobian of the map on the augmented state
    :math:`(x_t, \dots, x_{t-L})` (:func:`delay_jacobian_matrices`), and
    :attr:`eigenvalues`, :attr:`stable` and :attr:`spectral_radius` are of it.

    Attributes
    ----------
    matrix : Tensor, shape (H, H)
    state : Tensor, shape (H,)
        Pre-activation state :math:`x` it was taken at.
    inputs : Tensor, shape (I,)
        Constant input used for :attr:`residual` (the Jacobian itself does not depend on it).
    residual : Tensor, shape (H,)
        :math:`F(x) - x`: zero at a fixed point.
    alpha : Tensor, shape (H,)
    dt : float
    layout : Layout
    """

    matrix: torch.Tensor
    state: torch.Tensor
    inputs: torch.Tensor
    residual: torch.Tensor
    alpha: torch.Tensor
    dt: float
    layout: Layout
    delayed: torch.Tensor | None = None

    def block(self, dst: str, src: str) -> torch.Tensor:
        """``dF[dst] / dx[src]``, shape ``(size(dst), size(src))``; groups allowed."""
        for n in (dst, src):
            if self.layout.space(n) != "h":
                raise ValueError(f"{n!r} is not a recurrent region")
        rows = self.layout.indices(dst).to(self.matrix.device)
        cols = self.layout.indices(src).to(self.matrix.device)
        return self.matrix.index_select(0, rows).index_select(1, cols)

    def __getitem__(self, key: tuple[str, str]) -> torch.Tensor:
        """``J[dst, src]``: the block of ``dst``'s rows and ``src``'s columns."""
        if not (isinstance(key, tuple) and len(key) == 2):
            raise TypeError(f"index a Jacobian with (dst, src) region names; got {key!r}")
        return self.block(*key)

    @cached_property
    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of :attr:`matrix` (complex), largest modulus first; of ``delayed``
        (``H (L + 1)`` of them) when the model has recurrent delays."""
        ev = torch.linalg.eigvals(self.matrix if self.delayed is None else self.delayed)
        return ev[ev.abs().argsort(descending=True)]

    @property
    def continuous(self) -> torch.Tensor:
        """Jacobian of :math:`dx/dt = (F(x) - x)/dt`, in 1/ms: ``(matrix - I) / dt``."""
        eye = torch.eye(self.matrix.shape[0], dtype=self.matrix.dtype, device=self.matrix.device)
        return (self.matrix - eye) / self.dt

    @property
    def continuous_eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of :attr:`continuous`, ``(eigenvalues - 1) / dt`` (of the
        instantaneous map when the model has delays)."""
        if self.delayed is not None:
            ev = torch.linalg.eigvals(self.continuous)
            return ev[ev.abs().argsort(descending=True)]
        return (self.eigenvalues - 1) / self.dt

    @property
    def spectral_radius(self) -> float:
        return float(self.eigenvalues.abs().max()) if self.eigenvalues.numel() else 0.0

    @property
    def stable(self) -> bool:
        """Whether every eigenvalue of the update map lies inside the unit circle."""
        return bool((self.eigenvalues.abs() < 1).all())

    def block_norms(
        self,
        regions: Sequence[str] | None = None,
        *,
        norm: Literal["spectral", "fro"] = "spectral",
        leak: bool = False,
    ) -> tuple[torch.Tensor, list[str]]:
        """How strongly each region drives each other at this state.

        Parameters
        ----------
        regions : sequence of str, optional
            Rows and columns, in this order; a group name is one row/column for all
            its children. Default: every recurrent region.
        norm : {"spectral", "fro"}
            Largest singular value of each block (the most a unit-size change of the
            source can move the destination in one step), or the Frobenius norm.
        leak : bool
            Include the leak ``(1 - alpha) I`` of the diagonal blocks. By default it is
            left out, so the matrix shows the coupling ``alpha W diag(f')`` only.

        Returns
        -------
        (Tensor of shape (R, R), list of str)
            ``norms[i, j]`` is the norm of ``J[regions[i], regions[j]]`` (destination
            row, source column).
        """
        names = list(self.layout.regions) if regions is None else list(regions)
        if norm not in ("spectral", "fro"):
            raise ValueError(f"norm must be 'spectral' or 'fro'; got {norm!r}")
        m = self.matrix
        if not leak:
            m = m - torch.diag(1 - self.alpha.to(m))
        idx = [self.layout.indices(n).to(m.device) for n in names]
        for n in names:
            if self.layout.space(n) != "h":
                raise ValueError(f"{n!r} is not a recurrent region")
        out = torch.zeros(len(names), len(names), dtype=m.dtype, device=m.device)
        for i, r in enumerate(idx):
            for j, c in enumerate(idx):
                b = m.index_select(0, r).index_select(1, c)
                out[i, j] = torch.linalg.matrix_norm(b, ord=2 if norm == "spectral" else "fro")
        return out, names


def jacobian(
    model,
    state: torch.Tensor,
    inputs: torch.Tensor | float | None = None,
    *,
    dtype: torch.dtype = torch.float64,
) -> Jacobian:
    """Linearise the model's update map at one state.

    Parameters
    ----------
    model : MultiRegionRNN
        Its current effective weights are used (with any :func:`mrnngraph.perturb`
        clamp or cut in force); nothing in the model changes.
    state : Tensor, shape (H,)
        Pre-activation state (e.g. a fixed point, or ``out.states[b, t]``).
    inputs : Tensor, shape (I,), number or None
        Constant input; only :attr:`Jacobian.residual` depends on it. Default: zeros.
    dtype : torch.dtype
        Precision of the computation (float64 by default).

    Returns
    -------
    Jacobian

    Examples
    --------
    >>> import torch
    >>> from mrnngraph import MultiRegionRNN
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, activation="tanh")
    >>> J = jacobian(model, torch.zeros(20))
    >>> J.matrix.shape, J["a2", "a1"].shape
    (torch.Size([20, 20]), torch.Size([10, 10]))
    >>> bool(J["a1", "a2"].any())  # feedback projection is declared
    True
    """
    x = as_state_batch(model, state)
    if x.shape[0] != 1:
        raise ValueError(
            f"state must have shape ({model.hidden_size},); got {tuple(state.shape)}"
            "; call jacobian once per state"
        )
    x = x.to(dtype)
    u = as_input_batch(model, inputs, 1, x)
    w_hh, w_ih, bias, alpha = effective(model, dtype=dtype)
    with torch.no_grad():
        residual = update(x, u, w_hh, w_ih, bias, alpha, activation(model)) - x
    delayed = delay_jacobian_matrices(model, x, dtype=dtype)
    return Jacobian(
        matrix=jacobian_matrices(model, x, dtype=dtype)[0],
        state=x[0],
        inputs=u[0],
        residual=residual[0],
        alpha=alpha,
        dt=float(model.dt),
        layout=model.layout,
        delayed=None if delayed is None else delayed[0],
    )
