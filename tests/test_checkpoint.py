"""Checkpoints: one file, weights_only loading, an identical model back."""

import copy
import functools
import io
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import networkx as nx
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mrnngraph as mg
import mrnngraph.checkpoint as ckpt
from mrnngraph.checkpoint import (
    FORMAT,
    circuit_fingerprint,
    load_checkpoint,
    load_model,
    save_model,
    spec_to_graph,
)
from mrnngraph.model import same_bits
from mrnngraph.presets import cbgt_loop, cortical_hierarchy, two_area_ei
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import train
from tests.conftest import issue_example
from tests.strategies import valid_graphs


def rich_graph() -> nx.DiGraph:
    """Per-unit values, learnable bias, own tau, learned tau (per-unit start and bounds;
    model default start, no bounds), every rule, ei, frozen, zero, gain, parents."""
    G = nx.DiGraph(name="rich", dt=10.0, tau=50.0, activation="tanh")
    G.add_node("u", kind="input", size=2, sign="exc")
    G.add_node(
        "a_e",
        size=6,
        sign="exc",
        parent="a",
        base_firing=[0.1, 0.2, 0.3, 0, 0, 1],
        init=0.5,
        tau=20.0,
        learnable_bias=True,
        label="A exc",
        color="red",
    )
    G.add_node("a_i", size=3, sign="inh", parent="a")
    G.add_node(
        "m",
        size=5,
        exc_frac=0.6,
        tau=[20.0, 30.0, 40.0, 50.0, 60.0],
        learn_tau=True,
        tau_min=15.0,
        tau_max=500.0,
    )
    G.add_node("f", size=5, learn_tau=True)
    G.add_node("y", kind="output", size=2)
    G.add_edge("u", "a_e", density=0.5, rule="fixed_indegree")
    G.add_edge("a_e", "a_i", sparsity=0.25, rule="fixed_outdegree")
    G.add_edge("a_i", "a_e", rule="fixed_total", density=0.7, gain=2.0)
    G.add_edge("a_e", "m", ei=["EE", "EI"], density=0.8)
    G.add_edge("m", "m", autapses=False, ei=["E", "I"])
    G.add_edge("m", "f", trainable=False)
    G.add_edge("f", "f", rule="one_to_one")
    G.add_edge("f", "a_e", zero=True, label="lesion")
    G.add_edge("m", "y", ei=["E"])
    G.add_edge("f", "y")
    return G


def assert_same_circuit(a: mg.CompiledCircuit, b: mg.CompiledCircuit) -> None:
    assert a.layout == b.layout
    assert a.blocks.keys() == b.blocks.keys()
    for k in a.blocks:
        assert torch.equal(a.blocks[k].weight, b.blocks[k].weight), k
        assert torch.equal(a.blocks[k].mask, b.blocks[k].mask), k
    for name in (
        "sign_h",
        "sign_i",
        "bias",
        "x0",
        "learnable_bias",
        "weight_hh",
        "mask_hh",
        "weight_ih",
        "weight_ho",
        "trainable_hh",
    ):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(torch.nan_to_num(a.tau, nan=-1), torch.nan_to_num(b.tau, nan=-1))
    assert circuit_fingerprint(a) == circuit_fingerprint(b)


# --------------------------------------------------------------------------- spec -> graph
@pytest.mark.parametrize(
    "make",
    [rich_graph, issue_example, cbgt_loop, two_area_ei, lambda: cortical_hierarchy(8, size=6)],
    ids=["rich", "issue", "cbgt", "two_area", "hierarchy"],
)
def test_spec_to_graph_compiles_to_identical_tensors(make):
    G = make()
    c = mg.compile(G, seed=11)
    H = spec_to_graph(c.spec)
    assert list(H.nodes) == list(c.spec.nodes)
    assert_same_circuit(c, mg.compile(H, seed=11))


