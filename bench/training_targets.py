"""Does training work with its defaults? The two targets of issue 12, measured per seed.

1. ``pdm``: neurogym ``PerceptualDecisionMaking-v0`` (dt 20 ms) through
   :func:`mrnngraph.tasks.from_neurogym`, a two-area 80/20 E/I circuit of 120 units
   (``presets.two_area_ei(size=60)``), 1,000 steps; scored on neurogym's own
   ``Dataset`` (time first, trials back to back): the fraction of decision-period
   steps (target != 0) whose argmax output is the target. Needs neurogym (not a
   dependency of mrnngraph: it pins numpy and matplotlib), e.g. in its own venv::

       python3 -m venv /tmp/ngym && /tmp/ngym/bin/pip install torch neurogym -e .
       /tmp/ngym/bin/python bench/training_targets.py --target pdm

2. ``hierarchy``: a three-area E/I hierarchy (per area an E node of 80 and an I node
   of 20 units grouped by ``parent``; sparse feedforward and feedback between E
   units; inputs into area 1, readout from area 3's E units; dt 10, tau 50, relu)
   on :class:`~mrnngraph.tasks.ContextDependentIntegration` (dt 10), 1,200 steps;
   held-out accuracy with fixation breaks counted as errors.

Every run uses ``train()``'s defaults except ``steps`` and ``seed`` (and what a
``--variant`` changes, for the ablation tables in docs/training.md). Results go to
``--json`` (default ``docs/data/training_targets.json``, merged by target, variant and
steps, and the seeds where they are not 0-4), one line per run on stdout. ``--jobs 2``
runs two seeds at a time, each in its own process (one torch thread each).

    python bench/training_targets.py --target hierarchy --seeds 0,1,2,3,4 --jobs 2
    python bench/training_targets.py --target hierarchy --variant free_readout --seeds 0
    python bench/training_targets.py --target hierarchy --seeds 1 --steps 300 --diagnose 50
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import networkx as nx
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder comes first on sys.path, and its profile.py would hide the
# standard library's (which torch imports).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import mrnngraph as mg  # noqa: E402
from mrnngraph.presets import two_area_ei  # noqa: E402
from mrnngraph.tasks import ContextDependentIntegration, from_neurogym  # noqa: E402
from mrnngraph.training import TrainingDiverged, evaluate, train  # noqa: E402

STEPS = {"pdm": 1000, "hierarchy": 1200}

#: The readout and learning rate before the defaults of session 22 (an unsigned readout,
#: "fixate" read out like every output, a constant lr): the variants measured before them
#: keep these, so their rows in docs/training.md reproduce.
_THEN_MODEL = {"readout_sign": False}
_THEN_TRAIN = {"fixation_from_bias": False, "lr_schedule": "constant"}


def _then(model_kw: dict, task_kw: dict, train_kw: dict) -> tuple[dict, dict, dict]:
    return {**_THEN_MODEL, **model_kw}, task_kw, {**_THEN_TRAIN, **train_kw}


#: name -> (model keyword arguments, task keyword arguments, train keyword arguments):
#: each changes one default, to show what that default buys. Those in ``_then(...)`` were
#: measured with the readout and lr of before session 22 and change one thing on top of it.
VARIANTS: dict[str, tuple[dict, dict, dict]] = {
    "defaults": ({}, {}, {}),
    "no_readout_bias": _then({"readout_bias": False}, {}, {}),
    # The readout as before: unsigned weights, "fixate" read out like every output.
    "free_readout": ({"readout_sign": False}, {}, {"fixation_from_bias": False}),
    "no_readout_sign": ({"readout_sign": False}, {}, {}),
    "no_fixation_from_bias": ({}, {}, {"fixation_from_bias": False}),
    "lr_constant": ({}, {}, {"lr_schedule": "constant"}),
    # The defaults before the readout and schedule defaults (session 22).
    "free_readout_lr_constant": _then({}, {}, {}),
    "lr_1e-3": _then({}, {}, {"lr": 1e-3}),
    "lr_3e-3": _then({}, {}, {"lr": 3e-3}),
    "no_clipping": _then({}, {}, {"clip_grad": None}),
    # No grace period (the loss counts the first 100 ms of the decision epoch).
    "grace_0": _then({}, {"grace": 0.0}, {}),
    # One trial per row (the stream default of from_neurogym off).
    "one_trial_per_row": _then({}, {"seq_len": None}, {}),
    "decision_weight_1": _then({}, {"decision_weight": 1.0}, {}),
    "decision_weight_3": _then({}, {"decision_weight": 3.0}, {}),
    "decision_weight_5": _then({}, {"decision_weight": 5.0}, {}),
    # The initial recurrent weights scaled to spectral radius 1.5 (Song, Yang & Wang 2016).
    "radius_1.5": _then({"spectral_radius": 1.5}, {}, {}),
    "radius_1.5_lr_3e-3": _then({"spectral_radius": 1.5}, {}, {"lr": 3e-3}),
    "radius_1.5_decision_weight_1": _then({"spectral_radius": 1.5}, {"decision_weight": 1.0}, {}),
    "radius_1.5_decision_weight_3": _then({"spectral_radius": 1.5}, {"decision_weight": 3.0}, {}),
    "radius_1.5_no_readout_bias": _then({"spectral_radius": 1.5, "readout_bias": False}, {}, {}),
    # Train on trials back to back (neurogym's Dataset layout): 2 trials per row, 32 rows.
    "streams": _then({}, {"seq_len": 220}, {"batch_size": 32}),
    "radius_1.5_streams": _then({"spectral_radius": 1.5}, {"seq_len": 220}, {"batch_size": 32}),
    "radius_1.5_streams_batch_64": _then({"spectral_radius": 1.5}, {"seq_len": 220}, {}),
    "radius_1.5_streams_330": _then({"spectral_radius": 1.5}, {"seq_len": 330}, {"batch_size": 32}),
    # State noise while training only (Yang et al. 2019's sigma_rec 0.05; the model's own
    # noise_std, 0, is restored before the held-out evaluation): silent relu units get a
    # gradient again (see docs/training.md, the hierarchy's failure modes).
    "train_noise_0.05": _then({}, {}, {"train_noise": 0.05}),
    "train_noise_0.05_decision_weight_5": _then(
        {}, {"decision_weight": 5.0}, {"train_noise": 0.05}
    ),
}


def hierarchy_graph() -> nx.DiGraph:
    """Three areas, each an E node (80) and an I node (20) under one ``parent``; E units
    project between areas (feedforward E->E 10 %, E->I 5 %, feedback E->E 5 %, as in
    Kleinman et al. 2021); input into area 1, readout from area 3's E units."""
    G = nx.DiGraph(name="three_area_hierarchy", dt=10.0, tau=50.0, activation="relu")
    G.add_node("stim", kind="input", size=5)
    for k in (1, 2, 3):
        G.add_node(f"a{k}_e", size=80, sign="exc", parent=f"a{k}")
        G.add_node(f"a{k}_i", size=20, sign="inh", parent=f"a{k}")
        for s in "ei":
            for d in "ei":
                G.add_edge(f"a{k}_{s}", f"a{k}_{d}", **({"autapses": False} if s == d else {}))
    G.add_edge("stim", "a1_e")
    G.add_edge("stim", "a1_i")
    for k in (1, 2):
        G.add_edge(f"a{k}_e", f"a{k + 1}_e", density=0.1, label="feedforward")
        G.add_edge(f"a{k}_e", f"a{k + 1}_i", density=0.05, label="feedforward")
        G.add_edge(f"a{k + 1}_e", f"a{k}_e", density=0.05, label="feedback")
    G.add_node("choice", kind="output", size=3)
    G.add_edge("a3_e", "choice")
    return G


