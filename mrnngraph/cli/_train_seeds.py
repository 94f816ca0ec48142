"""``mrnngraph train --seeds``: one member per seed, and a summary over the members.

Member ``S`` is exactly the run ``mrnngraph train --seed S --no-figures`` (the circuit
compiled with seed ``S``, trained on batches drawn with ``S``, scored on the held-out batch
of ``S``) and writes that run's files to ``DIR/member_S/``. ``DIR`` gets the summary:
metrics.json, members.csv and the figures of the distribution over members.
"""

from __future__ import annotations

import argparse
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
from ._train_outputs import _csv, _save_figure, _write_json, write_history, write_run

__all__ = ["run_seeds", "train_members", "Member"]


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
    def __init__(self, member: Member, err: Any):
        self.member, self.err = member, err


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
) -> None:
    """Train every member with ``train(member.model, task, graph=G, **options(seed))`` and
    call ``done(member)`` after each.

    With ``batched=True`` the members train together as one :class:`mrnngraph.Ensemble`
    (:func:`_train_together`) instead.

    One after another in this process: the batched :class:`mrnngraph.Ensemble` can replace
    the loop (its members then share the training batches). A member whose training
    diverges keeps its last good parameters and is marked (``member.diverged``); the others
    go on. Ctrl-C (or SIGTERM) raises ``_MembersInterrupted`` naming the member it cut
    short.
    """
    from ..training import TrainingDiverged, TrainingInterrupted, TrainingWarning, train

    if batched:
        _train_together(members, task, G, options, done)
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
            raise _MembersInterrupted(m, err) from None
        done(m)


def _train_together(
    members: Sequence[Member],
    task: Any,
    G: Any,
    options: Callable[[int], dict[str, Any]],
    done: Callable[[Member], None],
) -> None:
    """``--batched``: one :class:`mrnngraph.Ensemble` of the members, trained once with the
    first member's options (so every member sees the first seed's batches and held-out
    curve trials), then each member's trained weights copied back into its own model and
    its history taken out with :meth:`History.member`. A member that diverges keeps its
    last good weights (saved as its ``model_last_good.pt``); the others go on."""
    from ..checkpoint import save_model
    from ..ensemble import Ensemble
    from ..training import TrainingDiverged, TrainingInterrupted, TrainingWarning, train

    opts = dict(options(members[0].seed))
    last_good = {m.seed: Path(options(m.seed)["checkpoint"]) for m in members}
    opts["checkpoint"] = None  # per member below: an ensemble file is not a member's
    if opts.get("log_dir") is not None:
        opts["log_dir"] = Path(opts["log_dir"]).parent  # one log, member_<k>/ tags inside
    ens = Ensemble.from_models([m.model for m in members])
    started = time.perf_counter()
    for m in members:
        m.started = started
    interrupted = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingWarning)  # printed, and in metrics
            history = train(ens, task, graph=G, **opts)
    except TrainingDiverged as err:  # every member diverged
        history = err.history
    except TrainingInterrupted as err:
        history, interrupted = err.history, err
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
    if interrupted is not None:
        first = members[0]
        raise _MembersInterrupted(
            first, TrainingInterrupted(len(first.history), first.history)
        ) from None
    for m in members:
        done(m)


