r"""Learnable time constants: the per-unit :math:`\alpha = dt/\tau` of ``learn_tau`` regions.

A region with ``learn_tau=True`` trains the time constant of each of its units,
starting from its ``tau`` (a float or one value per unit; the model's ``tau`` where
the region has none). Every other unit's :math:`\alpha` stays the constant
:math:`dt/\tau` it was built with, bit for bit.

Bounds
------
A learned unit keeps :math:`\tau \in [\tau_{lo}, \tau_{hi}]`, i.e.
:math:`\alpha \in [dt/\tau_{hi}, dt/\tau_{lo}]`, with

- :math:`\tau_{lo} = \max(\text{tau\_min}, dt)` (default ``tau_min = dt``): the
  leaky update is stable for :math:`\alpha \le 1` only, so a ``tau_min`` below ``dt``
  gives the same bound as ``tau_min = dt``;
- :math:`\tau_{hi} = \text{tau\_max}` (default: no bound). Without ``tau_max``,
  :math:`\alpha` still never reaches 0: it stays at least :data:`ALPHA_MIN`
  (:math:`10^{-30}`; for float16 models its smallest normal number,
  :math:`6.1\cdot 10^{-5}`), so a learned :math:`\tau` is always a finite number
  of milliseconds that a circuit file can hold.

Parametrization
---------------
The trained tensor is one raw value :math:`s` per learned unit, read as the log of the
time constant above its lower bound, reflected at both bounds:

.. math::
    L = \log(\tau_{hi}/\tau_{lo}), \quad m = s \bmod 2L, \quad
    g = \begin{cases} m & m \le L \\ 2L - m & m > L \end{cases}, \quad
    \tau = \tau_{lo}\, e^{g}, \quad \alpha = \frac{dt}{\tau_{lo}}\, e^{-g}.

Inside the range :math:`s = \log(\tau/\tau_{lo})` exactly, so the gradient with
respect to :math:`s` is the gradient with respect to :math:`\log\tau`: scale-free (a
step of Adam with learning rate 0.01 changes :math:`\tau` by about 1 %, whatever its
size) and never vanishing. A step that would leave the range is reflected back into
it, so no learning rate, however large, takes :math:`\alpha` out of its bounds (the
result is also clamped to them, which only removes rounding). Why not a sigmoid or a
softplus of :math:`\log\tau`: they are flat near the bounds, and the commonest start
is *on* a bound (``tau = dt`` gives :math:`\alpha = 1`, the default ``tau_min``),
where their gradient is about ``eps`` of the interior one and Adam (whose ``eps`` is
1e-8) barely moves the unit. The reflection's only cost is a kink at each bound,
where the optimizer bounces as a projected step would.

Everything here is read through :class:`TimeConstants`, a
:mod:`torch.nn.utils.parametrize` parametrization of the model's ``alpha``: reading
``model.alpha`` gives the ``[H]`` tensor in effect (differentiable in the learned
entries), the raw values are ``model.parametrizations.alpha.original``.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import torch
from torch import nn

from . import schema
from .circuit import CompiledCircuit

__all__ = ["TimeConstants", "ALPHA_MIN", "learned_alpha", "time_constants", "graph_with_tau"]

#: The smallest ``alpha`` a learned unit without ``tau_max`` may reach.
ALPHA_MIN = 1e-30


#: Relative tolerance of a starting alpha against its bounds (float32 rounding of tau).
ROUNDING = 1e-6


def alpha_floor(dtype: torch.dtype) -> float:
    """:data:`ALPHA_MIN`, or ``dtype``'s smallest normal number where that is larger."""
    return max(ALPHA_MIN, float(torch.finfo(dtype).tiny))


