"""Cost of conduction delays: forward+backward of a circuit with delays against the same
circuit without (target <= 1.2x).

    python bench/delays.py                       # 400 units, 4 regions, T=200, B=64
    python bench/delays.py --units 400 --regions 4 -T 200 -B 64 --repeats 15 --threads 1
    python bench/delays.py --quick               # small sizes, checks the script

The circuit is ``bench/graphs.py``'s (equal mixed E/I regions, every region to itself,
``--pairs`` of the ordered region pairs connected, density 0.5). The regions sit on a
line ``--spacing`` ms of conduction apart: the edge ``i -> j`` gets the delay
``spacing * |i - j|`` (self edges none), the input reaches each region after
``spacing * i`` and the readout reads the last region ``spacing`` ms late, so the delayed
circuit uses every path (recurrent, input, readout) with several distinct delays. Both
circuits have the same seed, so they differ only in ``delay``.

Cases run round-robin (one call of each per round) so that the load of the shared
machine weighs on each alike; the report is the median over rounds of each case and the
median of the per-round ratios, with the load average.

Measured 2026-11-30 (2-core shared CPU, 1 thread, load average ~1-2 while it ran;
other sessions were running on the machine):

=====================================  ================  =================
case                                   dense (delays /   block-sparse
                                       no delays)
=====================================  ================  =================
400 units, 4 regions, 60 % pairs,      1.18x             1.06x
T=200, B=64 (the defaults, -r 15)      (253 / 214 ms)    (223 / 209 ms)
same, every pair connected             1.28x             1.00x
same, 30 ms spacing (0-9 steps)        1.23x             1.13x
400 units, 8 regions, 30 %, B=32       1.42x             1.09x
4096 units, 16 regions, 30 %,          0.90x             1.07x
T=50, B=16
=====================================  ================  =================

Per step the delayed loops do the flops of the circuit without delays; what costs more
at 400 units is one gather per step and a batched matmul of smaller blocks instead of
one ``mm`` (18-35 % slower at these sizes, equal at 4096), and the weight gradient as
two GEMMs per block of equal delay. At 4096 units the dense weight gradient is formed on
the declared blocks only, which is why it beats the full ``[H, H]`` GEMM.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402
from graphs import region_graph  # noqa: E402

from mrnngraph import MultiRegionRNN  # noqa: E402


def delayed(G, spacing: float):
    """A copy of ``G`` with distance-derived delays (regions ``r0, r1, ...`` on a line)."""
    H = G.copy()
    index = {
        n: int(n[1:]) for n, k in G.nodes(data="kind", default="recurrent") if k == "recurrent"
    }
    last = max(index.values())
    for src, dst, data in H.edges(data=True):
        if src in index and dst in index:
            data["delay"] = spacing * abs(index[src] - index[dst])
        elif dst in index:  # input -> region
            data["delay"] = spacing * index[dst]
        elif index.get(src) == last:  # the last region -> readout
            data["delay"] = spacing
    return H


def step(model, u):
    model.zero_grad(set_to_none=True)
    out = model(u)
    out.outputs.square().mean().backward()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", type=int, default=400)
    p.add_argument("--regions", type=int, default=4)
    p.add_argument("-T", type=int, default=200)
    p.add_argument("-B", type=int, default=64)
    p.add_argument("--pairs", type=float, default=0.6, help="fraction of region pairs")
    p.add_argument("--spacing", type=float, default=10.0, help="ms between neighbours")
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.units, args.T, args.B, args.repeats = 64, 20, 8, 3
    torch.set_num_threads(args.threads)
    G, _ = region_graph(args.units, args.regions, pair_fraction=args.pairs, seed=0)
    Gd = delayed(G, args.spacing)
    u = torch.rand(args.B, args.T, 4, generator=torch.Generator().manual_seed(0))
    cases = {}
    for sparse in (False, True):
        for name, graph in (("no delays", G), ("delays", Gd)):
            m = MultiRegionRNN.from_graph(graph, seed=0, sparse=sparse)
            cases[(sparse, name)] = m
    steps = sorted({v for m in cases.values() if m._delays for v in m._delays.steps.values()})
    print(
        f"{args.units} units, {args.regions} regions, T={args.T}, B={args.B}, "
        f"{G.number_of_edges()} edges, delays in steps {steps}, threads={args.threads}"
    )
    times: dict = {k: [] for k in cases}
    for m in cases.values():  # warm-up
        step(m, u)
    for _ in range(args.repeats):
        for k, m in cases.items():
            t = time.perf_counter()
            step(m, u)
            times[k].append(time.perf_counter() - t)
    load = os.getloadavg()[0]
    for sparse in (False, True):
        base, dl = times[(sparse, "no delays")], times[(sparse, "delays")]
        ratio = statistics.median(d / b for d, b in zip(dl, base, strict=True))
        print(
            f"{'block-sparse' if sparse else 'dense':12s} fwd+bwd: no delays "
            f"{statistics.median(base) * 1e3:7.1f} ms (min {min(base) * 1e3:.1f}), delays "
            f"{statistics.median(dl) * 1e3:7.1f} ms (min {min(dl) * 1e3:.1f}); "
            f"ratio {ratio:.2f}x (of minima {min(dl) / min(base):.2f}x)"
        )
    print(f"load average (1 min) at the end: {load:.2f}")


if __name__ == "__main__":
    main()
