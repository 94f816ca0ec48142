"""Training an :class:`~mrnngraph.Ensemble`: ``N`` members on the same batches, each as
if trained alone (its own gradient, clipping and divergence handling)."""

from __future__ import annotations

import math
import os
import secrets
import time
import warnings
from typing import Any

import torch
from torch.nn.utils import parametrize

from ..tasks import Task
from ._distributed import _Group
from ._evaluation import _Out, _region_rates, _seed_of
from ._health import _Health
from ._history import History, TrainingDiverged, TrainingInterrupted, TrainingWarning
from ._logging import TensorBoardLog
from ._options import TrainOptions
from ._schedule import LRSchedule

__all__: list[str] = []


class _Member:
    """Member ``k`` of an ensemble as a regulariser sees a model: ``weight_*``, ``bias*``,
    ``alpha`` (learned time constants), ``x0`` and ``mask_*`` are member ``k``'s slices
    (with gradients), ``circuit`` its own circuit, the rest is the ensemble's."""

    def __init__(self, ens: Any, k: int):
        self._ens, self._k = ens, k

    def __getattr__(self, name: str) -> Any:
        ens, k = self._ens, self._k
        if name in ("weight_hh", "weight_ih", "weight_ho", "bias", "bias_ho", "alpha", "x0"):
            value = getattr(ens, name)
            return None if value is None else value[k]
        if name in ("mask_hh", "mask_ih", "mask_ho"):
            return ens.parametrizations[f"weight_{name[5:]}"][0].mask[k]
        if name == "circuit":
            return ens.circuits[k]
        if name == "region_activity":
            from ..model import MultiRegionRNN

            return MultiRegionRNN.region_activity.__get__(self)
        return getattr(ens, name)


def _init_member_biases(ens: Any, task: Task) -> None:
    """``train(init_readout_bias=True)`` for each member whose readout bias is all zero."""
    from ._loop import _log_prior

    bias = ens.bias_ho
    if (
        task.kind != "classification"
        or bias is None
        or not bias.requires_grad
        or bias.shape[-1] != task.output_size
    ):
        return
    untouched = [k for k in range(ens.n_members) if not bool(bias[k].detach().ne(0).any())]
    if not untouched:
        return
    prior = _log_prior(task)
    if prior is not None:
        with torch.no_grad():
            for k in untouched:
                bias[k].copy_(prior.to(bias))


def _member_norms(params: list[torch.Tensor], n: int) -> torch.Tensor:
    """Each member's gradient norm over all parameters (every parameter is stacked with
    a leading member dimension), as ``clip_grad_norm_`` computes one model's."""
    norms = [
        torch.linalg.vector_norm(p.grad.reshape(n, -1), dim=1) for p in params if p.grad is not None
    ]
    if not norms:
        return torch.zeros(n, dtype=torch.float64)
    return torch.linalg.vector_norm(torch.stack(norms), dim=0)


