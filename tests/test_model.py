"""MultiRegionRNN: dynamics against a reference loop, constraints under training, helpers."""

import math

import networkx as nx
import pytest
import torch

import mrnngraph as mg
from mrnngraph._scan import ACTIVATION_FUNCTIONS


def signed_readout(c):
    """The model's initial readout (readout_sign=True): the circuit's, each column with
    its unit's sign (Dale's law on the readout), unsigned units as compiled."""
    s = c.sign_h.double()
    w = c.weight_ho.double()
    return torch.where(s != 0, s * w.abs(), w)


def reference_run(c, u, x0, alpha, act, w_hh=None, w_ih=None, w_ho=None, bias=None):
    """The update equation written out step by step, float64, batch-first."""
    f = ACTIVATION_FUNCTIONS[act]
    w_hh = c.weight_hh.double() if w_hh is None else w_hh
    w_ih = c.weight_ih.double() if w_ih is None else w_ih
    w_ho = signed_readout(c) if w_ho is None else w_ho
    b = c.bias.double() if bias is None else bias
    x = x0.double()
    xs = []
    for t in range(u.shape[1]):
        x = x + alpha * (-x + f(x) @ w_hh.T + u[:, t].double() @ w_ih.T + b)
        xs.append(x)
    xs = torch.stack(xs, 1)
    return xs, f(xs), f(xs) @ w_ho.T


@pytest.fixture
def circuit(example_graph):
    return mg.compile(example_graph, seed=0, dtype=torch.float64)


def test_issue_example_runs(example_graph):
    model = mg.MultiRegionRNN(
        mg.compile(example_graph, seed=0), dt=10.0, tau=100.0, activation="relu"
    )
    out = model(torch.randn(16, 100, 4))
    assert out.outputs.shape == (16, 100, 2)
    assert out.rates.shape == out.states.shape == (16, 100, 160)
    assert torch.equal(out.rates, torch.relu(out.states))


@pytest.mark.parametrize("act", sorted(ACTIVATION_FUNCTIONS))
def test_dynamics_match_the_update_equation(circuit, act):
    model = mg.MultiRegionRNN(circuit, dt=10.0, tau=100.0, activation=act, dtype=torch.float64)
    u = torch.randn(3, 25, 4, dtype=torch.float64)
    out = model(u)
    alpha = torch.where(
        circuit.tau.isnan(), torch.tensor(0.1, dtype=torch.float64), 10.0 / circuit.tau
    )
    xs, hs, ys = reference_run(circuit, u, circuit.x0.expand(3, -1), alpha, act)
    assert torch.allclose(out.states, xs, atol=1e-10)
    assert torch.allclose(out.rates, hs, atol=1e-10)
    assert torch.allclose(out.outputs, ys, atol=1e-10)


def test_per_region_tau_sets_alpha(circuit):
    model = mg.MultiRegionRNN(circuit, dt=10.0, tau=100.0, dtype=torch.float64)
    lay = model.layout
    assert model.alpha[lay.slice("ctx")].eq(0.2).all()  # ctx has tau 50
    assert model.alpha[lay.slice("str")].eq(0.1).all()


def test_discrete_time_alpha_one(circuit):
    model = mg.MultiRegionRNN(circuit, alpha=1.0, activation="tanh", dtype=torch.float64)
    u = torch.randn(2, 5, 4, dtype=torch.float64)
    out = model(u)
    h_prev = torch.tanh(torch.cat([circuit.x0.expand(2, -1)[:, None], out.states[:, :-1]], 1))
    expected = h_prev @ circuit.weight_hh.T + u @ circuit.weight_ih.T + circuit.bias
    assert torch.allclose(out.states, expected, atol=1e-12)
    assert "alpha=1" in repr(model)


def test_time_first_and_unbatched_layouts(circuit):
    bf = mg.MultiRegionRNN(circuit, dtype=torch.float64)
    tf = mg.MultiRegionRNN(circuit, batch_first=False, dtype=torch.float64)
    u = torch.randn(2, 7, 4, dtype=torch.float64)
    a, b = bf(u), tf(u.transpose(0, 1))
    assert torch.allclose(a.states, b.states.transpose(0, 1))
    single = bf(u[0])
    assert single.states.shape == (7, 160)
    assert torch.allclose(single.states, a.states[0])


