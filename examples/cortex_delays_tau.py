"""A cortical hierarchy with distance-derived conduction delays and learned time constants.

Four areas lie on a line, as along the visual-to-prefrontal axis (positions in mm). Each
projection between two areas is delayed by the distance between them over a conduction
speed, rounded to the time step (Joglekar et al. 2018 derive inter-areal delays the same
way from macaque distances); local recurrence has none. Every area starts with the same
time constant, dt (alpha = 1, on the lower bound), and learns its own per-unit values
(``learn_tau=True``), bounded to [dt, 2 s]. The network is trained briefly on perceptual
decision making (evidence into the first area, the choice read from the last), next to
the same circuit with every time constant fixed, and the script shows which time
constants each area learned.

    python examples/cortex_delays_tau.py              # 800 steps twice, about 2 min on 2 cores
    python examples/cortex_delays_tau.py --steps 50 --no-control --out /tmp/cortex

Writes under --out (default examples/out/cortex_delays_tau/):
  architecture.png   the circuit drawn (delays on the arrows)
  learned_tau.png    per-unit time constants by area, at the start and after training
  training.png       loss and held-out accuracy, learned vs fixed time constants
  trained.yaml       the graph with the learned tau written in (model.to_graph)
  model.pt           the checkpoint (mg.save_model), loaded back and checked
With --docs the three figures also go to docs/img/cortex_delays_tau_*.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import torch  # noqa: E402

import mrnngraph as mg  # noqa: E402
from mrnngraph.tasks import PerceptualDecisionMaking  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "cortex_delays_tau"

#: Area, position along the axis (mm), units.
AREAS = [("V1", 0.0, 40), ("MT", 20.0, 40), ("LIP", 60.0, 40), ("PFC", 100.0, 40)]
DT = 20.0  # ms
SPEED = 1.0  # conduction speed, mm/ms (= m/s)
TAU0 = 20.0  # every area's starting time constant (ms): dt, the lower bound
TAU_MAX = 2000.0


def delay_ms(a: float, b: float) -> float:
    """Distance over speed, rounded to a whole number of steps of DT."""
    return round(abs(a - b) / SPEED / DT) * DT


def cortex() -> nx.DiGraph:
    G = nx.DiGraph(name="cortex_delays_tau", dt=DT, tau=TAU0)
    # pos: drawn at the area's place along the axis (LIP set off it, so that the MT -> PFC
    # skip is not drawn through it).
    G.add_node("evidence", kind="input", size=3, pos=(-35.0, 0.0))  # fixation + 2 evidence
    for name, pos, size in AREAS:
        y = -25.0 if name == "LIP" else 0.0
        G.add_node(
            name, size=size, exc_frac=0.8, learn_tau=True, tau_max=TAU_MAX, pos=(2.0 * pos, y)
        )
        G.add_edge(name, name, density=0.5, autapses=False)
    G.add_node(
        "choice", kind="output", size=3, pos=(2.0 * AREAS[-1][1] + 35.0, 0.0)
    )  # fixate, choice 1 or 2
    G.add_edge("evidence", AREAS[0][0], density=0.5)
    for (a, pa, _), (b, pb, _) in zip(AREAS, AREAS[1:], strict=False):
        d = delay_ms(pa, pb)
        G.add_edge(a, b, density=0.3, ei=["EE", "EI"], delay=d)  # feedforward
        G.add_edge(b, a, density=0.15, ei=["EI"], delay=d)  # feedback onto inhibition
    G.add_edge("MT", "PFC", density=0.1, ei=["EE"], delay=delay_ms(20.0, 100.0))  # a skip
    G.add_edge(AREAS[-1][0], "choice", ei=["E"])
    return G


def plot_tau(after: dict) -> plt.Figure:
    names = list(after)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    gen = torch.Generator().manual_seed(0)
    for i, n in enumerate(names):
        jitter = (torch.rand(len(after[n]), generator=gen) - 0.5) * 0.35
        ax.scatter(i + jitter, after[n], s=9, color="C0", alpha=0.6, lw=0)
        ax.plot([i - 0.3, i + 0.3], [float(after[n].median())] * 2, color="C0", lw=2)
    ax.set_yscale("log")
    ticks = [t for t in (DT, 50, 100, 200, 500, 1000, 2000) if t <= TAU_MAX]
    ax.set_yticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(range(len(names)), [f"{n}\n({p:g} mm)" for n, p, _ in AREAS])
    ax.set_ylabel("time constant (ms)")
    ax.axhline(DT, color="0.7", lw=0.8)
    start = " and every unit's start" if TAU0 == DT else f"; start {TAU0:g} ms"
    ax.text(-0.45, DT * 0.97, f"dt = {DT:g} ms: lower bound{start}", va="top", fontsize=8)
    ax.set_ylim(bottom=DT * 0.8)
    ax.set_title("Time constants per unit after training (dots; line: median)", fontsize=10)
    return fig


def plot_training(runs: dict) -> plt.Figure:
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
    for (label, history), color in zip(runs.items(), ("C0", "0.5"), strict=False):
        a.plot(history.step, history.loss, lw=0.7, color=color, label=label)
        steps = [e["step"] for e in history.evals]
        b.plot(steps, [e["accuracy"] for e in history.evals], marker="o", color=color, label=label)
    a.set_xlabel("step")
    a.set_ylabel("training loss")
    a.set_yscale("log")
    b.set_xlabel("step")
    b.set_ylabel("held-out accuracy")
    b.set_ylim(0, 1)
    b.legend(loc="lower right", fontsize=8)
    return fig


def write(fig: plt.Figure, out: Path, name: str, docs: bool) -> None:
    fig.savefig(out / f"{name}.png", dpi=150)
    if docs:  # the docs' small palette PNGs (examples/_figures.py)
        from _figures import save

        save(fig, f"cortex_delays_tau_{name}", docs=True)
    plt.close(fig)


def fit(model: mg.MultiRegionRNN, task, steps: int, tau_lr: float, eval_trials: int):
    """Adam at lr 1e-2 on the weights; the raw time constants (log tau, one per learned
    unit) in their own group, where ``tau_lr`` is about the relative change per step."""
    groups = [{"params": [], "lr": 1e-2}]
    for name, p in model.named_parameters():
        if name == "parametrizations.alpha.original":
            groups.append({"params": [p], "lr": tau_lr})
        else:
            groups[0]["params"].append(p)
    return mg.train(
        model,
        task,
        steps=steps,
        batch_size=32,
        seed=0,
        optimizer=torch.optim.Adam(groups),
        eval_every=max(steps // 4, 1),
        eval_batch_size=eval_trials,
        progress=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--tau-lr", type=float, default=0.05)
    parser.add_argument("--eval-trials", type=int, default=256)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--docs", action="store_true", help="also write small PNGs to docs/img")
    parser.add_argument(
        "--no-control", action="store_true", help="skip the same circuit with fixed tau"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # small matrices: one thread is fastest on shared cores
    args.out.mkdir(parents=True, exist_ok=True)

    G = cortex()
    for a, b, d in G.edges(data="delay"):
        if d:
            print(f"{a:>3} -> {b:<3} delay {d:g} ms")
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    task = PerceptualDecisionMaking(dt=DT)  # 100 / 800 / 200 / 200 ms epochs

    write(mg.draw(G).figure, args.out, "architecture", args.docs)

    before = model.time_constants()
    t0 = time.perf_counter()
    runs = {"learned tau": fit(model, task, args.steps, args.tau_lr, args.eval_trials)}
    print(
        f"learned tau: {args.steps} steps in {time.perf_counter() - t0:.0f} s, held-out "
        f"accuracy by check: {[round(e['accuracy'], 3) for e in runs['learned tau'].evals]}"
    )
    if not args.no_control:  # the same circuit, seed and batches, every tau fixed at TAU0
        H = G.copy()
        for n in H:
            for k in ("learn_tau", "tau_max"):
                H.nodes[n].pop(k, None)
        fixed = mg.MultiRegionRNN.from_graph(H, seed=0)
        runs[f"fixed tau = {TAU0:g} ms"] = fit(
            fixed, task, args.steps, args.tau_lr, args.eval_trials
        )
        accs = [round(e["accuracy"], 3) for e in runs[f"fixed tau = {TAU0:g} ms"].evals]
        print(f"fixed tau:   held-out accuracy by check: {accs} (one seed)")
    after = model.time_constants()
    for n, t in after.items():
        print(
            f"{n:>3}: tau {float(t.median()):6.1f} ms median, [{float(t.min()):.1f}, "
            f"{float(t.max()):.1f}] (started at {float(before[n].median()):.0f})"
        )
    print(mg.report(model))
    write(plot_tau(after), args.out, "learned_tau", args.docs)
    write(plot_training(runs), args.out, "training", args.docs)

    trained = model.to_graph(G)
    mg.save(trained, args.out / "trained.yaml")
    again = mg.MultiRegionRNN.from_graph(mg.load(args.out / "trained.yaml"), seed=0)
    same_tau = torch.allclose(again.alpha.detach(), model.alpha.detach(), rtol=1e-6)
    path = mg.save_model(model, args.out / "model.pt", graph=G)
    loaded = mg.load_model(path)
    with torch.no_grad():
        x = task.batch(4, seed=1).inputs
        same_out = torch.equal(loaded(x).outputs, model(x).outputs)
    print(
        f"trained.yaml gives the learned alpha again: {same_tau}; "
        f"model.pt reloads with identical outputs: {same_out}"
    )
    for f in sorted(args.out.iterdir()):
        print("wrote", f)


if __name__ == "__main__":
    main()
