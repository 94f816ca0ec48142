"""Context-dependent integration (Mante, Sussillo et al. 2013) in the CBGT loop.

Trains the packaged loop (with 5 input channels: fixation, motion, color and two
context cues) and draws the classic figure: the probability of choice 1 against
the motion coherence and against the color coherence, in each context. A network
that integrates only the relevant stream gives steep curves for the relevant
stream and flat ones for the irrelevant one.

    python examples/train_context.py                  # 600 steps, about 40 s on 2 CPU cores
    python examples/train_context.py --steps 50 --out /tmp/ctx
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import mrnngraph as mg  # noqa: E402
from mrnngraph.presets import cbgt_loop  # noqa: E402
from mrnngraph.tasks import ContextDependentIntegration  # noqa: E402
from mrnngraph.training import predict, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("runs/example_context"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    task = ContextDependentIntegration()
    G = cbgt_loop(n_inputs=task.input_size, n_outputs=task.output_size)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    history = train(model, task, steps=args.steps, lr=3e-3, batch_size=64, seed=0)
    print(f"trained {len(history)} steps in {history.seconds:.1f} s")

    batch = task.batch(4000, seed=10_000)
    outputs = predict(model, batch).outputs
    m = task.metrics(outputs, batch)
    print(
        f"held-out accuracy {m['accuracy']:.3f} (motion context "
        f"{m['accuracy_context_motion']:.3f}, color context {m['accuracy_context_color']:.3f})"
    )

    dec = batch.trials["decision_mask"]
    mean = (outputs * dec[..., None]).sum(1) / dec.sum(1, keepdim=True)
    chose1 = (mean.argmax(-1) == 1).float()
    fig = Figure(figsize=(8.0, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, stream in zip(axes, ("motion", "color"), strict=True):
        coh = batch.trials[f"{stream}_coherence"]
        levels = sorted(set(coh.tolist()))
        for ctx, name, style in ((0, "motion context", "o-"), (1, "color context", "s--")):
            sel = batch.trials["context"] == ctx
            p = [float(chose1[sel & (coh == c)].mean()) for c in levels]
            ax.plot(levels, p, style, label=name)
        ax.set_xlabel(f"{stream} coherence (%)")
        ax.set_title(f"choice vs {stream}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("P(choice 1)")
    axes[0].legend(frameon=False)
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "context_psychometric.png", dpi=120)
    print(f"wrote {args.out / 'context_psychometric.png'}")


if __name__ == "__main__":
    main()
