"""Which region drives which: the current each pathway carries during a decision.

Trains the default circuit briefly (see analyse_setup.py), runs strong-evidence
trials and splits every region's input into what each source sends it
(mrnngraph.analysis.currents); the parts sum exactly to the total drive.

Run: python examples/analyse_currents.py  ->  docs/img/analysis_currents.png
"""

import matplotlib.pyplot as plt
import torch
from analyse_setup import IMG, task, trained_model

from mrnngraph.analysis import currents, plot_currents, total_current

model = trained_model()
batch = task().batch(64, seed=1)
with torch.no_grad():
    out = model(batch.inputs)
    parts = currents(model, out.rates, batch.inputs)

# The identity the decomposition guarantees: x[t+1] - (1 - a) x[t] = a * total drive[t].
prev = torch.cat([model.x0.expand(64, 1, -1), out.states[:, :-1]], 1)
err = (out.states - (1 - model.alpha) * prev - model.alpha * total_current(model, parts)).abs()
print(f"max |x[t+1] - (1 - a) x[t] - a * sum of currents| = {float(err.max()):.2e}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot_currents(parts, ax=axes[0], top=8, dt=model.dt, exclude=["bias"],
              title="strongest pathways (mean |current|)")
into_stn = {k: v for k, v in parts.items() if k[1] in ("stn", "snr")}
plot_currents(into_stn, ax=axes[1], top=None, dt=model.dt,
              title="inputs to STN and SNr")
for ax in axes:  # the task's epochs (ms): fixation, stimulus, delay, decision
    ax.axvspan(100, 600, color="0.93", zorder=0)
    for t, name in ((0, "fix."), (100, "stimulus"), (600, "delay"), (900, "decision")):
        ax.text(t + 8, 0.02, name, fontsize=7, color="0.4", transform=ax.get_xaxis_transform())
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_currents.png", dpi=110)
print("wrote", IMG / "analysis_currents.png")
