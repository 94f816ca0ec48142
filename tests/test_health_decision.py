"""train()'s health check for a readout that falls silent in the decision epoch: the
outputs there are the readout bias alone and silent relu units pass no gradient (the
three-area hierarchy of issue 12, docs/training.md)."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

import mrnngraph as mg
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import TrainingWarning

TASK = PerceptualDecisionMaking(stimulus=100, delay=0, decision=200)  # dt 20: 10 decision steps

# A readout driven by the fixation input alone answers the same on every trial, and the
# region b of these circuits is silent throughout: both expected here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:train. step .*(do not depend on the input|are all zero):"
    "mrnngraph.training.TrainingWarning"
)


def _graph(readout: str = "a") -> nx.DiGraph:
    G = nx.DiGraph(activation="relu")
    G.add_node("u", kind="input", size=TASK.input_size)
    G.add_node("a", size=4)
    G.add_node("b", size=2)
    G.add_node("y", kind="output", size=TASK.output_size)
    G.add_edges_from([("u", "a"), ("u", "b"), (readout, "y")])
    return G


def _model(bias: float, readout: str = "a") -> mg.MultiRegionRNN:
    """Region ``a`` (relu, 4 units, no recurrence, alpha 1) driven by the fixation input
    (weight 2) on top of a fixed bias: with bias -1 it is active before the go cue and
    silent after it; ``b`` (2 units) is always silent. The readout reads ``readout``."""
    model = mg.MultiRegionRNN.from_graph(_graph(readout), seed=0, alpha=1.0)
    with torch.no_grad():
        w = model.parametrizations.weight_ih.original
        w.zero_()
        w[:4, 0] = 2.0  # fixation -> a
        model.bias.fill_(bias)
    return model


def _train(model):
    return mg.train(
        model,
        TASK,
        steps=10,
        lr=1e-9,
        batch_size=8,
        seed=0,
        progress=False,
        init_readout_bias=False,
        health_every=10,
    )


def _events(h, kind="silent_at_decision"):
    return [e for e in h.health if e["kind"] == kind]


def test_a_readout_silent_through_the_decision_epoch_is_reported_by_name():
    with pytest.warns(TrainingWarning, match="'a', which the readout reads, is silent"):
        h = _train(_model(bias=-1.0))
    (ev,) = _events(h)
    assert ev["region"] == "a" and ev["step"] == 10
    assert "readout bias alone" in ev["message"] and "noise_std" in ev["message"]


def test_a_readout_active_in_the_decision_epoch_is_not_reported():
    h = _train(_model(bias=1.0))  # a: drive 1 after the go cue, 3 before
    assert not _events(h)


def test_a_readout_silent_everywhere_is_a_silent_region_not_a_decision_event():
    h = _train(_model(bias=-1.0, readout="b"))  # b never receives a positive drive
    assert not _events(h)
    assert [e["region"] for e in _events(h, "silent_region")] == ["b"]


def test_tasks_without_a_decision_epoch_are_not_checked():
    from mrnngraph.tasks import FlipFlop

    task = FlipFlop()
    G = nx.DiGraph(activation="relu")
    G.add_node("u", kind="input", size=task.input_size)
    G.add_node("a", size=4)
    G.add_node("y", kind="output", size=task.output_size)
    G.add_edges_from([("u", "a"), ("a", "a"), ("a", "y")])
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    h = mg.train(model, task, steps=10, batch_size=4, seed=0, progress=False, health_every=10)
    assert not _events(h)


def test_each_ensemble_member_is_checked_with_its_own_readout():
    """Member 0 falls silent after the go cue, member 1 does not: only member 0 is named."""
    fresh = mg.MultiRegionRNN.from_graph(_graph(), seed=0, alpha=1.0)
    ens = mg.Ensemble.from_models([fresh, fresh])
    with torch.no_grad():
        for k, bias in enumerate((-1.0, 1.0)):  # as _model(bias) builds it, member by member
            w = ens.parametrizations.weight_ih.original[k]
            w.zero_()
            w[:4, 0] = 2.0
            ens.bias[k].fill_(bias)
    with pytest.warns(TrainingWarning, match="'a', which the readout reads, is silent"):
        h = _train(ens)
    events = _events(h)
    assert [(e["region"], e["member"]) for e in events] == [("a", 0)]
