"""Identities and invariants of mrnngraph.analysis: currents, fixed points, Jacobian, flow."""

from __future__ import annotations

import copy
import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mrnngraph import MultiRegionRNN  # noqa: E402
from mrnngraph.analysis import (  # noqa: E402
    FixedPoints,
    currents,
    find_fixed_points,
    flow_field,
    jacobian,
    plot_block_norms,
    plot_currents,
    plot_flow_field,
    plot_spectrum,
    sample_states,
    total_current,
)
from mrnngraph.perturbation import perturb  # noqa: E402
from mrnngraph.presets.examples import cbgt_loop, two_area_ei  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def cbgt():
    return MultiRegionRNN.from_graph(cbgt_loop(scale=0.25), seed=3)


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_state(model, snap):
    sd = model.state_dict()
    return sd.keys() == snap.keys() and all(
        sd[k].dtype == snap[k].dtype and torch.equal(sd[k], snap[k]) for k in sd
    )


def _drive_residual(model, out, parts, x0=None, batch_first=True):
    """max |x[t+1] - (1 - alpha) x[t] - alpha * total[t]| over everything."""
    states = out.states if batch_first else out.states.transpose(0, 1)
    total = total_current(model, parts)
    total = total if batch_first else total.transpose(0, 1)
    B = states.shape[0]
    start = (model.x0 if x0 is None else x0).expand(B, -1)[:, None]
    prev = torch.cat([start, states[:, :-1]], 1)
    a = model.alpha
    return float((states - (1 - a) * prev - a * total).abs().max().detach())


# --------------------------------------------------------------------------- currents
def test_currents_sum_to_total_drive(cbgt):
    g = torch.Generator().manual_seed(0)
    u = torch.rand(3, 25, 3, generator=g)
    x0 = torch.randn(3, cbgt.hidden_size, generator=g)
    with torch.no_grad():
        out = cbgt(u, x0)
        parts = currents(cbgt, out.rates, u, x0=x0)
    assert _drive_residual(cbgt, out, parts, x0) < 1e-5
    # declared edges only (zero ones included, with zero current), plus the bias
    declared = {k for k, b in cbgt.circuit.blocks.items() if b.family != "ho"}
    assert set(parts) == declared | {("bias", r) for r in cbgt.layout.regions}
    assert float(parts[("d1", "gpe")].abs().max()) == 0.0
    assert float(parts[("bias", "snr")].min()) == pytest.approx(0.5)
    assert parts[("gpe", "stn")].shape == (3, 25, cbgt.layout.sizes["stn"])


def test_currents_pair_step_t_with_previous_rates(cbgt):
    # The current at step 0 comes from f(x0); at step t from rates[:, t - 1].
    u = torch.rand(2, 6, 3)
    x0 = torch.rand(2, cbgt.hidden_size)
    with torch.no_grad():
        out = cbgt(u, x0)
        parts = currents(cbgt, out.rates, u, x0=x0)
        w = cbgt.projection("gpe", "stn")
        gpe = cbgt.layout.slice("gpe")
    assert torch.allclose(parts[("gpe", "stn")][:, 0], torch.relu(x0[:, gpe]) @ w.T)
    assert torch.allclose(parts[("gpe", "stn")][:, 3], out.rates[:, 2, gpe] @ w.T)
    w_in = cbgt.projection("stim", "ctx_e")
    assert torch.allclose(parts[("stim", "ctx_e")][:, 4], u[:, 4] @ w_in.T)


def test_currents_identity_under_perturbation(cbgt):
    u = torch.rand(2, 30, 3)
    with (
        torch.no_grad(),
        perturb(
            cbgt,
            silence=["stn"],
            cut=[("gpe", "snr")],
            clamp={"thal": 0.2},
            stimulate={"ctx": 0.7},
            window=(5, 15),
        ),
    ):
        out = cbgt(u)
        parts = currents(cbgt, out.rates, u)
    assert _drive_residual(cbgt, out, parts) < 1e-5
    assert float(parts[("gpe", "snr")].abs().max()) == 0.0
    stim = parts[("stimulus", "ctx_e")]
    assert float(stim[:, :5].abs().max()) == 0.0
    assert float(stim[:, 5:15].min()) == pytest.approx(0.7)
    assert float(stim[:, 15:].abs().max()) == 0.0
    assert ("stimulus", "ctx_e") not in currents(cbgt, out.rates, u)


