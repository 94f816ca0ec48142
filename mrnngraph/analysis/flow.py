"""Velocity field of the dynamics on the plane of two principal components."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._common import activation, as_input_batch, effective, region_names, time_first, update

__all__ = ["FlowField", "flow_field"]


@dataclass(frozen=True, eq=False)
class FlowField:
    """What :func:`flow_field` returns.

    Attributes
    ----------
    x, y : Tensor, shape (Gy, Gx)
        Grid coordinates along PC 1 and PC 2.
    vx, vy : Tensor, shape (Gy, Gx)
        The one-step change :math:`F(x) - x` of the embedded grid point, projected on
        PC 1 and PC 2 (state units per step; divide by ``dt`` for per ms).
    trajectories : Tensor, shape (B, T, 2)
        The given states projected on the plane.
    components : Tensor, shape (n, 2)
        The two principal axes, in the space of the chosen regions' ``n`` units.
    center : Tensor, shape (H,)
        The state every grid point is embedded around (mean of the given states).
    explained : Tensor, shape (2,)
        Fraction of the chosen units' variance along each axis.
    regions : list of str
    index : Tensor, shape (n,)
        Unit indices of the chosen regions.
    inputs : Tensor, shape (I,)
    dt : float
    """

    x: torch.Tensor
    y: torch.Tensor
    vx: torch.Tensor
    vy: torch.Tensor
    trajectories: torch.Tensor
    components: torch.Tensor
    center: torch.Tensor
    explained: torch.Tensor
    regions: list[str]
    index: torch.Tensor
    inputs: torch.Tensor
    dt: float

    @property
    def speed(self) -> torch.Tensor:
        """``(Gy, Gx)`` length of the projected velocity."""
        return torch.hypot(self.vx, self.vy)

    def project(self, states: torch.Tensor) -> torch.Tensor:
        """``(..., H)`` states -> ``(..., 2)`` coordinates on the PC plane."""
        return _project(states, self.center, self.index, self.components)

    def embed(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., 2)`` plane coordinates -> ``(..., H)`` states (other units at the center)."""
        return _embed(coords, self.center, self.index, self.components)


def flow_field(
    model,
    states,
    regions: Sequence[str] | str | None = None,
    *,
    grid: int | tuple[int, int] = 20,
    inputs: torch.Tensor | float | None = None,
    margin: float = 0.15,
    dtype: torch.dtype = torch.float64,
) -> FlowField:
    r"""The model's velocity field on the plane of the first two PCs of some regions.

    1. The chosen regions' units of ``states`` (all steps of all trials) give the
       principal axes :math:`V = [v_1, v_2]` and the mean :math:`\mu` (PCA by SVD;
       each axis signed so its largest entry is positive).
    2. A grid point :math:`(a, b)` is embedded as the state :math:`x` equal to the
       mean of ``states`` in every unit, with the chosen units set to
       :math:`\mu + a v_1 + b v_2`. The other regions sit at their average state.
    3. The velocity is :math:`V^\top (F(x) - x)` restricted to the chosen units:
       how one step of the update moves the embedded point, seen on the plane.

    The dynamics act on pre-activation states :math:`x`, so the PCA is of states, not
    rates (rates cannot be mapped back to states through ``relu``). With conduction
    delays the velocity is that of a state held for the longest delay (every delayed
    source reads the same state), as at a fixed point: the instantaneous map.

    Parameters
    ----------
    model : MultiRegionRNN
    states : Tensor, shape (B, T, H), or an RNNOutput
        Pre-activation states (``forward(...).states``), in the model's layout.
    regions : str or sequence of str, optional
        Regions (or groups) whose activity defines the plane; default: all.
    grid : int or (int, int)
        Grid points along PC 1 and PC 2.
    inputs : Tensor, shape (I,), number or None
        Constant input the field is computed under (default: zeros).
    margin : float
        Fraction of the trajectories' extent added on each side of the grid.
    dtype : torch.dtype

    Returns
    -------
    FlowField

    Examples
    --------
    >>> import torch
    >>> from mrnngraph import MultiRegionRNN
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> out = model(torch.rand(4, 30, 3))
    >>> ff = flow_field(model, out, regions="a1", grid=(12, 8))
    >>> ff.vx.shape, ff.trajectories.shape
    (torch.Size([8, 12]), torch.Size([4, 30, 2]))
    """
    if hasattr(states, "states") and isinstance(states.states, torch.Tensor):
        states = states.states
    s, _ = time_first(model, states, model.hidden_size, "states")
    s = s.detach().to(dtype).transpose(0, 1)  # (B, T, H)
    names = region_names(model, regions)
    idx = model.layout.indices(*names).to(s.device)
    if idx.numel() < 2:
        raise ValueError(f"regions {names} have {idx.numel()} unit; a plane needs at least 2")
    gx, gy = (grid, grid) if isinstance(grid, int) else tuple(grid)
    if isinstance(gx, bool) or not all(isinstance(g, int) and g >= 2 for g in (gx, gy)):
        raise ValueError(f"grid must be an int >= 2 or a pair of them; got {grid!r}")
    flat = s.reshape(-1, s.shape[-1])
    if flat.shape[0] < 2:
        raise ValueError("states must hold at least 2 time points")
    center = flat.mean(0)
    sub = flat[:, idx] - center[idx]
    _, sv, vh = torch.linalg.svd(sub, full_matrices=False)
    comps = vh[:2].T.clone()
    flip = comps.gather(0, comps.abs().argmax(0, keepdim=True)).sign()
    comps = comps * torch.where(flip == 0, torch.ones_like(flip), flip)
    var = sv.pow(2)
    explained = var[:2] / var.sum().clamp(min=torch.finfo(dtype).tiny)

    traj = _project(s, center, idx, comps)
    lo, hi = traj.reshape(-1, 2).min(0).values, traj.reshape(-1, 2).max(0).values
    pad = (hi - lo).clamp(min=1e-6) * margin
    axes = [
        torch.linspace(
            float(lo[k] - pad[k]), float(hi[k] + pad[k]), g, dtype=dtype, device=s.device
        )
        for k, g in ((0, gx), (1, gy))
    ]
    ys, xs = torch.meshgrid(axes[1], axes[0], indexing="ij")
    points = _embed(torch.stack([xs, ys], -1).reshape(-1, 2), center, idx, comps)
    u = as_input_batch(model, inputs, points.shape[0], points)
    w_hh, w_ih, bias, alpha = effective(model, dtype=dtype)
    with torch.no_grad():
        vel = update(points, u, w_hh, w_ih, bias, alpha, activation(model)) - points
    plane = vel[:, idx] @ comps
    return FlowField(
        x=xs,
        y=ys,
        vx=plane[:, 0].reshape(gy, gx),
        vy=plane[:, 1].reshape(gy, gx),
        trajectories=traj,
        components=comps,
        center=center,
        explained=explained,
        regions=names,
        index=idx,
        inputs=u[0],
        dt=float(model.dt),
    )


def _project(
    states: torch.Tensor, center: torch.Tensor, idx: torch.Tensor, comps: torch.Tensor
) -> torch.Tensor:
    return (states.to(center)[..., idx] - center[idx]) @ comps


def _embed(
    coords: torch.Tensor, center: torch.Tensor, idx: torch.Tensor, comps: torch.Tensor
) -> torch.Tensor:
    c = coords.to(center)
    out = center.expand(*c.shape[:-1], -1).clone()
    out[..., idx] = center[idx] + c @ comps.T
    return out
