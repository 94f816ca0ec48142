"""Shared by the analyse_*.py examples: the default circuit, trained briefly, cached.

The CBGT loop (:func:`mrnngraph.presets.cbgt_loop`) learns perceptual decision
making (:class:`mrnngraph.tasks.PerceptualDecisionMaking`) for a few hundred
Adam steps with :func:`mrnngraph.training.train`. The trained model is cached in
``examples/out/analyse_cbgt.pt`` (a :func:`mrnngraph.checkpoint.save_model`
file) so each example runs in seconds after the first. The cache is used only
while it still matches: same compiled circuit (its
:func:`~mrnngraph.checkpoint.circuit_fingerprint`, so an edited preset or a
changed compiler retrains) and same training settings; otherwise the examples
retrain and overwrite it.

Torch runs single-threaded: the examples are small, and they should not crowd
other work on the machine.

Run alone to (re)train: python examples/analyse_setup.py
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)

from mrnngraph import GraphError, MultiRegionRNN  # noqa: E402
from mrnngraph.checkpoint import circuit_fingerprint, load_checkpoint, save_model  # noqa: E402
from mrnngraph.presets import cbgt_loop  # noqa: E402
from mrnngraph.tasks import PerceptualDecisionMaking  # noqa: E402
from mrnngraph.training import evaluate, train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples" / "out"
IMG = ROOT / "docs" / "img"
CACHE = OUT / "analyse_cbgt.pt"

# The training recipe, stated in full so that a change of a library default does not
# silently change the model the docs describe (docs/analysis.md quotes its numbers).
# Every entry is passed explicitly below and is part of the cache key.
SEED = 0
#: Model options (``MultiRegionRNN.from_graph(cbgt_loop(), seed=SEED, **MODEL)``).
MODEL = {"readout_bias": True, "noise_std": 0.0, "input_noise_std": 0.0}
#: Task options (``PerceptualDecisionMaking(**TASK)``). Shorter stimulus than the default
#: keeps the example quick; the delay makes the network hold its choice, which is what
#: the fixed-point pictures show; the first 100 ms of the decision weigh 0 in the loss.
TASK = {
    "dt": 20.0,
    "coherences": (0.0, 3.2, 6.4, 12.8, 25.6, 51.2),
    "sigma": 1.0,
    "fixation": 100.0,
    "stimulus": 500.0,
    "delay": 300.0,
    "decision": 200.0,
    "decision_weight": 1.0,
    "grace": 100.0,
}
#: Arguments of :func:`mrnngraph.training.train` (Adam, no regularisers).
TRAIN = {
    "steps": 400,
    "lr": 3e-3,
    "batch_size": 64,
    "seed": SEED,
    "clip_grad": 1.0,
    "init_readout_bias": True,
}
STEPS = TRAIN["steps"]


def task() -> PerceptualDecisionMaking:
    return PerceptualDecisionMaking(**TASK)


def _settings() -> dict:
    t = task()
    return {
        "task": repr(t),
        "task_options": {k: list(v) if isinstance(v, tuple) else v for k, v in TASK.items()},
        "coherences": list(t.coherences),
        "sigma": t.sigma,
        "decision_weight": t.decision_weight,
        "grace": t.grace,
        "model": dict(MODEL),
        "train": dict(TRAIN),
        "torch": torch.__version__,
    }


def _cached(model: MultiRegionRNN) -> MultiRegionRNN | None:
    """The cached trained model if it was trained from this very circuit and settings."""
    if not CACHE.exists():
        return None
    try:
        ckpt = load_checkpoint(CACHE)
    except (ValueError, GraphError, KeyError, RuntimeError) as err:
        warnings.warn(f"ignoring {CACHE.name} ({err}); retraining", stacklevel=2)
        return None
    same_circuit = circuit_fingerprint(ckpt.model.circuit) == circuit_fingerprint(model.circuit)
    if not same_circuit or ckpt.metadata.get("settings") != _settings():
        what = "a different circuit" if not same_circuit else "different training settings"
        warnings.warn(f"{CACHE.name} was trained with {what}; retraining", stacklevel=2)
        return None
    return ckpt.model


def trained_model(*, retrain: bool = False) -> MultiRegionRNN:
    """The CBGT loop trained on the task (from the cache when it still matches)."""
    G = cbgt_loop()
    model = MultiRegionRNN.from_graph(G, seed=SEED, **MODEL)
    if not retrain and (cached := _cached(model)) is not None:
        return cached
    history = train(model, task(), **TRAIN, progress=sys.stderr.isatty())
    save_model(
        model,
        CACHE,
        graph=G,
        metadata={
            "settings": _settings(),
            "seconds": history.seconds,
            "final_accuracy": history.accuracy[-1],
        },
    )
    print(
        f"trained {STEPS} steps in {history.seconds:.0f} s; final training accuracy "
        f"{history.accuracy[-1]:.2f}"
    )
    return model


if __name__ == "__main__":
    m = trained_model(retrain=True)
    print("held-out metrics:", evaluate(m, task(), batch_size=500))
