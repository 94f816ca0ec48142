"""The weight parametrizations own their masks: cuts through ``cut``/``masked``, the same
effect dense and block-sparse, and the recurrent operator protocol of the scan."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mrnngraph import MultiRegionRNN
from mrnngraph._scan import DenseOperator, OperatorWeights, RecurrentOperator, leaky_scan
from mrnngraph._sparse import BlockOperator, BlockSparse
from mrnngraph.model import Constrained
from mrnngraph.presets.examples import cbgt_loop


def _graph():
    G = cbgt_loop(scale=0.25)
    G.edges["snr", "thal"]["trainable"] = False  # frozen entries to cut as well
    return G


@pytest.fixture(scope="module")
def pair():
    """The same circuit and seed, dense and block-sparse."""
    G = _graph()
    return (
        MultiRegionRNN.from_graph(G, seed=3, sparse=False),
        MultiRegionRNN.from_graph(G, seed=3, sparse=True),
    )


def _con(model, name="weight_hh"):
    return model.parametrizations[name][0]


def _buffers(con):
    return {k: v for k, v in con.named_buffers()}


def test_the_two_recurrent_parametrizations_are_the_expected_kinds(pair):
    dense, sparse = pair
    assert isinstance(_con(dense), Constrained) and isinstance(_con(sparse), BlockSparse)


def test_cut_returns_edited_copies_and_changes_nothing(pair):
    lay = pair[0].layout
    rect = (lay.slice("stn"), lay.slice("gpe"))
    for model in pair:
        con = _con(model)
        before = _buffers(con)
        snap = {k: v.clone() for k, v in before.items() if v is not None}
        edited = con.cut(rect)
        assert edited and all(t is not before[k] for k, t in edited.items())
        assert all(con.get_buffer(k) is before[k] for k in before)
        assert all(torch.equal(con.get_buffer(k), v) for k, v in snap.items())
        assert con.cut() == {}
        assert con.n_synapses(rect) > 0


@pytest.mark.parametrize("sparse", [False, True])
def test_masked_restores_the_same_tensors_on_exit_and_after_an_exception(pair, sparse):
    model = pair[sparse]
    lay = model.layout
    con = _con(model)
    before = _buffers(con)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    weight = model.weight_hh.detach().clone()
    rects = [(lay.slice("thal"), lay.slice("snr")), (lay.slice("gpe"), lay.slice("d1"))]
    with torch.no_grad(), con.masked(*rects) as inside:
        assert inside is con
        w = model.weight_hh
        for rows, cols in rects:
            assert float(w[rows, cols].abs().max()) == 0.0
        assert not torch.equal(w, weight)
    assert all(con.get_buffer(k) is t for k, t in before.items() if t is not None)
    with pytest.raises(KeyboardInterrupt), torch.no_grad(), con.masked(*rects):
        assert float(model.weight_hh[rects[0]].abs().max()) == 0.0
        raise KeyboardInterrupt
    assert all(con.get_buffer(k) is t for k, t in before.items() if t is not None)
    assert torch.equal(model.weight_hh, weight)
    after = model.state_dict()
    assert after.keys() == state.keys()
    assert all(torch.equal(after[k], v) for k, v in state.items())


@pytest.mark.parametrize("sparse", [False, True])
def test_nested_masks_add_up_and_unwind_in_order(pair, sparse):
    model = pair[sparse]
    lay = model.layout
    con = _con(model)
    a = (lay.slice("gpe"), lay.slice("stn"))
    b = (lay.slice("stn"), lay.slice("gpe"))
    n, na, nb = con.n_synapses(), con.n_synapses(a), con.n_synapses(b)
    assert na > 0 and nb > 0
    with torch.no_grad(), con.masked(a):
        outer = _buffers(con)
        with con.masked(b):
            assert con.n_synapses() == n - na - nb
            assert float(model.weight_hh[a].abs().max()) == 0.0
        assert all(con.get_buffer(k) is t for k, t in outer.items() if t is not None)
        assert con.n_synapses() == n - na
        assert float(model.weight_hh[b].abs().max()) > 0.0
    assert con.n_synapses() == n


rect_strategy = st.tuples(
    st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)
)


@settings(max_examples=25, deadline=None)
@given(rects=st.lists(rect_strategy, max_size=3))
def test_dense_and_block_sparse_cuts_have_identical_effects(pair, rects):
    """Any rectangles, aligned with regions or not: the same weights read back, the same
    synapse counts, and the same buffers after exit."""
    dense, sparse = pair
    H = dense.hidden_size
    cuts = [
        (
            slice(min(r0, r1) * H // 40, max(r0, r1) * H // 40),
            slice(min(c0, c1) * H // 40, max(c0, c1) * H // 40),
        )
        for r0, r1, c0, c1 in rects
    ]
    cd, cs = _con(dense), _con(sparse)
    assert cd.n_synapses(*cuts) == cs.n_synapses(*cuts)
    with torch.no_grad(), cd.masked(*cuts), cs.masked(*cuts):
        wd, ws = dense.weight_hh, sparse.weight_hh
        assert torch.equal(wd, ws)
        assert torch.equal(dense.mask_hh, sparse.mask_hh)
        assert cd.n_synapses() == cs.n_synapses()
    assert torch.equal(dense.weight_hh, sparse.weight_hh)


def test_synapse_cuts_zero_exactly_the_listed_synapses(pair):
    g = torch.Generator().manual_seed(0)
    for model in pair:
        con = _con(model)
        rows, cols = con.synapse_coordinates()
        assert rows.numel() == con.n_synapses() > 0
        pick = torch.randperm(rows.numel(), generator=g)[:25]
        before = model.weight_hh.detach().clone()
        with torch.no_grad(), con.masked(synapses=pick):
            w = model.weight_hh
        cut = torch.zeros_like(before, dtype=torch.bool)
        cut[rows[pick], cols[pick]] = True
        assert float(w[cut].abs().max()) == 0.0
        assert torch.equal(w[~cut], before[~cut])
    # both list the same synapses (each in its own storage order)
    coords = [
        set(zip(*(t.tolist() for t in _con(m).synapse_coordinates()), strict=True)) for m in pair
    ]
    assert coords[0] == coords[1]


@torch.no_grad()
def test_cuts_reach_frozen_entries_and_other_families(pair):
    for model in pair:
        lay = model.layout
        with torch.no_grad(), _con(model).masked((lay.slice("thal"), lay.slice("snr"))):
            assert float(model.projection("snr", "thal").abs().max()) == 0.0
        assert float(model.projection("snr", "thal").abs().max()) > 0.0
        # input weights: a dense Constrained in both modes, rows are regions, cols inputs
        con = _con(model, "weight_ih")
        rect = (lay.slice("ctx_e"), lay.slice("stim"))
        with torch.no_grad(), con.masked(rect):
            assert float(model.weight_ih[rect].abs().max()) == 0.0
        assert float(model.weight_ih[rect].abs().max()) > 0.0


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "bad, exc, pattern",
    [
        ((slice(0, 2),), TypeError, "pair of slices"),
        (([0, 1], slice(None)), TypeError, "pair of slices"),
        ((slice(0, 4, 2), slice(None)), ValueError, "step 1"),
    ],
)
def test_bad_cuts_are_refused_and_change_nothing(pair, sparse, bad, exc, pattern):
    con = _con(pair[sparse])
    before = _buffers(con)
    with pytest.raises(exc, match=pattern), con.masked(bad):
        pass  # pragma: no cover
    assert all(con.get_buffer(k) is t for k, t in before.items() if t is not None)


@pytest.mark.parametrize("sparse", [False, True])
def test_bad_synapse_indices_are_refused(pair, sparse):
    con = _con(pair[sparse])
    n = con.n_synapses()
    with pytest.raises(ValueError, match=rf"\[0, {n}\)"):
        con.cut(synapses=torch.tensor([0, n]))
    with pytest.raises(TypeError, match="integer tensor"):
        con.cut(synapses=torch.tensor([0.0]))
    with pytest.raises(TypeError, match="integer tensor"):
        con.cut(synapses=[0, 1])


def test_both_operators_follow_the_recurrent_operator_protocol(pair):
    sparse = pair[1]
    ops = [DenseOperator(), _con(sparse).operator()]
    assert all(isinstance(op, RecurrentOperator) for op in ops)
    assert isinstance(ops[1], BlockOperator)
    assert not isinstance(object(), RecurrentOperator)


def test_a_custom_operator_runs_through_the_scan():
    """Anything with the protocol's methods drives the scan, fused and autograd alike."""

    class Scaled(DenseOperator):  # the dense operator under a key of its own
        def key(self) -> tuple:
            return ("scaled", self.uniform_alpha)

    g = torch.Generator().manual_seed(1)
    W = torch.randn(5, 5, generator=g) / 3
    drive, x0 = torch.randn(7, 2, 5, generator=g), torch.zeros(2, 5)
    alpha = torch.full((5,), 0.3)
    ref = leaky_scan(W, drive, x0, alpha, "tanh")
    for method in ("fused", "autograd"):
        got = leaky_scan(OperatorWeights(Scaled(), (W,)), drive, x0, alpha, "tanh", method=method)
        assert torch.allclose(got, ref, atol=1e-6)