def neurogym_decision_accuracy(
    model: torch.nn.Module,
    ngym: Any,
    seed: int,
    *,
    batches: int = 20,
    batch_size: int = 16,
    seq_len: int = 1000,
) -> dict[str, float]:
    """Scored on ``neurogym.Dataset``: decision-period steps whose argmax is the target."""
    env = ngym.make("PerceptualDecisionMaking-v0", dt=20)
    env.reset(seed=seed)
    data = ngym.Dataset(env, batch_size=batch_size, seq_len=seq_len)
    ok = n = 0
    with torch.no_grad():
        for _ in range(batches):
            x, y = data()  # (T, B, obs), (T, B): time first
            x = torch.from_numpy(x).float().transpose(0, 1)
            y = torch.from_numpy(y).long().transpose(0, 1)
            answer = model(x).outputs.argmax(-1)
            dec = y != 0
            ok += int((answer[dec] == y[dec]).sum())
            n += int(dec.sum())
    return {"decision_accuracy": ok / n, "decision_steps": n}


def _probe(features: torch.Tensor, target: torch.Tensor, n_fit: int) -> float:
    """Held-out accuracy of a ridge regression (penalty 1e-2) of ``target`` (+-1) on
    ``features``: fitted on the first ``n_fit`` trials, scored on the rest."""
    X = torch.cat([features, torch.ones(len(features), 1)], 1).double()
    y = target.double()
    A = X[:n_fit]
    w = torch.linalg.solve(A.T @ A + 1e-2 * torch.eye(A.shape[1], dtype=A.dtype), A.T @ y[:n_fit])
    return round(float(((X[n_fit:] @ w).sign() == y[n_fit:]).double().mean()), 2)


