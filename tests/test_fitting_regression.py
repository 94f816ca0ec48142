"""regress(): recovery on noise-free data, constraints, exact zeros, refinement, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.fitting import Observation, pvar
from mrnngraph.fitting._regression import RegressionReport, regress
from mrnngraph.recording import Recording, activity
from mrnngraph.training import constraint_violations

pytestmark = pytest.mark.filterwarnings("ignore::mrnngraph.CircuitWarning")

SIZE = 6


def _graph(*, sign=False, absent=(), frozen=(), density=1.0, size=SIZE, delay=None, bias=None):
    """Three tanh regions, every ordered pair declared unless in ``absent``."""
    G = nx.DiGraph(dt=10.0, tau=50.0, activation="tanh")
    G.add_node("u", kind="input", size=2)
    regions = ("a", "b", "c")
    for r in regions:
        extra = {"exc_frac": 0.5} if sign else {}
        if bias is not None:
            extra.update(base_firing=bias[r], learnable_bias=True)
        G.add_node(r, size=size, **extra)
        G.add_edge("u", r)
    for s in regions:
        for d in regions:
            if (s, d) in absent:
                continue
            kw = {"density": density} if s != d and density < 1 else {}
            if (s, d) in frozen:
                kw["trainable"] = False
            if delay is not None and (s, d) == ("a", "b"):
                kw["delay"] = delay
            G.add_edge(s, d, gain=1.2, **kw)
    return G


def _data(G, *, seed=0, trials=48, bins=10):
    """Noise-free activity of the circuit compiled with ``seed``, from random initial
    states spread over the activation's range (every direction of the state space is
    visited), in the model's own rate units."""
    truth = mg.MultiRegionRNN.from_graph(G, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(trials, bins, 2, generator=gen)
    x0 = 1.2 * torch.randn(trials, truth.hidden_size, generator=gen)
    return truth, activity(truth, u, x0=x0)


def test_recovers_the_weights_of_noise_free_data():
    """With every unit observed, the model's own units (identity read-out) and no noise,
    the one-step map is exactly linear in the weights: the regression finds them."""
    G = _graph()
    truth, rec = _data(G)
    model = mg.MultiRegionRNN.from_graph(G, seed=1)
    assert float((model.weight_hh - truth.weight_hh).detach().abs().max()) > 0.3
    report = regress(model, rec, observation=Observation.identity(rec, "tanh"), ridge=0.0)
    assert isinstance(report, RegressionReport)
    assert report.converged and report.r2 > 0.99999
    w, w_true = model.weight_hh.detach(), truth.weight_hh.detach()
    assert float((w - w_true).abs().max()) < 1e-3 * float(w_true.abs().max())
    assert torch.allclose(model.weight_ih, truth.weight_ih, atol=1e-3)
    assert pvar(model, rec)["all"] > 0.9999
    assert report.cpu_s >= 0 and report.seconds >= 0


def test_recovers_learnable_biases():
    truth_graph = _graph(bias={"a": 0.3, "b": -0.2, "c": 0.1})
    truth, rec = _data(truth_graph)
    model = mg.MultiRegionRNN.from_graph(_graph(bias={"a": 0.0, "b": 0.0, "c": 0.0}), seed=1)
    regress(model, rec, observation=Observation.identity(rec, "tanh"), ridge=0.0)
    assert torch.allclose(model.bias.detach(), truth.bias.detach(), atol=1e-3)
    fixed = mg.MultiRegionRNN.from_graph(_graph(), seed=1)  # bias fixed at 0: kept
    regress(fixed, rec, observation=Observation.identity(rec, "tanh"))
    assert bool((fixed.bias == 0).all())


def test_poisson_counts_with_refinement():
    G = _graph()
    _, units = _data(G)
    gen = np.random.default_rng(0)
    counts = {r: gen.poisson(2.0 + 2.0 * (1 + v)).astype(float) for r, v in units.rates.items()}
    rec = Recording(counts, 10.0, inputs=units.inputs)
    model = mg.MultiRegionRNN.from_graph(G, seed=1)
    report = regress(model, rec, loss="poisson", refine=5, sparsity=0.01)
    assert model.observation.loss == "poisson" and math.isfinite(report.r2)
    assert report.refined[1] <= report.refined[0]
    assert not any(constraint_violations(model).values())


@pytest.mark.parametrize("weighting", ["rate", "state"])
def test_the_read_out_is_fits_start_and_is_set_on_the_model(weighting):
    G = _graph()
    _, units = _data(G)
    rec = Recording({r: 10 + 20 * v for r, v in units.rates.items()}, units.dt, inputs=units.inputs)
    model = mg.MultiRegionRNN.from_graph(G, seed=1)
    report = regress(model, rec, weighting=weighting)
    start = Observation.initial(rec, "tanh")
    for r in rec.regions:
        assert torch.equal(model.observation.scale[r], start.scale[r])
        assert torch.equal(model.observation.offset[r], start.offset[r])
    assert report.observation is model.observation and report.refined is None
    assert report.r2 > 0.9


def test_refine_lowers_the_one_step_loss_and_moves_the_read_out():
    G = _graph()
    _, units = _data(G)
    rec = Recording({r: 10 + 20 * v for r, v in units.rates.items()}, units.dt, inputs=units.inputs)
    plain = mg.MultiRegionRNN.from_graph(G, seed=1)
    regress(plain, rec)
    model = mg.MultiRegionRNN.from_graph(G, seed=1)
    report = regress(model, rec, refine=30, refine_trials=24)
    before, after = report.refined
    assert after < 0.5 * before
    start = Observation.initial(rec, "tanh")
    assert not torch.allclose(model.observation.scale["a"], start.scale["a"])
    assert pvar(model, rec)["all"] > pvar(plain, rec)["all"]
    assert not any(constraint_violations(model).values())


def test_masks_dale_and_frozen_projections_hold():
    G = _graph(sign=True, density=0.5, frozen=[("b", "c")])
    _, rec = _data(G)
    model = mg.MultiRegionRNN.from_graph(G, seed=1)
    frozen = model.projection("b", "c").detach().clone()
    before_ab = model.projection("a", "b").detach().clone()
    regress(model, rec, sparsity=0.01, refine=5)
    assert constraint_violations(model) == {"dale": 0, "mask": 0, "frozen": 0}
    assert torch.equal(model.projection("b", "c").detach(), frozen)
    w = model.weight_hh.detach()
    assert bool((w[~model.mask_hh] == 0).all())
    exc = model.sign_h > 0
    assert bool((w[:, exc] >= 0).all()) and bool((w[:, model.sign_h < 0] <= 0).all())
    assert bool(exc.any()) and bool((model.sign_h < 0).any())
    assert not torch.equal(model.projection("a", "b").detach(), before_ab)


@pytest.mark.parametrize("sign", [False, True])
def test_enough_sparsity_switches_absent_pathways_off(sign):
    """The truth lacks b->a, c->b, a->c; a group lasso between the gradient norms of the
    absent and the present pathways zeroes exactly those (under Dale's law: the smallest
    positive float, zero current)."""
    absent = [("b", "a"), ("c", "b"), ("a", "c")]
    _, rec = _data(_graph(sign=sign, absent=absent))
    model = mg.MultiRegionRNN.from_graph(_graph(sign=sign), seed=1)
    report = regress(model, rec, sparsity=0.05, observation=Observation.identity(rec, "tanh"))
    assert sorted(report.zeroed) == sorted(absent)
    for s, d in absent:
        block = model.projection(s, d).detach()
        if sign:
            assert float(block.abs().max()) <= torch.finfo(block.dtype).tiny
        else:
            assert bool((block == 0).all())
    for s, d in [("a", "b"), ("b", "c"), ("c", "a")]:
        assert report.pathways[(s, d)] > 0.1
    assert float(model.projection("a", "a").detach().norm()) > 0.5  # not penalised
    assert not any(constraint_violations(model).values())
    everything = mg.MultiRegionRNN.from_graph(_graph(sign=sign), seed=1)
    r_all = regress(everything, rec, sparsity=50.0)
    assert len(r_all.zeroed) == 6


def test_latent_units_keep_their_weights():
    G = _graph(size=8)
    _, units = _data(G)
    rec = Recording({r: v[..., :SIZE] for r, v in units.rates.items()}, 10.0, inputs=units.inputs)
    model = mg.MultiRegionRNN.from_graph(G, seed=1)
    before_hh = model.weight_hh.detach().clone()
    before_ih = model.weight_ih.detach().clone()
    regress(model, rec, refine=3)
    lay = model.layout
    latent = torch.ones(model.hidden_size, dtype=torch.bool)
    for r in rec.regions:
        latent[lay.slice(r).start : lay.slice(r).start + SIZE] = False
    w = model.weight_hh.detach()
    assert torch.equal(w[latent], before_hh[latent])
    assert torch.equal(w[:, latent], before_hh[:, latent])
    assert torch.equal(model.weight_ih.detach()[latent], before_ih[latent])
    assert not torch.equal(w[~latent][:, ~latent], before_hh[~latent][:, ~latent])


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sign=st.booleans(),
    density=st.sampled_from([0.3, 0.7, 1.0]),
    sparsity=st.sampled_from([0.0, 0.02, 1.0]),
    weighting=st.sampled_from(["rate", "state"]),
    seed=st.integers(0, 3),
)
def test_constraints_hold_for_any_circuit_and_penalty(sign, density, sparsity, weighting, seed):
    G = _graph(sign=sign, density=density)
    _, rec = _data(G, seed=seed, trials=8, bins=6)
    model = mg.MultiRegionRNN.from_graph(G, seed=seed + 1)
    report = regress(model, rec, sparsity=sparsity, weighting=weighting, iterations=200)
    assert not any(constraint_violations(model).values())
    assert all(math.isfinite(float(v)) for v in model.weight_hh.detach().flatten()[:50])
    assert report.iterations <= 200
    assert set(report.zeroed) <= set(report.pathways)


