"""TensorBoard scalars of a training run (``train(..., log_dir=...)``)."""

from __future__ import annotations

import os
from typing import Any

from ._history import History, _scalar

__all__ = ["TensorBoardLog"]

_EXTRA = (
    "train(log_dir=...) writes TensorBoard logs and needs the tensorboard package: "
    "pip install 'mrnngraph[tensorboard]' (or pip install tensorboard)"
)


def summary_writer(log_dir: str | os.PathLike) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` on ``log_dir``, or an ImportError that
    names the optional extra when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # torch raises ImportError when tensorboard is missing
        raise ImportError(f"{_EXTRA} ({err})") from err
    return SummaryWriter(log_dir=os.fspath(log_dir))


class TensorBoardLog:
    """Writes the last recorded step of a :class:`History` as scalars: ``loss``,
    ``task_loss``, ``accuracy``, ``grad_norm``, ``term/<name>``, ``rate/<region>``,
    ``eval/<metric>``; for ensembles also ``member_<k>/<the same>``."""

    def __init__(self, log_dir: str | os.PathLike):
        self.writer = summary_writer(log_dir)

    def step(self, history: History) -> None:
        w, step = self.writer, history.step[-1]
        for tag, xs in (
            ("loss", history.loss),
            ("task_loss", history.task_loss),
            ("accuracy", history.accuracy),
            ("grad_norm", history.grad_norm),
            *((f"term/{k}", v) for k, v in history.terms.items()),
            *((f"rate/{k}", v) for k, v in history.rates.items()),
        ):
            w.add_scalar(tag, xs[-1], step)
        if history.n_members is None:
            return
        for tag, rows in (
            ("loss", history.member_loss),
            ("task_loss", history.member_task_loss),
            ("accuracy", history.member_accuracy),
            ("grad_norm", history.member_grad_norm),
            *((f"term/{k}", v) for k, v in history.member_terms.items()),
            *((f"rate/{k}", v) for k, v in history.member_rates.items()),
        ):
            for k, value in enumerate(rows[-1]):
                w.add_scalar(f"member_{k}/{tag}", value, step)

    def evaluation(self, record: dict[str, Any]) -> None:
        step = record["step"]
        for key, value in record.items():
            if key != "step" and _scalar(value):
                self.writer.add_scalar(f"eval/{key}", value, step)
        for k, member in enumerate(record.get("members", [])):
            for key, value in member.items():
                if _scalar(value):
                    self.writer.add_scalar(f"member_{k}/eval/{key}", value, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