def test_currents_time_first_model_and_regions_filter():
    model = MultiRegionRNN.from_graph(two_area_ei(size=12), seed=1, batch_first=False)
    u = torch.rand(9, 2, 3)
    with torch.no_grad():
        out = model(u)
        parts = currents(model, out.rates, u, regions=["a2"])
    assert {k[1] for k in parts} == {"a2"}
    assert parts[("a1", "a2")].shape == (9, 2, 12)
    full = currents(model, out.rates, u)
    assert _drive_residual(model, out, full, batch_first=False) < 1e-5


def test_currents_keep_the_graph_for_gradients(cbgt):
    u = torch.rand(1, 5, 3)
    out = cbgt(u)
    parts = currents(cbgt, out.rates, u)
    parts[("gpe", "stn")].sum().backward()
    g = cbgt.parametrizations.weight_hh.original.grad
    assert g is not None and bool(g.abs().sum() > 0)
    cbgt.zero_grad(set_to_none=True)


settings_small = settings(max_examples=20, deadline=None)


@settings_small
@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    edges=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=6),
    activation=st.sampled_from(["relu", "tanh", "softplus", "linear"]),
    alpha=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**16),
)
def test_currents_identity_property(sizes, edges, activation, alpha, seed):
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    names = [f"r{i}" for i in range(len(sizes))]
    for n, s in zip(names, sizes, strict=True):
        G.add_node(n, size=s, base_firing=0.1)
    G.add_edge("u", names[0])
    for a, b in edges:
        if a < len(names) and b < len(names):
            G.add_edge(names[a], names[b])
    model = MultiRegionRNN.from_graph(G, seed=seed, activation=activation, alpha=alpha)
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(2, 7, 2, generator=g)
    with torch.no_grad():
        out = model(u)
        parts = currents(model, out.rates, u)
    assert _drive_residual(model, out, parts) < 1e-5


def test_currents_errors(cbgt):
    u = torch.rand(2, 5, 3)
    out = cbgt(u)
    with pytest.raises(ValueError, match="same batch and time"):
        currents(cbgt, out.rates, u[:, :4])
    with pytest.raises(ValueError, match=r"rates must have shape"):
        currents(cbgt, out.rates[..., :5], u)
    with pytest.raises(KeyError, match="unknown region 'ctxx'"):
        currents(cbgt, out.rates, u, regions=["ctxx"])
    with pytest.raises(ValueError, match="node or group named 'stim'"):
        currents(cbgt, out.rates, u, bias_key="stim")
    with pytest.raises(ValueError, match="x0 must have shape"):
        currents(cbgt, out.rates, u, x0=torch.zeros(3))


def test_plot_currents_draws_the_strongest_pathways(cbgt):
    u = torch.rand(2, 12, 3)
    with torch.no_grad():
        parts = currents(cbgt, cbgt(u).rates, u)
    ax = plot_currents(parts, top=4, dt=20.0, exclude=["bias"])
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 4 and all("→" in lab and not lab.startswith("bias") for lab in labels)
    means = {f"{k[0]} → {k[1]}": float(v.abs().mean()) for k, v in parts.items() if k[0] != "bias"}
    assert set(labels) == set(sorted(means, key=means.get, reverse=True)[:4])
    assert ax.get_xlabel() == "time (ms)"
    assert ax.get_lines()[0].get_xdata()[-1] == pytest.approx(11 * 20.0)


# --------------------------------------------------------------------------- fixed points
def _linear_net(seed=0, alpha=0.3):
    G = nx.DiGraph(activation="linear")
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=4, base_firing=(0.1, -0.2, 0.3, 0.0))
    G.add_node("b", size=3)
    G.add_edges_from([("u", "a"), ("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")])
    return MultiRegionRNN.from_graph(G, seed=seed, alpha=alpha, spectral_radius=0.7)