def test_spec_to_graph_uses_canonical_names_and_drops_defaults():
    H = spec_to_graph(mg.check(rich_graph()))
    assert H.nodes["a_e"] == {
        "size": 6,
        "sign": "exc",
        "base_firing": [0.1, 0.2, 0.3, 0, 0, 1],
        "learnable_bias": True,
        "init": 0.5,
        "tau": 20.0,
        "parent": "a",
    }
    assert H.nodes["u"] == {"kind": "input", "size": 2, "sign": "exc"}
    assert H.edges["m", "m"] == {"ei": ["E", "I"], "autapses": False}
    assert H.edges["a_e", "a_i"] == {"sparsity": 0.25, "rule": "fixed_outdegree"}
    assert H.edges["f", "a_e"] == {"zero": True}
    assert H.graph == {"name": "rich", "dt": 10.0, "tau": 50.0, "activation": "tanh"}
    with pytest.raises(TypeError):
        spec_to_graph(rich_graph())


def test_spec_to_graph_keeps_a_custom_order():
    G = rich_graph()
    order = ["f", "m", "a_i", "a_e"]
    c = mg.compile(G, seed=3, order=order)
    H = spec_to_graph(c.spec)
    assert [n for n in H if H.nodes[n].get("kind") is None] == order
    assert_same_circuit(c, mg.compile(H, seed=3))


@settings(max_examples=20, deadline=None)
@given(G=valid_graphs())
def test_spec_to_graph_property(G):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.CircuitWarning)
        c = mg.compile(G, seed=5)
        assert_same_circuit(c, mg.compile(spec_to_graph(c.spec), seed=5))


# --------------------------------------------------------------------------- round trip
def trained_model(**kw) -> tuple[mg.MultiRegionRNN, nx.DiGraph]:
    G = cbgt_loop(scale=0.2)
    model = mg.MultiRegionRNN.from_graph(G, seed=4, **kw)
    train(
        model,
        PerceptualDecisionMaking(dt=model.dt, stimulus=200, delay=0, decision=100),
        steps=3,
        lr=0.05,
        batch_size=4,
        seed=0,
        progress=False,
    )
    return model, G


@pytest.mark.parametrize("pass_graph", [True, False])
def test_round_trip_gives_identical_outputs(tmp_path, pass_graph):
    model, G = trained_model()
    path = save_model(
        model,
        tmp_path / "sub" / "m.pt",
        graph=G if pass_graph else None,
        metadata={"task": "pdm", "n": 3},
    )
    assert path.exists() and list(path.parent.iterdir()) == [path]  # no temp file left
    ck = load_checkpoint(path)
    loaded = ck.model
    x = PerceptualDecisionMaking().batch(5, seed=1).inputs
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)
    sd_a, sd_b = model.state_dict(), loaded.state_dict()
    assert sd_a.keys() == sd_b.keys()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    assert_same_circuit(model.circuit, loaded.circuit)
    assert ck.metadata == {"task": "pdm", "n": 3}
    if pass_graph:  # the graph comes back as given, drawing hints included
        assert dict(ck.graph.nodes(data=True)) == dict(G.nodes(data=True))
        assert ck.graph.edges["d1", "gpe"]["label"] == "lesioned"
    else:
        assert "label" not in ck.graph.nodes["ctx_e"]


