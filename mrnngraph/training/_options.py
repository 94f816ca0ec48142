"""The options of one :func:`~mrnngraph.train` run, checked once and passed as one object."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .._params import COUNT, POSITIVE, SEED, STEPS, InstanceOf, Optional, check
from ..schema import Boolean
from ._regularisers import _terms

__all__ = ["TrainOptions"]

_OPTIMIZER = Optional(InstanceOf((torch.optim.Optimizer,), "a torch.optim.Optimizer"))


@dataclass(frozen=True)
class TrainOptions:
    """What :func:`~mrnngraph.train` was asked to do, checked and in canonical form.

    Built once by :meth:`from_arguments` from ``train``'s keywords (which keep their
    defaults in ``train``'s signature, the one place that states them) and handed to
    the loop whole, so no helper re-passes them one keyword at a time. The fields are
    ``train``'s keywords, except ``losses``, which becomes ``terms`` (named, callable
    regularisers, duplicate names numbered), and ``callbacks``, a tuple.
    """

    steps: int
    lr: float
    batch_size: int
    terms: tuple[tuple[str, Callable], ...]
    callbacks: tuple[Callable, ...]
    progress: bool
    clip_grad: float | None
    seed: int | None
    device: torch.device | None
    optimizer: torch.optim.Optimizer | None
    eval_every: int | None
    eval_batch_size: int
    eval_seed: int
    checkpoint: str | os.PathLike | None
    graph: Any
    distributed: bool
    health_every: int | None
    init_readout_bias: bool
    fixation_from_bias: bool = True
    lr_schedule: str = "cosine"
    log_dir: str | os.PathLike | None = None

    @classmethod
    def from_arguments(
        cls,
        *,
        steps: Any,
        lr: Any,
        batch_size: Any,
        losses: Iterable[Callable] | Mapping[str, Callable] | None,
        callbacks: Iterable[Callable],
        progress: Any,
        clip_grad: Any,
        seed: Any,
        device: torch.device | str | None,
        optimizer: Any,
        eval_every: Any,
        eval_batch_size: Any,
        eval_seed: Any,
        checkpoint: Any,
        graph: Any,
        distributed: Any,
        health_every: Any,
        init_readout_bias: Any,
        fixation_from_bias: Any = True,
        lr_schedule: Any = "cosine",
        log_dir: Any = None,
    ) -> TrainOptions:
        """Check ``train``'s keywords: ``TypeError`` for the wrong kind, ``ValueError``
        for a wrong value, each naming the argument."""
        if isinstance(callbacks, str) or not isinstance(callbacks, Iterable):
            raise TypeError(
                f"callbacks must be a sequence of callables; got {type(callbacks).__name__}"
            )
        callbacks = tuple(callbacks)
        for k, cb in enumerate(callbacks):
            if not callable(cb):
                raise TypeError(f"callbacks[{k}] must be callable; got {type(cb).__name__}")
        if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
            raise TypeError(
                f"checkpoint must be a path (str or os.PathLike) or None; "
                f"got {type(checkpoint).__name__}"
            )
        for name, value in (("checkpoint", checkpoint), ("log_dir", log_dir)):
            if value is not None and not isinstance(value, str | os.PathLike):
                raise TypeError(
                    f"{name} must be a path (str or os.PathLike) or None; "
                    f"got {type(value).__name__}"
                )
        return cls(
            steps=check("steps", steps, COUNT),
            lr=check("lr", lr, POSITIVE),
            batch_size=check("batch_size", batch_size, STEPS),
            terms=tuple(_terms(losses)),
            callbacks=callbacks,
            progress=check("progress", progress, Boolean()),
            clip_grad=check("clip_grad", clip_grad, Optional(POSITIVE)),
            seed=check("seed", seed, Optional(SEED)),
            device=torch.device(device) if device is not None else None,
            optimizer=check("optimizer", optimizer, _OPTIMIZER),
            eval_every=check("eval_every", eval_every, Optional(STEPS)),
            eval_batch_size=check("eval_batch_size", eval_batch_size, STEPS),
            eval_seed=check("eval_seed", eval_seed, SEED),
            checkpoint=checkpoint,
            graph=graph,
            distributed=check("distributed", distributed, Boolean()),
            health_every=check("health_every", health_every, Optional(STEPS)),
            init_readout_bias=check("init_readout_bias", init_readout_bias, Boolean()),
            fixation_from_bias=check("fixation_from_bias", fixation_from_bias, Boolean()),
            lr_schedule=_schedule_name(lr_schedule),
            log_dir=log_dir,
        )


def _schedule_name(value: Any) -> str:
    from ._schedule import LR_SCHEDULES

    if not isinstance(value, str):
        raise TypeError(f"lr_schedule must be a str; got {type(value).__name__}")
    if value not in LR_SCHEDULES:
        raise ValueError(
            f"lr_schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}; got {value!r}"
        )
    return value
