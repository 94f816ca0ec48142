"""Learnable time constants (node attribute ``learn_tau``, issue 16 section 2)."""

from __future__ import annotations

import math
import os

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils import parametrize

import mrnngraph as mg
from mrnngraph._scan import leaky_scan
from mrnngraph._tau import ALPHA_MIN, TimeConstants
from mrnngraph.model import same_bits


def tau_graph(
    *, a: dict | None = None, c: dict | None = None, b_tau: object = (10.0, 20.0, 30.0)
) -> nx.DiGraph:
    """Three regions: ``a`` learns (tau 50, tau_max 400), ``b`` is fixed with per-unit
    tau, ``c`` learns from tau = dt (alpha = 1, on its bound)."""
    G = nx.DiGraph(dt=10.0)
    G.add_node("u", kind="input", size=2)
    G.add_node(
        "a", size=4, exc_frac=0.5, **(a or {"tau": 50.0, "learn_tau": True, "tau_max": 400.0})
    )
    G.add_node("b", size=3, tau=list(b_tau) if isinstance(b_tau, tuple) else b_tau)
    G.add_node("c", size=2, **(c or {"tau": 10.0, "learn_tau": True}))
    G.add_node("y", kind="output", size=1)
    G.add_edges_from(
        [("u", "a"), ("a", "a"), ("a", "b"), ("b", "a"), ("a", "c"), ("c", "y"), ("b", "y")]
    )
    return G


def model_of(G: nx.DiGraph | None = None, **kw) -> mg.MultiRegionRNN:
    return mg.MultiRegionRNN.from_graph(tau_graph() if G is None else G, seed=0, **kw)


def units(model: mg.MultiRegionRNN, *names: str) -> torch.Tensor:
    return model.layout.indices(*names)


# ----------------------------------------------------------------------------- building
def test_alpha_starts_at_dt_over_tau_and_only_learned_units_are_trained():
    model = model_of()
    fixed = mg.MultiRegionRNN.from_graph(tau_graph(a={"tau": 50.0}, c={"tau": 10.0}), seed=0)
    assert not parametrize.is_parametrized(fixed, "alpha")
    assert parametrize.is_parametrized(model, "alpha")
    torch.testing.assert_close(model.alpha.detach(), fixed.alpha, rtol=1e-6, atol=0)
    # b's alpha is bit for bit the constant dt / tau, not a parameter entry
    b = units(model, "b")
    assert same_bits(model.alpha.detach()[b], fixed.alpha[b])
    raw = model.parametrizations.alpha.original
    assert raw.shape == (6,)  # one raw value per learned unit (a: 4, c: 2)
    names = {n for n, _ in model.named_parameters()}
    assert "parametrizations.alpha.original" in names
    assert "alpha" not in dict(fixed.named_parameters())
    assert "alpha" in dict(fixed.named_buffers())


def test_learned_model_runs_like_the_fixed_one_at_initialisation():
    x = torch.randn(3, 20, 2)
    fixed = mg.MultiRegionRNN.from_graph(tau_graph(a={"tau": 50.0}, c={"tau": 10.0}), seed=0)
    out = model_of()(x).outputs
    torch.testing.assert_close(out, fixed(x).outputs, rtol=1e-5, atol=1e-6)


def test_per_unit_tau_initialises_learned_units():
    G = tau_graph(a={"tau": [20.0, 40.0, 80.0, 160.0], "learn_tau": True})
    tau = model_of(G).time_constants()["a"]
    torch.testing.assert_close(tau, torch.tensor([20.0, 40.0, 80.0, 160.0], dtype=tau.dtype))


def test_model_default_tau_initialises_a_region_without_one():
    G = tau_graph(a={"learn_tau": True})
    model = model_of(G, tau=70.0)
    torch.testing.assert_close(
        model.time_constants()["a"], torch.full((4,), 70.0, dtype=torch.float64)
    )


def test_time_constants_by_region_in_ms():
    taus = model_of().time_constants()
    assert list(taus) == ["a", "b", "c"]
    assert taus["b"].tolist() == pytest.approx([10.0, 20.0, 30.0])
    assert taus["c"].tolist() == [10.0, 10.0]
    assert all(t.dtype == torch.float64 and not t.requires_grad for t in taus.values())


