"""to_nn4n and the anatomy of issue #16: what nn4n's CTRNN cannot express is refused,
every reason at once; what its masks can carry is exported."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest

from mrnngraph import GraphError
from mrnngraph.io import to_nn4n


def three_areas() -> nx.DiGraph:
    G = nx.DiGraph(name="three", dt=10.0)
    G.add_node("cue", kind="input", size=2)
    for n in ("a", "b", "c"):
        G.add_node(n, size=10, exc_frac=0.8)
        G.add_edge(n, n, density=0.5)
    G.add_node("y", kind="output", size=1)
    G.add_edge("cue", "a")
    G.add_edge("a", "b", density=0.3)
    G.add_edge("b", "c", density=0.3)
    G.add_edge("c", "y", ei=["E"])
    return G


def export(G, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_nn4n(G, seed=0, **kw)


def test_delays_and_learned_tau_are_refused_naming_each():
    G = three_areas()
    G.edges["cue", "a"]["delay"] = 10.0
    G.edges["a", "b"]["delay"] = 20.0
    G.edges["c", "y"]["delay"] = 5.0
    G.nodes["b"].update(learn_tau=True, tau=[40.0 + i for i in range(10)])
    G.nodes["c"].update(learn_tau=True, tau_max=300.0)
    G.add_node("free", size=3)  # unconstrained among signed regions: refused as before
    G.add_edge("free", "a")
    with pytest.raises(GraphError) as err:
        export(G)
    got = {(p.code, p.node, p.edge, p.attribute) for p in err.value.problems}
    assert got == {
        ("nn4n-delay", None, ("cue", "a"), "delay"),
        ("nn4n-delay", None, ("a", "b"), "delay"),
        ("nn4n-delay", None, ("c", "y"), "delay"),
        ("nn4n-learn-tau", "b", None, "learn_tau"),
        ("nn4n-learn-tau", "c", None, "learn_tau"),
        ("nn4n-mixed-constraint", None, None, None),
    }
    assert "cannot be written as nn4n masks" in str(err.value)


def test_time_constants_travel_in_the_specs_one_or_one_per_unit():
    G = three_areas()
    assert "tau" not in export(G)["specs"]  # the model's tau everywhere
    for n in ("a", "b", "c"):
        G.nodes[n]["tau"] = 50.0
    assert export(G)["specs"]["tau"] == 50.0
    G.nodes["a"]["tau"] = [50.0 + i for i in range(10)]  # e.g. learned, written back
    del G.nodes["c"]["tau"]  # c runs at the model's tau
    tau = export(G)["specs"]["tau"]
    assert tau.shape == (30,) and tau.dtype == np.float64
    assert tau[:10].tolist() == [50.0 + i for i in range(10)]
    assert (tau[10:20] == 50.0).all() and np.isnan(tau[20:]).all()


def test_zero_delays_export_as_before():
    G = three_areas()
    before = export(G)
    for u, v in G.edges:
        G.edges[u, v]["delay"] = 0.0
    after = export(G)
    assert after["specs"].keys() == before["specs"].keys()
    for a, b in zip(after["sparsity_masks"], before["sparsity_masks"], strict=True):
        assert (a == b).all()


def test_arguments():
    with pytest.raises(TypeError, match="circuit must be a CompiledCircuit or a networkx"):
        to_nn4n("circuit")
    with pytest.raises(TypeError, match="seed"):
        to_nn4n(three_areas(), seed="x")


def test_densities_per_sub_pathway_travel_in_the_masks():
    G = three_areas()
    G.edges["a", "b"].update(ei=["EE", "EI"], density={"EE": 0.5, "EI": 0.25}, rule="fixed_total")
    del G.edges["b", "c"]["density"]
    G.edges["b", "c"].update(ei=["EE"], sparsity={"EE": 0.75}, gain={"EE": 2.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mrnngraph import compile

        circuit = compile(G, seed=0)
    d = to_nn4n(circuit)
    assert (d["sparsity_masks"][1] == circuit.mask_hh.numpy().T).all()
    # Each sub-block holds its own density: a -> b's E->E block and E->I block.
    ab = circuit.blocks[("a", "b")].mask
    assert int(ab[:8, :8].sum()) == 32 and int(ab[8:, :8].sum()) == 4
    assert not ab[:, 8:].any()
    conn = d["specs"]["area_connectivities"]
    areas = d["specs"]["areas"]
    i, j = areas.index("b"), areas.index("a")
    # 8 E and 2 I units: (0.5 * 8*8 + 0.25 * 8*2) / (8*8 + 8*2) = 0.45
    assert conn[i, j] == pytest.approx(0.45)
    assert conn[areas.index("c"), i] == pytest.approx(0.25)
