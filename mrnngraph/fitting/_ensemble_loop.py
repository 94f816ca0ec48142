"""Fitting an :class:`~mrnngraph.Ensemble`: ``N`` members on the same trial batches, each
as if fitted alone (its own observation, latent initial state, gradient clipping,
proximal step, divergence handling and early stopping)."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import torch
from torch.nn.utils import parametrize

from ..model import RNNOutput
from ..recording import Recording
from ..training import TrainingDiverged, TrainingWarning
from ..training._ensemble_loop import _mean, _Member, _member_norms
from ._evaluation import pvar
from ._history import FitHistory
from ._state import _Best, _FitOptions, _FitState

__all__: list[str] = []


class _Members:
    """Which members still fit, the weights each used at its last good step, and putting
    a member back there: the per-member side of ``train``'s divergence guard."""

    def __init__(self, params: list[torch.Tensor], n: int):
        self.params, self.n = params, n
        self.good = [p.detach().clone() for p in params]
        self.good_step = [0] * n
        self.diverged: list[bool] = [False] * n
        self.stopped: list[bool] = [False] * n

    def active(self, k: int) -> bool:
        return not (self.diverged[k] or self.stopped[k])

    def inactive(self) -> list[int]:
        return [k for k in range(self.n) if not self.active(k)]

    @torch.no_grad()
    def restore(self, members: list[int]) -> None:
        for p, g in zip(self.params, self.good, strict=True):
            p[members] = g[members]

    @torch.no_grad()
    def step_taken(self, step: int) -> None:
        """The active members' weights (used at ``step``) are their last good ones."""
        live = [k for k in range(self.n) if self.active(k)]
        for p, g in zip(self.params, self.good, strict=True):
            g[live] = p[live].detach()
        for k in live:
            self.good_step[k] = step

    @torch.no_grad()
    def clip(self, norms: torch.Tensor, clip_grad: float | None) -> None:
        """Zero the inactive members' gradients and clip each member's to ``clip_grad``
        (the factor ``clip_grad_norm_`` applies to one model)."""
        dead = self.inactive()
        coef = torch.ones_like(norms)
        if clip_grad is not None:
            coef = (clip_grad / (norms + 1e-6)).clamp(max=1.0)
            coef = torch.where(torch.isfinite(coef), coef, torch.ones_like(coef))
        for p in self.params:
            if p.grad is not None:
                p.grad[dead] = 0  # exactly 0, also where the gradient is NaN
                p.grad.mul_(coef.to(p.grad).reshape(self.n, *([1] * (p.dim() - 1))))


