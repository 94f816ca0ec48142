"""The summary of ``mrnngraph train --seeds``: members.csv, metrics.json (mean, spread,
worst member) and the figures of the distribution over members."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._train_outputs import _csv, _save_figure, _write_json

__all__ = ["write_summary", "atomic_csv"]


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The command's arguments as metrics.json records them."""
    return {k: v for k, v in vars(args).items() if k not in ("handler", "command")}


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


def write_summary(
    args: argparse.Namespace,
    task: Any,
    name: str,
    source: str,
    out: Path,
    members: Sequence[Any],
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
        "training": _how_trained(args, processes),
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
        "arguments": arguments(args),
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


def _how_trained(args: argparse.Namespace, processes: int) -> str:
    split = f", the members split over {processes} processes" if processes > 1 else ""
    if getattr(args, "batched", False):
        per = " in each process" if processes > 1 else ""
        return (
            f"together as one batched Ensemble{per}, every member on the training batches "
            f"of seed {args.seeds[0]}{split}"
        )
    return "one member after another, each as its own --seed run" + split


def atomic_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    from .._files import atomic_write

    atomic_write(path, lambda fh: _csv(fh, rows, columns))


def _figures(
    out: Path,
    task: Any,
    G: Any,
    members: Sequence[Any],
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
