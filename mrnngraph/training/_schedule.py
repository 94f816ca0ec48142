"""``train(lr_schedule=...)``: the learning rate over a run's steps.

``"cosine"`` (the default) anneals every parameter group's learning rate from its
value at the start of the run to nearly zero at the last step,
``lr * (1 + cos(pi * (s - 1) / steps)) / 2`` at step ``s`` (1, ..., ``steps``): large
steps while the network finds a solution, small ones that settle it, so the model a
run ends with is not wherever the last large steps left it (docs/training.md, "The
recipe"). ``"constant"`` keeps the learning rate as given.
"""

from __future__ import annotations

import math

import torch

__all__ = ["LR_SCHEDULES", "LRSchedule"]

#: The schedules ``train(lr_schedule=...)`` and ``mrnngraph train --lr-schedule`` take.
LR_SCHEDULES = ("cosine", "constant")


class LRSchedule:
    """Sets an optimizer's learning rates before each step; :meth:`restore` puts the
    rates it found back (an optimizer passed to ``train()`` is left as it came)."""

    def __init__(self, opt: torch.optim.Optimizer, kind: str, steps: int):
        self.opt, self.kind, self.steps = opt, kind, steps
        self.base = [group["lr"] for group in opt.param_groups]

    def factor(self, step: int) -> float:
        """The share of the initial learning rate at ``step`` (1-based)."""
        if self.kind == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * (step - 1) / self.steps))

    def set(self, step: int) -> None:
        if self.kind == "constant":
            return
        f = self.factor(step)
        for group, base in zip(self.opt.param_groups, self.base, strict=True):
            group["lr"] = base * f

    def restore(self) -> None:
        for group, base in zip(self.opt.param_groups, self.base, strict=True):
            group["lr"] = base