def test_fixed_point_of_a_linear_network_is_the_analytic_one():
    model = _linear_net()
    u = torch.tensor([0.5, -1.0])
    W, Wi, b = (t.detach().double() for t in (model.weight_hh, model.weight_ih, model.bias))
    expected = torch.linalg.solve(torch.eye(7, dtype=torch.float64) - W, Wi @ u.double() + b)
    g = torch.Generator().manual_seed(0)
    fps = find_fixed_points(model, u, 3 * torch.randn(10, 7, generator=g))
    assert len(fps) == 1 and bool(fps.converged.all())
    assert torch.allclose(fps.points[0], expected, atol=1e-8)
    assert float(fps.q[0]) < 1e-12
    # eigenvalues of the update map: (1 - alpha) + alpha * eig(W)
    ev = 0.7 + 0.3 * torch.linalg.eigvals(W)
    assert torch.allclose(
        fps.eigenvalues[0].abs(), ev.abs().sort(descending=True).values, atol=1e-8
    )
    assert bool(fps.stable[0])


def test_fixed_point_with_adam_reaches_the_same_point():
    model = _linear_net(seed=2)
    u = torch.tensor([1.0, 0.0])
    W, Wi, b = (t.detach().double() for t in (model.weight_hh, model.weight_ih, model.bias))
    expected = torch.linalg.solve(torch.eye(7, dtype=torch.float64) - W, Wi @ u.double() + b)
    fps = find_fixed_points(
        model, u, torch.zeros(4, 7), method="adam", max_iter=100, lr=0.05, refine_iter=20
    )
    assert len(fps) == 1 and torch.allclose(fps.points[0], expected, atol=1e-8)


def _bistable(activation="relu"):
    """Two units, self-excitation 0.5, mutual inhibition 1, constant drive 1 through 'u'.

    With relu: x = W relu(x) + 1. One unit on (x_on = 1 / (1 - 0.5) = 2), the other
    off (x_off = 1 - 1 * 2 = -1 < 0): the pair (2, -1), (-1, 2), both stable (update
    eigenvalues 1 - a + a * 0.5 and 1 - a). Both on: x1 = x2 = 1 / (1 - 0.5 + 1) = 2/3,
    a saddle (eigenvalue 1 - a + a * (0.5 + 1) > 1). Both off is impossible (x = 1 > 0).
    """
    G = nx.DiGraph(activation=activation)
    G.add_node("u", kind="input", size=1)
    G.add_node("a", size=1)
    G.add_node("b", size=1)
    G.add_edges_from([("u", "a"), ("u", "b"), ("a", "a"), ("b", "b"), ("a", "b"), ("b", "a")])
    model = MultiRegionRNN.from_graph(G, seed=0, alpha=0.2)
    with torch.no_grad():
        model.weight_hh = torch.tensor([[0.5, -1.0], [-1.0, 0.5]])
        model.weight_ih = torch.ones(2, 1)
    return model


def test_bistable_pair_and_saddle_are_found():
    model = _bistable()
    g = torch.Generator().manual_seed(1)
    init = torch.rand(40, 2, generator=g) * 6 - 3
    fps = find_fixed_points(model, torch.ones(1), init, dedup_tol=1e-6)
    assert bool(fps.converged.all())
    found = sorted((round(float(p[0]), 6), round(float(p[1]), 6)) for p in fps.points)
    assert found == sorted([(2.0, -1.0), (-1.0, 2.0), (0.666667, 0.666667)])
    by_point = {
        (round(float(p[0]), 3), round(float(p[1]), 3)): bool(s)
        for p, s in zip(fps.points, fps.stable, strict=True)
    }
    assert by_point == {(2.0, -1.0): True, (-1.0, 2.0): True, (0.667, 0.667): False}
    saddle = [i for i, s in enumerate(fps.stable) if not s][0]
    assert int(fps.n_unstable[saddle]) == 1
    assert float(fps.eigenvalues[saddle].abs().max()) == pytest.approx(0.8 + 0.2 * 1.5)
    assert "2 stable" in repr(fps)


def test_fixed_points_respect_a_silenced_region():
    model = _bistable()
    with perturb(model, silence="a"):
        fps = find_fixed_points(model, torch.ones(1), torch.randn(10, 2))
    # a's rate is 0: x_b = 0.5 relu(x_b) + 1 -> 2; x_a = -relu(x_b) + 1 -> -1
    assert len(fps) == 1 and torch.allclose(fps.points[0], torch.tensor([-1.0, 2.0]).double())


