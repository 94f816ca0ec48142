"""Example circuits used by the docs, the examples and ``mrnngraph train``."""

from __future__ import annotations

import math

import networkx as nx

__all__ = ["cbgt_loop", "two_area_ei", "cortical_hierarchy", "MARKOV_AREAS"]


def cbgt_loop(*, n_inputs: int = 3, n_outputs: int = 3, scale: float = 1.0) -> nx.DiGraph:
    """A cortico-basal ganglia-thalamic loop: 8 regions, mixed signs, one lesioned pathway.

    Cortex is split into excitatory and inhibitory populations grouped under the
    parent ``"ctx"``. The direct (D1 → SNr), indirect (D2 → GPe → STN → SNr) and
    hyperdirect (ctx → STN) pathways converge on SNr, which inhibits the thalamus,
    which excites cortex. The D1 → GPe collaterals are declared ``zero`` (a
    documented absence). GPe, SNr and the thalamus fire tonically (``base_firing``), so
    the thalamus is active and disinhibition through the basal ganglia can matter. A
    decision is read out from excitatory cortex.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Channels of the input node ``"stim"`` and the readout ``"choice"``
        (3 and 3 fit perceptual decision making: fixation + two choices).
    scale : float
        Multiplies every region's size.

    Examples
    --------
    >>> G = cbgt_loop()
    >>> sum(1 for _, d in G.nodes(data=True) if d.get("kind", "recurrent") == "recurrent")
    8
    """

    def n(size: int) -> int:
        return max(1, round(size * scale))

    G = nx.DiGraph(name="cbgt_loop", dt=20.0, tau=100.0, activation="relu")
    G.add_node("stim", kind="input", size=n_inputs, label="stimulus")
    G.add_node("ctx_e", size=n(96), sign="exc", parent="ctx", label="ctx E")
    G.add_node("ctx_i", size=n(24), sign="inh", parent="ctx", label="ctx I")
    G.add_node("d1", size=n(24), sign="inh", label="D1 MSN")
    G.add_node("d2", size=n(24), sign="inh", label="D2 MSN")
    G.add_node("gpe", size=n(16), sign="inh", base_firing=1.0, label="GPe")
    G.add_node("stn", size=n(16), sign="exc", label="STN")
    G.add_node("snr", size=n(16), sign="inh", base_firing=0.5, label="SNr")
    G.add_node("thal", size=n(24), sign="exc", base_firing=1.0, label="thalamus")
    G.add_node("choice", kind="output", size=n_outputs)
    G.add_edge("stim", "ctx_e", density=0.5)
    G.add_edge("stim", "ctx_i", density=0.5)
    for src in ("ctx_e", "ctx_i"):
        for dst in ("ctx_e", "ctx_i"):
            G.add_edge(src, dst, density=0.5, autapses=False if src == dst else True)
    G.add_edge("ctx_e", "d1", density=0.3)
    G.add_edge("ctx_e", "d2", density=0.3)
    G.add_edge("ctx_e", "stn", density=0.2, label="hyperdirect")
    G.add_edge("d1", "snr", density=0.5, label="direct")
    G.add_edge("d2", "gpe", density=0.5, label="indirect")
    G.add_edge("d1", "gpe", zero=True, label="lesioned")
    G.add_edge("gpe", "stn", density=0.5)
    G.add_edge("stn", "gpe", density=0.5)
    G.add_edge("stn", "snr", density=0.5)
    G.add_edge("gpe", "snr", density=0.5)
    G.add_edge("snr", "thal", density=0.5)
    G.add_edge("thal", "ctx_e", density=0.3)
    G.add_edge("thal", "ctx_i", density=0.3)
    G.add_edge("ctx_e", "choice")
    return G