def test_x0_forms(circuit):
    model = mg.MultiRegionRNN(circuit, dtype=torch.float64)
    u = torch.zeros(2, 3, 4, dtype=torch.float64)
    x0 = torch.randn(160, dtype=torch.float64)
    a = model(u, x0)
    b = model(u, x0.expand(2, -1))
    assert torch.equal(a.states, b.states)
    with pytest.raises(ValueError, match=r"x0 must have shape \(2, 160\)"):
        model(u, torch.zeros(3, 160, dtype=torch.float64))


def test_bad_input_shape_says_expected_and_received(circuit):
    model = mg.MultiRegionRNN(circuit)
    with pytest.raises(ValueError, match=r"\(B, T, 4\).*got \(2, 3, 5\)"):
        model(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="got"):
        model(torch.zeros(4))


def test_noise_off_by_default_and_seedable(circuit):
    model = mg.MultiRegionRNN(circuit, dtype=torch.float64)
    u = torch.randn(2, 10, 4, dtype=torch.float64)
    assert torch.equal(model(u).states, model(u).states)
    noisy = mg.MultiRegionRNN(circuit, noise_std=0.1, input_noise_std=0.1, dtype=torch.float64)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a, b = noisy(u, generator=g1), noisy(u, generator=g2)
    assert torch.equal(a.states, b.states)
    assert not torch.allclose(a.states, model(u).states)


def test_state_noise_scale(circuit):
    """Per step the state receives sqrt(2 alpha) * sigma of noise (mRNNTorch's scaling)."""
    G = nx.DiGraph()
    G.add_node("a", size=2000)
    G.add_edge("a", "a", zero=True)
    model = mg.MultiRegionRNN(mg.compile(G, seed=0), activation="linear", noise_std=0.5)
    out = model(torch.zeros(1, 1, 0))
    expected = math.sqrt(2 * 0.1) * 0.5
    assert float(out.states.detach().std()) == pytest.approx(expected, rel=0.05)


def test_masks_and_signs_are_buffers_not_parameters(circuit):
    model = mg.MultiRegionRNN(circuit)
    names = {n for n, _ in model.named_parameters()}
    assert names == {
        "parametrizations.weight_hh.original",
        "parametrizations.weight_ih.original",
        "parametrizations.weight_ho.original",
        "bias_ho",
    }
    buffers = dict(model.named_buffers())
    assert buffers["parametrizations.weight_hh.0.mask"].dtype == torch.bool
    assert buffers["parametrizations.weight_hh.0.sign"].shape == (160,)
    assert model.mask_hh.dtype == torch.bool and model.sign_h.shape == (160,)


def test_learnable_bias_trains_only_learnable_regions():
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=5, learnable_bias=True, base_firing=0.3)
    G.add_node("b", size=4, base_firing=0.7)
    G.add_node("y", kind="output", size=1)
    G.add_edges_from([("u", "a"), ("a", "b"), ("b", "a"), ("b", "y")])
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    assert "parametrizations.bias.original" in dict(model.named_parameters())
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        model(torch.randn(4, 10, 2)).outputs.pow(2).mean().backward()
        opt.step()
    assert not torch.allclose(model.bias[:5], torch.full((5,), 0.3))
    assert torch.equal(model.bias[5:], torch.full((4,), 0.7))
    assert "parametrizations.bias.original" in model.state_dict()


def test_constraints_hold_after_training(example_graph):
    c = mg.compile(example_graph, seed=0)
    model = mg.MultiRegionRNN(c)
    frozen_before = model.projection("thal", "ctx").detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=0.1, weight_decay=0.01)
    for _ in range(50):
        opt.zero_grad()
        out = model(torch.randn(4, 20, 4))
        (out.outputs - 1).pow(2).mean().add(out.rates.mean()).backward()
        opt.step()
    w = model.weight_hh.detach()
    assert (w[:, c.sign_h > 0] >= 0).all() and (w[:, c.sign_h < 0] <= 0).all()
    assert (w[~c.mask_hh] == 0).all()
    assert (model.projection("str", "thal") == 0).all()
    assert torch.equal(model.projection("thal", "ctx").detach(), frozen_before)
    assert not torch.equal(
        model.projection("ctx", "ctx").detach(), c.connection("ctx", "ctx").weight
    )


