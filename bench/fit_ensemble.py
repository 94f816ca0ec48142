"""Fitting N members as one :class:`mrnngraph.Ensemble` against fitting them one after
another, on the ground-truth recording of ``mrnngraph.presets.ground_truth``.

CPU time of the process (``time.process_time``, one torch thread), the minimum over
interleaved repeats, since wall-clock time on a shared machine swings several-fold::

    python bench/fit_ensemble.py --members 4,8,16 --size 30 --steps 100 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

# bench/ holds a profile.py of its own: keep it from shadowing the standard library's.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import torch  # noqa: E402

import mrnngraph as mg  # noqa: E402
from mrnngraph.fitting import PathwaySparsity, fit  # noqa: E402
from mrnngraph.presets.ground_truth import fitting_graph, simulate_ground_truth  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="4,8,16")
    parser.add_argument("--size", type=int, default=30, help="units per region (3 regions)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    rec = simulate_ground_truth(size=args.size, n_trials=16, n_steps=60, seed=0)["recording"]
    kw = dict(
        steps=args.steps,
        batch_size=8,
        forcing=5,
        progress=False,
        seed=0,
        losses=[PathwaySparsity(5.0)],
    )
    for n in (int(m) for m in args.members.split(",")):

        def models(n: int = n) -> list[mg.MultiRegionRNN]:
            G = fitting_graph(args.size)
            return [mg.MultiRegionRNN.from_graph(G, seed=s + 1) for s in range(n)]

        fit(mg.Ensemble.from_models(models()), rec, **{**kw, "steps": 2})  # warm-up
        together, alone = [], []
        for _ in range(args.repeats):
            ens = mg.Ensemble.from_models(models())
            t = time.process_time()
            fit(ens, rec, **kw)
            together.append(time.process_time() - t)
            singles = models()
            t = time.process_time()
            for m in singles:
                fit(m, rec, **kw)
            alone.append(time.process_time() - t)
        a, b = min(together), min(alone)
        print(
            f"{n} members of 3x{args.size} units, {args.steps} steps, "
            f"{torch.get_num_threads()} thread(s): together {a:.1f} s, one after another "
            f"{b:.1f} s (CPU, min of {args.repeats}), ratio {a / b:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
