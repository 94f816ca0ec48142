"""Ensemble vs one model after another: forward+backward (and a training step) per step.

``N`` members of a 100-unit, 2-region circuit (``two_area_ei(size=50)``, one seed each)
are run as one :class:`mrnngraph.ensemble.Ensemble` and as ``N`` separate
:class:`mrnngraph.MultiRegionRNN` models on the same batch. Issue 17's target:
training them together takes <= 0.5x the time of training them one after another::

    python bench/ensemble.py                          # N = 4, 16, 64; 1 thread
    python bench/ensemble.py --members 16 --repeats 15 --threads 2
    python bench/ensemble.py --members 64 --pool-mb 4096   # 64 members' buffers pooled
    python bench/ensemble.py --quick                  # checks the script (seconds)
    python bench/ensemble.py --sparse-regions 8 --members 16 -B 16   # block-sparse?

``--sparse-regions R`` times the recurrence alone (``leaky_scan`` forward+backward on
leaf weights, T steps) of ``N`` members of an ``R``-region circuit whose regions
(``--region-size`` units each) project to themselves and to ``--inter`` other regions,
run as the ensemble runs it (one ``[N, H, H]`` ``bmm`` per step) and as one block-sparse
recurrence of ``N * H`` units (the members' declared blocks, stacked by shape: what a
block-sparse ensemble operator would run, built here as the block-diagonal circuit of
``N`` renamed copies).

Each row times, per optimizer step, ``fwd+bwd`` (zero the gradients, forward, MSE
loss, backward) and ``train`` (the same plus an Adam step). The two ways of one size
run round-robin (one call of each per round, after a warm-up), so the load drifts of
a shared machine weigh on both alike; the table gives medians, the ratio of the
medians, and the load average before and after. ``--json`` writes the raw timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# bench/profile.py would shadow the standard library's profile (torch.optim imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402
import torch  # noqa: E402

from mrnngraph import MultiRegionRNN, compile  # noqa: E402
from mrnngraph._ensemble_operator import EnsembleOperator  # noqa: E402
from mrnngraph._scan import OperatorWeights, leaky_scan  # noqa: E402
from mrnngraph._sparse import BlockSparse, block_coverage  # noqa: E402
from mrnngraph.ensemble import Ensemble  # noqa: E402
from mrnngraph.presets.examples import two_area_ei  # noqa: E402


def build(n: int, B: int, T: int):
    G = two_area_ei(size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        circuits = [compile(G, seed=s) for s in range(n)]
    models = [MultiRegionRNN(c) for c in circuits]
    ens = Ensemble.from_models(models)
    g = torch.Generator().manual_seed(0)
    u = torch.randn(B, T, ens.input_size, generator=g)
    target = torch.randn(B, T, ens.output_size, generator=g)
    return models, ens, u, target


def step_fns(models, ens, u, target) -> dict[str, dict[str, Callable[[], None]]]:
    opts = [torch.optim.Adam(m.parameters(), lr=1e-4) for m in models]
    ens_opt = torch.optim.Adam(ens.parameters(), lr=1e-4)

    def seq(train: bool) -> Callable[[], None]:
        def run() -> None:
            for m, opt in zip(models, opts, strict=True):
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(m(u).outputs, target)
                loss.backward()
                if train:
                    opt.step()

        return run

    def together(train: bool) -> Callable[[], None]:
        def run() -> None:
            ens_opt.zero_grad(set_to_none=True)
            out = ens(u).outputs
            # The sum of the members' losses: each member's gradient is its own loss's.
            loss = ((out - target) ** 2).mean((1, 2, 3)).sum()
            loss.backward()
            if train:
                ens_opt.step()

        return run

    return {
        "fwd+bwd": {"sequential": seq(False), "ensemble": together(False)},
        "train": {"sequential": seq(True), "ensemble": together(True)},
    }


def sparse_graph(regions: int, size: int, inter: int, copies: int = 1) -> nx.DiGraph:
    """``copies`` disjoint copies (regions ``m{k}_r{i}``) of an ``regions``-region circuit:
    region ``i`` projects to itself and to regions ``i + 1 .. i + inter`` (mod ``regions``)."""
    G = nx.DiGraph()
    for k in range(copies):
        G.add_node(f"m{k}_u", kind="input", size=2)
        G.add_node(f"m{k}_y", kind="output", size=2)
        for i in range(regions):
            G.add_node(f"m{k}_r{i}", size=size, exc_frac=0.8)
        G.add_edge(f"m{k}_u", f"m{k}_r0")
        G.add_edge(f"m{k}_r{regions - 1}", f"m{k}_y")
        for i in range(regions):
            G.add_edge(f"m{k}_r{i}", f"m{k}_r{i}", sparsity=0.5)
            for j in range(1, inter + 1):
                G.add_edge(f"m{k}_r{i}", f"m{k}_r{(i + j) % regions}", sparsity=0.2)
    return G


def whole_fns(n: int, B: int, T: int, regions: int, size: int, inter: int):
    """Forward+backward of the whole ensemble: ``Ensemble(sparse=False)`` against
    ``Ensemble(sparse=True)``, the members' own circuits (one seed each)."""
    G = sparse_graph(regions, size, inter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        circuits = [compile(G, seed=s) for s in range(n)]
    dense = Ensemble(circuits, sparse=False)
    sparse = Ensemble(circuits, sparse=True)
    sparse.load_state_dict(dense.state_dict())
    g = torch.Generator().manual_seed(0)
    u = torch.randn(B, T, dense.input_size, generator=g)
    target = torch.randn(n, B, T, dense.output_size, generator=g)

    def fn(ens: Ensemble) -> Callable[[], None]:
        def run() -> None:
            ens.zero_grad(set_to_none=True)
            ((ens(u).outputs - target) ** 2).mean((1, 2, 3)).sum().backward()

        return run

    with torch.no_grad():
        err = float((dense(u).outputs - sparse(u).outputs).abs().max())
    coverage = block_coverage(circuits[0])
    return {"ensemble (bmm)": fn(dense), "block-sparse": fn(sparse)}, coverage, err


def sparse_fns(n: int, B: int, T: int, regions: int, size: int, inter: int):
    """Forward+backward of the recurrence: the ensemble's bmm against block-sparse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        big = compile(sparse_graph(regions, size, inter, copies=n), seed=0)
    H = regions * size
    blocks = BlockSparse(big)
    original = blocks.initial_original(big)
    dense = blocks(original).detach()  # [N*H, N*H], block-diagonal
    stacked = torch.stack([dense[k * H : (k + 1) * H, k * H : (k + 1) * H] for k in range(n)])
    g = torch.Generator().manual_seed(0)
    drive = torch.randn(T, B, n * H, generator=g) * 0.1
    x0 = torch.zeros(B, n * H)
    alpha = torch.full((n * H,), 0.2)
    target = torch.randn(T, B, n * H, generator=g)
    w_dense = stacked.clone().requires_grad_()
    w_blocks = [w.detach().clone().requires_grad_() for w in blocks.effective(original)]
    op = blocks.operator()

    def run(weights) -> torch.Tensor:
        states = leaky_scan(weights, drive, x0, alpha, "relu")
        ((states - target) ** 2).mean().backward()
        return states

    def together() -> None:
        w_dense.grad = None
        run(OperatorWeights(EnsembleOperator(n, H), (w_dense,)))

    def sparse() -> None:
        for w in w_blocks:
            w.grad = None
        run(OperatorWeights(op, tuple(w_blocks)))

    # The same numbers both ways (float32 rounding).
    a = leaky_scan(OperatorWeights(EnsembleOperator(n, H), (stacked,)), drive, x0, alpha, "relu")
    b = leaky_scan(OperatorWeights(op, tuple(blocks.effective(original))), drive, x0, alpha, "relu")
    err = float((a - b).abs().max())
    return {"ensemble (bmm)": together, "block-sparse": sparse}, block_coverage(big) * n, err


def round_robin(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", default="4,16,64", help="comma-separated ensemble sizes")
    p.add_argument("-B", "--batch", default="64", help="comma-separated batch sizes")
    p.add_argument("-T", "--steps", type=int, default=75, help="time steps per trial")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--pool-mb",
        type=float,
        help="MRNNGRAPH_BUFFER_POOL_MB for this run (default: the environment's, else 256); "
        "the scan pools no buffer over a quarter of it, and an ensemble's (T, B, N*H) "
        "buffers outgrow the default at 64 members and B=64",
    )
    p.add_argument(
        "--sparse-regions",
        type=int,
        help="time the recurrence of R-region circuits, dense bmm against block-sparse",
    )
    p.add_argument("--region-size", default="32", help="comma-separated units per region")
    p.add_argument("--inter", type=int, default=2, help="other regions each region feeds")
    p.add_argument(
        "--whole",
        action="store_true",
        help="with --sparse-regions: time the whole Ensemble forward+backward, "
        "sparse=False against sparse=True, instead of the recurrence alone",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script")
    p.add_argument("--json", help="write the raw timings here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.pool_mb is not None:
        os.environ["MRNNGRAPH_BUFFER_POOL_MB"] = f"{args.pool_mb:g}"
    sizes = [int(n) for n in args.members.split(",")]
    batches = [int(b) for b in args.batch.split(",")]
    T, repeats = args.steps, args.repeats
    if args.quick:
        sizes, batches, T, repeats = [2], [4], 5, 2
    if args.sparse_regions is not None:
        return sparse_main(args, sizes, batches, T, repeats)
    print(
        f"# ensemble vs sequential, two_area_ei(size=50): H=100, T={T}, "
        f"threads={torch.get_num_threads()}, torch {torch.__version__}, "
        f"buffer pool {os.environ.get('MRNNGRAPH_BUFFER_POOL_MB', '256')} MiB, "
        f"median of {repeats} round-robin runs"
    )
    print("| members | B | what | sequential | ensemble | ratio | load before/after |")
    print("|---|---|---|---|---|---|---|")
    raw = []
    for n, B in ((n, B) for B in batches for n in sizes):
        models, ens, u, target = build(n, B, T)
        for what, fns in step_fns(models, ens, u, target).items():
            before = os.getloadavg()[0]
            times = round_robin(fns, repeats)
            after = os.getloadavg()[0]
            seq, tog = (statistics.median(times[k]) for k in ("sequential", "ensemble"))
            print(
                f"| {n} | {B} | {what} | {seq * 1e3:.1f} ms | {tog * 1e3:.1f} ms | "
                f"{tog / seq:.2f}x | {before:.2f} / {after:.2f} |"
            )
            raw.append({"members": n, "what": what, "B": B, "T": T, **times})
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


def sparse_main(args, sizes: list[int], batches: list[int], T: int, repeats: int) -> int:
    R, inter = args.sparse_regions, args.inter
    region_sizes = [int(x) for x in args.region_size.split(",")]
    if args.quick:
        region_sizes = [4]
    what = "whole ensemble (fwd+bwd)" if args.whole else "recurrence only (leaky_scan fwd+bwd)"
    print(
        f"# {what}, {R} regions, each feeding itself and "
        f"{inter} others: T={T}, threads={torch.get_num_threads()}, torch "
        f"{torch.__version__}, median of {repeats} round-robin runs"
    )
    print(
        "| members | B | H | coverage | ensemble (bmm) | block-sparse | ratio | max diff | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    raw = []
    for n, B, S in ((n, B, S) for S in region_sizes for B in batches for n in sizes):
        fns, coverage, err = (whole_fns if args.whole else sparse_fns)(n, B, T, R, S, inter)
        before = os.getloadavg()[0]
        times = round_robin(fns, repeats)
        after = os.getloadavg()[0]
        dense, sparse = (statistics.median(times[k]) for k in fns)
        print(
            f"| {n} | {B} | {R * S} | {coverage:.2f} | {dense * 1e3:.1f} ms | "
            f"{sparse * 1e3:.1f} ms | {sparse / dense:.2f}x | {err:.1e} | "
            f"{before:.2f} / {after:.2f} |"
        )
        raw.append({"members": n, "B": B, "H": R * S, "T": T, **times})
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
