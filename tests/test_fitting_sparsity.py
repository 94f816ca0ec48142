"""PathwaySparsity's proximal step: exact zeros, the group-lasso shrinkage, constraints."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch

import mrnngraph as mg
from mrnngraph.fitting import PathwaySparsity, fit
from mrnngraph.recording import activity
from mrnngraph.training import constraint_violations

pytestmark = pytest.mark.filterwarnings("ignore::mrnngraph.CircuitWarning")


def _graph(size=8, *, sign=False, absent=False):
    G = nx.DiGraph(dt=10.0, tau=50.0, activation="tanh")
    G.add_node("u", kind="input", size=2)
    for r in ("a", "b"):
        G.add_node(r, size=size, **({"exc_frac": 0.75} if sign else {}))
        G.add_edge("u", r)
        G.add_edge(r, r)
    G.add_edge("a", "b")
    if not absent:
        G.add_edge("b", "a")
    return G


def _blocks(model):
    w = model.weight_hh.detach()
    return {"ab": w[8:, :8].clone(), "ba": w[:8, 8:].clone(), "aa": w[:8, :8].clone()}


def test_prox_is_block_soft_thresholding_with_sgds_step():
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=0)
    before = _blocks(model)
    lam = 0.5 / math.sqrt(8)
    lr = float(before["ab"].norm()) / lam * 0.5  # shrinks a->b to half its norm
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    term = PathwaySparsity(0.5)
    with torch.no_grad():  # b->a small enough to be set to zero
        model.parametrizations.weight_hh.original[:8, 8:] *= (
            0.1 * lr * lam / float(before["ba"].norm())
        )
    term.prox(model, opt)
    after = _blocks(model)
    factor = 1 - lr * lam / float(before["ab"].norm())
    assert torch.allclose(after["ab"], factor * before["ab"], rtol=1e-5, atol=1e-7)
    assert bool((after["ba"] == 0).all())
    assert torch.equal(after["aa"], before["aa"])  # self-connections are not penalised
    PathwaySparsity(0.5, self_connections=True).prox(model, opt)
    assert float(_blocks(model)["aa"].norm()) < float(before["aa"].norm())


def test_prox_is_skipped_when_not_proximal_or_weight_zero():
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=0)
    before = model.weight_hh.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=100.0)
    PathwaySparsity(0.5, proximal=False).prox(model, opt)
    PathwaySparsity(0.0).prox(model, opt)
    assert torch.equal(model.weight_hh.detach(), before)
    assert not PathwaySparsity(0.5, proximal=False).can_prox(model)
    with pytest.raises(TypeError, match="proximal"):
        PathwaySparsity(0.5, proximal=1)


def _fit_with(sign: bool, proximal: bool, weight: float = 200.0):
    truth = mg.MultiRegionRNN.from_graph(_graph(sign=sign, absent=True), seed=0)
    u = torch.randn(4, 12, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    rec = activity(truth, u)
    model = mg.MultiRegionRNN.from_graph(_graph(sign=sign), seed=1)
    seen = []

    def check(step, history, m):
        seen.append(constraint_violations(m))

    term = PathwaySparsity(weight, proximal=proximal)
    h = fit(
        model,
        rec,
        steps=3,
        lr=0.05,
        progress=False,
        losses=[term],
        callbacks=[check],
    )
    return model, h, seen


@pytest.mark.parametrize("sign", [False, True])
def test_fit_applies_the_prox_after_every_step(sign):
    """A weight whose shrinkage (lr * weight / sqrt(8) per step) exceeds every
    between-region block's norm switches them off exactly in the first step (under
    Dale's law: zero current, signs kept); self-connections stay; the term's value is
    recorded in the loss but not differentiated. As a penalty (proximal=False) the
    blocks only shrink."""
    model, h, seen = _fit_with(sign, proximal=True)
    w = model.weight_hh.detach()
    assert float(w[:8, 8:].abs().max()) < 1e-30 and float(w[8:, :8].abs().max()) < 1e-30
    assert float(w[:8, :8].norm()) > 0.5 and float(w[8:, 8:].norm()) > 0.5
    assert all(not any(v.values()) for v in seen), seen[-1]
    assert h.terms["pathway_sparsity"][-1] < 1e-3  # blocks zero from step 1 on
    assert h.loss[0] == pytest.approx(h.task_loss[0] + h.terms["pathway_sparsity"][0])
    assert np.isfinite(h.loss).all()
    plain, _, seen = _fit_with(sign, proximal=False, weight=0.05)
    assert float(plain.weight_hh.detach()[:8, 8:].abs().max()) > 1e-3
    assert all(not any(v.values()) for v in seen)


def test_forcing_sets_observed_units_back_to_the_data_every_m_bins():
    from mrnngraph.fitting import Observation
    from mrnngraph.fitting._evaluation import _run, _tensors

    truth = mg.MultiRegionRNN.from_graph(_graph(), seed=0)
    u = torch.randn(3, 13, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    rec = activity(truth, u)
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    obs = Observation.identity(rec, "tanh")
    rates, inputs = _tensors(rec, model)
    with torch.no_grad():
        free = _run(model, obs, rates, inputs, model.x0, 1)[3]
        whole = _run(model, obs, rates, inputs, model.x0, 1, 12)[3]
        forced = _run(model, obs, rates, inputs, model.x0, 1, 4)[3]
        moved = {r: v.clone() for r, v in rates.items()}
        moved["a"][:, 4] += 0.3  # the data at bin 4: where the second piece starts
        forced2 = _run(model, obs, moved, inputs, model.x0, 1, 4)[3]
    for r in ("a", "b"):
        assert torch.equal(free[r], whole[r])
        assert torch.allclose(forced[r][:, :4], free[r][:, :4], atol=1e-6)  # one free piece
        assert not torch.allclose(forced[r][:, 4:], free[r][:, 4:])
        assert torch.allclose(forced2[r][:, :4], forced[r][:, :4], atol=1e-6)
        assert not torch.allclose(forced2[r][:, 4:8], forced[r][:, 4:8])
        assert torch.allclose(forced2[r][:, 8:], forced[r][:, 8:], atol=1e-6)  # reset at 8
    # the true model, set back to the data, predicts it exactly whatever the interval
    with torch.no_grad():
        exact = _run(truth, obs, rates, inputs, truth.x0, 1, 4)[3]
    assert torch.allclose(exact["a"], rates["a"][:, 1:], atol=1e-4)
    h = fit(model, rec, steps=3, progress=False, forcing=4)
    assert len(h.loss) == 3 and np.isfinite(h.loss).all()
    with pytest.raises(ValueError, match="forcing"):
        fit(model, rec, steps=1, progress=False, forcing=0)


@pytest.mark.parametrize("T", [13, 14])
def test_forcing_with_every_unit_observed_runs_the_pieces_as_one_batch(T):
    """The batched pieces give what the piece-by-piece loop gives (a latent unit forces
    the loop: same predictions of the observed units when it has no outgoing weight)."""
    from mrnngraph.fitting import Observation
    from mrnngraph.fitting._evaluation import _run, _tensors

    truth = mg.MultiRegionRNN.from_graph(_graph(), seed=0)
    u = torch.randn(3, T, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    rec = activity(truth, u)
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    obs = Observation.identity(rec, "tanh")
    rates, inputs = _tensors(rec, model)
    with torch.no_grad():
        out, _, _, batched = _run(model, obs, rates, inputs, model.x0, 1, 4)
        assert out.rates.shape[1] == T - 1
        loop = {}
        x = model.x0.expand(3, -1).clone()
        for j in range(0, T - 1, 4):
            for r, y in rates.items():
                s = model.layout.slice(r)
                x[:, s] = obs.initial_state(r, y[:, j])
            o = model(inputs[:, j + 1 : j + 5], x)
            x = o.states[:, -1]
            for r in rates:
                loop.setdefault(r, []).append(o.rates[..., model.layout.slice(r)])
    for r in rates:
        assert torch.allclose(batched[r], torch.cat(loop[r], dim=1), atol=1e-6)
