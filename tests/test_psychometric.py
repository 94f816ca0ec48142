"""Psychometric curves: the fit on planted curves, the tasks' curves on planted behaviour,
the figures by content."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mrnngraph.analysis import fit_psychometric, plot_psychometric, psychometric_figure
from mrnngraph.tasks import (
    ContextDependentIntegration,
    FlipFlop,
    PerceptualDecisionMaking,
    from_neurogym,
)
from mrnngraph.tasks.psychometrics import ContextPsychometrics, PsychometricCurve

matplotlib.use("Agg")

LEVELS = np.array([-51.2, -25.6, -12.8, -6.4, -3.2, 0.0, 3.2, 6.4, 12.8, 25.6, 51.2])


def _planted(bias, threshold, lapse_low, lapse_high, n=400, seed=0, levels=LEVELS):
    """Choices drawn from a known lapse-bounded cumulative Gaussian."""
    s = np.repeat(levels, n)
    phi = 0.5 * (1 + np.vectorize(math.erf)((s - bias) / (threshold * math.sqrt(2))))
    p = lapse_low + (1 - lapse_low - lapse_high) * phi
    return s, np.random.default_rng(seed).random(s.size) < p


# --------------------------------------------------------------------------- the fit
@settings(max_examples=6, deadline=None)
@given(
    bias=st.floats(-8, 8),
    threshold=st.floats(3, 20),
    lapse_low=st.floats(0, 0.1),
    lapse_high=st.floats(0, 0.1),
    seed=st.integers(0, 2**16),
)
def test_fit_recovers_a_planted_curve(bias, threshold, lapse_low, lapse_high, seed):
    s, chose = _planted(bias, threshold, lapse_low, lapse_high, n=1000, seed=seed)
    f = fit_psychometric(s, chose)
    assert f.converged and f.n_trials == s.size
    assert abs(f.bias - bias) < 0.25 * threshold + 1.0
    assert abs(f.threshold - threshold) < 0.35 * threshold
    assert abs(f.lapse_low - lapse_low) < 0.04 and abs(f.lapse_high - lapse_high) < 0.04
    # Maximum likelihood: no worse than the truth's likelihood.
    p = f(s)
    truth = lapse_low + (1 - lapse_low - lapse_high) * 0.5 * (
        1 + np.vectorize(math.erf)((s - bias) / (threshold * math.sqrt(2)))
    )
    with np.errstate(divide="ignore"):  # np.where evaluates both sides
        ll_truth = np.sum(np.where(chose, np.log(truth), np.log1p(-truth)))
        ll_fit = np.sum(np.where(chose, np.log(p), np.log1p(-p)))
    assert f.log_likelihood >= ll_truth - 1e-6
    assert f.log_likelihood == pytest.approx(ll_fit)
    # Free lapses never fit worse than none (the no-lapse curve is one of the candidates).
    assert f.log_likelihood >= fit_psychometric(s, chose, lapse=False).log_likelihood - 1e-6


def test_lapses_do_not_trap_the_fit_in_a_local_optimum():
    # Counts of a trained network biased to choice 1 (examples/analyse_psychometrics.py):
    # a fit started with lapses free once ended at lapse_low = 0.25 (the bound) with a
    # log-likelihood of -448, against -349 without lapses, although no trial at -51.2 or
    # -25.6 chose 1.
    n_choice1 = [0, 0, 52, 101, 148, 314, 170, 162, 155, 168, 179]
    n = [181, 166, 163, 153, 171, 328, 173, 163, 155, 168, 179]
    s = np.repeat(LEVELS, n)
    chose = np.concatenate([np.arange(m) < k for k, m in zip(n_choice1, n, strict=True)])
    f, plain = fit_psychometric(s, chose), fit_psychometric(s, chose, lapse=False)
    assert f.log_likelihood >= plain.log_likelihood - 1e-6 and plain.log_likelihood > -350
    assert f.lapse_low < 0.01 and f(LEVELS[:2]).max() < 0.01


def test_fit_without_lapses_and_its_bounds():
    s, chose = _planted(2.0, 6.0, 0.0, 0.0, n=500)
    f = fit_psychometric(s, chose, lapse=False)
    assert f.lapse_low == f.lapse_high == 0.0 and abs(f.threshold - 6.0) < 1.0
    assert f.at_bound == ()
    s, chose = _planted(0.0, 6.0, 0.2, 0.2, n=500)
    capped = fit_psychometric(s, chose, max_lapse=0.05)
    assert capped.lapse_low <= 0.05 and capped.lapse_high <= 0.05
    assert {"lapse_low", "lapse_high"} <= set(capped.at_bound)


@pytest.mark.parametrize(
    "choices, loose",
    [
        (lambda s: np.ones(s.size, bool), {"bias", "threshold"}),  # always choice 1
        (lambda s: s > 0, {"threshold"}),  # a perfect step between two levels
        (lambda s: np.zeros(s.size, bool), {"bias", "threshold"}),
    ],
)
def test_degenerate_data_give_finite_flagged_fits(choices, loose):
    s = np.repeat(LEVELS, 50)
    f = fit_psychometric(s, choices(s))
    values = (f.bias, f.threshold, f.lapse_low, f.lapse_high, f.log_likelihood)
    assert all(math.isfinite(v) for v in values)
    assert loose <= set(f.at_bound) and f.log_likelihood > -1e-3  # the data are fit exactly


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="two stimulus levels"):
        fit_psychometric([1.0, 1.0], [True, False])
    with pytest.raises(ValueError, match="one value per trial"):
        fit_psychometric([1.0, 2.0], [True])
    with pytest.raises(ValueError, match="non-finite"):
        fit_psychometric([1.0, np.nan], [True, False])
    with pytest.raises(ValueError, match="max_lapse"):
        fit_psychometric([1.0, 2.0], [True, False], max_lapse=0.7)
    with pytest.raises(TypeError, match="lapse"):
        fit_psychometric([1.0, 2.0], [True, False], lapse="yes")


# --------------------------------------------------------------------------- the tasks
def _outputs_choosing(task, batch, choice):
    """Outputs that fixate until the go cue and then answer ``choice`` (B,) (0 = fixate)."""
    dec = batch.trials["decision_mask"] > 0
    y = torch.where(dec, choice[:, None], 0)
    return torch.nn.functional.one_hot(y, task.output_size).float() * 10.0


def test_pdm_curve_on_a_planted_observer():
    task = PerceptualDecisionMaking()
    b = task.batch(6000, seed=0)
    signed = torch.where(b.trials["choice"] == 1, 1.0, -1.0) * b.trials["coherence"]
    g = torch.Generator().manual_seed(1)
    # A planted observer: bias +4 %, threshold 10 %, no lapses.
    p1 = torch.special.ndtr((signed - 4.0) / 10.0)
    chose = torch.where(torch.rand(6000, generator=g, dtype=torch.float64) < p1, 1, 2)
    curve = task.psychometric(_outputs_choosing(task, b, chose), b)
    assert isinstance(curve, PsychometricCurve) and curve.stimulus == "coherence"
    assert curve.levels.tolist() == LEVELS.tolist()  # 0 % once, not as +0 and -0
    assert int(curve.n_trials.sum()) == int(curve.n_answered.sum()) == 6000
    assert abs(curve.fit.bias - 4.0) < 1.5 and abs(curve.fit.threshold - 10.0) < 2.0
    assert curve.fit.lapse_low < 0.03 and curve.fit.lapse_high < 0.03
    # Accuracy: P(choice 1) where choice 1 is right, 1 - P(choice 1) where it is not.
    right = curve.levels > 0
    np.testing.assert_allclose(curve.accuracy[right], curve.p_choice1[right])
    np.testing.assert_allclose(curve.accuracy[curve.levels < 0], 1 - curve.p_choice1[~right][:-1])


def test_no_answer_and_fixation_breaks_are_left_out_of_choices_only():
    task = PerceptualDecisionMaking()
    b = task.batch(300, seed=2)
    out = task.optimal_outputs(b)
    out[:50] = 0.0
    out[:50, :, 0] = 10.0  # trials 0-49 fixate throughout: no answer
    out[50:80, 3] = torch.tensor([0.0, 10.0, 0.0])  # trials 50-79 break fixation
    assert bool((task.answers(out, b)[:50] == 0).all())
    assert bool((task.answers(out, b)[50:80] == -1).all())
    curve = task.psychometric(out, b)
    assert int(curve.n_answered.sum()) == 220 and int(curve.n_trials.sum()) == 300
    pos, neg = curve.levels > 0, curve.levels < 0
    assert bool((curve.p_choice1[pos] == 1).all()) and bool((curve.p_choice1[neg] == 0).all())
    # Accuracy counts them as errors, as task.correct does.
    assert float((curve.accuracy * curve.n_trials).sum()) == pytest.approx(
        float(task.correct(out, b).sum())
    )


def test_context_curves_relevant_steep_irrelevant_flat():
    task = ContextDependentIntegration()
    b = task.batch(4000, seed=0)
    res = task.psychometric(task.optimal_outputs(b), b)
    assert isinstance(res, ContextPsychometrics) and len(res) == 4
    assert set(res) == {(c, s) for c in ("motion", "color") for s in ("motion", "color")}
    for ctx in ("motion", "color"):
        rel, (irr,) = res.relevant(ctx), res.irrelevant(ctx)
        assert rel.stimulus == f"{ctx}_coherence" and rel.relevant and rel.context == ctx
        assert rel.levels.tolist() == [-50.0, -15.0, -5.0, 5.0, 15.0, 50.0]
        assert rel.p_choice1.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
        assert bool((np.abs(irr.p_choice1 - 0.5) < 0.1).all())  # a coin flip at every level
        assert irr.fit.threshold > 10 * rel.fit.threshold
    # A policy that always follows the motion stream: the curves swap in the color context.
    motion_only = torch.where(b.trials["motion_coherence"] > 0, 1, 2)
    res = task.psychometric(_outputs_choosing(task, b, motion_only), b)
    assert res["color", "motion"].p_choice1.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert bool((np.abs(res["color", "color"].p_choice1 - 0.5) < 0.1).all())
    d = res.to_dict()
    assert d["color context, motion"]["relevant"] is False
    assert d["color context, motion"]["fit"]["threshold"] < 1.0


class _Env:
    dt = 100

    class observation_space:  # noqa: N801
        shape = (2,)

    class action_space:  # noqa: N801
        n = 2

    def seed(self, s):
        self.rng = np.random.RandomState(s)

    def new_trial(self):
        self.ob = np.eye(2)[[int(self.rng.randint(2))] * 3]
        self.gt = np.array([0, 0, 1])
        return {}


@pytest.mark.parametrize("task", [FlipFlop(), from_neurogym(_Env())], ids=lambda t: t.name)
def test_tasks_without_stimulus_strength_say_so(task):
    b = task.batch(4, seed=0)
    assert not task.has_psychometric
    with pytest.raises(TypeError, match="no stimulus strength.*perceptual_decision_making"):
        task.psychometric(task.optimal_outputs(b), b)
    with pytest.raises(TypeError, match="no stimulus strength"):
        psychometric_figure(task, b, task.optimal_outputs(b))


# --------------------------------------------------------------------------- figures
def test_pdm_figure_by_content():
    task = PerceptualDecisionMaking()
    b = task.batch(1200, seed=0)
    signed = torch.where(b.trials["choice"] == 1, 1.0, -1.0) * b.trials["coherence"]
    p1 = torch.special.ndtr(signed / 8.0)
    chose = torch.where(torch.rand(1200, generator=torch.Generator().manual_seed(0)) < p1, 1, 2)
    out = _outputs_choosing(task, b, chose)
    fig = psychometric_figure(task, b, out)
    ax_p, ax_acc = fig.axes
    assert ax_p.get_ylabel() == "P(choice 1)" and ax_acc.get_ylabel() == "accuracy"
    assert ax_p.get_xlabel().startswith("coherence (%, signed")
    labels = [t.get_text() for t in ax_p.get_legend().get_texts()]
    assert labels[:2] == ["ideal observer", "fitted function"]
    fit_line = [ln for ln in ax_p.lines if ln.get_label() == "fitted function"][0]
    curve = task.psychometric(out, b)
    (text,) = [t.get_text() for t in ax_p.texts if "threshold" in t.get_text()]
    assert f"threshold {curve.fit.threshold:.2g} %" in text and "bias" in text
    np.testing.assert_allclose(fit_line.get_ydata(), curve.fit(fit_line.get_xdata()))
    points = ax_p.containers[0].lines[0]  # the errorbar's data points
    np.testing.assert_allclose(points.get_ydata(), curve.p_choice1)
    assert [t.get_text() for t in ax_acc.get_xticklabels()] == [
        "0",
        "3.2",
        "6.4",
        "12.8",
        "25.6",
        "51.2",
    ]


def test_context_figure_by_content():
    task = ContextDependentIntegration()
    b = task.batch(600, seed=1)
    fig = psychometric_figure(task, b, task.optimal_outputs(b))
    assert [a.get_title() for a in fig.axes] == [
        "motion context: motion (relevant)",
        "motion context: color (irrelevant)",
        "color context: motion (irrelevant)",
        "color context: color (relevant)",
    ]
    res = task.psychometric(task.optimal_outputs(b), b)
    for ax, key in zip(fig.axes, [("motion", "motion"), ("motion", "color")] * 1, strict=False):
        ys = ax.containers[0].lines[0].get_ydata()
        np.testing.assert_allclose(ys, res[key].p_choice1)


def test_plot_psychometric_on_given_axes_leaves_out_unanswered_levels():
    from matplotlib.figure import Figure

    curve = PsychometricCurve(
        stimulus="coherence",
        levels=np.array([-10.0, 0.0, 10.0]),
        p_choice1=np.array([0.1, np.nan, 0.9]),
        n_choice1=np.array([1, 0, 9]),
        n_answered=np.array([10, 0, 10]),
        n_trials=np.array([10, 5, 10]),
        accuracy=np.array([0.9, 0.0, 0.9]),
        fit=None,
    )
    ax = Figure().add_subplot()
    assert plot_psychometric(curve, ax=ax, label="model") is ax
    assert ax.containers[0].lines[0].get_xdata().tolist() == [-10.0, 10.0]
    assert not [ln for ln in ax.lines if ln.get_label() == "fitted function"] and not ax.texts
