"""Train a circuit model on a task: Adam, masked task loss plus regularisers, clipping,
divergence detection, a progress bar, and data-parallel training over processes.

Dale's law, connectivity masks and frozen projections are parametrizations of
the model's weights (see :mod:`mrnngraph.model`), so every optimizer step keeps
them: nothing here re-imposes them.

Distributed training
--------------------
``train(..., distributed=True)`` runs data-parallel with
:class:`torch.nn.parallel.DistributedDataParallel`, one process per device:
``gloo`` on CPU, ``nccl`` on GPU. It joins the process group described by the
environment variables that ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), or an already initialised one.
:func:`launch` starts such processes on this machine without ``torchrun``.
"""

from __future__ import annotations

import abc
import hashlib
import inspect
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import MrnngraphError, MrnngraphWarning
from .tasks import Batch, Task

__all__ = [
    "train",
    "evaluate",
    "predict",
    "constraint_violations",
    "History",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingWarning",
    "LossTerm",
    "RateL2",
    "WeightL1",
    "WeightL2",
    "StopAt",
    "launch",
    "distributed_env",
]


# --------------------------------------------------------------------------- errors
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


# --------------------------------------------------------------------------- loss terms
class LossTerm(abc.ABC):
    """A regulariser: ``term(model, out, batch) -> scalar Tensor`` (already weighted).

    ``model`` is the bare :class:`~mrnngraph.MultiRegionRNN` (never the DDP wrapper),
    ``out`` its :class:`~mrnngraph.RNNOutput` (batch-first), ``batch`` the
    :class:`~mrnngraph.tasks.Batch`. Subclasses set :attr:`name`.
    """

    name: str = "term"
    weight: float = 1.0

    @abc.abstractmethod
    def __call__(self, model: nn.Module, out: Any, batch: Batch) -> torch.Tensor:
        """The weighted value of this term for one batch."""


def _check_weight(weight: Any) -> float:
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not (math.isfinite(weight) and weight >= 0)
    ):
        raise ValueError(f"a loss weight must be a float >= 0; got {weight!r}")
    return float(weight)


class RateL2(LossTerm):
    """``weight * mean(rate**2)`` over the counted steps and the units of ``regions``.

    Parameters
    ----------
    weight : float
    regions : sequence of str, optional
        Region (or parent group) names; all recurrent units when omitted. Add one
        term per region for per-region weights.

    Examples
    --------
    >>> RateL2(1e-3, regions=["ctx_e"]).name
    'rate_l2[ctx_e]'
    """

    def __init__(self, weight: float, regions: Sequence[str] | None = None):
        self.weight = _check_weight(weight)
        if isinstance(regions, str):
            regions = (regions,)
        self.regions = None if regions is None else tuple(regions)
        self.name = "rate_l2" if self.regions is None else f"rate_l2[{','.join(self.regions)}]"

    def __call__(self, model: nn.Module, out: Any, batch: Batch) -> torch.Tensor:
        rates = out.rates
        if self.regions is not None:
            rates = model.region_activity(rates, *self.regions)
        w = (batch.mask > 0).to(rates.dtype)
        per_step = rates.pow(2).mean(-1)
        return self.weight * (per_step * w).sum() / w.sum().clamp(min=1)


class _WeightNorm(LossTerm):
    p: int = 1

    def __init__(self, weight: float, which: str | Sequence[str] = "hh"):
        self.weight = _check_weight(weight)
        which = (which,) if isinstance(which, str) else tuple(which)
        bad = [w for w in which if w not in ("hh", "ih", "ho")]
        if bad or not which:
            raise ValueError(
                f"which must name weight matrices among 'hh', 'ih', 'ho'; got {which!r}"
            )
        self.which = which
        self.name = f"weight_l{self.p}[{','.join(which)}]"

    def __call__(self, model: nn.Module, out: Any, batch: Batch) -> torch.Tensor:
        total = 0.0
        for fam in self.which:
            w = getattr(model, f"weight_{fam}")
            n = getattr(model, f"mask_{fam}").sum().clamp(min=1)
            total = total + (w.abs() if self.p == 1 else w.pow(2)).sum() / n
        return self.weight * total


