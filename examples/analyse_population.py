"""Which region carries the decision, and when? Decoding, PCA and lesion controls by region.

Records the trained default circuit (see analyse_setup.py) on held-out trials as a
mrnngraph.recording.Recording (the container recorded neurons come in too), then

* decodes the correct choice, the network's answer and the signed coherence
  from each region at every time bin (mrnngraph.analysis.decode: 5-fold
  cross-validated ridge read-outs),
* fits a PCA per region on the condition averages (one per signed coherence) and
  draws the trajectories (mrnngraph.analysis.pca),
* compares lesions of named regions and pathways with random lesions of as many
  units or synapses (mrnngraph.analysis.lesion_effect).

Run: python examples/analyse_population.py  ->  docs/img/analysis_decoding.png,
docs/img/analysis_trajectories.png, docs/img/analysis_lesion_controls.png
"""

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from _figures import save
from analyse_setup import task, trained_model

from mrnngraph.analysis import (
    decode,
    lesion_effect,
    pca,
    plot_decoding,
    plot_lesion_effects,
    plot_trajectories,
)
from mrnngraph.recording import activity

model = trained_model()
t = task()
N = 600
batch = t.batch(N, seed=7)
choice = batch.trials["choice"].numpy()
coherence = batch.trials["coherence"].numpy()
signed = np.where(choice == 1, coherence, -coherence) + 0.0  # > 0: for choice 1 (no -0)
rec = activity(
    model,
    batch.inputs,
    trials={"choice": choice, "coherence": coherence, "signed_coherence": signed},
)
# The network's own answer: the task's read-out averaged over the decision epoch.
dec_mask = batch.trials["decision_mask"].numpy()
answer = ((rec.outputs * dec_mask[..., None]).sum(1) / dec_mask.sum(1)[:, None]).argmax(-1)
rec.trials["answer"] = answer
print(
    f"recording: {rec.n_trials} trials, {rec.n_steps} bins of {rec.dt:g} ms, regions "
    f"{rec.n_neurons}"
)
events = {"stimulus": 100.0, "delay": 600.0, "decision": 900.0}

# ------------------------------------------------------------------ decoding
start = time.perf_counter()
by_choice = decode(rec, "choice", folds=5, seed=0)
by_signed = decode(rec, "signed_coherence", folds=5, seed=0)
answered = rec[answer != 0]  # trials where the network made a choice
by_answer = decode(answered, "answer", folds=5, seed=0)
print(f"the network answered {answered.n_trials} of {rec.n_trials} trials")
print(
    f"decoding: {time.perf_counter() - start:.1f} s for 3 variables x 8 regions x "
    f"{rec.n_steps} bins x 5 folds"
)
for name, res in (
    ("choice", by_choice),
    ("signed coherence", by_signed),
    ("the network's answer", by_answer),
):
    print(f"{name} ({res.metric}, chance {res.chance:.2f}):")
    for r in res.regions:
        s = res[r]
        epochs = {"stim": s[5:30].mean(), "delay": s[30:45].mean(), "decision": s[45:].mean()}
        best, when = res.peak()[r]
        print(
            f"  {r:6s} peak {best:.2f} at {when:.0f} ms; mean in "
            + ", ".join(f"{k} {v:.2f}" for k, v in epochs.items())
            + f"; fold sd at peak {res.spread[r][int(np.argmax(s))]:.2f}"
        )
print("answers: " + ", ".join(f"choice {c} {np.mean(answer == c):.2f}" for c in (1, 2)))
k = 6 + int(np.argmin(by_signed["stn"][6:15]))  # the dip early in the stimulus
print(
    f"STN's lowest mean R² early in the stimulus: bin {k} ({by_signed.times[k]:.0f} ms), folds "
    + " ".join(f"{v:.2f}" for v in by_signed.folds["stn"][:, k])
    + ", penalties "
    + " ".join(f"{v:g}" for v in by_signed.alpha["stn"][:, k])
)
for r in ("gpe", "thal"):
    x = rec.rates[r]
    print(
        f"{r} mean rate: stimulus {x[:, 5:30].mean():.3f}, delay {x[:, 30:45].mean():.3f}, "
        f"decision {x[:, 45:].mean():.3f}; std over trials in the delay "
        f"{x[:, 30:45].std(0).mean():.3g}"
    )
fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
plot_decoding(by_choice, ax=ax, events=events, title="correct choice (accuracy)")
plot_decoding(by_answer, ax=bx, events=events, title="the network's answer (accuracy)")
plot_decoding(
    by_signed, ax=cx, events=events, title="signed coherence (R²; evidence for choice 1 > 0)"
)
for a in (ax, bx):
    a.get_legend().remove()
cx.legend(fontsize="small", frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
fig.suptitle(
    f"decoding from each region ({N} held-out trials, 5-fold cross-validation, "
    "mean ± sd over folds; dashed: chance)",
    fontsize=10,
)
save(fig, "analysis_decoding", docs=True)

# ------------------------------------------------------------------ PCA
traj = pca(rec, 3, trial_average_by="signed_coherence")
for r, p in traj.regions.items():
    ratio = p.explained_variance_ratio
    print(
        f"PCA {r:6s} variance explained by PC1-3: "
        + " ".join(f"{v:.2f}" for v in ratio)
        + f" (sum {ratio.sum():.2f})"
    )
single = pca(rec, 3)
print(
    "single-trial PCA, PC1-3 sum: "
    + ", ".join(f"{r} {p.explained_variance_ratio.sum():.2f}" for r, p in single.regions.items())
)
fig = plot_trajectories(traj, ncols=4)
fig.set_size_inches(13, 6.6)
save(fig, "analysis_trajectories", docs=True)

# ------------------------------------------------------------------ lesion controls
before = {k: v.clone() for k, v in model.state_dict().items()}
basal_ganglia = ["d1", "d2", "gpe", "stn", "snr"]
lesions = [
    ("stn", None),
    ("stn", basal_ganglia),
    ("snr", None),
    ("thal", None),
    ("ctx_i", None),
    (("d2", "gpe"), None),
    (("d1", "snr"), None),
    (("thal", "ctx_e"), None),
]
effects = []
start = time.perf_counter()
for lesion, among in lesions:
    eff = lesion_effect(model, t, lesion, n_random=20, seed=7, batch_size=N, among=among)
    effects.append(eff)
    size = (
        f"{eff.n_units} units"
        if eff.n_units
        else ", ".join(f"{n} {f} synapses" for f, n in eff.n_synapses.items())
    )
    r = eff.random
    pool = "" if among is None else " among the basal ganglia"
    print(
        f"{eff.name:18s} ({size}{pool}): intact {eff.intact:.2f}, lesioned {eff.lesioned:.2f}, "
        f"random {np.median(r):.2f} median [{r.min():.2f}, {r.max():.2f}], "
        f"percentile {eff.percentile:.0f}, p = {eff.p_value:.3f}; "
        f"{int(np.sum(r <= 0.05))} random at <= 0.05"
    )
print(f"lesion controls: {time.perf_counter() - start:.1f} s")
# Where do the devastating random unit lesions come from? The same 16 units, drawn per pool.
for pool in (["ctx_e"], ["ctx_i"], basal_ganglia, ["thal"]):
    eff = lesion_effect(model, t, "stn", n_random=20, seed=7, batch_size=N, among=pool)
    print(
        f"16 random units of {'+'.join(pool)}: median {np.median(eff.random):.2f} "
        f"[{eff.random.min():.2f}, {eff.random.max():.2f}], "
        f"{int(np.sum(eff.random <= 0.05))} of 20 at <= 0.05"
    )
after = model.state_dict()
assert all(torch.equal(before[k], after[k]) for k in before) and model.perturbation is None
ax = plot_lesion_effects(
    effects,
    title=f"named lesions against 20 random lesions of the same size each ({N} held-out trials)",
)
ax.figure.set_size_inches(9, 6.0)
save(ax.figure, "analysis_lesion_controls", docs=True)
