"""A simulated three-region "brain" with known pathways, to test data-constrained fitting.

Used by ``tests/test_fitting.py``, ``bench/fit_ground_truth.py`` and
``examples/fit_ground_truth.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np
import torch

__all__ = [
    "TRUE_PATHWAYS",
    "ABSENT_PATHWAYS",
    "ground_truth_graph",
    "simulate_ground_truth",
    "fitting_graph",
]

#: Present between-region pathways and their gains (strong, medium, weak).
TRUE_PATHWAYS: dict[tuple[str, str], float] = {("a", "b"): 1.2, ("b", "c"): 0.8, ("c", "a"): 0.4}
#: Between-region pairs with no synapse in the simulated network.
ABSENT_PATHWAYS: tuple[tuple[str, str], ...] = (("b", "a"), ("c", "b"), ("a", "c"))
REGIONS = ("a", "b", "c")


def ground_truth_graph(
    size: int = 60, *, self_gain: float = 1.4, gains: Mapping[tuple[str, str], float] | None = None
) -> nx.DiGraph:
    """The simulated network: three tanh regions, a stimulus into ``a``, a loop
    ``a -> b -> c -> a`` of decreasing strength (``gains``, default
    :data:`TRUE_PATHWAYS`), no ``b -> a``, ``c -> b``, ``a -> c``."""
    G = nx.DiGraph(name="ground_truth", dt=10.0, tau=100.0, activation="tanh")
    G.add_node("stim", kind="input", size=2)
    for r in REGIONS:
        G.add_node(r, size=size)
        G.add_edge(r, r, gain=self_gain)
    G.add_edge("stim", "a", gain=2.0)
    for (s, d), g in (TRUE_PATHWAYS if gains is None else gains).items():
        G.add_edge(s, d, gain=g)
    return G


def fitting_graph(
    size: int = 60, *, inputs: int = 2, gain: float = 0.8, between_gain: float | None = None
) -> nx.DiGraph:
    """What a user who knows nothing of the pathways fits: every ordered pair of the
    three regions declared (self-connections included), the stimulus into every region.
    Every projection starts at ``gain``; ``between_gain`` (default ``gain``) sets the
    start of the projections between different regions."""
    G = nx.DiGraph(name="fit_all_pairs", dt=10.0, tau=100.0, activation="tanh")
    G.add_node("stim", kind="input", size=inputs)
    for r in REGIONS:
        G.add_node(r, size=size)
        G.add_edge("stim", r)
    for s in REGIONS:
        for d in REGIONS:
            g = gain if s == d or between_gain is None else between_gain
            G.add_edge(s, d, gain=g)
    return G


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], width: float) -> np.ndarray:
    z = rng.standard_normal(shape)
    k = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    k /= np.sqrt((k**2).sum())
    h, n = len(k) // 2, shape[1]
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="full")[h : h + n], 1, z)


def simulate_ground_truth(
    *,
    size: int = 60,
    n_trials: int = 36,
    n_steps: int = 150,
    seed: int = 0,
    hz: bool = True,
    gains: Mapping[tuple[str, str], float] | None = None,
) -> dict[str, Any]:
    """Simulate the ground-truth network and return its recording in pseudo-Hz.

    Six stimulus conditions (coherence ±0.05, ±0.2, ±0.5) repeat over the trials; the
    stimulus is on from bin 20 to bin 100, with trial-to-trial filtered noise; each
    trial starts from its own random state. Each neuron's rate is
    ``base + gain * (1 + h) / 2`` Hz (``base`` 1-5, ``gain`` 10-40) when ``hz``, else the
    unit's rate ``h`` itself.

    Returns
    -------
    dict
        ``graph`` (the truth), ``model`` (its MultiRegionRNN), ``recording`` (a
        :class:`~mrnngraph.Recording` with ``trials["coherence"]`` and
        ``trials["condition"]``, ``trials["trial"]``: the index), ``rates`` (the units'
        ``h`` as a Recording), ``x0`` (the initial states).
    """
    from ..model import MultiRegionRNN
    from ..recording import Recording, activity

    rng = np.random.default_rng(seed)
    G = ground_truth_graph(size, gains=gains)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no output nodes: expected here
        model = MultiRegionRNN.from_graph(G, seed=seed)
    coh = np.array([-0.5, -0.2, -0.05, 0.05, 0.2, 0.5])
    cond = np.arange(n_trials) % len(coh)
    c = coh[cond]
    u = np.zeros((n_trials, n_steps, 2))
    on = slice(min(20, n_steps // 7), min(100, n_steps * 2 // 3))
    u[:, on, 0] = (0.6 * (1 + c))[:, None]
    u[:, on, 1] = (0.6 * (1 - c))[:, None]
    u += 0.3 * _smooth_noise(rng, (n_trials, n_steps, 2), 5.0)
    x0 = 0.5 * rng.standard_normal((n_trials, model.hidden_size))
    units = activity(
        model,
        torch.as_tensor(u, dtype=torch.float32),
        x0=torch.as_tensor(x0, dtype=torch.float32),
        trials={"coherence": c, "condition": cond, "trial": np.arange(n_trials)},
    )
    if hz:
        rates = {}
        for r, h in units.rates.items():
            base = rng.uniform(1, 5, h.shape[2])
            gain = rng.uniform(10, 40, h.shape[2])
            rates[r] = base + gain * (1 + h) / 2
        rec = Recording(rates, units.dt, inputs=u, trials=units.trials)
    else:
        rec = Recording(units.rates, units.dt, inputs=u, trials=units.trials)
    return {"graph": G, "model": model, "recording": rec, "rates": units, "x0": x0}
