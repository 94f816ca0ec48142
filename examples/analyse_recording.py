"""Population analyses on a recording: the fitting example's three simulated regions.

The data are those of examples/fit_ground_truth.py: a simulated "brain" of three
regions (mrnngraph.presets.ground_truth: a loop a -> b -> c -> a, strong to weak;
no b -> a, c -> b, a -> c; a two-channel stimulus of signed coherence +-5, +-20,
+-50 % drives a), 3 x 30 neurons recorded in pseudo-Hz, 36 trials of 150 bins of
10 ms, stimulus on from 200 to 1000 ms. Every analysis below reads the
mrnngraph.recording.Recording itself, as it would read recorded neurons:

* decoding the side the stimulus favours and its signed coherence from each region
  at every bin (mrnngraph.analysis.decode),
* PCA per region on the condition averages (mrnngraph.analysis.pca),
* neurometric curves: a cross-validated read-out of the stimulus side from each
  region's activity in the stimulus epoch, its "choices" against the signed
  coherence with a fitted psychometric function (mrnngraph.analysis.fit_psychometric),
* lesion controls on a circuit fitted to the training trials (as the fitting
  example, 300 steps): cutting a pathway against cutting as many random recurrent
  synapses, scored by the held-out variance explained (pVar) of the pathway's target
  region (mrnngraph.analysis.lesion_effect with a metric of one's own).

Run: python examples/analyse_recording.py  ->  docs/img/recording_decoding.png,
docs/img/recording_trajectories.png, docs/img/recording_neurometric.png,
docs/img/recording_lesions.png (about 1.5 minutes on one CPU thread).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from _figures import save

import mrnngraph as mg
from mrnngraph.analysis import (
    decode,
    lesion_effect,
    pca,
    plot_decoding,
    plot_lesion_effects,
    plot_psychometric,
    plot_trajectories,
)
from mrnngraph.analysis.decoding import stratified_folds
from mrnngraph.analysis.pathways import pathway_strength
from mrnngraph.fitting import PathwaySparsity, fit, pvar
from mrnngraph.presets.ground_truth import fitting_graph, simulate_ground_truth
from mrnngraph.tasks import Batch, Task
from mrnngraph.tasks.psychometrics import psychometric_curve

torch.set_num_threads(1)
warnings.simplefilter("ignore", mg.CircuitWarning)  # no output nodes: expected here
t_all = time.perf_counter()
SIZE, STIM = 30, slice(20, 100)  # neurons per region; stimulus bins (200-1000 ms)
data = simulate_ground_truth(size=SIZE, n_trials=36, n_steps=150, seed=0)
rec = data["recording"]  # rates[region]: (trials, T, neurons), pseudo-Hz
coherence = 100 * rec.trials["coherence"]  # signed, %
rec.trials["side"] = np.where(coherence > 0, "+", "-")
rec.trials["signed_coherence"] = coherence
print(rec)
events = {"stimulus": 200.0, "stimulus off": 1000.0}

# ------------------------------------------------------------------ decoding
start = time.perf_counter()
by_side = decode(rec, "side", folds=6, seed=0, window=5)
by_coh = decode(rec, "signed_coherence", folds=6, seed=0, window=5)
print(f"decoding: {time.perf_counter() - start:.1f} s")
for name, res in (("stimulus side", by_side), ("signed coherence", by_coh)):
    print(f"{name} ({res.metric}, chance {res.chance:.2f}):")
    for r in res.regions:
        s, t = res[r], res.times
        best, when = res.peak()[r]
        print(
            f"  {r}: before the stimulus {s[t < 200].mean():.2f}, stimulus "
            f"{s[(t >= 200) & (t < 1000)].mean():.2f}, after {s[t >= 1000].mean():.2f}; "
            f"peak {best:.2f} at {when:.0f} ms"
        )
fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
plot_decoding(by_side, ax=ax, events=events, title="stimulus side (accuracy)")
plot_decoding(by_coh, ax=bx, events=events, title="signed coherence (R²)")
ax.get_legend().remove()
fig.suptitle(
    "decoding from each recorded region (36 trials, windows of 50 ms, 6-fold "
    "cross-validation, "
    "mean ± sd over folds; dashed: chance)",
    fontsize=10,
)
save(fig, "recording_decoding", docs=True)

# ------------------------------------------------------------------ PCA
traj = pca(rec, 3, trial_average_by="signed_coherence")
for r, p in traj.regions.items():
    print(
        f"PCA {r}: variance explained by PC1-3 "
        + " ".join(f"{v:.2f}" for v in p.explained_variance_ratio)
    )
fig = plot_trajectories(traj, ncols=3)
fig.set_size_inches(12, 4.0)
save(fig, "recording_trajectories", docs=True)


# ------------------------------------------------------------------ neurometric curves
def cross_validated_side(x, side, folds=6, seed=0, alpha=10.0):
    """Held-out read-out of ``side`` (+1/-1) from ``x`` (trials, neurons): ridge regression
    on the training folds (activity centred and scaled on them), sign on the held-out."""
    fold = stratified_folds(side, len(side), folds, seed)
    out = np.empty(len(side))
    for f in range(folds):
        tr, te = fold != f, fold == f
        mu, sd = x[tr].mean(0), x[tr].std() or 1.0
        a = (x[tr] - mu) / sd
        w = np.linalg.solve(
            a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (side[tr] - side[tr].mean())
        )
        out[te] = (x[te] - mu) / sd @ w + side[tr].mean()
    return np.sign(out)


side = np.sign(coherence)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained", sharey=True)
for ax, r in zip(axes, rec.regions, strict=True):
    read = cross_validated_side(rec.rates[r][:, STIM].mean(1), side)
    answers = np.where(read > 0, 1, 2)  # "choice 1": the read-out says +
    curve = psychometric_curve(coherence, answers, read == side, name="coherence", lapse=False)
    f = curve.fit
    print(
        f"neurometric {r}: P(+) "
        + " ".join(f"{p:.2f}" for p in curve.p_choice1)
        + f" at {curve.levels.tolist()}; accuracy {np.mean(read == side):.2f}; fit: threshold "
        f"{f.threshold:.3g} %, bias {f.bias:+.2g} %"
        + (f" (not pinned down: {', '.join(f.at_bound)})" if f.at_bound else "")
    )
    plot_psychometric(curve, ax=ax, label=f"read-out of {r}")
    ax.set_title(f"region {r}: threshold {f.threshold:.2g} %", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    ax.set_ylabel("P(read-out says +)" if ax is axes[0] else "")
fig.suptitle(
    "neurometric curves: cross-validated read-out of the stimulus side from the mean "
    "activity of 200-1000 ms (6 trials per level)",
    fontsize=10,
)
save(fig, "recording_neurometric", docs=True)

# ------------------------------------------------------------------ lesion controls on a fit
train, test = rec.split(0.25, seed=0, stratify="condition")
model = mg.MultiRegionRNN.from_graph(fitting_graph(SIZE), seed=1)
start = time.perf_counter()
history = fit(
    model,
    train,
    steps=300,
    lr=2e-2,
    batch_size=27,
    seed=0,
    losses=[PathwaySparsity(0.1, proximal=False)],  # the penalty in the gradient, as measured
    progress=False,
)
print(
    f"fit: {time.perf_counter() - start:.0f} s; held-out pVar",
    {k: round(v, 3) for k, v in pvar(model, test).items()},
)


strength = pathway_strength(model, test)
print(
    "fitted pathway strengths (mean |current|, held-out): "
    + ", ".join(f"{s}->{d} {v:.3f}" for (s, d), v in sorted(strength.items()) if s != d)
)


class HeldOut(Task):
    """lesion_effect's task: the held-out trials' inputs; the score is their pVar (below)."""

    name, kind = "held-out trials", "regression"

    def _generate(self, batch_size, g):
        u = torch.as_tensor(test.inputs, dtype=torch.float32)
        zeros = torch.zeros(u.shape[:2])
        return Batch(u, zeros, torch.ones_like(zeros))

    def correct(self, outputs, batch):
        raise NotImplementedError("scored by pVar")


effects = []
start = time.perf_counter()
for src, dst, truth in (
    ("a", "b", "present"),
    ("b", "c", "present"),
    ("c", "a", "present"),
    ("b", "a", "absent"),
    ("c", "b", "absent"),
    ("a", "c", "absent"),
):

    def target_pvar(outputs, batch, dst=dst):
        return pvar(model, test)[dst]  # the lesion is in place while this runs

    target_pvar.__name__ = f"held-out pVar of {dst}"
    eff = lesion_effect(model, HeldOut(), (src, dst), n_random=20, seed=0, metric=target_pvar)
    effects.append(eff)
    r = eff.random
    print(
        f"cut {src} -> {dst} ({truth} in the brain; {eff.n_synapses['hh']} synapses): pVar of "
        f"{dst} {eff.intact:.3f} -> {eff.lesioned:.3f}; random cuts median {np.median(r):.3f} "
        f"[{r.min():.3f}, {r.max():.3f}], p = {eff.p_value:.3f}"
    )
print(f"lesion controls: {time.perf_counter() - start:.1f} s")
ax = plot_lesion_effects(
    effects, title="cutting a fitted pathway against 20 random cuts of as many recurrent synapses"
)
ax.set_xlabel("held-out pVar of the pathway's target region")
ax.figure.set_size_inches(9, 4.6)
save(ax.figure, "recording_lesions", docs=True)
print(f"total {time.perf_counter() - t_all:.0f} s")