def test_bistable_tanh_pair_is_symmetric():
    model = _bistable("tanh")
    with torch.no_grad():
        model.weight_hh = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
        model.weight_ih = torch.zeros(2, 1)
    # x_a = 2 tanh(x_a): 0 (unstable) and +-x* with x* = 2 tanh(x*); x_b = 0.
    fps = find_fixed_points(
        model, torch.zeros(1), torch.tensor([[1.5, 0.3], [-1.0, 0.2], [0.1, -0.1]])
    )
    pts = sorted(float(p[0]) for p in fps.points)
    assert len(pts) == 3 and pts[1] == pytest.approx(0.0, abs=1e-9)
    assert pts[2] == pytest.approx(-pts[0]) and pts[2] == pytest.approx(
        2 * torch.tanh(torch.tensor(pts[2], dtype=torch.float64)).item(), abs=1e-9
    )
    assert [bool(s) for s in fps.stable[fps.points[:, 0].abs().argsort()]] == [False, True, True]


@pytest.mark.parametrize("grad_mode", ["enabled", "no_grad"])
def test_fixed_points_leave_the_model_untouched(cbgt, grad_mode):
    model = copy.deepcopy(cbgt)
    model.parametrizations.weight_ih.original.requires_grad_(False)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    snap = _snapshot(model)
    init = torch.randn(6, model.hidden_size)
    if grad_mode == "no_grad":
        with torch.no_grad():
            fps = find_fixed_points(
                model, torch.zeros(3), init, method="adam", max_iter=20, refine_iter=3
            )
    else:
        fps = find_fixed_points(model, torch.zeros(3), init, max_iter=5)
    assert isinstance(fps, FixedPoints)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    assert _same_state(model, snap)


def test_fixed_points_deduplicate_and_validate():
    model = _linear_net()
    start = torch.ones(5, 7)
    fps = find_fixed_points(model, None, start)
    assert len(fps) == 1 and fps.n_initial == 5 and fps.inputs.shape == (1, 2)
    with pytest.raises(ValueError, match="initial_states must have shape"):
        find_fixed_points(model, None, torch.ones(5, 6))
    with pytest.raises(ValueError, match="inputs_const must have shape"):
        find_fixed_points(model, torch.ones(3), start)
    with pytest.raises(ValueError, match="method must be"):
        find_fixed_points(model, None, start, method="newton")
    with pytest.raises(ValueError, match="tol must be"):
        find_fixed_points(model, None, start, tol=-1.0)


def test_sample_states_draws_visited_states():
    states = torch.arange(24.0).reshape(2, 3, 4)
    s = sample_states(states, 5, generator=torch.Generator().manual_seed(0))
    rows = {tuple(r) for r in states.reshape(-1, 4).tolist()}
    assert s.shape == (5, 4) and all(tuple(r) in rows for r in s.tolist())


# --------------------------------------------------------------------------- jacobian
def test_jacobian_of_linear_network_and_blocks():
    model = _linear_net(alpha=0.25)
    J = jacobian(model, torch.randn(7), torch.zeros(2))
    W = model.weight_hh.detach().double()
    expected = 0.75 * torch.eye(7, dtype=torch.float64) + 0.25 * W
    assert torch.allclose(J.matrix, expected)
    assert torch.allclose(J["b", "a"], expected[4:, :4])
    assert torch.allclose(J.block("a", "b"), expected[:4, 4:])
    assert torch.allclose(J.continuous, (expected - torch.eye(7, dtype=torch.float64)) / J.dt)
    ev = torch.linalg.eigvals(expected)
    assert torch.allclose(J.eigenvalues.abs(), ev.abs().sort(descending=True).values)
    assert J.stable and J.spectral_radius < 1
    norms, names = J.block_norms()
    assert names == ["a", "b"]
    assert float(norms[1, 0]) == pytest.approx(
        float(torch.linalg.matrix_norm(expected[4:, :4], ord=2))
    )
    assert float(norms[0, 0]) == pytest.approx(
        float(torch.linalg.matrix_norm(0.25 * W[:4, :4], ord=2))
    )  # the leak is left out of the diagonal blocks
    with_leak, _ = J.block_norms(leak=True, norm="fro")
    assert float(with_leak[0, 0]) == pytest.approx(
        float(torch.linalg.matrix_norm(expected[:4, :4]))
    )


