"""``mrnngraph train``: train a circuit on a task and write figures, metrics and the model.

With no CIRCUIT the packaged cortico-basal ganglia-thalamic loop
(:func:`mrnngraph.presets.cbgt_loop`) is trained, so the command works on a
fresh install with nothing else.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ._args import UsageError, integer, prepare_out, real, seed_list
from ._train_outputs import write_interrupted, write_outputs

__all__ = ["register", "DEFAULTS"]

#: Defaults of ``mrnngraph train``. ``lr``, ``lr_schedule``, ``batch_size`` and ``clip_grad``
#: are those of :func:`mrnngraph.training.train` (a test keeps them equal;
#: docs/training.md, "The recipe", says what each buys); the default run reaches >= 90 %
#: on coherences >= 12.8 % of perceptual decision making with the default circuit in well
#: under 3 minutes on 2 cores.
DEFAULTS = {
    "task": "perceptual_decision_making",
    "steps": 500,
    "batch_size": 64,
    "lr": 1e-2,
    "seed": 0,
    "eval_trials": 2000,
    "clip_grad": 1.0,
    "lr_schedule": "cosine",
    "threads": 1,
    "nproc": 2,
    "noise_std": 0.0,
}

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
        "outputs and per-region mean rates (trials.png), the "
        "psychometric curves (psychometric.png, for tasks with a stimulus strength: "
        "perceptual decision making and context-dependent integration), metrics.json, "
        "history.json and history.csv (per step) and the model "
        "checkpoint (model.pt, see mrnngraph.load_model). Accuracy is measured at the end on "
        "a fresh held-out batch. Without CIRCUIT, the packaged cortico-basal "
        "ganglia-thalamic loop (mrnngraph.presets.cbgt_loop) is used. With --distributed, "
        "trains data-parallel over --nproc processes (or joins torchrun's). With --seeds, "
        "trains one member per seed (each the run of --seed S) into DIR/member_<S>/ and "
        "writes the distribution over members to DIR; --seeds with --distributed splits "
        "the members over the processes.",
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
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seed",
        type=integer(low=0),
        default=None,  # DEFAULTS["seed"] once parsed: None tells --seed from --seeds
        metavar="S",
        help="seed of the circuit's masks and weights, the training batches and "
        f"the held-out batch (default: {d['seed']})",
    )
    seeds.add_argument(
        "--seeds",
        type=seed_list,
        default=None,
        metavar="LIST",
        help="train one member per seed, e.g. 0-15 or 0-3,7 (each exactly the run "
        "--seed S would make), into DIR/member_<S>/, and write a summary over the "
        "members: members.csv, metrics.json (mean, spread, worst member), seeds.png "
        "(accuracy per seed), training.png (every member's curves) and psychometric.png "
        "(every member's curve and the pooled one)",
    )
    p.add_argument(
        "--batched",
        action="store_true",
        help="with --seeds: train the members together as one mrnngraph.Ensemble (one "
        "batched time loop; faster on many small members). They then all see the first "
        "seed's training batches, so member S is no longer exactly the --seed S run; with "
        "--distributed, each process trains its share of the members as one Ensemble, "
        "still on the first seed's batches",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder (default: runs/<circuit>-<task>, with --seeds "
        "runs/<circuit>-<task>-seeds)",
    )
    p.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default: cpu)"
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training with torch.distributed (gloo on CPU, nccl on "
        "GPU): joins torchrun's process group, else starts --nproc processes; with "
        "--seeds, each process trains its share of the members (no gradient sync)",
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
        "--lr-schedule",
        default=d["lr_schedule"],
        choices=("cosine", "constant"),  # training._schedule.LR_SCHEDULES (a test checks)
        help="learning rate over the steps: annealed to nearly zero (cosine) or as given "
        f"(default: {d['lr_schedule']})",
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
    p.add_argument(
        "--log-dir",
        metavar="DIR",
        default=None,
        help="also write TensorBoard logs there (tensorboard --logdir DIR); with --seeds, "
        "one sub-folder member_<S> per member",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_train_command)


# --------------------------------------------------------------------------- setup
def _check_args(args: argparse.Namespace) -> None:
    # Numbers are checked by their argparse types; here what needs more than one value.
    if args.seed is None:
        args.seed = DEFAULTS["seed"] if args.seeds is None else args.seeds[0]
    if args.batched and args.seeds is None:
        raise UsageError("--batched trains the members of --seeds together; give --seeds")
    if args.log_dir is not None:
        _check_log_dir(args.log_dir)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda but no CUDA device is available")


def _check_log_dir(log_dir: str) -> None:
    import inspect

    from ..training import train

    if "log_dir" not in inspect.signature(train).parameters:
        raise UsageError(
            "--log-dir needs mrnngraph.train(..., log_dir=...), which this version of "
            "mrnngraph does not have yet"
        )
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError(
            "--log-dir writes TensorBoard logs and needs the tensorboard package: "
            "pip install 'mrnngraph[tensorboard]' (or pip install tensorboard)"
        )
    path = Path(log_dir)
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            raise UsageError(f"--log-dir {log_dir!r}: {str(place)!r} is a file, not a folder")


def _train_options(args: argparse.Namespace, seed: int, out: Path) -> dict[str, Any]:
    """The keyword arguments of :func:`mrnngraph.train` for the run ``--seed seed`` writing to
    ``out`` (one member of ``--seeds`` is exactly that run)."""
    import torch

    options: dict[str, Any] = {
        "steps": args.steps,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "seed": seed,
        "device": torch.device(args.device),
        "clip_grad": args.clip_grad,
        "lr_schedule": args.lr_schedule,
        "progress": not args.quiet,
        "checkpoint": out / "model_last_good.pt",
        "eval_every": max(1, -(-args.steps // _CURVE_POINTS)),
        "eval_batch_size": min(_CURVE_TRIALS, args.eval_trials),
        "eval_seed": seed + _CURVE_SEED_OFFSET,
    }
    if args.log_dir is not None:
        log_dir = Path(args.log_dir)
        options["log_dir"] = log_dir / f"member_{seed}" if args.seeds is not None else log_dir
    return options


def _setup(args: argparse.Namespace) -> tuple[Any, Any, str, Any]:
    """(graph, task, circuit source, model of ``args.seed``)."""
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
    model = _build_model(G, args.seed, args)
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


def _build_model(G: Any, seed: int, args: argparse.Namespace) -> Any:
    """The model of ``G`` compiled with ``seed``."""
    from ..errors import CircuitWarning
    from ..model import MultiRegionRNN

    with warnings.catch_warnings():
        # Reachability notes belong to `mrnngraph validate`; training goes on regardless.
        warnings.simplefilter("ignore", CircuitWarning)
        return MultiRegionRNN.from_graph(G, seed=seed, noise_std=args.noise_std)


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
        if args.seeds is not None:
            from ._train_seeds import run_seeds

            return run_seeds(args, stopped_by, distributed=args.distributed)
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
    if args.seeds is not None:
        from ._train_seeds import run_seeds

        code = run_seeds(args, {}, distributed=True)
    else:
        code = _run(args, True, {})
    if code:
        sys.exit(code)


def _out_dir(args: argparse.Namespace, G: Any, task: Any, source: str) -> Path:
    name = _circuit_name(G, source)
    if args.out:
        return Path(args.out)
    # A sweep never writes into the folder of a single run of the same circuit and task.
    sweep = "-seeds" if getattr(args, "seeds", None) is not None else ""
    return Path("runs") / f"{name}-{task.name}{sweep}"


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
    initial = model.circuit
    try:
        with warnings.catch_warnings():
            # Printed below as one line each, and written to metrics.json.
            warnings.simplefilter("ignore", TrainingWarning)
            options = _train_options(args, args.seed, out)
            history = train(model, task, distributed=distributed, graph=G, **options)
    except TrainingDiverged as err:
        if rank == 0:
            print(f"error: {err}", file=sys.stderr)
        return 1
    except TrainingInterrupted as err:
        code = _interrupt_code(stopped_by)
        if rank == 0:
            write_interrupted(args, G, task, source, name, model, err, out, t_start, code)
        return code
    if rank != 0:
        return 0
    world = env["world_size"] if env else 1
    _print_health(history)
    write_outputs(args, G, task, source, name, model, initial, history, out, t_start, world)
    return 0


def _print_health(history: Any) -> None:
    for ev in history.health:
        seen = (
            f"steps {ev['step']}-{ev['last_step']}"
            if ev["last_step"] != ev["step"]
            else f"step {ev['step']}"
        )
        print(f"warning: training health ({seen}): {ev['message']}", file=sys.stderr)


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