def two_area_ei(
    *, size: int = 100, exc_frac: float = 0.8, n_inputs: int = 3, n_outputs: int = 3
) -> nx.DiGraph:
    """Two mixed E/I areas: sensory area ``a1`` feeds ``a2``, which feeds back and decides.

    Between areas only excitatory units project (``ei=["EE", "EI"]``), as in
    long-range cortical connections; the choice is read out from ``a2``'s
    excitatory units.

    Examples
    --------
    >>> G = two_area_ei(size=50)
    >>> G.edges["a1", "a2"]["ei"]
    ['EE', 'EI']
    """
    G = nx.DiGraph(name="two_area_ei", dt=20.0, tau=100.0, activation="relu")
    G.add_node("stim", kind="input", size=n_inputs)
    G.add_node("a1", size=size, exc_frac=exc_frac)
    G.add_node("a2", size=size, exc_frac=exc_frac)
    G.add_node("choice", kind="output", size=n_outputs)
    G.add_edge("stim", "a1", density=0.5)
    G.add_edge("a1", "a1", density=0.4, autapses=False)
    G.add_edge("a2", "a2", density=0.4, autapses=False)
    G.add_edge("a1", "a2", density=0.3, ei=["EE", "EI"], label="feedforward")
    G.add_edge("a2", "a1", density=0.1, ei=["EE", "EI"], label="feedback")
    G.add_edge("a2", "choice", ei=["E"])
    return G


#: The 29 areas of the macaque cortex injected in Markov et al. (2014), in an
#: approximate visual-to-prefrontal hierarchy order (low to high).
MARKOV_AREAS = (
    "V1",
    "V2",
    "V4",
    "DP",
    "MT",
    "TEO",
    "7m",
    "STPr",
    "STPi",
    "STPc",
    "PBr",
    "TEpd",
    "7A",
    "7B",
    "2",
    "5",
    "F1",
    "F5",
    "F7",
    "F2",
    "ProM",
    "24c",
    "8B",
    "8l",
    "8m",
    "46d",
    "9/46v",
    "9/46d",
    "10",
)


def cortical_hierarchy(
    n_areas: int = 29,
    *,
    size: int = 20,
    exc_frac: float = 0.8,
    length: float = 6.0,
    threshold: float = 0.05,
    max_density: float = 0.5,
) -> nx.DiGraph:
    """A synthetic cortical hierarchy with the names of the 29 Markov et al. (2014) areas.

    Connection density decays exponentially with the distance between two areas'
    hierarchy ranks (``max_density * exp(-|rank_i - rank_j| / length)``); pairs
    under ``threshold`` are absent. Feedforward projections (up the hierarchy)
    are excitatory onto both E and I units; feedback projections target
    excitatory units only. The input drives ``V1``; the output reads the top area.
    This is a stand-in for the measured connectome, which
    :func:`mrnngraph.from_adjacency` can load when you have it.

    Examples
    --------
    >>> G = cortical_hierarchy()
    >>> G.number_of_nodes(), G.has_edge("V1", "V2")
    (31, True)
    """
    if not 1 <= n_areas <= len(MARKOV_AREAS):
        raise ValueError(f"n_areas must be in [1, {len(MARKOV_AREAS)}]; got {n_areas!r}")
    areas = MARKOV_AREAS[:n_areas]
    G = nx.DiGraph(name=f"cortical_hierarchy_{n_areas}", dt=20.0, tau=100.0)
    G.add_node("visual", kind="input", size=2)
    for a in areas:
        G.add_node(a, size=size, exc_frac=exc_frac)
    G.add_node("readout", kind="output", size=2)
    G.add_edge("visual", "V1")
    for i, a in enumerate(areas):
        G.add_edge(a, a, density=max_density, autapses=False)
        for j, b in enumerate(areas):
            if i == j:
                continue
            d = max_density * math.exp(-abs(i - j) / length)
            if d < threshold:
                continue
            G.add_edge(a, b, density=round(d, 3), ei=["EE", "EI"] if j > i else ["EE"])
    G.add_edge(areas[-1], "readout", ei=["E"])
    return G
