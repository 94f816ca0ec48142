"""Declare a circuit, check it, compile it, and take a few training steps.

Run: python examples/quickstart.py
"""

import networkx as nx
import torch

import mrnngraph as mg

G = nx.DiGraph(name="quickstart")
G.add_node("stim", kind="input", size=4)
G.add_node("ctx", size=80, exc_frac=0.8, tau=50.0)
G.add_node("str", size=40, sign="inh")
G.add_node("thal", size=40, sign="exc", base_firing=1.0, init=1.0)
G.add_node("choice", kind="output", size=2)
G.add_edge("stim", "ctx", sparsity=0.5)
G.add_edge("ctx", "ctx", sparsity=0.8, autapses=False)
G.add_edge("ctx", "str", density=0.3, rule="fixed_indegree", ei=["EI"])
G.add_edge("str", "thal", density=0.5)
G.add_edge("thal", "ctx", trainable=False, gain=0.5)
G.add_edge("ctx", "choice", ei=["E"])

print(mg.validate(G))

# A typo is reported with a hint, together with every other problem.
broken = G.copy()
broken.edges["ctx", "str"]["sparsty"] = 0.5
broken.nodes["str"]["sign"] = "inhibitory"
try:
    mg.compile(broken)
except mg.GraphError as err:
    print(err)

circuit = mg.compile(G, seed=0)
print(circuit)
model = mg.MultiRegionRNN(circuit, dt=10.0, tau=100.0, activation="relu")
print(model)

# Learn to report the sign of the mean of input channel 0 on the two outputs.
gen = torch.Generator().manual_seed(0)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(100):
    u = torch.randn(32, 50, 4, generator=gen) * 0.5
    u[..., 0] += torch.sign(torch.randn(32, 1, generator=gen))
    target = torch.stack([(u[:, :, 0].mean(1) > 0), (u[:, :, 0].mean(1) <= 0)], 1).float()
    out = model(u)
    loss = (out.outputs[:, -10:] - target[:, None]).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 20 == 0 or step == 99:
        print(f"step {step:3d}  loss {loss.item():.4f}")

w = model.weight_hh.detach()
sign = circuit.sign_h
print("Dale's law holds:", bool((w[:, sign > 0] >= 0).all() and (w[:, sign < 0] <= 0).all()))
print("masks hold:", bool((w[~circuit.mask_hh] == 0).all()))
frozen = circuit.connection("thal", "ctx").weight
print("frozen thal->ctx unchanged:", torch.equal(model.projection("thal", "ctx").detach(), frozen))
