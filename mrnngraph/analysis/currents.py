"""The current each source region sends into each target region, step by step."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils import parametrize

from .._delay_model import shift
from ._common import activation, region_names, time_first

__all__ = ["currents", "total_current"]


def currents(
    model,
    rates: torch.Tensor,
    inputs: torch.Tensor,
    *,
    x0: torch.Tensor | None = None,
    regions: Sequence[str] | str | None = None,
    bias_key: str = "bias",
    stimulus_key: str = "stimulus",
) -> dict[tuple[str, str], torch.Tensor]:
    r"""Split the drive of every region into what each source sends it, over time.

    The model updates :math:`x_{t+1} = x_t + \alpha(-x_t + c_t)` with the total
    drive :math:`c_t = W_{hh} h_t + W_{ih} u_t + b\,(+\,s_t)`, where :math:`h_0 = f(x_0)`
    and :math:`h_t` for :math:`t \ge 1` is ``rates[:, t - 1]`` (``forward`` returns
    :math:`x_1 \dots x_T` as ``states``). Entry ``t`` of every returned tensor is the
    part of :math:`c_t`, the drive of the step that produces ``states[:, t]``:

    * ``(src, dst)`` for every declared recurrent projection: ``h_t[src] @ W[dst, src].T``
      (``h_{t-d}`` for an edge with a conduction delay of ``d`` steps, :math:`h_0` before
      the trial);
    * ``(inp, dst)`` for every declared input projection: ``u_t[inp] @ W_ih[dst, inp].T``
      (``u_{t-d}`` with a delay, 0 before the trial);
    * ``(bias_key, dst)`` for every target region: the bias (tonic input) ``b[dst]``;
    * ``(stimulus_key, dst)`` only inside a :func:`mrnngraph.perturb` that stimulates:
      the added current :math:`s_t`.

    Summed over sources they give :math:`c_t` exactly, so
    ``states[:, t] - (1 - alpha) * states[:, t - 1] == alpha * sum`` (with ``x0`` at
    ``t = 0``). Pathways the graph declares ``zero`` appear with zero current; pairs
    it does not declare carry none and are left out. State noise (``noise_std``) is not a
    current of any pathway and is not included. Weights are read when you call this:
    inside a ``perturb`` block, cut projections carry zero current.

    An :class:`~mrnngraph.Ensemble` takes its ``forward(...).rates`` ``(N, B, T, H)``,
    the inputs shared ``(B, T, I)`` or per member ``(N, B, T, I)`` and ``x0`` as
    ``(N, B, H)``, ``(N, H)`` or ``(H,)``; every current then has a leading member
    dimension, ``(N, B, T, size(dst))`` (member ``k``'s entry is what
    ``currents(ens[k], rates[k], ...)`` gives, and inside ``perturb(ens, ...)`` what it
    gives inside ``perturb(ens[k], ...)``). An edge that only some members declare is
    reported with zero current for the others.

    Parameters
    ----------
    model : MultiRegionRNN or Ensemble
    rates : Tensor, shape (B, T, H)
        ``forward(...).rates`` (``(T, B, H)`` if the model is not ``batch_first``, or
        ``(T, H)``).
    inputs : Tensor, shape (B, T, I)
        The inputs the rates were produced with, in the same layout.
    x0 : Tensor, shape (B, H) or (H,), optional
        The initial state given to ``forward``; default: the model's ``x0``.
    regions : str or sequence of str, optional
        Target regions (or groups) to report; default: every recurrent region.
    bias_key, stimulus_key : str
        Source names used for the bias and the stimulation; they must differ from the
        circuit's node names.

    Returns
    -------
    dict of (src, dst) to Tensor, shape (B, T, size(dst))
        In the layout of ``rates``; ordered as the circuit's edges, then bias, then
        stimulus.

    Examples
    --------
    >>> import torch
    >>> from mrnngraph import MultiRegionRNN
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> u = torch.randn(2, 5, 3)
    >>> out = model(u)
    >>> c = currents(model, out.rates, u)
    >>> sorted(k for k in c if k[1] == "a2")
    [('a1', 'a2'), ('a2', 'a2'), ('bias', 'a2')]
    >>> c[("a1", "a2")].shape
    torch.Size([2, 5, 10])
    """
    from ..ensemble import Ensemble

    if isinstance(model, Ensemble):
        return _ensemble_currents(
            model, rates, inputs, x0, regions=regions, bias_key=bias_key, stimulus_key=stimulus_key
        )
    lay = model.layout
    for key in (bias_key, stimulus_key):
        if key in lay.names or key in lay.parents:
            raise ValueError(
                f"the circuit has a node or group named {key!r}; pass "
                "bias_key= / stimulus_key= names that are not node names"
            )
    r, back = time_first(model, rates, model.hidden_size, "rates")
    u, _ = time_first(model, inputs, model.input_size, "inputs")
    T, B = r.shape[0], r.shape[1]
    if u.shape[:2] != (T, B) or rates.dim() != inputs.dim():
        raise ValueError(
            f"rates and inputs must have the same batch and time sizes; got "
            f"{tuple(rates.shape)} and {tuple(inputs.shape)}"
        )
    u = u.to(r)
    H = model.hidden_size
    if x0 is None:
        x0 = model.x0.to(r).expand(B, H)
    elif x0.shape in ((B, H), (H,)):
        x0 = x0.to(r).expand(B, H)
    else:
        raise ValueError(f"x0 must have shape ({B}, {H}) or ({H},); got {tuple(x0.shape)}")
    targets = region_names(model, regions)
    h0 = activation(model)(x0)
    h_prev = torch.cat([h0.unsqueeze(0), r[:-1]], dim=0)
    delays = getattr(model, "_delays", None)
    steps = {} if delays is None else delays.steps

    out: dict[tuple[str, str], torch.Tensor] = {}
    with parametrize.cached():
        w_hh, w_ih, bias = model.weight_hh, model.weight_ih, model.bias
        for (src, dst), block in model.circuit.blocks.items():
            if block.family == "ho" or dst not in targets:
                continue
            rows, cols = lay.slice(dst), lay.slice(src)
            w, source = (w_hh, h_prev) if block.family == "hh" else (w_ih, u)
            k = steps.get((src, dst), 0)
            if k:  # the source as the target sees it, k steps late
                fill = h0 if block.family == "hh" else torch.zeros_like(u[0])
                source = shift(source, k, fill)
            out[(src, dst)] = back(torch.matmul(source[..., cols], w[rows, cols].T))
        for dst in targets:
            out[(bias_key, dst)] = back(bias[lay.slice(dst)].to(r).expand(T, B, -1))
    p = getattr(model, "perturbation", None)
    if p is not None and p.drive is not None:
        stim = torch.broadcast_to(p.drive(T, B, r), (T, B, H))
        for dst in targets:
            out[(stimulus_key, dst)] = back(stim[..., lay.slice(dst)])
    return out


def _ensemble_currents(
    ens, rates: torch.Tensor, inputs: torch.Tensor, x0: torch.Tensor | None, **kwargs
) -> dict[tuple[str, str], torch.Tensor]:
    """:func:`currents` of each member of an ensemble, stacked along a leading dimension."""
    N, H = ens.n_members, ens.hidden_size
    if rates.dim() != 4 or rates.shape[0] != N or rates.shape[-1] != H:
        raise ValueError(
            f"rates of an ensemble of {N} members must have shape (N={N}, B, T, {H}) "
            f"(forward(...).rates); got {tuple(rates.shape)}"
        )
    if inputs.dim() not in (3, 4) or (inputs.dim() == 4 and inputs.shape[0] != N):
        raise ValueError(
            f"inputs of an ensemble must have shape (B, T, I) or (N={N}, B, T, I); "
            f"got {tuple(inputs.shape)}"
        )
    if x0 is not None and x0.dim() > 1 and x0.shape[0] != N:
        raise ValueError(
            f"x0 of an ensemble must have shape (N={N}, B, {H}), ({N}, {H}) or ({H},); "
            f"got {tuple(x0.shape)}"
        )
    parts = []
    with parametrize.cached():
        w_hh, w_ih, bias = ens.weight_hh, ens.weight_ih, ens.bias
        for k in range(N):
            parts.append(
                currents(
                    _MemberView(ens, k, w_hh[k], w_ih[k], bias[k]),
                    rates[k],
                    inputs[k] if inputs.dim() == 4 else inputs,
                    x0=None if x0 is None else (x0[k] if x0.dim() > 1 else x0),
                    **kwargs,
                )
            )
    # Members may declare different edges: one that a member lacks carries it no current.
    keys = list(dict.fromkeys(key for p in parts for key in p))
    special = (kwargs["bias_key"], kwargs["stimulus_key"])
    keys = [k for k in keys if k[0] not in special] + [k for k in keys if k[0] in special]
    out = {}
    for key in keys:
        like = next(p[key] for p in parts if key in p)
        out[key] = torch.stack([p[key] if key in p else torch.zeros_like(like) for p in parts])
    return out


class _MemberView:
    """Member ``k`` of an ensemble as :func:`currents` reads a model: its circuit, its
    slice of the stacked effective weights (cuts of an active ``perturb`` included) and
    its share of the perturbation's clamps and stimulus."""

    def __init__(self, ens, k: int, w_hh, w_ih, bias):
        from .._ensemble_perturb import member_perturbation

        self.layout, self.circuit = ens.layout, ens.circuits[k]
        self.hidden_size, self.input_size = ens.hidden_size, ens.input_size
        self.batch_first, self.activation = ens.batch_first, ens.activation
        self.weight_hh, self.weight_ih, self.bias, self.x0 = w_hh, w_ih, bias, ens.x0[k]
        self.perturbation = member_perturbation(ens, k)
        self._delays = ens._member_delays[k]


def total_current(model, parts: dict[tuple[str, str], torch.Tensor]) -> torch.Tensor:
    """Reassemble the per-pathway currents into the total drive ``(B, T, H)``
    (``(N, B, T, H)`` for an ensemble's currents: any leading dimensions are kept).

    Units of regions that received no entry in ``parts`` stay at 0.

    Examples
    --------
    >>> import torch
    >>> from mrnngraph import MultiRegionRNN
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> u = torch.randn(2, 5, 3)
    >>> total_current(model, currents(model, model(u).rates, u)).shape
    torch.Size([2, 5, 20])
    """
    if not parts:
        raise ValueError("no currents given")
    first = next(iter(parts.values()))
    total = first.new_zeros((*first.shape[:-1], model.hidden_size))
    for (_, dst), c in parts.items():
        s = model.layout.slice(dst)
        total[..., s] = total[..., s] + c
    return total
