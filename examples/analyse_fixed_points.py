"""Fixed points and the flow field of the trained circuit during the delay.

Trains the default circuit briefly (see analyse_setup.py), then, with the input
of the delay epoch held constant (fixation on, no evidence):

* finds the fixed points of the update map from states visited during the delay
  (mrnngraph.analysis.find_fixed_points, Levenberg-Marquardt on F(x) - x); the
  minima of q that are not zero (slow points) are drawn apart from the fixed points;
* draws the velocity field on the plane of the first two principal components of
  cortical activity, with single trials coloured by the correct choice, from
  stimulus onset to the go cue (mrnngraph.analysis.flow_field);
* draws the eigenvalues of the Jacobian at the fixed point (or, if the search finds
  none, at the slowest slow point) with the unit circle;
* holds the delay input for 10 s from the end-of-delay states: where does it lead?
* checks what the picture predicts: lengthening the delay, how long is the choice kept?

Run: python examples/analyse_fixed_points.py  ->  docs/img/analysis_flow.png
"""

import dataclasses

import matplotlib.pyplot as plt
import torch
from analyse_setup import IMG, TASK, task, trained_model

from mrnngraph.analysis import (
    find_fixed_points,
    flow_field,
    plot_flow_field,
    plot_spectrum,
    sample_states,
)
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import evaluate

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
    print(
        f"  q = {float(q):.1e}, stable = {bool(st)}, largest |eigenvalue| = "
        f"{float(ev.abs().max()):.3f} (time constant "
        f"{model.dt / abs(1 - float(ev.abs().max())):.0f} ms)"
    )
conv = fps.converged
fixed = dataclasses.replace(
    fps,
    points=fps.points[conv],
    q=fps.q[conv],
    converged=conv[conv],
    eigenvalues=fps.eigenvalues[conv],
    inputs=fps.inputs[conv],
)
slow = fps.points[~conv]
end_of_delay = out.states[:, delay.stop - 1].double()
# The reference point: the fixed point if there is one, else the slowest slow point.
ref = fps.points[0]
what = "the fixed point" if bool(conv.any()) else "the slowest slow point"
print(
    f"fixed points: {int(conv.sum())}; slow points: {len(slow)}"
    + (
        f", q {float(fps.q[~conv].min()):.1e} to {float(fps.q[~conv].max()):.1e}, i.e. "
        f"|F(x) - x| {float((2 * fps.q[~conv].min()).sqrt()):.3f} to "
        f"{float((2 * fps.q[~conv].max()).sqrt()):.3f} per step"
        if len(slow)
        else ""
    )
)
print(
    f"distance from the end-of-delay states to {what}: "
    f"{float((end_of_delay - ref).norm(dim=-1).mean()):.1f} (mean)"
    + (
        f"; slow points: {float((slow - ref).norm(dim=-1).max()):.1f} at most from it"
        if len(slow) > 1
        else ""
    )
)
# Where the delay input leads in the long run: hold it for 10 s from the end-of-delay states.
with torch.no_grad():
    held = model(delay_input.expand(len(end_of_delay), 500, -1), out.states[:, delay.stop - 1])
step = (held.states[:, 1:] - held.states[:, :-1]).norm(dim=-1).mean(0)
final = held.outputs[:, -1].argmax(-1)
print(
    f"delay input held for 10 s: mean step |x[t+1] - x[t]| {float(step[0]):.2f} at the "
    f"start, {float(step[249]):.2f} after 5 s, {float(step[-1]):.2f} after 10 s; readout "
    f"then: fixate {float((final == 0).float().mean()):.2f}, choice 1 "
    f"{float((final == 1).float().mean()):.2f}, "
    f"choice 2 {float((final == 2).float().mean()):.2f}"
)

# Without an attractor per choice the choice must fade: how fast? Lengthen the delay.
for d in (300.0, 600.0, 1300.0):
    long_task = PerceptualDecisionMaking(**{**TASK, "delay": d})
    m = evaluate(model, long_task, batch_size=600, seed=3)
    b = long_task.batch(600, seed=3)  # the trials evaluate() draws
    with torch.no_grad():
        o = model(b.inputs).outputs
    dm = b.trials["decision_mask"][..., None]
    late = ((o * dm).sum(1) / dm.sum(1)).argmax(-1) == b.trials["choice"]
    print(
        f"delay {d:.0f} ms: accuracy {m['accuracy']:.2f}, at coherence >= 12.8 "
        f"{m['accuracy_coherence_ge_12.8']:.2f}, fixation breaks (answers before the go cue, "
        f"errors) {m['fixation_breaks']:.2f}; decision-epoch answer right, breaks ignored, "
        f"{float(late.float().mean()):.2f}"
    )

# Stimulus onset to the go cue, in the plane of cortical (ctx_e + ctx_i) activity.
ff = flow_field(
    model, out.states[:, stimulus : delay.stop], regions="ctx", inputs=delay_input, grid=25
)
choice = batch.trials["choice"]
colors = ["C0" if int(c) == 1 else "C3" for c in choice]

fig, axes = plt.subplots(
    1, 2, figsize=(11, 4.6), layout="constrained", gridspec_kw={"width_ratios": [1.35, 1]}
)
plot_flow_field(
    ff,
    ax=axes[0],
    fixed_points=fixed if len(fixed.points) else None,
    max_trajectories=24,
    colors=colors,
)
if len(slow):
    p = ff.project(slow)
    axes[0].plot(
        p[:, 0].numpy(),
        p[:, 1].numpy(),
        "x",
        color="0.25",
        ms=5,
        mew=1,
        label=f"slow points ({len(slow)}, q ≈ {float(fps.q[~conv].median()):.0e})",
    )
    axes[0].legend(fontsize="small", frameon=False, loc="upper right")
axes[0].set_title(
    "delay-input flow on the cortical PC plane\n(trials: blue choice 1, red choice 2)", fontsize=10
)
best = dataclasses.replace(
    fps,
    points=fps.points[:1],
    q=fps.q[:1],
    converged=conv[:1],
    eigenvalues=fps.eigenvalues[:1],
    inputs=fps.inputs[:1],
)
lam = float(best.eigenvalues[0].abs().max())
kind = (
    ("stable fixed point" if bool(conv[0]) else "slowest slow point")
    if bool(fps.stable[0]) or not bool(conv[0])
    else "fixed point"
)
plot_spectrum(best, ax=axes[1], label=f"{kind} (max |λ| = {lam:.3f})")
# Every eigenvalue lies near 1 - alpha = 0.8: zoom in, the unit circle is the dashed arc.
axes[1].set_aspect("equal", adjustable="box")
axes[1].set_xlim(0.5, 1.1)
axes[1].set_ylim(-0.3, 0.3)
axes[1].set_title(
    f"update-map eigenvalues at {what}\n(zoomed in; dashed arc: the unit circle)", fontsize=10
)
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_flow.png", dpi=90)
print("wrote", IMG / "analysis_flow.png")