def test_state_dict_round_trip(example_graph):
    a = mg.MultiRegionRNN(mg.compile(example_graph, seed=0))
    with torch.no_grad():
        a.parametrizations.weight_hh.original.mul_(1.5)
    # A model from the same graph with another seed takes the first model's masks too.
    b = mg.MultiRegionRNN(mg.compile(example_graph, seed=1))
    b.load_state_dict(a.state_dict())
    u = torch.randn(2, 12, 4)
    assert torch.equal(a(u).outputs, b(u).outputs)
    assert torch.equal(a.mask_hh, b.mask_hh)


def test_reset_parameters(example_graph):
    c = mg.compile(example_graph, seed=0)
    model = mg.MultiRegionRNN(c)
    with torch.no_grad():
        model.parametrizations.weight_hh.original.add_(1.0)
    model.reset_parameters()
    assert torch.equal(model.weight_hh, c.weight_hh)


def test_from_graph_uses_graph_defaults_and_kwargs_override(example_graph):
    G = example_graph.copy()
    G.graph.update(dt=5.0, tau=50.0, activation="tanh")
    m = mg.MultiRegionRNN.from_graph(G, seed=0)
    assert (m.dt, m.tau, m.activation) == (5.0, 50.0, "tanh")
    m = mg.MultiRegionRNN.from_graph(G, seed=0, activation="softplus", dt=2.0)
    assert (m.dt, m.tau, m.activation) == (2.0, 50.0, "softplus")
    assert "activation='softplus'" in repr(m)


def test_region_helpers(example_graph):
    c = mg.compile(example_graph, seed=0)
    model = mg.MultiRegionRNN(c)
    out = model(torch.randn(2, 5, 4))
    assert torch.equal(model.region_activity(out.rates, "str"), out.rates[..., 80:120])
    both = model.region_activity(out.rates, "thal", "str")
    assert both.shape == (2, 5, 80) and torch.equal(both[..., :40], out.rates[..., 120:])
    assert torch.equal(model.projection("ctx", "str"), model.weight_hh[80:120, :80])
    assert torch.equal(model.projection("stim", "ctx"), model.weight_ih[:80])
    assert torch.equal(model.projection("ctx", "choice"), model.weight_ho[:, :80])
    sub = model.weight_subset("str", "ctx")
    assert sub.shape == (120, 120) and torch.equal(sub[:40, 40:], model.weight_hh[80:120, :80])
    with pytest.raises(ValueError, match="no weight matrix"):
        model.projection("ctx", "stim")
    with pytest.raises(KeyError, match="unknown region 'pfc'"):
        model.region_activity(out.rates, "pfc")
    with pytest.raises(ValueError, match="not a recurrent region"):
        model.region_activity(out.rates, "stim")


