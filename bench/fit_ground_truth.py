"""Ground-truth benchmark of data-constrained fitting: mrnngraph.fit against FORCE (CURBD).

A three-region network with known pathways (``mrnngraph.presets.ground_truth``: a loop
a -> b -> c -> a of decreasing strength, no b -> a, c -> b, a -> c) is simulated; its
rates, in pseudo-Hz, are split into training and held-out trials. Two fits see the same
training trials:

* ``--start regression``: ``mrnngraph.fitting.regress`` first (constrained one-step
  regression; ``--refine k`` L-BFGS iterations on the read-out, on ``--refine-trials``
  trials; ``--reg-sparsity`` its group lasso), then, unless ``--steps 0``, ``fit``;
* ``mrnngraph.fit`` of a circuit declaring every ordered pair of regions (BPTT through
  the fused scan, Adam, per-neuron affine read-out; ``--forcing m`` sets the observed
  units back to the data every ``m`` bins in training, ``--sparsity w`` adds the
  pathway group lasso as a proximal step, ``--no-proximal`` as a penalty), and
* a FORCE/RLS fit of one full matrix in CURBD's manner (Perich et al. 2020; Sussillo &
  Abbott 2009): data scaled to max 1 and clipped to 0.999, ``g = 1.5``, ``P0 = 1``, the
  drive ``J r`` trained towards the data at every bin, the state reset to the data at
  each trial start, several passes over the training trials; filtered white-noise input
  as CURBD (``--force-inputs task`` also gives it the task inputs through RLS-trained
  input weights).

Reported: held-out pVar (free run from each trial's first bin), the pathway strengths
(mean |current| over held-out trials) against the truth's (Spearman rank correlation
over the six between-region pairs; every absent pathway weaker than every present
one), and CPU time of each fit (``time.process_time``, torch threads as given).

    python bench/fit_ground_truth.py --out bench/results/fit_ground_truth --threads 1 \
        --start regression --steps 0 --refine 300 --refine-trials 6 --reg-sparsity 0.1
        # the figures of docs/fitting.md (OMP_NUM_THREADS=1)
    python bench/fit_ground_truth.py --steps 1000 --forcing 1 --sparsity 5  # fit alone
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

# bench/ holds a profile.py of its own: keep it from shadowing the standard library's
# (torch imports cProfile) when this file is run as a script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mrnngraph as mg  # noqa: E402
from mrnngraph.analysis.pathways import pathway_strength  # noqa: E402
from mrnngraph.fitting import Observation, PathwaySparsity, fit, pvar  # noqa: E402
from mrnngraph.fitting._regression import regress  # noqa: E402
from mrnngraph.presets.ground_truth import (  # noqa: E402
    ABSENT_PATHWAYS,
    TRUE_PATHWAYS,
    fitting_graph,
    simulate_ground_truth,
)

BETWEEN = list(TRUE_PATHWAYS) + list(ABSENT_PATHWAYS)


def spearman(a: list[float], b: list[float]) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def ranking(truth: dict, fitted: dict) -> dict:
    t = [truth.get(p, 0.0) for p in BETWEEN]
    f = [fitted[p] for p in BETWEEN]
    present = [fitted[p] for p in TRUE_PATHWAYS]
    absent = [fitted[p] for p in ABSENT_PATHWAYS]
    order_true = sorted(TRUE_PATHWAYS, key=lambda p: -truth.get(p, 0.0))
    order_fit = sorted(TRUE_PATHWAYS, key=lambda p: -fitted[p])
    return {
        "spearman_between": spearman(t, f),
        "absent_below_present": bool(max(absent) < min(present)),
        "present_order_matches": order_true == order_fit,
        "min_present": float(min(present)),
        "max_absent": float(max(absent)),
        # None when every absent pathway is exactly zero (the margin is then infinite)
        "margin_min_present_over_max_absent": (
            float(min(present) / max(absent)) if max(absent) > 0 else None
        ),
    }


# --------------------------------------------------------------------------- FORCE
def force_fit(
    train: mg.Recording,
    test: mg.Recording,
    *,
    g: float = 1.5,
    p0: float = 1.0,
    tau: float = 100.0,
    dt_factor: int = 1,
    runs: int = 30,
    seed: int = 0,
    amp_wn: float = 0.01,
    tau_wn: float = 100.0,
    task_inputs: bool = False,
) -> dict:
    """CURBD-style FORCE on concatenated training trials; returns J, scores and CPU time."""
    rng = np.random.default_rng(seed)
    regions = train.regions
    sizes = [train.n_neurons[r] for r in regions]
    data_tr = np.concatenate([train.rates[r] for r in regions], axis=2).astype(np.float64)
    data_te = np.concatenate([test.rates[r] for r in regions], axis=2).astype(np.float64)
    scale = data_tr.max()
    a_tr = np.clip(data_tr / scale, -0.999, 0.999)
    a_te = np.clip(data_te / scale, -0.999, 0.999)
    N = a_tr.shape[2]
    T = a_tr.shape[1]
    dt = train.dt / dt_factor
    alpha = dt / tau
    I = train.inputs.shape[2] if (task_inputs and train.inputs is not None) else 0
    J = g * rng.standard_normal((N, N)) / math.sqrt(N)
    Jin = np.zeros((N, I))
    P = np.eye(N + I) / p0

    def white_noise(n_trials: int, stream: np.random.Generator) -> np.ndarray:
        steps = T * dt_factor
        wn = stream.standard_normal((n_trials, steps, N)) * amp_wn * math.sqrt(tau_wn / dt)
        out = np.zeros_like(wn)
        lam = dt / tau_wn
        for t in range(1, steps):
            out[:, t] = out[:, t - 1] + lam * (-out[:, t - 1] + wn[:, t])
        return out

    start = time.process_time()
    noise_tr = white_noise(train.n_trials, np.random.default_rng(seed + 1))
    u_tr = train.inputs if I else None
    for _ in range(runs):
        for i in rng.permutation(train.n_trials):
            H = a_tr[i, 0].copy()  # CURBD resets the state to the data at trial starts
            for t in range(1, T):
                for s in range(dt_factor):
                    r = np.tanh(H)
                    JR = J @ r + noise_tr[i, (t - 1) * dt_factor + s]
                    if I:
                        JR = JR + Jin @ u_tr[i, t]
                    H = H + alpha * (-H + JR)
                r = np.tanh(H)
                phi = np.concatenate([r, u_tr[i, t]]) if I else r
                z = J @ r + (Jin @ u_tr[i, t] if I else 0.0)
                err = z - a_tr[i, t]
                k = P @ phi
                c = 1.0 / (1.0 + phi @ k)
                P -= c * np.outer(k, k)
                W = np.concatenate([J, Jin], axis=1) - c * np.outer(err, k)
                J, Jin = W[:, :N], W[:, N:]
    cpu = time.process_time() - start

    def free_run(
        a: np.ndarray, u: np.ndarray | None, noise: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        H = a[:, 0].copy()  # as the training runs reset it (CURBD)
        out = np.zeros_like(a)
        out[:, 0] = np.tanh(H)
        rates_steps = [np.tanh(H)]
        for t in range(1, T):
            for s in range(dt_factor):
                r = np.tanh(H)
                JR = r @ J.T + noise[:, (t - 1) * dt_factor + s]
                if I:
                    JR = JR + u[:, t] @ Jin.T
                H = H + alpha * (-H + JR)
                rates_steps.append(np.tanh(H))
            out[:, t] = np.tanh(H)
        return out, np.stack(rates_steps, axis=1)[:, :-1]

    noise_te = white_noise(test.n_trials, np.random.default_rng(seed + 2))
    model_te, r_prev = free_run(a_te, test.inputs if I else None, noise_te)
    noise_tr2 = white_noise(train.n_trials, np.random.default_rng(seed + 3))
    model_tr, _ = free_run(a_tr, u_tr, noise_tr2)

    def pv(d: np.ndarray, m: np.ndarray) -> float:
        return float(1 - ((d - m) ** 2).sum() / (d.size * d.var()))

    offs = np.cumsum([0, *sizes])
    scores = {"all": pv(a_te[:, 1:], model_te[:, 1:])}
    train_all = pv(a_tr[:, 1:], model_tr[:, 1:])
    strengths = {}
    for k, r in enumerate(regions):
        sl = slice(offs[k], offs[k + 1])
        scores[r] = pv(a_te[:, 1:, sl], model_te[:, 1:, sl])
    for ks, src in enumerate(regions):
        for kd, dst in enumerate(regions):
            cur = (
                r_prev[..., offs[ks] : offs[ks + 1]]
                @ J[offs[kd] : offs[kd + 1], offs[ks] : offs[ks + 1]].T
            )
            strengths[(src, dst)] = float(np.abs(cur).mean())
    return {
        "pvar": scores,
        "pvar_train_all": train_all,
        "strength": strengths,
        "cpu_s": cpu,
        "J": J,
    }


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results/fit_ground_truth")
    ap.add_argument("--size", type=int, default=60)
    ap.add_argument("--trials", type=int, default=36)
    ap.add_argument("--bins", type=int, default=150)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=2e-2)
    ap.add_argument("--batch-size", type=int, default=27)
    ap.add_argument(
        "--sparsity",
        type=float,
        default=0.0,
        help="weight of the pathway group lasso (PathwaySparsity)",
    )
    ap.add_argument(
        "--forcing",
        type=int,
        default=None,
        help="fit's forcing: observed units set back to the data every this many bins "
        "in training (default: a free run over the whole trial)",
    )
    ap.add_argument(
        "--no-proximal",
        action="store_true",
        help="PathwaySparsity as a penalty in the loss instead of a proximal step",
    )
    ap.add_argument(
        "--between-gain",
        type=float,
        default=None,
        help="initial gain of the fitted circuit's between-region projections "
        "(default: 0.8, as every projection)",
    )
    ap.add_argument(
        "--start",
        choices=["random", "regression"],
        default="random",
        help="regression: set the weights by mrnngraph.fitting.regress before fit "
        "(with --steps 0, the regression alone is the fit)",
    )
    ap.add_argument(
        "--reg-sparsity",
        type=float,
        default=0.05,
        help="regress's group lasso weight (its own scale, not --sparsity's)",
    )
    ap.add_argument("--ridge", type=float, default=1e-3, help="regress's ridge")
    ap.add_argument(
        "--refine",
        type=int,
        default=0,
        help="regress's L-BFGS iterations on the read-out and weights together",
    )
    ap.add_argument(
        "--refine-trials",
        type=int,
        default=None,
        help="training trials (evenly spaced) the refinement uses (default: all)",
    )
    ap.add_argument("--weighting", choices=["rate", "state"], default="rate")
    ap.add_argument("--force-runs", type=int, default=30)
    ap.add_argument("--force-inputs", choices=["noise", "task"], default="noise")
    ap.add_argument(
        "--gains",
        type=float,
        nargs=3,
        default=None,
        metavar=("AB", "BC", "CA"),
        help="gains of the present pathways a->b, b->c, c->a (default: "
        "mrnngraph.presets.ground_truth.TRUE_PATHWAYS)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-force", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore", mg.CircuitWarning)

    gains = None if args.gains is None else dict(zip(TRUE_PATHWAYS, args.gains, strict=True))
    gt = simulate_ground_truth(
        size=args.size, n_trials=args.trials, n_steps=args.bins, seed=args.seed, gains=gains
    )
    rec = gt["recording"]
    train, test = rec.split(0.25, seed=args.seed, stratify="condition")
    truth = pathway_strength(
        gt["model"],
        gt["rates"][test.trials["trial"]],
        observation=Observation.identity(gt["rates"], "tanh"),
    )

    model = mg.MultiRegionRNN.from_graph(
        fitting_graph(args.size, between_gain=args.between_gain), seed=args.seed + 1
    )
    start = time.process_time()
    reg = None
    if args.start == "regression":
        reg = regress(
            model,
            train,
            sparsity=args.reg_sparsity,
            ridge=args.ridge,
            refine=args.refine,
            refine_trials=args.refine_trials,
            weighting=args.weighting,
        )
        cpu_reg = time.process_time() - start
    history = None
    if args.steps > 0:
        history = fit(
            model,
            train,
            steps=args.steps,
            lr=args.lr,
            batch_size=args.batch_size,
            seed=args.seed,
            validation=test,
            eval_every=max(1, args.steps // 10),
            progress=False,
            forcing=args.forcing,
            losses=(
                [PathwaySparsity(args.sparsity, proximal=not args.no_proximal)]
                if args.sparsity
                else None
            ),
            # after the regression, go on from the read-out it used (refined or not)
            observation=None if reg is None else model.observation,
        )
    cpu_fit = time.process_time() - start
    scores = pvar(model, test)
    fitted = pathway_strength(model, test)
    result = {
        "problem": {
            "size": args.size,
            "trials": args.trials,
            "bins": args.bins,
            "train_trials": len(train),
            "test_trials": len(test),
            "true_gains": {f"{s}->{d}": g for (s, d), g in (gains or TRUE_PATHWAYS).items()},
            "absent": [f"{s}->{d}" for s, d in ABSENT_PATHWAYS],
        },
        "truth_strength": {f"{s}->{d}": truth.get((s, d), 0.0) for s in "abc" for d in "abc"},
        "fit": {
            "steps": args.steps,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "pathway_sparsity": args.sparsity,
            "proximal": not args.no_proximal,
            "forcing": args.forcing,
            "between_gain": args.between_gain,
            "start": args.start,
            "cpu_s": cpu_fit,
            "wall_s": None if history is None else history.seconds,
            "pvar_test": scores,
            "pvar_train": pvar(model, train),
            "strength": {f"{s}->{d}": v for (s, d), v in fitted.items()},
            "ranking": ranking(truth, fitted),
            "evals": [] if history is None else history.evals,
        },
        "torch_threads": torch.get_num_threads(),
    }
    if reg is not None:
        result["regression"] = {
            "sparsity": args.reg_sparsity,
            "ridge": args.ridge,
            "refine": args.refine,
            "refine_trials": args.refine_trials,
            "weighting": args.weighting,
            "cpu_s": cpu_reg,
            "iterations": reg.iterations,
            "converged": reg.converged,
            "r2": reg.r2,
            "refined_loss": reg.refined,
            "zeroed": [f"{s}->{d}" for s, d in reg.zeroed],
        }
    force = None
    if not args.no_force:
        force = force_fit(
            train,
            test,
            runs=args.force_runs,
            seed=args.seed,
            task_inputs=args.force_inputs == "task",
        )
        result["force"] = {
            "runs": args.force_runs,
            "inputs": args.force_inputs,
            "g": 1.5,
            "P0": 1.0,
            "cpu_s": force["cpu_s"],
            "pvar_test": force["pvar"],
            "pvar_train_all": force["pvar_train_all"],
            "strength": {f"{s}->{d}": v for (s, d), v in force["strength"].items()},
            "ranking": ranking(truth, force["strength"]),
        }
    (out / "results.json").write_text(json.dumps(result, indent=2, default=float))
    summary = {
        "seed": args.seed,
        "pvar": {k: round(v, 3) for k, v in scores.items()},
        "margin": result["fit"]["ranking"]["margin_min_present_over_max_absent"],
        "absent_below_present": result["fit"]["ranking"]["absent_below_present"],
        "spearman": round(result["fit"]["ranking"]["spearman_between"], 3),
        "cpu_fit": round(cpu_fit, 1),
        "cpu_force": None if force is None else round(force["cpu_s"], 1),
    }
    print("SUMMARY", json.dumps(summary), flush=True)
    if args.start == "regression":
        label = "mrnngraph regress" if args.steps == 0 else "regress + fit"
    else:
        label = "mrnngraph.fit"
    figures(out, model, test, truth, fitted, scores, force, label)
    print(
        json.dumps(
            {k: result[k] for k in result if k in ("fit", "regression", "force")},
            indent=1,
            default=float,
        )[:4000]
    )


def figures(out: Path, model, test, truth, fitted, scores, force, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrnngraph.analysis.fit_plots import plot_fit_traces, plot_pathway_currents, plot_pvar

    fig = plot_pathway_currents(model, test)
    fig.savefig(out / "fit_currents.png", dpi=90)
    plt.close(fig)
    fig = plot_fit_traces(model, test, trial=0, neurons=3)
    fig.savefig(out / "fit_traces.png", dpi=90)
    plt.close(fig)
    ax = plot_pvar(
        scores,
        reference=None if force is None else force["pvar"],
        labels=(label, "FORCE (CURBD)"),
    )
    ax.figure.savefig(out / "fit_pvar.png", dpi=90)
    plt.close(ax.figure)
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    t = np.array([truth.get(p, 0.0) for p in BETWEEN])
    for vals, name, marker in (
        (fitted, label, "o"),
        (None if force is None else force["strength"], "FORCE", "s"),
    ):
        if vals is None:
            continue
        f = np.array([vals[p] for p in BETWEEN])
        f = f / f.max()
        ax.scatter(t, f, marker=marker, label=name)
        for p, x, y in zip(BETWEEN, t, f, strict=True):
            ax.annotate(
                f"{p[0]}→{p[1]}", (x, y), textcoords="offset points", xytext=(5, -3), fontsize=7
            )
    ax.set_xlabel("true pathway strength (mean |current|)")
    ax.set_ylabel("fitted strength / its max")
    ax.set_title("between-region pathways: fitted vs true")
    ax.legend()
    fig.savefig(out / "fit_strengths.png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
