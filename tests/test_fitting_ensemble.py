"""fit(), pvar() and pathway_strength() with an Ensemble: each member fitted as if alone."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.analysis.pathways import pathway_currents, pathway_strength
from mrnngraph.fitting import FitHistory, Observation, PathwaySparsity, fit, pvar, reconstruct
from mrnngraph.recording import Recording, activity
from mrnngraph.training import RateL2, TrainingDiverged, TrainingWarning, constraint_violations

pytestmark = pytest.mark.filterwarnings("ignore::mrnngraph.CircuitWarning")
F64 = torch.float64


def _graph(size=8, *, absent=False):
    """Two E/I regions, a frozen pathway a->b, a sparse b->a (absent: not declared)."""
    G = nx.DiGraph(dt=10.0, tau=50.0, activation="tanh")
    G.add_node("u", kind="input", size=2)
    for r in ("a", "b"):
        G.add_node(r, size=size, exc_frac=0.75)
        G.add_edge("u", r)
        G.add_edge(r, r)
    G.add_edge("a", "b", trainable=False)
    if not absent:
        G.add_edge("b", "a", density=0.5)
    return G


def _recording(observed=6, n=8, T=16):
    truth = mg.MultiRegionRNN.from_graph(_graph(), seed=0, dtype=F64)
    u = torch.randn(n, T, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 0.5
    rec = activity(truth, u)
    return Recording({r: v[:, :, :observed] for r, v in rec.rates.items()}, 10.0, inputs=u)


def _models(n=3):
    """Members of other seeds; the last one does not declare b->a."""
    return [
        mg.MultiRegionRNN.from_graph(_graph(absent=k == n - 1), seed=k + 1, dtype=F64)
        for k in range(n)
    ]


def _max_diff(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(
        (float((sa[k].double() - sb[k].double()).abs().max()) for k in sa if sa[k].numel()),
        default=0.0,
    )


def _obs_diff(a: Observation, b: Observation) -> float:
    return max(
        float((getattr(a, f)[r] - getattr(b, f)[r]).abs().max())
        for f in ("scale", "offset")
        for r in a.scale
    )


@pytest.mark.parametrize("observed, forcing", [(6, 3), (8, 4)])
def test_members_fitted_together_equal_members_fitted_alone(observed, forcing):
    """Latent units (6 of 8 observed: learned x0) or every unit observed (the forced
    pieces run as one batch); clipping that binds; proximal PathwaySparsity and RateL2;
    members whose circuits differ (the last lacks b->a); Dale's law and a frozen
    pathway checked in every member after every step."""
    rec = _recording(observed)
    models = _models()
    ens = mg.Ensemble.from_models(models)
    seen = []
    kw = dict(steps=5, batch_size=4, lr=0.05, clip_grad=0.05, forcing=forcing, seed=0)
    kw.update(progress=False, losses=[PathwaySparsity(2.0), RateL2(1e-2)])
    h = fit(ens, rec, **kw, callbacks=[lambda s, h_, e: seen.append(_violations(e))])
    assert isinstance(h, FitHistory) and h.n_members == 3 and len(h.member_loss) == 5
    assert seen and all(v == 0 for v in seen)
    clipped = []
    for k, model in enumerate(models):
        hk = fit(model, rec, **kw)
        assert _max_diff(ens[k], model) < 1e-12  # weights, biases and x0
        assert _obs_diff(ens.observations[k], model.observation) < 1e-12
        assert _obs_diff(h.member_observation[k], model.observation) < 1e-12
        mine = h.member(k)
        assert mine.step == hk.step and mine.best_step == hk.best_step
        for ours, theirs in ((mine.loss, hk.loss), (mine.task_loss, hk.task_loss)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        np.testing.assert_allclose(mine.grad_norm, hk.grad_norm, rtol=1e-10)
        for name in hk.terms:
            np.testing.assert_allclose(mine.terms[name], hk.terms[name], rtol=1e-10, atol=1e-15)
        clipped.append(max(hk.grad_norm) > 0.05)
        assert constraint_violations(ens[k]) == {"dale": 0, "mask": 0, "frozen": 0}
    assert all(clipped)
    # the member that declares no b->a keeps none; the prox shrank the others' pathways
    assert float(ens[2].weight_hh.detach()[:8, 8:].abs().max()) == 0.0
    assert h.loss[-1] == pytest.approx(sum(h.member_loss[-1]) / 3)


def _effective_diff(a, b) -> float:
    """Largest difference of the effective weights, biases, x0 and alpha."""
    out = 0.0
    for name in ("weight_hh", "weight_ih", "weight_ho", "bias", "bias_ho", "x0", "alpha"):
        x, y = getattr(a, name), getattr(b, name)
        x = x.to_dense() if x.layout != torch.strided else x
        if x.numel():
            out = max(out, float((x.detach() - y.detach()).abs().max()))
    return out


@pytest.mark.parametrize(
    "case", ["time_first", "poisson_with_outputs", "block_sparse", "learn_tau"]
)
def test_other_members_and_losses_fitted_together_equal_fits_alone(case):
    """Time-first models; Poisson counts with fitted outputs; an ensemble that runs
    block-sparse (its proximal step still applies, as in its dense members alone); a
    region that learns its time constants."""
    rec = _recording()
    graphs = [_graph(), _graph()]
    options = {"dtype": F64}
    if case == "time_first":
        options["batch_first"] = False
    elif case == "learn_tau":
        for G in graphs:
            G.nodes["a"]["learn_tau"] = True
    elif case == "poisson_with_outputs":
        for G in graphs:
            G.add_node("out", kind="output", size=2)
            G.add_edge("b", "out")
        y = np.random.default_rng(0).normal(size=(rec.n_trials, rec.n_steps, 2))
        counts = {r: np.round(3 * np.abs(v)) for r, v in rec.rates.items()}
        rec = Recording(counts, 10.0, inputs=rec.inputs, outputs=y)
    models = [mg.MultiRegionRNN.from_graph(G, seed=k + 1, **options) for k, G in enumerate(graphs)]
    if case == "block_sparse":
        opts = {**models[0].options(), "sparse": True}
        ens = mg.Ensemble([m.circuit for m in models], **opts, dtype=F64)
        assert ens.sparse
    else:
        ens = mg.Ensemble.from_models(models)
    kw = dict(steps=4, batch_size=4, forcing=3, clip_grad=0.1, progress=False)
    kw.update(loss="poisson" if case == "poisson_with_outputs" else "gaussian")
    kw.update(losses=[PathwaySparsity(2.0)])
    fit(ens, rec, **kw)
    for k, model in enumerate(models):
        fit(model, rec, **kw)
        assert _effective_diff(ens[k], model) < 1e-12


def _violations(ens) -> int:
    return sum(sum(constraint_violations(ens[k]).values()) for k in range(len(ens)))


def _exploding_term(mask: torch.Tensor, at_call: int):
    """A regulariser that becomes infinite at its ``at_call``-th call on the member
    whose recurrent mask is ``mask`` (the same member alone or in an ensemble)."""
    calls = []

    def term(model, out, batch):
        if torch.equal(model.mask_hh, mask):
            calls.append(1)
            if len(calls) == at_call:
                return out.rates.sum() * math.inf
        return out.rates.sum() * 0.0

    return term


def test_a_diverging_member_is_frozen_and_the_others_equal_separate_fits():
    rec = _recording()
    models = _models()
    ens = mg.Ensemble.from_models(models)
    mask1 = models[1].mask_hh.clone()
    kw = dict(steps=5, batch_size=4, lr=0.05, forcing=3, seed=0, progress=False)
    with pytest.warns(TrainingWarning, match="member 1 diverged at step 3"):
        h = fit(ens, rec, **kw, losses={"boom": _exploding_term(mask1, 3)})
    assert [(d["member"], d["step"], d["what"], d["good_step"]) for d in h.diverged] == [
        (1, 3, "loss", 2)
    ]
    for k, model in enumerate(models):
        term = {"boom": _exploding_term(mask1, 3)}
        if k == 1:
            with pytest.raises(TrainingDiverged, match="diverged at step 3") as err:
                fit(model, rec, **kw, losses=term)
            assert err.value.good_step == 2
        else:
            fit(model, rec, **kw, losses=term)
        # member 1: the weights it used at step 2, as its own fit leaves them
        assert _max_diff(ens[k], model) < 1e-12
        assert _obs_diff(ens.observations[k], model.observation) < 1e-12
    assert all(math.isnan(row[1]) for row in h.member_grad_norm[2:])
    assert h.loss[-1] == pytest.approx((h.member_loss[-1][0] + h.member_loss[-1][2]) / 2)
    assert len(h.member(1)) == 2 and h.member(1).best_step is None


def test_fit_raises_only_when_every_member_diverged():
    rec = _recording()
    ens = mg.Ensemble.from_models(_models(2))

    def boom(model, out, batch):
        return out.rates.sum() * math.inf

    with pytest.warns(TrainingWarning), pytest.raises(TrainingDiverged, match="step 1"):
        fit(ens, rec, steps=3, batch_size=4, progress=False, losses={"boom": boom})
    assert len(ens.observations) == 2  # set before raising, as for a model


def test_early_stopping_keeps_each_members_own_best_weights():
    rec = _recording(n=12)
    train, test = rec.split(0.25, seed=0)
    models = _models()
    ens = mg.Ensemble.from_models(models)
    kw = dict(steps=24, lr=0.5, clip_grad=None, batch_size=4, seed=0, progress=False)
    kw.update(validation=test, eval_every=2, early_stopping=2)
    h = fit(ens, train, **kw)
    stops = []
    for k, model in enumerate(models):
        hk = fit(model, train, **kw)
        assert _max_diff(ens[k], model) < 1e-10
        mine = h.member(k)
        assert (mine.step, mine.best_step, mine.stopped_early) == (
            hk.step,
            hk.best_step,
            hk.stopped_early,
        )
        assert [e["step"] for e in mine.evals] == [e["step"] for e in hk.evals]
        for a, b in zip(mine.evals, hk.evals, strict=True):
            assert a["pvar"] == pytest.approx(b["pvar"], rel=1e-9)
        stops.append(hk.step[-1])
        assert pvar(ens, test)["all"][k] == pytest.approx(pvar(model, test)["all"], rel=1e-9)
    assert len(set(stops)) > 1  # the members stopped at different steps
    assert h.step[-1] == max(stops)
    assert h.evals[0]["pvar"]["all"] == pytest.approx(
        np.mean([m["pvar"]["all"] for m in h.evals[0]["members"]])
    )


def test_pvar_and_pathway_strength_have_a_member_dimension():
    rec = _recording()
    ens = mg.Ensemble.from_models(_models())
    fit(ens, rec, steps=2, batch_size=4, progress=False)
    scores = pvar(ens, rec)
    strength = pathway_strength(ens, rec)
    split = pathway_strength(ens, rec, split_ei=True)
    flows = pathway_currents(ens, rec)
    recs = reconstruct(ens, rec)
    assert len(recs) == 3
    for k in range(3):
        member, obs = ens[k], ens.observations[k]
        alone = pvar(member, rec, observation=obs)
        assert list(scores) == list(alone) == ["all", "a", "b"]
        for key, v in alone.items():
            assert scores[key].shape == (3,) and scores[key][k] == pytest.approx(v, abs=1e-12)
        for got, one in (
            (strength, pathway_strength(member, rec, observation=obs)),
            (split, pathway_strength(member, rec, observation=obs, split_ei=True)),
        ):
            for key in got:  # a pathway member 2 does not declare carries nothing there
                expected = one.get(key, 0.0)
                assert got[key].shape == (3,) and got[key][k] == pytest.approx(expected, abs=1e-12)
        currents_k = pathway_currents(member, rec, observation=obs)
        for key, v in flows.items():
            np.testing.assert_allclose(v[k], currents_k.get(key, np.zeros_like(v[k])), atol=1e-12)
        np.testing.assert_allclose(
            recs[k].rates["a"], reconstruct(member, rec, observation=obs).rates["a"], atol=1e-12
        )
    assert ("b", "a") in strength and strength[("b", "a")][2] == 0.0
    assert strength[("b", "a")][0] > 0


def test_an_ensemble_takes_one_observation_or_one_per_member():
    rec = _recording()
    ens = mg.Ensemble.from_models(_models())
    identity = Observation.identity(rec, "tanh")
    shared = pvar(ens, rec, observation=identity)["all"]
    each = pvar(ens, rec, observation=[identity] * 3)["all"]
    np.testing.assert_array_equal(shared, each)
    np.testing.assert_allclose(pvar(ens, rec)["all"], shared)  # no fit yet: the identity
    with pytest.raises(TypeError, match="a sequence of 3, one per member; got list of length 2"):
        pvar(ens, rec, observation=[identity] * 2)
    poisson = Observation(identity.scale, identity.offset, "poisson", "tanh", identity.weight)
    with pytest.raises(ValueError, match="member 1 differs from member 0"):
        pvar(ens, rec, observation=[identity, poisson, identity])


def test_figures_of_an_ensemble():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrnngraph.analysis.fit_plots import plot_fit_traces, plot_pathway_currents, plot_pvar

    rec = _recording()
    ens = mg.Ensemble.from_models(_models())
    scores = pvar(ens, rec)
    ax = plot_pvar(scores)
    heights = [b.get_height() for b in ax.patches]
    assert heights == pytest.approx([max(float(scores[k].mean()), -1.0) for k in ("a", "b", "all")])
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(dots) == 3 and all(len(d.get_ydata()) == 3 for d in dots)
    np.testing.assert_allclose(dots[2].get_ydata(), np.maximum(scores["all"], -1.0))
    plt.close("all")
    for draw in (plot_pathway_currents, plot_fit_traces):
        with pytest.raises(TypeError, match=r"draws one model; .* ens\[k\]"):
            draw(ens, rec)


def test_a_member_taken_out_carries_its_observation():
    rec = _recording()
    ens = mg.Ensemble.from_models(_models(2))
    fit(ens, rec, steps=2, batch_size=4, progress=False)
    assert getattr(ens[1], "observation", None) is ens.observations[1]
    # and back: stacking fitted models keeps each one's observation
    again = mg.Ensemble.from_models([ens[0], ens[1]])
    assert again.observations == ens.observations
    assert pvar(again, rec)["all"].tolist() == pvar(ens, rec)["all"].tolist()


def test_the_history_of_an_ensemble_fit_round_trips():
    rec = _recording()
    train, test = rec.split(0.25, seed=0)
    ens = mg.Ensemble.from_models(_models(2))
    h = fit(ens, train, steps=3, batch_size=4, progress=False, validation=test, eval_every=2)
    d = json.loads(json.dumps(h.to_dict()))
    assert d["n_members"] == 2 and len(d["member_observation"]) == 2
    assert d["member_best_step"] == [3, 3] and d["member_stop_step"] == [None, None]
    assert [e["step"] for e in h.evals] == [2, 3] and len(h.evals[0]["members"]) == 2
    one = h.member(1)
    assert isinstance(one, FitHistory) and one.observation is h.member_observation[1]
    assert one.evals[0]["pvar"] == h.evals[0]["members"][1]["pvar"]
    cols = h.columns()
    assert cols["member_1/loss"] == [row[1] for row in h.member_loss]


@settings(max_examples=10, deadline=None)
@given(lr=st.floats(0.01, 2.0), weight=st.floats(0.0, 3.0), seed=st.integers(0, 50))
def test_the_prox_of_an_ensemble_is_each_members_own(lr, weight, seed):
    models = [
        mg.MultiRegionRNN.from_graph(_graph(4, absent=k == 1), seed=seed + k, dtype=F64)
        for k in range(3)
    ]
    ens = mg.Ensemble.from_models(models)
    term = PathwaySparsity(weight)
    term.prox(ens, torch.optim.SGD(ens.parameters(), lr=lr))
    for k, model in enumerate(models):
        term.prox(model, torch.optim.SGD(model.parameters(), lr=lr))
        assert torch.equal(ens[k].weight_hh, model.weight_hh)


def test_an_ensemble_fit_in_a_fresh_process_at_default_threads():
    code = (
        "import warnings, torch, mrnngraph as mg\n"
        "warnings.simplefilter('ignore')\n"
        "from tests.test_fitting_ensemble import _models, _recording\n"
        "ens = mg.Ensemble.from_models(_models(2))\n"
        "h = mg.fit(ens, _recording(), steps=3, batch_size=4, forcing=3, progress=False)\n"
        "print(repr(h.member_loss[-1]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    ens = mg.Ensemble.from_models(_models(2))
    h = fit(ens, _recording(), steps=3, batch_size=4, forcing=3, progress=False)
    np.testing.assert_allclose(eval(res.stdout.strip()), h.member_loss[-1], rtol=1e-12)


def test_split_ei_strength_of_a_time_first_model_equals_the_batch_first_one():
    # free_run gives batch-first rates; split_ei used to transpose them again (an error)
    rec = _recording()
    a = mg.MultiRegionRNN.from_graph(_graph(), seed=1, dtype=F64)
    b = mg.MultiRegionRNN.from_graph(_graph(), seed=1, dtype=F64, batch_first=False)
    sa, sb = (pathway_strength(m, rec, split_ei=True) for m in (a, b))
    assert sa.keys() == sb.keys() and len(sa) > 4
    assert all(sa[k] == pytest.approx(sb[k], abs=1e-12) for k in sa)
