"""What :func:`mrnngraph.fit` records: :class:`FitHistory`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..training import History
from ._observation import Observation

__all__ = ["FitHistory"]


@dataclass
class FitHistory(History):
    """What :func:`fit` recorded: :class:`~mrnngraph.History` plus the fit's own fields.

    ``loss`` is the total per step, ``task_loss`` the data term; ``evals`` holds
    ``{"step": k, "pvar": {...}}`` on the validation recording. ``best_step`` is the
    step whose weights the model holds after early stopping (else the last).

    For an :class:`~mrnngraph.Ensemble` (``n_members`` set) the ``member_*`` fields of
    :class:`~mrnngraph.History` hold each member's values per step (``loss``,
    ``task_loss``, ``grad_norm``, ``terms``: the mean over the members still fitting);
    ``member_observation[k]`` is member ``k``'s fitted :class:`Observation`,
    ``member_best_step[k]`` the step whose weights it holds (None where it diverged) and
    ``member_stop_step[k]`` the step where early stopping stopped it (None where it ran
    on); an evaluation is ``{"step", "pvar": mean over the members that did not
    diverge, "members": [{"pvar": {...}}, ...]}``. :meth:`member` gives member ``k``'s
    own FitHistory, as a fit of that member alone records it.
    """

    observation: Observation | None = None
    best_step: int | None = None
    steps_per_bin: int = 1
    member_observation: list[Observation] | None = None
    member_best_step: list[int | None] | None = None
    member_stop_step: list[int | None] | None = None

    def member(self, k: int) -> FitHistory:
        """Member ``k``'s own history (see :meth:`mrnngraph.History.member`), cut where
        early stopping stopped it, with its observation and best step."""
        base = super().member(k)
        k %= self.n_members  # type: ignore[operator]
        stop = self.member_stop_step[k] if self.member_stop_step else None
        out = FitHistory(
            **{f.name: getattr(base, f.name) for f in fields(History)},
            observation=self.member_observation[k] if self.member_observation else None,
            best_step=self.member_best_step[k] if self.member_best_step else None,
            steps_per_bin=self.steps_per_bin,
        )
        if stop is not None:
            out._truncate(sum(1 for s in out.step if s <= stop))
            out.evals = [ev for ev in out.evals if ev["step"] <= stop]
            out.stopped_early = True
        return out

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            best_step=self.best_step,
            steps_per_bin=self.steps_per_bin,
            observation=None if self.observation is None else self.observation.to_dict(),
        )
        if self.n_members is not None:
            d.update(
                member_observation=[o.to_dict() for o in self.member_observation or []],
                member_best_step=self.member_best_step,
                member_stop_step=self.member_stop_step,
            )
        return d
