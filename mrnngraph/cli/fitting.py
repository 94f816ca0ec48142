"""``mrnngraph fit``: fit a circuit to recorded activity; write figures, metrics and the model.

The data are an NWB file (binned by trial and area with :func:`mrnngraph.io.nwb.read_nwb`)
or a recording saved with :meth:`mrnngraph.Recording.save` (``.npz``). Trials are split
into training and held-out ones; pVar and pathway strengths are reported on the held-out
trials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .._files import atomic_write
from ._args import UsageError, integer, prepare_out, real

__all__ = ["register", "DEFAULTS"]

DEFAULTS = {
    "steps": 1000,
    "lr": 2e-2,
    "batch_size": 32,
    "seed": 0,
    "test_fraction": 0.25,
    "sparsity": 0.0,
    "forcing": 0,
    "threads": 1,
    "bin_ms": 10.0,
    "align": "start_time",
    "loss": "gaussian",
    "start": "model",
    "refine": 300,
    "refine_trials": 6,
    "reg_sparsity": 0.1,
}


def _region_spec(text: str) -> tuple[str, list[str]]:
    name, sep, areas = text.partition("=")
    names = [a.strip() for a in areas.split(",") if a.strip()]
    if not sep or not name.strip() or not names:
        raise argparse.ArgumentTypeError(
            f"must be REGION=AREA[,AREA...] (e.g. v1=VISp,VISl); got {text!r}"
        )
    return name.strip(), names


def register(subparsers: Any) -> None:
    """Add the ``fit`` sub-command."""
    d = DEFAULTS
    p = subparsers.add_parser(
        "fit",
        help="fit a circuit to recorded multi-region activity (NWB or .npz)",
        description="Fit CIRCUIT to the activity in DATA (an NWB file, or a recording saved "
        "with mrnngraph.Recording.save as .npz): each region's first n units are matched to "
        "its n recorded neurons, the model runs free from each trial's first bin, and is "
        "trained by gradient descent (mrnngraph.fit), optionally from a constrained "
        "regression (--start regression, mrnngraph.regress). Writes to DIR: metrics.json "
        "(held-out and training pVar by region, pathway strengths), history.json (with "
        "gradient steps), the model (model.pt, mrnngraph.load_model; the read-out in its "
        "metadata), and the figures fit_pvar.png, fit_currents.png, fit_traces.png, "
        "fit_loss.png (with gradient steps).",
    )
    p.add_argument("circuit", metavar="CIRCUIT", help="circuit file (.yaml, .json, .graphml)")
    p.add_argument("data", metavar="DATA", help="session.nwb or recording.npz")
    p.add_argument(
        "--regions",
        nargs="+",
        type=_region_spec,
        metavar="REGION=AREA[,AREA]",
        help="NWB: which brain areas (electrode locations) make each region, e.g. "
        "m2=MOs v1=VISp,VISl; .npz: rename recorded regions to circuit regions",
    )
    p.add_argument(
        "--bin-ms",
        type=real(low=0),
        default=None,
        metavar="MS",
        help="NWB: bin width in ms (default: the model's dt)",
    )
    p.add_argument(
        "--window-ms",
        type=float,
        nargs=2,
        metavar=("START", "END"),
        help="NWB: window of each trial in ms relative to --align (default: "
        "from --align to the earliest stop_time after it)",
    )
    p.add_argument(
        "--align",
        default=d["align"],
        metavar="COLUMN",
        help=f"NWB: trials column the window is relative to (default: {d['align']})",
    )
    p.add_argument(
        "--smooth-ms",
        type=real(low=0),
        default=None,
        metavar="MS",
        help="NWB: Gaussian smoothing s.d. in ms (default: none)",
    )
    p.add_argument(
        "--location-column",
        default=None,
        metavar="COLUMN",
        help="NWB: units column holding each unit's area (default: its electrode's location)",
    )
    p.add_argument(
        "--steps",
        type=integer(low=0),
        default=d["steps"],
        metavar="N",
        help=f"optimizer steps (default: {d['steps']})",
    )
    p.add_argument(
        "--lr", type=real(low=0), default=d["lr"], help=f"Adam learning rate (default: {d['lr']:g})"
    )
    p.add_argument(
        "--batch-size",
        type=integer(low=1),
        default=d["batch_size"],
        metavar="B",
        help=f"trials per step (default: {d['batch_size']})",
    )
    p.add_argument(
        "--loss",
        choices=("gaussian", "poisson"),
        default=d["loss"],
        help="gaussian (rates, any unit) or poisson (spike counts per bin; NWB "
        "data are then read as counts)",
    )
    p.add_argument(
        "--sparsity",
        type=real(low=0, low_open=False),
        default=d["sparsity"],
        help="weight of the pathway group lasso (mrnngraph.fitting."
        f"PathwaySparsity, a proximal step) (default: {d['sparsity']:g})",
    )
    p.add_argument(
        "--forcing",
        type=integer(low=0),
        default=d["forcing"],
        help="set the recorded units back to the data every this many bins in training "
        f"(fit's forcing; 0: free run of whole trials) (default: {d['forcing']})",
    )
    p.add_argument(
        "--start",
        choices=("model", "regression"),
        default=d["start"],
        help="regression: set the weights first by constrained one-step regression "
        "(mrnngraph.regress, docs/fitting.md), then take --steps gradient steps from "
        "there and from its read-out (--steps 0: the regression alone) "
        f"(default: {d['start']})",
    )
    p.add_argument(
        "--refine",
        type=integer(low=0),
        default=None,
        metavar="K",
        help="--start regression: L-BFGS iterations refining each neuron's read-out "
        f"(default: {d['refine']})",
    )
    p.add_argument(
        "--refine-trials",
        type=integer(low=1),
        default=None,
        metavar="N",
        help="--start regression: trials the read-out is refined on "
        f"(default: {d['refine_trials']})",
    )
    p.add_argument(
        "--reg-sparsity",
        type=real(low=0, low_open=False),
        default=None,
        metavar="W",
        help="--start regression: weight of the regression's pathway group lasso, on its "
        f"own scale (default: {d['reg_sparsity']:g})",
    )
    p.add_argument(
        "--test-fraction",
        type=real(low=0, high=0.9),
        default=d["test_fraction"],
        metavar="F",
        help=f"share of held-out trials (default: {d['test_fraction']})",
    )
    p.add_argument(
        "--stratify",
        default=None,
        metavar="VARIABLE",
        help="trial variable to stratify the split by (a condition label)",
    )
    p.add_argument(
        "--seed",
        type=integer(low=0),
        default=d["seed"],
        metavar="S",
        help=f"seed of the circuit, the split and the fit (default: {d['seed']})",
    )
    p.add_argument(
        "--activation",
        default=None,
        help="the model's activation (default: the graph's, else tanh)",
    )
    p.add_argument(
        "--dt",
        type=real(low=0),
        default=None,
        metavar="MS",
        help="the model's step in ms; must divide the bin width (default: the "
        "graph's dt, else the bin width)",
    )
    p.add_argument(
        "--threads",
        type=integer(low=1),
        default=d["threads"],
        metavar="T",
        help=f"torch CPU threads (default: {d['threads']})",
    )
    p.add_argument(
        "--out", metavar="DIR", default="runs/fit", help="output folder (default: runs/fit)"
    )
    p.add_argument("--no-figures", dest="figures", action="store_false", help="write no figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=fit_command)


def _read_data(args: argparse.Namespace, default_bin: float) -> Any:
    from ..recording import Recording

    path = Path(args.data)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.suffix.lower() == ".npz":
        rec = Recording.load(path)
        if args.regions:
            rename = {}
            for new, olds in args.regions:
                if len(olds) != 1 or olds[0] not in rec.rates:
                    raise UsageError(
                        f"--regions {new}={','.join(olds)}: a .npz recording "
                        "renames one recorded region; its regions: "
                        f"{', '.join(rec.regions)}"
                    )
                rename[olds[0]] = new
            rec = Recording(
                {rename.get(r, r): v for r, v in rec.rates.items()},
                rec.dt,
                inputs=rec.inputs,
                outputs=rec.outputs,
                trials=rec.trials,
            )
        return rec
    if not args.regions:
        raise UsageError("an NWB file needs --regions REGION=AREA[,AREA] ...")
    from ..io.nwb import read_nwb

    try:
        return read_nwb(
            path,
            regions=dict(args.regions),
            bin_ms=args.bin_ms or default_bin,
            window_ms=None if args.window_ms is None else tuple(args.window_ms),
            align=args.align,
            smooth_ms=args.smooth_ms,
            location_column=args.location_column,
            counts=args.loss == "poisson",
        )
    except ImportError as err:
        raise UsageError(str(err)) from None


def fit_command(args: argparse.Namespace) -> int:
    """Handler of ``mrnngraph fit``; returns the exit status."""
    try:
        return _fit(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as err:
        from ..errors import GraphError

        if isinstance(err, GraphError):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


def _fit(args: argparse.Namespace) -> int:
    import torch

    from .. import __version__
    from ..analysis.pathways import pathway_strength
    from ..checkpoint import save_model
    from ..errors import CircuitWarning
    from ..fitting import PathwaySparsity, fit, pvar, regress
    from ..io import load
    from ..model import MultiRegionRNN
    from ..training import TrainingDiverged

    start = _regression_options(args)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    G = load(args.circuit)
    graph_dt = G.graph.get("dt")
    rec = _read_data(args, float(args.dt or graph_dt or DEFAULTS["bin_ms"]))
    kwargs: dict[str, Any] = {}
    if args.dt is not None:
        kwargs["dt"] = args.dt
    elif graph_dt is None:
        kwargs["dt"] = rec.dt
    if args.activation is not None:
        kwargs["activation"] = args.activation
    elif "activation" not in G.graph:
        kwargs["activation"] = "tanh"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CircuitWarning)  # no inputs/outputs: normal here
        model = MultiRegionRNN.from_graph(G, seed=args.seed, **kwargs)
    rec.check_against(model)
    if rec.n_trials < 2:
        raise UsageError(f"{args.data}: {rec.n_trials} trial; need at least 2 to hold some out")
    if args.stratify is not None and args.stratify not in rec.trials:
        raise UsageError(
            f"--stratify {args.stratify!r} is not a trial variable; known: "
            f"{', '.join(rec.trials) or 'none'}"
        )
    train, test = rec.split(args.test_fraction, seed=args.seed, stratify=args.stratify)
    out = Path(args.out)
    prepare_out(out)
    losses = [PathwaySparsity(args.sparsity)] if args.sparsity > 0 else None
    regression = None
    if start is not None:
        regression = regress(model, train, loss=args.loss, **start)
    history = None
    if args.steps or regression is None:
        try:
            history = fit(
                model,
                train,
                steps=args.steps,
                lr=args.lr,
                batch_size=args.batch_size,
                seed=args.seed,
                loss=args.loss,
                losses=losses,
                forcing=args.forcing or None,
                validation=test,
                eval_every=max(1, args.steps // 20) if args.steps else None,
                progress=not args.quiet,
                observation=None if regression is None else model.observation,
            )
        except TrainingDiverged as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    scores_test = pvar(model, test)
    scores_train = pvar(model, train)
    strength = pathway_strength(model, test)
    metrics = {
        "circuit": os.fspath(args.circuit),
        "data": os.fspath(args.data),
        "regions": rec.regions,
        "neurons": rec.n_neurons,
        "bin_ms": rec.dt,
        "trials": {"train": len(train), "test": len(test)},
        "pvar_test": scores_test,
        "pvar_train": scores_train,
        "pathway_strength": {f"{s}->{d}": v for (s, d), v in strength.items()},
        "steps": 0 if history is None else len(history),
        "start": args.start,
        "regression": None if regression is None else _regression_metrics(regression, start),
        "lr": args.lr,
        "batch_size": args.batch_size,
        "loss": args.loss,
        "sparsity": args.sparsity,
        "forcing": args.forcing or None,
        "seed": args.seed,
        "fit_seconds": None if history is None else round(history.seconds, 3),
        "mrnngraph_version": __version__,
        "torch_version": torch.__version__,
        "total_seconds": round(time.perf_counter() - t_start, 3),
    }
    files = {
        "metrics.json": "pVar (held-out and training), pathway strengths",
        "history.json": "loss per step, validation pVar",
        "model.pt": "the fitted model (mrnngraph.load_model); its metadata holds the "
        "read-out (mrnngraph.fitting.Observation.from_dict)",
    }
    save_model(
        model,
        out / "model.pt",
        graph=G,
        metadata={
            "observation": model.observation.to_dict(),
            "pvar_test": scores_test,
            "regions": rec.regions,
        },
    )
    if history is not None:
        _write_json(out / "history.json", history.to_dict())
    else:
        del files["history.json"]
    if args.figures:
        files.update(_figures(model, test, history, scores_test, out))
    metrics["files"] = files
    _write_json(out / "metrics.json", metrics)
    print("held-out pVar: " + ", ".join(f"{k} {v:.3f}" for k, v in scores_test.items()))
    top = sorted(((v, k) for k, v in metrics["pathway_strength"].items()), reverse=True)
    print("pathway strength (mean |current|): " + ", ".join(f"{k} {v:.3g}" for v, k in top))
    print(f"wrote {out}/: {', '.join(files)}")
    return 0


def _regression_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """``regress``'s keywords for ``--start regression``; its options without it are an
    error rather than ignored."""
    # regress's keyword: (the option's value, its flag, its DEFAULTS key)
    given = {
        "refine": (args.refine, "--refine", "refine"),
        "refine_trials": (args.refine_trials, "--refine-trials", "refine_trials"),
        "sparsity": (args.reg_sparsity, "--reg-sparsity", "reg_sparsity"),
    }
    if args.start != "regression":
        named = [flag for value, flag, _ in given.values() if value is not None]
        if named:
            raise UsageError(f"{', '.join(named)} only apply with --start regression")
        return None
    return {k: DEFAULTS[key] if v is None else v for k, (v, _, key) in given.items()}


def _regression_metrics(report: Any, options: dict[str, Any]) -> dict[str, Any]:
    return {
        **options,
        "r2": report.r2,
        "iterations": report.iterations,
        "converged": report.converged,
        "cpu_seconds": round(report.cpu_s, 3),
        "zeroed": [f"{s}->{d}" for s, d in report.zeroed],
    }


def _write_json(path: Path, data: Any) -> None:
    from ..training import _json_safe  # NaN and inf become null, as in train's history.json

    text = json.dumps(_json_safe(data), indent=2)
    atomic_write(path, lambda fh: fh.write(text + "\n"))


def _figures(model: Any, test: Any, history: Any, scores: dict, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..analysis.fit_plots import plot_fit_traces, plot_pathway_currents, plot_pvar

    files = {}
    ax = plot_pvar(scores)
    ax.figure.savefig(out / "fit_pvar.png", dpi=100)
    plt.close(ax.figure)
    files["fit_pvar.png"] = "held-out pVar by region"
    fig = plot_pathway_currents(model, test)
    fig.savefig(out / "fit_currents.png", dpi=90)
    plt.close(fig)
    files["fit_currents.png"] = "currents by pathway (target x source), held-out trial mean"
    fig = plot_fit_traces(model, test, trial=0, neurons=3)
    fig.savefig(out / "fit_traces.png", dpi=90)
    plt.close(fig)
    files["fit_traces.png"] = "data and model of example neurons, one held-out trial"
    if history is None:  # the regression alone: no steps to draw
        return files
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    ax.plot(history.step, history.task_loss, lw=1, label="training loss (data term)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if history.evals:
        ax2 = ax.twinx()
        ax2.plot(
            [e["step"] for e in history.evals],
            [e["pvar"]["all"] for e in history.evals],
            "o-",
            color="C2",
            label="held-out pVar",
        )
        ax2.set_ylabel("held-out pVar")
    ax.set_title("fit progress")
    fig.savefig(out / "fit_loss.png", dpi=100)
    plt.close(fig)
    files["fit_loss.png"] = "training loss and held-out pVar over steps"
    return files