@pytest.mark.parametrize(
    "a,match",
    [
        # tau_max below dt: nothing left to learn in
        ({"learn_tau": True, "tau_max": 5.0}, r"region 'a': tau_max = 5 ms must be greater"),
        # the model's tau (100) is not inside [tau_min, tau_max]
        ({"learn_tau": True, "tau_min": 200.0, "tau_max": 400.0}, r"region 'a': learn_tau starts"),
    ],
)
def test_bounds_that_cannot_hold_are_errors_naming_the_region(a, match):
    G = tau_graph(a=a)
    with pytest.raises((ValueError, mg.GraphError), match=match):
        model_of(G)


def test_alpha_option_conflicts_with_learn_tau():
    with pytest.raises(ValueError, match=r"alpha= .* regions \['a', 'c'\] have learn_tau=True"):
        model_of(alpha=0.5)
    # without learn_tau the override still works
    fixed = mg.MultiRegionRNN.from_graph(
        tau_graph(a={"tau": 50.0}, c={"tau": 10.0}), seed=0, alpha=0.5
    )
    assert (fixed.alpha == 0.5).all()


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"dt": "10"}, TypeError, "dt must be a float > 0; got '10'"),
        ({"tau": math.nan}, ValueError, "tau must be a float > 0; got nan"),
        ({"noise_std": True}, TypeError, "noise_std must be a float >= 0"),
        ({"alpha": 0.0}, ValueError, r"alpha must be a float in \(0, 1\] or None"),
        ({"alpha": "1"}, TypeError, "alpha must be"),
    ],
)
def test_model_options_are_checked_by_the_one_checker(kwargs, error, match):
    G = tau_graph(a={"tau": 50.0}, c={"tau": 10.0})
    with pytest.raises(error, match=match):
        mg.MultiRegionRNN.from_graph(G, seed=0, **kwargs)


def test_extra_repr_names_the_learning_regions():
    assert "learn_tau=['a', 'c']" in repr(model_of())


# ----------------------------------------------------------------------------- gradients
def test_gradient_reaches_learned_units_only_also_on_the_bound():
    model = model_of()
    model(torch.randn(4, 15, 2)).outputs.square().sum().backward()
    grad = model.parametrizations.alpha.original.grad
    assert grad is not None and grad.shape == (6,)
    # c starts on its bound (tau = dt, alpha = 1): the reflection keeps its gradient
    assert (grad != 0).all()
    # no other tensor took a gradient through alpha: the fixed units have no raw value
    assert model.parametrizations.alpha[0].fixed.grad is None


def test_raw_value_is_log_tau_over_its_lower_bound():
    model = model_of()
    raw = model.parametrizations.alpha.original.detach()
    torch.testing.assert_close(raw[:4], torch.full((4,), math.log(50.0 / 10.0)))
    torch.testing.assert_close(raw[4:], torch.zeros(2))