def hierarchy_diagnostics(model: Any, task: Any, n_trials: int = 768) -> dict[str, Any]:
    """Where a hierarchy run stands (``--diagnose``), on a probe batch of ``n_trials``
    (seed 5): per E region its mean rate, the fraction of units silent over the whole
    batch ("dead"), the units active at the last decision step and 15 steps into the
    decision epoch, and how well a linear probe (ridge, fitted on two thirds of the
    trials, scored on the rest) reads the choice from its rates at the last delay step
    and 15 steps into the decision epoch; the readout's mean probabilities (fixate /
    correct / wrong) at the first and the last decision step; held-out accuracy and
    fixation breaks (256 trials)."""
    batch = task.batch(n_trials, seed=5)
    with torch.no_grad():
        out = model(batch.inputs)
    dec = batch.trials["decision_mask"].bool()
    last = dec.shape[1] - 1 - dec.flip(1).float().argmax(1)  # last decision step per trial
    first = dec.float().argmax(1)
    rows = torch.arange(n_trials)
    choice = batch.trials["choice"]
    sign = (choice == 1).double() * 2 - 1
    n_fit = 2 * n_trials // 3
    areas = {}
    for region in model.layout.regions:
        if not region.endswith("_e"):
            continue
        r = out.rates[..., model.layout.slice(region)]
        r_dec = r[rows, (first + 15).clamp(max=r.shape[1] - 1)]
        areas[region] = {
            "rate": round(float(r.mean()), 3),
            "dead": round(float((r.amax((0, 1)) <= 0).float().mean()), 2),
            "active_at_decision": round(float((r[rows, last] > 0).float().sum(1).mean()), 1),
            "active_15_into_decision": round(float((r_dec > 0).float().sum(1).mean()), 1),
            "choice_probe_end_of_delay": _probe(r[rows, first - 1], sign, n_fit),
            "choice_probe_15_into_decision": _probe(r_dec, sign, n_fit),
        }
    p = out.outputs.softmax(-1)

    def probs(t: torch.Tensor) -> list[float]:
        q = p[rows, t]
        return [
            round(float(q[rows, k].mean()), 2)
            for k in (torch.zeros_like(choice), choice, 3 - choice)
        ]

    ev = evaluate(model, task, batch_size=256, seed=99)
    return {
        "accuracy": round(ev["accuracy"], 3),
        "fixation_breaks": round(ev.get("fixation_breaks", 0.0), 3),
        "p_first_decision_step": probs(first),
        "p_last_decision_step": probs(last),
        "areas": areas,
    }


