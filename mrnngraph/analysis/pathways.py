"""How strongly each region drives each other region in a model fitted to a recording."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._params import validate_params
from ..schema import Boolean
from .currents import currents

__all__ = ["pathway_strength", "pathway_currents"]


def _free_run(model: Any, recording: Any, observation: Any) -> tuple[Any, Any, Any]:
    from ..fitting import free_run

    out, x0, u, _ = free_run(model, recording, observation=observation)
    return out, x0, u


@validate_params({"include_inputs": Boolean()})
def pathway_currents(
    model: Any, recording: Any, *, observation: Any = None, include_inputs: bool = False
) -> dict[tuple[str, str], np.ndarray]:
    """Trial-averaged current of every declared pathway over time.

    The model runs free from each trial's first bin with the recording's inputs (as
    :func:`mrnngraph.pvar` does) and :func:`currents` splits each target's drive by
    source.

    Returns
    -------
    dict of (src, dst) to numpy.ndarray, shape (steps, size(dst))
        Mean over trials; ``steps`` is ``(T - 1) * steps_per_bin`` model steps.
        Recurrent sources only unless ``include_inputs``; the bias is left out. For an
        :class:`~mrnngraph.Ensemble` of ``N`` members each array has a leading member
        dimension, ``(N, steps, size(dst))``, as in :func:`pathway_strength`.
    """
    out, x0, u = _free_run(model, recording, observation)
    keep = set(model.layout.regions) | (set(model.layout.inputs) if include_inputs else set())

    def one(member: Any, rates: torch.Tensor, x: torch.Tensor) -> dict:
        with torch.no_grad():
            parts = currents(member, _layout_of(member, rates), _layout_of(member, u), x0=x)
        return {
            k: _layout_of(member, v).mean(0).cpu().numpy() for k, v in parts.items() if k[0] in keep
        }

    if not _is_ensemble(model):
        return one(model, out.rates, x0)
    members = [one(model[k], out.rates[k], x0[k]) for k in range(len(model))]
    return _stack(members, lambda v: np.zeros_like(v))


def _layout_of(model: Any, t: torch.Tensor) -> torch.Tensor:
    """Batch-first ``t`` in the model's layout (and back: the swap is its own inverse)."""
    return t if getattr(model, "batch_first", True) else t.transpose(0, 1)


def _is_ensemble(model: Any) -> bool:
    from ..ensemble import Ensemble

    return isinstance(model, Ensemble)


def _stack(members: list[dict], absent: Any) -> dict:
    """One result per member as one dict whose values have a leading member dimension:
    the keys in the order they first appear; a key a member lacks (a pathway its circuit
    does not declare) is ``absent(value)`` there."""
    keys = list(dict.fromkeys(k for m in members for k in m))
    out = {}
    for key in keys:
        like = next(m[key] for m in members if key in m)
        out[key] = np.stack([np.asarray(m[key]) if key in m else absent(like) for m in members])
    return out