def test_gradcheck_of_the_parametrization():
    alpha = torch.tensor([0.5, 0.2, 1.0, 0.05], dtype=torch.float64)
    p = TimeConstants(
        alpha,
        torch.tensor([1, 3]),
        torch.tensor([0.01, 0.02], dtype=torch.float64),
        torch.tensor([1.0, 0.5], dtype=torch.float64),
        ["a", "b"],
    )
    raw = torch.tensor([0.7, 2.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(p, (raw,))
    assert torch.autograd.gradgradcheck(p, (raw,))


def test_gradcheck_of_a_learned_model_through_the_scan():
    G = tau_graph()
    model = mg.MultiRegionRNN.from_graph(G, seed=0, dtype=torch.float64, activation="tanh")
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    raw = model.parametrizations.alpha.original
    param = model.parametrizations.alpha[0]
    with torch.no_grad():
        w_hh, w_ih = model.weight_hh, model.weight_ih
    drive = torch.einsum("bti,hi->tbh", x, w_ih) + model.bias

    def f(r):
        return leaky_scan(w_hh, drive, model.x0.expand(2, -1), param(r), "tanh", method="autograd")

    r0 = raw.detach().clone().add_(0.3).requires_grad_()
    assert torch.autograd.gradcheck(f, (r0,))


@pytest.mark.parametrize("delays", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_fused_and_autograd_gradients_agree_for_a_learned_model(delays, sparse):
    G = tau_graph()
    if delays:
        G.edges["a", "b"]["delay"] = 20.0
        G.edges["b", "a"]["delay"] = 10.0
        G.edges["u", "a"]["delay"] = 10.0
    x = torch.randn(3, 12, 2)
    grads = {}
    for scan in ("fused", "autograd"):
        model = mg.MultiRegionRNN.from_graph(G, seed=0, scan=scan, sparse=sparse)
        assert model.alpha.requires_grad
        model(x).outputs.square().sum().backward()
        grads[scan] = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert "parametrizations.alpha.original" in grads["fused"]
    assert set(grads["fused"]) == set(grads["autograd"])
    for n, g in grads["fused"].items():
        torch.testing.assert_close(g, grads["autograd"][n], rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- training
def _bounds(model):
    p = model.parametrizations.alpha[0]
    return p.index, p.alpha_lo, p.alpha_hi


@settings(max_examples=15, deadline=None)
@given(
    lr=st.sampled_from([1e-2, 1.0, 1e3, 1e6, 1e12]),
    optim=st.sampled_from(["adam", "sgd"]),
    steps=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_alpha_stays_in_bounds_and_fixed_units_never_change_under_training(lr, optim, steps, seed):
    torch.manual_seed(seed)
    model = model_of()
    before = model.alpha.detach().clone()
    index, lo, hi = _bounds(model)
    fixed = torch.ones(model.hidden_size, dtype=torch.bool)
    fixed[index] = False
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr) if optim == "adam" else torch.optim.SGD(params, lr=lr)
    x = torch.randn(2, 8, 2)
    for _ in range(steps):
        opt.zero_grad()
        loss = model(x).outputs.square().mean() + model.alpha.sum()
        loss.backward()
        opt.step()
        raw = model.parametrizations.alpha.original
        if not raw.isfinite().all():  # SGD at lr 1e12 may overflow the raw values
            break
        with torch.no_grad():
            alpha = model.alpha
        assert same_bits(alpha[fixed], before[fixed])
        a = alpha[index]
        assert ((a >= lo) & (a <= hi) & (a > 0)).all()
        taus = model.time_constants()
        assert all(t.isfinite().all() for t in taus.values())
        assert (taus["a"] >= 10.0).all() and (taus["a"] <= 400.0).all()
        assert (taus["c"] >= 10.0).all()


def test_without_tau_max_alpha_never_reaches_zero():
    model = model_of()
    with torch.no_grad():
        model.parametrizations.alpha.original.fill_(1e30)
        alpha = model.alpha
    index, lo, _ = _bounds(model)
    assert (alpha[index] > 0).all()
    # c has no tau_max: its floor is ALPHA_MIN
    assert alpha[units(model, "c")].min() >= torch.tensor(ALPHA_MIN, dtype=alpha.dtype)
    assert all(t.isfinite().all() for t in model.time_constants().values())


def test_training_moves_tau_toward_a_slower_unit():
    """A learned region whose target is a slow response lengthens its tau."""
    G = nx.DiGraph(dt=10.0)
    G.add_node("u", kind="input", size=1)
    G.add_node("a", size=1, tau=20.0, learn_tau=True)
    G.add_node("y", kind="output", size=1)
    G.add_edges_from([("u", "a"), ("a", "y")])
    model = mg.MultiRegionRNN.from_graph(G, seed=0, activation="linear", readout_bias=False)
    with torch.no_grad():
        model.weight_ih = torch.ones(1, 1)
        model.weight_ho = torch.ones(1, 1)
    t = torch.arange(1, 41, dtype=torch.float32)
    target = 1 - torch.exp(-t * 10.0 / 200.0)  # a step response with tau = 200 ms
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    x = torch.ones(1, 40, 1)
    for _ in range(120):
        opt.zero_grad()
        loss = (model(x).outputs[0, :, 0] - target).square().mean()
        loss.backward()
        opt.step()
    assert model.time_constants()["a"].item() == pytest.approx(200.0, rel=0.05)


def test_assigning_alpha_checks_bounds_and_fixed_units():
    model = model_of()
    new = model.alpha.detach().clone()
    new[units(model, "a")] = 0.1  # tau 100 ms, inside [10, 400]
    model.alpha = new
    torch.testing.assert_close(
        model.time_constants()["a"], torch.full((4,), 100.0, dtype=torch.float64)
    )
    bad = new.clone()
    bad[units(model, "a")[0]] = 0.01  # tau 1000 ms > tau_max
    with pytest.raises(ValueError, match=r"region 'a' .* must be in \[0.025, 1\]"):
        model.alpha = bad
    bad = new.clone()
    bad[units(model, "b")[0]] = 0.3
    with pytest.raises(ValueError, match="fixed at dt / tau"):
        model.alpha = bad


def test_reset_parameters_restores_the_initial_tau():
    model = model_of()
    with torch.no_grad():
        model.parametrizations.alpha.original.add_(0.5)
    model.reset_parameters()
    torch.testing.assert_close(
        model.time_constants()["a"], torch.full((4,), 50.0, dtype=torch.float64)
    )


def test_learned_tau_trains_through_mg_train():
    G = nx.DiGraph(dt=20.0)
    G.add_node("u", kind="input", size=3)
    G.add_node("a", size=8, tau=100.0, learn_tau=True, tau_max=1000.0)
    G.add_node("b", size=6, tau=60.0)
    G.add_node("y", kind="output", size=3)
    G.add_edges_from([("u", "a"), ("a", "a"), ("a", "b"), ("b", "a"), ("b", "y")])
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    before = model.time_constants()
    task = mg.tasks.PerceptualDecisionMaking(dt=20.0)
    mg.train(model, task, steps=3, batch_size=8, progress=False, seed=0, lr=0.05)
    after = model.time_constants()
    assert not torch.equal(before["a"], after["a"])
    assert torch.equal(before["b"], after["b"])
    assert ((after["a"] >= 20.0) & (after["a"] <= 1000.0)).all()


# ----------------------------------------------------------------------------- export
def test_to_graph_writes_learned_tau_and_round_trips():
    model = model_of()
    new = model.alpha.detach().clone()
    a = units(model, "a")
    new[a] = torch.tensor([0.2, 0.1, 0.05, 0.04])
    model.alpha = new
    H = model.to_graph()
    assert H.nodes["a"]["tau"] == pytest.approx([50.0, 100.0, 200.0, 250.0])
    assert H.nodes["c"]["tau"] == 10.0  # all units agree: one float
    assert H.nodes["b"]["tau"] == [10.0, 20.0, 30.0]  # fixed region: as declared
    assert H.nodes["a"]["learn_tau"] is True and H.nodes["a"]["tau_max"] == 400.0
    assert H.graph["dt"] == 10.0
    again = mg.MultiRegionRNN.from_graph(H, seed=model.circuit.seed)
    torch.testing.assert_close(again.alpha.detach(), model.alpha.detach(), rtol=1e-6, atol=0)
    # the weights come from the same seed: the structure is unchanged
    assert torch.equal(again.circuit.weight_hh, model.circuit.weight_hh)
    # written as fixed time constants, they give the same alpha as well
    for n in ("a", "c"):
        H.nodes[n]["learn_tau"] = False
        H.nodes[n].pop("tau_max", None)
    fixed = mg.MultiRegionRNN.from_graph(H, seed=model.circuit.seed)
    torch.testing.assert_close(fixed.alpha, model.alpha.detach(), rtol=1e-6, atol=0)


def test_to_graph_keeps_the_given_graph_and_writes_through_mg_save(tmp_path):
    G = tau_graph()
    G.nodes["a"]["label"] = "area A"
    model = mg.MultiRegionRNN.from_graph(G, seed=3)
    with torch.no_grad():
        model.parametrizations.alpha.original.add_(torch.linspace(0.1, 0.6, 6))
    H = model.to_graph(G)
    assert H.nodes["a"]["label"] == "area A" and G.nodes["a"]["tau"] == 50.0  # G untouched
    for ext in ("json", "yaml", "graphml"):
        path = tmp_path / f"trained.{ext}"
        mg.save(H, path)
        back = mg.MultiRegionRNN.from_graph(mg.load(path), seed=3)
        torch.testing.assert_close(back.alpha.detach(), model.alpha.detach(), rtol=1e-6, atol=0)


def test_to_graph_writes_the_model_options_the_tau_values_need():
    model = model_of(dt=5.0)  # keyword dt over the graph's 10
    H = model.to_graph()
    assert H.graph["dt"] == 5.0
    again = mg.MultiRegionRNN.from_graph(H, seed=0)
    torch.testing.assert_close(again.alpha.detach(), model.alpha.detach(), rtol=1e-6, atol=0)


def test_to_graph_clips_rounding_to_the_declared_bounds():
    model = model_of()
    with torch.no_grad():
        raw = model.parametrizations.alpha.original
        raw[:4] = math.log(400.0 / 10.0)  # a at its tau_max
    H = model.to_graph()
    assert (
        max(H.nodes["a"]["tau"] if isinstance(H.nodes["a"]["tau"], list) else [H.nodes["a"]["tau"]])
        <= 400.0
    )
    mg.check(H)  # still valid: tau inside [tau_min, tau_max]


def test_to_graph_refuses_an_alpha_override_model():
    G = tau_graph(a={"tau": 50.0}, c={"tau": 10.0})
    model = mg.MultiRegionRNN.from_graph(G, seed=0, alpha=0.3)
    with pytest.raises(ValueError, match="alpha="):
        model.to_graph()
    with pytest.raises(TypeError, match="graph must be a networkx DiGraph"):
        model_of().to_graph({"a": 1})


# ----------------------------------------------------------------------------- other paths
def test_sparse_and_dense_learned_models_agree():
    x = torch.randn(2, 10, 2)
    dense, sparse = model_of(sparse=False), model_of(sparse=True)
    out_d, out_s = dense(x).outputs, sparse(x).outputs
    torch.testing.assert_close(out_d, out_s, rtol=1e-5, atol=1e-6)
    out_d.sum().backward()
    out_s.sum().backward()
    torch.testing.assert_close(
        dense.parametrizations.alpha.original.grad,
        sparse.parametrizations.alpha.original.grad,
        rtol=1e-4,
        atol=1e-6,
    )


def test_double_backward_through_learned_tau_fused_equals_autograd():
    x = torch.randn(2, 6, 2)
    hess = {}
    for scan in ("fused", "autograd"):
        model = model_of(scan=scan, dtype=torch.float64)
        raw = model.parametrizations.alpha.original
        loss = model(x.double()).outputs.square().sum()
        (g,) = torch.autograd.grad(loss, raw, create_graph=True)
        (hess[scan],) = torch.autograd.grad(g.sum(), raw)
    assert hess["fused"].isfinite().all() and (hess["fused"] != 0).any()
    torch.testing.assert_close(hess["fused"], hess["autograd"])


def test_perturb_and_fixed_point_tools_read_the_learned_alpha():
    model = model_of()
    with torch.no_grad():
        model.parametrizations.alpha.original.add_(0.4)
    x = torch.randn(2, 8, 2)
    with torch.no_grad(), mg.perturb(model, silence=["b"]):
        out = model(x)
    assert float(model.region_activity(out.rates, "b").abs().max()) == 0.0
    from mrnngraph.analysis._common import effective

    alpha = effective(model)[3]
    assert not alpha.requires_grad
    torch.testing.assert_close(alpha, model.alpha.detach())


def test_state_dict_exchange_between_models():
    a, b = model_of(), model_of()
    with torch.no_grad():
        a.parametrizations.alpha.original.add_(0.25)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.alpha.detach(), b.alpha.detach())
    assert a.structure_mismatches() == []


@settings(max_examples=40, deadline=None)
@given(
    lo=st.floats(1e-3, 1e3),
    ratio=st.floats(1.0001, 1e6),
    frac=st.floats(0.0, 1.0),
    raw=st.floats(-1e30, 1e30, allow_nan=False),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_parametrization_inverts_inside_and_maps_every_raw_value_into_the_bounds(
    lo, ratio, frac, raw, dtype
):
    """alpha_lo = lo / ratio <= alpha0 <= alpha_hi = min(lo, 1): forward(right_inverse(a))
    gives a back; any finite raw value gives an alpha within the bounds."""
    hi = min(lo, 1.0)
    a_lo = hi / ratio
    a0 = a_lo * (hi / a_lo) ** frac
    p = TimeConstants(
        torch.tensor([0.5, a0], dtype=dtype),
        torch.tensor([1]),
        torch.tensor([a_lo], dtype=torch.float64),
        torch.tensor([hi], dtype=torch.float64),
        ["r"],
    )
    a0_t = p.fixed.clone()
    a0_t[1] = torch.clamp(a0_t[1], p.alpha_lo[0], p.alpha_hi[0])  # a0 rounded into range
    back = p(p.right_inverse(a0_t))
    assert back[0] == 0.5
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    assert float(back[1]) == pytest.approx(float(a0_t[1]), rel=rtol * max(1.0, math.log(ratio)))
    out = p(torch.tensor([raw], dtype=dtype))
    assert p.alpha_lo[0] <= out[1] <= p.alpha_hi[0] and out[1] > 0


def test_currents_and_jacobian_use_the_learned_alpha():
    from mrnngraph.analysis import currents
    from mrnngraph.analysis.linear import jacobian_matrices

    model = model_of(tau_graph(a={"tau": 50.0, "learn_tau": True}), activation="tanh")
    with torch.no_grad():
        model.parametrizations.alpha.original.add_(torch.tensor([0.5, 1.0, 1.5, 2.0, 0.3, 0.9]))
        alpha = model.alpha.clone()
        fixed_alpha = model.parametrizations.alpha[0].fixed
    assert not torch.allclose(alpha, fixed_alpha)  # trained away from the start
    u, x0 = torch.rand(2, 7, 2), torch.randn(2, model.hidden_size)
    with torch.no_grad():
        out = model(u, x0)
        parts = currents(model, out.rates, u, x0=x0)
    total = sum(p for (_, dst), p in parts.items() if dst == "a")
    a = model.layout.slice("a")
    prev = torch.cat([x0[:, None, a], out.states[:, :-1, a]], 1)
    torch.testing.assert_close(out.states[..., a] - (1 - alpha[a]) * prev, alpha[a] * total)
    x = torch.randn(model.hidden_size, dtype=torch.float64)
    w = model.weight_hh.detach().double()

    def step(v):
        return v + alpha.double() * (-v + w @ torch.tanh(v))

    expected = torch.autograd.functional.jacobian(step, x)
    torch.testing.assert_close(jacobian_matrices(model, x[None])[0], expected)


def test_the_example_runs_in_a_child_process(tmp_path):
    """What a user runs: examples/cortex_delays_tau.py, briefly, at default settings."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "cortex_delays_tau.py"
    run = subprocess.run(
        [sys.executable, str(script), "--steps", "2", "--no-control", "--eval-trials", "8"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "gives the learned alpha again: True" in run.stdout
    assert "reloads with identical outputs: True" in run.stdout
    for name in ("architecture.png", "learned_tau.png", "training.png", "trained.yaml"):
        assert (tmp_path / name).stat().st_size > 0, name
    trained = mg.load(tmp_path / "trained.yaml")
    assert isinstance(trained.nodes["PFC"]["tau"], list)  # per-unit learned values


@settings(max_examples=30, deadline=None)
@given(
    dt=st.sampled_from([0.1, 1.0, 3.0, 7.0, 10.0, 20.0]),
    tau=st.floats(0.5, 5000.0).map(lambda v: float(f"{v:.4g}")),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_a_tau_exactly_on_a_bound_builds_exports_and_resets(dt, tau, dtype):
    """dt / tau computed from a float32 tau may round an ulp past a bound it sits on."""
    from hypothesis import assume

    assume(tau > dt)
    G = nx.DiGraph(dt=dt)
    G.add_node("u", kind="input", size=1)
    G.add_node("a", size=2, tau=tau, learn_tau=True, tau_max=tau)  # on the upper bound
    G.add_node("b", size=2, tau=tau, learn_tau=True, tau_min=tau, tau_max=2 * tau)  # lower
    G.add_node("y", kind="output", size=1)
    G.add_edges_from([("u", "a"), ("a", "b"), ("b", "y")])
    model = mg.MultiRegionRNN.from_graph(G, seed=0, dtype=dtype)
    p = model.parametrizations.alpha[0]
    a = model.alpha.detach()[p.index]
    assert ((a >= p.alpha_lo) & (a <= p.alpha_hi)).all()
    taus = model.time_constants()
    assert taus["a"].max() <= tau and taus["b"].min() >= tau
    torch.testing.assert_close(taus["a"], torch.full((2,), tau).double(), rtol=1e-6, atol=0)
    mg.check(model.to_graph())  # the exported tau lies inside the declared bounds
    model.reset_parameters()
