"""Compile: layout, masks by rule, E/I sub-pathways, balanced init, reproducibility."""

import math
import threading

import networkx as nx
import numpy as np
import pytest
import torch

import mrnngraph as mg
from mrnngraph.compilation import draw_mask


def two_regions(src_attrs=None, dst_attrs=None, **edge):
    G = nx.DiGraph()
    G.add_node("a", size=40, **(src_attrs or {"sign": "exc"}))
    G.add_node("b", size=30, **(dst_attrs or {"exc_frac": 0.5}))
    G.add_edge("a", "b", **edge)
    return G


def test_issue_example_shapes_and_layout(example_graph):
    c = mg.compile(example_graph, seed=0)
    lay = c.layout
    assert lay.regions == ("ctx", "str", "thal") and lay.inputs == ("stim",)
    assert (lay.hidden_size, lay.input_size, lay.output_size) == (160, 4, 2)
    assert lay.slice("str") == slice(80, 120) and lay.slice("stim") == slice(0, 4)
    assert c.weight_hh.shape == (160, 160) and c.mask_hh.dtype == torch.bool
    assert c.weight_ih.shape == (160, 4) and c.weight_ho.shape == (2, 160)
    # E first inside the mixed region, floor(0.8 * 80) = 64 excitatory units
    assert c.sign_h[:64].eq(1).all() and c.sign_h[64:80].eq(-1).all()
    assert c.sign_h[80:120].eq(-1).all() and c.sign_h[120:].eq(1).all()
    assert c.bias[120:].eq(1).all() and c.bias[:120].eq(0).all()
    assert c.x0[120:].eq(1).all()
    assert c.tau[:80].eq(50).all() and c.tau[80:].isnan().all()
    assert c.sign_i.eq(0).all()


def test_dense_matrices_are_assembled_from_blocks(example_graph):
    c = mg.compile(example_graph, seed=0)
    lay = c.layout
    for (src, dst), b in c.blocks.items():
        fam = b.family
        dense_w = getattr(c, f"weight_{fam}")[lay.slice(dst), lay.slice(src)]
        assert torch.equal(dense_w, b.weight)
        assert torch.equal(getattr(c, f"mask_{fam}")[lay.slice(dst), lay.slice(src)], b.mask)
    # nothing outside declared blocks
    declared = torch.zeros_like(c.mask_hh)
    for b in c.family_blocks("hh"):
        declared[lay.slice(b.dst), lay.slice(b.src)] = True
    assert not (c.weight_hh[~declared] != 0).any()


def test_weights_are_signed_and_masked(example_graph):
    c = mg.compile(example_graph, seed=0)
    w, m = c.weight_hh, c.mask_hh
    assert (w[~m] == 0).all()
    cols_e, cols_i = c.sign_h > 0, c.sign_h < 0
    assert (w[:, cols_e] >= 0).all() and (w[:, cols_i] <= 0).all()
    assert (w[m] != 0).float().mean() > 0.999  # magnitudes of present synapses are nonzero


def test_zero_edge_is_declared_but_empty(example_graph):
    c = mg.compile(example_graph, seed=0)
    conn = c.connection("str", "thal")
    assert conn.zero and not conn.mask.any() and (conn.weight == 0).all()
    assert not c.trainable_hh[c.layout.slice("thal"), c.layout.slice("str")].any()


def test_frozen_edge_is_not_trainable(example_graph):
    c = mg.compile(example_graph, seed=0)
    lay = c.layout
    assert not c.trainable_hh[lay.slice("ctx"), lay.slice("thal")].any()
    assert c.trainable_hh[lay.slice("ctx"), lay.slice("ctx")].all()


def test_autapses_false_clears_the_diagonal(example_graph):
    c = mg.compile(example_graph, seed=0)
    m = c.connection("ctx", "ctx").mask
    assert not m.diagonal().any()
    G = nx.DiGraph()
    G.add_node("a", size=20)
    G.add_edge("a", "a")
    assert mg.compile(G, seed=0).mask_hh.diagonal().all()


def test_ei_sub_pathways(example_graph):
    c = mg.compile(example_graph, seed=0)
    # ctx -> str with ei=["EI"]: only excitatory ctx columns, all str rows (inhibitory)
    m = c.connection("ctx", "str").mask
    assert not m[:, 64:].any() and m[:, :64].any()
    # fixed_indegree over the 64 E candidates, density 0.3: 64 - ceil(0.7 * 64) = 19
    assert m.sum(1).eq(19).all()
    # ctx -> choice with ei=["E"]: only excitatory units are read out
    ho = c.connection("ctx", "choice").mask
    assert ho[:, :64].all() and not ho[:, 64:].any()


