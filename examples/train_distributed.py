"""Data-parallel training with torch.distributed: the same script alone or under torchrun.

Every process builds the same circuit (same seed), draws its own share of each
batch and DistributedDataParallel averages the gradients, so all processes hold
the same parameters after every step; rank 0 saves the model.

    python examples/train_distributed.py               # starts 2 CPU processes itself
    torchrun --nproc-per-node 2 examples/train_distributed.py
    torchrun --nproc-per-node 4 examples/train_distributed.py --device cuda   # nccl

The command-line equivalent is ``mrnngraph train --distributed``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

import mrnngraph as mg
from mrnngraph.checkpoint import save_model
from mrnngraph.presets import cbgt_loop
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import constraint_violations, distributed_env, evaluate, launch, train


def run(steps: int, device: str, out: Path) -> None:
    G = cbgt_loop()
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    task = PerceptualDecisionMaking(dt=model.dt)
    # batch_size is global: each of the W processes draws batch_size // W trials per step.
    history = train(
        model, task, steps=steps, lr=3e-3, batch_size=64, seed=0, device=device, distributed=True
    )
    rank = distributed_env()["rank"]
    if rank == 0:
        m = evaluate(model, task, batch_size=2000, seed=10_000)
        print(
            f"{len(history)} steps in {history.seconds:.1f} s; held-out accuracy "
            f"{m['accuracy']:.3f}, coherence >= 12.8%: {m['accuracy_coherence_ge_12.8']:.3f}; "
            f"constraint violations: {constraint_violations(model)}"
        )
        print(f"saved {save_model(model.cpu(), out / 'model.pt', graph=G)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--nproc", type=int, default=2, help="processes when not under torchrun")
    parser.add_argument("--out", type=Path, default=Path("runs/example_distributed"))
    args = parser.parse_args()
    if distributed_env() is not None:  # under torchrun
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        run(args.steps, args.device, args.out)
    else:
        launch(run, args.steps, args.device, args.out, nprocs=args.nproc)


if __name__ == "__main__":
    main()
