"""Lesion controls: is a named lesion worse than removing as many random units or synapses?

:func:`lesion_effect` scores a model on one batch of a task intact, with a named
lesion (regions or groups silenced, pathways cut, as :func:`mrnngraph.perturb`
takes them), and with ``n_random`` random lesions of the same size: the same
number of units drawn among the recurrent units, the same number of synapses of
each weight family (recurrent, input, readout) drawn among that family's existing
synapses. Every condition sees the same trials (and the same noise, if the model
has any). The model is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._params import COUNT, STEPS, validate_params
from ..model import Perturbation
from ..perturbation import perturb
from ..tasks import Task

__all__ = ["lesion_effect", "LesionEffect"]

_FAMILY_WEIGHT = {"hh": "weight_hh", "ih": "weight_ih", "ho": "weight_ho"}


@dataclass(frozen=True, eq=False)
class LesionEffect:
    """What :func:`lesion_effect` returns.

    Attributes
    ----------
    silence : list of str
        Regions (groups expanded) silenced by the named lesion.
    cut : list of (str, str)
        Declared edges the named lesion cuts (groups expanded).
    metric : str
        What was scored (``"accuracy"`` by default).
    intact : float
        The score of the intact model.
    lesioned : float
        The score with the named lesion.
    random : ndarray, shape (n_random,)
        The scores with random lesions of the same size.
    n_units : int
        Units silenced (by the named lesion and by each random one).
    n_synapses : dict of str to int
        Synapses cut per weight family (``"hh"``, ``"ih"``, ``"ho"``).
    n_trials : int
    among : list of str or None
        The regions random units were drawn from (None: all recurrent units).
    """

    silence: list[str]
    cut: list[tuple[str, str]]
    metric: str
    intact: float
    lesioned: float
    random: np.ndarray
    n_units: int
    n_synapses: dict[str, int] = field(default_factory=dict)
    n_trials: int = 0
    among: list[str] | None = None

    @property
    def name(self) -> str:
        """A short description: ``"silence stn"``, ``"cut d2 → gpe"``."""
        parts = []
        if self.silence:
            parts.append("silence " + ", ".join(self.silence))
        if self.cut:
            parts.append("cut " + ", ".join(f"{s} → {d}" for s, d in self.cut))
        return "; ".join(parts)

    @property
    def percentile(self) -> float:
        """Percent of random lesions that score below the named lesion (ties count half):
        0 means the named lesion is worse than every random one."""
        r = self.random
        if r.size == 0:
            return float("nan")
        below = np.sum(r < self.lesioned) + 0.5 * np.sum(r == self.lesioned)
        return float(100.0 * below / r.size)

    @property
    def p_value(self) -> float:
        """One-sided empirical p-value that the named lesion hurts more than a random one:
        ``(1 + #{random <= lesioned}) / (1 + n_random)`` (never 0; at least
        ``1 / (1 + n_random)``)."""
        return float((1 + np.sum(self.random <= self.lesioned)) / (1 + self.random.size))


# --------------------------------------------------------------------------- lesion spec
def _normalise(model, lesion: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """``lesion`` -> (silenced leaf regions, cut leaf edges), checked like ``perturb``."""
    if isinstance(lesion, str):
        spec: dict[str, Any] = {"silence": [lesion]}
    elif isinstance(lesion, tuple) and len(lesion) == 2 and all(isinstance(x, str) for x in lesion):
        spec = {"cut": [lesion]}
    elif isinstance(lesion, Mapping):
        extra = sorted(set(lesion) - {"silence", "cut"})
        if extra:
            raise ValueError(
                f"lesion: only 'silence' and 'cut' are lesions; got {extra} "
                "(clamps and stimulation have no random counterpart)"
            )
        spec = dict(lesion)
    elif isinstance(lesion, list) and all(isinstance(x, str) for x in lesion):
        spec = {"silence": lesion}
    else:
        raise TypeError(
            "lesion must be a region or group name, a (src, dst) pathway, a list "
            "of names, or a dict with 'silence' and/or 'cut' (as perturb takes "
            f"them); got {lesion!r}"
        )
    lay = model.layout
    silence = spec.get("silence", [])
    silence = [silence] if isinstance(silence, str) else list(silence)
    leaves: list[str] = []
    for name in silence:
        if not isinstance(name, str):
            raise TypeError(f"lesion: region names must be str; got {name!r}")
        for leaf in lay.expand(name):
            if lay.space(leaf) != "h":
                raise ValueError(
                    f"lesion: {leaf!r} is not a recurrent region; recurrent "
                    f"regions: {', '.join(repr(r) for r in lay.regions)}"
                )
            if leaf not in leaves:
                leaves.append(leaf)
    cut = spec.get("cut", [])
    if isinstance(cut, tuple) and len(cut) == 2 and all(isinstance(c, str) for c in cut):
        cut = [cut]
    edges: list[tuple[str, str]] = []
    blocks = model.circuit.blocks
    for pair in cut:
        if not (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and all(isinstance(c, str) for c in pair)
        ):
            raise TypeError(f"lesion: cut must be a list of (src, dst) name pairs; got {pair!r}")
        found = [
            (s, d) for s in lay.expand(pair[0]) for d in lay.expand(pair[1]) if (s, d) in blocks
        ]
        if not found:
            raise KeyError(f"lesion: the circuit declares no edge ({pair[0]!r}, {pair[1]!r})")
        edges.extend(e for e in found if e not in edges)
    if not leaves and not edges:
        raise ValueError("lesion is empty: name a region to silence or a pathway to cut")
    return leaves, edges


# --------------------------------------------------------------------------- synapses
def _constraint(model, family: str) -> Any:
    """The parametrization of a family's weight (it owns the masks a cut edits)."""
    return model.parametrizations[_FAMILY_WEIGHT[family]][0]