class TimeConstants(nn.Module):
    """Parametrization ``raw [n] -> alpha [H]``: the ``n`` learned units' alpha from
    their raw values (see the module docstring), every other unit's fixed.

    Parameters
    ----------
    alpha : Tensor, shape (H,)
        The alpha every unit starts from (``dt / tau``).
    index : Tensor of int64, shape (n,)
        The learned units.
    alpha_lo, alpha_hi : Tensor, shape (n,)
        Their bounds, ``dt / tau_hi`` and ``dt / tau_lo``, ``0 < alpha_lo < alpha_hi <= 1``.
    regions : sequence of str, length n
        The region of each learned unit (for error messages).
    """

    def __init__(
        self,
        alpha: torch.Tensor,
        index: torch.Tensor,
        alpha_lo: torch.Tensor,
        alpha_hi: torch.Tensor,
        regions: list[str],
    ):
        super().__init__()
        dtype = alpha.dtype
        self.register_buffer("fixed", alpha.clone())
        self.register_buffer("index", index.to(device=alpha.device, dtype=torch.long))
        lo64, hi64 = alpha_lo.double(), alpha_hi.double()
        self.register_buffer("alpha_lo", lo64.to(alpha))
        self.register_buffer("alpha_hi", hi64.to(alpha))
        self.register_buffer("span", torch.log(hi64 / lo64).to(device=alpha.device, dtype=dtype))
        self.regions = list(regions)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        period = 2.0 * self.span
        m = torch.remainder(raw, period)
        g = torch.where(m <= self.span, m, period - m)  # reflected: slope +-1 everywhere
        a = torch.clamp(self.alpha_hi * torch.exp(-g), min=self.alpha_lo, max=self.alpha_hi)
        return self.fixed.index_put((self.index,), a)

    def right_inverse(self, alpha: torch.Tensor) -> torch.Tensor:
        """The raw values that give ``alpha``; refuses (ValueError) an ``alpha`` that
        changes a fixed unit or puts a learned one outside its bounds."""
        if alpha.shape != self.fixed.shape:
            raise ValueError(
                f"alpha must have shape {tuple(self.fixed.shape)}; got {tuple(alpha.shape)}"
            )
        alpha = alpha.detach().to(self.fixed)
        fixed = torch.ones_like(self.fixed, dtype=torch.bool)
        fixed[self.index] = False
        if not torch.equal(alpha[fixed], self.fixed[fixed]):
            raise ValueError(
                "alpha of units that do not learn their time constants is fixed at "
                "dt / tau; the new value changes some of them"
            )
        a = alpha[self.index].double()
        lo, hi = self.alpha_lo.double(), self.alpha_hi.double()
        # dt / tau on a bound, computed from a float32 tau, can land an ulp or two outside
        # it: within ROUNDING it is taken as on the bound.
        bad = ~(a.isfinite() & (a >= lo * (1 - ROUNDING)) & (a <= hi * (1 + ROUNDING)))
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            raise ValueError(
                f"alpha of a unit of region {self.regions[i]!r} (unit "
                f"{int(self.index[i])}) must be in [{float(lo[i]):g}, {float(hi[i]):g}] "
                f"(dt / tau within its bounds); got {float(a[i])!r}"
            )
        raw = torch.minimum(torch.log(hi / a).clamp(min=0.0), self.span.double())
        return raw.to(self.fixed)


def learned_alpha(circuit: CompiledCircuit, alpha: torch.Tensor, dt: float) -> TimeConstants | None:
    """The parametrization of a model's ``alpha`` (``[H]``, ``dt / tau`` per unit), or
    None when no region of ``circuit`` learns its time constants.

    Raises
    ------
    ValueError
        Naming the region: ``tau_max`` not above ``max(tau_min, dt)``, or initial time
        constants outside the bounds.
    """
    learn = circuit.learn_tau
    if learn is None or not bool(learn.any()):
        return None
    lay = circuit.layout
    index = torch.nonzero(learn.cpu()).reshape(-1)
    floor = alpha_floor(alpha.dtype)
    t_min = _or(circuit.tau_min, index, dt)
    t_max = _or(circuit.tau_max, index, math.inf)
    tau_lo = t_min.clamp(min=dt)
    tau_hi = torch.minimum(t_max, torch.full_like(t_max, dt / floor))
    tau0 = dt / alpha.detach().cpu().double()[index]
    region_of = lay.unit_region[index]
    problems = []
    for r in torch.unique(region_of).tolist():
        name, sel = lay.regions[r], region_of == r
        lo, hi, t0 = float(tau_lo[sel][0]), float(tau_hi[sel][0]), tau0[sel]
        if not hi > lo:
            problems.append(
                f"region {name!r}: tau_max = {hi:g} ms must be greater than "
                f"max(tau_min, dt) = {lo:g} ms (alpha = dt / tau is at most 1)"
            )
        elif float(t0.min()) < lo * (1 - ROUNDING) or float(t0.max()) > hi * (1 + ROUNDING):
            problems.append(
                f"region {name!r}: learn_tau starts from tau = {float(t0.min()):g} to "
                f"{float(t0.max()):g} ms, outside [max(tau_min, dt), tau_max] = "
                f"[{lo:g}, {hi:g}] ms; give the region a tau inside its bounds"
            )
    if problems:
        raise ValueError("; ".join(problems))
    names = [lay.regions[r] for r in region_of.tolist()]
    return TimeConstants(alpha, index, dt / tau_hi, dt / tau_lo, names)


