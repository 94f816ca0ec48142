"""Which region drives which: the current each pathway carries during a decision.

Trains the default circuit briefly (see analyse_setup.py), runs strong-evidence
trials and splits every region's input into what each source sends it
(mrnngraph.analysis.currents); the parts sum exactly to the total drive.
Panels: the strongest pathways, the inputs to STN and SNr, and the currents
into and out of the thalamus (its tonic bias against SNr's inhibition). Prints
each region's mean rate and the strongest pathways' mean |current| per epoch.

Run: python examples/analyse_currents.py  ->  docs/img/analysis_currents.png
"""

import itertools

import matplotlib.pyplot as plt
import torch
from analyse_setup import IMG, task, trained_model

from mrnngraph.analysis import currents, plot_currents, total_current

model = trained_model()
t = task()
batch = t.batch(64, seed=1)
with torch.no_grad():
    out = model(batch.inputs)
    parts = currents(model, out.rates, batch.inputs)

# The identity the decomposition guarantees: x[t+1] - (1 - a) x[t] = a * total drive[t].
prev = torch.cat([model.x0.expand(64, 1, -1), out.states[:, :-1]], 1)
err = (out.states - (1 - model.alpha) * prev - model.alpha * total_current(model, parts)).abs()
print(f"max |x[t+1] - (1 - a) x[t] - a * sum of currents| = {float(err.max()):.2e}")

# Epoch boundaries (ms) from the task's timing; every trial has the same here.
starts = [0.0, *itertools.accumulate(t.timing.values())]
epochs = {name: (starts[k], starts[k + 1]) for k, name in enumerate(t.timing)}
steps = {name: slice(round(a / t.dt), round(b / t.dt)) for name, (a, b) in epochs.items()}
layout = model.circuit.layout
print("mean rate per epoch:")
print(" " * 8, " ".join(f"{e:>9s}" for e in steps))
for region in layout.regions:
    r = out.rates[..., layout.slice(region)]
    print(f"  {region:6s}", " ".join(f"{float(r[:, s].mean()):9.2f}" for s in steps.values()))
print("mean |current| over the trial | per epoch (8 strongest pathways, bias left out):")
strongest = sorted(
    (k for k in parts if k[0] != "bias"), key=lambda k: -float(parts[k].abs().mean())
)
for key in strongest[:8] + [k for k in (("thal", "ctx_e"), ("thal", "ctx_i")) if k in parts]:
    print(
        f"  {key[0]:>6s} -> {key[1]:6s} {float(parts[key].abs().mean()):5.2f} |",
        " ".join(f"{float(parts[key][:, s].abs().mean()):9.2f}" for s in steps.values()),
    )

fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
plot_currents(
    parts,
    ax=axes[0],
    top=8,
    dt=model.dt,
    exclude=["bias"],
    title="strongest pathways (mean |current|)",
)
into_stn = {k: v for k, v in parts.items() if k[1] in ("stn", "snr")}
plot_currents(into_stn, ax=axes[1], top=None, dt=model.dt, title="inputs to STN and SNr")
# The gate: SNr inhibition against the thalamus's tonic drive, and what reaches cortex.
thal = {k: v for k, v in parts.items() if "thal" in k}
plot_currents(thal, ax=axes[2], top=None, dt=model.dt, title="into and out of the thalamus")
for ax in axes:  # the task's epochs, the stimulus shaded
    ax.axvspan(*epochs["stimulus"], color="0.93", zorder=0)
    for name, (a, _) in epochs.items():
        ax.text(
            a + 8,
            0.02,
            "fix." if name == "fixation" else name,
            fontsize=7,
            color="0.4",
            transform=ax.get_xaxis_transform(),
        )
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_currents.png", dpi=110)
print("wrote", IMG / "analysis_currents.png")