@pytest.mark.parametrize(
    "ei,rows,cols",
    [
        (["EE"], slice(0, 15), slice(0, 40)),
        (["EI"], slice(15, 30), slice(0, 40)),
        (["E"], slice(0, 30), slice(0, 40)),
    ],
)
def test_ei_selects_exactly_the_sub_block(ei, rows, cols):
    G = two_regions(ei=ei)
    m = mg.compile(G, seed=1).connection("a", "b").mask
    expected = torch.zeros_like(m)
    expected[rows, cols] = True
    assert torch.equal(m, expected)


def test_rule_applied_separately_inside_each_sub_block():
    G = nx.DiGraph()
    G.add_node("a", size=10, exc_frac=0.6)  # 6 E, 4 I
    G.add_node("b", size=8, exc_frac=0.5)  # 4 E, 4 I
    G.add_edge("a", "b", ei=["EE", "IE", "II"], rule="fixed_indegree", sparsity=0.5)
    m = mg.compile(G, seed=3).connection("a", "b").mask
    assert m[:4, :6].sum(1).eq(3).all()  # EE: 6 - ceil(3) = 3 per E target
    assert m[:4, 6:].sum(1).eq(2).all()  # IE: 4 - 2 = 2 per E target
    assert m[4:, 6:].sum(1).eq(2).all()  # II
    assert not m[4:, :6].any()  # EI not declared


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.25, 0.3, 0.5, 0.77, 1.0])
def test_fixed_rule_counts(sparsity):
    nd, ns = 30, 40
    for rule, axis, n in (("fixed_indegree", 1, ns), ("fixed_outdegree", 0, nd)):
        m = mg.compile(two_regions(rule=rule, sparsity=sparsity), seed=2).connection("a", "b").mask
        assert m.sum(axis).eq(n - math.ceil(sparsity * n)).all(), rule
    m = (
        mg.compile(two_regions(rule="fixed_total", sparsity=sparsity), seed=2)
        .connection("a", "b")
        .mask
    )
    assert int(m.sum()) == nd * ns - math.ceil(sparsity * nd * ns)


def test_fixed_outdegree_matches_torch_sparse_init_counts():
    """mRNNTorch hands sparsity to torch.nn.init.sparse_ on the [dst, src] block."""
    for sparsity in (0.1, 0.25, 0.3, 0.9):
        w = torch.empty(30, 40)
        torch.nn.init.sparse_(w, sparsity)
        theirs = (w != 0).sum(0)
        ours = (
            mg.compile(two_regions(rule="fixed_outdegree", sparsity=sparsity), seed=0)
            .connection("a", "b")
            .mask.sum(0)
        )
        assert torch.equal(theirs, ours)


def test_fixed_indegree_without_autapses_counts_candidates():
    G = nx.DiGraph()
    G.add_node("a", size=21)
    G.add_edge("a", "a", rule="fixed_indegree", sparsity=0.5, autapses=False)
    m = mg.compile(G, seed=0).mask_hh
    assert not m.diagonal().any()
    assert m.sum(1).eq(20 - 10).all()


def test_one_to_one_is_the_identity():
    G = nx.DiGraph()
    G.add_node("a", size=12)
    G.add_node("b", size=12, sign="inh")
    G.add_edge("a", "b", rule="one_to_one")
    G.add_edge("b", "a", rule="one_to_one", sparsity=0.5)
    c = mg.compile(G, seed=0)
    assert torch.equal(c.connection("a", "b").mask, torch.eye(12, dtype=torch.bool))
    m = c.connection("b", "a").mask
    assert int(m.sum()) == 6 and not (m & ~torch.eye(12, dtype=torch.bool)).any()


def test_bernoulli_density_within_four_standard_deviations():
    G = nx.DiGraph()
    G.add_node("a", size=300)
    G.add_node("b", size=200)
    for d in (0.05, 0.3, 0.9):
        G.add_edge("a", "b", density=d)
        m = mg.compile(G, seed=7).connection("a", "b").mask
        n = m.numel()
        sd = math.sqrt(n * d * (1 - d))
        assert abs(int(m.sum()) - n * d) < 4 * sd, d


@pytest.mark.parametrize("keep", [1e-3, 0.25, 0.5, 0.7, 0.999])
def test_bernoulli_entries_are_independent_with_the_right_probability(keep):
    # Neighbouring entries and entries two apart must both be independent.
    g = torch.Generator().manual_seed(3)
    m = draw_mask(torch.ones(1000, 1000, dtype=torch.bool), "bernoulli", 1 - keep, g)
    n = m.numel()
    assert abs(int(m.sum()) - n * keep) < 5 * math.sqrt(n * keep * (1 - keep))
    for a, b in ((m[:, 0::2], m[:, 1::2]), (m[:, 1:-1:2], m[:, 2::2])):
        both = int((a & b).sum())
        pairs = a.numel()
        p2 = keep * keep
        assert abs(both - pairs * p2) < 5 * math.sqrt(pairs * p2 * (1 - p2)), keep


