"""train() and evaluate() with an Ensemble: each member trained as if alone."""

from __future__ import annotations

import csv
import math

import pytest
import torch

import mrnngraph as mg
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import RateL2, TrainingDiverged, TrainingWarning, WeightL2

TASK = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)


def _models(n: int, dtype=torch.float64, size: int = 8) -> list[mg.MultiRegionRNN]:
    G = two_area_ei(size=size)
    return [
        mg.MultiRegionRNN(mg.compile(G, seed=s), dt=20.0, tau=100.0, dtype=dtype) for s in range(n)
    ]


def _max_diff(a: mg.MultiRegionRNN, b: mg.MultiRegionRNN) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


KW = dict(steps=6, batch_size=8, seed=3, progress=False, health_every=None)


def test_members_trained_together_equal_members_trained_alone():
    # Adam, clipping that binds for some members and not others, two regularisers.
    losses = [RateL2(1e-2), WeightL2(1e-3)]
    models = _models(3)
    ens = mg.Ensemble.from_models(models)
    h = mg.train(ens, TASK, clip_grad=0.05, losses=losses, **KW)
    assert h.n_members == 3 and len(h.member_loss) == 6 and len(h.member_loss[0]) == 3
    clipped = []
    for k, m in enumerate(models):
        hk = mg.train(m, TASK, clip_grad=0.05, losses=losses, **KW)
        assert _max_diff(ens[k], m) < 1e-12
        for i in range(6):
            assert h.member_loss[i][k] == pytest.approx(hk.loss[i], rel=1e-12)
            assert h.member_accuracy[i][k] == pytest.approx(hk.accuracy[i], rel=1e-12)
            assert h.member_grad_norm[i][k] == pytest.approx(hk.grad_norm[i], rel=1e-9)
            for name in hk.terms:
                assert h.member_terms[name][i][k] == pytest.approx(hk.terms[name][i], rel=1e-9)
        clipped.append(any(g > 0.05 for g in hk.grad_norm))
    assert any(clipped)  # clipping was active for some member
    # the mean over the members
    assert h.loss[-1] == pytest.approx(sum(h.member_loss[-1]) / 3)
    assert set(h.rates) == {"a1", "a2"} and len(h.member_rates["a1"][0]) == 3


def test_pathway_sparsity_trains_an_ensemble_as_each_member_alone():
    """A regulariser that reads ``model.circuit`` sees each member's own circuit."""
    from mrnngraph.fitting import PathwaySparsity

    models = _models(2)
    ens = mg.Ensemble.from_models(models)
    mg.train(ens, TASK, losses=[PathwaySparsity(2.0)], **KW)
    for k, m in enumerate(models):
        mg.train(m, TASK, losses=[PathwaySparsity(2.0)], **KW)
        assert _max_diff(ens[k], m) < 1e-12


def test_a_diverging_member_is_restored_and_frozen_the_others_go_on():
    models = _models(3, dtype=torch.float32)
    with torch.no_grad():
        models[1].parametrizations.weight_hh.original.mul_(1e18)
    ens = mg.Ensemble.from_models(models)
    before = ens[1].state_dict()
    with pytest.warns(TrainingWarning, match="member 1 diverged at step 1"):
        # The readout as built (no bias start, no fixation hold): "restored" is as built.
        h = mg.train(ens, TASK, init_readout_bias=False, fixation_from_bias=False, **KW)
    assert h.diverged == [
        {"member": 1, "step": 1, "what": "loss", "value": h.diverged[0]["value"], "good_step": 0}
    ]
    assert not math.isfinite(h.diverged[0]["value"])
    assert _max_diff(ens[1], models[1]) == 0.0  # restored and frozen at its initial weights
    assert all(torch.equal(before[k], v) for k, v in ens[1].state_dict().items())
    for k in (0, 2):
        alone = mg.train(models[k], TASK, init_readout_bias=False, fixation_from_bias=False, **KW)
        assert _max_diff(ens[k], models[k]) < 1e-5
        assert h.member_loss[-1][k] == pytest.approx(alone.loss[-1], rel=1e-5)
    assert all(math.isnan(row[1]) for row in h.member_grad_norm)
    assert h.loss[-1] == pytest.approx((h.member_loss[-1][0] + h.member_loss[-1][2]) / 2)
    # Member 1's own history stops where it diverged (no step completed); member 0's runs on.
    h1, h0 = h.member(1), h.member(0)
    assert len(h1) == 0 and h1.diverged == h.diverged and h1.n_members is None
    assert h0.loss == [row[0] for row in h.member_loss] and h0.diverged == []
    with pytest.raises(IndexError):
        h.member(3)


def test_training_raises_only_when_every_member_diverged():
    models = _models(2, dtype=torch.float32)
    with torch.no_grad():
        for m in models:
            m.parametrizations.weight_hh.original.mul_(1e18)
    ens = mg.Ensemble.from_models(models)
    with pytest.warns(TrainingWarning), pytest.raises(TrainingDiverged, match="step 1"):
        mg.train(ens, TASK, **KW)


