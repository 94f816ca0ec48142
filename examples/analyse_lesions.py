"""Lesions and stimulation by name: how much of the decision depends on each pathway?

Runs the trained default circuit (see analyse_setup.py) intact and under
run-time perturbations (mrnngraph.perturb), on the same held-out trials.
Nothing is retrained or copied, and the model is bit-identical afterwards.

In the trained network SNr, driven by STN and inhibited by D1, holds the thalamus
at about half its tonic rate in the decision. Lesions that release the thalamus
(silencing STN or SNr, cutting D2 -> GPe so that GPe keeps STN quiet) leave it at
its tonic rate and the network mostly keeps fixating; cutting the direct pathway
(D1 -> SNr) lets SNr shut the thalamus and costs as much; silencing the thalamus
costs less, and clamping it at 0.5 keeps most of the accuracy.
The right panel splits each condition's answers into correct, wrong choice, no
answer (still fixating) and broke fixation (a choice output won before the go cue,
an error whatever the answer), and gives the thalamus's mean rate in the decision
epoch.

Run: python examples/analyse_lesions.py  ->  docs/img/analysis_lesions.png
"""

import matplotlib.pyplot as plt
import torch
from analyse_setup import IMG, task, trained_model

from mrnngraph.perturbation import perturb
from mrnngraph.training import evaluate

model = trained_model()
before = {k: v.clone() for k, v in model.state_dict().items()}
t = task()
stim_on = (round(100 / t.dt), round(600 / t.dt))  # stimulus epoch, in steps
conditions = {
    "intact": {},
    "silence STN": {"silence": ["stn"]},
    "silence SNr": {"silence": ["snr"]},
    "cut D2 → GPe (indirect)": {"cut": [("d2", "gpe")]},
    "cut D1 → SNr (direct)": {"cut": [("d1", "snr")]},
    "silence thalamus": {"silence": ["thal"]},
    "clamp thalamus at 0.5": {"clamp": {"thal": 0.5}},
    "silence ctx I": {"silence": ["ctx_i"]},
    "stimulate ctx E (+0.3) in stimulus": {"stimulate": {"ctx_e": 0.3}, "window": stim_on},
}
SEED, N = 7, 600
batch = t.batch(N, seed=SEED)  # the trials evaluate() draws with this seed
dec = batch.trials["decision_mask"]
thal = model.circuit.layout.slice("thal")
ctx_e = model.circuit.layout.slice("ctx_e")
results, answers, thal_rate = {}, {}, {}
for name, kw in conditions.items():
    with perturb(model, **kw):
        results[name] = evaluate(model, t, batch_size=N, seed=SEED)
        with torch.no_grad():
            out = model(batch.inputs)
    # The task's answer: argmax of the outputs averaged over the decision epoch (0 = fixate).
    # It is correct only if it is the trial's choice and no choice output won before the go
    # cue (a fixation break counts as an error, whatever the answer: task.correct).
    answer = ((out.outputs * dec[..., None]).sum(1) / dec.sum(1, keepdim=True)).argmax(-1)
    right = t.correct(out, batch)
    before_go = (dec == 0) & (batch.mask > 0)
    broke = ((out.outputs.argmax(-1) != 0) & before_go).any(1)
    assert not (right & broke).any()
    answers[name] = [
        float(right.float().mean()),
        float(((answer != 0) & ~right & ~broke).float().mean()),
        float(((answer == 0) & ~broke).float().mean()),
        float(broke.float().mean()),
    ]
    thal_rate[name] = float((out.rates[..., thal].mean(-1) * dec).sum() / dec.sum())
    assert abs(answers[name][0] - results[name]["accuracy"]) < 1e-6  # same trials, same answers
    assert abs(answers[name][3] - results[name]["fixation_breaks"]) < 1e-6
    print(
        f"{name:36s} accuracy {results[name]['accuracy']:.2f}  "
        f"(coherence >= 12.8: {results[name]['accuracy_coherence_ge_12.8']:.2f})  "
        f"no answer {answers[name][2]:.2f}  broke fixation {answers[name][3]:.2f}  "
        f"thalamus in decision {thal_rate[name]:.2f}  "
        f"choice 1 answers {float((answer == 1).float().mean()):.2f}  "
        f"ctx E mean rate {float(out.rates[..., ctx_e].mean()):.3g}"
    )
    by_coh = results[name]["accuracy_by_coherence"]
    print(
        " " * 37
        + "by coherence: "
        + "  ".join(f"{c}: {by_coh[c]['accuracy']:.2f}" for c in sorted(by_coh, key=float))
    )

after = model.state_dict()
assert all(torch.equal(before[k], after[k]) for k in before) and model.perturbation is None
print("state dict bit-identical after every perturbation")

cohs = sorted(float(c) for c in results["intact"]["accuracy_by_coherence"])
fig, (ax, bx) = plt.subplots(
    1, 2, figsize=(13, 5.6), layout="constrained", gridspec_kw={"width_ratios": [1, 1.05]}
)
for k, (name, r) in enumerate(results.items()):
    acc = [r["accuracy_by_coherence"][f"{c:g}"]["accuracy"] for c in cohs]
    ax.plot(
        range(len(cohs)),
        acc,
        "o-",
        lw=2.5 if name == "intact" else 1.2,
        ms=6 if name == "intact" else 4,
        zorder=1 if name == "intact" else 2,
        color="0.6" if name == "intact" else f"C{k - 1}",
        label=f"{name} ({r['accuracy']:.2f})",
    )
ax.axhline(0.5, color="0.7", ls=":", lw=1)
ax.set_xticks(range(len(cohs)), [f"{c:g}" for c in cohs])
ax.set_xlabel("coherence (%)")
ax.set_ylabel("accuracy")
ax.set_ylim(-0.03, 1.05)
ax.set_title(
    f"accuracy by coherence ({N} held-out trials, the same in every condition)", fontsize=10
)
ax.legend(
    fontsize="small",
    frameon=False,
    loc="upper center",
    bbox_to_anchor=(0.5, -0.13),
    ncols=2,
    title="condition (overall accuracy)",
    title_fontsize="small",
)

names = list(conditions)
y = range(len(names))[::-1]
left = [0.0] * len(names)
for j, (what, color) in enumerate(
    (
        ("correct", "C2"),
        ("wrong choice", "C3"),
        ("no answer (fixate)", "0.75"),
        ("broke fixation", "C1"),
    )
):
    width = [answers[n][j] for n in names]
    bx.barh(list(y), width, left=left, color=color, label=what, height=0.7)
    left = [a + w for a, w in zip(left, width, strict=True)]
for yy, n in zip(y, names, strict=True):
    bx.text(1.02, yy, f"{thal_rate[n]:.2f}", va="center", fontsize=8)
bx.text(1.02, len(names) - 0.45, "thal.", fontsize=8, va="center", style="italic")
bx.set_yticks(list(y), names, fontsize=8)
bx.set_xlim(0, 1.14)
bx.set_ylim(-0.6, len(names) - 0.1)
bx.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
bx.set_xlabel("fraction of trials")
bx.set_title("answers; right: the thalamus's mean rate in the decision epoch", fontsize=10)
bx.legend(fontsize="small", frameon=False, ncols=4, loc="upper center", bbox_to_anchor=(0.45, -0.1))
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_lesions.png", dpi=100)
print("wrote", IMG / "analysis_lesions.png")