def test_bernoulli_extremes_draw_all_or_nothing():
    g = torch.Generator().manual_seed(0)
    ones = torch.ones(50, 70, dtype=torch.bool)
    assert draw_mask(ones, "bernoulli", 0.0, g).all()
    assert not draw_mask(ones, "bernoulli", 1.0, g).any()
    cand = torch.rand(50, 70, generator=g) < 0.5
    assert torch.equal(draw_mask(cand, "bernoulli", 0.0, g), cand)


def test_compile_is_identical_whatever_the_number_of_threads(example_graph):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = mg.compile(example_graph, seed=5)
        torch.set_num_threads(2)
        two = mg.compile(example_graph, seed=5)
        # The caller's count is kept, in this thread and as the default of threads
        # started afterwards.
        assert torch.get_num_threads() == 2
        seen = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert seen == [2]
    finally:
        torch.set_num_threads(before)
    for key, block in one.blocks.items():
        assert torch.equal(block.weight, two.blocks[key].weight), key
        assert torch.equal(block.mask, two.blocks[key].mask), key


def test_compile_never_changes_torch_thread_settings(example_graph, monkeypatch):
    # Issue 12: torch.set_num_threads in the drawing threads left MKL unable to run a
    # batched float64 solve afterwards. Library code leaves the thread settings alone,
    # also in the threads it starts (tests/test_user_runs.py runs the solve itself).
    set_threads = torch.set_num_threads
    calls = []
    for name in ("set_num_threads", "set_num_interop_threads"):
        monkeypatch.setattr(torch, name, lambda n, name=name: calls.append((name, n)))
    before = torch.get_num_threads()
    try:
        set_threads(2)  # the drawing threads' path (the suite runs at one thread)
        c = mg.compile(example_graph, seed=3)
        seen = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert (torch.get_num_threads(), seen) == (2, [2])
    finally:
        set_threads(before)
    assert calls == []
    assert len(c.blocks) == example_graph.number_of_edges()


def test_random_streams_are_stable_across_versions():
    # A graph and a seed must give the same circuit in every version: published
    # models are reproduced from them. Values recorded with mrnngraph at 523ba1c.
    from mrnngraph.presets.examples import cbgt_loop

    c = mg.compile(cbgt_loop(), seed=0)
    assert sum(int(b.mask.sum()) for b in c.blocks.values()) == 11238
    total = sum(float(b.weight.double().abs().sum()) for b in c.blocks.values())
    assert total == pytest.approx(1158.0769644927163, rel=1e-12)
    b = c.blocks[("ctx_e", "ctx_i")]
    assert int(b.mask.sum()) == 1189
    assert b.weight[b.mask][:3].tolist() == [
        0.014673467725515366,
        0.013533443212509155,
        0.034515928477048874,
    ]


def test_draw_mask_unknown_rule():
    with pytest.raises(ValueError, match="unknown rule"):
        draw_mask(torch.ones(2, 2, dtype=torch.bool), "magic", 0.1, torch.Generator())


def test_same_seed_bit_identical_and_different_seed_differs(example_graph):
    a, b = mg.compile(example_graph, seed=11), mg.compile(example_graph, seed=11)
    c = mg.compile(example_graph, seed=12)
    for name in ("weight_hh", "mask_hh", "weight_ih", "mask_ih", "weight_ho", "mask_ho"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.mask_hh, c.mask_hh)


def test_seed_none_is_fresh_but_recorded(example_graph):
    a, b = mg.compile(example_graph), mg.compile(example_graph)
    assert a.seed != b.seed and not torch.equal(a.weight_hh, b.weight_hh)
    again = mg.compile(example_graph, seed=a.seed)
    assert torch.equal(again.weight_hh, a.weight_hh)


def test_seed_must_be_an_int(example_graph):
    with pytest.raises(TypeError, match="seed"):
        mg.compile(example_graph, seed="1")


def test_changing_one_edge_leaves_other_blocks_alone(example_graph):
    before = mg.compile(example_graph, seed=5)
    G = example_graph.copy()
    G.add_edge("str", "str", density=0.5)  # str's inputs change; nothing else's
    G.remove_edge("str", "thal")  # a zero edge: thal's weights unchanged as well
    after = mg.compile(G, seed=5)
    for key, b in before.blocks.items():
        if key in after.blocks:
            assert torch.equal(after.blocks[key].mask, b.mask), key
            if key[1] != "str":
                assert torch.equal(after.blocks[key].weight, b.weight), key