def _evaluate_ensemble(ens: Any, task: Task, batch_size: int, seed: int, device: Any) -> dict:
    """:func:`evaluate` for an ensemble: the mean of every scalar metric over the members,
    and ``"members"``, each member's own metrics."""
    device = torch.device(device) if device is not None else ens.alpha.device
    batch = task.batch(batch_size, seed=seed, device=device)
    g = None
    if ens.noise_std or ens.input_noise_std:
        g = torch.Generator(device=device).manual_seed(_seed_of(seed, "noise"))
    parts = []
    # As many trials per call as one model's evaluate runs (512) spread over the members:
    # the (T, trials, N * H) sequences of all 512 for every member outgrow the caches and
    # the buffer pool, which made evaluating 8 members 1.3x slower than one by one.
    chunk = max(16, 512 // ens.n_members)
    with torch.no_grad():
        for start in range(0, batch.batch_size, chunk):
            parts.append(_ens_forward(ens, batch.inputs[start : start + chunk], g).outputs)
        y = torch.cat(parts, dim=1)
        members = [task.metrics(y[k], batch) for k in range(ens.n_members)]
    out: dict[str, Any] = {}
    for key, value in members[0].items():
        values = [m.get(key) for m in members]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = value if key == "n_trials" else sum(float(v) for v in values) / len(values)
    out["members"] = members
    return out


def _ens_forward(ens: Any, inputs: torch.Tensor, generator: Any) -> Any:
    """Batch-first forward of an ensemble: outputs ``(N, B, T, O)``, rates ``(N, B, T, H)``."""
    x = inputs if ens.batch_first else inputs.transpose(0, 1)
    kwargs = {"generator": generator} if generator is not None else {}
    out = ens(x, **kwargs)
    if ens.batch_first:
        return out
    return type(out)(*(t.transpose(1, 2) for t in out))


def _mean(xs: list[float], live: list[bool]) -> float:
    vals = [x for x, ok in zip(xs, live, strict=True) if ok and math.isfinite(x)]
    return sum(vals) / len(vals) if vals else math.nan


def _train_ensemble(
    ens: Any, task: Task, o: TrainOptions, dev: torch.device, group: _Group | None = None
) -> History:
    """The steps of one :func:`train` run of an ensemble (see ``train``'s ``model``);
    ``group``: the process group when distributed (each rank a share of the batch)."""
    from tqdm.auto import tqdm

    N = ens.n_members
    rank, world = (group.rank, group.world_size) if group is not None else (0, 1)
    seed = o.seed if o.seed is not None else secrets.randbits(63)
    if group is not None:
        if o.seed is None:
            seed = group.agree_seed(seed, dev)
        group.broadcast(ens)  # rank 0's members on every rank, as DDP does for one model
    history = History(seed=seed, n_members=N)
    local_batch = max(1, o.batch_size // world)
    data_gen = torch.Generator().manual_seed(_seed_of(seed, "batches", rank))
    noise_gen = None
    if ens.noise_std or ens.input_noise_std:
        noise_gen = torch.Generator(device=dev).manual_seed(_seed_of(seed, "noise", rank))
    opt = o.optimizer if o.optimizer is not None else torch.optim.Adam(ens.parameters(), lr=o.lr)
    schedule = LRSchedule(opt, o.lr_schedule, o.steps)
    params = [p for p in ens.parameters() if p.requires_grad]
    good = [p.detach().clone() for p in params]
    live = [True] * N
    good_step = [0] * N
    views = [_Member(ens, k) for k in range(N)]
    healths = [
        _Health(views[k], history, o.health_every, warn=rank == 0, member=k, task=task)
        for k in range(N)
    ]
    log = TensorBoardLog(o.log_dir) if o.log_dir is not None and rank == 0 else None

    def restore(members: list[int]) -> None:
        with torch.no_grad():
            for p, g in zip(params, good, strict=True):
                p[members] = g[members]

    def diverge(k: int, step: int, what: str, value: float) -> None:
        live[k] = False
        restore([k])
        history.diverged.append(
            {"member": k, "step": step, "what": what, "value": value, "good_step": good_step[k]}
        )
        if rank == 0:
            warnings.warn(
                f"train: member {k} diverged at step {step} (its {what} became {value!r}); "
                f"it keeps the weights it used at step {good_step[k]} and trains no further",
                TrainingWarning,
                stacklevel=4,
            )
        if not any(live):
            path = None
            if o.checkpoint is not None and rank == 0:
                from ..checkpoint import save_model

                save_model(ens, o.checkpoint, graph=o.graph, metadata={"diverged_at_step": step})
                path = os.fspath(o.checkpoint)
            raise TrainingDiverged(step, what, value, max(good_step), history, path)

    in_update = False
    bar = tqdm(
        total=o.steps,
        desc=f"train {task.name} ({N} members)",
        unit="step",
        disable=not o.progress or rank != 0,
        dynamic_ncols=True,
        leave=True,
    )
    start = time.perf_counter()
    try:
        for step in range(1, o.steps + 1):
            schedule.set(step)
            batch = task.batch(local_batch, generator=data_gen, device=dev)
            with parametrize.cached():
                out = _ens_forward(ens, batch.inputs, noise_gen)
                outs = [_Out(out.outputs[k], out.rates[k]) for k in range(N)]
                task_losses = [task.loss(outs[k].outputs, batch) for k in range(N)]
                term_values = [
                    [(name, term(views[k], outs[k], batch)) for name, term in o.terms]
                    for k in range(N)
                ]
            losses = [
                tl + sum((v for _, v in tv), torch.zeros((), device=dev))
                for tl, tv in zip(task_losses, term_values, strict=True)
            ]
            with torch.no_grad():
                loss_v = [float(x) for x in losses]
                task_v = [float(x) for x in task_losses]
                acc_v = [float(task.accuracy(outs[k].outputs, batch)) for k in range(N)]
                terms_v = {
                    name: [float(term_values[k][j][1]) for k in range(N)]
                    for j, (name, _) in enumerate(o.terms)
                }
                if group is not None:  # every rank decides on the same numbers
                    loss_v, task_v, acc_v, terms_v = group.member_means(
                        loss_v, task_v, acc_v, terms_v, dev
                    )
            for k in range(N):
                if live[k] and not math.isfinite(loss_v[k]):
                    diverge(k, step, "loss", loss_v[k])
            total = sum(
                (x for x, ok in zip(losses, live, strict=True) if ok),
                torch.zeros((), device=dev),
            )
            opt.zero_grad(set_to_none=True)
            total.backward()
            if group is not None:
                group.average_gradients(params)
            with torch.no_grad():
                norms = _member_norms(params, N)
                for k in range(N):
                    if live[k] and not math.isfinite(float(norms[k])):
                        diverge(k, step, "gradient", float(norms[k]))
                dead = [k for k in range(N) if not live[k]]
                for p in params:
                    if p.grad is not None and dead:
                        p.grad[dead] = 0
                if o.clip_grad is not None:
                    coef = (o.clip_grad / (norms + 1e-6)).clamp(max=1.0)
                    coef = torch.where(torch.isfinite(coef), coef, torch.ones_like(coef))
                    for p in params:
                        if p.grad is not None:
                            c = coef.to(p.grad).reshape(N, *([1] * (p.dim() - 1)))
                            p.grad.mul_(c)
                alive = [k for k in range(N) if live[k]]
                for p, g in zip(params, good, strict=True):
                    g[alive] = p[alive].detach()
            for k in range(N):
                if live[k]:
                    good_step[k] = step
            in_update = True
            norm_v = [float(norms[k]) if live[k] else math.nan for k in range(N)]
            history.step.append(step)
            history.member_loss.append(loss_v)
            history.member_task_loss.append(task_v)
            history.member_accuracy.append(acc_v)
            history.member_grad_norm.append(norm_v)
            history.loss.append(_mean(loss_v, live))
            history.task_loss.append(_mean(task_v, live))
            history.accuracy.append(_mean(acc_v, live))
            history.grad_norm.append(_mean(norm_v, live))
            for name, vs in terms_v.items():
                history.member_terms.setdefault(name, []).append(vs)
                history.terms.setdefault(name, []).append(_mean(vs, live))
            for name, vs in _region_rates(ens, out.rates).items():
                history.member_rates.setdefault(name, []).append(vs)
                history.rates.setdefault(name, []).append(_mean(vs, live))
            opt.step()
            if dead:  # the optimizer's momentum would move them: keep them where they are
                restore(dead)
            in_update = False
            if log is not None:
                log.step(history)
            if o.eval_every is not None and (step % o.eval_every == 0 or step == o.steps):
                history.evals.append(
                    {
                        "step": step,
                        **_evaluate_ensemble(ens, task, o.eval_batch_size, o.eval_seed, dev),
                    }
                )
                if log is not None:
                    log.evaluation(history.evals[-1])
            if o.health_every is not None and step % o.health_every == 0:
                for k in range(N):
                    if live[k]:
                        healths[k].check(step, outs[k], outs[k].outputs, batch)
            bar.update(1)
            if o.progress and rank == 0:
                post = {"loss": f"{history.loss[-1]:.4f}", "acc": f"{history.accuracy[-1]:.3f}"}
                if not all(live):
                    post["diverged"] = str(N - sum(live))
                bar.set_postfix(post, refresh=False)
            if any(bool(cb(step, history, ens)) for cb in o.callbacks):
                history.stopped_early = step < o.steps
                break
        with torch.no_grad():
            for k in range(N):
                if live[k] and not all(bool(torch.isfinite(p[k]).all()) for p in params):
                    diverge(k, good_step[k], "parameters", math.nan)
        if o.eval_every is not None and history.stopped_early:
            history.evals.append(
                {
                    "step": history.step[-1],
                    **_evaluate_ensemble(ens, task, o.eval_batch_size, o.eval_seed, dev),
                }
            )
            if log is not None:
                log.evaluation(history.evals[-1])
    except KeyboardInterrupt:
        if in_update:
            restore(list(range(N)))
            history._truncate(len(history.step) - 1)
        history.interrupted = True
        raise TrainingInterrupted(history.step[-1] if history.step else 0, history) from None
    finally:
        schedule.restore()
        bar.close()
        history.seconds = time.perf_counter() - start
        if log is not None:
            log.close()
    return history
