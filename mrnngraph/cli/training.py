"""``mrnngraph train``: train a circuit on a task and write figures, metrics and the model.

With no CIRCUIT the packaged cortico-basal ganglia-thalamic loop
(:func:`mrnngraph.presets.cbgt_loop`) is trained, so the command works on a
fresh install with nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .._files import atomic_write
from ._args import UsageError, integer, prepare_out, real

__all__ = ["register", "DEFAULTS"]

#: Defaults of ``mrnngraph train``. ``lr``, ``batch_size`` and ``clip_grad`` are those of
#: :func:`mrnngraph.training.train` (a test keeps them equal; docs/training.md, "The recipe",
#: says what each buys); the default run reaches >= 90 % on coherences >= 12.8 % of
#: perceptual decision making with the default circuit in well under 3 minutes on 2 cores.
DEFAULTS = {
    "task": "perceptual_decision_making",
    "steps": 500,
    "batch_size": 64,
    "lr": 1e-2,
    "seed": 0,
    "eval_trials": 2000,
    "clip_grad": 1.0,
    "threads": 1,
    "nproc": 2,
    "noise_std": 0.0,
}

#: Seed of the held-out evaluation batch is the training seed plus this (a different stream:
#: training batches come from a generator seeded by a hash of the seed).
_EVAL_SEED_OFFSET = 1_000_003

#: The held-out learning curve (training.png, history.json "evals"): about this many points,
#: each on the same batch of at most this many trials, drawn with the seed plus the offset
#: (a third stream: neither the training batches nor the final evaluation batch).
_CURVE_POINTS, _CURVE_TRIALS, _CURVE_SEED_OFFSET = 20, 500, 2_000_003


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    from ..io.files import FORMATS

    d = DEFAULTS
    p = subparsers.add_parser(
        "train",
        help="train a circuit on a cognitive task; write figures, metrics, model",
        description="Train a circuit on a task and write to DIR: the area diagram "
        "(circuit.png), the connectivity before and after training (connectivity.png), the "
        "loss and accuracy curves (training.png), example trials with inputs, targets, "
        "outputs and per-region mean rates (trials.png), for perceptual decision making the "
        "psychometric curve (psychometric.png), metrics.json, history.json and the model "
        "checkpoint (model.pt, see mrnngraph.load_model). Accuracy is measured at the end on "
        "a fresh held-out batch. Without CIRCUIT, the packaged cortico-basal "
        "ganglia-thalamic loop (mrnngraph.presets.cbgt_loop) is used. With --distributed, "
        "trains data-parallel over --nproc processes (or joins torchrun's).",
    )
    p.add_argument(
        "circuit",
        nargs="?",
        metavar="CIRCUIT",
        help="circuit file (.yaml, .json, .graphml, mRNNTorch .json); default: the "
        "packaged CBGT loop sized for the task",
    )
    p.add_argument(
        "--task",
        default=d["task"],
        metavar="NAME",
        help="perceptual_decision_making (pdm), context_dependent_integration "
        "(cdi, mante), flip_flop (3bit), or neurogym:<env id> if neurogym is "
        f"installed (default: {d['task']})",
    )
    p.add_argument(
        "--steps",
        type=integer(low=0),
        default=d["steps"],
        metavar="N",
        help=f"optimizer steps (default: {d['steps']})",
    )
    p.add_argument(
        "--batch-size",
        type=integer(low=1),
        default=d["batch_size"],
        metavar="B",
        help=f"trials per step, over all processes (default: {d['batch_size']})",
    )
    p.add_argument(
        "--lr", type=real(low=0), default=d["lr"], help=f"Adam learning rate (default: {d['lr']:g})"
    )
    p.add_argument(
        "--seed",
        type=integer(low=0),
        default=d["seed"],
        metavar="S",
        help="seed of the circuit's masks and weights, the training batches and "
        f"the held-out batch (default: {d['seed']})",
    )
    p.add_argument(
        "--out", metavar="DIR", default=None, help="output folder (default: runs/<circuit>-<task>)"
    )
    p.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default: cpu)"
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training with torch.distributed (gloo on CPU, nccl on "
        "GPU): joins torchrun's process group, else starts --nproc processes",
    )
    p.add_argument(
        "--nproc",
        type=integer(low=1),
        default=None,
        metavar="P",
        help="processes for --distributed outside torchrun (default: "
        f"{d['nproc']} on CPU, the GPU count on cuda)",
    )
    p.add_argument(
        "--threads",
        type=integer(low=1),
        default=d["threads"],
        metavar="T",
        help="torch CPU threads per process (default: 1, fastest for small "
        "circuits on shared cores)",
    )
    p.add_argument(
        "--eval-trials",
        type=integer(low=1),
        default=d["eval_trials"],
        metavar="N",
        help=f"held-out trials scored at the end (default: {d['eval_trials']})",
    )
    p.add_argument(
        "--noise-std",
        type=real(low=0, low_open=False),
        default=d["noise_std"],
        help=f"recurrent noise of the model, >= 0 (default: {d['noise_std']:g})",
    )
    p.add_argument(
        "--clip-grad",
        type=real(low=0),
        default=d["clip_grad"],
        help=f"largest gradient norm, > 0 (default: {d['clip_grad']:g})",
    )
    p.add_argument(
        "--format",
        dest="file_format",
        default=None,
        choices=FORMATS,
        help="format of CIRCUIT (default: from its extension)",
    )
    p.add_argument(
        "--no-figures",
        dest="figures",
        action="store_false",
        help="write no figures (metrics, history and the model still)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_train_command)


# --------------------------------------------------------------------------- setup
def _check_args(args: argparse.Namespace) -> None:
    # Numbers are checked by their argparse types; here what needs more than one value.
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda but no CUDA device is available")


def _setup(args: argparse.Namespace) -> tuple[Any, Any, str, Any]:
    """(graph, task, circuit source, model)."""
    from ..errors import CircuitWarning
    from ..model import MultiRegionRNN
    from ..tasks import get_task

    try:
        probe = get_task(args.task)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    if args.circuit is None:
        from ..presets import cbgt_loop

        G = cbgt_loop(n_inputs=probe.input_size, n_outputs=probe.output_size)
        source = "preset:cbgt_loop"
    else:
        from ..io import load

        G = load(args.circuit, format=args.file_format)
        source = os.fspath(args.circuit)
    with warnings.catch_warnings():
        # Reachability notes belong to `mrnngraph validate`; training goes on regardless.
        warnings.simplefilter("ignore", CircuitWarning)
        model = MultiRegionRNN.from_graph(G, seed=args.seed, noise_std=args.noise_std)
    task = get_task(args.task, dt=model.dt)
    for what in ("input_size", "output_size"):
        m, t = getattr(model, what), getattr(task, what)
        if m != t:
            kind = what.split("_")[0]
            raise UsageError(
                f"{source} has {m} {kind} channel{'s' if m != 1 else ''} but task "
                f"{task.name!r} needs {t}: give its {kind} node{'s' if kind == 'input' else ''} "
                f"{t} units in total"
            )
    return G, task, source, model


def _circuit_name(G: Any, source: str) -> str:
    name = G.graph.get("name")
    if name:
        return str(name)
    return Path(source).name.split(".")[0] if not source.startswith("preset:") else source[7:]


# --------------------------------------------------------------------------- command
def _train_command(args: argparse.Namespace) -> int:
    from ..training import distributed_env, launch

    stopped_by: dict[str, int] = {}
    previous = _catch_sigterm(stopped_by)
    try:
        _check_args(args)
        if args.distributed and distributed_env() is None:
            # Check everything in this process first: a worker's failure is harder to read.
            G, task, source, _ = _setup(args)
            prepare_out(_out_dir(args, G, task, source))
            import torch

            nproc = args.nproc or (
                torch.cuda.device_count() if args.device == "cuda" else DEFAULTS["nproc"]
            )
            import torch.multiprocessing as mp

            try:
                launch(_worker, args, nprocs=nproc, threads=args.threads)
            except mp.ProcessExitedException:
                return 1  # the failing process has printed why
            except mp.ProcessRaisedException as err:
                print(f"error: a training process failed:\n{err}", file=sys.stderr)
                return 1
            return 0
        return _run(args, args.distributed, stopped_by)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Before or after training (during it, _run writes what exists and returns).
        print("interrupted", file=sys.stderr)
        return _interrupt_code(stopped_by)
    finally:
        if previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _catch_sigterm(stopped_by: dict[str, int]) -> dict[int, Any] | None:
    """Make SIGTERM stop like Ctrl-C (a ``KeyboardInterrupt`` in the main thread), noting
    which signal it was; returns the previous handlers (None off the main thread)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGALRM)}

    def on_term(signum: int, frame: Any) -> None:
        stopped_by.setdefault("signal", signum)
        if _inside_import_or_exec(frame):
            # An interrupt raised there can be swallowed by the import, or mark the
            # interpreter as killed by Ctrl-C (CPython, for exec): try again in 50 ms.
            signal.signal(signal.SIGALRM, on_term)
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    return previous