def _or(values: torch.Tensor | None, index: torch.Tensor, default: float) -> torch.Tensor:
    if values is None:
        return torch.full((index.numel(),), default, dtype=torch.float64)
    v = values.detach().cpu().double()[index]
    return torch.where(torch.isnan(v), torch.full_like(v, default), v)


def _bounds(model: Any, name: str) -> tuple[float, float]:
    """``[max(tau_min, dt), tau_max]`` of region ``name`` in ms, from its spec (exact)."""
    node = model.circuit.spec.nodes[name]
    lo = max(model.dt if node.tau_min is None else node.tau_min, model.dt)
    hi = math.inf if node.tau_max is None else node.tau_max
    return lo, hi


def learns_tau(model: Any, name: str) -> bool:
    """Whether region ``name`` of ``model`` trains its time constants."""
    return bool(getattr(model.circuit.spec.nodes[name], "learn_tau", False))


def time_constants(model: Any) -> dict[str, torch.Tensor]:
    """Each recurrent region's per-unit time constants in ms, ``dt / alpha``.

    Returns
    -------
    dict of str to Tensor
        Region name -> ``(size,)`` float64 CPU tensor (detached). A learned region's
        values lie within its bounds (see :mod:`mrnngraph._tau`).
    """
    with torch.no_grad():
        alpha = model.alpha.detach().cpu().double()
    tau = model.dt / alpha
    out = {}
    for name in model.layout.regions:
        t = tau[model.layout.slice(name)].clone()
        if learns_tau(model, name):
            lo, hi = _bounds(model, name)
            t = t.clamp(min=lo, max=hi)  # dt / alpha can round past a bound
        out[name] = t
    return out


def graph_with_tau(model: Any, graph: nx.DiGraph | None = None) -> nx.DiGraph:
    """The model's circuit graph with each learning region's ``tau`` set to the learned
    values (one float where all its units agree, else one per unit), and the graph's
    ``dt``, ``tau`` and ``activation`` set to the model's (what the time constants in
    ms mean). Compiling it with the circuit's seed gives the model's circuit with the
    learned time constants as its initial ones. See :meth:`MultiRegionRNN.to_graph`.
    """
    from ._spec_graph import spec_to_graph

    if model.alpha_override is not None:
        raise ValueError(
            "this model was built with alpha=, which a circuit graph cannot express; "
            "build it with dt and tau instead to export it"
        )
    if graph is None:
        G = spec_to_graph(model.circuit.spec)
    elif isinstance(graph, nx.DiGraph):
        G = graph.copy()
    else:
        raise TypeError(f"graph must be a networkx DiGraph or None; got {type(graph).__name__}")
    aliases = schema.attribute("node", "tau").aliases
    taus = time_constants(model)
    for name in model.layout.regions:
        if not learns_tau(model, name):
            continue
        if name not in G:
            raise ValueError(f"graph has no node {name!r}, a region of the model")
        # The model's precision, not the float64 noise of dt / alpha (50.000003 -> 50).
        digits = round(-math.log10(torch.finfo(model.alpha.dtype).resolution)) + 1
        lo, hi = _bounds(model, name)
        values = [min(max(float(f"{float(v):.{digits}g}"), lo), hi) for v in taus[name]]
        attrs = G.nodes[name]
        for alias in aliases:
            attrs.pop(alias, None)
        attrs["tau"] = values[0] if len(set(values)) == 1 else values
    G.graph.update(dt=model.dt, tau=model.tau, activation=model.activation)
    return G
