"""mRNNTorch configs: semantics kept exactly, and trajectories equal to its leaky model."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest
import torch

from mrnngraph import GraphError, MultiRegionRNN, compile
from mrnngraph.io import from_mrnntorch, load, save, to_mrnntorch
from mrnngraph.presets import cbgt_loop, two_area_ei

DATA = Path(__file__).resolve().parent / "data"
CBGT = DATA / "cbgt_mrnntorch.json"


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def raw_config():
    return json.loads(CBGT.read_text())


# --------------------------------------------------------------------------- reference model
def independent_layout(config):
    """Region names, sizes and signs straight from the config, with mRNNTorch's defaults."""
    regions = [
        (r.get("name", f"region_{i}"), r["num_units"], r.get("sign", "pos"))
        for i, r in enumerate(config["recurrent_regions"])
    ]
    inputs = [
        (r.get("name"), r["num_units"], r.get("sign", "pos")) for r in config["input_regions"]
    ]
    return regions, inputs


def offsets(entries):
    out, start = {}, 0
    for name, n, _ in entries:
        out[name] = slice(start, start + n)
        start += n
    return out, start


def column_signs(entries):
    return torch.cat([torch.full((n,), 1.0 if s == "pos" else -1.0) for _, n, s in entries])


def per_unit(value, n):
    return torch.as_tensor(value, dtype=torch.float32) * torch.ones(n)


def mrnntorch_leaky(
    W_rec, W_rec_mask, W_rec_sign, W_inp, W_inp_mask, W_inp_sign, b, x0, u, *, dt=10.0, tau=100.0
):
    """mRNNTorch's documented leaky update, written from its equations.

    Dale's law is ``mask * |W| * sign_matrix`` for recurrent and input weights;
    ``x <- x + a(-x + W_rec h + W_inp u + b)``, ``h = relu(x)``, ``h0 = relu(x0)``.
    Returns ``(x_seq, h_seq)``, batch first.
    """
    alpha = dt / tau
    Wr = W_rec_mask * W_rec.abs() * W_rec_sign
    Wi = W_inp_mask * W_inp.abs() * W_inp_sign
    x, h = x0, torch.relu(x0)
    xs, hs = [], []
    for t in range(u.shape[1]):
        x = x + alpha * (-x + (Wr @ h.T).T + (Wi @ u[:, t].T).T + b)
        h = torch.relu(x)
        xs.append(x)
        hs.append(h)
    return torch.stack(xs, 1), torch.stack(hs, 1)


def test_trajectories_match_mrnntorch_leaky_model():
    config = raw_config()
    G = from_mrnntorch(CBGT, n_outputs=2)
    circuit = quiet(compile, G, seed=11)
    model = MultiRegionRNN(circuit)
    assert (model.dt, model.tau, model.activation) == (10.0, 100.0, "relu")

    regions, inputs = independent_layout(config)
    rec_at, H = offsets(regions)
    inp_at, I = offsets(inputs)
    assert list(circuit.layout.regions) == [n for n, *_ in regions]
    assert list(circuit.layout.inputs) == [n for n, *_ in inputs]
    assert (model.hidden_size, model.input_size) == (H, I)

    # Same raw weights of both signs for both models; masks from our compile.
    g = torch.Generator().manual_seed(5)
    R_rec = torch.randn(H, H, generator=g) / math.sqrt(H) * 2
    R_inp = torch.randn(H, I, generator=g)
    with torch.no_grad():
        model.parametrizations.weight_hh.original.copy_(R_rec)
        model.parametrizations.weight_ih.original.copy_(R_inp)
    mask_rec, mask_inp = circuit.mask_hh.float(), circuit.mask_ih.float()
    # mRNNTorch's sign matrix is +-mask with the sign of the source region.
    sign_rec = mask_rec * column_signs(regions)[None, :]
    sign_inp = mask_inp * column_signs(inputs)[None, :]
    b = torch.cat(
        [per_unit(r.get("base_firing", 0.0), r["num_units"]) for r in config["recurrent_regions"]]
    )
    x0 = torch.cat(
        [per_unit(r.get("init", 0.0), r["num_units"]) for r in config["recurrent_regions"]]
    ).expand(4, H)
    u = torch.rand(4, 60, I, generator=g)

    x_ref, h_ref = mrnntorch_leaky(R_rec, mask_rec, sign_rec, R_inp, mask_inp, sign_inp, b, x0, u)
    with torch.no_grad():
        out = model(u)
    assert h_ref.abs().max() > 0.1  # the comparison is not between silent networks
    torch.testing.assert_close(out.states, x_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.rates, h_ref, atol=1e-5, rtol=0)

    # Masks: listed pairs have exactly mRNNTorch's column counts, others are absent.
    listed = {
        (c["src_region"], c["dst_region"]): c.get("sparsity")
        for c in config["recurrent_connections"]
    }
    for src, s_sl in rec_at.items():
        for dst, d_sl in rec_at.items():
            block = circuit.mask_hh[d_sl, s_sl]
            if (src, dst) not in listed:
                assert not block.any(), (src, dst)
                continue
            s = listed[(src, dst)]
            n_dst = block.shape[0]
            keep = n_dst if s is None else n_dst - math.ceil(s * n_dst)
            assert block.sum(0).tolist() == [keep] * block.shape[1], (src, dst)
    for c in config["input_connections"]:
        block = circuit.mask_ih[rec_at[c["dst_region"]], inp_at[c["src_region"]]]
        s = c.get("sparsity")
        keep = block.shape[0] - math.ceil((s or 0) * block.shape[0])
        assert block.sum(0).tolist() == [keep] * block.shape[1]