@validate_params({"split_ei": Boolean(), "include_inputs": Boolean()})
def pathway_strength(
    model: Any,
    recording: Any,
    *,
    split_ei: bool = False,
    observation: Any = None,
    include_inputs: bool = False,
) -> dict[tuple[str, ...], float]:
    r"""Mean absolute current from each source region into each target region.

    The model runs free from each trial's first bin with the recording's inputs (as
    :func:`mrnngraph.pvar` does); for every declared projection the current
    :math:`W_{dst,src} h_{src}(t)` (:func:`mrnngraph.analysis.currents`) is averaged in
    absolute value over trials, time and target units. It is CURBD's summary of a
    pathway (Perich et al. 2020), in the units of the model's drive.

    Parameters
    ----------
    model : MultiRegionRNN or Ensemble
        Usually fitted with :func:`mrnngraph.fit` (its ``model.observation`` is used).
    recording : Recording
        Trials to run (held-out ones, preferably).
    split_ei : bool
        Split every pathway by E/I sub-pathway: keys ``(src, dst, "EI")`` (source type
        first, as the ``ei`` edge attribute), from the source's units of that type into
        the target's units of that type. Every region involved needs E/I types (``sign``
        or ``exc_frac``).
    observation : Observation, optional
        Default: ``model.observation``.
    include_inputs : bool
        Also report input nodes as sources.

    Returns
    -------
    dict
        ``{(src, dst): float}`` (or ``(src, dst, sub)`` with ``split_ei``), in the order
        of the circuit's projections; self-projections ``(r, r)`` included. Pairs the
        circuit does not declare are absent (no synapses, no current).

        For an :class:`~mrnngraph.Ensemble` of ``N`` members (fitted together by
        :func:`mrnngraph.fit`, each read through its own ``ens.observations[k]``), the
        same keys with a leading member dimension, as :func:`currents` and
        :func:`mrnngraph.pvar` give: each value is a ``numpy.ndarray`` of shape ``(N,)``
        whose entry ``k`` is member ``k``'s strength
        (``pathway_strength(ens, rec)[key][k] == pathway_strength(ens[k], rec)[key]``;
        the members run in one batched free run). A pathway that some members' circuits
        do not declare is 0.0 for them (no synapses, no current).

    Examples
    --------
    >>> import torch, mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, activation="tanh")
    >>> from mrnngraph.recording import activity
    >>> rec = activity(model, torch.randn(2, 20, 3))
    >>> s = pathway_strength(model, rec)
    >>> sorted(s)
    [('a1', 'a1'), ('a1', 'a2'), ('a2', 'a1'), ('a2', 'a2')]
    >>> sorted(pathway_strength(model, rec, split_ei=True))[:2]
    [('a1', 'a1', 'EE'), ('a1', 'a1', 'EI')]
    """
    out, x0, u = _free_run(model, recording, observation)  # checks model and recording
    if not _is_ensemble(model):
        return _strength(model, out.rates, x0, u, split_ei, include_inputs)
    members = [
        _strength(model[k], out.rates[k], x0[k], u, split_ei, include_inputs)
        for k in range(len(model))
    ]
    return _stack(members, lambda v: 0.0)


def _strength(
    model: Any,
    rates: torch.Tensor,
    x0: torch.Tensor,
    u: torch.Tensor,
    split_ei: bool,
    include_inputs: bool,
) -> dict[tuple[str, ...], float]:
    """:func:`pathway_strength` of one model from its batch-first free run."""
    lay = model.layout
    if not split_ei:
        keep = set(lay.regions) | (set(lay.inputs) if include_inputs else set())
        with torch.no_grad():
            c = currents(model, _layout_of(model, rates), _layout_of(model, u), x0=x0)
        return {k: float(v.abs().mean()) for k, v in c.items() if k[0] in keep}
    sign = model.sign_h.detach().cpu()
    untyped = [r for r in lay.regions if bool((sign[lay.slice(r)] == 0).any())]
    from .._scan import ACTIVATION_FUNCTIONS

    h_prev = torch.cat(
        [ACTIVATION_FUNCTIONS[model.activation](x0).unsqueeze(1), rates[:, :-1]], dim=1
    )
    result: dict[tuple[str, ...], float] = {}
    with torch.no_grad():
        w = model.weight_hh.detach()
        for (src, dst), block in model.circuit.blocks.items():
            if block.family != "hh":
                continue
            bad = [r for r in (src, dst) if r in untyped]
            if bad:
                raise ValueError(
                    f"split_ei needs E/I types; region(s) {sorted(set(bad))} of "
                    f"pathway ({src!r}, {dst!r}) have units without a sign "
                    "(give the node sign= or exc_frac=)"
                )
            rs, cs = lay.slice(dst), lay.slice(src)
            for a, sa in (("E", 1.0), ("I", -1.0)):
                cols = torch.arange(cs.start, cs.stop)[sign[cs] == sa]
                for b, sb in (("E", 1.0), ("I", -1.0)):
                    rows = torch.arange(rs.start, rs.stop)[sign[rs] == sb]
                    if len(cols) == 0 or len(rows) == 0:
                        continue
                    sub = w.index_select(0, rows.to(w.device)).index_select(1, cols.to(w.device))
                    if not bool((sub != 0).any()):
                        continue
                    cur = torch.matmul(h_prev[..., cols.to(w.device)], sub.T)
                    result[(src, dst, a + b)] = float(cur.abs().mean())
    return result
