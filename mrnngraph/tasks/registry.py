"""Tasks by name: :data:`TASKS` and :func:`get_task`."""

from __future__ import annotations

from typing import Any

from .._params import InstanceOf, check
from .adapter import from_neurogym
from .base import Task
from .cognitive import ContextDependentIntegration, FlipFlop, PerceptualDecisionMaking

__all__ = ["TASKS", "get_task"]


# --------------------------------------------------------------------------- registry
#: Task name -> class. Aliases: see :func:`get_task`.
TASKS: dict[str, type[Task]] = {
    "perceptual_decision_making": PerceptualDecisionMaking,
    "context_dependent_integration": ContextDependentIntegration,
    "flip_flop": FlipFlop,
}

_ALIASES = {
    "pdm": "perceptual_decision_making",
    "perceptual": "perceptual_decision_making",
    "perceptualdecisionmaking": "perceptual_decision_making",
    "cdi": "context_dependent_integration",
    "mante": "context_dependent_integration",
    "context": "context_dependent_integration",
    "contextdependentintegration": "context_dependent_integration",
    "flipflop": "flip_flop",
    "3bit": "flip_flop",
    "3_bit_flip_flop": "flip_flop",
}


def get_task(name: str, **kwargs: Any) -> Task:
    """Build a task by name (case and ``-``/``_`` insensitive; aliases ``pdm``, ``cdi``,
    ``mante``, ``flipflop``, ``3bit``), or ``"neurogym:<env id>"`` when neurogym is installed.

    Examples
    --------
    >>> get_task("pdm", dt=10).dt
    10.0
    >>> get_task("Flip-Flop").name
    'flip_flop'
    """
    name = check("task name", name, InstanceOf((str,), "a string"))
    if name.startswith("neurogym:"):
        try:
            import neurogym
        except ImportError:
            raise ValueError(
                f"task {name!r} needs neurogym, which is not installed (pip install neurogym)"
            ) from None
        return from_neurogym(neurogym.make(name.split(":", 1)[1], **kwargs))
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, _ALIASES.get(key.replace("_", ""), key))
    if key not in TASKS:
        known = ", ".join([*TASKS, *_ALIASES])
        raise ValueError(f"unknown task {name!r}; known tasks: {known}, or neurogym:<env id>")
    return TASKS[key](**kwargs)
