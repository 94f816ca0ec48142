"""Data-parallel training over processes: torchrun's environment, :func:`launch`
(processes on this machine without torchrun) and the process group of one run.

One model is wrapped in ``DistributedDataParallel`` by the loop. An ensemble is not
(DDP's one gradient norm would mix its members): :meth:`_Group.broadcast` gives every
rank rank 0's parameters once, :meth:`_Group.average_gradients` averages the stacked
gradients after each backward, and :meth:`_Group.member_means` the per-member loss,
accuracy and regulariser values, so that each member's clipping and divergence decisions
are the same on every rank."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import torch

from .._params import STEPS, Optional, check

__all__ = ["distributed_env", "launch"]


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

    Ctrl-C reaches the processes too (they share the terminal's process group); this
    process then waits up to ``INTERRUPT_GRACE_S`` (60 s) for them to finish what they
    write on an interrupt, ends the ones still running with SIGTERM (SIGKILL 30 s later)
    and raises ``KeyboardInterrupt``. Leaving at once would interrupt them a second time:
    each gets SIGINT when its parent exits.

    Parameters
    ----------
    threads : int, optional
        Torch threads per process; default: the CPU count divided by ``nprocs``.
    """
    import torch.multiprocessing as mp

    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    nprocs = check("nprocs", nprocs, STEPS)
    threads = check("threads", threads, Optional(STEPS))
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // nprocs)
    context = mp.start_processes(
        _launched,
        args=(nprocs, _free_port(), threads, fn, args),
        nprocs=nprocs,
        join=False,
        start_method="spawn",
    )
    try:
        while not context.join():
            pass
    except KeyboardInterrupt:
        _wind_down(context.processes, INTERRUPT_GRACE_S)
        raise


def join_group(dev: torch.device) -> tuple[_Group, torch.device]:
    """The process group of a ``train(..., distributed=True)`` call and the device this
    rank trains on (``cuda`` becomes this rank's own GPU, ``cuda:LOCAL_RANK``)."""
    env = distributed_env()
    if dev.type == "cuda" and env is not None:
        dev = torch.device("cuda", env["local_rank"])
        torch.cuda.set_device(dev)
    return _Group(dev), dev


#: After Ctrl-C, how long :func:`launch` waits for its processes to finish on their own.
INTERRUPT_GRACE_S = 60.0


def _wind_down(processes: list[Any], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``processes`` to end, then SIGTERM the rest and
    give them 30 s more before SIGKILL."""
    end = time.monotonic() + grace
    for p in processes:
        p.join(max(0.0, end - time.monotonic()))
    alive = [p for p in processes if p.is_alive()]
    for p in alive:
        p.terminate()
    end = time.monotonic() + 30.0
    for p in alive:
        p.join(max(0.0, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


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

    def agree_seed(self, seed: int, dev: torch.device) -> int:
        """Rank 0's ``seed`` on every rank (a seed drawn fresh differs per process)."""
        t = torch.tensor([seed % (1 << 62)], dtype=torch.long, device=self._where(dev))
        self.dist.broadcast(t, src=0)
        return int(t.item())

    def broadcast(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers into every rank's ``module`` (what DDP does
        when it wraps a model), so that all ranks start alike."""
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                self.dist.broadcast(t.data, src=0)

    def average_gradients(self, params: list[torch.Tensor]) -> None:
        """Replace each parameter's gradient by its mean over the ranks (one all-reduce
        of all of them; a missing gradient counts as zero, so every rank sends the same
        number of values)."""
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        self.dist.all_reduce(flat, op=self.dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def member_means(
        self,
        losses: list[float],
        task_losses: list[float],
        accuracies: list[float],
        terms: dict[str, list[float]],
        dev: torch.device,
    ) -> tuple[list[float], list[float], list[float], dict[str, list[float]]]:
        """Each member's loss, task loss, accuracy and regulariser values averaged over
        the ranks (one all-reduce). A non-finite loss on any rank makes the mean
        non-finite on every rank, so all ranks freeze the same member at the same step;
        an accuracy that is NaN on a rank (no trial scored) is left out of its mean."""
        n = len(losses)
        acc = torch.tensor(accuracies, dtype=torch.float64)
        scored = torch.isfinite(acc)
        rows = [
            torch.tensor(losses, dtype=torch.float64),
            torch.tensor(task_losses, dtype=torch.float64),
            torch.where(scored, acc, torch.zeros_like(acc)),
            scored.to(torch.float64),
            *(torch.tensor(v, dtype=torch.float64) for v in terms.values()),
        ]
        stats = torch.stack(rows).to(self._where(dev))
        self.dist.all_reduce(stats, op=self.dist.ReduceOp.SUM)
        stats = stats.cpu()
        mean = stats / self.world_size
        acc_mean = torch.where(
            stats[3] > 0, stats[2] / stats[3].clamp(min=1), torch.full((n,), math.nan)
        )
        term_means = {name: mean[4 + j].tolist() for j, name in enumerate(terms)}
        return mean[0].tolist(), mean[1].tolist(), acc_mean.tolist(), term_means

    @staticmethod
    def _where(dev: torch.device) -> torch.device:
        """Where a collective's tensor lives: the GPU under nccl, else the CPU."""
        return dev if dev.type == "cuda" else torch.device("cpu")

    def close(self) -> None:
        if self.created:
            self.dist.destroy_process_group()
