"""Figures of the analysis results (matplotlib, imported when a plot is drawn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch

from .._params import COUNT, POSITIVE, STEPS, InstanceOf, Optional, validate_params
from ..schema import Boolean, Interval, Options
from .fixed_points import FixedPoints
from .flow import FlowField
from .linear import Jacobian

__all__ = ["plot_currents", "plot_block_norms", "plot_spectrum", "plot_flow_field"]

_MAPPING = InstanceOf((Mapping,), "a mapping")
_INT = Interval(integer=True)
_TITLE = Optional(InstanceOf((str,), "a str"))


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1]


@validate_params(
    {
        "currents": _MAPPING,
        "top": Optional(STEPS),
        "dt": Optional(POSITIVE),
        "time_axis": _INT,
        "title": _TITLE,
    }
)
def plot_currents(
    currents: Mapping[tuple[str, str], torch.Tensor],
    *,
    ax: Any = None,
    top: int | None = 10,
    dt: float | None = None,
    time_axis: int = -2,
    exclude: Sequence[str] = (),
    title: str | None = None,
) -> Any:
    """Mean current magnitude per pathway over time, one line per ``(src, dst)``.

    For each pathway the curve is ``|current|`` averaged over trials and target
    units at each step.

    Parameters
    ----------
    currents : dict of (src, dst) to Tensor
        From :func:`currents`.
    ax : matplotlib Axes, optional
    top : int or None
        Draw only the ``top`` pathways with the largest time-averaged magnitude
        (None: all).
    dt : float, optional
        Step in ms: the x axis is then time in ms instead of steps.
    time_axis : int
        Which dimension is time: -2 fits ``(B, T, n)`` and ``(T, n)``; use 0 for
        ``(T, B, n)``.
    exclude : sequence of str
        Source names to leave out (e.g. ``["bias"]``).
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    curves = {}
    for key, c in currents.items():
        if key[0] in exclude:
            continue
        a = c.detach().abs().movedim(time_axis, 0)
        curves[key] = a.reshape(a.shape[0], -1).mean(1).double().cpu()
    if not curves:
        raise ValueError("no currents to plot")
    ranked = sorted(curves, key=lambda k: float(curves[k].mean()), reverse=True)
    if top is not None:
        ranked = ranked[:top]
    ax = _axes(ax, (7, 4))
    for key in ranked:
        y = curves[key]
        t = torch.arange(y.shape[0], dtype=torch.float64) * (dt if dt else 1.0)
        ax.plot(t.numpy(), y.numpy(), label=f"{key[0]} → {key[1]}")
    ax.set_xlabel("time (ms)" if dt else "step")
    ax.set_ylabel("mean |current|")
    ax.set_title(title or "input current per pathway")
    ax.legend(fontsize="small", ncols=2 if len(ranked) > 6 else 1, frameon=False)
    return ax


@validate_params(
    {
        "jac": InstanceOf((Jacobian,), "a Jacobian"),
        "norm": Options(("spectral", "fro")),
        "leak": Boolean(),
        "annotate": Boolean(),
    }
)
def plot_block_norms(
    jac: Jacobian,
    *,
    ax: Any = None,
    regions: Sequence[str] | None = None,
    norm: Literal["spectral", "fro"] = "spectral",
    leak: bool = False,
    annotate: bool = True,
    cmap: str = "magma",
) -> Any:
    """Heat map of ``‖J[dst, src]‖``: how strongly each region drives each other.

    Rows are destinations, columns sources (the weight convention). See
    :meth:`Jacobian.block_norms` for ``regions``, ``norm`` and ``leak``.

    Returns
    -------
    matplotlib Axes
    """
    norms, names = jac.block_norms(regions, norm=norm, leak=leak)
    data = norms.detach().double().cpu().numpy()
    ax = _axes(ax, (1.2 + 0.55 * len(names), 0.8 + 0.5 * len(names)))
    im = ax.imshow(data, cmap=cmap, vmin=0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("source")
    ax.set_ylabel("destination")
    kind = "spectral norm" if norm == "spectral" else "Frobenius norm"
    ax.set_title(f"Jacobian blocks ({kind})")
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label=f"‖J[dst, src]‖ ({kind})")
    if annotate and len(names) <= 12:
        top = data.max() if data.size else 0.0
        for i in range(len(names)):
            for j in range(len(names)):
                if data[i, j] > 0:
                    ax.text(
                        j,
                        i,
                        f"{data[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="black" if data[i, j] > 0.6 * top else "white",
                    )
    return ax