def _fit_ensemble(ens: Any, recording: Recording, o: _FitOptions) -> FitHistory:
    """The steps of one :func:`fit` run of an ensemble (see ``fit``'s "Ensembles")."""
    from tqdm.auto import tqdm

    N = ens.n_members
    st = _FitState(ens, recording, o, N)
    params, opt = st.params, st.opt
    m = _Members(params, N)
    views = [_Member(ens, k) for k in range(N)]
    history = FitHistory(
        seed=o.seed,
        steps_per_bin=o.steps_per_bin,
        n_members=N,
        member_best_step=[None] * N,
        member_stop_step=[None] * N,
    )
    bests = [_Best() for _ in range(N)]

    def snapshot(k: int) -> Any:
        return lambda: [p[k].detach().clone() for p in params]

    def finish() -> None:
        final = [st.obs.member(k) for k in range(N)]
        history.member_observation = final
        ens.observations = tuple(final)
        with torch.no_grad():
            ens.x0.copy_(st.x0_full())

    def diverge(k: int, step: int, what: str, value: float) -> None:
        # Put back after the step (restore()): the step's graph still holds its weights.
        m.diverged[k] = True
        good = m.good_step[k]
        history.diverged.append(
            {"member": k, "step": step, "what": what, "value": value, "good_step": good}
        )
        warnings.warn(
            f"fit: member {k} diverged at step {step} (its {what} became {value!r}); it "
            f"keeps the weights it used at step {good} and fits no further",
            TrainingWarning,
            stacklevel=4,
        )
        if all(m.diverged):
            m.restore(list(range(N)))
            finish()
            raise TrainingDiverged(step, what, value, max(m.good_step), history)

    def evaluate(step: int) -> None:
        finish()
        scores = pvar(ens, o.validation)
        members = [{"pvar": {r: float(v[k]) for r, v in scores.items()}} for k in range(N)]
        ok = [not d for d in m.diverged]
        mean = {r: _mean([float(x) for x in v], ok) for r, v in scores.items()}
        history.evals.append({"step": step, "pvar": mean, "members": members})
        for k in range(N):
            if m.active(k) and bests[k].update(
                members[k]["pvar"]["all"], step, snapshot(k), o.early_stopping
            ):
                m.stopped[k] = True
                history.member_stop_step[k] = step if step < o.steps else None

    bar = tqdm(total=o.steps, desc=f"fit ({N} members)", unit="step", disable=not o.progress)
    start = time.perf_counter()
    try:
        for step in range(1, o.steps + 1):
            with parametrize.cached():
                out, data, batch = st.forward(st.next_trials())
                terms = [
                    st.terms(views[k], RNNOutput(*(t[k] for t in out)), batch) for k in range(N)
                ]
            total = data + torch.stack([t[0] for t in terms])
            loss_v = [float(total[k].detach()) + terms[k][2] for k in range(N)]
            for k in range(N):
                if m.active(k) and not math.isfinite(loss_v[k]):
                    diverge(k, step, "loss", loss_v[k])
            opt.zero_grad(set_to_none=True)
            live = [k for k in range(N) if m.active(k)]
            total[live].sum().backward()
            norms = _member_norms(params, N)
            for k in live:
                if not math.isfinite(float(norms[k])):
                    diverge(k, step, "gradient", float(norms[k]))
            m.clip(norms, o.clip_grad)
            m.step_taken(step)
            opt.step()
            for term in o.proximal:
                term.prox(ens, opt)
            if m.inactive():  # the optimizer's momentum would move them: keep them
                m.restore(m.inactive())
            ok = [m.active(k) for k in range(N)]
            history.step.append(step)
            for name, vs in (
                ("loss", loss_v),
                ("task_loss", [float(data[k].detach()) for k in range(N)]),
                ("grad_norm", [float(norms[k]) if ok[k] else math.nan for k in range(N)]),
            ):  # each member's value, and the mean over those still fitting
                getattr(history, f"member_{name}").append(vs)
                getattr(history, name).append(_mean(vs, ok))
            for j, (name, _) in enumerate(o.terms):
                vs = [float(terms[k][1][j][1].detach()) for k in range(N)]
                history.member_terms.setdefault(name, []).append(vs)
                history.terms.setdefault(name, []).append(_mean(vs, ok))
            bar.update(1)
            if o.progress:
                bar.set_postfix(loss=f"{history.loss[-1]:.4f}", refresh=False)
            if o.evaluates(step):
                evaluate(step)
            cb = any(bool(c(step, history, ens)) for c in o.callbacks)
            if cb or not any(m.active(k) for k in range(N)):
                history.stopped_early = step < o.steps
                break
        with torch.no_grad():
            for k in range(N):
                if not m.diverged[k] and not all(bool(torch.isfinite(p[k]).all()) for p in params):
                    diverge(k, m.good_step[k], "parameters", math.nan)
                    m.restore([k])
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    with torch.no_grad():
        for k in range(N):
            if m.diverged[k]:
                continue
            if o.early_stopping is not None and bests[k].state is not None:
                for p, v in zip(params, bests[k].state, strict=True):
                    p[k] = v
                history.member_best_step[k] = bests[k].step
            else:
                history.member_best_step[k] = history.step[-1] if history.step else None
    finish()
    return history