def test_parent_names_work_in_helpers():
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=1)
    G.add_node("alm_e", size=6, sign="exc", parent="alm")
    G.add_node("alm_i", size=2, sign="inh", parent="alm")
    G.add_node("thal", size=3, sign="exc")
    G.add_edges_from(
        [
            ("u", "thal"),
            ("thal", "alm_e"),
            ("alm_e", "alm_i"),
            ("alm_i", "alm_e"),
            ("alm_e", "thal"),
        ]
    )
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    assert model.projection("thal", "alm").shape == (8, 3)
    assert model.weight_subset("alm").shape == (8, 8)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"activation": "gelu"}, "activation must be one of"),
        ({"dt": -1.0}, "dt must be"),
        ({"tau": 0.0}, "tau must be"),
        ({"noise_std": -0.1}, "noise_std must be"),
        ({"alpha": 1.5}, "alpha must be"),
        ({"dt": 80.0}, r"regions \['ctx'\] have tau < dt"),
    ],
)
def test_bad_options(circuit, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mg.MultiRegionRNN(circuit, **kwargs)


def test_needs_a_compiled_circuit(example_graph):
    with pytest.raises(TypeError, match="from_graph"):
        mg.MultiRegionRNN(example_graph)


def test_gradients_flow_to_trainable_entries_only(example_graph):
    c = mg.compile(example_graph, seed=0)
    model = mg.MultiRegionRNN(c)
    model(torch.randn(2, 10, 4)).outputs.sum().backward()
    grad = model.parametrizations.weight_hh.original.grad
    assert (grad[~c.mask_hh] == 0).all()
    assert (grad[~c.trainable_hh] == 0).all()
    assert grad[c.trainable_hh & c.mask_hh].abs().sum() > 0


def test_training_never_changes_the_compiled_circuit(example_graph):
    c = mg.compile(example_graph, seed=0)
    snapshot = {k: (b.weight.clone(), b.mask.clone()) for k, b in c.blocks.items()}
    dense = {n: getattr(c, n).clone() for n in ("weight_hh", "mask_hh", "bias", "x0")}
    model = mg.MultiRegionRNN(c)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    model(torch.randn(2, 5, 4)).outputs.sum().backward()
    opt.step()
    other = mg.MultiRegionRNN(mg.compile(example_graph, seed=9))
    model.load_state_dict(other.state_dict())
    for k, (w, m) in snapshot.items():
        assert torch.equal(c.blocks[k].weight, w) and torch.equal(c.blocks[k].mask, m)
    for n, v in dense.items():
        assert torch.equal(getattr(c, n), v), n


def test_readout_bias_is_on_by_default_zero_at_init_and_trains(circuit):
    with_bias = mg.MultiRegionRNN(circuit, dtype=torch.float64)
    without = mg.MultiRegionRNN(circuit, readout_bias=False, dtype=torch.float64)
    assert with_bias.bias_ho.shape == (2,) and torch.equal(
        with_bias.bias_ho, torch.zeros(2, dtype=torch.float64)
    )
    assert without.bias_ho is None and "bias_ho" not in without.state_dict()
    assert "readout_bias=False" in repr(without) and "readout_bias" not in repr(with_bias)
    u = torch.randn(2, 6, 4, dtype=torch.float64)
    assert torch.allclose(with_bias(u).outputs, without(u).outputs, atol=1e-12)
    with torch.no_grad():
        with_bias.bias_ho.copy_(torch.tensor([0.5, -2.0]))
    out = with_bias(u)
    assert torch.allclose(out.outputs, without(u).outputs + torch.tensor([0.5, -2.0]), atol=1e-12)
    # Silent readout units: the bias alone moves the outputs, and receives the gradient.
    out.outputs.sum().backward()
    assert torch.equal(with_bias.bias_ho.grad, torch.full((2,), 12.0, dtype=torch.float64))
    with_bias.reset_parameters()
    assert not with_bias.bias_ho.any()


def test_readout_bias_off_gives_the_outputs_of_before(circuit):
    model = mg.MultiRegionRNN(circuit, readout_bias=False, dtype=torch.float64)
    u = torch.randn(3, 5, 4, dtype=torch.float64)
    out = model(u)
    assert torch.equal(out.outputs, torch.matmul(out.rates, model.weight_ho.t()))


def test_readout_bias_must_be_a_bool(circuit):
    with pytest.raises(TypeError, match="readout_bias must be a bool; got int"):
        mg.MultiRegionRNN(circuit, readout_bias=1)


def test_exporters_say_they_carry_no_weights_nor_readout_bias(circuit, example_graph):
    model = mg.MultiRegionRNN(circuit)
    with pytest.raises(TypeError, match=r"no trained weights, no readout bias.*model\.circuit"):
        mg.to_nn4n(model)
    with pytest.raises(TypeError, match="no trained weights, no readout"):
        mg.to_mrnntorch(model)
    assert mg.to_nn4n(model.circuit)["dims"] == [4, 160, 2]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("scan", ["fused", "autograd"])
def test_masked_entries_stay_exactly_zero_after_a_nan_step(example_graph, sparse, scan):
    """Issue 13 section 7: one NaN input step and an SGD step at lr 1.0 left masked-out
    entries NaN (the mask was multiplied in). Selected, they are exactly 0."""
    c = mg.compile(example_graph, seed=0)
    model = mg.MultiRegionRNN(c, sparse=sparse, scan=scan)
    u = torch.randn(2, 6, 4)
    u[:, 2] = float("nan")
    model(u).outputs.sum().backward()
    for name in ("weight_hh", "weight_ih", "weight_ho"):
        grad = getattr(model.parametrizations, name).original.grad
        con = model._constraint(name)
        mask = (
            con.mask
            if grad.dim() == 2
            else torch.cat(  # block-sparse: flat, trainable
                [
                    con.get_buffer(f"mask_{i}").reshape(-1)
                    for i, g in enumerate(con.groups)
                    if g.trainable
                ]
            )
        )
        assert grad.isnan().any(), name  # the NaN reached the live weights ...
        assert torch.equal(grad[~mask], torch.zeros_like(grad[~mask])), name  # ... not these
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    with torch.no_grad():
        # Whatever the raw weights now hold, the effective ones are exactly 0 off the mask.
        for p in (
            model.parametrizations.weight_hh.original,
            model.parametrizations.weight_ih.original,
        ):
            p.masked_fill_(torch.rand_like(p) < 0.5, float("inf"))
        for name, mask in (
            ("weight_hh", c.mask_hh),
            ("weight_ih", c.mask_ih),
            ("weight_ho", c.mask_ho),
        ):
            w = getattr(model, name)
            assert torch.equal(w[~mask], torch.zeros_like(w[~mask])), name
        assert torch.equal(model.projection("str", "thal"), torch.zeros(40, 40))
        assert torch.equal(model.projection("thal", "ctx"), c.connection("thal", "ctx").weight)


@pytest.mark.parametrize("sparse", [False, True])
def test_assigning_a_value_the_constraints_cannot_give_is_refused(example_graph, sparse):
    """Issue 14 section 4: such a value was accepted and read back changed."""
    c = mg.compile(example_graph, seed=0)
    model = mg.MultiRegionRNN(c, sparse=sparse)
    lay = model.layout
    ok = model.weight_hh.detach() * 2
    frozen = ~c.trainable_hh
    ok[frozen] = c.weight_hh[frozen]
    with torch.no_grad():
        model.weight_hh = ok  # representable: read back unchanged
    assert torch.equal(model.weight_hh, ok)
    ctx, ctx_inh = lay.slice("ctx"), slice(64, 80)  # ctx: exc_frac 0.8 of 80 units
    off_mask, against_sign, frozen_changed = ok.clone(), ok.clone(), ok.clone()
    off_mask[lay.slice("str"), lay.slice("thal")] = 0.5  # no thal -> str edge
    block = against_sign[ctx, ctx_inh]
    against_sign[ctx, ctx_inh] = torch.where(c.mask_hh[ctx, ctx_inh], 0.3, block)
    frozen_changed[ctx, lay.slice("thal")] += 1.0  # thal -> ctx is trainable=False
    for what, w in (
        ("outside the connectivity mask", off_mask),
        ("against the sign of their source unit", against_sign),
        ("different from the frozen weights", frozen_changed),
    ):
        with (
            pytest.raises(ValueError, match=f"weight_hh cannot take this value: .*{what}"),
            torch.no_grad(),
        ):
            model.weight_hh = w
        assert torch.equal(model.weight_hh, ok)  # nothing changed
    with (
        pytest.raises(
            ValueError,
            match=r"weight_ih cannot take this value: 1 entries "
            r"non-zero outside the connectivity mask, the first \[\d+, \d+\] = 1",
        ),
        torch.no_grad(),
    ):
        w = model.weight_ih.detach().clone()
        w[tuple(torch.nonzero(~c.mask_ih)[0].tolist())] = 1.0
        model.weight_ih = w
    with pytest.raises(ValueError, match=r"\(160, 160\).*got \(3, 3\)"), torch.no_grad():
        model.weight_hh = torch.zeros(3, 3)
