"""Where the time of one training trial goes: torch.profiler tables per operator.

    python bench/profile.py --units 4096 --regions 16 -T 50 -B 16 --scan autograd
    python bench/profile.py --units 4096 --regions 16 -T 50 -B 16 --scan fused --sparse 0
    python bench/profile.py --units 16384 --regions 64 --pairs 0.08 -T 20 -B 16 --sparse 1

Prints the operators sorted by self CPU time for one forward+backward pass
(after a warm-up) of MultiRegionRNN on the benchmark circuit (``--bare`` profiles
the bare eager loop instead). Findings are recorded in ``bench/NOTES.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402
from baselines import bare_loop_case, mrnngraph_case  # noqa: E402
from graphs import region_graph  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from mrnngraph import MultiRegionRNN, compile  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=4096)
    p.add_argument("--regions", type=int, default=16)
    p.add_argument("--pairs", type=float, default=0.3, help="fraction of region pairs")
    p.add_argument("-T", type=int, default=50)
    p.add_argument("-B", type=int, default=16)
    p.add_argument("--scan", default="auto", choices=["auto", "fused", "autograd"])
    p.add_argument("--sparse", type=int, choices=[0, 1], default=None)
    p.add_argument("--bare", action="store_true", help="profile the bare eager loop")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rows", type=int, default=15)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    G, _ = region_graph(args.units, args.regions, pair_fraction=args.pairs)
    circuit = compile(G, seed=0)
    sparse = None if args.sparse is None else bool(args.sparse)
    model = MultiRegionRNN(circuit, scan=args.scan, sparse=sparse)
    u = torch.randn(args.B, args.T, circuit.layout.input_size)
    case = bare_loop_case(model, u) if args.bare else mrnngraph_case(model, u)

    def step() -> None:
        case.zero_grad()
        case.loss().backward()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    what = (
        "bare eager loop"
        if args.bare
        else f"MultiRegionRNN(scan={args.scan!r}, sparse={model.sparse})"
    )
    print(
        f"{what}: {args.units} units, {args.regions} regions, T={args.T}, B={args.B}, "
        f"{args.threads} thread(s)"
    )
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