def _point_kinds(fps: FixedPoints) -> list[tuple[torch.Tensor, str]]:
    """Masks of the stable and unstable *fixed* points (converged) and of the slow
    points (not converged), leaving out empty groups."""
    conv = fps.converged.bool()
    kinds = [(conv & fps.stable, "stable"), (conv & ~fps.stable, "unstable"), (~conv, "slow")]
    return [(sel, kind) for sel, kind in kinds if bool(sel.any())]


@validate_params({"continuous": Boolean(), "dt": Optional(POSITIVE), "label": _TITLE})
def plot_spectrum(
    eigenvalues: Jacobian | FixedPoints | torch.Tensor,
    *,
    ax: Any = None,
    continuous: bool = False,
    dt: float | None = None,
    label: str | None = None,
    **scatter: Any,
) -> Any:
    """Eigenvalues in the complex plane with the stability boundary.

    Discrete map (default): the unit circle, stable inside. ``continuous=True``:
    the eigenvalues of the continuous-time flow, ``(lambda - 1) / dt`` in 1/ms,
    with the line ``Re = 0``, stable to its left.

    Parameters
    ----------
    eigenvalues : Jacobian, FixedPoints or complex Tensor
        For :class:`FixedPoints` the eigenvalues of every point are drawn: stable
        fixed points as dots, unstable ones as crosses, slow points (the search did
        not converge) as plus signs.
    continuous : bool
    dt : float, optional
        Needed with ``continuous=True`` when a tensor is given.
    label : str, optional
        Legend label of the points.
    **scatter
        Passed to ``ax.scatter``.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    groups: list[tuple[torch.Tensor, str, str]] = []
    if isinstance(eigenvalues, Jacobian):
        dt = eigenvalues.dt if dt is None else dt
        groups.append((eigenvalues.eigenvalues, "o", label or "eigenvalues"))
    elif isinstance(eigenvalues, FixedPoints):
        for sel, kind in _point_kinds(eigenvalues):
            marker = {"stable": "o", "unstable": "x", "slow": "+"}[kind]
            text = f"{kind} {'points' if kind == 'slow' else 'fixed points'} ({int(sel.sum())})"
            groups.append(
                (
                    eigenvalues.eigenvalues[sel].reshape(-1),
                    marker,
                    label if label and kind == "stable" else text,
                )
            )
    elif isinstance(eigenvalues, torch.Tensor):
        groups.append((eigenvalues.reshape(-1), "o", label or "eigenvalues"))
    else:
        raise TypeError(
            "eigenvalues must be a Jacobian, FixedPoints or a tensor; "
            f"got {type(eigenvalues).__name__}"
        )
    if continuous and not dt:
        raise ValueError("continuous=True needs dt (given, or from a Jacobian)")
    ax = _axes(ax, (4.5, 4.5))
    for ev, marker, lab in groups:
        ev = ev.detach().to(torch.complex128).cpu()
        if continuous:
            ev = (ev - 1) / dt
        ax.scatter(
            ev.real.numpy(), ev.imag.numpy(), **{"s": 14, "marker": marker, "label": lab, **scatter}
        )
    # Drawn once per axes, so that several spectra can share one plot.
    boundary = "mrnngraph-stability-" + ("line" if continuous else "circle")
    if not any(a.get_gid() == boundary for a in (*ax.lines, *ax.patches)):
        if continuous:
            ax.axvline(0.0, color="0.4", lw=1, ls="--", label="Re = 0", gid=boundary)
        else:
            ax.add_patch(
                plt.Circle(
                    (0, 0),
                    1.0,
                    fill=False,
                    color="0.4",
                    lw=1,
                    ls="--",
                    label="unit circle",
                    gid=boundary,
                )
            )
        ax.axhline(0.0, color="0.85", lw=0.5, zorder=0)
    if continuous:
        ax.set_xlabel("Re λ (1/ms)")
        ax.set_ylabel("Im λ (1/ms)")
        ax.set_title("spectrum of the continuous-time Jacobian")
    else:
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
        ax.set_title("spectrum of the update map Jacobian")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.autoscale_view()
    ax.legend(fontsize="small", frameon=False, loc="best" if continuous else "upper left")
    return ax


@validate_params(
    {
        "ff": InstanceOf((FlowField,), "a FlowField"),
        "kind": Options(("stream", "quiver")),
        "max_trajectories": COUNT,
    }
)
def plot_flow_field(
    ff: FlowField,
    *,
    ax: Any = None,
    kind: Literal["stream", "quiver"] = "stream",
    fixed_points: FixedPoints | None = None,
    max_trajectories: int = 12,
    colors: Sequence[Any] | None = None,
    cmap: str = "Blues",
) -> Any:
    """The velocity field on the PC plane, with the trajectories and fixed points on top.

    Parameters
    ----------
    ff : FlowField
    kind : {"stream", "quiver"}
        Streamlines coloured by speed, or arrows.
    fixed_points : FixedPoints, optional
        Projected on the plane: stable fixed points as filled dots, unstable ones as
        open circles, slow points (not converged) as small grey diamonds.
    max_trajectories : int
        Trials drawn (the first ones).
    colors : sequence of colours, optional
        One matplotlib colour per trial (e.g. by condition); default all ``"C1"``.
    cmap : str
        Colour map of the speed.

    Returns
    -------
    matplotlib Axes
    """
    x, y = ff.x.double().cpu().numpy(), ff.y.double().cpu().numpy()
    vx, vy = ff.vx.double().cpu().numpy(), ff.vy.double().cpu().numpy()
    speed = ff.speed.double().cpu().numpy()
    ax = _axes(ax, (5.5, 4.5))
    if kind == "stream":
        s = ax.streamplot(
            x[0], y[:, 0], vx, vy, color=speed, cmap=cmap, density=1.1, linewidth=0.8, arrowsize=0.8
        )
        ax.figure.colorbar(s.lines, ax=ax, shrink=0.8, label="speed (per step)")
    else:
        q = ax.quiver(x, y, vx, vy, speed, cmap=cmap, angles="xy")
        ax.figure.colorbar(q, ax=ax, shrink=0.8, label="speed (per step)")
    traj = ff.trajectories.double().cpu()
    for b in range(min(max_trajectories, traj.shape[0])):
        color = "C1" if colors is None else colors[b]
        ax.plot(
            traj[b, :, 0].numpy(),
            traj[b, :, 1].numpy(),
            color=color,
            lw=1.0,
            alpha=0.8,
            label="trajectories" if b == 0 else None,
        )
        ax.plot(traj[b, -1, 0].item(), traj[b, -1, 1].item(), "o", color=color, ms=3)
    if fixed_points is not None and len(fixed_points):
        p = ff.project(fixed_points.points).double().cpu()
        style = {
            "stable": {"color": "k"},
            "unstable": {"mfc": "white", "mec": "k"},
            "slow": {"color": "0.5", "marker": "d", "ms": 5},
        }
        for sel, kind in _point_kinds(fixed_points):
            sel = sel.cpu()
            ax.plot(
                p[sel, 0].numpy(),
                p[sel, 1].numpy(),
                **{"marker": "o", "ms": 7, "ls": "none", **style[kind]},
                label="slow point" if kind == "slow" else f"{kind} fixed point",
            )
    ev = ff.explained.double().cpu()
    ax.set_xlabel(f"PC 1 ({100 * float(ev[0]):.0f}% var)")
    ax.set_ylabel(f"PC 2 ({100 * float(ev[1]):.0f}% var)")
    ax.set_title(
        f"flow field: {', '.join(ff.regions)}"
        if len(ff.regions) <= 4
        else f"flow field: {len(ff.regions)} regions"
    )
    ax.set_xlim(float(x.min()), float(x.max()))
    ax.set_ylim(float(y.min()), float(y.max()))
    ax.legend(fontsize="small", frameon=False, loc="upper right")
    return ax