def test_jacobian_matches_autograd_of_one_model_step():
    model = MultiRegionRNN.from_graph(two_area_ei(size=8), seed=4, activation="tanh")
    x = torch.randn(16, dtype=torch.float64)
    u = torch.rand(3, dtype=torch.float64)
    J = jacobian(model, x, u)

    def step(xx):
        return model.double()(u[None, None], xx[None]).states[0, 0]

    try:
        ref = torch.autograd.functional.jacobian(step, x)
        one = model(u[None, None], x[None]).states[0, 0]
    finally:
        model.float()
    assert torch.allclose(J.matrix, ref, atol=1e-10)
    assert torch.allclose(J.residual, (one - x).detach(), atol=1e-10)


def test_jacobian_names_groups_and_relu_derivative(cbgt):
    x = torch.randn(cbgt.hidden_size)
    J = jacobian(cbgt, x)
    ctx = cbgt.layout.indices("ctx")
    assert J["ctx", "thal"].shape == (len(ctx), cbgt.layout.sizes["thal"])
    # relu: a source unit with a negative state has no influence on any other unit
    neg = int((x < 0).nonzero()[0])
    col = J.matrix[:, neg].clone()
    col[neg] -= 1 - float(cbgt.alpha[neg])
    assert float(col.abs().max()) == 0.0
    # an undeclared pathway has a zero block
    assert float(J["thal", "gpe"].abs().max()) == 0.0
    norms, names = J.block_norms(["ctx", "stn", "gpe"])
    assert names == ["ctx", "stn", "gpe"] and norms.shape == (3, 3)
    with pytest.raises(TypeError, match=r"\(dst, src\)"):
        J["ctx"]
    with pytest.raises(ValueError, match="not a recurrent region"):
        J["stim", "ctx"]
    with pytest.raises(ValueError, match="one per state|call jacobian once"):
        jacobian(cbgt, torch.zeros(2, cbgt.hidden_size))


def test_plot_block_norms_and_spectrum(cbgt):
    J = jacobian(cbgt, torch.rand(cbgt.hidden_size))
    ax = plot_block_norms(J)
    img = ax.get_images()[0]
    norms, names = J.block_norms()
    assert torch.allclose(torch.as_tensor(img.get_array().data), norms)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_xlabel() == "source" and ax.get_ylabel() == "destination"

    ax = plot_spectrum(J)
    assert ax.collections[0].get_offsets().shape == (cbgt.hidden_size, 2)
    circles = [p for p in ax.patches if isinstance(p, matplotlib.patches.Circle)]
    assert len(circles) == 1 and circles[0].get_radius() == 1.0

    ax = plot_spectrum(J, continuous=True)
    offsets = ax.collections[0].get_offsets()
    expected = J.continuous_eigenvalues
    assert float(offsets[:, 0].max()) == pytest.approx(float(expected.real.max()))
    assert any(line.get_label() == "Re = 0" for line in ax.get_lines())


def test_plot_spectrum_of_fixed_points_marks_stability():
    model = _bistable()
    g = torch.Generator().manual_seed(0)
    fps = find_fixed_points(model, torch.ones(1), torch.rand(20, 2, generator=g) * 6 - 3)
    ax = plot_spectrum(fps)
    labels = [c.get_label() for c in ax.collections]
    assert labels == ["stable fixed points (2)", "unstable fixed points (1)"]
    # a point the search did not converge on is a slow point, never a fixed point
    slow = dataclasses.replace(fps, converged=fps.stable.clone())  # the saddle "not found"
    labels = [c.get_label() for c in plot_spectrum(slow).collections]
    assert labels == ["stable fixed points (2)", "slow points (1)"]
    with pytest.raises(TypeError, match="Jacobian, FixedPoints or a tensor"):
        plot_spectrum([1, 2])
    with pytest.raises(ValueError, match="needs dt"):
        plot_spectrum(torch.ones(3, dtype=torch.complex64), continuous=True)


