"""Draw a three-area hierarchy with conduction delays, learned time constants and
densities per E/I sub-pathway (Kleinman et al. 2021-style, one node per area).

Each area mixes 80 % excitatory and 20 % inhibitory units. Feedforward projections
come from excitatory units, onto excitatory units at 10 % and onto inhibitory units at
5 % (``density={"EE": 0.1, "EI": 0.05}``); feedback is E->E at 5 %. Projections between
neighbouring areas are delayed by 10 ms (20 ms for the longer one); the two higher areas
learn their time constants (``learn_tau=True``). The labels give each sub-pathway's
density and each delay; the gap between two bars on an arrow marks the delay.

Run: python examples/draw_delays.py [--docs]  ->  examples/out/draw_delays.png
"""

import itertools

import networkx as nx
from _figures import parse_args, save  # examples/_figures.py

from mrnngraph.drawing import draw


def delayed_hierarchy() -> nx.DiGraph:
    G = nx.DiGraph(name="delayed_hierarchy", dt=10.0, tau=50.0)
    G.add_node("stimulus", kind="input", size=4)
    areas = ["sensory", "association", "premotor"]
    for i, name in enumerate(areas):
        learn = {"learn_tau": True, "tau_min": 20.0, "tau_max": 500.0} if i else {}
        G.add_node(name, size=100, exc_frac=0.8, **learn)
        G.add_edge(name, name, density=0.2)
    G.add_node("choice", kind="output", size=2)
    G.add_edge("stimulus", "sensory")
    for (a, b), delay in zip(itertools.pairwise(areas), (10.0, 20.0), strict=True):
        G.add_edge(a, b, ei=["EE", "EI"], density={"EE": 0.1, "EI": 0.05}, delay=delay)
        G.add_edge(b, a, ei=["EE"], density={"EE": 0.05}, delay=delay)
    G.add_edge("premotor", "choice", ei=["E"])
    return G


def between_areas(src, dst, attrs):
    """Density per sub-pathway and the delay on the projections between areas."""
    if src == dst or not isinstance(attrs.get("density"), dict):
        return None
    lines = [f"{k} {v:g}" for k, v in attrs["density"].items()]
    return "\n".join([*lines, f"{attrs['delay']:g} ms"])


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    ax = draw(delayed_hierarchy(), edge_labels=between_areas)
    save(ax.figure, "draw_delays", docs=args.docs)
