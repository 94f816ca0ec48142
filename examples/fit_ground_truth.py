"""Fit a circuit to simulated recordings of three regions and ask which region drives which.

A "brain" of three regions (a -> b -> c -> a, strong to weak; no b -> a, c -> b, a -> c)
is simulated and recorded in pseudo-Hz. We declare a circuit with every ordered pair
of regions, fit it to the training trials, and on held-out trials report the variance
explained (pVar) and the strength of every pathway.

    python examples/fit_ground_truth.py            # about a minute on one CPU core
"""

from __future__ import annotations

import warnings

import mrnngraph as mg
from mrnngraph.analysis.pathways import pathway_strength
from mrnngraph.fitting import PathwaySparsity, fit, pvar
from mrnngraph.presets.ground_truth import (
    ABSENT_PATHWAYS,
    TRUE_PATHWAYS,
    fitting_graph,
    simulate_ground_truth,
)


def main(size: int = 30, steps: int = 600) -> None:
    warnings.simplefilter("ignore", mg.CircuitWarning)  # no output nodes: expected here
    data = simulate_ground_truth(size=size, n_trials=36, n_steps=150, seed=0)
    rec = data["recording"]  # a Recording: rates[region] is (trials, T, neurons), in Hz
    print(rec)
    train, test = rec.split(0.25, seed=0, stratify="condition")

    G = fitting_graph(size)  # every pair of regions declared; the data must decide
    model = mg.MultiRegionRNN.from_graph(G, seed=1)
    history = fit(
        model,
        train,
        steps=steps,
        lr=2e-2,
        batch_size=27,
        seed=0,
        # one-step pieces tie each pathway to what its source did in the data; the
        # group lasso's proximal step switches off the pathways the data do not need
        forcing=1,
        losses=[PathwaySparsity(5.0)],
        validation=test,
        progress=False,
    )
    print(f"fitted in {history.seconds:.0f} s")
    scores = pvar(model, test)
    print("held-out pVar:", {k: round(v, 3) for k, v in scores.items()})

    strength = pathway_strength(model, test)
    print("between-region pathways (mean |current| on held-out trials):")
    for (src, dst), v in sorted(strength.items(), key=lambda kv: -kv[1]):
        if src == dst:
            continue
        truth = (
            "present"
            if (src, dst) in TRUE_PATHWAYS
            else "ABSENT"
            if (src, dst) in ABSENT_PATHWAYS
            else "?"
        )
        print(f"  {src} -> {dst}: {v:.3f}   ({truth} in the simulated network)")


if __name__ == "__main__":
    main()