def test_evaluate_gives_each_member_and_the_mean():
    models = _models(3, dtype=torch.float32)
    ens = mg.Ensemble.from_models(models)
    m = mg.evaluate(ens, TASK, batch_size=40, seed=1)
    assert len(m["members"]) == 3 and m["n_trials"] == 40
    for k, model in enumerate(models):
        alone = mg.evaluate(model, TASK, batch_size=40, seed=1)
        assert m["members"][k]["accuracy"] == alone["accuracy"]
        assert m["members"][k]["loss"] == pytest.approx(alone["loss"], rel=1e-5)
    assert m["loss"] == pytest.approx(sum(x["loss"] for x in m["members"]) / 3)


def test_ensemble_history_evals_and_csv(tmp_path):
    ens = mg.Ensemble.from_models(_models(2, dtype=torch.float32))
    h = mg.train(
        ens, TASK, steps=4, batch_size=8, seed=0, progress=False, eval_every=2, eval_batch_size=16
    )
    assert [e["step"] for e in h.evals] == [2, 4] and len(h.evals[0]["members"]) == 2
    path = tmp_path / "h.csv"
    h.to_csv(path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4
    assert float(rows[2]["member_1/loss"]) == pytest.approx(h.member_loss[2][1])
    assert float(rows[3]["loss"]) == pytest.approx(h.loss[3])
    assert rows[0]["eval/accuracy"] == "" and rows[1]["member_0/eval/accuracy"] != ""
    assert float(rows[1]["member_0/rate/a1"]) == pytest.approx(h.member_rates["a1"][1][0])
    one = h.member(1)  # member 1 alone: its columns, its evaluations
    assert one.loss == [row[1] for row in h.member_loss] and one.step == h.step
    assert [e["step"] for e in one.evals] == [2, 4]
    assert one.evals[1]["accuracy"] == h.evals[1]["members"][1]["accuracy"]
    assert set(one.rates) == {"a1", "a2"} and one.rates["a1"][1] == h.member_rates["a1"][1][1]
    with pytest.raises(ValueError, match="needs the history of an Ensemble"):
        one.member(0)


def test_health_checks_each_member():
    models = _models(2, dtype=torch.float32)
    with torch.no_grad():  # member 1's input and recurrent weights off: a silent network
        for name in ("weight_hh", "weight_ih"):
            getattr(models[1].parametrizations, name).original.zero_()
        models[1].x0.fill_(-1.0)
    ens = mg.Ensemble.from_models(models)
    with pytest.warns(TrainingWarning, match="member 1"):
        h = mg.train(ens, TASK, steps=2, batch_size=8, seed=0, progress=False, health_every=1)
    assert {e.get("member") for e in h.health} == {1}


def test_time_first_ensembles_train_alike():
    G = two_area_ei(size=6)
    circuits = [mg.compile(G, seed=s) for s in range(2)]
    a = mg.Ensemble(circuits, dt=20.0, tau=100.0, dtype=torch.float64)
    b = mg.Ensemble(circuits, dt=20.0, tau=100.0, dtype=torch.float64, batch_first=False)
    ha, hb = mg.train(a, TASK, **KW), mg.train(b, TASK, **KW)
    torch.testing.assert_close(torch.tensor(hb.member_loss), torch.tensor(ha.member_loss))
    torch.testing.assert_close(a.weight_hh, b.weight_hh, rtol=0, atol=1e-12)


def test_an_interrupted_ensemble_run_keeps_its_history():
    ens = mg.Ensemble.from_models(_models(2, dtype=torch.float32))

    def stop(step, history, model):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(mg.training.TrainingInterrupted) as info:
        mg.train(ens, TASK, callbacks=[stop], **KW)
    h = info.value.history
    assert h.interrupted and h.step == [1, 2] and len(h.member_loss) == 2


def test_diverged_ensemble_is_saved_to_the_checkpoint(tmp_path):
    models = _models(2, dtype=torch.float32)
    with torch.no_grad():
        for m in models:
            m.parametrizations.weight_hh.original.mul_(1e18)
    ens = mg.Ensemble.from_models(models)
    path = tmp_path / "last_good.pt"
    with pytest.warns(TrainingWarning), pytest.raises(TrainingDiverged) as info:
        mg.train(ens, TASK, checkpoint=path, **KW)
    assert info.value.checkpoint == str(path)
    back = mg.load_model(path)
    assert isinstance(back, mg.Ensemble)
    assert torch.equal(back.weight_hh, ens.weight_hh)


def test_a_member_with_a_non_finite_gradient_is_frozen_alone():
    # A term whose value is 0 but whose gradient is NaN, for member 1 only (the branch
    # torch.where drops still back-propagates 0 * NaN).
    def bad_gradient(model, out, batch):
        if getattr(model, "_k", None) != 1:
            return torch.zeros((), dtype=torch.float64)
        w = model.weight_hh
        never = torch.zeros_like(w, dtype=torch.bool)
        return torch.where(never, (-w.abs() - 1).sqrt(), 0.0).sum()

    models = _models(3)
    ens = mg.Ensemble.from_models(models)
    with pytest.warns(TrainingWarning, match="member 1 diverged at step 1 .its gradient"):
        h = mg.train(ens, TASK, losses={"bad": bad_gradient}, **KW)
    assert [(d["member"], d["what"]) for d in h.diverged] == [(1, "gradient")]
    for k in (0, 2):
        mg.train(models[k], TASK, **KW)
        assert _max_diff(ens[k], models[k]) < 1e-12
