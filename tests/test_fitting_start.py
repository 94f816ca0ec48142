"""fit(observation=...): starting a fit from a given read-out (e.g. regress's refined one)."""

from __future__ import annotations

import pytest
import torch

import mrnngraph as mg
from mrnngraph.fitting import Observation, fit, regress
from mrnngraph.recording import Recording, activity
from mrnngraph.training import constraint_violations
from tests.test_fitting_regression import _graph

pytestmark = pytest.mark.filterwarnings("ignore::mrnngraph.CircuitWarning")


def _recording(trials=16, bins=10):
    G = _graph()
    truth = mg.MultiRegionRNN.from_graph(G, seed=0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(trials, bins, 2, generator=gen, dtype=torch.float64)
    x0 = 1.2 * torch.randn(trials, truth.hidden_size, generator=gen, dtype=torch.float64)
    units = activity(truth, u, x0=x0)
    rates = {r: 10 + 20 * v for r, v in units.rates.items()}
    return G, Recording(rates, units.dt, inputs=units.inputs)


def _model(G, seed=1):
    return mg.MultiRegionRNN.from_graph(G, seed=seed, dtype=torch.float64)


KW = dict(steps=1, forcing=1, progress=False, seed=0)


def test_fit_continues_from_regress_s_refined_read_out():
    G, rec = _recording()
    model = _model(G)
    report = regress(model, rec, refine=20)
    refined = model.observation
    h = fit(model, rec, observation=refined, batch_size=rec.n_trials, **KW)
    assert report.refined is not None and model.observation is not refined
    # the default start is Observation.initial's read-out: with regress's weights, the
    # one-step loss fit starts from is worse than with the read-out they were refined for
    again = _model(G)
    regress(again, rec, refine=20)
    plain = fit(again, rec, batch_size=rec.n_trials, **KW)
    assert plain.task_loss[0] > 1.5 * h.task_loss[0]
    assert not any(constraint_violations(model).values())


def test_a_fixed_read_out_stays_as_given_and_is_copied():
    G, rec = _recording()
    model = _model(G)
    start = Observation.initial(rec, "tanh")
    start.scale["a"] = start.scale["a"] * 0.5
    kept = start.scale["a"].clone()
    fit(model, rec, observation=start, learn_observation=False, batch_size=4, **KW)
    torch.testing.assert_close(model.observation.scale["a"], kept.double(), rtol=0, atol=0)
    assert model.observation is not start and torch.equal(start.scale["a"], kept)
    # learned from there, the given object is left as it was
    fit(_model(G), rec, observation=start, batch_size=4, **{**KW, "steps": 3})
    assert torch.equal(start.scale["a"], kept)


def test_members_start_from_their_own_read_outs_as_alone():
    G, rec = _recording()
    starts = [Observation.initial(rec, "tanh") for _ in range(2)]
    starts[1].offset["b"] = starts[1].offset["b"] + 1.0
    ens = mg.Ensemble.from_models([_model(G, 1), _model(G, 2)])
    fit(ens, rec, observation=starts, batch_size=4, **{**KW, "steps": 3})
    for k, seed in enumerate((1, 2)):
        alone = _model(G, seed)
        fit(alone, rec, observation=starts[k], batch_size=4, **{**KW, "steps": 3})
        torch.testing.assert_close(ens.weight_hh[k], alone.weight_hh, rtol=0, atol=1e-12)
        torch.testing.assert_close(
            ens.observations[k].offset["b"], alone.observation.offset["b"], rtol=0, atol=1e-12
        )


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ("scale", TypeError, "must be a mrnngraph.fitting.Observation"),
        ("poisson", ValueError, "loss='poisson'; this fit has loss='gaussian'"),
        ("relu", ValueError, "activation 'relu'"),
        ("neurons", ValueError, "neurons"),
        ("members", TypeError, "a sequence of 2, one per member; got list of length 3"),
    ],
)
def test_a_read_out_that_does_not_fit_is_refused_before_any_step(bad, error, match):
    G, rec = _recording()
    model = _model(G)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    obs = Observation.initial(rec, "tanh")
    given = {
        "scale": obs.scale,
        "poisson": Observation.initial(rec, "tanh", "poisson"),
        "relu": Observation.initial(rec, "relu"),
        "neurons": Observation.initial(rec, "tanh"),
        "members": [obs] * 3,
    }[bad]
    if bad == "neurons":
        given.scale["a"] = given.scale["a"][:-1]
        given.offset["a"] = given.offset["a"][:-1]
    if bad == "members":
        model = mg.Ensemble.from_models([_model(G, 1), _model(G, 2)])
        before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=match):
        fit(model, rec, observation=given, batch_size=4, **KW)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
