"""Fixed points and the flow field of the trained circuit during the delay.

Trains the default circuit briefly (see analyse_setup.py), then, with the input
of the delay epoch held constant (fixation on, no evidence):

* finds the fixed points of the update map from states visited during the delay
  (mrnngraph.analysis.find_fixed_points, Levenberg-Marquardt on F(x) - x);
* draws the velocity field on the plane of the first two principal components of
  cortical activity, with single trials coloured by the correct choice, from
  stimulus onset to the go cue (mrnngraph.analysis.flow_field);
* draws the eigenvalues of the Jacobian at the fixed point with the unit circle.

Run: python examples/analyse_fixed_points.py  ->  docs/img/analysis_flow.png
"""

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
          f"{model.dt / (1 - float(ev.abs().max())):.0f} ms)")

# Stimulus onset to the go cue, in the plane of cortical (ctx_e + ctx_i) activity.
ff = flow_field(model, out.states[:, stimulus:delay.stop], regions="ctx", inputs=delay_input,
                grid=25)
choice = batch.trials["choice"]
colors = ["C0" if int(c) == 1 else "C3" for c in choice]

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained",
                         gridspec_kw={"width_ratios": [1.35, 1]})
plot_flow_field(ff, ax=axes[0], fixed_points=fps, max_trajectories=24, colors=colors)
axes[0].set_title("delay-input flow on the cortical PC plane\n(trials: blue choice 1, "
                  "red choice 2)", fontsize=10)
plot_spectrum(fps, ax=axes[1])
axes[1].set_title("eigenvalues of the update map at the fixed point", fontsize=10)
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_flow.png", dpi=90)
print("wrote", IMG / "analysis_flow.png")
