"""Circuits the benchmarks run on: equal-sized mixed E/I regions, a given fraction of
region pairs connected (every region to itself, then random other pairs)."""

from __future__ import annotations

import networkx as nx
import numpy as np

__all__ = ["region_graph"]


def region_graph(
    n_units: int,
    n_regions: int,
    *,
    pair_fraction: float,
    density: float = 0.5,
    exc_frac: float = 0.8,
    n_inputs: int = 4,
    n_outputs: int = 2,
    seed: int = 0,
) -> tuple[nx.DiGraph, np.ndarray]:
    """A circuit of ``n_regions`` regions of ``n_units // n_regions`` units.

    About ``pair_fraction`` of the ``n_regions**2`` ordered region pairs are
    connected (self-pairs always), each projection Bernoulli with ``density``.
    Inputs reach every region; the readout reads every region.

    Returns
    -------
    (graph, conn)
        ``conn[i, j]`` is the density from region ``j`` to region ``i`` (nn4n's
        ``area_connectivities`` convention), 0 where unconnected.
    """
    rng = np.random.default_rng(seed)
    size = n_units // n_regions
    names = [f"r{i}" for i in range(n_regions)]
    G = nx.DiGraph(name=f"bench_{n_units}_{n_regions}", dt=10.0, tau=100.0, activation="relu")
    G.add_node("u", kind="input", size=n_inputs)
    for n in names:
        G.add_node(n, size=size, exc_frac=exc_frac)
    G.add_node("y", kind="output", size=n_outputs)
    conn = np.zeros((n_regions, n_regions))
    np.fill_diagonal(conn, density)
    off = [(i, j) for i in range(n_regions) for j in range(n_regions) if i != j]
    n_extra = max(0, round(pair_fraction * n_regions**2) - n_regions)
    for k in rng.choice(len(off), size=min(n_extra, len(off)), replace=False):
        i, j = off[k]
        conn[i, j] = density
    for n in names:
        G.add_edge("u", n)
        G.add_edge(n, "y")
    for i, dst in enumerate(names):
        for j, src in enumerate(names):
            if conn[i, j] > 0:
                G.add_edge(src, dst, density=density, autapses=i != j)
    return G, conn
