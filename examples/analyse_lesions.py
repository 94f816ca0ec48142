"""Lesions and stimulation by name: how much of the decision depends on each pathway?

Runs the trained default circuit (see analyse_setup.py) intact and under
run-time perturbations (mrnngraph.perturb), on the same held-out trials.
Nothing is retrained or copied, and the model is bit-identical afterwards.

In this briefly trained network SNr's tonic inhibition keeps the thalamus
silent, so the basal-ganglia loop never reaches cortex: silencing STN or cutting
the direct pathway changes nothing, while releasing the thalamus, silencing
cortical inhibition or cutting cortical recurrence does. (The currents example
shows the same thing: thal -> ctx carries no current.)

Run: python examples/analyse_lesions.py  ->  docs/img/analysis_lesions.png
"""

import matplotlib.pyplot as plt
import torch
from analyse_setup import IMG, task, trained_model

from mrnngraph.perturb import perturb
from mrnngraph.train import evaluate

model = trained_model()
before = {k: v.clone() for k, v in model.state_dict().items()}
t = task()
stim_on = (round(100 / t.dt), round(600 / t.dt))  # stimulus epoch, in steps
conditions = {
    "intact": {},
    "silence STN": {"silence": ["stn"]},
    "cut D1 → SNr (direct)": {"cut": [("d1", "snr")]},
    "clamp thalamus at 0.5": {"clamp": {"thal": 0.5}},
    "silence ctx I": {"silence": ["ctx_i"]},
    "cut ctx E → ctx E": {"cut": [("ctx_e", "ctx_e")]},
    "stimulate ctx E (+0.3) in stimulus": {"stimulate": {"ctx_e": 0.3}, "window": stim_on},
}
results = {}
for name, kw in conditions.items():
    with perturb(model, **kw):
        results[name] = evaluate(model, t, batch_size=600, seed=7)
    print(f"{name:36s} accuracy {results[name]['accuracy']:.2f}")

after = model.state_dict()
assert all(torch.equal(before[k], after[k]) for k in before) and model.perturbation is None
print("state dict bit-identical after every perturbation")

cohs = sorted(float(c) for c in results["intact"]["accuracy_by_coherence"])
fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
for k, (name, r) in enumerate(results.items()):
    acc = [r["accuracy_by_coherence"][f"{c:g}"]["accuracy"] for c in cohs]
    ax.plot(range(len(cohs)), acc, "o-", lw=2.5 if name == "intact" else 1.2,
            ms=6 if name == "intact" else 4, zorder=1 if name == "intact" else 2,
            color="0.6" if name == "intact" else f"C{k}",
            label=f"{name} ({r['accuracy']:.2f})")
ax.axhline(0.5, color="0.7", ls=":", lw=1)
ax.set_xticks(range(len(cohs)), [f"{c:g}" for c in cohs])
ax.set_xlabel("coherence (%)")
ax.set_ylabel("accuracy")
ax.set_ylim(0, 1.05)
ax.set_title("decision accuracy under run-time lesions (same trials)")
ax.legend(fontsize="small", frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5),
          title="condition (overall accuracy)", title_fontsize="small")
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_lesions.png", dpi=110)
print("wrote", IMG / "analysis_lesions.png")