def _block_synapses(model, family: str, edge: tuple[str, str]) -> int:
    """Existing synapses of one declared edge in the model's current masks."""
    lay = model.layout
    return _constraint(model, family).n_synapses((lay.slice(edge[1]), lay.slice(edge[0])))


def _cut_synapses(model, family: str, choice: np.ndarray) -> Any:
    """Cut the ``choice``-th existing synapses of ``family`` (in the order of its
    parametrization's ``synapse_coordinates``); the parametrization swaps its buffers
    for edited copies and puts them back on exit."""
    return _constraint(model, family).masked(synapses=torch.as_tensor(choice, dtype=torch.long))


@contextmanager
def _silence_units(model, units: torch.Tensor) -> Iterator[None]:
    """Hold the rates of ``units`` (indices) at 0, on top of any active perturbation."""
    ref = model.alpha
    mask = torch.zeros(model.hidden_size, dtype=torch.bool, device=ref.device)
    mask[units.to(ref.device)] = True
    value = torch.zeros(model.hidden_size, dtype=ref.dtype, device=ref.device)
    previous = model.perturbation
    clamp = (mask, value)
    if previous is not None and previous.clamp is not None:
        m_old, v_old = previous.clamp
        clamp = (mask | m_old, torch.where(mask, value, v_old))
    model.perturbation = Perturbation(
        clamp=clamp, drive=None if previous is None else previous.drive
    )
    try:
        yield
    finally:
        model.perturbation = previous


# --------------------------------------------------------------------------- scoring
def _scorer(model, task, batch, metric: str | Callable, seed: int) -> Callable[[], float]:
    from ..training import predict

    device = model.alpha.device
    noisy = bool(getattr(model, "noise_std", 0) or getattr(model, "input_noise_std", 0))

    def score() -> float:
        # The same noise in every condition (common random numbers).
        g = torch.Generator(device=device).manual_seed(seed) if noisy else None
        out = predict(model, batch, generator=g)
        outputs = out.outputs if hasattr(out, "outputs") else out[0]
        with torch.no_grad():
            if callable(metric):
                return float(metric(outputs, batch))
            if metric == "accuracy":
                return float(task.accuracy(outputs, batch))
            values = task.metrics(outputs, batch)
            if metric not in values:
                raise KeyError(
                    f"metric {metric!r} is not one of the task's metrics: {sorted(values)}"
                )
            return float(values[metric])

    return score


