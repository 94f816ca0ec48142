"""What a training run records (:class:`History`) and how it ends early:
:class:`TrainingDiverged`, :class:`TrainingInterrupted`, :class:`TrainingWarning`."""

from __future__ import annotations

import csv
import math
import os
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
        or ``"loss_stalled"``; ``region`` is ``None`` for the last two. For an
        :class:`~mrnngraph.Ensemble` each member is checked on its own and its
        entries carry ``"member": k``.
    rates : dict of str to list of float
        Each recurrent region's mean rate per step on the training batch (over trials,
        time steps and units; the members' mean for an ensemble).

    Ensembles
    ---------
    When ``train`` was given an :class:`~mrnngraph.Ensemble` of ``N`` members,
    ``n_members`` is ``N`` and ``loss``, ``task_loss``, ``accuracy``, ``grad_norm``,
    ``terms`` and ``rates`` hold the mean over the members still training at that step,
    while the ``member_*`` attributes hold one list of ``N`` floats per step:
    ``member_loss``, ``member_task_loss``, ``member_accuracy``, ``member_grad_norm``
    (before clipping; NaN for a member no longer training), ``member_terms[name]``
    and ``member_rates[region]``. ``history.member_loss[i][k]`` is member ``k``'s loss
    at step ``history.step[i]``. ``diverged`` lists the members whose loss, gradient
    or parameters became non-finite: ``{"member", "step", "what", "value",
    "good_step"}``; such a member is restored to the weights it used at ``good_step``
    and kept there (frozen) while the others go on.
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
    rates: dict[str, list[float]] = field(default_factory=dict)
    n_members: int | None = None
    member_loss: list[list[float]] = field(default_factory=list)
    member_task_loss: list[list[float]] = field(default_factory=list)
    member_accuracy: list[list[float]] = field(default_factory=list)
    member_grad_norm: list[list[float]] = field(default_factory=list)
    member_terms: dict[str, list[list[float]]] = field(default_factory=dict)
    member_rates: dict[str, list[list[float]]] = field(default_factory=dict)
    diverged: list[dict[str, Any]] = field(default_factory=list)

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
            *self.rates.values(),
            self.member_loss,
            self.member_task_loss,
            self.member_accuracy,
            self.member_grad_norm,
            *self.member_terms.values(),
            *self.member_rates.values(),
        ):
            del x[n:]

    def member(self, k: int) -> History:
        """Member ``k``'s own history, as if it had been trained alone on the same batches:
        its per-step loss, task loss, accuracy, gradient norm, terms and rates, its held-out
        evaluations, the health notes about it, and, where it diverged, ``diverged``
        holding that one entry (the steps after it are cut: the member stopped there).

        Only for the history of an :class:`~mrnngraph.Ensemble` (``n_members`` set)."""
        if self.n_members is None:
            raise ValueError("member() needs the history of an Ensemble (n_members is None)")
        n = self.n_members
        if isinstance(k, bool) or not isinstance(k, int) or not -n <= k < n:
            raise IndexError(f"member {k!r} out of range for {self.n_members} members")
        k %= self.n_members
        out = History(
            step=list(self.step),
            loss=[row[k] for row in self.member_loss],
            accuracy=[row[k] for row in self.member_accuracy],
            task_loss=[row[k] for row in self.member_task_loss],
            grad_norm=[row[k] for row in self.member_grad_norm],
            terms={n: [row[k] for row in v] for n, v in self.member_terms.items()},
            evals=[
                {"step": ev["step"], **ev["members"][k]} for ev in self.evals if "members" in ev
            ],
            seconds=self.seconds,
            seed=self.seed,
            stopped_early=self.stopped_early,
            interrupted=self.interrupted,
            health=[h for h in self.health if h.get("member") == k],
            rates={n: [row[k] for row in v] for n, v in self.member_rates.items()},
            diverged=[d for d in self.diverged if d.get("member") == k],
        )
        if out.diverged:
            good = out.diverged[0]["good_step"]
            out._truncate(sum(1 for s in out.step if s <= good))
            last = out.step[-1] if out.step else 0
            out.evals = [ev for ev in out.evals if ev["step"] <= last]
        return out

    def columns(self) -> dict[str, list[float]]:
        """The per-step history as named columns of equal length (what :meth:`to_csv`
        writes): ``step``, ``loss``, ``task_loss``, ``accuracy``, ``grad_norm``,
        ``term/<name>``, ``rate/<region>``; for ensembles also ``member_<k>/<quantity>``
        for each member ``k``; and ``eval/<metric>`` for every scalar held-out metric
        (empty where no evaluation ran at that step)."""
        n = len(self.step)
        cols: dict[str, list[Any]] = {
            "step": list(self.step),
            "loss": list(self.loss),
            "task_loss": list(self.task_loss),
            "accuracy": list(self.accuracy),
            "grad_norm": list(self.grad_norm),
        }
        cols.update({f"term/{k}": list(v) for k, v in self.terms.items()})
        cols.update({f"rate/{k}": list(v) for k, v in self.rates.items()})
        if self.n_members is not None:
            per: dict[str, list[list[float]]] = {
                "loss": self.member_loss,
                "task_loss": self.member_task_loss,
                "accuracy": self.member_accuracy,
                "grad_norm": self.member_grad_norm,
                **{f"term/{k}": v for k, v in self.member_terms.items()},
                **{f"rate/{k}": v for k, v in self.member_rates.items()},
            }
            for k in range(self.n_members):
                for what, rows in per.items():
                    cols[f"member_{k}/{what}"] = [row[k] for row in rows]
        row_of = {s: i for i, s in enumerate(self.step)}
        for ev in self.evals:
            i = row_of.get(ev.get("step"))
            if i is None:
                continue
            for key, value in ev.items():
                if key != "step" and _scalar(value):
                    cols.setdefault(f"eval/{key}", [None] * n)[i] = float(value)
            for k, member in enumerate(ev.get("members", [])):
                for key, value in member.items():
                    if _scalar(value):
                        cols.setdefault(f"member_{k}/eval/{key}", [None] * n)[i] = float(value)
        return {k: v for k, v in cols.items() if len(v) == n}

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the per-step history to ``path`` as CSV: a header row, then one row per
        step, one column per quantity (see :meth:`columns`; per-member columns for an
        ensemble). Missing values (no evaluation at that step) are empty cells; NaN is
        written as ``nan``."""
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}")
        cols = self.columns()
        names = list(cols)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(names)
            for i in range(len(self.step)):
                writer.writerow(["" if cols[c][i] is None else cols[c][i] for c in names])

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
            "rates": {k: clean(v) for k, v in self.rates.items()},
            **(
                {}
                if self.n_members is None
                else {
                    "n_members": self.n_members,
                    "member_loss": _json_safe(self.member_loss),
                    "member_task_loss": _json_safe(self.member_task_loss),
                    "member_accuracy": _json_safe(self.member_accuracy),
                    "member_grad_norm": _json_safe(self.member_grad_norm),
                    "member_terms": _json_safe(self.member_terms),
                    "member_rates": _json_safe(self.member_rates),
                    "diverged": _json_safe(self.diverged),
                }
            ),
        }


def _scalar(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _json_safe(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