def _inside_import_or_exec(frame: Any) -> bool:
    """Whether the main thread is running an import or ``exec``'d code (dataclasses); the
    program itself may be ``<string>`` (``python -c``), the outermost frame."""
    while frame is not None:
        name = frame.f_code.co_filename
        exec_code = name == "<string>" and frame.f_code.co_name == "<module>"
        if name.startswith("<frozen importlib") or (exec_code and frame.f_back is not None):
            return True
        frame = frame.f_back
    return False


def _interrupt_code(stopped_by: dict[str, int]) -> int:
    """128 + the signal's number, as a shell reports a process stopped by it."""
    return 128 + stopped_by.get("signal", signal.SIGINT)


def _worker(args: argparse.Namespace) -> None:
    """One process started by ``--distributed`` outside torchrun."""
    code = _run(args, True, {})
    if code:
        sys.exit(code)


def _out_dir(args: argparse.Namespace, G: Any, task: Any, source: str) -> Path:
    name = _circuit_name(G, source)
    return Path(args.out) if args.out else Path("runs") / f"{name}-{task.name}"


def _run(args: argparse.Namespace, distributed: bool, stopped_by: dict[str, int]) -> int:
    import torch

    from ..training import (
        TrainingDiverged,
        TrainingInterrupted,
        TrainingWarning,
        distributed_env,
        train,
    )

    env = distributed_env() if distributed else None
    rank = env["rank"] if env else 0
    if not distributed or env is None or "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    G, task, source, model = _setup(args)
    name = _circuit_name(G, source)
    out = _out_dir(args, G, task, source)
    if rank == 0:
        prepare_out(out)
    device = torch.device(args.device)
    initial = model.circuit
    try:
        with warnings.catch_warnings():
            # Printed below as one line each, and written to metrics.json.
            warnings.simplefilter("ignore", TrainingWarning)
            history = train(
                model,
                task,
                steps=args.steps,
                lr=args.lr,
                batch_size=args.batch_size,
                seed=args.seed,
                device=device,
                clip_grad=args.clip_grad,
                progress=not args.quiet,
                distributed=distributed,
                checkpoint=out / "model_last_good.pt",
                graph=G,
                eval_every=max(1, -(-args.steps // _CURVE_POINTS)),
                eval_batch_size=min(_CURVE_TRIALS, args.eval_trials),
                eval_seed=args.seed + _CURVE_SEED_OFFSET,
            )
    except TrainingDiverged as err:
        if rank == 0:
            print(f"error: {err}", file=sys.stderr)
        return 1
    except TrainingInterrupted as err:
        code = _interrupt_code(stopped_by)
        if rank == 0:
            _write_interrupted(args, G, task, source, name, model, err, out, t_start, code)
        return code
    if rank != 0:
        return 0
    world = env["world_size"] if env else 1
    _print_health(history)
    _write_outputs(args, G, task, source, name, model, initial, history, out, t_start, world)
    return 0


def _print_health(history: Any) -> None:
    for ev in history.health:
        seen = (
            f"steps {ev['step']}-{ev['last_step']}"
            if ev["last_step"] != ev["step"]
            else f"step {ev['step']}"
        )
        print(f"warning: training health ({seen}): {ev['message']}", file=sys.stderr)


def _write_interrupted(
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
        _write_json(out / "history.json", history.to_dict())
        files["history.json"] = "loss and accuracy per step"
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


def _write_outputs(
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
    import torch

    from .. import __version__
    from ..checkpoint import save_model
    from ..tasks import PerceptualDecisionMaking
    from ..training import constraint_violations, predict

    out.mkdir(parents=True, exist_ok=True)
    eval_seed = args.seed + _EVAL_SEED_OFFSET
    batch = task.batch(args.eval_trials, seed=eval_seed, device=model.alpha.device)
    result = predict(model, batch)
    evaluation = task.metrics(result.outputs, batch)
    evaluation["seed"] = eval_seed
    model_cpu = model.to("cpu")
    batch, result = batch.to("cpu"), type(result)(*(t.cpu() for t in result))

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
    files["history.json"] = "loss and accuracy per step"
    _write_json(out / "history.json", history.to_dict())
    files["metrics.json"] = "run settings and held-out metrics"
    metrics["total_seconds"] = round(time.perf_counter() - t_start, 3)
    metrics["files"] = files
    _write_json(out / "metrics.json", metrics)

    acc = evaluation.get("accuracy")
    line = (
        f"trained {name} on {task.name}: {len(history)} steps in {history.seconds:.1f} s; "
        f"held-out accuracy {100 * acc:.1f}% ({batch.batch_size} trials)"
    )
    if isinstance(task, PerceptualDecisionMaking):
        line += f", coherence >= 12.8%: {100 * evaluation['accuracy_coherence_ge_12.8']:.1f}%"
    print(line)
    print(f"wrote {out}{os.sep}")
    for fname, what in files.items():
        print(f"  {fname:<20} {what}")


# --------------------------------------------------------------------------- files
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
    from ..tasks import PerceptualDecisionMaking

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
    if isinstance(task, PerceptualDecisionMaking):
        figs["psychometric.png"] = (
            psychometric_figure(task, batch, result.outputs),
            "accuracy vs coherence (held-out trials)",
        )
    return figs


# --------------------------------------------------------------------------- moved names
#: Figure builders that lived here until 0.1; they are in
#: :mod:`mrnngraph.analysis.training_plots` now (the public ones also in mrnngraph.analysis).
_MOVED = (
    "circuit_figure",
    "connectivity_figure",
    "training_figure",
    "trials_figure",
    "psychometric_figure",
    "_example_trials",
    "_trial_title",
)


def __getattr__(name: str) -> Any:
    # PEP 562: the old import path keeps working for one release, with a warning.
    if name in _MOVED:
        from ..analysis import training_plots

        warnings.warn(
            f"mrnngraph.cli.training.{name} moved to "
            f"mrnngraph.analysis.training_plots.{name}; the old path goes in the "
            "next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(training_plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