def test_file_loads_with_weights_only(tmp_path):
    model, _ = trained_model()
    path = save_model(model, tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and isinstance(raw["graph"], str)
    assert raw["compile"]["seed"] == 4 and raw["compile"]["order"] == list(model.circuit.spec.nodes)
    assert raw["model"]["dt"] == 20.0 and raw["model"]["activation"] == "relu"


def test_hyper_parameters_round_trip(tmp_path):
    G = rich_graph()
    model = mg.MultiRegionRNN.from_graph(
        G,
        seed=1,
        dt=5.0,
        tau=40.0,
        activation="softplus",
        noise_std=0.1,
        input_noise_std=0.2,
        batch_first=False,
        dtype=torch.float64,
    )
    with torch.no_grad():
        model.parametrizations.bias.original.add_(0.3)  # a learnable bias, trained
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    for name in (
        "dt",
        "tau",
        "activation",
        "noise_std",
        "input_noise_std",
        "batch_first",
        "alpha_override",
    ):
        assert getattr(loaded, name) == getattr(model, name), name
    assert loaded.weight_hh.dtype == torch.float64
    assert torch.equal(loaded.bias, model.bias)
    x = torch.randn(6, 2, 2, dtype=torch.float64)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(model(x, generator=g1).outputs, loaded(x, generator=g2).outputs)
    for n in ("m", "f"):  # alpha= and learn_tau exclude each other
        for k in ("learn_tau", "tau_min", "tau_max"):
            G.nodes[n].pop(k, None)
    elman = mg.MultiRegionRNN.from_graph(G, seed=1, alpha=1.0)
    assert load_model(save_model(elman, tmp_path / "e.pt")).alpha_override == 1.0


@pytest.mark.parametrize("sparse", [True, False])
def test_sparse_and_scan_options_round_trip(tmp_path, sparse):
    model = mg.MultiRegionRNN.from_graph(
        cbgt_loop(scale=0.2), seed=0, sparse=sparse, scan="autograd"
    )
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert (loaded.sparse, loaded.scan) == (sparse, "autograd")
    x = torch.rand(2, 4, 3)
    with torch.no_grad():
        assert torch.equal(loaded(x).outputs, model(x).outputs)


def test_readout_bias_round_trips_and_old_checkpoints_load_without_it(tmp_path):
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    with torch.no_grad():
        model.bias_ho.fill_(0.75)
    path = save_model(model, tmp_path / "m.pt")
    loaded = load_model(path)
    assert loaded.readout_bias and torch.equal(loaded.bias_ho, model.bias_ho)
    off = load_model(
        save_model(
            mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, readout_bias=False),
            tmp_path / "off.pt",
        )
    )
    assert not off.readout_bias and off.bias_ho is None
    # A checkpoint written before the option existed: no option, no bias_ho key.
    raw = torch.load(path, weights_only=True)
    del raw["model"]["readout_bias"], raw["state_dict"]["bias_ho"], raw["checksum"]
    torch.save(raw, tmp_path / "old.pt")
    old = load_model(tmp_path / "old.pt")
    assert not old.readout_bias and old.bias_ho is None
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        assert torch.allclose(old(x).outputs + 0.75, model(x).outputs)


def test_frozen_and_zero_blocks_survive(tmp_path):
    model = mg.MultiRegionRNN.from_graph(rich_graph(), seed=2)
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert torch.equal(loaded.projection("m", "f"), model.circuit.connection("m", "f").weight)
    assert bool((loaded.projection("f", "a_e") == 0).all())


# --------------------------------------------------------------------------- errors
def test_spectral_radius_is_recorded_and_checked(tmp_path):
    G = two_area_ei(size=10)
    model = mg.MultiRegionRNN.from_graph(G, seed=0, spectral_radius=0.9)
    assert model.circuit.spectral_radius == 0.9
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert torch.equal(loaded.weight_hh, model.weight_hh)
    assert loaded.circuit.spectral_radius == 0.9
    # a wrong value does not rebuild the same circuit: refused, nothing written
    with pytest.raises(ValueError, match="spectral_radius"):
        save_model(model, tmp_path / "other.pt", spectral_radius=0.5)
    assert not (tmp_path / "other.pt").exists()


def test_wrong_graph_is_refused(tmp_path):
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    with pytest.raises(ValueError, match="given graph"):
        save_model(model, tmp_path / "m.pt", graph=two_area_ei(size=12))


