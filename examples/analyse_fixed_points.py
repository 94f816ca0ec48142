"""Fixed points and the flow field of the trained circuit during the delay.

Trains the default circuit briefly (see analyse_setup.py), then, with the input
of the delay epoch held constant (fixation on, no evidence):

* finds the fixed points of the update map from states visited during the delay
  (mrnngraph.analysis.find_fixed_points, Levenberg-Marquardt on F(x) - x); the
  minima of q that are not zero (slow points) are drawn apart from the fixed points;
* draws the velocity field on the plane of the first two principal components of
  cortical activity, with single trials coloured by the correct choice, from
  stimulus onset to the go cue (mrnngraph.analysis.flow_field);
* draws the eigenvalues of the Jacobian at the fixed point with the unit circle;
* checks what the picture predicts: lengthening the delay, how long is the choice kept?

Run: python examples/analyse_fixed_points.py  ->  docs/img/analysis_flow.png
"""

import dataclasses

import matplotlib.pyplot as plt
import torch
from analyse_setup import IMG, task, trained_model

from mrnngraph.analysis import (
    find_fixed_points,
    flow_field,
    plot_flow_field,
    plot_spectrum,
    sample_states,
)
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.train import evaluate

model = trained_model()
t = task()
batch = t.batch(64, seed=1)
with torch.no_grad():
    out = model(batch.inputs)
stimulus = round(100 / t.dt)
delay = slice(round(600 / t.dt), round(900 / t.dt))
delay_input = batch.inputs[0, delay.start]  # fixation 1, evidence 0
print("delay input:", delay_input.tolist())

g = torch.Generator().manual_seed(0)
init = sample_states(out.states[:, delay], 48, noise=0.5, generator=g)
fps = find_fixed_points(model, delay_input, init)
print(fps)
for q, st, ev in zip(fps.q, fps.stable, fps.eigenvalues, strict=True):
    print(f"  q = {float(q):.1e}, stable = {bool(st)}, largest |eigenvalue| = "
          f"{float(ev.abs().max()):.3f} (time constant "
          f"{model.dt / abs(1 - float(ev.abs().max())):.0f} ms)")
conv = fps.converged
fixed = dataclasses.replace(fps, points=fps.points[conv], q=fps.q[conv], converged=conv[conv],
                            eigenvalues=fps.eigenvalues[conv], inputs=fps.inputs[conv])
slow = fps.points[~conv]
end_of_delay = out.states[:, delay.stop - 1].double()
print(f"distance from the end-of-delay states to the fixed point: "
      f"{float((end_of_delay - fixed.points[0]).norm(dim=-1).mean()):.1f} (mean); "
      f"slow points: {float((slow - fixed.points[0]).norm(dim=-1).min()):.1f} to "
      f"{float((slow - fixed.points[0]).norm(dim=-1).max()):.1f}")

# One stable point means the choice must fade: how fast? Lengthen the delay and see.
for d in (300.0, 600.0, 1300.0):
    m = evaluate(model, PerceptualDecisionMaking(dt=t.dt, stimulus=500.0, delay=d),
                 batch_size=600, seed=3)
    print(f"delay {d:.0f} ms: accuracy {m['accuracy']:.2f}, at coherence >= 12.8 "
          f"{m['accuracy_coherence_ge_12.8']:.2f}")

# Stimulus onset to the go cue, in the plane of cortical (ctx_e + ctx_i) activity.
ff = flow_field(model, out.states[:, stimulus:delay.stop], regions="ctx", inputs=delay_input,
                grid=25)
choice = batch.trials["choice"]
colors = ["C0" if int(c) == 1 else "C3" for c in choice]

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained",
                         gridspec_kw={"width_ratios": [1.35, 1]})
plot_flow_field(ff, ax=axes[0], fixed_points=fixed, max_trajectories=24, colors=colors)
if len(slow):
    p = ff.project(slow)
    axes[0].plot(p[:, 0].numpy(), p[:, 1].numpy(), "x", color="0.25", ms=5, mew=1,
                 label=f"slow points ({len(slow)}, q ≈ {float(fps.q[~conv].median()):.0e})")
    axes[0].legend(fontsize="small", frameon=False, loc="upper right")
axes[0].set_title("delay-input flow on the cortical PC plane\n(trials: blue choice 1, "
                  "red choice 2)", fontsize=10)
lam = float(fixed.eigenvalues[0].abs().max())
plot_spectrum(fixed, ax=axes[1], label=f"stable fixed point (max |λ| = {lam:.3f})")
# Every eigenvalue lies near 1 - alpha = 0.8: zoom in, the unit circle is the dashed arc.
axes[1].set_aspect("equal", adjustable="box")
axes[1].set_xlim(0.5, 1.1)
axes[1].set_ylim(-0.3, 0.3)
axes[1].set_title("eigenvalues of the update map at the fixed point\n"
                  "(zoomed in; the dashed arc is the unit circle)", fontsize=10)
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_flow.png", dpi=90)
print("wrote", IMG / "analysis_flow.png")
