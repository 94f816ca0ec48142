"""The pathway group lasso (:class:`PathwaySparsity`)."""

from __future__ import annotations

import math
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
    whole, so pathways the data do not need go to (near) zero instead of every synapse
    shrinking a little: what a fit that declares every pair of regions needs to tell
    absent pathways from weak ones. A regulariser for :func:`fit` (``losses=``) or
    :func:`mrnngraph.train`.

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

    def __init__(self, weight: float, *, self_connections: bool = False):
        self.weight = check("weight", weight, NON_NEGATIVE)
        self.self_connections = check("self_connections", self_connections, Boolean())

    def __call__(self, model: nn.Module, out: Any, batch: Any) -> torch.Tensor:
        w = model.weight_hh
        lay = model.layout
        total = w.new_zeros(())
        for (src, dst), block in model.circuit.blocks.items():
            if block.family != "hh" or (src == dst and not self.self_connections):
                continue
            rows, cols = lay.slice(dst), lay.slice(src)
            total = total + (w[rows, cols].pow(2).sum() + 1e-12).sqrt() / math.sqrt(
                rows.stop - rows.start
            )
        return self.weight * total
