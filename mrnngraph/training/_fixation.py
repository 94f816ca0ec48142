"""``train(fixation_from_bias=True)``: the "fixate" output read from the readout bias alone.

A task with a fixation output (``task.fixation_output``) asks the network to hold
"fixate" until the go cue and to answer after it. With a free readout, the cheapest
early solution codes "fixate" as activity of the readout area, which the tonic
fixation input drives, and "answer" as its silence: a relu network then switches the
area off at the go cue, and silent units pass no gradient, so it never learns which
answer (docs/training.md, "Why the hierarchy failed"). With the fixation output's
readout weights held at zero, its logit is the bias, a threshold: fixating is the
absence of an answer, and an answer has to be activity that raises a choice above it
(with ``readout_sign``, through the excitatory units' positive weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn.utils import parametrize

from ..tasks import Task

__all__ = ["hold_fixation_readout"]


def hold_fixation_readout(model: Any, task: Task) -> Callable[[], None] | None:
    """Zero the fixation output's readout weights of a fresh readout and keep their
    gradient at zero until the returned function is called (None: nothing held).

    A readout is fresh when its bias is still all zero, as the model was built (the
    condition of ``init_readout_bias``); one whose fixation weights are zero already (a
    model this held before) is held again. Anything else -- a resumed model that learned
    fixation weights, a model without a learnable readout bias, a row with frozen
    entries, a task without a fixation output -- is left alone. For an ensemble, each
    member on its own (the leading dimension of the stacked readout)."""
    k = getattr(task, "fixation_output", None)
    bias = getattr(model, "bias_ho", None)
    if (
        task.kind != "classification"
        or k is None
        or not isinstance(bias, torch.Tensor)
        or not bias.requires_grad
        or bias.shape[-1] != task.output_size
        or not parametrize.is_parametrized(model, "weight_ho")
    ):
        return None
    raw = model.parametrizations.weight_ho.original
    with torch.no_grad():
        fresh = ~bias.detach().ne(0).any(-1)  # () or (N,)
        held = fresh | ~model.weight_ho.detach()[..., k, :].ne(0).any(-1)
        if not bool(held.any()):
            return None
        before = raw.detach().clone()
        raw[..., k, :].masked_fill_(held.unsqueeze(-1), 0.0)
        # A frozen entry keeps its value whatever the raw weight: such a row is not held.
        held &= ~model.weight_ho.detach()[..., k, :].ne(0).any(-1)
        if not bool(held.any()):
            raw.copy_(before)
            return None
        raw[..., k, :].copy_(torch.where(held.unsqueeze(-1), 0.0, before[..., k, :]))
    rows = torch.zeros_like(raw, dtype=torch.bool)
    rows[..., k, :] = held.unsqueeze(-1)
    handle = raw.register_hook(lambda g: g.masked_fill(rows, 0.0))
    return handle.remove
