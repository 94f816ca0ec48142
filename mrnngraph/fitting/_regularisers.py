"""The pathway group lasso (:class:`PathwaySparsity`) and its proximal step."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from .._params import NON_NEGATIVE, check
from ..schema import Boolean

__all__ = ["PathwaySparsity"]


class PathwaySparsity:
    r"""Group lasso over pathways: ``weight * sum ||W[dst, src]||_F / sqrt(size(dst))``.

    One term per declared recurrent projection between different regions (and the
    self-projections with ``self_connections=True``). Each block's norm shrinks as a
    whole, so pathways the data do not need go to zero instead of every synapse
    shrinking a little: what a fit that declares every pair of regions needs to tell
    absent pathways from weak ones. Dividing by ``sqrt(size(dst))`` makes each term the
    pathway's gain (a block of i.i.d. entries of s.d. ``g / sqrt(size(src))`` has norm
    about ``g sqrt(size(dst))``), so the weight means the same for any region sizes.

    With ``proximal=True`` (the default) :func:`fit` does not add the term's gradient
    to the loss's: after every optimizer step it applies the term's proximal map
    (:meth:`prox`), which shrinks each block's norm by the step size times the weight
    and sets a block whose norm is below that exactly to zero. A (sub)gradient step
    cannot do this: with Adam, whose steps are about ``lr`` per entry whatever the
    gradient, a block the data do not need keeps entries of order ``lr`` of random
    sign, which in a 60-unit region carry as much current as a weak true pathway
    (``docs/fitting.md``). :func:`mrnngraph.train`, and ``fit`` for block-sparse
    models, use the term as a penalty (its subgradient). A regulariser for
    :func:`fit` (``losses=``) or :func:`mrnngraph.train`.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> term = PathwaySparsity(1e-2)
    >>> term.name, bool(term(model, None, None) > 0)
    ('pathway_sparsity', True)
    """

    name = "pathway_sparsity"

    def __init__(self, weight: float, *, self_connections: bool = False, proximal: bool = True):
        self.weight = check("weight", weight, NON_NEGATIVE)
        self.self_connections = check("self_connections", self_connections, Boolean())
        self.proximal = check("proximal", proximal, Boolean())

    def _blocks(self, model: nn.Module) -> Iterator[tuple[slice, slice]]:
        lay = model.layout
        for (src, dst), block in model.circuit.blocks.items():
            if block.family != "hh" or (src == dst and not self.self_connections):
                continue
            yield lay.slice(dst), lay.slice(src)

    def __call__(self, model: nn.Module, out: Any, batch: Any) -> torch.Tensor:
        w = model.weight_hh
        total = w.new_zeros(())
        for rows, cols in self._blocks(model):
            total = total + (w[rows, cols].pow(2).sum() + 1e-12).sqrt() / math.sqrt(
                rows.stop - rows.start
            )
        return self.weight * total

    def can_prox(self, model: nn.Module) -> bool:
        """Whether :meth:`prox` applies to ``model`` (dense recurrent weights; an
        :class:`~mrnngraph.Ensemble` keeps its ``[N, H, H]`` stack dense however it runs)."""
        from ..ensemble import Ensemble

        if isinstance(model, Ensemble):
            return self.proximal
        return self.proximal and not getattr(model, "sparse", False)

    @torch.no_grad()
    def prox(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        r"""The group lasso's proximal map after an optimizer step, in place.

        Block :math:`W_g` becomes :math:`\max(0, 1 - \eta \lambda_g / \|W_g\|_F)\,W_g`
        with :math:`\lambda_g` = ``weight / sqrt(size(dst))`` and :math:`\eta` the
        learning rate of the optimizer's group that holds the recurrent weights. The
        step is decoupled from Adam's per-entry scaling, as AdamW decouples weight decay
        (Loshchilov & Hutter 2019): Adam moves every entry by about ``lr`` whatever the
        size of its gradient, so a block survives when its Adam step points out
        consistently (``||m / sqrt(v)||_F > lambda_g``), which does not depend on the
        scale of the data loss. (Taking the step in Adam's metric instead, ``lr /
        sqrt(v)``, ties the threshold to the size of the data gradient, which falls by
        orders of magnitude with ``forcing``: on the ground truth no single weight both
        kept the weak pathway and removed the absent ones.)

        Frozen entries are left as they are; under Dale's law a zeroed entry keeps the
        smallest positive magnitude, so that ``|W|`` still has a gradient and the
        pathway can come back. For an :class:`~mrnngraph.Ensemble` each member's
        declared pathways (its own circuit's) shrink by that member's own block norms,
        exactly as the member's prox alone.
        """
        if not self.can_prox(model) or self.weight == 0:
            return
        raw = model.parametrizations.weight_hh.original
        groups = [g for g in optimizer.param_groups if any(p is raw for p in g["params"])]
        if not groups:
            return
        lr = float(groups[0]["lr"])
        con = model.parametrizations.weight_hh[0]
        w = model.weight_hh
        if raw.dim() == 2:
            self._prox_one(raw, w, con.mask, con.sign, con.trainable, model, lr)
            return
        # An ensemble: each member's blocks shrink by that member's own norms.
        for k, circuit in enumerate(model.circuits):
            sign = None if con.sign is None else con.sign[k, 0]
            trainable = None if con.trainable is None else con.trainable[k]
            member = _Blocks(model.layout, circuit)
            self._prox_one(raw[k], w[k], con.mask[k], sign, trainable, member, lr)

    def _prox_one(
        self,
        raw: torch.Tensor,
        w: torch.Tensor,
        mask_all: torch.Tensor,
        sign: torch.Tensor | None,
        trainable: torch.Tensor | None,
        model: Any,
        lr: float,
    ) -> None:
        """:meth:`prox` of one model's ``[H, H]`` raw weights ``raw`` (effective ``w``)."""
        signed = None if sign is None else (sign != 0)
        tiny = torch.finfo(raw.dtype).tiny
        for rows, cols in self._blocks(model):
            mask = mask_all[rows, cols]
            if trainable is not None:
                mask = mask & trainable[rows, cols]
            if not bool(mask.any()):
                continue
            lam = self.weight / math.sqrt(rows.stop - rows.start)
            norm = float(w[rows, cols].pow(2).sum().sqrt())
            factor = max(0.0, 1.0 - lr * lam / norm) if norm > 0 else 0.0
            block = raw[rows, cols]
            new = torch.where(mask, block * factor, block)
            if factor == 0.0 and signed is not None:
                floor = mask & signed[cols].unsqueeze(0)
                new = torch.where(floor, torch.full_like(new, tiny), new)
            raw[rows, cols] = new


class _Blocks:
    """What :meth:`PathwaySparsity._blocks` reads of a model: its layout and circuit."""

    def __init__(self, layout: Any, circuit: Any):
        self.layout, self.circuit = layout, circuit