def _model_and_rec():
    G = _graph()
    _, rec = _data(G, trials=4, bins=5)
    return mg.MultiRegionRNN.from_graph(G, seed=1), rec


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sparsity": "a"}, TypeError, "sparsity must be"),
        ({"sparsity": -1.0}, ValueError, "sparsity must be"),
        ({"ridge": math.nan}, ValueError, "ridge must be"),
        ({"iterations": 0}, ValueError, "iterations must be"),
        ({"iterations": 2.5}, TypeError, "iterations must be"),
        ({"refine": 1.5}, TypeError, "refine must be"),
        ({"refine_trials": 0}, ValueError, "refine_trials must be"),
        ({"weighting": "huber"}, ValueError, "weighting must be"),
        ({"loss": "l1"}, ValueError, "loss must be"),
        ({"self_connections": 1}, TypeError, "self_connections must be"),
        ({"observation": "identity"}, TypeError, "observation must be"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    model, rec = _model_and_rec()
    with pytest.raises(error, match=match):
        regress(model, rec, **kwargs)


def test_what_it_cannot_do_is_refused_with_the_reason():
    model, rec = _model_and_rec()
    with pytest.raises(TypeError, match="Recording"):
        regress(model, {"a": np.zeros((2, 3, 4))})
    with pytest.raises(TypeError, match="MultiRegionRNN"):
        regress(torch.nn.Linear(2, 2), rec)
    ens = mg.Ensemble.from_models([model, mg.MultiRegionRNN.from_graph(_graph(), seed=2)])
    with pytest.raises(TypeError, match="not an Ensemble"):
        regress(ens, rec)
    coarse = Recording(rec.rates, 20.0, inputs=rec.inputs)  # 2 model steps per bin
    with pytest.raises(ValueError, match="one model step per bin.*dt=20"):
        regress(model, coarse)
    sparse = mg.MultiRegionRNN.from_graph(_graph(), seed=1, sparse=True)
    with pytest.raises(ValueError, match="dense recurrent weights.*sparse=False"):
        regress(sparse, rec)
    delayed = mg.MultiRegionRNN.from_graph(_graph(delay=10.0), seed=1)
    with pytest.raises(ValueError, match="conduction delays"):
        regress(delayed, rec)
    other = Observation.identity(Recording({"a": rec.rates["a"]}, 10.0), "tanh")
    with pytest.raises(ValueError, match="region 'b'"):
        regress(model, rec, observation=other)
    with pytest.raises(ValueError, match="activation 'relu'"):
        regress(model, rec, observation=Observation.identity(rec, "relu"))


def test_regress_in_a_child_process_at_default_threads():
    """Same zeros and (to rounding) the same weights at torch's default thread count as
    here; a hang fails instead of stalling."""
    code = textwrap.dedent(
        """
        import warnings, torch, mrnngraph as mg
        warnings.simplefilter("ignore")
        from tests.test_fitting_regression import _data, _graph
        from mrnngraph.fitting import Observation
        from mrnngraph.fitting._regression import regress
        absent = [("b", "a"), ("c", "b"), ("a", "c")]
        _, rec = _data(_graph(absent=absent))
        model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
        r = regress(model, rec, sparsity=0.05, observation=Observation.identity(rec, "tanh"))
        total = float(model.weight_hh.detach().sum())
        print(json.dumps({"zeroed": sorted(r.zeroed), "sum": total}))
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert res.returncode == 0, res.stderr
    child = json.loads(res.stdout.strip().splitlines()[-1])
    absent = [("b", "a"), ("c", "b"), ("a", "c")]
    _, rec = _data(_graph(absent=absent))
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    r = regress(model, rec, sparsity=0.05, observation=Observation.identity(rec, "tanh"))
    assert [tuple(p) for p in child["zeroed"]] == sorted(r.zeroed)
    assert child["sum"] == pytest.approx(float(model.weight_hh.detach().sum()), abs=1e-3)