def test_bad_inputs(tmp_path):
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    with pytest.raises(TypeError, match="MultiRegionRNN"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "m.pt")
    with pytest.raises(TypeError, match="JSON"):
        save_model(model, tmp_path / "m.pt", metadata={"x": object()})
    assert list(tmp_path.iterdir()) == []
    torch.save({"a": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an mrnngraph checkpoint"):
        load_model(tmp_path / "other.pt")
    path = save_model(model, tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    raw["version"] = 99
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="version"):
        load_model(tmp_path / "future.pt")
    raw["version"], raw["fingerprint"] = 1, "0" * 32
    torch.save(raw, tmp_path / "changed.pt")
    with pytest.raises(ValueError, match="do not match its checksum"):
        load_model(tmp_path / "changed.pt")
    del raw["checksum"]  # as in a file written before checksums
    torch.save(raw, tmp_path / "drift.pt")
    with pytest.raises(ValueError, match="no longer compiles"):
        load_model(tmp_path / "drift.pt")


# --------------------------------------------------------------------------- hostile files
@functools.cache
def _saved(sparse: bool) -> tuple[bytes, dict]:
    """A saved rich model (signs, frozen and zero blocks, learnable and fixed biases,
    own tau, x0): the file's bytes and its payload."""
    model = mg.MultiRegionRNN.from_graph(rich_graph(), seed=3, sparse=sparse)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)  # "trained"
    with tempfile.TemporaryDirectory() as d:
        path = save_model(model, Path(d) / "m.pt", metadata={"run": 1})
        data = path.read_bytes()
    return data, torch.load(io.BytesIO(data), weights_only=True)


def _structural_keys(payload: dict) -> list[str]:
    return sorted(
        k for k in payload["state_dict"] if "original" not in k and k not in ("bias_ho", "x0")
    )


def _write(tmp: Path, payload: dict, checksum: str) -> Path:
    if checksum == "recomputed":
        payload["checksum"] = ckpt.checksum(payload)
    else:
        payload.pop("checksum", None)  # as a file written before checksums
    path = tmp / "t.pt"
    torch.save(payload, path)
    return path


def test_every_kind_of_structural_tensor_is_covered():
    keys = _structural_keys(_saved(False)[1]) + _structural_keys(_saved(True)[1])
    for part in (
        "alpha.0.fixed",
        "alpha.0.index",
        "alpha.0.alpha_lo",
        "alpha.0.alpha_hi",
        "alpha.0.span",
        "bias.0.fixed",
        "bias.0.learnable",
        "weight_hh.0.mask",
        "weight_hh.0.sign",
        "weight_hh.0.frozen",
        "weight_hh.0.trainable",
        "weight_hh.0.mask_0",
        "weight_hh.0.frozen_",
        "weight_ih.0.mask",
        "weight_ih.0.sign",
        "weight_ho.0.mask",
    ):
        assert any(part in k for k in keys), part


# More examples than the profile's default, and all of a long profile's (campaign).
@settings(max_examples=max(60, settings.default.max_examples), deadline=None)
@given(
    sparse=st.booleans(),
    pick=st.integers(0, 10**6),
    index=st.integers(0, 10**9),
    bit=st.integers(0, 63),
    how=st.sampled_from(["recomputed", "removed"]),
)
def test_a_checkpoint_with_a_flipped_structural_bit_never_loads(sparse, pick, index, bit, how):
    payload = copy.deepcopy(_saved(sparse)[1])
    keys = _structural_keys(payload)
    key = keys[pick % len(keys)]
    t = payload["state_dict"][key]
    assume(t.numel() > 0)
    raw = t.reshape(-1).view(torch.uint8)
    i = index % raw.numel()
    if t.dtype == torch.bool:
        raw[i] ^= 1  # a bool byte other than 0/1 is no tensor anyone writes
    else:
        raw[i] ^= 1 << (bit % 8)
    with tempfile.TemporaryDirectory() as d:
        path = _write(Path(d), payload, how)
        with pytest.raises(ValueError, match=re.escape(repr(key))):
            load_model(path)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "tamper",
    ["mask_all_true", "sign_flip", "frozen_x10", "alpha_1e3", "fixed_bias", "tau_bound"],
)
def test_the_campaigns_tampering_is_refused(tmp_path, sparse, tamper):
    """Issue 13 section 3: each of these loaded; now each is refused, naming the tensor."""
    payload = copy.deepcopy(_saved(sparse)[1])
    sd = payload["state_dict"]
    hh = "parametrizations.weight_hh.0."
    key = {
        "mask_all_true": hh + ("mask_0" if sparse else "mask"),
        "sign_flip": hh + "sign",
        "frozen_x10": hh + ("frozen_1" if sparse else "frozen"),
        "alpha_1e3": "parametrizations.alpha.0.fixed",  # alpha of the fixed-tau units
        "fixed_bias": "parametrizations.bias.0.fixed",
        "tau_bound": "parametrizations.alpha.0.alpha_lo",  # widen a learned tau's range
    }[tamper]
    if key not in sd:  # the sparse groups: find the frozen one
        key = next(k for k in sd if k.startswith(hh + "frozen_"))
    t = sd[key]
    if tamper == "mask_all_true":
        t.fill_(True)
    elif tamper == "sign_flip":
        t[0] = -t[0]
    elif tamper == "alpha_1e3":
        t.fill_(1e3)
    elif tamper == "tau_bound":
        t.mul_(1e-3)
    else:
        t.mul_(10).add_(1)
    with pytest.raises(
        ValueError, match=f"tensor {re.escape(repr(key))} differs from what the circuit gives"
    ):
        load_model(_write(tmp_path, payload, "recomputed"))


