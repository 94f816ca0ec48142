"""Linearise the trained circuit: which region drives which, and how stable is it?

Trains the default circuit briefly (see analyse_setup.py) and takes the Jacobian
of the update map (mrnngraph.analysis.jacobian) at two states: the fixed point
of the delay input (if the search finds none, its slowest slow point), and the
average state late in the stimulus epoch of strong-evidence trials. The heat maps
show the spectral norm of every region block J[dst, src] (how much a change in the
source region moves the destination in one step; the leak is left out of the
diagonal); the right panel shows both spectra in continuous time with the
stability line Re = 0.

Run: python examples/analyse_linearisation.py  ->  docs/img/analysis_jacobian.png
"""

import matplotlib.pyplot as plt
import torch
from analyse_setup import IMG, task, trained_model

from mrnngraph.analysis import find_fixed_points, jacobian, plot_block_norms, plot_spectrum

model = trained_model()
t = task()
batch = t.batch(256, seed=2)
with torch.no_grad():
    out = model(batch.inputs)
late_stimulus = round(550 / t.dt)
strong = batch.trials["coherence"] >= 25.6
state = out.states[strong, late_stimulus].mean(0)
stim_input = batch.inputs[strong, late_stimulus].mean(0)
delay_input = torch.tensor([1.0, 0.0, 0.0])

fps = find_fixed_points(model, delay_input, out.states[:16, round(800 / t.dt)])
# The delay fixed point if the search finds one, else the slowest slow point (lowest q).
what = "delay fixed point" if bool(fps.converged[0]) else "slowest delay slow point"
J_fixed = jacobian(model, fps.points[0], delay_input)
J_stim = jacobian(model, state, stim_input)
print(
    f"{what}: residual {float(J_fixed.residual.abs().max()):.1e} (q = {float(fps.q[0]):.1e}, "
    f"{int(fps.converged.sum())} of {len(fps.q)} points converged), "
    f"spectral radius {J_fixed.spectral_radius:.3f}, stable {J_fixed.stable}"
)
for name, J in ((what, J_fixed), ("stimulus state", J_stim)):
    norms, names = J.block_norms()
    idx = {n: i for i, n in enumerate(names)}
    print(
        f"{name}: "
        + ", ".join(
            f"||J[{d}, {s_}]|| {float(norms[idx[d], idx[s_]]):.2f}"
            for d, s_ in (
                ("ctx_e", "thal"),
                ("ctx_i", "thal"),
                ("ctx_e", "ctx_i"),
                ("ctx_i", "ctx_i"),
                ("snr", "stn"),
                ("thal", "snr"),
                ("stn", "gpe"),
            )
        )
    )
print(
    f"stimulus state: residual {float(J_stim.residual.abs().max()):.2f} (not a fixed point), "
    f"spectral radius {J_stim.spectral_radius:.3f}"
)
print(
    "J[stn, ctx_e] at the stimulus state:",
    tuple(J_stim["stn", "ctx_e"].shape),
    f"spectral norm {float(torch.linalg.matrix_norm(J_stim['stn', 'ctx_e'], ord=2)):.3f}",
)

fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
plot_block_norms(J_fixed, ax=axes[0])
axes[0].set_title(f"‖J[dst, src]‖ at the {what}", fontsize=10)
plot_block_norms(J_stim, ax=axes[1])
axes[1].set_title("‖J[dst, src]‖ late in the stimulus (coherence ≥ 25.6%)", fontsize=10)
plot_spectrum(J_fixed, ax=axes[2], continuous=True, label=what, s=18)
plot_spectrum(J_stim, ax=axes[2], continuous=True, label="stimulus state", marker="x", s=18)
axes[2].set_title("continuous-time spectra (stable left of Re = 0)", fontsize=10)
IMG.mkdir(parents=True, exist_ok=True)
fig.savefig(IMG / "analysis_jacobian.png", dpi=110)
print("wrote", IMG / "analysis_jacobian.png")