@pytest.mark.parametrize(
    "shape, sparsity",
    [((6, 8), 0.25), ((8, 12), 0.3), ((5, 3), 0.7), ((7, 7), 0.5), ((10, 4), 0.0)],
)
def test_column_counts_equal_torch_sparse_init(shape, sparsity):
    w = torch.empty(shape)
    torch.nn.init.sparse_(w, sparsity, generator=torch.Generator().manual_seed(0))
    theirs = (w != 0).sum(0)
    G = nx.DiGraph()
    G.add_node("a", size=shape[1], sign="pos")
    G.add_node("b", size=shape[0], sign="neg")
    G.add_edge("a", "b", rule="fixed_outdegree", sparsity=sparsity)
    ours = quiet(compile, G, seed=1).connection("a", "b").mask.sum(0)
    assert torch.equal(ours, theirs)


def test_defaults_names_signs_and_comments():
    G = from_mrnntorch(CBGT)
    assert list(G) == [
        "cue",
        "alm_exc",
        "alm_inh",
        "str_d1",
        "str_d2",
        "gpe",
        "stn",
        "snr",
        "region_7",
    ]
    assert G.nodes["cue"] == {"kind": "input", "size": 3, "sign": "exc"}
    assert G.nodes["stn"] == {"size": 6, "sign": "exc"}
    assert G.nodes["alm_exc"] == {"size": 12, "sign": "exc", "init": 0.1, "parent": "alm"}
    assert G.nodes["snr"] == {"size": 6, "sign": "inh", "base_firing": 0.5, "learnable_bias": True}
    assert G.nodes["region_7"]["base_firing"] == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
    assert G.edges["alm_exc", "alm_inh"] == {}
    assert G.edges["gpe", "snr"] == {"rule": "fixed_outdegree", "sparsity": 0.0}
    assert G.edges["cue", "alm_exc"] == {"rule": "fixed_outdegree", "sparsity": 0.5}
    assert not G.has_edge("str_d1", "str_d2") and G.number_of_edges() == 19
    assert not any(str(k).startswith("__") for n in G for k in G.nodes[n])
    # A config without sections or with empty ones is mRNNTorch's default, not an error.
    H = from_mrnntorch(
        {
            "recurrent_regions": [{"num_units": 2}, {"num_units": 3}],
            "input_regions": [{"num_units": 1}],
            "input_connections": {},
        }
    )
    assert list(H.nodes(data=True)) == [
        ("input_0", {"kind": "input", "size": 1, "sign": "exc"}),
        ("region_0", {"size": 2, "sign": "exc"}),
        ("region_1", {"size": 3, "sign": "exc"}),
    ]


def test_path_dict_and_load_agree(tmp_path):
    a = from_mrnntorch(CBGT)
    b = from_mrnntorch(raw_config())
    c = load(CBGT)
    for other in (b, c):
        assert list(other.nodes(data=True)) == list(a.nodes(data=True))
        assert list(other.edges(data=True)) == list(a.edges(data=True))


def test_readout_options():
    G = from_mrnntorch(CBGT, readout_from=["alm", "snr"], n_outputs=3)
    assert G.nodes["output"] == {"kind": "output", "size": 3}
    assert list(G.predecessors("output")) == ["alm_exc", "alm_inh", "snr"]
    H = from_mrnntorch(CBGT, n_outputs=2)
    assert H.in_degree("output") == 8
    with pytest.raises(GraphError, match="neither a recurrent region nor a parent"):
        from_mrnntorch(CBGT, readout_from=["cue"])
    with pytest.raises(ValueError, match="n_outputs must be an integer >= 1 or None; got 0"):
        from_mrnntorch(CBGT, n_outputs=0)
    with pytest.raises(TypeError, match="n_outputs must be an integer >= 1 or None; got 2.5"):
        from_mrnntorch(CBGT, n_outputs=2.5)
    with pytest.raises(TypeError, match="strict must be a bool"):
        from_mrnntorch(CBGT, strict="yes")