class WeightL1(_WeightNorm):
    """``weight * mean |W|`` over the existing synapses of the named matrices
    (``"hh"`` recurrent, ``"ih"`` input, ``"ho"`` readout)."""

    p = 1


class WeightL2(_WeightNorm):
    """``weight * mean W**2`` over the existing synapses of the named matrices."""

    p = 2


class StopAt:
    """Callback that stops training once the mean training accuracy of the last
    ``window`` steps reaches ``accuracy``.

    Examples
    --------
    >>> stop = StopAt(0.9, window=2)
    >>> h = History(step=[1, 2], accuracy=[0.8, 0.95])
    >>> stop(2, h, None), stop(3, History(step=[1, 2, 3], accuracy=[0.8, 0.95, 0.97]), None)
    (False, True)
    """

    def __init__(self, accuracy: float, *, window: int = 20):
        self.threshold = float(accuracy)
        self.window = int(window)

    def __call__(self, step: int, history: History, model: Any) -> bool:
        acc = history.accuracy[-self.window :]
        if len(acc) < self.window:
            return False
        return sum(acc) / len(acc) >= self.threshold


# --------------------------------------------------------------------------- helpers
def _outputs(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    return out.outputs if hasattr(out, "outputs") else out[0]


def _forward(
    module: nn.Module, bare: nn.Module, inputs: torch.Tensor, generator: torch.Generator | None
) -> Any:
    """Batch-first forward whatever the model's layout; returns the model's output."""
    batch_first = getattr(bare, "batch_first", True)
    x = inputs if batch_first else inputs.transpose(0, 1)
    kwargs = {"generator": generator} if generator is not None else {}
    out = module(x, **kwargs)
    if isinstance(out, torch.Tensor):
        return _Out(out if batch_first else out.transpose(0, 1), None)
    if batch_first:
        return out
    return type(out)(*(t.transpose(0, 1) for t in out))


class _Out:
    def __init__(self, outputs: torch.Tensor, rates: torch.Tensor | None):
        self.outputs, self.rates = outputs, rates


def _seed_of(seed: int, *key: Any) -> int:
    digest = hashlib.blake2b("\x00".join(map(str, (seed, *key))).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _terms(losses: Any) -> list[tuple[str, Callable]]:
    if losses is None:
        return []
    if isinstance(losses, Mapping):
        items = list(losses.items())
    elif callable(losses):
        items = [(getattr(losses, "name", "term"), losses)]
    else:
        items = [(getattr(t, "name", f"term{k}"), t) for k, t in enumerate(losses)]
    out, seen = [], set()
    for name, term in items:
        if not callable(term):
            raise TypeError(f"loss term {name!r} is not callable; got {type(term).__name__}")
        base, k = str(name), 2
        while name in seen:
            name, k = f"{base}#{k}", k + 1
        seen.add(name)
        out.append((str(name), term))
    return out


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return value


# --------------------------------------------------------------------------- distributed
def distributed_env() -> dict[str, int] | None:
    """``{"rank", "world_size", "local_rank"}`` from torchrun's variables, or ``None``."""
    try:
        return {
            "rank": int(os.environ["RANK"]),
            "world_size": int(os.environ["WORLD_SIZE"]),
            "local_rank": int(os.environ.get("LOCAL_RANK", os.environ["RANK"])),
        }
    except (KeyError, ValueError):
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launched(
    local_rank: int, world_size: int, port: int, threads: int | None, fn: Callable, args: tuple
) -> None:
    os.environ.update(
        {
            "RANK": str(local_rank),
            "LOCAL_RANK": str(local_rank),
            "WORLD_SIZE": str(world_size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    if threads:
        torch.set_num_threads(threads)
    fn(*args)


def launch(fn: Callable[..., Any], *args: Any, nprocs: int = 2, threads: int | None = None) -> None:
    """Run ``fn(*args)`` in ``nprocs`` new processes set up as ``torchrun`` would.

    Each process sees ``RANK``/``LOCAL_RANK`` (0 .. nprocs-1), ``WORLD_SIZE``,
    ``MASTER_ADDR=127.0.0.1`` and a free ``MASTER_PORT``, so ``fn`` may call
    ``train(..., distributed=True)``. ``fn`` must be picklable (defined at module
    level). Returns when all processes have finished; raises if one fails.

    Parameters
    ----------
    threads : int, optional
        Torch threads per process; default: the CPU count divided by ``nprocs``.
    """
    import torch.multiprocessing as mp

    nprocs = _check_int("nprocs", nprocs, 1)
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // nprocs)
    mp.start_processes(
        _launched,
        args=(nprocs, _free_port(), threads, fn, args),
        nprocs=nprocs,
        join=True,
        start_method="spawn",
    )


class _Group:
    """The process group of one ``train`` call (created here or joined)."""

    def __init__(self, device: torch.device):
        import torch.distributed as dist

        self.dist = dist
        self.created = False
        if not dist.is_available():
            raise RuntimeError("distributed=True but this PyTorch build has no torch.distributed")
        if not dist.is_initialized():
            env = distributed_env()
            if env is None or "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
                raise RuntimeError(
                    "distributed=True needs a process group: run under torchrun (which sets "
                    "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), start processes with "
                    "mrnngraph.training.launch, or call torch.distributed.init_process_group first"
                )
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, rank=env["rank"], world_size=env["world_size"])
            self.created = True
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        self.dist.all_reduce(values, op=self.dist.ReduceOp.SUM)
        return values / self.world_size

    def close(self) -> None:
        if self.created:
            self.dist.destroy_process_group()


# --------------------------------------------------------------------------- evaluate
def predict(
    model: nn.Module,
    batch: Batch,
    *,
    chunk_size: int = 512,
    generator: torch.Generator | None = None,
) -> Any:
    """Run ``model`` batch-first on ``batch`` without gradients, ``chunk_size`` trials at a
    time (bounding the memory the states and rates take); returns the model's output
    (e.g. an :class:`~mrnngraph.RNNOutput`) for the whole batch."""
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    parts = []
    with torch.no_grad():
        for start in range(0, batch.batch_size, chunk_size):
            parts.append(
                _forward(model, model, batch.inputs[start : start + chunk_size], generator)
            )
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], _Out):
        return _Out(torch.cat([p.outputs for p in parts]), None)
    return type(parts[0])(*(torch.cat(ts) for ts in zip(*parts, strict=True)))


def evaluate(
    model: nn.Module,
    task: Task,
    *,
    batch_size: int = 1000,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """``task.metrics`` of the model on a fresh batch drawn with ``seed``, without gradients.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> m = evaluate(model, PerceptualDecisionMaking(), batch_size=50)
    >>> 0.0 <= m["accuracy"] <= 1.0, m["n_trials"]
    (True, 50)
    """
    device = torch.device(device) if device is not None else _model_device(model)
    batch = task.batch(_check_int("batch_size", batch_size, 1), seed=seed, device=device)
    g = None
    if getattr(model, "noise_std", 0) or getattr(model, "input_noise_std", 0):
        g = torch.Generator(device=device).manual_seed(_seed_of(seed, "noise"))
    with torch.no_grad():
        return task.metrics(_outputs(predict(model, batch, generator=g)), batch)


def constraint_violations(model: nn.Module) -> dict[str, int]:
    """Count the entries of a :class:`~mrnngraph.MultiRegionRNN`'s effective weights that
    break its circuit's constraints (all zero by construction).

    Returns
    -------
    dict
        ``dale``: entries of an excitatory (inhibitory) source column below (above)
        zero, over the recurrent and input matrices; ``mask``: non-zero entries
        outside the mask; ``frozen``: entries of frozen projections that differ from
        the circuit's initial weights. Masks and signs are the *circuit's*, not the
        model's buffers, so weights that follow edited (tampered) buffers still count.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import cbgt_loop
    >>> constraint_violations(mg.MultiRegionRNN.from_graph(cbgt_loop(), seed=0))
    {'dale': 0, 'mask': 0, 'frozen': 0}
    """
    out = {"dale": 0, "mask": 0, "frozen": 0}
    circuit = model.circuit
    with torch.no_grad():
        for fam, sign in (("hh", circuit.sign_h), ("ih", circuit.sign_i), ("ho", None)):
            w = getattr(model, f"weight_{fam}").detach()
            mask = getattr(circuit, f"mask_{fam}").to(w.device).bool()
            out["mask"] += int(((w != 0) & ~mask).sum())
            if sign is not None:
                s = sign.to(w.dtype)[None, :].expand_as(w)
                out["dale"] += int(((s > 0) & (w < 0)).sum() + ((s < 0) & (w > 0)).sum())
            frozen = ~getattr(circuit, f"trainable_{fam}").to(w.device)
            ref = getattr(circuit, f"weight_{fam}").to(w)
            out["frozen"] += int(((w != ref) & frozen).sum())
    return out


# --------------------------------------------------------------------------- health
#: Steps of training loss over which a loss that has not moved is reported.
_STALL_WINDOW = 100
#: Relative spread (max - min) / mean of the loss over that window below which it "has not moved".
_STALL_TOL = 1e-4
#: Rates at most this large (in absolute value) everywhere count as a silent region.
_SILENT = 1e-6
#: Rates this close to a bound of a bounded activation everywhere count as saturated.
_SATURATED = 1e-3
_BOUNDED = ("tanh", "sigmoid", "retanh")

_MESSAGES = {
    "silent_region": "the rates of region {region!r} are all zero over a whole batch: it "
    "takes no part in the task (and a relu passes no gradient to its inputs)",
    "saturated_region": "every rate of region {region!r} is within 1e-3 of its activation's "
    "bound over a whole batch (the activation's slope is ~0)",
    "input_independent_outputs": "the outputs are the same for every trial of a batch: they "
    "do not depend on the input",
    "loss_stalled": f"the training loss has not moved over {_STALL_WINDOW} steps "
    f"(relative spread < {_STALL_TOL:g})",
}


class _Health:
    """Cheap checks for silent failures, from tensors the step already has."""

    def __init__(self, model: nn.Module, history: History, every: int | None, warn: bool):
        self.every, self.history, self.warn = every, history, warn
        layout = getattr(model, "layout", None)
        self.regions: list[tuple[str, slice]] = []
        if layout is not None and getattr(layout, "regions", None):
            self.regions = [(r, layout.slice(r)) for r in layout.regions]
        self.activation = str(getattr(model, "activation", ""))
        self.events: dict[tuple[str, str | None], dict[str, Any]] = {}
        self.active: list[str] = []

    def due(self, step: int) -> bool:
        return self.every is not None and step % self.every == 0

    def check(self, step: int, out: Any, y: torch.Tensor, batch: Batch) -> None:
        found: list[tuple[str, str | None]] = []
        with torch.no_grad():
            rates = getattr(out, "rates", None)
            if isinstance(rates, torch.Tensor) and self.regions and rates.numel():
                flat = rates.detach().flatten(0, -2)
                peak = flat.abs().amax(0)
                sat = None
                if self.activation == "tanh":
                    sat = (1 - flat.abs()).amax(0)
                elif self.activation == "sigmoid":
                    sat = torch.minimum(flat, 1 - flat).amax(0)
                elif self.activation == "retanh":
                    sat = (1 - flat).amax(0)
                peak_r = [
                    float(peak[sl].max()) if sl.stop > sl.start else math.inf
                    for _, sl in self.regions
                ]
                for (name, sl), p in zip(self.regions, peak_r, strict=True):
                    if p <= _SILENT:
                        found.append(("silent_region", name))
                    elif sat is not None and float(sat[sl].max()) <= _SATURATED:
                        found.append(("saturated_region", name))
            counted = (batch.mask > 0).all(0)
            if y.shape[0] > 1 and bool(counted.any()):
                yc, xc = y.detach()[:, counted], batch.inputs[:, counted]
                x_varies = bool((xc - xc[:1]).abs().amax() > 0)
                spread = float((yc - yc[:1]).abs().amax())
                if x_varies and spread <= 1e-6 * (1.0 + float(yc.abs().amax())):
                    found.append(("input_independent_outputs", None))
        loss = self.history.loss[-_STALL_WINDOW:]
        if len(loss) == _STALL_WINDOW:
            mean = sum(loss) / len(loss)
            if mean > 0 and (max(loss) - min(loss)) <= _STALL_TOL * mean:
                found.append(("loss_stalled", None))
        self.active = []
        for kind, region in found:
            self._record(step, kind, region)
            word = kind.split("_")[0] if region is None else f"{region} {kind.split('_')[0]}"
            self.active.append(word)

    def _record(self, step: int, kind: str, region: str | None) -> None:
        key = (kind, region)
        ev = self.events.get(key)
        if ev is not None:
            ev["last_step"], ev["checks"] = step, ev["checks"] + 1
            return
        message = _MESSAGES[kind].format(region=region)
        ev = {
            "kind": kind,
            "region": region,
            "step": step,
            "last_step": step,
            "checks": 1,
            "message": message,
        }
        self.events[key] = ev
        self.history.health.append(ev)
        if self.warn:
            import warnings

            warnings.warn(f"train: step {step}: {message}", TrainingWarning, stacklevel=5)

    def postfix(self) -> str | None:
        return ", ".join(self.active) if self.active else None


# --------------------------------------------------------------------------- train
def train(
    model: nn.Module,
    task: Task,
    *,
    steps: int,
    lr: float = 1e-2,
    batch_size: int = 64,
    losses: Iterable[Callable] | Mapping[str, Callable] | None = None,
    callbacks: Iterable[Callable] = (),
    progress: bool = True,
    clip_grad: float | None = 1.0,
    seed: int | None = None,
    device: torch.device | str | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    eval_every: int | None = None,
    eval_batch_size: int = 512,
    eval_seed: int = 12345,
    checkpoint: str | os.PathLike | None = None,
    graph: Any = None,
    distributed: bool = False,
    health_every: int | None = 10,
    init_readout_bias: bool = True,
) -> History:
    """Train ``model`` on ``task`` and return the :class:`History`.

    Each step draws a fresh batch from ``task``, runs the model batch-first,
    computes ``task.loss`` (mask-weighted cross-entropy for classification,
    mean squared error for regression) plus every term of ``losses``,
    back-propagates, clips the gradient norm to ``clip_grad`` and takes one
    optimizer step. The model's constraints (Dale's law, masks, frozen
    projections) hold after every step by construction.

    Parameters
    ----------
    model : MultiRegionRNN or nn.Module
        Its forward takes ``(B, T, I)`` (or time-first if ``batch_first=False``) and
        returns the outputs first (an :class:`~mrnngraph.RNNOutput` or a tensor).
    task : Task
        See :mod:`mrnngraph.tasks`; its sizes must match the model's.
    steps : int
        Optimizer steps.
    lr : float
        Learning rate of the default Adam optimizer. 1e-2 (with ``clip_grad=1``) trains
        E/I circuits in hundreds rather than thousands of steps; measured against 1e-3
        and 3e-3 in docs/training.md ("The recipe").
    batch_size : int
        Trials per step (the global batch when distributed: each of the ``W``
        processes draws ``batch_size // W``).
    losses : sequence or mapping of callables, optional
        Regularisers ``term(model, out, batch) -> Tensor``, e.g. :class:`RateL2`,
        :class:`WeightL1`, :class:`WeightL2`.
    callbacks : sequence of callables
        ``cb(step, history, model)`` after each step; a callback returning True
        stops training (see :class:`StopAt`).
    progress : bool
        Show a tqdm progress bar with the loss and accuracy (rank 0 only).
    clip_grad : float or None
        Largest gradient norm; ``None`` turns clipping off.
    seed : int, optional
        Seed of the training batches and of the model's noise (drawn fresh when
        omitted; recorded in ``history.seed``).
    device : optional
        Move the model there first (default: where it is).
    optimizer : torch.optim.Optimizer, optional
        Replaces the default ``Adam(model.parameters(), lr=lr)``.
    eval_every : int, optional
        Also score a fixed held-out batch (``eval_batch_size`` trials drawn with
        ``eval_seed``) every that many steps and at the end, into ``history.evals``.
    checkpoint : path, optional
        Where to save the last good model (:func:`mrnngraph.save_model`) if training
        diverges.
    graph : networkx.DiGraph, optional
        The circuit graph, stored in that checkpoint (rebuilt from the model when omitted).
    distributed : bool
        Data-parallel over processes with DistributedDataParallel (see the module docs).
    health_every : int or None
        Every that many steps, check the step's own batch for silent failures: a
        region whose rates are all zero (or, for tanh/sigmoid/retanh, all saturated)
        over the whole batch; outputs identical for every trial although the inputs
        differ; a training loss that has not moved over the last 100 steps. Each is
        recorded in ``history.health``, shown in the progress bar and warned about
        once per kind and region (:class:`TrainingWarning`). ``None`` turns the
        checks off. They reduce tensors the step already holds (no extra forward).
    init_readout_bias : bool
        Classification tasks: if the model's readout bias (``bias_ho``) is still all
        zero, as :meth:`~mrnngraph.MultiRegionRNN.from_graph` makes it, set it first to
        the log of the class frequencies that the loss weighs (256 trials drawn with
        seed 0; centred), the constant output that minimises the loss. A network
        then starts out answering "fixate" where it is silent, which matters where
        the readout is several synapses from the inputs: at the first steps of a
        trial the output *is* the bias, and a bias that learned "choose" breaks
        fixation on every trial (measured in docs/training.md, "The recipe"). A bias
        that is not all zero (a resumed model) is left alone. ``False``: unchanged.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        When the loss, the gradient or the parameters become NaN or infinite; the
        model is left with the last good parameters.
    TrainingInterrupted
        On ``KeyboardInterrupt`` (Ctrl-C) during training: a ``KeyboardInterrupt``
        that carries the history; the model holds the parameters after the last
        completed step.
    ValueError
        If the task's sizes do not match the model's.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> history = train(model, PerceptualDecisionMaking(), steps=3, batch_size=8,
    ...                 progress=False, seed=0)
    >>> len(history.loss), history.step[-1]
    (3, 3)
    """
    from tqdm.auto import tqdm

    steps = _check_int("steps", steps, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    if eval_every is not None:
        eval_every = _check_int("eval_every", eval_every, 1)
    if health_every is not None:
        health_every = _check_int("health_every", health_every, 1)
    if not isinstance(task, Task):
        raise TypeError(f"task must be a mrnngraph.tasks.Task; got {type(task).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    for what in ("input_size", "output_size"):
        m, t = getattr(model, what, None), getattr(task, what)
        if m is not None and m != t:
            raise ValueError(
                f"the model's {what} is {m} but task {task.name!r} needs {t}; "
                f"build the circuit with {t} {what.split('_')[0]} channels"
            )
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a float > 0; got {lr!r}")
    if not isinstance(init_readout_bias, bool):
        raise TypeError(f"init_readout_bias must be a bool; got {init_readout_bias!r}")
    if clip_grad is not None and (
        isinstance(clip_grad, bool)
        or not isinstance(clip_grad, int | float)
        or not (math.isfinite(clip_grad) and clip_grad > 0)
    ):
        raise ValueError(f"clip_grad must be a float > 0 or None; got {clip_grad!r}")
    terms = _terms(losses)
    callbacks = list(callbacks)

    dev = torch.device(device) if device is not None else _model_device(model)
    group = None
    if distributed:
        env = distributed_env()
        if dev.type == "cuda" and env is not None:
            dev = torch.device("cuda", env["local_rank"])
            torch.cuda.set_device(dev)
        group = _Group(dev)
    model.to(dev)
    if init_readout_bias:
        _init_readout_bias(model, task)
    try:
        return _train_loop(
            model,
            task,
            steps=steps,
            lr=lr,
            batch_size=batch_size,
            terms=terms,
            callbacks=callbacks,
            progress=progress,
            clip_grad=clip_grad,
            seed=seed,
            dev=dev,
            optimizer=optimizer,
            eval_every=eval_every,
            eval_batch_size=eval_batch_size,
            eval_seed=eval_seed,
            checkpoint=checkpoint,
            graph=graph,
            group=group,
            tqdm=tqdm,
            health_every=health_every,
        )
    finally:
        if group is not None:
            group.close()


def _init_readout_bias(model: nn.Module, task: Task, n_trials: int = 256) -> None:
    """Set an untouched (all-zero) readout bias to the centred log class frequencies
    that the loss weighs (see ``train(init_readout_bias=...)``)."""
    bias = getattr(model, "bias_ho", None)
    if (
        task.kind != "classification"
        or not isinstance(bias, torch.Tensor)
        or not bias.requires_grad
        or bias.dim() != 1
        or bias.numel() != task.output_size
        or bool(bias.detach().ne(0).any())
    ):
        return
    batch = task.batch(n_trials, seed=0)
    w = batch.mask.to(torch.float64)
    counts = torch.stack([(w * (batch.targets == k)).sum() for k in range(task.output_size)])
    if not float(counts.sum()) > 0:
        return
    freq = (counts / counts.sum()).clamp(min=1e-4)
    logp = freq.log()
    with torch.no_grad():
        bias.copy_((logp - logp.mean()).to(bias))


def guarded_backward(
    opt: torch.optim.Optimizer,
    loss: torch.Tensor,
    params: list[torch.Tensor],
    good: list[torch.Tensor],
    clip_grad: float | None,
    fail: Callable[[int, str, float], Exception],
    step: int,
) -> float:
    """Backward and clip one step's gradient; raise ``fail(step, "gradient", norm)`` if it
    is not finite, else copy ``params`` into ``good`` (the last weights known to give a
    finite step) before the optimizer changes them. Returns the norm before clipping.
    Shared by :func:`train` and :func:`mrnngraph.fit`."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = float(
        torch.nn.utils.clip_grad_norm_(params, clip_grad if clip_grad is not None else math.inf)
    )
    if not math.isfinite(norm):
        raise fail(step, "gradient", norm)
    with torch.no_grad():
        for p, g in zip(params, good, strict=True):
            g.copy_(p)
    return norm


def _train_loop(
    model: nn.Module,
    task: Task,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    terms: list,
    callbacks: list,
    progress: bool,
    clip_grad: float | None,
    seed: int | None,
    dev: torch.device,
    optimizer: Any,
    eval_every: int | None,
    eval_batch_size: int,
    eval_seed: int,
    checkpoint: Any,
    graph: Any,
    group: _Group | None,
    tqdm: Any,
    health_every: int | None,
) -> History:
    rank, world = (group.rank, group.world_size) if group is not None else (0, 1)
    if seed is None:
        seed = secrets.randbits(63)
        if group is not None:  # every rank must agree on the run's seed
            t = torch.tensor(
                [seed % (1 << 62)], dtype=torch.long, device=dev if dev.type == "cuda" else "cpu"
            )
            group.dist.broadcast(t, src=0)
            seed = int(t.item())
    history = History(seed=seed)
    local_batch = max(1, batch_size // world)
    data_gen = torch.Generator().manual_seed(_seed_of(seed, "batches", rank))
    noise_gen = None
    if getattr(model, "noise_std", 0) or getattr(model, "input_noise_std", 0):
        noise_gen = torch.Generator(device=dev).manual_seed(_seed_of(seed, "noise", rank))

    module: nn.Module = model
    if group is not None:
        from torch.nn.parallel import DistributedDataParallel

        # Masks, signs and frozen values are buffers that never change: DDP copies rank 0's
        # once at construction; syncing them before every forward would only cost time.
        # (PyTorch >= 2.13 renamed the option; the old name warns there.)
        params_ddp = inspect.signature(DistributedDataParallel).parameters
        no_sync = (
            {"forward_sync_buffers": False}
            if "forward_sync_buffers" in params_ddp
            else {"broadcast_buffers": False}
        )
        module = DistributedDataParallel(
            model, device_ids=[dev] if dev.type == "cuda" else None, **no_sync
        )
    opt = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=lr)
    params = [p for p in model.parameters() if p.requires_grad]
    good = [p.detach().clone() for p in params]
    good_step = 0

    def fail(step: int, what: str, value: float) -> TrainingDiverged:
        with torch.no_grad():
            for p, g in zip(params, good, strict=True):
                p.copy_(g)
        path = None
        if checkpoint is not None and rank == 0:
            from .checkpoint import save_model

            save_model(
                model,
                checkpoint,
                graph=graph,
                metadata={"diverged_at_step": step, "last_good_step": good_step},
            )
            path = os.fspath(checkpoint)
        return TrainingDiverged(step, what, value, good_step, history, path)

    health = _Health(model, history, health_every, warn=rank == 0)
    in_update = False
    bar = tqdm(
        total=steps,
        desc=f"train {task.name}",
        unit="step",
        disable=not progress or rank != 0,
        dynamic_ncols=True,
        leave=True,
    )
    start = time.perf_counter()
    try:
        for step in range(1, steps + 1):
            batch = task.batch(local_batch, generator=data_gen, device=dev)
            out = _forward(module, model, batch.inputs, noise_gen)
            y = _outputs(out)
            task_loss = task.loss(y, batch)
            term_values = [(name, term(model, out, batch)) for name, term in terms]
            loss = task_loss + sum((v for _, v in term_values), torch.zeros((), device=dev))
            with torch.no_grad():
                acc = task.accuracy(y, batch)
                stats = torch.tensor(
                    [
                        float(loss),
                        float(task_loss),
                        acc if math.isfinite(acc) else 0.0,
                        1.0 if math.isfinite(acc) else 0.0,
                        *(float(v) for _, v in term_values),
                    ],
                    dtype=torch.float64,
                )
                if group is not None:
                    # One small all-reduce before backward: every rank must agree on
                    # stopping, or the others would wait forever in DDP's gradient sync.
                    stats = group.mean(stats.to(dev if dev.type == "cuda" else "cpu")).cpu()
            loss_value = float(stats[0])
            if not math.isfinite(loss_value):
                raise fail(step, "loss", loss_value)
            norm = guarded_backward(opt, loss, params, good, clip_grad, fail, step)
            good_step = step
            # From here until the update is done an interrupt undoes this step (its
            # record and its partial update): the model then matches the history.
            in_update = True
            history.step.append(step)
            history.loss.append(loss_value)
            history.task_loss.append(float(stats[1]))
            history.accuracy.append(float(stats[2] / stats[3]) if stats[3] > 0 else math.nan)
            history.grad_norm.append(norm)
            for k, (name, _) in enumerate(terms):
                history.terms.setdefault(name, []).append(float(stats[4 + k]))
            opt.step()
            in_update = False
            if eval_every is not None and (step % eval_every == 0 or step == steps):
                history.evals.append(
                    {
                        "step": step,
                        **evaluate(
                            model, task, batch_size=eval_batch_size, seed=eval_seed, device=dev
                        ),
                    }
                )
            if health.due(step):
                health.check(step, out, y, batch)
            bar.update(1)
            if rank == 0 and progress:
                post = {"loss": f"{loss_value:.4f}", "acc": f"{history.accuracy[-1]:.3f}"}
                if health.postfix():
                    post["health"] = health.postfix()
                bar.set_postfix(post, refresh=False)
            if any(bool(cb(step, history, model)) for cb in callbacks):
                history.stopped_early = step < steps
                break
        with torch.no_grad():
            if not all(bool(torch.isfinite(p).all()) for p in params):
                raise fail(good_step, "parameters", math.nan)
    except KeyboardInterrupt:
        if in_update:  # cut short inside the update: back to the last completed step
            with torch.no_grad():
                for p, g in zip(params, good, strict=True):
                    p.copy_(g)
            history._truncate(good_step - 1)
        history.interrupted = True
        raise TrainingInterrupted(history.step[-1] if history.step else 0, history) from None
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    if eval_every is not None and history.stopped_early:
        history.evals.append(
            {
                "step": history.step[-1],
                **evaluate(model, task, batch_size=eval_batch_size, seed=eval_seed, device=dev),
            }
        )
    return history
