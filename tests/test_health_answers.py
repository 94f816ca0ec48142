"""train()'s health check for a network that never answers, or always answers too early:
accuracy 0 while the loss, dominated by the fixation epoch, keeps falling (issue 12)."""

from __future__ import annotations

import pytest
import torch

import mrnngraph as mg
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import FlipFlop, PerceptualDecisionMaking
from mrnngraph.training import TrainingWarning

TASK = PerceptualDecisionMaking(stimulus=100, delay=0, decision=60)

# A stuck readout also trips the other checks (outputs independent of the input, a loss
# that does not move): expected here, and not what these tests are about.
pytestmark = pytest.mark.filterwarnings(
    "ignore:train. step .*(do not depend on the input|has not moved):"
    "mrnngraph.training.TrainingWarning"
)


def _stuck_model(answer: int) -> mg.MultiRegionRNN:
    """A model whose readout says ``answer`` at every step, whatever the input."""
    G = two_area_ei(size=8, n_inputs=TASK.input_size, n_outputs=TASK.output_size)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    with torch.no_grad():
        model.parametrizations.weight_ho.original.zero_()
        model.bias_ho.zero_()
        model.bias_ho[answer] = 50.0
    return model


def _train(model, task, steps):
    return mg.train(
        model,
        task,
        steps=steps,
        lr=1e-9,  # the readout stays where it is
        batch_size=8,
        seed=0,
        progress=False,
        init_readout_bias=False,
        health_every=50,
    )


@pytest.mark.parametrize(
    ("answer", "kind", "text"),
    [(0, "no_answers", "no trial of the batch answered"), (1, "all_fixation_breaks", "broke")],
)
def test_a_network_that_never_answers_or_always_breaks_is_reported(answer, kind, text):
    with pytest.warns(TrainingWarning, match=text):
        h = _train(_stuck_model(answer), TASK, 100)
    events = [e for e in h.health if e["kind"] == kind]
    assert len(events) == 1 and events[0]["step"] == 100  # not before 100 steps


def test_no_answer_is_not_reported_in_the_first_steps():
    h = _train(_stuck_model(0), TASK, 50)
    assert not [e for e in h.health if e["kind"] in ("no_answers", "all_fixation_breaks")]


def test_tasks_without_answers_are_not_checked():
    task = FlipFlop()
    G = two_area_ei(size=8, n_inputs=task.input_size, n_outputs=task.output_size)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    h = mg.train(model, task, steps=100, batch_size=4, seed=0, progress=False, health_every=50)
    assert not [e for e in h.health if e["kind"] in ("no_answers", "all_fixation_breaks")]