def test_zero_connection_choice():
    config = raw_config()
    config["recurrent_connections"][1]["zero_connection"] = True  # alm_exc -> alm_inh
    with pytest.warns(UserWarning, match="'zero_connection' is ignored") as rec:
        G = from_mrnntorch(config)
    assert "('alm_exc', 'alm_inh')" in str(rec[0].message)
    assert G.edges["alm_exc", "alm_inh"] == {}  # dense, as mRNNTorch's loader builds it
    c = quiet(compile, G, seed=0)
    assert c.connection("alm_exc", "alm_inh").mask.all()
    H = from_mrnntorch(config, zero_connection="zero")
    assert H.edges["alm_exc", "alm_inh"] == {"zero": True}
    c = quiet(compile, H, seed=0)
    assert not c.connection("alm_exc", "alm_inh").mask.any()
    with pytest.raises(ValueError, match="zero_connection must be"):
        from_mrnntorch(config, zero_connection="drop")


def test_every_config_problem_listed():
    config = {
        "recurrent_regions": [
            {"name": "a", "num_units": 4},
            {"name": "b", "num_units": 0},
            {"name": "c"},
            {"name": "a", "num_units": 2},
            {"name": "d", "num_units": 2, "sparsty": 0.2},
            {"name": "e", "num_units": 2, "sign": "exc"},
        ],
        "input_regions": [{"name": "u", "num_units": 1, "sign": None}],
        "recurrent_connections": [
            {"src_region": "a", "dst_region": "zz"},
            {"src_region": "a", "dst_region": "d", "sparsity": 1.5},
            {"src_region": "d", "dst_region": "d"},
            {"src_region": "d", "dst_region": "d"},
            {"dst_region": "d"},
        ],
        "input_connections": [{"src_region": "d", "dst_region": "d"}],
        "recurent_connections": [],
    }
    with pytest.raises(GraphError) as err:
        from_mrnntorch(config)
    messages = [str(p) for p in err.value.problems]
    expected = [
        "recurrent_regions[5]: 'sign' must be 'pos' or 'neg'",
        "recurrent_regions[1]: 'num_units' must be an integer >= 1",
        "recurrent_regions[2]: 'num_units' is required",
        "recurrent_regions[3]: region name 'a' is used twice",
        "recurrent_regions[4]: unknown key 'sparsty'",
        "input_regions[0]: 'sign' must be 'pos' or 'neg'",
        "recurrent_connections[0]: 'dst_region' must name a recurrent region",
        "recurrent_connections[1]: 'sparsity' must be null or a float in [0, 1]",
        "recurrent_connections[3]: connection ('d', 'd') is listed twice",
        "recurrent_connections[4]: 'src_region' is required",
        "input_connections[0]: 'src_region' must name a input region",
        "unknown key 'recurent_connections'",
    ]
    for text in expected:
        assert any(text in m for m in messages), (text, messages)
    assert len(messages) == len(expected)


def test_lenient_unknown_keys_warn():
    config = {
        "recurrent_regions": [{"name": "a", "num_units": 2, "colour": "red"}],
        "recurrent_connections": [{"src_region": "a", "dst_region": "a", "sign": "exc"}],
    }
    with pytest.raises(GraphError, match="unknown key 'colour'"):
        from_mrnntorch(config)
    with pytest.warns(UserWarning, match="unknown key") as rec:
        G = from_mrnntorch(config, strict=False)
    assert len(rec) == 2 and G.edges["a", "a"] == {}


def test_config_file_errors(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"recurrent_regions": [\n  {"name": "a",}\n]}')
    with pytest.raises(GraphError) as err:
        from_mrnntorch(path)
    (p,) = err.value.problems
    assert p.code == "syntax-error" and "line 2" in p.where and "bad.json" in p.where
    path.write_text('{"recurrent_regions": [{"name": "a", "num_units": "2"}]}')
    with pytest.raises(GraphError) as err:
        load(path)
    assert "bad.json" in err.value.problems[0].where
    with pytest.raises(TypeError, match="config must be a mapping or a path; got 42"):
        from_mrnntorch(42)


