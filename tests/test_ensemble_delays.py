"""Ensembles of members with conduction delays (edge ``delay``): each member runs, is
perturbed, trains and is saved as its own MultiRegionRNN."""

from __future__ import annotations

import pytest
import torch

import mrnngraph as mg
from mrnngraph.analysis.currents import currents
from mrnngraph.model import same_bits
from mrnngraph.presets import two_area_ei
from tests.test_ensemble import variant
from tests.test_train_ensemble import TASK, _max_diff

D = torch.float64


def delayed_circuits() -> list[mg.CompiledCircuit]:
    """Recurrent, input and readout delays that differ per member (none in member 1)."""
    cs = []
    for v in range(3):
        G = variant(v)
        if v != 1:
            G.edges["ctx", "str"]["delay"] = [20.0, 0.0, 40.0][v]
            G.edges["stim", "ctx"]["delay"] = 10.0 * v
            G.edges["ctx", "choice"]["delay"] = 30.0
            G.edges["thal", "ctx"]["delay"] = 10.0
        cs.append(mg.compile(G, seed=v))
    return cs


@pytest.fixture(scope="module")
def ens():
    e = mg.Ensemble(delayed_circuits(), dtype=D, activation="tanh")
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in e.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=D))
    return e


@pytest.mark.parametrize("scan", ["fused", "autograd"])
@pytest.mark.parametrize("per_member_inputs", [False, True])
def test_each_member_equals_its_model(scan, per_member_inputs):
    ens = mg.Ensemble(delayed_circuits(), dtype=D, activation="tanh", scan=scan)
    assert ens._blocks is not None  # recurrent delays run as delayed blocks
    g = torch.Generator().manual_seed(0)
    u = torch.randn((3, 2, 9, 3) if per_member_inputs else (2, 9, 3), generator=g, dtype=D)
    out = ens(u)
    (out.outputs.sin().sum() + out.rates.square().sum()).backward()
    grads = dict(ens.named_parameters())
    for k in range(3):
        m = ens[k]
        assert (m._delays is None) == (k == 1)
        mine = m(u[k] if per_member_inputs else u)
        (mine.outputs.sin().sum() + mine.rates.square().sum()).backward()
        for a, b in zip(mine, (out.outputs[k], out.rates[k], out.states[k]), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
        for name, p in m.named_parameters():
            torch.testing.assert_close(p.grad, grads[name].grad[k], rtol=1e-11, atol=1e-12)


def test_only_readout_and_input_delays_keep_the_dense_recurrence():
    cs = []
    for v in range(2):
        G = variant(v)
        G.edges["ctx", "choice"]["delay"] = 20.0 * (v + 1)
        G.edges["stim", "ctx"]["delay"] = 10.0
        cs.append(mg.compile(G, seed=v))
    ens = mg.Ensemble(cs, dtype=D)
    assert ens._blocks is None
    u = torch.randn(2, 8, 3, dtype=D)
    out = ens(u)
    for k in range(2):
        torch.testing.assert_close(ens[k](u).outputs, out.outputs[k], rtol=1e-12, atol=1e-13)


def test_perturb_and_currents_with_delays(ens):
    u = torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(1), dtype=D)
    # thal is clamped before the trial too: ctx hears it 1 step late from the first step
    kw = {"clamp": {"thal": 0.7}, "stimulate": {"ctx": 0.3}, "cut": [("ctx", "ctx")]}
    with torch.no_grad(), mg.perturb(ens, **kw):
        out = ens(u)
        cur = currents(ens, out.rates, u)
    for k in range(3):
        m = ens[k]
        with torch.no_grad(), mg.perturb(m, **kw):
            mine = m(u)
            alone = currents(m, out.rates[k], u)
        torch.testing.assert_close(mine.outputs, out.outputs[k], rtol=1e-12, atol=1e-13)
        assert alone.keys() == cur.keys()
        for key, value in alone.items():
            assert torch.equal(value, cur[key][k]), (k, key)


def test_from_models_and_checkpoints_round_trip(tmp_path, ens):
    models = [ens[k] for k in range(3)]
    u = torch.randn(2, 9, 3, dtype=D)
    back = mg.load_model(mg.save_model(ens, tmp_path / "ens.pt"))
    for again in (mg.Ensemble.from_models(models), back):
        assert torch.equal(again(u).outputs, ens(u).outputs)
        for k, m in enumerate(models):
            mine = again[k].state_dict()
            for key, value in m.state_dict().items():
                assert same_bits(mine[key], value), (k, key)


def test_members_trained_together_equal_members_trained_alone():
    kw = dict(steps=4, batch_size=8, seed=2, progress=False, health_every=None, clip_grad=0.5)
    models = []
    for s, delay in enumerate((20.0, 60.0)):
        G = two_area_ei(size=8)
        for edge in G.edges:
            if G.nodes[edge[0]].get("kind") != "input" and edge[0] != edge[1]:
                G.edges[edge]["delay"] = delay
        models.append(mg.MultiRegionRNN(mg.compile(G, seed=s), dt=20.0, tau=100.0, dtype=D))
    assert all(m._delays is not None and m._delays.hh is not None for m in models)
    ens = mg.Ensemble.from_models(models)
    h = mg.train(ens, TASK, **kw)
    for k, m in enumerate(models):
        hk = mg.train(m, TASK, **kw)
        assert _max_diff(ens[k], m) < 1e-12
        assert h.member_loss[-1][k] == pytest.approx(hk.loss[-1], rel=1e-12)
