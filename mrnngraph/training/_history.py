"""What a training run records (:class:`History`) and how it ends early:
:class:`TrainingDiverged`, :class:`TrainingInterrupted`, :class:`TrainingWarning`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import MrnngraphError, MrnngraphWarning

__all__ = ["History", "TrainingDiverged", "TrainingInterrupted", "TrainingWarning"]


class TrainingDiverged(MrnngraphError, FloatingPointError):
    """The loss, a gradient or a parameter became NaN or infinite during :func:`train`.

    The model holds the last parameters that gave a finite loss and gradient
    (they are also saved when ``train`` was given a ``checkpoint`` path).

    Attributes
    ----------
    step : int
        The (1-based) step at which it happened.
    what : str
        ``"loss"``, ``"gradient"`` or ``"parameters"``.
    value : float
        The offending value (the loss, or the gradient norm).
    history : History
        What was recorded up to the last good step.
    """

    def __init__(
        self,
        step: int,
        what: str,
        value: float,
        good_step: int,
        history: History,
        checkpoint: str | None = None,
    ):
        self.step, self.what, self.value, self.history = step, what, value, history
        self.good_step, self.checkpoint = good_step, checkpoint
        kept = (
            f"the model holds the parameters used at step {good_step}, the last with a "
            "finite loss and gradient"
            if good_step > 0
            else "the model holds its initial parameters"
        )
        saved = f"; saved to {checkpoint!r}" if checkpoint else ""
        super().__init__(
            f"training diverged at step {step}: the {what} became {value!r}; {kept}{saved}. "
            "Try a smaller lr, gradient clipping (clip_grad) or a smaller initial gain."
        )


class TrainingInterrupted(KeyboardInterrupt):
    """:func:`train` was interrupted (Ctrl-C, or a signal handler raising
    ``KeyboardInterrupt``). A ``KeyboardInterrupt``, so code that stops on Ctrl-C
    still stops.

    The model holds the parameters after the last completed step (``history.step[-1]``;
    a step cut short inside the optimizer update is undone).

    Attributes
    ----------
    step : int
        The last completed step (0: none).
    history : History
        What was recorded up to that step (``history.interrupted`` is True).
    """

    def __init__(self, step: int, history: History):
        self.step, self.history = step, history
        super().__init__(f"training interrupted after {step} completed step(s)")


class TrainingWarning(MrnngraphWarning):
    """:func:`train` noticed a silent failure: a region whose rates are all zero or
    saturated over a whole batch, outputs that do not depend on the input, or a loss
    that has stopped moving. Issued once per kind and region; every occurrence is in
    ``History.health``."""


# --------------------------------------------------------------------------- history
@dataclass
class History:
    """What :func:`train` recorded.

    Attributes
    ----------
    step : list of int
        1-based step numbers.
    loss, accuracy, task_loss : list of float
        Per step, on the training batch (averaged over processes when distributed).
    terms : dict of str to list of float
        Each regulariser's (weighted) value per step.
    grad_norm : list of float
        Gradient norm before clipping.
    evals : list of dict
        ``{"step": k, **task.metrics(...)}`` on a fixed held-out batch, every
        ``eval_every`` steps and at the end.
    seconds : float
        Wall-clock training time.
    seed : int
        The seed the training batches were drawn from.
    stopped_early : bool
        A callback asked to stop before ``steps``.
    interrupted : bool
        Training was interrupted (see :class:`TrainingInterrupted`).
    health : list of dict
        Silent failures noticed during training (see :func:`train`'s ``health_every``),
        one entry per kind and region: ``{"kind", "region", "step", "last_step",
        "checks", "message"}`` where ``step`` is the first check that saw it,
        ``last_step`` the latest and ``checks`` how many checks saw it. ``kind`` is
        ``"silent_region"``, ``"saturated_region"``, ``"input_independent_outputs"``
        or ``"loss_stalled"``; ``region`` is ``None`` for the last two.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    task_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    seed: int | None = None
    stopped_early: bool = False
    interrupted: bool = False
    health: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.step)

    def _truncate(self, n: int) -> None:
        """Keep the first ``n`` steps' records."""
        for x in (
            self.step,
            self.loss,
            self.accuracy,
            self.task_loss,
            self.grad_norm,
            *self.terms.values(),
        ):
            del x[n:]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (NaN accuracies become ``None``)."""

        def clean(xs: list[float]) -> list[float | None]:
            return [None if (x is None or not math.isfinite(x)) else x for x in xs]

        return {
            "step": list(self.step),
            "loss": clean(self.loss),
            "accuracy": clean(self.accuracy),
            "task_loss": clean(self.task_loss),
            "grad_norm": clean(self.grad_norm),
            "terms": {k: clean(v) for k, v in self.terms.items()},
            "evals": _json_safe(self.evals),
            "seconds": self.seconds,
            "seed": self.seed,
            "stopped_early": self.stopped_early,
            "interrupted": self.interrupted,
            "health": _json_safe(self.health),
        }


def _json_safe(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