@pytest.mark.parametrize("read", [from_mrnntorch, load])
def test_config_problems_carry_the_line_of_their_entry_or_key(tmp_path, read):
    config = {
        "recurrent_regions": [
            {"name": "a", "num_units": 2},
            {"name": "b", "num_units": 3, "parent_region": "a"},
            {"name": "c", "num_units": 0},
        ],
        "recurrent_connections": [{"src_region": "a", "dst_region": "b"}],
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config, indent=2))
    lines = path.read_text().splitlines()
    with pytest.raises(GraphError) as err:
        read(path)
    (p,) = err.value.problems  # a config problem: the line of its entry
    assert p.file == str(path) and lines[p.line - 1].strip() == "{"
    assert '"name": "c"' in lines[p.line]
    assert str(p).startswith(f"file {str(path)!r}, line {p.line}: recurrent_regions[2]: ")
    config["recurrent_regions"].pop()
    path.write_text(json.dumps(config, indent=2))
    lines = path.read_text().splitlines()
    with pytest.raises(GraphError) as err:
        read(path)
    (p,) = err.value.problems  # a problem of the circuit: the line of the config's key
    assert (p.node, p.attribute, p.file) == ("b", "parent", str(path))
    assert lines[p.line - 1].strip() == '"parent_region": "a"'


# --------------------------------------------------------------------------- writing
def test_to_mrnntorch_inverts_from_mrnntorch(tmp_path):
    G = from_mrnntorch(CBGT)
    d = to_mrnntorch(G)
    assert list(d)[2:] == [
        "recurrent_regions",
        "input_regions",
        "recurrent_connections",
        "input_connections",
    ]
    assert d["recurrent_regions"][7] == {
        "name": "region_7",
        "num_units": 8,
        "sign": "pos",
        "base_firing": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35],
        "init": 0.0,
        "learnable_bias": False,
    }
    assert d["input_regions"] == [{"name": "cue", "num_units": 3, "sign": "pos"}]
    H = from_mrnntorch(d)
    assert list(H.nodes(data=True)) == list(G.nodes(data=True))
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    for target in (tmp_path / "c.mrnntorch.json", tmp_path / "c.txt"):
        save(G, target, **({} if target.suffix == ".json" else {"format": "mrnntorch"}))
        assert json.loads(target.read_text()) == d
    assert list(load(tmp_path / "c.mrnntorch.json").edges(data=True)) == list(G.edges(data=True))


def test_to_mrnntorch_lists_every_reason():
    G = two_area_ei(size=10)  # exc_frac regions and ei sub-pathways
    G.add_node("free", size=3)
    G.add_node("slow", size=3, sign="exc", tau=50.0)
    G.add_edge("free", "free", density=0.5)
    G.add_edge("slow", "slow", density=0.5, rule="fixed_outdegree", autapses=False, trainable=False)
    with pytest.raises(GraphError) as err:
        to_mrnntorch(G)
    codes = Counter(p.code for p in err.value.problems)
    assert codes == {
        "mrnntorch-exc-frac": 2,
        "mrnntorch-mixed-constraint": 1,
        "mrnntorch-tau": 1,
        "mrnntorch-rule": 6,
        "mrnntorch-autapses": 3,
        "mrnntorch-ei": 2,
        "mrnntorch-frozen": 1,
    }
    one_to_one = nx.DiGraph()
    one_to_one.add_node("a", size=3, sign="exc")
    one_to_one.add_edge("a", "a", rule="one_to_one")
    with pytest.raises(GraphError, match="'one_to_one' has no mRNNTorch equivalent"):
        to_mrnntorch(one_to_one)
    assert "cannot be written as an mRNNTorch config" in str(err.value)


def test_to_mrnntorch_refuses_delays_and_learned_or_per_unit_tau_naming_each():
    G = nx.DiGraph()
    G.add_node("cue", kind="input", size=2, sign="exc")
    G.add_node("a", size=4, sign="exc", learn_tau=True, tau=[50.0, 60.0, 70.0, 80.0])
    G.add_node("b", size=3, sign="inh", learn_tau=True, tau_min=10.0, tau_max=90.0)
    G.add_node("c", size=3, sign="exc")
    G.add_edge("cue", "a", delay=10.0)
    G.add_edge("a", "b", delay=20.0, sparsity=0.5, rule="fixed_outdegree")
    G.add_edge("b", "c")
    G.add_edge("c", "a", delay=0.0)
    with pytest.raises(GraphError) as err:
        to_mrnntorch(G)
    got = {(p.code, p.node, p.edge, p.attribute) for p in err.value.problems}
    assert got == {
        ("mrnntorch-tau", "a", None, "tau"),
        ("mrnntorch-learn-tau", "a", None, "learn_tau"),
        ("mrnntorch-learn-tau", "b", None, "learn_tau"),
        ("mrnntorch-delay", None, ("cue", "a"), "delay"),
        ("mrnntorch-delay", None, ("a", "b"), "delay"),
    }
    assert "(5 reasons)" in str(err.value) and "delay 20 ms" in str(err.value)
    # Without them the same circuit is written (a zero delay is no delay).
    for n in ("a", "b"):
        for key in ("learn_tau", "tau", "tau_min", "tau_max"):
            G.nodes[n].pop(key, None)
    for u, v in G.edges:
        G.edges[u, v].pop("delay", None)
    G.edges["c", "a"]["delay"] = 0.0
    assert len(to_mrnntorch(G)["recurrent_connections"]) == 3


