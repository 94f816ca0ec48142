"""Data-parallel training over processes: torchrun's environment, :func:`launch`
(processes on this machine without torchrun) and the process group of one run."""

from __future__ import annotations

import os
import socket
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
