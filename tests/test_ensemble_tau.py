"""Ensembles of members that learn their time constants (``learn_tau``): each member's
alpha, bounds, gradients and training are its own model's."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

import mrnngraph as mg
from mrnngraph.model import same_bits
from tests.test_learn_tau import tau_graph
from tests.test_train_ensemble import TASK, _max_diff

D = torch.float64


def tau_circuits() -> list[mg.CompiledCircuit]:
    """Member 0 learns a and c; member 1 learns nothing; member 2 learns a only, within
    other bounds, and c is fixed at another tau."""
    graphs = [
        tau_graph(),
        tau_graph(a={"tau": 50.0}, c={"tau": 10.0}),
        tau_graph(
            a={"tau": 80.0, "learn_tau": True, "tau_min": 20.0, "tau_max": 200.0},
            c={"tau": 30.0},
        ),
    ]
    return [mg.compile(G, seed=k) for k, G in enumerate(graphs)]


def raw_alpha(module: torch.nn.Module) -> torch.Tensor:
    return module.parametrizations.alpha.original


def test_members_keep_their_own_time_constants_and_gradients():
    ens = mg.Ensemble(tau_circuits(), dtype=D, activation="tanh")
    assert raw_alpha(ens).shape == (3, ens.hidden_size)
    assert "learn_tau=['a', 'c']" in repr(ens)
    with torch.no_grad():  # some training: time constants moved away from their start
        raw_alpha(ens).add_(torch.linspace(-0.5, 0.7, raw_alpha(ens).numel()).view(3, -1))
    u = torch.randn(2, 9, 2, generator=torch.Generator().manual_seed(0), dtype=D)
    out = ens(u)
    (out.outputs.square().sum() + out.rates.sum()).backward()
    grads = dict(ens.named_parameters())
    for k in range(3):
        m = ens[k]
        assert parametrize.is_parametrized(m, "alpha") == (k != 1)
        assert same_bits(m.alpha.detach(), ens.alpha[k].detach())
        mine = m(u)
        (mine.outputs.square().sum() + mine.rates.sum()).backward()
        for a, b in zip(mine, (out.outputs[k], out.rates[k], out.states[k]), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
        g = grads["parametrizations.alpha.original"].grad[k]
        if k == 1:
            assert not g.any()  # nothing learned: no gradient, the optimizer leaves it
            continue
        index = m.parametrizations.alpha[0].index
        torch.testing.assert_close(raw_alpha(m).grad, g[index], rtol=1e-11, atol=1e-13)
        others = torch.ones_like(g, dtype=torch.bool)
        others[index] = False
        assert g.any() and not g[others].any()


def test_time_constants_stay_within_each_members_bounds_after_huge_steps():
    cs = tau_circuits()
    ens = mg.Ensemble(cs, dtype=D)
    fixed = ens.alpha.detach().clone()
    learn = ens.parametrizations.alpha[0].learn
    opt = torch.optim.SGD([raw_alpha(ens)], lr=1e6)
    for _ in range(2):
        opt.zero_grad()
        ens(torch.randn(2, 5, 2, dtype=D)).outputs.sum().backward()
        opt.step()
    alpha = ens.alpha.detach()
    assert same_bits(alpha[~learn], fixed[~learn])
    assert not torch.equal(alpha[learn], fixed[learn])
    for k in (0, 2):
        for name, tau in ens[k].time_constants().items():
            node = cs[k].spec.nodes[name]
            if node.learn_tau:
                lo, hi = max(node.tau_min or 10.0, 10.0), node.tau_max or float("inf")
                assert bool(((tau >= lo * (1 - 1e-9)) & (tau <= hi * (1 + 1e-9))).all())


def test_setting_alpha_is_checked_per_member():
    ens = mg.Ensemble(tau_circuits(), dtype=D)
    alpha = ens.alpha.detach().clone()
    ens.alpha = alpha  # its own value: accepted, unchanged
    torch.testing.assert_close(ens.alpha, alpha, rtol=1e-12, atol=0)
    bad = alpha.clone()
    bad[1, ens.layout.slice("a")] = 0.5  # member 1 does not learn a
    with pytest.raises(ValueError, match="alpha of member 1: units that do not learn"):
        ens.alpha = bad
    bad = alpha.clone()
    bad[2, ens.layout.slice("a")] = 0.9  # tau 11 ms, under member 2's tau_min 20
    with pytest.raises(ValueError, match=r"alpha of member 2, a unit of region 'a'.*\[0.05, 0.5\]"):
        ens.alpha = bad


def test_from_models_and_checkpoints_round_trip(tmp_path):
    models = [mg.MultiRegionRNN(c, dtype=D) for c in tau_circuits()]
    with torch.no_grad():
        for k, m in enumerate(models):
            if parametrize.is_parametrized(m, "alpha"):
                raw_alpha(m).add_(0.1 * (k + 1))
    ens = mg.Ensemble.from_models(models)
    for k, m in enumerate(models):
        back = ens[k].state_dict()
        for key, value in m.state_dict().items():
            assert same_bits(back[key], value), key
    path = mg.save_model(ens, tmp_path / "ens.pt")
    again = mg.load_model(path)
    assert isinstance(again, mg.Ensemble)
    for (key, a), b in zip(again.state_dict().items(), ens.state_dict().values(), strict=True):
        assert same_bits(a, b), key
    ens.reset_parameters()
    fresh = mg.Ensemble(ens.circuits, **ens.options(), dtype=D)
    assert same_bits(raw_alpha(ens), raw_alpha(fresh))


def test_members_trained_together_equal_members_trained_alone():
    kw = dict(steps=5, batch_size=8, seed=1, progress=False, health_every=None, clip_grad=0.5)
    graphs = [tau_graph(), tau_graph(a={"tau": 50.0}, c={"tau": 10.0})]
    for G in graphs:  # the task's inputs and outputs
        G.nodes["u"]["size"] = TASK.input_size
        G.nodes["y"]["size"] = TASK.output_size
    models = [mg.MultiRegionRNN(mg.compile(G, seed=k), dtype=D) for k, G in enumerate(graphs)]
    ens = mg.Ensemble.from_models(models)

    def slow(model, out, batch):  # a regulariser on the member's own time constants
        return 1e-2 * model.alpha.square().sum()

    kw["losses"] = {"slow": slow}
    h = mg.train(ens, TASK, **kw)
    moved = ens.alpha.detach()[0] != models[0].alpha.detach()
    assert moved.any()  # the learned time constants trained
    for k, m in enumerate(models):
        hk = mg.train(m, TASK, **kw)
        assert _max_diff(ens[k], m) < 1e-12
        for i in range(5):
            assert h.member_loss[i][k] == pytest.approx(hk.loss[i], rel=1e-12)
            assert h.member_grad_norm[i][k] == pytest.approx(hk.grad_norm[i], rel=1e-9)
            assert h.member_terms["slow"][i][k] == pytest.approx(hk.terms["slow"][i], rel=1e-12)