def test_to_mrnntorch_refuses_sparsity_per_sub_pathway_and_drops_gain_per_sub_pathway():
    G = nx.DiGraph()
    for n in ("a", "b"):
        G.add_node(f"{n}_e", size=4, sign="exc", parent=n)
        G.add_node(f"{n}_i", size=2, sign="inh", parent=n)
    G.add_edge("a_e", "b_e", density={"EE": 0.5}, rule="fixed_outdegree")
    G.add_edge("a_e", "b_i", sparsity={"EI": 0.25}, rule="fixed_outdegree")
    G.add_edge("b_e", "a_e", gain={"EE": 2.0})
    G.add_edge("b_i", "a_e", gain={"IE": 1.0})  # 1 everywhere: nothing is lost
    with pytest.raises(GraphError) as err:
        to_mrnntorch(G)
    got = {(p.code, p.edge, p.attribute) for p in err.value.problems}
    assert got == {
        ("mrnntorch-sparsity", ("a_e", "b_e"), "density"),
        ("mrnntorch-sparsity", ("a_e", "b_i"), "sparsity"),
    }
    assert "density per sub-pathway (EE 0.5)" in str(err.value)  # as declared
    assert "sparsity per sub-pathway (EI 0.25)" in str(err.value)
    G.edges["a_e", "b_e"]["density"] = 0.5
    G.edges["a_e", "b_i"]["sparsity"] = 0.25
    with pytest.warns(UserWarning, match="not kept") as rec:
        d = to_mrnntorch(G)
    (message,) = [str(w.message) for w in rec]
    assert "the gain of ('b_e', 'a_e')" in message and "'b_i'" not in message
    assert {c["sparsity"] for c in d["recurrent_connections"] if "sparsity" in c} == {0.5, 0.25}


def test_to_mrnntorch_lossy_parts_warn():
    G = cbgt_loop()
    G.edges["ctx_e", "d1"]["gain"] = 2.0
    for e in G.edges:
        if G.edges[e].get("density") not in (None, 1.0):
            G.edges[e]["rule"] = "fixed_outdegree"
        G.edges[e].pop("autapses", None)
    with pytest.warns(UserWarning) as rec:
        d = to_mrnntorch(G)
    (w,) = rec
    text = str(w.message)
    for part in (
        "output nodes ['choice']",
        "zero projections ('d1', 'gpe')",
        "the gain of ('ctx_e', 'd1')",
        "drawing hints and meta (label)",
    ):
        assert part in text, text
    assert "every input is unconstrained" in text and "with inp_constrained=False" in text
    assert d["__comment_model"] == (
        "build with mRNN(config, dt=20.0, tau=100.0, activation='relu', inp_constrained=False)"
    )
    pairs = [(c["src_region"], c["dst_region"]) for c in d["recurrent_connections"]]
    assert ("d1", "gpe") not in pairs and ("ctx_e", "d1") in pairs
    assert {"src_region": "ctx_e", "dst_region": "d1", "sparsity": pytest.approx(0.7)} in d[
        "recurrent_connections"
    ]
    assert [r["parent_region"] for r in d["recurrent_regions"][:2]] == ["ctx", "ctx"]


def test_to_mrnntorch_unconstrained_network():
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=4)
    G.add_node("b", size=4)
    G.add_edges_from([("u", "a"), ("a", "b"), ("b", "a")])
    with pytest.warns(UserWarning, match="rec_constrained=False"):
        d = to_mrnntorch(G)
    assert {r["sign"] for r in d["recurrent_regions"]} == {"pos"}
    assert "rec_constrained=False" in d["__comment_model"]
    assert "inp_constrained=False" in d["__comment_model"]
    with pytest.raises(GraphError):
        to_mrnntorch(nx.DiGraph([("a", "b")]))  # invalid: no sizes
    with pytest.raises(TypeError):
        to_mrnntorch({"a": 1})
