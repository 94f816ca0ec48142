"""Cognitive tasks as seedable batch generators, batch-first, with a correct-answer metric.

The package: :mod:`~mrnngraph.tasks.base` (:class:`Batch`, :class:`Task`, epochs),
:mod:`~mrnngraph.tasks.cognitive` (perceptual decision making, context-dependent
integration, flip-flop), :mod:`~mrnngraph.tasks.psychometrics` (psychometric curves
and their fit), :mod:`~mrnngraph.tasks.adapter` (neurogym environments) and
:mod:`~mrnngraph.tasks.registry` (tasks by name).

Every task draws a :class:`Batch` of trials::

    inputs, targets, mask = task.batch(64, seed=0)

* ``inputs``: ``(B, T, I)`` float, the external input to the circuit's input nodes;
* ``targets``: ``(B, T)`` class indices (classification) or ``(B, T, O)`` floats (regression);
* ``mask``: ``(B, T)`` float, the weight of each time step in the loss; 0 means the
  step does not count (padding, grace periods);
* ``batch.trials``: per-trial conditions (coherence, choice, context, ...), one
  tensor of length ``B`` per key.

Time is in milliseconds; ``dt`` is the step, and every epoch lasts
``duration / dt`` steps, rounded half up. An epoch's duration may be a number or a
``(low, high)`` range drawn uniformly per trial (in whole steps); a batch then
lasts as long as its longest possible trial and shorter trials are padded at
the end with zero input and zero mask.

Classification tasks follow neurogym's convention: output channel 0 is
"fixate" and the target is 0 outside the decision epoch; channels ``1..n`` are
the choices. Unlike ``neurogym.Dataset`` (time first, trials back to back), each
row of a batch here is one trial, batch-first.

Examples
--------
>>> task = PerceptualDecisionMaking()
>>> x, y, m = task.batch(8, seed=0)
>>> x.shape, y.shape, m.shape, task.n_steps
(torch.Size([8, 65, 3]), torch.Size([8, 65]), torch.Size([8, 65]), 65)
>>> task.accuracy(task.optimal_outputs(task.batch(8, seed=0)), task.batch(8, seed=0))
1.0
"""

from __future__ import annotations

# The private names are the ones this package had as a single module (tasks.py, until
# 0.1), kept importable from here.
from .adapter import NeurogymTask, _env_name, _space_names, _trial_info, from_neurogym  # noqa: F401
from .base import (  # noqa: F401
    Batch,
    Duration,
    Task,
    _check_dt,
    _check_duration,
    _EpochTask,
    _fmt,
    _generator,
    _steps,
    _tensor,
)
from .cognitive import ContextDependentIntegration, FlipFlop, PerceptualDecisionMaking
from .psychometrics import (
    ContextPsychometrics,
    PsychometricCurve,
    PsychometricFit,
    fit_psychometric,
)
from .registry import _ALIASES, TASKS, get_task  # noqa: F401

__all__ = [
    "Batch",
    "Task",
    "PerceptualDecisionMaking",
    "ContextDependentIntegration",
    "FlipFlop",
    "NeurogymTask",
    "from_neurogym",
    "get_task",
    "TASKS",
    "Duration",
    "PsychometricCurve",
    "PsychometricFit",
    "ContextPsychometrics",
    "fit_psychometric",
]