def test_reordering_regions_keeps_blocks(example_graph):
    a = mg.compile(example_graph, seed=5)
    b = mg.compile(example_graph, seed=5, order=["thal", "str", "ctx"])
    assert b.layout.regions == ("thal", "str", "ctx")
    for key in a.blocks:
        assert torch.equal(a.blocks[key].weight, b.blocks[key].weight)


def test_gain_scales_only_its_projection(example_graph):
    G = example_graph.copy()
    G.edges["thal", "ctx"]["gain"] = 1.0
    a = mg.compile(G, seed=3)
    G.edges["thal", "ctx"]["gain"] = 3.0
    b = mg.compile(G, seed=3)
    assert torch.allclose(b.blocks[("thal", "ctx")].weight, 3 * a.blocks[("thal", "ctx")].weight)
    for key in a.blocks:
        if key != ("thal", "ctx"):
            assert torch.equal(a.blocks[key].weight, b.blocks[key].weight)


def test_balanced_initialisation():
    """Each unit receiving both E and I has zero expected input and unit second moment."""
    G = nx.DiGraph()
    G.add_node("m", size=400, exc_frac=0.8)
    G.add_edge("m", "m", density=0.5)
    c = mg.compile(G, seed=0)
    w = c.weight_hh.double()
    row_sums = w.sum(1)
    e_in = w[:, :320].sum(1)
    assert row_sums.abs().mean() < 0.15 * e_in.mean()  # balanced: net much smaller than E
    assert abs(float(row_sums.mean())) < 4 * float(row_sums.std()) / math.sqrt(400)
    second_moment = (w**2).sum(1)
    assert abs(float(second_moment.mean()) - 1.0) < 0.05
    radius = torch.linalg.eigvals(w).abs().max()
    assert 0.7 < float(radius) < 1.3


def test_spectral_radius_option(example_graph):
    c = mg.compile(example_graph, seed=0, spectral_radius=0.9)
    radius = torch.linalg.eigvals(c.weight_hh.double()).abs().max()
    assert float(radius) == pytest.approx(0.9, rel=1e-4)
    with pytest.raises(ValueError, match="spectral_radius"):
        mg.compile(example_graph, seed=0, spectral_radius=-1)


def test_per_unit_attributes():
    G = nx.DiGraph()
    G.add_node("a", size=3, base_firing=[0.1, 0.2, 0.3], init=np.array([1.0, 2.0, 3.0]))
    G.add_edge("a", "a")
    c = mg.compile(G, seed=0)
    assert torch.allclose(c.bias, torch.tensor([0.1, 0.2, 0.3]))
    assert c.x0.tolist() == [1.0, 2.0, 3.0]


def test_parent_groups_expand():
    G = nx.DiGraph()
    G.add_node("alm_e", size=8, sign="exc", parent="alm")
    G.add_node("alm_i", size=2, sign="inh", parent="alm")
    G.add_node("thal", size=5, sign="exc")
    G.add_edges_from([("alm_e", "alm_i"), ("alm_i", "alm_e"), ("thal", "alm_e"), ("alm_e", "thal")])
    lay = mg.compile(G, seed=0).layout
    assert lay.slice("alm") == slice(0, 10)
    assert lay.expand("alm", "thal") == ["alm_e", "alm_i", "thal"]
    assert lay.indices("thal", "alm_i").tolist() == [10, 11, 12, 13, 14, 8, 9]
    with pytest.raises(KeyError, match="unknown region 'pfc'"):
        lay.slice("pfc")


def test_non_contiguous_parent_slice_points_to_indices():
    G = nx.DiGraph()
    G.add_node("a1", size=2, parent="A")
    G.add_node("b", size=2)
    G.add_node("a2", size=2, parent="A")
    G.add_edges_from([("a1", "b"), ("b", "a2")])
    lay = mg.compile(G, seed=0).layout
    with pytest.raises(ValueError, match="indices"):
        lay.slice("A")
    assert lay.indices("A").tolist() == [0, 1, 4, 5]


def test_connection_sign_matrix_and_missing_edge(example_graph):
    c = mg.compile(example_graph, seed=0)
    conn = c.connection("ctx", "str")
    assert conn.sign.shape == (40, 80)
    assert conn.sign[:, :64].eq(1).all() and conn.sign[:, 64:].eq(-1).all()
    with pytest.raises(KeyError, match=r"no edge \('str', 'ctx'\)"):
        c.connection("str", "ctx")


def test_input_signs_constrain_input_weights():
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=3, sign="exc")
    G.add_node("a", size=5)
    G.add_edge("u", "a")
    c = mg.compile(G, seed=0)
    assert c.sign_i.eq(1).all() and (c.weight_ih >= 0).all() and (c.weight_ih > 0).any()


def test_float64_compile(example_graph):
    c = mg.compile(example_graph, seed=0, dtype=torch.float64)
    assert c.weight_hh.dtype == torch.float64 and c.bias.dtype == torch.float64
