"""``mrnngraph train --seeds --distributed``: how the ranks hand their members to rank 0.

Each rank posts every member to torch.distributed's key-value store as soon as it is
written (its row of members.csv, its history, whether it diverged, its psychometric
curve), and its state once it stops: ``"done"`` or ``"interrupted"``. Rank 0 reads them
all and writes the summary. The store is the one torchrun (or
:func:`mrnngraph.training.launch`) describes in ``MASTER_ADDR``/``MASTER_PORT``: no
process group, no collective. Every wait is a Python loop over non-blocking checks, so
Ctrl-C and SIGTERM stop it, and rank 0 can write a summary of what finished when the
sweep is interrupted, waiting at most :data:`INTERRUPT_WAIT_S` seconds for the others.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__: list[str] = []

#: After an interrupt, how long rank 0 waits for the other ranks to say they stopped
#: (each writes its cut-short member first). Under :func:`~mrnngraph.training.launch`
#: the parent ends the others 30 s after the first one exits, so this stays well below.
INTERRUPT_WAIT_S = 10.0

_POLL_S = 0.05


@dataclass
class Posted:
    """What rank 0 knows of the members of every rank, in the order of the seeds."""

    records: list[tuple[int, Any, bool, dict[str, Any], Any]] = field(default_factory=list)
    states: dict[int, str] = field(default_factory=dict)  # rank -> "done" / "interrupted"
    codes: dict[int, int] = field(default_factory=dict)  # rank -> its exit status
    missing: list[int] = field(default_factory=list)  # ranks that said nothing in time


class SeedMeeting:
    """The key-value store shared by the ranks of one sweep."""

    def __init__(self, rank: int, world: int) -> None:
        import torch.distributed as dist

        self.rank, self.world = rank, world
        # torchrun restarts reuse the agent's store: keep each attempt's keys apart.
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        store, _, _ = next(dist.rendezvous("env://"))  # blocks until every rank has joined
        self.store = dist.PrefixStore(f"mrnngraph-seeds/{attempt}", store)

    # ------------------------------------------------------------------ posting
    def ready(self) -> None:
        """Rank 0: the top folder exists; the others may write their members into it."""
        self.store.set("ready", b"1")

    def wait_ready(self) -> None:
        self._wait(["ready"])

    def post(self, seed: int, history: Any, diverged: bool, row: dict, curve: Any) -> None:
        """One member, as soon as its folder is written."""
        self.store.set(f"member/{seed}", pickle.dumps((seed, history, diverged, row, curve)))

    def stop(self, state: str, seeds: Sequence[int], code: int) -> None:
        """This rank has stopped (``"done"`` or ``"interrupted"``, exit status ``code``)
        having posted ``seeds``."""
        self.store.set(f"state/{self.rank}", pickle.dumps((state, list(seeds), code)))

    # ------------------------------------------------------------------ rank 0
    def collect(self, seeds: Sequence[int], wait: float | None) -> Posted:
        """Every rank's posted members once all have stopped; with ``wait`` seconds,
        whatever has been posted by then (ranks still silent are ``missing``)."""
        keys = [f"state/{r}" for r in range(self.world)]
        self._wait(keys, wait)
        posted = Posted()
        for r, key in enumerate(keys):
            if self.store.check([key]):
                posted.states[r], _, posted.codes[r] = pickle.loads(self.store.get(key))
            else:
                posted.missing.append(r)
        for s in seeds:
            key = f"member/{s}"
            if self.store.check([key]):
                posted.records.append(pickle.loads(self.store.get(key)))
        return posted

    def _wait(self, keys: list[str], seconds: float | None = None) -> None:
        end = None if seconds is None else time.monotonic() + seconds
        while not all(self.store.check([k]) for k in keys):
            if end is not None and time.monotonic() >= end:
                return
            time.sleep(_POLL_S)


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """SIGINT and SIGTERM only noted (in the list given) while the summary of an
    interrupted sweep is written: a launcher ending the ranks after the first one exits
    must not cut it short. Off the main thread, nothing changes."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: seen.append(signum))
    try:
        yield seen
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