def run(
    target: str, variant: str, seed: int, steps: int, diagnose: int | None = None
) -> dict[str, Any]:
    model_kw, task_kw, train_kw = VARIANTS[variant]
    if target == "pdm":
        import neurogym as ngym

        task = from_neurogym(ngym.make("PerceptualDecisionMaking-v0", dt=20), **task_kw)
        G = two_area_ei(size=60)
    else:
        task = ContextDependentIntegration(dt=10.0, **task_kw)
        G = hierarchy_graph()
    model = mg.MultiRegionRNN.from_graph(G, seed=seed, **model_kw)
    train_kw = dict(train_kw)
    noise = train_kw.pop("train_noise", None)
    if noise is not None:
        model.noise_std = noise  # for training only: set back before the evaluation
    diverged = None
    callbacks = []
    if diagnose:

        def report(step: int, history: Any, m: Any) -> None:
            if step % diagnose == 0:
                noise_std, m.noise_std = m.noise_std, 0.0
                info: dict[str, Any] = {"step": step}
                if history is not None:
                    info["loss"] = round(history.loss[-1], 4)
                    info["grad_norm"] = round(history.grad_norm[-1], 3)
                print(json.dumps({**info, **hierarchy_diagnostics(m, task)}), flush=True)
                m.noise_std = noise_std

        callbacks.append(report)
        report(0, None, model)  # where the run starts
    try:
        h = train(
            model, task, steps=steps, seed=seed, progress=False, callbacks=callbacks, **train_kw
        )
    except TrainingDiverged as e:  # a failed run is a result too (scored as left)
        h, diverged = e.history, str(e)
    if noise is not None:
        model.noise_std = 0.0
    row: dict[str, Any] = {
        "target": target,
        "variant": variant,
        "seed": seed,
        "steps": steps,
        "diverged": diverged,
        "train_seconds": round(h.seconds, 1),
        "health": [{k: e[k] for k in ("kind", "region", "step")} for e in h.health],
    }
    held_out = evaluate(model, task, batch_size=1000, seed=10_000 + seed)
    row["accuracy"] = held_out["accuracy"]
    row["fixation_breaks"] = held_out.get("fixation_breaks")
    if target == "pdm":
        row.update(neurogym_decision_accuracy(model, ngym, 20_000 + seed))
    return row


def _timed_run(job: tuple) -> dict[str, Any]:
    t = time.perf_counter()
    row = run(*job)
    row["wall_seconds"] = round(time.perf_counter() - t, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("pdm", "hierarchy"), required=True)
    parser.add_argument("--variant", default="defaults", choices=tuple(VARIANTS))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument(
        "--steps", type=int, default=None, help="default: 1,000 (pdm) or 1,200 (hierarchy)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="seeds run at once, each in its own process (spawned; --threads each)",
    )
    parser.add_argument(
        "--diagnose",
        type=int,
        default=None,
        metavar="N",
        help="hierarchy: every N steps print per-area rates, silent units and the readout's "
        "decision-step probabilities (a diagnostic run: nothing is written to --json)",
    )
    parser.add_argument(
        "--json", type=Path, default=ROOT / "docs" / "data" / "training_targets.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = args.steps or STEPS[args.target]
    if args.diagnose is not None and (args.target != "hierarchy" or args.diagnose < 1):
        parser.error("--diagnose N takes N >= 1 and --target hierarchy")
    if args.target == "pdm":
        try:
            import neurogym  # noqa: F401
        except ImportError:
            sys.exit("--target pdm needs neurogym (pip install neurogym in its own venv)")

    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(args.target, args.variant, seed, steps, args.diagnose) for seed in seeds]
    rows = []
    if args.jobs > 1 and len(seeds) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(
            min(args.jobs, len(seeds)),
            mp_context=mp.get_context("spawn"),
            initializer=torch.set_num_threads,
            initargs=(args.threads,),
        ) as pool:
            for row in pool.map(_timed_run, jobs):  # in seed order
                rows.append(row)
                print(json.dumps(row), flush=True)
    else:
        for job in jobs:
            rows.append(_timed_run(job))
            print(json.dumps(rows[-1]), flush=True)

    if args.diagnose:
        return
    data = json.loads(args.json.read_text()) if args.json.exists() else {"runs": {}}
    key = f"{args.target}/{args.variant}/{steps}"
    if seeds != [0, 1, 2, 3, 4]:  # other seeds: a record of their own
        key += f"/seeds {','.join(map(str, seeds))}"
    data["runs"][key] = {
        "command": " ".join(["python", "bench/training_targets.py", *sys.argv[1:]]),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        "torch_version": torch.__version__,
        "mrnngraph_version": mg.__version__,
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
