"""Recording: construction, validation naming what is wrong, slicing, split, files."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.errors import GraphError
from mrnngraph.recording import Recording, activity


def _rec(n=6, T=8, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return Recording(
        {"a": rng.normal(size=(n, T, 3)), "b": rng.normal(size=(n, T, 2))}, dt=10.0, **kw
    )


def _graph(a=4, b=3, inputs=2):
    G = nx.DiGraph()
    if inputs:
        G.add_node("u", kind="input", size=inputs)
        G.add_edge("u", "a")
    G.add_node("a", size=a)
    G.add_node("b", size=b)
    G.add_edges_from([("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")])
    return G


def test_arrays_become_float32_numpy_and_sizes_are_reported():
    x = torch.randn(5, 7, 3, dtype=torch.float64)
    rec = Recording(
        {"b": x, "a": np.ones((5, 7, 2), dtype=np.int64)},
        dt=5,
        inputs=np.zeros((5, 7, 1)),
        trials={"c": [1, 2, 3, 4, 5]},
    )
    assert rec.regions == ["b", "a"]
    assert all(v.dtype == np.float32 and isinstance(v, np.ndarray) for v in rec.rates.values())
    np.testing.assert_allclose(rec.rates["b"], x.numpy().astype(np.float32))
    assert (rec.n_trials, rec.n_steps, rec.n_neurons) == (5, 7, {"b": 3, "a": 2})
    assert len(rec) == 5 and rec.dt == 5.0 and rec.inputs.dtype == np.float32
    assert "5 trials x 7 bins" in repr(rec)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3, 1), (7,)])
def test_wrong_dimensions_name_expected_and_received_shapes(shape):
    with pytest.raises(
        ValueError,
        match=r"rates\['a'\] must have shape \(trials, T, "
        rf"neurons\); got shape \({shape[0]},",
    ):
        Recording({"a": np.zeros(shape)}, dt=1.0)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="mapping"):
        Recording([np.zeros((1, 2, 3))], dt=1.0)
    with pytest.raises(TypeError, match=r"rates\['a'\] must hold numbers"):
        Recording({"a": np.array([[["x"]]])}, dt=1.0)
    with pytest.raises(TypeError, match="region names must be str"):
        Recording({1: np.zeros((1, 2, 3))}, dt=1.0)
    with pytest.raises(TypeError, match="dt must be a float"):
        Recording({"a": np.zeros((1, 2, 3))}, dt="10")
    with pytest.raises(TypeError, match="Python objects"):
        Recording({"a": np.zeros((2, 2, 3))}, dt=1.0, trials={"x": [object(), object()]})


@pytest.mark.parametrize("dt", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_dt(dt):
    with pytest.raises(ValueError, match="dt must be a float > 0"):
        Recording({"a": np.zeros((1, 2, 3))}, dt=dt)


def test_mismatched_trials_and_bins_name_the_regions():
    with pytest.raises(ValueError, match=r"rates\['b'\] has 4 trials but rates\['a'\] has 3"):
        Recording({"a": np.zeros((3, 5, 1)), "b": np.zeros((4, 5, 1))}, dt=1.0)
    with pytest.raises(ValueError, match=r"rates\['b'\] has 6 time bins but rates\['a'\] has 5"):
        Recording({"a": np.zeros((3, 5, 1)), "b": np.zeros((3, 6, 1))}, dt=1.0)
    with pytest.raises(ValueError, match=r"inputs must have shape \(3, 5, inputs\).*\(3, 4, 2\)"):
        Recording({"a": np.zeros((3, 5, 1))}, dt=1.0, inputs=np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match=r"outputs must have shape \(3, 5, outputs\)"):
        Recording({"a": np.zeros((3, 5, 1))}, dt=1.0, outputs=np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match=r"trials\['c'\] must have shape \(3,\)"):
        Recording({"a": np.zeros((3, 5, 1))}, dt=1.0, trials={"c": [1, 2]})


def test_non_finite_values_say_where_and_how_many():
    x = np.zeros((3, 5, 4))
    x[1, 2, 3] = np.nan
    x[2, 0, 0] = np.inf
    with pytest.raises(
        ValueError,
        match=r"rates\['v1'\] has 2 non-finite values .* the first "
        r"is nan at trial 1, bin 2, neuron 3",
    ):
        Recording({"m2": np.zeros((3, 5, 1)), "v1": x}, dt=1.0)
    u = np.zeros((3, 5, 2))
    u[0, 4, 1] = -np.inf
    with pytest.raises(
        ValueError,
        match=r"inputs has 1 non-finite value .*trial 0, bin 4, "
        r"input 1",
    ):
        Recording({"a": np.zeros((3, 5, 1))}, dt=1.0, inputs=u)


def test_slicing_by_int_slice_mask_and_indices():
    rec = _rec(
        trials={"cond": np.arange(6) % 3, "name": np.array(list("abcdef"))},
        inputs=np.arange(6 * 8).reshape(6, 8, 1),
    )
    one = rec[2]
    assert one.n_trials == 1 and one.trials["name"].tolist() == ["c"]
    np.testing.assert_array_equal(one.rates["a"][0], rec.rates["a"][2])
    assert rec[-1].trials["name"].tolist() == ["f"]
    assert rec[1:4].trials["name"].tolist() == ["b", "c", "d"]
    mask = rec.trials["cond"] == 0
    sub = rec[mask]
    assert sub.trials["name"].tolist() == ["a", "d"]
    np.testing.assert_array_equal(sub.inputs, rec.inputs[[0, 3]])
    assert rec[[5, 0]].trials["name"].tolist() == ["f", "a"]
    assert rec[torch.tensor([1])].trials["name"].tolist() == ["b"]
    with pytest.raises(IndexError, match="out of range"):
        rec[6]
    with pytest.raises(IndexError, match=r"boolean trial mask must have shape \(6,\)"):
        rec[np.ones(3, dtype=bool)]


def test_split_is_seeded_disjoint_complete_and_stratified():
    labels = np.repeat(np.arange(4), 6)
    rec = Recording(
        {"a": np.arange(24, dtype=float).reshape(24, 1, 1)},
        dt=1.0,
        trials={"cond": labels, "id": np.arange(24)},
    )
    tr, te = rec.split(0.25, seed=3, stratify="cond")
    tr2, te2 = rec.split(0.25, seed=3, stratify="cond")
    np.testing.assert_array_equal(te.trials["id"], te2.trials["id"])
    ids = np.concatenate([tr.trials["id"], te.trials["id"]])
    assert sorted(ids.tolist()) == list(range(24)) and len(te) == 8
    assert np.bincount(te.trials["cond"]).tolist() == [2, 2, 2, 2]
    _, te3 = rec.split(0.25, seed=4, stratify="cond")
    assert te3.trials["id"].tolist() != te.trials["id"].tolist()
    with pytest.raises(KeyError, match="'nope' is not a trial variable"):
        rec.split(stratify="nope")
    with pytest.raises(ValueError, match="test_fraction"):
        rec.split(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        rec[:1].split()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 40), frac=st.floats(0.01, 0.99), seed=st.integers(0, 2**31))
def test_split_always_gives_two_nonempty_disjoint_parts(n, frac, seed):
    rec = Recording({"a": np.zeros((n, 1, 1))}, dt=1.0, trials={"id": np.arange(n)})
    tr, te = rec.split(frac, seed=seed)
    assert len(tr) >= 1 and len(te) >= 1 and len(tr) + len(te) == n
    assert not set(tr.trials["id"].tolist()) & set(te.trials["id"].tolist())


def test_save_load_round_trip_without_pickle(tmp_path):
    rec = _rec(
        inputs=np.ones((6, 8, 2)),
        outputs=np.zeros((6, 8, 1)),
        trials={
            "cond": np.arange(6),
            "label": np.array(list("xyzxyz")),
            "ok": np.ones(6, dtype=bool),
        },
    )
    path = tmp_path / "r.npz"
    rec.save(path)
    with np.load(path, allow_pickle=False) as f:  # readable with pickle off
        assert "rates_0" in f.files
    back = Recording.load(path)
    assert back.regions == rec.regions and back.dt == rec.dt
    for r in rec.regions:
        np.testing.assert_array_equal(back.rates[r], rec.rates[r])
    np.testing.assert_array_equal(back.inputs, rec.inputs)
    np.testing.assert_array_equal(back.outputs, rec.outputs)
    assert back.trials["label"].tolist() == list("xyzxyz")
    assert back.trials["ok"].dtype == bool


def test_load_refuses_other_npz_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(GraphError, match="not a mrnngraph recording") as err:
        Recording.load(path)
    assert err.value.problems[0].file == str(path)


def test_check_against_lists_every_problem():
    model = mg.MultiRegionRNN.from_graph(_graph(a=2, b=3), seed=0)
    rec = Recording(
        {"a": np.zeros((2, 4, 3)), "c": np.zeros((2, 4, 1)), "d": np.zeros((2, 4, 1))},
        dt=10.0,
        inputs=np.zeros((2, 4, 5)),
    )
    with pytest.raises(GraphError) as err:
        rec.check_against(model)
    text = str(err.value)
    assert "regions 'c', 'd' not in the circuit; its recurrent regions are 'a', 'b'" in text
    assert "3 recorded neurons but the region has 2 units" in text
    assert "inputs have 5 channels but the circuit has 2 input units" in text
    codes = {p.code for p in err.value.problems}
    assert codes == {"unknown-region", "too-many-neurons", "input-size"}
    assert next(p for p in err.value.problems if p.code == "too-many-neurons").node == "a"
    no_inputs = Recording({"a": np.zeros((2, 4, 2))}, dt=10.0)
    with pytest.raises(GraphError, match="has no inputs but the circuit has 2 input units"):
        no_inputs.check_against(model.circuit)
    ok = Recording({"b": np.zeros((2, 4, 3))}, dt=10.0, inputs=np.zeros((2, 4, 2)))
    ok.check_against(model)  # fewer neurons than units, a subset of regions: fine
    with pytest.raises(TypeError, match="model_or_circuit must be"):
        ok.check_against("model")


def test_activity_of_a_model_matches_its_forward():
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1, activation="tanh")
    u = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(0))
    rec = activity(model, u, trials={"k": [0, 1, 2]})
    with torch.no_grad():
        out = model(u)
    np.testing.assert_allclose(rec.rates["b"], out.rates[..., 4:].numpy(), rtol=1e-6)
    assert rec.dt == model.dt and rec.trials["k"].tolist() == [0, 1, 2]
    rec.check_against(model)
    again = activity(model, rec)  # a Recording gives inputs and trial variables
    np.testing.assert_array_equal(again.rates["a"], rec.rates["a"])
    assert again.trials["k"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"inputs must have shape \(trials, T, 2\)"):
        activity(model, np.zeros((3, 6, 4)))
