"""Train the packaged cortico-basal ganglia-thalamic loop on perceptual decision making.

The Python-API version of ``mrnngraph train`` (which does the same with figures):
build the circuit, train with a firing-rate regulariser, score a held-out batch per
coherence against an ideal observer, save the model and load it back.

    python examples/train_pdm.py                 # 500 steps, about 30 s on 2 CPU cores
    python examples/train_pdm.py --steps 50 --out /tmp/pdm
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import mrnngraph as mg
from mrnngraph.checkpoint import load_model, save_model
from mrnngraph.presets import cbgt_loop
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import RateL2, evaluate, predict, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("runs/example_pdm"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # small matrices: one thread is fastest on shared cores

    G = cbgt_loop()  # 3 input channels (fixation + 2 evidence), 3 outputs (fixate, 1, 2)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    task = PerceptualDecisionMaking(dt=model.dt)  # 100 / 800 / 200 / 200 ms epochs
    print(task)

    history = train(
        model,
        task,
        steps=args.steps,
        lr=3e-3,
        batch_size=64,
        seed=0,
        losses=[RateL2(1e-4, regions=["ctx_e", "ctx_i"])],
        eval_every=100,
        eval_batch_size=500,
    )
    print(
        f"trained {len(history)} steps in {history.seconds:.1f} s; "
        f"last held-out check: {history.evals[-1]['accuracy']:.3f}"
    )

    # A fresh batch never seen in training, scored per coherence.
    metrics = evaluate(model, task, batch_size=2000, seed=10_000)
    ideal = task.ideal_accuracy(list(task.coherences))
    print("coherence  network  ideal observer")
    for (c, row), best in zip(metrics["accuracy_by_coherence"].items(), ideal, strict=True):
        print(f"{c:>8}%  {row['accuracy']:7.3f}  {best:14.3f}")
    print(f"coherence >= 12.8%: {metrics['accuracy_coherence_ge_12.8']:.3f}")

    # Per-region activity on one trial, by region name.
    batch = task.batch(1, seed=3)
    out = predict(model, batch)
    for region in model.layout.regions:
        rate = float(model.region_activity(out.rates, region).mean())
        print(f"{region:>6}: mean rate {rate:.3f}")

    path = save_model(model, args.out / "pdm.pt", graph=G, metadata=metrics)
    again = load_model(path)
    with torch.no_grad():
        same = torch.equal(again(batch.inputs).outputs, model(batch.inputs).outputs)
    print(f"saved {path}; reloaded model gives identical outputs: {same}")


if __name__ == "__main__":
    main()