@validate_params({"n_random": STEPS, "seed": COUNT, "batch_size": STEPS})
def lesion_effect(
    model,
    task,
    lesion: Any,
    *,
    n_random: int = 20,
    seed: int = 0,
    batch_size: int = 500,
    metric: str | Callable = "accuracy",
    among: Sequence[str] | str | None = None,
) -> LesionEffect:
    """Compare a named lesion with random lesions of the same size, on the same trials.

    Parameters
    ----------
    model : MultiRegionRNN
    task : Task
        Its ``batch(batch_size, seed=seed)`` gives the trials, its ``accuracy`` (or
        ``metrics``) the score.
    lesion : str, (str, str), list of str, or dict
        A region or group name (silenced), a ``(src, dst)`` pathway (cut), a list of
        names (all silenced), or ``{"silence": [...], "cut": [(src, dst), ...]}`` —
        the ``silence`` and ``cut`` arguments of :func:`mrnngraph.perturb`, which
        applies the named lesion.
    n_random : int
        Random lesions drawn.
    seed : int
        Seed of the trials, of the random lesions and of the model's noise.
    batch_size : int
        Trials scored (the same in every condition).
    metric : str or callable
        ``"accuracy"`` (``task.accuracy``), any key of ``task.metrics(outputs, batch)``,
        or ``fn(outputs, batch) -> float``. Lower is taken as worse.
    among : str or sequence of str, optional
        Regions (or groups) the random units are drawn from; default every recurrent
        unit. Random synapses are always drawn among all existing synapses of the same
        family (a cut of a recurrent pathway among recurrent synapses, of an input
        edge among input synapses, of a readout edge among readout synapses).

    Returns
    -------
    LesionEffect
        ``intact``, ``lesioned``, ``random`` scores, ``percentile`` and ``p_value`` of the
        named lesion among the random ones.

    Raises
    ------
    KeyError
        For an unknown region or an undeclared edge.
    ValueError
        For an empty lesion, or one larger than the pool random lesions are drawn from.
    TypeError
        For a lesion of the wrong form.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import cbgt_loop
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> model = mg.MultiRegionRNN.from_graph(cbgt_loop(scale=0.25), seed=0)
    >>> eff = lesion_effect(model, PerceptualDecisionMaking(), "stn", n_random=3,
    ...                     batch_size=20)
    >>> eff.n_units, eff.random.shape, eff.name
    (4, (3,), 'silence stn')
    """
    if not hasattr(model, "layout") or not hasattr(model, "circuit"):
        raise TypeError(f"model must be a mrnngraph.MultiRegionRNN; got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a mrnngraph.tasks.Task; got {type(task).__name__}")
    if not (callable(metric) or isinstance(metric, str)):
        raise TypeError(f"metric must be a str or a callable; got {type(metric).__name__}")
    silence, cut = _normalise(model, lesion)
    lay = model.layout
    units = lay.indices(*silence) if silence else torch.empty(0, dtype=torch.long)
    n_units = int(units.numel())
    synapses: dict[str, int] = {}
    for edge in cut:
        fam = model.circuit.blocks[edge].family
        synapses[fam] = synapses.get(fam, 0) + _block_synapses(model, fam, edge)
    among = None if among is None else _recurrent(model, among)
    pool = torch.arange(model.hidden_size) if among is None else lay.indices(*among)
    if n_units > pool.numel():
        raise ValueError(
            f"lesion silences {n_units} units but the pool of random units "
            f"(among={among!r}) has {pool.numel()}"
        )
    available = {fam: _constraint(model, fam).n_synapses() for fam in synapses}

    batch = task.batch(batch_size, seed=seed, device=model.alpha.device)
    score = _scorer(model, task, batch, metric, seed)
    intact = score()
    with perturb(model, silence=silence, cut=cut):
        lesioned = score()
    rng = np.random.default_rng([seed, 0x1E5])
    random = []
    for _ in range(n_random):
        chosen_units = pool[torch.as_tensor(rng.choice(pool.numel(), n_units, replace=False))]
        with _random_lesion(
            model,
            chosen_units,
            {fam: rng.choice(available[fam], n, replace=False) for fam, n in synapses.items()},
        ):
            random.append(score())
    name_metric = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    return LesionEffect(
        silence=silence,
        cut=cut,
        metric=name_metric,
        intact=intact,
        lesioned=lesioned,
        random=np.asarray(random),
        n_units=n_units,
        n_synapses=synapses,
        n_trials=batch.batch_size,
        among=among,
    )


def _recurrent(model, names: Sequence[str] | str) -> list[str]:
    lay = model.layout
    names = [names] if isinstance(names, str) else list(names)
    leaves = lay.expand(*names)
    for leaf in leaves:
        if lay.space(leaf) != "h":
            raise ValueError(f"among: {leaf!r} is not a recurrent region")
    return leaves


@contextmanager
def _random_lesion(
    model, units: torch.Tensor, synapses: Mapping[str, np.ndarray]
) -> Iterator[None]:
    with ExitStack() as stack:
        if units.numel():
            stack.enter_context(_silence_units(model, units))
        for fam, choice in synapses.items():
            stack.enter_context(_cut_synapses(model, fam, choice))
        yield