@settings(max_examples=max(40, settings.default.max_examples), deadline=None)
@given(sparse=st.booleans(), position=st.integers(0, 10**9), bit=st.integers(0, 7))
def test_a_flipped_bit_anywhere_in_the_file_is_refused_or_harmless(sparse, position, bit):
    data, payload = _saved(sparse)
    flipped = bytearray(data)
    flipped[position % len(data)] ^= 1 << bit
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.pt"
        path.write_bytes(bytes(flipped))
        try:
            ck = load_checkpoint(path)
        except ValueError:
            return  # refused (GraphError is a ValueError too)
    # Loaded: then it is the saved model, bit for bit (the flip hit unused bytes).
    state = ck.model.state_dict()
    assert state.keys() == payload["state_dict"].keys()
    assert all(same_bits(state[k], v) for k, v in payload["state_dict"].items())
    assert ck.model.options() | {"dtype": "float32"} == payload["model"]
    assert ck.metadata == {"run": 1}


@pytest.mark.parametrize("keep", [0, 10, 100, 1000, 0.5, 0.9, -1])
def test_a_truncated_file_is_refused(tmp_path, keep):
    data = _saved(False)[0]
    n = (
        keep
        if isinstance(keep, int) and keep >= 0
        else (len(data) - 1 if keep == -1 else int(len(data) * keep))
    )
    path = tmp_path / "cut.pt"
    path.write_bytes(data[:n])
    with pytest.raises(ValueError, match=r"cut\.pt.*not a readable checkpoint"):
        load_model(path)


