"""What ``mrnngraph train`` writes after training: metrics, history, model and figures.

The command (:mod:`mrnngraph.cli.training`) parses and dispatches; this module turns a
finished (or interrupted) run into files, and the figures come from
:mod:`mrnngraph.analysis.training_plots`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from .._files import atomic_write

__all__ = [
    "write_outputs",
    "write_run",
    "write_interrupted",
    "write_history",
    "RunResult",
    "EVAL_SEED_OFFSET",
]

#: Seed of the held-out evaluation batch is the training seed plus this (a different stream:
#: training batches come from a generator seeded by a hash of the seed).
EVAL_SEED_OFFSET = 1_000_003


def write_interrupted(
    args: argparse.Namespace,
    G: Any,
    task: Any,
    source: str,
    name: str,
    model: Any,
    err: Any,
    out: Path,
    t_start: float,
    code: int,
) -> None:
    """Write the history, the model after the last completed step and metrics marked
    interrupted; a second signal meanwhile is ignored (the files are written atomically)."""
    import torch

    from .. import __version__
    from ..checkpoint import save_model

    sig = signal.Signals(code - 128).name
    ignored = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        history = err.history
        model_cpu = model.to("cpu")
        files = {}
        ckpt = save_model(
            model_cpu,
            out / "model.pt",
            graph=G,
            metadata={
                "task": task.name,
                "steps": len(history),
                "seed": args.seed,
                "interrupted": sig,
            },
        )
        files[ckpt.name] = f"model checkpoint after step {err.step} (mrnngraph.load_model)"
        files.update(write_history(history, out))
        metrics = {
            "task": task.name,
            "circuit": name,
            "circuit_source": source,
            "interrupted": {
                "signal": sig,
                "completed_steps": err.step,
                "requested_steps": args.steps,
            },
            "steps": len(history),
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "train_seconds": round(history.seconds, 3),
            "train_loss_final": history.loss[-1] if history.loss else None,
            "eval": None,
            "health": history.health,
            "mrnngraph_version": __version__,
            "torch_version": torch.__version__,
            "arguments": {k: v for k, v in vars(args).items() if k not in ("handler", "command")},
            "total_seconds": round(time.perf_counter() - t_start, 3),
        }
        files["metrics.json"] = "run settings, marked interrupted (no held-out evaluation)"
        metrics["files"] = files
        _write_json(out / "metrics.json", metrics)
        print(
            f"interrupted by {sig} after {err.step} of {args.steps} steps; wrote {out}{os.sep}",
            file=sys.stderr,
        )
        for fname, what in files.items():
            print(f"  {fname:<20} {what}", file=sys.stderr)
    finally:
        for s, handler in ignored.items():
            signal.signal(s, handler)


def write_outputs(
    args: argparse.Namespace,
    G: Any,
    task: Any,
    source: str,
    name: str,
    model: Any,
    initial: Any,
    history: Any,
    out: Path,
    t_start: float,
    world: int,
) -> None:
    """Evaluate a trained model on a fresh held-out batch, write every file of a run to
    ``out`` and print the summary line and the list of files."""
    from ..tasks import PerceptualDecisionMaking
    from ..tasks.psychometrics import PsychometricCurve

    run = write_run(args, G, task, source, name, model, initial, history, out, t_start, world)
    evaluation, psychometric, files = run.metrics["eval"], run.psychometric, run.metrics["files"]
    acc = evaluation.get("accuracy")
    line = (
        f"trained {name} on {task.name}: {len(history)} steps in {history.seconds:.1f} s; "
        f"held-out accuracy {100 * acc:.1f}% ({evaluation['n_trials']} trials)"
    )
    if isinstance(task, PerceptualDecisionMaking):
        line += f", coherence >= 12.8%: {100 * evaluation['accuracy_coherence_ge_12.8']:.1f}%"
    if psychometric is not None:
        line += "; " + _psychometric_summary(psychometric, PsychometricCurve)
    print(line)
    print(f"wrote {out}{os.sep}")
    for fname, what in files.items():
        print(f"  {fname:<20} {what}")


class RunResult(NamedTuple):
    """What :func:`write_run` wrote: ``metrics`` (as in metrics.json, with its ``files``)
    and the held-out psychometric curves (None for tasks without)."""

    metrics: dict[str, Any]
    psychometric: Any


def write_run(
    args: argparse.Namespace,
    G: Any,
    task: Any,
    source: str,
    name: str,
    model: Any,
    initial: Any,
    history: Any,
    out: Path,
    t_start: float,
    world: int,
) -> RunResult:
    """Evaluate ``model`` on ``args.eval_trials`` held-out trials (seed ``args.seed +
    EVAL_SEED_OFFSET``) and write model.pt, history.json, history.csv, metrics.json and, with
    ``args.figures``, the figures to ``out``; prints nothing."""
    import torch

    from .. import __version__
    from ..checkpoint import save_model
    from ..training import constraint_violations, predict

    out.mkdir(parents=True, exist_ok=True)
    eval_seed = args.seed + EVAL_SEED_OFFSET
    batch = task.batch(args.eval_trials, seed=eval_seed, device=model.alpha.device)
    result = predict(model, batch)
    evaluation = task.metrics(result.outputs, batch)
    evaluation["seed"] = eval_seed
    model_cpu = model.to("cpu")
    batch, result = batch.to("cpu"), type(result)(*(t.cpu() for t in result))
    psychometric = task.psychometric(result.outputs, batch) if task.has_psychometric else None
    if psychometric is not None:
        evaluation["psychometric"] = psychometric.to_dict()

    files: dict[str, str] = {}
    if args.figures:
        figures = _figures(G, task, initial, model_cpu, history, batch, result)
        for fname, (fig, what) in figures.items():
            _save_figure(fig, out / fname)
            files[fname] = what

    tail = history.accuracy[-20:]
    metrics = {
        "task": task.name,
        "task_timing_ms": {
            k: list(v) if isinstance(v, tuple) else v for k, v in task.timing.items()
        },
        "dt_ms": model_cpu.dt,
        "circuit": name,
        "circuit_source": source,
        "hidden_size": model_cpu.hidden_size,
        "regions": list(model_cpu.layout.regions),
        "steps": len(history),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "processes": world,
        "threads_per_process": torch.get_num_threads(),
        "train_seconds": round(history.seconds, 3),
        "train_loss_final": history.loss[-1] if history.loss else None,
        "train_accuracy_last_20_steps": (sum(tail) / len(tail)) if tail else None,
        "eval": evaluation,
        "interrupted": False,
        "health": history.health,
        "constraint_violations": constraint_violations(model_cpu),
        "mrnngraph_version": __version__,
        "torch_version": torch.__version__,
        "arguments": {k: v for k, v in vars(args).items() if k not in ("handler", "command")},
    }
    ckpt = save_model(
        model_cpu,
        out / "model.pt",
        graph=G,
        metadata={
            "task": task.name,
            "steps": len(history),
            "seed": args.seed,
            "eval_accuracy": evaluation.get("accuracy"),
        },
    )
    files[ckpt.name] = "model checkpoint (mrnngraph.load_model)"
    files.update(write_history(history, out))
    files["metrics.json"] = "run settings and held-out metrics"
    metrics["total_seconds"] = round(time.perf_counter() - t_start, 3)
    metrics["files"] = files
    _write_json(out / "metrics.json", metrics)
    return RunResult(metrics, psychometric)


def _psychometric_summary(result: Any, curve_type: type) -> str:
    """``"psychometric fit: threshold 6.1%, bias +0.3%"`` (per context for a context task)."""

    def one(curve: Any) -> str:
        f = curve.fit
        return "no fit" if f is None else f"threshold {f.threshold:.3g}%, bias {f.bias:+.2g}%"

    if isinstance(result, curve_type):
        return f"psychometric fit: {one(result)}"
    parts = [f"{ctx}: {one(result.relevant(ctx))}" for ctx in result.contexts]
    return "psychometric fit, relevant stimulus: " + "; ".join(parts)


# --------------------------------------------------------------------------- files
def write_history(history: Any, out: Path) -> dict[str, str]:
    """Write ``history.json`` and ``history.csv`` (:meth:`History.to_csv`: one row per step)
    to ``out``; returns ``{file name: what it holds}``."""
    _write_json(out / "history.json", history.to_dict())
    # Through a temporary file, as every other file of a run: a reader never sees half of it.
    tmp = out / f".history.csv.{os.getpid()}.tmp"
    try:
        history.to_csv(tmp)
        os.replace(tmp, out / "history.csv")
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "history.json": "loss and accuracy per step",
        "history.csv": "the same per step, one row each (held-out columns at evaluated steps)",
    }


def _csv(fh: Any, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    import csv

    columns = columns or (list(rows[0]) if rows else ["step"])
    w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


def _write_json(path: Path, data: Any) -> None:
    from ..training import _json_safe

    text = json.dumps(_json_safe(data), indent=2, allow_nan=False)
    atomic_write(path, lambda fh: fh.write(text + "\n"))


def _save_figure(fig: Any, path: Path) -> None:
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120), binary=True)


# --------------------------------------------------------------------------- figures
def _figures(
    G: Any, task: Any, initial: Any, model: Any, history: Any, batch: Any, result: Any
) -> dict[str, tuple[Any, str]]:
    from ..analysis.training_plots import (
        circuit_figure,
        connectivity_figure,
        psychometric_figure,
        training_figure,
        trials_figure,
    )

    figs = {
        "circuit.png": (circuit_figure(G), "area diagram"),
        "connectivity.png": (
            connectivity_figure(initial, model),
            "connectivity before and after training (each block on its own scale), and the change",
        ),
        "training.png": (
            training_figure(history, task=task),
            "loss and accuracy per step, training batches and held-out",
        ),
        "trials.png": (
            trials_figure(task, model, batch, result),
            "example trials: inputs, targets, outputs, mean rates per region",
        ),
    }
    if task.has_psychometric:
        figs["psychometric.png"] = (
            psychometric_figure(task, batch, result.outputs),
            "P(choice 1) vs signed coherence, fitted (per context and stimulus for "
            "context tasks; held-out trials)",
        )
    return figs