def run_seeds(
    args: argparse.Namespace, stopped_by: dict[str, int], *, distributed: bool = False
) -> int:
    """The command with ``--seeds``: returns its exit status (1 if a member diverged).

    With ``distributed=True`` (``--distributed``: torchrun's processes or those
    :func:`mrnngraph.training.launch` started) rank ``r`` of ``W`` trains
    ``seeds[r::W]`` one after another, each exactly as here, into its ``member_S/``
    folders; the ranks then gather their members' rows over a gloo group and rank 0
    writes the summary. No gradients are exchanged: the members are independent.
    """
    import torch

    from ..training import distributed_env
    from .training import (
        _build_model,
        _circuit_name,
        _interrupt_code,
        _out_dir,
        _print_health,
        _setup,
        _train_options,
    )

    env = distributed_env() if distributed else None
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
    group = _SeedGroup() if env is not None else None
    if rank == 0:
        prepare_out(out)
    if group is not None:
        group.barrier()  # the top folder exists before any rank writes a member into it
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
            return
        _print_health(m.history)
        run = write_run(
            a, G, task, source, name, m.model, m.initial, m.history, folder, m.started, 1
        )
        if run.psychometric is not None:
            curves[m.seed] = run.psychometric
        rows.append(_row(m, run.metrics, "trained"))
        acc = run.metrics["eval"].get("accuracy")
        print(
            f"member seed {m.seed} ({len(rows)}/{len(members)}): {len(m.history)} steps in "
            f"{m.history.seconds:.1f} s; held-out accuracy {100 * acc:.1f}%"
        )

    try:
        train_members(
            members,
            task,
            G,
            lambda s: _train_options(args, s, out / f"member_{s}"),
            done,
            batched=args.batched,
        )
    except _MembersInterrupted as stop:
        code = _interrupt_code(stopped_by)
        _write_interrupted_member(args, G, task, source, name, out, stop, code)
        if group is not None:  # the other ranks may be gone: no meeting, no summary
            print(f"interrupted: member seed {stop.member.seed} (rank {rank})", file=sys.stderr)
            return code
        rows.append(_row(stop.member, None, "interrupted", history=stop.err.history))
        interrupted = {
            "signal": signal.Signals(code - 128).name,
            "member": stop.member.seed,
            "completed_members": [r["seed"] for r in rows if r["status"] == "trained"],
        }
        summary = (args, task, name, source, out, members, rows, curves, t_start)
        _write_summary(*summary, interrupted, figures=False)
        return code
    if group is not None:
        members, rows, curves = group.gather(args.seeds, members, rows, curves)
        if rank != 0:
            return 1 if any(m.diverged is not None for m in members) else 0
    _write_summary(
        args,
        task,
        name,
        source,
        out,
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


class _SeedGroup:
    """The ranks of ``--seeds --distributed``: a gloo group (on CPU whatever the device:
    it carries only the members' rows) joined or created here and closed after the
    gather."""

    def __init__(self) -> None:
        import torch.distributed as dist

        self.dist = dist
        self.created = not dist.is_initialized()
        if self.created:
            dist.init_process_group("gloo")  # RANK, WORLD_SIZE, MASTER_* from the env
        self.world = dist.get_world_size()

    def barrier(self) -> None:
        self.dist.barrier()

    def gather(
        self,
        seeds: Sequence[int],
        members: Sequence[Member],
        rows: list[dict[str, Any]],
        curves: dict[int, Any],
    ) -> tuple[list[Member], list[dict[str, Any]], dict[int, Any]]:
        """Every rank's members (seed, history, whether it diverged), rows and curves, in
        the order of ``seeds``; the models stay on their ranks (saved in member_S/)."""
        mine = [(m.seed, m.history, m.diverged is not None) for m in members]
        parts: list[Any] = [None] * self.world
        try:
            self.dist.all_gather_object(parts, (mine, rows, curves))
        finally:
            if self.created:
                self.dist.destroy_process_group()
        order = {s: i for i, s in enumerate(seeds)}
        every = sorted((x for p in parts for x in p[0]), key=lambda x: order[x[0]])
        out = [Member(s, None, None, h, True if bad else None) for s, h, bad in every]
        all_rows = sorted((r for p in parts for r in p[1]), key=lambda r: order[r["seed"]])
        all_curves = {k: v for p in parts for k, v in p[2].items()}
        return out, all_rows, all_curves


# --------------------------------------------------------------------------- per member
def _write_interrupted_member(
    args: argparse.Namespace,
    G: Any,
    task: Any,
    source: str,
    name: str,
    out: Path,
    stop: _MembersInterrupted,
    code: int,
) -> None:
    """The member cut short, written as an interrupted single run is."""
    from ._train_outputs import write_interrupted

    m = stop.member
    folder = out / f"member_{m.seed}"
    a = member_args(args, m.seed, folder)
    write_interrupted(a, G, task, source, name, m.model, stop.err, folder, m.started, code)


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


def _arguments(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k not in ("handler", "command")}


# --------------------------------------------------------------------------- summary
#: members.csv's first columns, in this order; the held-out metrics of the task follow.
_FIRST = (
    "seed",
    "status",
    "folder",
    "steps",
    "train_seconds",
    "train_loss_final",
    "diverged_at_step",
    "health_events",
)


def _write_summary(
    args: argparse.Namespace,
    task: Any,
    name: str,
    source: str,
    out: Path,
    members: Sequence[Member],
    rows: list[dict[str, Any]],
    curves: dict[int, Any],
    t_start: float,
    interrupted: Any,
    *,
    figures: bool,
    G: Any = None,
    processes: int = 1,
) -> None:
    import torch

    from .. import __version__
    from ..analysis.sweep_plots import spread

    seeds = [r["seed"] for r in rows]
    columns = list(_FIRST)
    for r in rows:
        columns += [k for k in r if k not in columns]
    summary = {}
    for col in columns:
        if col.startswith(("eval_", "psychometric_")) and col != "eval_n_trials":
            s = spread([r.get(col) for r in rows], seeds)
            if s is not None:
                summary[col.removeprefix("eval_")] = s
    acc = summary.get("accuracy")
    worst = None
    if acc is not None:
        worst = {
            "seed": acc["min_seed"],
            "accuracy": acc["min"],
            "folder": f"member_{acc['min_seed']}",
        }
    files: dict[str, str] = {}
    atomic_csv(out / "members.csv", rows, columns)
    files["members.csv"] = "one row per member: seed, status, training, held-out metrics"
    if figures and rows:
        files.update(_figures(out, task, G, members, rows, curves))
    for m in members:
        files[f"member_{m.seed}/"] = "that seed's run: model.pt, metrics.json, history"
    metrics = {
        "task": task.name,
        "circuit": name,
        "circuit_source": source,
        "seeds": list(args.seeds),
        "members": len(args.seeds),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "threads_per_process": torch.get_num_threads(),
        "training": "one member after another, each as its own --seed run"
        + (f", the members split over {processes} processes" if processes > 1 else ""),
        "processes": processes,
        "summary": summary,
        "worst_member": worst,
        "per_member": rows,
        "diverged": [m.seed for m in members if m.diverged is not None],
        "interrupted": interrupted,
        "train_seconds": round(sum(r["train_seconds"] or 0.0 for r in rows), 3),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "mrnngraph_version": __version__,
        "torch_version": torch.__version__,
        "arguments": _arguments(args),
    }
    files["metrics.json"] = "the summary over members (mean, spread, worst member) and settings"
    metrics["files"] = files
    _write_json(out / "metrics.json", metrics)
    stream = sys.stderr if interrupted else sys.stdout
    done = sum(r["status"] == "trained" for r in rows)
    print(
        f"trained {done} of {len(args.seeds)} members of {name} on {task.name}, "
        f"{args.steps} steps each, {metrics['total_seconds']:.1f} s in all",
        file=stream,
    )
    for key, label in (
        ("accuracy", "held-out accuracy"),
        ("accuracy_coherence_ge_12.8", "coherence >= 12.8%"),
    ):
        s = summary.get(key)
        if s is not None:
            std = f", std {100 * s['std']:.1f}%" if s["std"] is not None else ""
            print(
                f"{label}: mean {100 * s['mean']:.1f}%{std}, min {100 * s['min']:.1f}% "
                f"(seed {s['min_seed']}), max {100 * s['max']:.1f}% (seed {s['max_seed']})",
                file=stream,
            )
    print(f"wrote {out}{os.sep}", file=stream)
    for fname, what in files.items():
        if not fname.startswith("member_") or len(members) <= 8:
            print(f"  {fname:<20} {what}", file=stream)
    if len(members) > 8:
        print(
            f"  {'member_<seed>/':<20} each seed's run: model.pt, metrics.json, history",
            file=stream,
        )


def atomic_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    from .._files import atomic_write

    atomic_write(path, lambda fh: _csv(fh, rows, columns))


def _figures(
    out: Path,
    task: Any,
    G: Any,
    members: Sequence[Member],
    rows: list[dict[str, Any]],
    curves: dict[int, Any],
) -> dict[str, str]:
    from ..analysis.sweep_plots import (
        member_curves_figure,
        member_psychometric_figure,
        seed_metric_figure,
    )
    from ..analysis.training_plots import circuit_figure

    files = {}
    _save_figure(circuit_figure(G), out / "circuit.png")
    files["circuit.png"] = "area diagram (the same for every seed)"
    seeds = [r["seed"] for r in rows]
    series = {"all trials": [r.get("eval_accuracy") for r in rows]}
    if any("eval_accuracy_coherence_ge_12.8" in r for r in rows):
        series["coherence >= 12.8 %"] = [r.get("eval_accuracy_coherence_ge_12.8") for r in rows]
    failed = {r["seed"]: r["status"] for r in rows if r["status"] != "trained"}
    _save_figure(seed_metric_figure(seeds, series, failed=failed), out / "seeds.png")
    files["seeds.png"] = "held-out accuracy per seed, the mean and mean +- std, the worst member"
    trained = [m for m in members if m.history is not None]
    _save_figure(
        member_curves_figure([m.seed for m in trained], [m.history for m in trained]),
        out / "training.png",
    )
    files["training.png"] = "every member's training loss and held-out accuracy per step"
    if curves:
        ks = sorted(curves, key=seeds.index)
        _save_figure(
            member_psychometric_figure(ks, [curves[k] for k in ks]), out / "psychometric.png"
        )
        files["psychometric.png"] = (
            "every member's psychometric curve (thin) and the pooled trials' (black)"
        )
    return files