def _mutations():
    hh = "parametrizations.weight_hh.original"
    return {
        "wrong_shape": (
            lambda p: p["state_dict"].__setitem__(hh, torch.zeros(3, 3)),
            rf"tensor '{hh}' has shape \(3, 3\)",
        ),
        "wrong_dtype": (
            lambda p: p["state_dict"].__setitem__(hh, p["state_dict"][hh].double()),
            f"tensor '{hh}'.*dtype float64",
        ),
        "nan_weight": (
            lambda p: p["state_dict"][hh].view(-1).__setitem__(0, float("nan")),
            f"parameter '{hh}' has 1 non-finite",
        ),
        # x0 is learned state (fit): another finite x0 loads, a NaN one does not.
        "nan_x0": (
            lambda p: p["state_dict"]["x0"].__setitem__(0, float("nan")),
            "tensor 'x0' has 1 non-finite",
        ),
        "missing_tensor": (
            lambda p: p["state_dict"].pop("parametrizations.alpha.0.alpha_hi"),
            "missing 'parametrizations.alpha.0.alpha_hi'",
        ),
        "extra_tensor": (
            lambda p: p["state_dict"].__setitem__("evil", torch.zeros(1)),
            "unexpected 'evil'",
        ),
        "not_a_tensor": (
            lambda p: p["state_dict"].__setitem__("alpha", [0.1]),
            "state_dict entry 'alpha' must be a tensor",
        ),
        "no_state_dict": (lambda p: p.pop("state_dict"), "entry 'state_dict' is missing"),
        "graph_not_str": (lambda p: p.__setitem__("graph", 5), "entry 'graph' must be a str"),
        "graph_not_json": (lambda p: p.__setitem__("graph", "{nope"), "not valid JSON"),
        "graph_a_list": (lambda p: p.__setitem__("graph", "[1, 2]"), "JSON object"),
        "compile_no_seed": (lambda p: p["compile"].pop("seed"), "'seed' is missing"),
        "compile_seed_str": (
            lambda p: p["compile"].__setitem__("seed", "3"),
            "'seed' must be an int",
        ),
        "compile_dtype_module": (
            lambda p: p["compile"].__setitem__("dtype", "nn"),
            "'dtype' must be one of",
        ),
        "model_unknown_option": (
            lambda p: p["model"].__setitem__("evil", 1),
            "unknown model option 'evil'",
        ),
        "model_bool_as_str": (
            lambda p: p["model"].__setitem__("batch_first", "no"),
            "'batch_first' must be a bool",
        ),
        "model_bad_activation": (
            lambda p: p["model"].__setitem__("activation", "gelu"),
            "stored model options: activation must be one of",
        ),
        "model_alpha_too_big": (lambda p: p["model"].__setitem__("alpha", 1e3), "alpha must be"),
        "model_no_dtype": (lambda p: p["model"].pop("dtype"), "'dtype' is missing"),
        "metadata_not_json": (lambda p: p.__setitem__("metadata", "{"), "metadata"),
        "metadata_list": (lambda p: p.__setitem__("metadata", "[]"), "JSON object"),
        "checksum_int": (lambda p: p.__setitem__("checksum", 3), "'checksum' must be a str"),
        "not_a_dict": (lambda p: p.clear(), "not an mrnngraph checkpoint"),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_malformed_payloads_are_value_errors_naming_the_file(tmp_path, name):
    mutate, match = _mutations()[name]
    payload = copy.deepcopy(_saved(False)[1])
    del payload["checksum"]  # these test the checks behind it
    mutate(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"bad\.pt") as err:
        load_model(path)
    assert re.search(match, str(err.value)), str(err.value)


class _Payload:  # not a type torch's weights_only unpickler accepts
    pass


def test_pickled_objects_are_refused_and_missing_files_stay_oserrors(tmp_path):
    torch.save({"format": FORMAT, "x": _Payload()}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match=r"pickle\.pt.*weights_only=True"):
        load_model(tmp_path / "pickle.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "none.pt")


def test_a_learned_x0_round_trips(tmp_path):
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    with torch.no_grad():
        model.x0.add_(0.25)  # as fit() does for the latent units
    assert model.structure_mismatches() == []
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert torch.equal(loaded.x0, model.x0)


def test_save_refuses_what_could_not_be_loaded(tmp_path):
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    with torch.no_grad():
        model.parametrizations.weight_ih.original[0, 0] = float("nan")
    with pytest.raises(ValueError, match="'parametrizations.weight_ih.original' has 1 non-"):
        save_model(model, tmp_path / "nan.pt")
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    state = model.state_dict()
    state["parametrizations.weight_hh.0.mask"].fill_(True)
    model.load_state_dict(state)  # load_state_dict copies buffers as torch does ...
    assert model.structure_mismatches() == ["parametrizations.weight_hh.0.mask"]
    with pytest.raises(
        ValueError, match="weight_hh.0.mask.*differ from what the model's circuit gives"
    ):
        save_model(model, tmp_path / "edited.pt")  # ... but save_model refuses to store it
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("saved_sparse", [False, True])
def test_load_model_into_either_path(tmp_path, saved_sparse):
    model = mg.MultiRegionRNN.from_graph(
        rich_graph(), seed=2, sparse=saved_sparse, dtype=torch.float64
    )
    with torch.no_grad():
        model.parametrizations.weight_hh.original.mul_(1.3)
    path = save_model(model, tmp_path / "m.pt")
    assert load_model(path).sparse is saved_sparse
    other = load_model(path, sparse=not saved_sparse)
    assert other.sparse is not saved_sparse
    assert torch.equal(other.weight_hh, model.weight_hh)
    assert other.structure_mismatches() == []
    x = torch.randn(2, 7, 2, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(other(x).outputs, model(x).outputs, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="sparse must be a bool"):
        load_model(path, sparse="yes")


def test_loading_in_a_fresh_process_at_default_threads(tmp_path):
    """What a user runs: a good file loads, a tampered one is a one-line ValueError."""
    payload = copy.deepcopy(_saved(True)[1])
    good = tmp_path / "good.pt"
    torch.save(payload, good)
    payload["state_dict"]["parametrizations.weight_hh.0.mask_0"].fill_(True)
    payload["checksum"] = ckpt.checksum(payload)
    torch.save(payload, tmp_path / "bad.pt")
    script = (
        "import sys, mrnngraph as mg\n"
        "m = mg.load_model(sys.argv[1])\n"
        "print('loaded', m.sparse, m.structure_mismatches())\n"
        "try:\n"
        "    mg.load_model(sys.argv[2])\n"
        "except ValueError as err:\n"
        "    print('refused', 'mask_0' in str(err))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(good), str(tmp_path / "bad.pt")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["loaded True []", "refused True"]


# --------------------------------------------------------------------------- learned tau
def test_a_trained_tau_round_trips_with_everything_else_verified(tmp_path):
    model = mg.MultiRegionRNN.from_graph(rich_graph(), seed=3)
    with torch.no_grad():
        model.parametrizations.alpha.original.add_(torch.linspace(-0.5, 2.0, 10))
    taus = model.time_constants()
    assert not torch.allclose(taus["m"], torch.tensor([20.0, 30.0, 40.0, 50.0, 60.0]).double())
    assert model.structure_mismatches() == []  # a trained tau is not a structural change
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert torch.equal(loaded.alpha, model.alpha)
    for name, t in taus.items():
        assert torch.equal(loaded.time_constants()[name], t), name
    x = torch.randn(2, 6, 2)
    with torch.no_grad():
        assert torch.equal(loaded(x).outputs, model(x).outputs)
    dense = load_model(tmp_path / "m.pt", sparse=True)  # the other path keeps the tau too
    assert torch.equal(dense.alpha, model.alpha)


def test_a_non_finite_raw_tau_is_refused_and_a_huge_one_stays_in_bounds(tmp_path):
    model = mg.MultiRegionRNN.from_graph(rich_graph(), seed=3)
    key = "parametrizations.alpha.original"
    with torch.no_grad():
        model.parametrizations.alpha.original[0] = float("inf")
    with pytest.raises(ValueError, match=f"'{key}' has 1 non-finite"):
        save_model(model, tmp_path / "inf.pt")
    payload = copy.deepcopy(_saved(False)[1])
    payload["state_dict"][key][1] = float("nan")
    with pytest.raises(ValueError, match=f"parameter '{key}' has 1 non-finite"):
        load_model(_write(tmp_path, payload, "recomputed"))
    payload = copy.deepcopy(_saved(False)[1])
    payload["state_dict"][key].fill_(1e30)  # finite: reflected into the range
    loaded = load_model(_write(tmp_path, payload, "recomputed"))
    taus = loaded.time_constants()
    assert ((taus["m"] >= 15.0) & (taus["m"] <= 500.0)).all()
    assert taus["f"].isfinite().all() and (taus["f"] >= 10.0).all()


def test_the_alpha_buffer_of_a_model_without_learned_tau_is_structural(tmp_path):
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    payload = torch.load(save_model(model, tmp_path / "m.pt"), weights_only=True)
    payload["state_dict"]["alpha"].fill_(0.5)
    with pytest.raises(ValueError, match="tensor 'alpha' differs from what the circuit gives"):
        load_model(_write(tmp_path, payload, "recomputed"))


def test_fingerprint_tells_learned_tau_apart():
    G = two_area_ei(size=10)
    plain = circuit_fingerprint(mg.compile(G, seed=0))
    G.nodes["a1"]["learn_tau"] = True
    learned = circuit_fingerprint(mg.compile(G, seed=0))
    G.nodes["a1"]["tau_max"] = 900.0
    bounded = circuit_fingerprint(mg.compile(G, seed=0))
    assert len({plain, learned, bounded}) == 3