# --------------------------------------------------------------------------- flow field
def test_flow_field_velocity_is_one_model_step(cbgt):
    u = torch.rand(3, 20, 3)
    with torch.no_grad():
        out = cbgt(u)
    const = torch.tensor([0.2, 0.5, 0.1])
    ff = flow_field(cbgt, out, regions="ctx", grid=(6, 5), inputs=const)
    assert ff.x.shape == ff.vx.shape == (5, 6)
    assert ff.trajectories.shape == (3, 20, 2)
    assert torch.allclose(ff.components.T @ ff.components, torch.eye(2, dtype=torch.float64))
    assert 0 < float(ff.explained.sum()) <= 1
    # The field at a grid point equals one forward step from the embedded state.
    i, j = 2, 4
    x = ff.embed(torch.stack([ff.x[i, j], ff.y[i, j]]))
    with torch.no_grad():
        step = cbgt(const[None, None], x.float()[None]).states[0, 0].double()
    v = ff.project(step) - ff.project(x)
    assert float(v[0]) == pytest.approx(float(ff.vx[i, j]), abs=1e-5)
    assert float(v[1]) == pytest.approx(float(ff.vy[i, j]), abs=1e-5)
    # units outside the chosen regions sit at the center
    other = cbgt.layout.indices("stn")
    assert torch.equal(x[other], ff.center[other])
    coords = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    assert torch.allclose(ff.project(ff.embed(coords)), coords)


def test_flow_field_errors(cbgt):
    out = cbgt(torch.rand(1, 5, 3))
    with pytest.raises(ValueError, match="grid must be"):
        flow_field(cbgt, out, grid=1)
    with pytest.raises(ValueError, match="not a recurrent region"):
        flow_field(cbgt, out, regions=["choice"])
    with pytest.raises(TypeError, match="states must be a torch.Tensor"):
        flow_field(cbgt, [1, 2])


@pytest.mark.parametrize("kind", ["stream", "quiver"])
def test_plot_flow_field_draws_field_trajectories_and_points(kind):
    model = _bistable()
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        out = model(torch.ones(4, 30, 1), torch.rand(4, 2, generator=g) * 4 - 2)
    ff = flow_field(model, out, inputs=torch.ones(1), grid=12)
    fps = find_fixed_points(model, torch.ones(1), torch.rand(20, 2, generator=g) * 6 - 3)
    ax = plot_flow_field(ff, kind=kind, fixed_points=fps, max_trajectories=3)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels.count("trajectories") == 1
    assert sum(1 for lab in labels if lab == "_child" or lab.startswith("_")) >= 2
    stable = next(line for line in ax.get_lines() if line.get_label() == "stable fixed point")
    assert len(stable.get_xdata()) == 2
    assert ax.get_xlabel().startswith("PC 1") and ax.get_ylabel().startswith("PC 2")
    if kind == "quiver":
        assert any(isinstance(c, matplotlib.quiver.Quiver) for c in ax.collections)
    else:
        assert any(isinstance(c, matplotlib.collections.LineCollection) for c in ax.collections)
    with pytest.raises(ValueError, match="kind must be"):
        plot_flow_field(ff, kind="arrows")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_analysis_runs_on_the_models_device():
    model = MultiRegionRNN.from_graph(cbgt_loop(scale=0.25), seed=0, device="cuda")
    u = torch.rand(2, 10, 3, device="cuda")
    with (
        torch.no_grad(),
        perturb(model, silence="stn", cut=[("gpe", "snr")], stimulate={"ctx": 0.3}, window=(2, 5)),
    ):
        out = model(u)
        parts = currents(model, out.rates, u)
    assert _drive_residual(model, out, parts) < 1e-5
    fps = find_fixed_points(model, torch.zeros(3, device="cuda"), out.states[:, -1])
    assert fps.points.device.type == "cuda" and bool(fps.converged.all())
    J = jacobian(model, fps.points[0])
    assert J.matrix.device.type == "cuda" and J.block_norms()[0].shape == (8, 8)
    ff = flow_field(model, out, regions="ctx", grid=5)
    plot_flow_field(ff, fixed_points=fps)


def test_currents_and_jacobian_in_block_sparse_mode():
    model = MultiRegionRNN.from_graph(cbgt_loop(scale=0.25), seed=3, sparse=True)
    dense = MultiRegionRNN.from_graph(cbgt_loop(scale=0.25), seed=3, sparse=False)
    u = torch.rand(2, 8, 3)
    with torch.no_grad():
        out = model(u)
        parts = currents(model, out.rates, u)
    assert _drive_residual(model, out, parts) < 1e-5
    x = torch.randn(model.hidden_size)
    assert torch.allclose(jacobian(model, x).matrix, jacobian(dense, x).matrix)
