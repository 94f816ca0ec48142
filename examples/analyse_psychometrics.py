"""Psychometric curves of trained networks: choices against signed stimulus strength.

* Perceptual decision making: the trained default circuit of the other analysis
  examples (analyse_setup.py, cached), 2000 held-out trials: P(choice 1) against the
  signed coherence with the fitted lapse-bounded cumulative Gaussian, beside the
  accuracy by coherence (``task.psychometric``, ``mrnngraph.analysis.psychometric_figure``).
* Context-dependent integration (Mante et al. 2013): the same CBGT loop with five
  inputs, trained here for 400 steps as ``mrnngraph train --task cdi --steps 400``
  does; per context, P(choice 1) against the relevant and the irrelevant stimulus.

Run: python examples/analyse_psychometrics.py  ->  docs/img/psychometric_pdm.png,
docs/img/psychometric_cdi.png (about 1.5 minutes on one CPU thread, most of it
training the context network).
"""

import time
import warnings

import torch
from _figures import save
from analyse_setup import task, trained_model

import mrnngraph as mg
from mrnngraph.analysis import psychometric_figure
from mrnngraph.presets import cbgt_loop
from mrnngraph.tasks import ContextDependentIntegration
from mrnngraph.training import predict, train


def describe(curve) -> str:
    f = curve.fit
    return (
        f"P(choice 1) {' '.join(f'{p:.2f}' for p in curve.p_choice1)} at "
        f"{' '.join(f'{v:g}' for v in curve.levels)}; fit: bias {f.bias:+.3g} %, threshold "
        f"{f.threshold:.3g} %, lapses {f.lapse_low:.3f}/{f.lapse_high:.3f}"
        + (f", not pinned down: {', '.join(f.at_bound)}" if f.at_bound else "")
    )


# ------------------------------------------------------------------ perceptual decisions
model = trained_model()
t = task()
batch = t.batch(2000, seed=7)
out = predict(model, batch).outputs
start = time.perf_counter()
curve = t.psychometric(out, batch)
print(f"PDM ({time.perf_counter() - start:.2f} s): {describe(curve)}")
print(
    f"  answered {int(curve.n_answered.sum())} of {int(curve.n_trials.sum())} trials; "
    f"accuracy {t.accuracy(out, batch):.3f}"
)
save(psychometric_figure(t, batch, out), "psychometric_pdm", docs=True)

# ------------------------------------------------------------------ context-dependent
torch.manual_seed(0)
cdi = ContextDependentIntegration()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", mg.CircuitWarning)
    ctx_model = mg.MultiRegionRNN.from_graph(cbgt_loop(n_inputs=5, n_outputs=3), seed=0)
start = time.perf_counter()
history = train(ctx_model, cdi, steps=400, lr=1e-2, batch_size=64, seed=0, progress=False)
print(f"CDI trained: 400 steps in {time.perf_counter() - start:.0f} s")
batch = cdi.batch(2000, seed=7)
out = predict(ctx_model, batch).outputs
m = cdi.metrics(out, batch)
print(
    f"CDI held-out accuracy {m['accuracy']:.3f} (motion context "
    f"{m['accuracy_context_motion']:.3f}, color context {m['accuracy_context_color']:.3f})"
)
for (ctx, stim), c in cdi.psychometric(out, batch).items():
    role = "relevant" if c.relevant else "irrelevant"
    print(f"  {ctx} context, {stim} ({role}): {describe(c)}")
save(psychometric_figure(cdi, batch, out), "psychometric_cdi", docs=True)
