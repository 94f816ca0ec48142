"""Shared by the analyse_*.py examples: the default circuit, trained briefly, cached.

The CBGT loop (:func:`mrnngraph.presets.cbgt_loop`) learns perceptual decision
making (:class:`mrnngraph.tasks.PerceptualDecisionMaking`) for a few hundred
Adam steps with :func:`mrnngraph.train.train`. The trained weights are cached in
``examples/out/analyse_cbgt.pt`` so each example runs in seconds after the first.

Run alone to (re)train: python examples/analyse_setup.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")

from mrnngraph import MultiRegionRNN  # noqa: E402
from mrnngraph.presets import cbgt_loop  # noqa: E402
from mrnngraph.tasks import PerceptualDecisionMaking  # noqa: E402
from mrnngraph.train import evaluate, train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples" / "out"
IMG = ROOT / "docs" / "img"
CACHE = OUT / "analyse_cbgt.pt"
STEPS = 400
SEED = 0


def task() -> PerceptualDecisionMaking:
    # Shorter stimulus than the default keeps the example quick; the delay makes the
    # network hold its choice, which is what the fixed-point pictures show.
    return PerceptualDecisionMaking(dt=20.0, stimulus=500.0, delay=300.0)


def trained_model(*, retrain: bool = False) -> MultiRegionRNN:
    """The CBGT loop trained on the task (from the cache when it exists)."""
    model = MultiRegionRNN.from_graph(cbgt_loop(), seed=SEED)
    if CACHE.exists() and not retrain:
        model.load_state_dict(torch.load(CACHE, weights_only=True))
        return model
    history = train(model, task(), steps=STEPS, lr=3e-3, batch_size=64, seed=SEED,
                    progress=sys.stderr.isatty())
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = CACHE.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(CACHE)
    print(f"trained {STEPS} steps in {history.seconds:.0f} s; final training accuracy "
          f"{history.accuracy[-1]:.2f}")
    return model


if __name__ == "__main__":
    m = trained_model(retrain=True)
    print("held-out metrics:", evaluate(m, task(), batch_size=500))
