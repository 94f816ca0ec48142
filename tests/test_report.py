"""mrnngraph.report: realised vs requested connectivity, balance, radius, counts."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import torch

from mrnngraph import MultiRegionRNN, compile
from mrnngraph.perturbation import perturb
from mrnngraph.presets.examples import cbgt_loop, two_area_ei
from mrnngraph.reporting import ConnectivityReport, format_report, report


def _graph():
    G = nx.DiGraph(name="toy")
    G.add_node("u", kind="input", size=2)
    G.add_node("e", size=10, exc_frac=0.8, learnable_bias=True)
    G.add_node("p", size=6, sign="inh")
    G.add_node("f", size=6)
    G.add_node("y", kind="output", size=1)
    G.add_edge("u", "e", density=0.5)
    G.add_edge("e", "e", density=0.5, autapses=False, rule="fixed_indegree")
    G.add_edge("e", "p", density=0.5, ei=["E"])
    G.add_edge("p", "e", rule="fixed_total", density=0.25)
    G.add_edge("p", "f", rule="one_to_one", trainable=False)
    G.add_edge("f", "p", zero=True)
    G.add_edge("e", "y", ei=["E"])
    return G


def _row(rep, src, dst):
    return next(r for r in rep.projections if (r["src"], r["dst"]) == (src, dst))


def test_candidates_and_realised_density():
    c = compile(_graph(), seed=0)
    rep = report(c)
    assert rep.source == "circuit" and rep.name == "toy"
    ee = _row(rep, "e", "e")
    assert ee["candidates"] == 10 * 9  # no autapses
    assert ee["synapses"] == int(c.blocks[("e", "e")].mask.sum())
    assert ee["realised_density"] == pytest.approx(ee["synapses"] / 90)
    # fixed in-degree: every target unit gets exactly 9 - ceil(0.5 * 9) = 4 inputs
    assert ee["in_degree"] == {"mean": 4.0, "std": 0.0, "min": 4.0, "max": 4.0}
    ep = _row(rep, "e", "p")
    assert ep["candidates"] == 6 * 8  # only the 8 excitatory sources
    pf = _row(rep, "p", "f")
    assert pf["candidates"] == 6 and pf["synapses"] == 6 and pf["realised_density"] == 1.0
    pe = _row(rep, "p", "e")
    assert pe["synapses"] == 60 - 45 and pe["requested_density"] == 0.25  # fixed_total
    assert _row(rep, "e", "y")["kind"] == "readout" and _row(rep, "u", "e")["kind"] == "input"
    fp = _row(rep, "f", "p")
    assert fp["zero"] and fp["synapses"] == 0 and fp["requested_density"] == 0.0
    assert rep.summary["zero"] == [("f", "p")] and rep.summary["frozen"] == [("p", "f")]


def test_degree_statistics_are_row_and_column_sums():
    c = compile(cbgt_loop(scale=0.5), seed=2)
    rep = report(c)
    m = c.blocks[("gpe", "stn")].mask.double()
    row = _row(rep, "gpe", "stn")
    assert row["in_degree"]["mean"] == pytest.approx(float(m.sum(1).mean()))
    assert row["in_degree"]["std"] == pytest.approx(float(m.sum(1).std(correction=0)))
    assert row["out_degree"]["max"] == float(m.sum(0).max())
    assert row["requested_density"] == 0.5


def test_parameter_counts_and_spectral_radius():
    c = compile(_graph(), seed=1)
    model = MultiRegionRNN(c)
    rep = report(model)
    trainable = sum(
        int((getattr(c, f"mask_{f}") & getattr(c, f"trainable_{f}")).sum())
        for f in ("hh", "ih", "ho")
    )
    assert rep.summary["trainable_parameters"] == trainable + 10  # + learnable bias of e
    assert _row(rep, "p", "f")["parameters"] == 0  # frozen
    assert rep.summary["parameter_entries"] == sum(p.numel() for p in model.parameters())
    radius = float(torch.linalg.eigvals(model.weight_hh.detach().double()).abs().max())
    assert rep.summary["spectral_radius"] == pytest.approx(radius)
    model.parametrizations.weight_hh.original.requires_grad_(False)
    rep2 = report(model)
    assert _row(rep2, "e", "e")["parameters"] == 0
    assert rep2.summary["trainable_parameters"] == rep.summary["trainable_parameters"] - sum(
        r["parameters"] for r in rep.projections if r["kind"] == "recurrent"
    )
    assert report(c, spectral=False).summary["spectral_radius"] is None


def test_ei_balance_per_target_region():
    model = MultiRegionRNN.from_graph(two_area_ei(size=20), seed=3)
    rep = report(model)
    w = model.weight_hh.detach().double()[model.layout.slice("a2")]
    exc = w.clamp(min=0).sum(1)
    inh = (-w).clamp(min=0).sum(1)
    ok = inh > 0
    row = next(r for r in rep.regions if r["region"] == "a2")
    assert row["type"] == "E/I" and row["size"] == 20
    assert row["exc_in"] == pytest.approx(float(exc.mean()))
    assert row["inh_in"] == pytest.approx(float(inh.mean()))
    assert row["ei_ratio_mean"] == pytest.approx(float((exc[ok] / inh[ok]).mean()))
    assert row["no_inh_input"] == int((~ok).sum())
    own = w[:, model.layout.slice("a2")]
    assert row["self_radius"] == pytest.approx(float(torch.linalg.eigvals(own).abs().max()))
    types = {r["region"]: r["type"] for r in report(compile(_graph(), seed=0)).regions}
    assert types == {"e": "E/I", "p": "I", "f": "free"}


def test_model_report_sees_trained_weights_and_cuts():
    model = MultiRegionRNN.from_graph(two_area_ei(size=20), seed=3)
    before = report(model)
    with torch.no_grad():
        model.weight_hh = model.weight_hh * 2
    after = report(model)
    assert after.summary["spectral_radius"] == pytest.approx(
        2 * before.summary["spectral_radius"], rel=1e-5
    )
    with perturb(model, cut=[("a1", "a2")]):
        cut = report(model)
    assert _row(cut, "a1", "a2")["synapses"] == 0
    assert _row(report(model), "a1", "a2")["synapses"] == _row(before, "a1", "a2")["synapses"]


def test_graph_input_uses_the_seed():
    G = two_area_ei(size=20)
    assert report(G, seed=4).to_dict() == report(compile(G, seed=4)).to_dict()
    with pytest.raises(TypeError, match="MultiRegionRNN, a CompiledCircuit or a networkx"):
        report("circuit.json")


def test_text_and_markdown_rendering():
    rep = report(compile(_graph(), seed=0))
    text = format_report(rep)
    assert text == str(rep)
    lines = text.splitlines()
    assert lines[0] == "Connectivity of 'toy' (circuit)"
    for r in rep.projections:
        assert any(line.startswith(f"{r['src']} → {r['dst']} ") for line in lines)
    assert "zero pathways            f → p" in text and "frozen pathways          p → f" in text
    md = rep.to_markdown()
    table = [line for line in md.splitlines() if line.startswith("| ")]
    # header + one row per projection, header + one row per region
    assert len(table) == 2 + len(rep.projections) + len(rep.regions)
    assert all(line.count(" | ") == table[0].count(" | ") for line in table[:8])
    assert "mean \\|w\\|" in md
    assert json.loads(json.dumps(rep.to_dict()))["summary"]["zero"] == [["f", "p"]]
    with pytest.raises(TypeError, match="needs a ConnectivityReport"):
        format_report({"projections": []})
    assert isinstance(rep, ConnectivityReport)


def test_block_sparse_model_reports_like_dense():
    G = cbgt_loop(scale=0.25)
    dense = report(MultiRegionRNN.from_graph(G, seed=1, sparse=False))
    sparse = report(MultiRegionRNN.from_graph(G, seed=1, sparse=True))
    assert sparse.projections == dense.projections
    assert sparse.summary["trainable_parameters"] == dense.summary["trainable_parameters"]
    assert sparse.summary["spectral_radius"] == pytest.approx(dense.summary["spectral_radius"])
    # the flat block vector holds fewer raw entries than the dense [H, H] parameter
    assert sparse.summary["parameter_entries"] < dense.summary["parameter_entries"]


def _tau_graph():
    G = nx.DiGraph(name="taus", dt=10.0)
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=4, tau=[20.0, 40.0, 60.0, 80.0], learn_tau=True, tau_max=500.0)
    G.add_node("b", size=3, tau=30.0)
    G.add_node("c", size=2)
    G.add_node("y", kind="output", size=1)
    G.add_edges_from([("u", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("b", "y")])
    return G


def test_time_constants_per_region_circuit_and_trained_model():
    G = _tau_graph()
    rep = report(compile(G, seed=0))
    rows = {r["region"]: r for r in rep.regions}
    assert rows["a"]["tau"] == {"mean": 50.0, "min": 20.0, "max": 80.0}
    assert rows["a"]["learn_tau"] and not rows["b"]["learn_tau"]
    assert rows["b"]["tau"] == {"mean": 30.0, "min": 30.0, "max": 30.0}
    assert rows["c"]["tau"] is None  # left to the model
    assert rep.summary["learn_tau"] == ["a"]
    G.graph["tau"] = 70.0
    assert report(compile(G, seed=0)).regions[2]["tau"]["mean"] == 70.0

    model = MultiRegionRNN.from_graph(G, seed=0, tau=90.0)
    plain = MultiRegionRNN.from_graph(_without_learning(G), seed=0, tau=90.0)
    n_learned = 4
    assert (
        report(model).summary["trainable_parameters"]
        == report(plain).summary["trainable_parameters"] + n_learned
    )
    circuit_count = report(compile(G, seed=0)).summary["trainable_parameters"]
    assert circuit_count == report(model).summary["trainable_parameters"]
    with torch.no_grad():
        model.parametrizations.alpha.original.copy_(torch.log(torch.tensor([5.0, 6.0, 7.0, 8.0])))
    rows = {r["region"]: r for r in report(model).regions}
    taus = model.time_constants()["a"]
    assert rows["a"]["tau"]["min"] == pytest.approx(50.0)
    assert rows["a"]["tau"]["max"] == pytest.approx(80.0)
    assert rows["a"]["tau"]["mean"] == pytest.approx(float(taus.mean()))
    assert rows["c"]["tau"]["mean"] == pytest.approx(90.0)  # the model's tau, in effect
    text = format_report(report(model))
    assert "learned time constants   a" in text
    region_rows = text.split("per target region")[1].splitlines()
    assert next(x for x in region_rows if x.startswith("a ")).endswith("65 [50, 80] learned")
    assert next(x for x in region_rows if x.startswith("b ")).endswith(" 30")
    model.parametrizations.alpha.original.requires_grad_(False)  # frozen by hand
    assert (
        report(model).summary["trainable_parameters"]
        == report(plain).summary["trainable_parameters"]
    )


def _without_learning(G):
    H = G.copy()
    for n in H:
        for k in ("learn_tau", "tau_max", "tau_min"):
            H.nodes[n].pop(k, None)
    return H


def test_density_per_sub_pathway_is_reported_weighted_and_by_pathway():
    """A Kleinman-style edge (E->E 10 %, E->I 5 %) reports the candidates-weighted density it
    asks for, the mapping itself, and one cell per sub-pathway in the table."""
    G = nx.DiGraph(dt=10.0)
    G.add_node("a1", size=100, exc_frac=0.8)
    G.add_node("a2", size=100, exc_frac=0.8)
    G.add_edge("a1", "a1")
    G.add_edge("a2", "a2")
    G.add_edge("a1", "a2", density={"EE": 0.1, "EI": 0.05}, ei=["EE", "EI"])
    rep = report(compile(G, seed=0))
    (row,) = [r for r in rep.projections if (r["src"], r["dst"]) == ("a1", "a2")]
    assert row["candidates"] == 80 * 80 + 80 * 20
    assert row["requested_density"] == pytest.approx((6400 * 0.1 + 1600 * 0.05) / 8000)
    assert row["requested_by_pathway"] == pytest.approx({"EE": 0.1, "EI": 0.05})
    assert abs(row["realised_density"] - row["requested_density"]) < 0.02
    assert "EE 0.10, EI 0.05" in format_report(rep)
    (plain,) = [r for r in rep.projections if (r["src"], r["dst"]) == ("a1", "a1")]
    assert plain["requested_by_pathway"] is None and plain["requested_density"] == 1.0
