"""``mrnngraph train --seeds``: one member per seed, and a summary over the members.

Member ``S`` is exactly the run ``mrnngraph train --seed S --no-figures`` (the circuit
compiled with seed ``S``, trained on batches drawn with ``S``, scored on the held-out batch
of ``S``) and writes that run's files to ``DIR/member_S/``. ``DIR`` gets the summary:
metrics.json, members.csv and the figures of the distribution over members
(:mod:`._seeds_summary`). With ``--distributed`` the members are split over processes,
which hand them to rank 0 through torch.distributed's store (:mod:`._seeds_meeting`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._args import prepare_out
from ._seeds_meeting import INTERRUPT_WAIT_S, Posted, SeedMeeting, signals_deferred
from ._seeds_summary import arguments as _arguments
from ._seeds_summary import atomic_csv, write_summary
from ._train_outputs import _write_json, write_history, write_run

__all__ = ["run_seeds", "train_members", "Member", "atomic_csv"]


@dataclass
class Member:
    """One seed of the sweep: its model (trained in place), the compiled circuit it
    started from, and how its training ended."""

    seed: int
    model: Any
    initial: Any
    history: Any = None
    diverged: Any = None  # the TrainingDiverged, when it did
    started: float = 0.0  # time.perf_counter() when its training began


class _MembersInterrupted(Exception):
    """Training stopped by a signal: ``cut`` holds each member cut short with its
    :class:`TrainingInterrupted` (one member, or every member of a batched ensemble)."""

    def __init__(self, cut: list[tuple[Member, Any]]):
        self.cut = cut


def member_args(args: argparse.Namespace, seed: int, out: Path) -> argparse.Namespace:
    """The arguments of the single run that member ``seed`` is."""
    return argparse.Namespace(**{**vars(args), "seed": seed, "figures": False, "out": str(out)})


def train_members(
    members: Sequence[Member],
    task: Any,
    G: Any,
    options: Callable[[int], dict[str, Any]],
    done: Callable[[Member], None],
    *,
    batched: bool = False,
    batch_seed: int | None = None,
    log_dir: Path | None = None,
) -> None:
    """Train every member with ``train(member.model, task, graph=G, **options(seed))`` and
    call ``done(member)`` after each.

    One after another in this process. A member whose training diverges keeps its last
    good parameters and is marked (``member.diverged``); the others go on. Ctrl-C (or
    SIGTERM) raises ``_MembersInterrupted`` naming the member it cut short.

    With ``batched=True`` the members train together as one :class:`mrnngraph.Ensemble`
    (:func:`_train_together`) on the training batches and held-out curve trials of
    ``batch_seed`` (default: the first member's seed), logging to ``log_dir``.
    """
    from ..training import TrainingDiverged, TrainingInterrupted, TrainingWarning, train

    if batched:
        if members:
            seed = members[0].seed if batch_seed is None else batch_seed
            _train_together(members, task, G, options, done, seed, log_dir)
        return
    for m in members:
        m.started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TrainingWarning)  # printed, and in metrics
                m.history = train(m.model, task, graph=G, **options(m.seed))
        except TrainingDiverged as err:
            m.diverged, m.history = err, err.history
        except TrainingInterrupted as err:
            raise _MembersInterrupted([(m, err)]) from None
        done(m)


def _train_together(
    members: Sequence[Member],
    task: Any,
    G: Any,
    options: Callable[[int], dict[str, Any]],
    done: Callable[[Member], None],
    batch_seed: int,
    log_dir: Path | None,
) -> None:
    """``--batched``: one :class:`mrnngraph.Ensemble` of the members, trained once with the
    options of seed ``batch_seed`` (so every member sees that seed's batches and held-out
    curve trials), then each member's trained weights copied back into its own model and
    its history taken out with :meth:`History.member`. A member that diverges keeps its
    last good weights (saved as its ``model_last_good.pt``); the others go on."""
    from ..checkpoint import save_model
    from ..ensemble import Ensemble
    from ..training import TrainingDiverged, TrainingInterrupted, TrainingWarning, train

    opts = dict(options(batch_seed))
    last_good = {m.seed: Path(options(m.seed)["checkpoint"]) for m in members}
    opts["checkpoint"] = None  # per member below: an ensemble file is not a member's
    if opts.get("log_dir") is not None:  # one log, member_<k>/ tags inside
        opts["log_dir"] = log_dir if log_dir is not None else Path(opts["log_dir"]).parent
    ens = Ensemble.from_models([m.model for m in members])
    started = time.perf_counter()
    for m in members:
        m.started = started
    interrupted = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingWarning)  # printed, and in metrics
            history = train(ens, task, graph=G, **opts)
    except TrainingDiverged as err:  # every member diverged
        history = err.history
    except TrainingInterrupted as err:
        history, interrupted = err.history, True
    for k, m in enumerate(members):
        m.model.load_state_dict(ens[k].state_dict())
        m.history = history.member(k)
        for d in m.history.diverged:
            save_model(m.model, last_good[m.seed], graph=G)
            m.diverged = TrainingDiverged(
                d["step"],
                d["what"],
                d["value"],
                d["good_step"],
                m.history,
                str(last_good[m.seed]),
            )
    if interrupted:
        raise _MembersInterrupted(
            [(m, TrainingInterrupted(len(m.history), m.history)) for m in members]
        ) from None
    for m in members:
        done(m)


def run_seeds(
    args: argparse.Namespace, stopped_by: dict[str, int], *, distributed: bool = False
) -> int:
    """The command with ``--seeds``: returns its exit status (1 if a member diverged,
    128 + the signal's number if interrupted).

    With ``distributed=True`` (``--distributed``: torchrun's processes or those
    :func:`mrnngraph.training.launch` started) rank ``r`` of ``W`` trains
    ``seeds[r::W]`` into their ``member_S/`` folders: one after another, each exactly as
    here, or with ``--batched`` as one ensemble on the batches of the sweep's first seed
    (so a member's result does not depend on ``W``). Each rank hands its members to
    rank 0 (:class:`SeedMeeting`), which writes the summary; no gradients are exchanged.
    """
    from ..training import distributed_env
    from .training import _catch_sigterm

    env = distributed_env() if distributed else None
    previous = None
    if env is not None and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        # A process launch() started: SIGTERM (the launcher ending the ranks when one
        # fails or is interrupted) stops it as Ctrl-C does, so rank 0 still writes a summary.
        previous = _catch_sigterm(stopped_by)
    try:
        return _sweep(args, stopped_by, env)
    finally:
        if previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _sweep(args: argparse.Namespace, stopped_by: dict[str, int], env: dict | None) -> int:
    import torch

    from .training import (
        _build_model,
        _circuit_name,
        _interrupt_code,
        _out_dir,
        _print_health,
        _setup,
        _train_options,
    )

    rank, world = (env["rank"], env["world_size"]) if env else (0, 1)
    if env is None or "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(args.threads)
    if env is not None and args.device == "cuda":  # "cuda" is then this rank's own GPU
        torch.cuda.set_device(env["local_rank"] % torch.cuda.device_count())
    t_start = time.perf_counter()
    mine = list(args.seeds[rank::world])
    G, task, source, first = _setup(member_args(args, (mine or args.seeds)[0], Path(".")))
    name = _circuit_name(G, source)
    out = _out_dir(args, G, task, source)
    meeting = SeedMeeting(rank, world) if env is not None else None
    if rank == 0:
        prepare_out(out)
    if meeting is not None:  # the top folder exists before any rank writes into it
        meeting.ready() if rank == 0 else meeting.wait_ready()
    members = []
    for s in mine:
        model = first if s == mine[0] else _build_model(G, s, args)
        members.append(Member(s, model, model.circuit))
        prepare_out(out / f"member_{s}")
    rows: list[dict[str, Any]] = []
    curves: dict[int, Any] = {}

    def done(m: Member) -> None:
        folder = out / f"member_{m.seed}"
        a = member_args(args, m.seed, folder)
        if m.diverged is not None:
            _write_diverged(a, task, name, source, m, folder)
            print(f"error: member seed {m.seed}: {m.diverged}", file=sys.stderr)
            rows.append(_row(m, None, "diverged"))
        else:
            _print_health(m.history)
            run = write_run(
                a, G, task, source, name, m.model, m.initial, m.history, folder, m.started, 1
            )
            if run.psychometric is not None:
                curves[m.seed] = run.psychometric
            rows.append(_row(m, run.metrics, "trained"))
            acc = run.metrics["eval"].get("accuracy")
            print(
                f"member seed {m.seed} ({len(rows)}/{len(members)}): {len(m.history)} steps "
                f"in {m.history.seconds:.1f} s; held-out accuracy {100 * acc:.1f}%"
            )
        if meeting is not None:
            meeting.post(m.seed, m.history, m.diverged is not None, rows[-1], curves.get(m.seed))

    log_dir = None
    if args.batched and args.log_dir is not None:
        log_dir = Path(args.log_dir) / (f"rank_{rank}" if env is not None else "")
    code, cut = 0, []
    try:
        train_members(
            members,
            task,
            G,
            lambda s: _train_options(args, s, out / f"member_{s}"),
            done,
            batched=args.batched,
            batch_seed=args.seeds[0],
            log_dir=log_dir,
        )
    except _MembersInterrupted as stop:
        code, cut = _interrupt_code(stopped_by), stop.cut
    except KeyboardInterrupt:  # between members (writing one): the finished ones count
        code = _interrupt_code(stopped_by)
    summary = (args, task, name, source, out)
    posted = None
    if not code:
        if meeting is None:
            return _write_final(summary, members, rows, curves, t_start, G, 1)
        if rank != 0:
            with _unless_gone(rank):
                meeting.stop("done", [r["seed"] for r in rows], 0)
            return 1 if any(m.diverged is not None for m in members) else 0
        meeting.stop("done", [r["seed"] for r in rows], 0)
        try:
            posted = meeting.collect(args.seeds, wait=None)
        except KeyboardInterrupt:  # while waiting for the others
            code = _interrupt_code(stopped_by)
        if posted is not None and not posted.missing and not any(posted.codes.values()):
            members, rows, curves = _from_posted(posted)
            return _write_final(summary, members, rows, curves, t_start, G, world)
    # Interrupted here or on another rank. A second signal from here on (a launcher ending
    # the ranks, or the death of the process that launched them) is only noted: it would
    # cut short what is left to write.
    with signals_deferred():
        for m, err in cut:
            _write_interrupted_member(args, G, task, source, name, out, m, err, code)
            rows.append(_row(m, None, "interrupted", history=err.history))
            if meeting is not None:
                with _unless_gone(rank):
                    meeting.post(m.seed, err.history, False, rows[-1], None)
        if meeting is None:
            return _write_summary_interrupted(summary, members, rows, curves, t_start, code, [], 1)
        if posted is None:
            with _unless_gone(rank):
                meeting.stop("interrupted", [r["seed"] for r in rows], code)
            if rank != 0:
                print(
                    f"interrupted: rank {rank} stopped; rank 0 writes the summary", file=sys.stderr
                )
                return code
            posted = meeting.collect(args.seeds, wait=INTERRUPT_WAIT_S)
        members, rows, curves = _from_posted(posted)
        code = code or max(posted.codes.values(), default=0) or 1
        return _write_summary_interrupted(
            summary, members, rows, curves, t_start, code, posted.missing, world
        )


@contextlib.contextmanager
def _unless_gone(rank: int):  # type: ignore[no-untyped-def]
    """A rank whose rank 0 is gone (its store with it) says so and stops quietly."""
    try:
        yield
    except RuntimeError as err:  # torch.distributed's store errors are RuntimeErrors
        print(f"warning: rank {rank} could not reach rank 0's store: {err}", file=sys.stderr)


def _from_posted(posted: Posted) -> tuple[list[Member], list[dict[str, Any]], dict[int, Any]]:
    """The members (seed, history, whether it diverged), rows and curves every rank
    posted, in the order of the seeds; the models stay on their ranks (in member_S/)."""
    members = [
        Member(s, None, None, h, True if bad else None) for s, h, bad, _, _ in posted.records
    ]
    rows = [row for _, _, _, row, _ in posted.records]
    curves = {s: c for s, _, _, _, c in posted.records if c is not None}
    return members, rows, curves


def _write_final(
    summary: tuple, members: list, rows: list, curves: dict, t_start: float, G: Any, world: int
) -> int:
    args = summary[0]
    write_summary(
        *summary,
        members,
        rows,
        curves,
        t_start,
        False,
        figures=args.figures,
        G=G,
        processes=world,
    )
    return 1 if any(m.diverged is not None for m in members) else 0


def _write_summary_interrupted(
    summary: tuple,
    members: list,
    rows: list,
    curves: dict,
    t_start: float,
    code: int,
    missing: list[int],
    world: int,
) -> int:
    """The summary of the members that finished, marked interrupted (no figures)."""
    cut = [r["seed"] for r in rows if r["status"] == "interrupted"]
    interrupted: dict[str, Any] = {
        "signal": signal.Signals(code - 128).name if code > 128 else None,
        "member": cut[0] if cut else None,
        "members": cut,
        "completed_members": [r["seed"] for r in rows if r["status"] == "trained"],
    }
    if world > 1:
        interrupted["processes_not_heard_from"] = missing
    write_summary(
        *summary, members, rows, curves, t_start, interrupted, figures=False, processes=world
    )
    return code


# --------------------------------------------------------------------------- per member
def _write_interrupted_member(
    args: argparse.Namespace,
    G: Any,
    task: Any,
    source: str,
    name: str,
    out: Path,
    m: Member,
    err: Any,
    code: int,
) -> None:
    """A member cut short, written as an interrupted single run is."""
    from ._train_outputs import write_interrupted

    folder = out / f"member_{m.seed}"
    a = member_args(args, m.seed, folder)
    write_interrupted(a, G, task, source, name, m.model, err, folder, m.started, code)


def _row(m: Member, metrics: dict[str, Any] | None, status: str, history: Any = None) -> dict:
    """The member's line of members.csv."""
    h = history if history is not None else m.history
    row: dict[str, Any] = {
        "seed": m.seed,
        "status": status,
        "folder": f"member_{m.seed}",
        "steps": len(h) if h is not None else 0,
        "train_seconds": round(h.seconds, 3) if h is not None else None,
        "train_loss_final": h.loss[-1] if h is not None and h.loss else None,
        "diverged_at_step": m.diverged.step if m.diverged is not None else None,
        "health_events": len(h.health) if h is not None else 0,
    }
    evaluation = (metrics or {}).get("eval") or {}
    for k, v in evaluation.items():
        if k != "seed" and isinstance(v, int | float) and not isinstance(v, bool):
            row[f"eval_{k}"] = v
    psy = evaluation.get("psychometric")
    if isinstance(psy, dict) and "fit" in psy:  # one curve (perceptual decision making)
        fit = psy["fit"] or {}
        row["psychometric_threshold"] = fit.get("threshold")
        row["psychometric_bias"] = fit.get("bias")
    elif isinstance(psy, dict):  # per context: the curve of the stimulus it says to report
        for curve in psy.values():
            if isinstance(curve, dict) and curve.get("relevant"):
                fit = curve.get("fit") or {}
                row[f"psychometric_threshold_{curve['context']}"] = fit.get("threshold")
                row[f"psychometric_bias_{curve['context']}"] = fit.get("bias")
    return row


def _write_diverged(
    args: argparse.Namespace, task: Any, name: str, source: str, m: Member, folder: Path
) -> None:
    """A diverged member's history and a metrics.json that says so (its last good model
    is model_last_good.pt, saved by train)."""
    files = write_history(m.history, folder)
    err = m.diverged
    metrics = {
        "task": task.name,
        "circuit": name,
        "circuit_source": source,
        "seed": m.seed,
        "diverged": {
            "step": err.step,
            "what": err.what,
            "value": err.value,
            "good_step": err.good_step,
            "message": str(err),
        },
        "eval": None,
        "health": m.history.health,
        "arguments": _arguments(args),
        "files": {**files, "metrics.json": "run settings, marked diverged"},
    }
    if err.checkpoint:
        metrics["files"][Path(err.checkpoint).name] = "the last good model"
    _write_json(folder / "metrics.json", metrics)
