"""Conduction delays: the delayed scan against a plain loop with the shifts written by hand,
gradients, block-sparse execution, and zero delays running exactly as without."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mrnngraph._delays import DelayedDense, DelayPlan
from mrnngraph._scan import ACTIVATION_FUNCTIONS, leaky_scan

from .strategies import valid_graphs

D = torch.float64
ACTS = list(ACTIVATION_FUNCTIONS)


def reference(W, drive, x0, alpha, act, delays, clamp=None):
    """The delayed recurrence, shifts by hand: unit i at step t reads h[t - delays[i, j]]_j,
    with h[s] = f(x0) (clamped) for every s <= 0."""
    f = ACTIVATION_FUNCTIONS[act]

    def rate(x):
        return f(x) if clamp is None else torch.where(clamp[0], clamp[1], f(x))

    H, L = W.shape[0], int(delays.max())
    cols = torch.arange(H)[None, :]
    hist = [rate(x0)]  # hist[s] = h[s] for s >= 0
    x, states, rates = x0, [], []
    for t in range(drive.shape[0]):
        back = torch.stack([hist[max(t - k, 0)] for k in range(L + 1)])  # [k] = h[t - k]
        seen = back[delays, :, cols]  # (H, H, B): what unit i sees of unit j
        x = x + alpha * (drive[t] + torch.einsum("ij,ijb->bi", W, seen) - x)
        hist.append(rate(x))
        states.append(x)
        rates.append(hist[-1])
    if not states:
        return drive.clone(), drive.clone()
    return torch.stack(states), torch.stack(rates)


def _inputs(H=6, T=7, B=2, seed=0, max_delay=3, blocks=None):
    g = torch.Generator().manual_seed(seed)
    W = (torch.randn(H, H, generator=g, dtype=D) / H**0.5).requires_grad_(True)
    drive = torch.randn(T, B, H, generator=g, dtype=D).requires_grad_(True)
    x0 = torch.randn(B, H, generator=g, dtype=D).requires_grad_(True)
    alpha = (torch.rand(H, generator=g, dtype=D) * 0.8 + 0.1).requires_grad_(True)
    if blocks is None:  # any delay on any synapse
        delays = torch.randint(0, max_delay + 1, (H, H), generator=g)
    else:  # constant on region blocks, as circuits give them
        n = len(blocks)
        per = torch.randint(0, max_delay + 1, (n, n), generator=g)
        reps = torch.tensor(blocks)
        delays = per.repeat_interleave(reps, 0).repeat_interleave(reps, 1)
    return W, drive, x0, alpha, delays


def _run(method, W, drive, x0, alpha, act, delays, clamp=None):
    if method == "reference":
        return reference(W, drive, x0, alpha, act, delays, clamp)
    return leaky_scan(
        W, drive, x0, alpha, act, clamp, delays=delays, method=method, return_rates=True
    )


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamped", [False, True])
@pytest.mark.parametrize("blocks", [None, (2, 3, 1)])
def test_fused_and_autograd_equal_the_hand_shifted_loop(act, clamped, blocks):
    W, drive, x0, alpha, delays = _inputs(blocks=blocks, seed=1)
    clamp = (torch.arange(6) % 3 == 1, torch.linspace(-0.4, 0.6, 6, dtype=D)) if clamped else None
    got = {}
    for method in ("reference", "fused", "autograd"):
        s, r = _run(method, W, drive, x0, alpha, act, delays, clamp)
        loss = (s.sin() * 1.3).sum() + (r * r * torch.arange(6, dtype=D)).sum()
        got[method] = (s, r, *torch.autograd.grad(loss, (W, drive, x0, alpha)))
    for method in ("fused", "autograd"):
        for a, b in zip(got[method], got["reference"], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ["tanh", "softplus", "relu"])
def test_gradcheck_with_delays_and_clamp(act):
    W, drive, x0, alpha, delays = _inputs(H=4, T=4, seed=2, max_delay=2)
    mask = torch.tensor([True, False, False, True])
    value = torch.tensor([0.3, 0, 0, -0.2], dtype=D, requires_grad=True)
    for method in ("fused", "autograd"):
        assert torch.autograd.gradcheck(
            lambda w, d, x, a, v, m=method: _run(m, w, d, x, a, act, delays, (mask, v)),
            (W, drive, x0, alpha, value),
        )


def test_gradgradcheck_with_delays():
    W, drive, x0, alpha, delays = _inputs(H=3, T=4, seed=3, max_delay=2)
    assert torch.autograd.gradgradcheck(
        lambda w, d, x, a: _run("fused", w, d, x, a, "tanh", delays), (W, drive, x0, alpha)
    )


@settings(max_examples=30, deadline=None)
@given(
    H=st.integers(1, 6),
    T=st.integers(0, 6),
    B=st.integers(1, 3),
    max_delay=st.integers(1, 8),
    act=st.sampled_from(ACTS),
    seed=st.integers(0, 2**16),
)
def test_fused_matches_reference_property(H, T, B, max_delay, act, seed):
    # Delays longer than the trial included: those synapses read f(x0) throughout.
    W, drive, x0, alpha, delays = _inputs(H, T, B, seed, max_delay)
    outs = {}
    for method in ("fused", "reference"):
        s, r = _run(method, W, drive, x0, alpha, act, delays)
        assert s.shape == r.shape == (T, B, H)
        loss = s.sum() + (r * torch.arange(H, dtype=D)).sum()
        grads = torch.autograd.grad(
            loss, (W, drive, x0, alpha), allow_unused=True, materialize_grads=True
        )
        outs[method] = (s, r, *grads)
    for a, b in zip(outs["fused"], outs["reference"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_a_delay_shifts_the_response():
    # Unit 0 is driven by a pulse at step 0; unit 1 reads it through a 3-step delay.
    W = torch.zeros(2, 2, dtype=D)
    W[1, 0] = 1.0
    drive = torch.zeros(8, 1, 2, dtype=D)
    drive[0, 0, 0] = 1.0
    alpha = torch.ones(2, dtype=D)
    x0 = torch.zeros(1, 2, dtype=D)
    delays = torch.tensor([[0, 0], [3, 0]])
    s = leaky_scan(W, drive, x0, alpha, "linear", delays=delays)
    plain = leaky_scan(W, drive, x0, alpha, "linear")
    # Without delay unit 1 answers at step 1 (x[2]); with 3 steps, at step 4 (x[5]).
    assert plain[:, 0, 1].nonzero().reshape(-1).tolist() == [1]
    assert s[:, 0, 1].nonzero().reshape(-1).tolist() == [4]
    torch.testing.assert_close(s[4, 0, 1], plain[1, 0, 1])


def test_before_the_start_sources_sit_at_their_initial_rate():
    W = torch.tensor([[0.0, 0.5], [0.0, 0.0]], dtype=D)
    x0 = torch.tensor([[0.0, 2.0]], dtype=D)  # unit 1 starts at rate 2 and decays
    alpha = torch.ones(2, dtype=D)
    drive = torch.zeros(5, 1, 2, dtype=D)
    s = leaky_scan(W, drive, x0, alpha, "linear", delays=torch.tensor([[0, 4], [0, 0]]))
    # Steps 0..4 read h[t - 4], which is h[0] = 2 throughout: unit 0 stays at 0.5 * 2.
    torch.testing.assert_close(s[:, 0, 0], torch.full((5,), 1.0, dtype=D))


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_zero_delays_run_the_plain_loops_bit_for_bit(act):
    W, drive, x0, alpha, _ = _inputs(H=5, T=6, seed=4)
    zero = torch.zeros(5, 5, dtype=torch.long)
    for method in ("fused", "autograd"):
        a = leaky_scan(W, drive, x0, alpha, act, delays=zero, method=method, return_rates=True)
        b = leaky_scan(W, drive, x0, alpha, act, method=method, return_rates=True)
        ga = torch.autograd.grad(a[0].sum() + a[1].square().sum(), (W, drive, x0))
        gb = torch.autograd.grad(b[0].sum() + b[1].square().sum(), (W, drive, x0))
        for p, q in zip((*a, *ga), (*b, *gb), strict=True):
            assert torch.equal(p, q)


def test_weight_gradient_is_one_gemm_pair_per_block_not_per_step():
    family = ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm_")

    def products(T):
        W, drive, x0, alpha, delays = _inputs(H=12, T=T, B=3, seed=5, blocks=(4, 4, 4))
        plan = DelayPlan(delays)
        s = leaky_scan(W, drive.detach(), x0.detach(), alpha.detach(), "relu", delays=plan)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            s.sum().backward()
        calls = {e.key: e.count for e in prof.key_averages()}
        return sum(calls.get(k, 0) for k in family), plan

    (c10, plan), (c20, _) = products(10), products(20)
    per_step = (c20 - c10) // 10
    # The adjoint: one batched product per step (the three equal column groups together;
    # torch may run it as one GEMM per group), plus one for the steps before the trial.
    assert per_step <= 3
    # Weight gradient: two GEMMs per block of equal delay, the same for any T.
    assert c10 == 10 * per_step + 2 * len(plan.blocks)


def test_plan_groups_rows_and_columns():
    delays = torch.tensor([[0, 0, 2], [0, 0, 2], [1, 1, 0]])
    plan = DelayPlan(delays)
    assert plan.max_delay == 2
    assert plan.rows == ((0, 2, ((0, 2, 0), (2, 3, 2))), (2, 3, ((0, 2, 1), (2, 3, 0))))
    assert plan.cols == ((0, 2, ((0, 2, 0), (2, 3, 1))), (2, 3, ((0, 2, 2), (2, 3, 0))))
    assert isinstance(DelayedDense(plan).plan, DelayPlan)


def test_bad_delays():
    W, drive, x0, alpha, _ = _inputs(H=3, T=2)
    with pytest.raises(ValueError, match=r"delays must be >= 0 steps; got -1"):
        leaky_scan(W, drive, x0, alpha, "relu", delays=torch.tensor([[0, 0, -1]] * 3))
    with pytest.raises(TypeError, match="integer tensor of steps"):
        leaky_scan(W, drive, x0, alpha, "relu", delays=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\(3, 3\) for 3 units"):
        leaky_scan(W, drive, x0, alpha, "relu", delays=torch.zeros(2, 2, dtype=torch.long))


# ----------------------------------------------------------------------------- the model
def _graph(delays=True, dt=10.0):
    import networkx as nx

    G = nx.DiGraph(dt=dt, tau=40.0, activation="tanh")
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=4, exc_frac=0.5)
    G.add_node("b", size=3)
    G.add_node("c", size=3)
    G.add_node("y", kind="output", size=2)
    ms = (lambda v: {"delay": v}) if delays else (lambda v: {})
    G.add_edges_from(
        [
            ("u", "a", ms(20.0)),
            ("u", "c", {}),
            ("a", "a", {}),
            ("a", "b", ms(30.0)),
            ("b", "a", ms(10.0)),
            ("b", "c", ms(50.0)),
            ("c", "c", {}),
            ("c", "a", ms(10.0)),
            ("a", "y", ms(20.0)),
            ("c", "y", {}),
        ]
    )
    return G


def _steps(model, family):
    """Per-entry delays in steps, read from the graph's edges by hand."""
    lay, G = model.layout, _graph()
    rows, cols = {"hh": ("h", "h"), "ih": ("i", "h"), "ho": ("h", "o")}[family]
    size = {"h": model.hidden_size, "i": model.input_size, "o": model.output_size}
    out = torch.zeros(size[cols], size[rows], dtype=torch.long)
    for src, dst, delay in G.edges(data="delay", default=0.0):
        if lay.space(src) == rows and lay.space(dst) == cols:
            out[lay.slice(dst), lay.slice(src)] = round(delay / model.dt)
    return out


def model_reference(m, u):
    """The model's forward pass with every delay applied by hand (batch first)."""
    W, W_ih, W_ho, b, alpha = m.weight_hh, m.weight_ih, m.weight_ho, m.bias, m.alpha
    ut = u.transpose(0, 1)
    T, B, _ = ut.shape
    D_ih, D_hh, D_ho = _steps(m, "ih"), _steps(m, "hh"), _steps(m, "ho")
    x0 = m.x0.expand(B, -1)
    drive = []
    for t in range(T):
        seen = torch.stack([ut[t - k] if t >= k else torch.zeros_like(ut[0]) for k in range(9)])
        drive.append(b + torch.einsum("hi,hib->bh", W_ih, seen[D_ih, :, torch.arange(2)[None]]))
    s, r = reference(W, torch.stack(drive), x0, alpha, m.activation, D_hh)
    h = [torch.tanh(x0)] + list(r.unbind(0))  # h[s] for s = 0..T
    ys = []
    for t in range(T):
        seen = torch.stack([h[max(t + 1 - k, 0)] for k in range(9)])
        H = m.hidden_size
        ys.append(
            torch.einsum("oh,ohb->bo", W_ho, seen[D_ho, :, torch.arange(H)[None]]) + m.bias_ho
        )
    return torch.stack(ys).transpose(0, 1), r.transpose(0, 1), s.transpose(0, 1)


@pytest.mark.parametrize(
    "options",
    [{"sparse": False}, {"sparse": False, "scan": "autograd"}, {"sparse": True}],
)
def test_model_with_delays_equals_the_hand_shifted_model(options):
    from mrnngraph import MultiRegionRNN

    m = MultiRegionRNN.from_graph(_graph(), seed=0, dtype=D, **options)
    u = torch.randn(3, 11, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    out = m(u)
    ref = model_reference(m, u)
    for a, b in zip(out, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    grads = torch.autograd.grad(out.outputs.square().sum() + out.rates.sum(), m.parameters())
    ref_grads = torch.autograd.grad(ref[0].square().sum() + ref[1].sum(), m.parameters())
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_zero_delays_are_the_model_without_delays_bit_for_bit():
    from mrnngraph import MultiRegionRNN

    G0 = _graph(delays=False)
    Gz = _graph(delays=False)
    for _, _, data in Gz.edges(data=True):
        data["delay"] = 0.0
    u = torch.randn(2, 9, 2, generator=torch.Generator().manual_seed(1))
    for sparse in (False, True):
        a = MultiRegionRNN.from_graph(G0, seed=2, sparse=sparse)
        b = MultiRegionRNN.from_graph(Gz, seed=2, sparse=sparse)
        assert b._delays is None
        oa, ob = a(u), b(u)
        oa.outputs.sum().backward()
        ob.outputs.sum().backward()
        for p, q in zip(
            (*oa, *(p.grad for p in a.parameters())),
            (*ob, *(p.grad for p in b.parameters())),
            strict=True,
        ):
            assert torch.equal(p, q)


def test_a_delay_that_is_not_a_whole_number_of_steps_names_the_edge():
    from mrnngraph import MultiRegionRNN

    G = _graph()
    G.edges["b", "c"]["delay"] = 45.0
    with pytest.raises(ValueError, match=r"edge \('b', 'c'\): delay 45 ms is not a whole number"):
        MultiRegionRNN.from_graph(G, seed=0)
    # Whole at dt = 5, not at dt = 20 (30 ms on a -> b).
    MultiRegionRNN.from_graph(G, seed=0, dt=5.0)
    with pytest.raises(ValueError, match=r"edge \('a', 'b'\): delay 30 ms .* dt = 20 ms"):
        MultiRegionRNN.from_graph(_graph(), seed=0, dt=20.0)


def test_dense_and_sparse_state_dicts_exchange_with_delays():
    from mrnngraph import MultiRegionRNN

    dense = MultiRegionRNN.from_graph(_graph(), seed=0, sparse=False, dtype=D)
    sparse = MultiRegionRNN.from_graph(_graph(), seed=1, sparse=True, dtype=D)
    sparse.load_state_dict(dense.state_dict())
    u = torch.randn(2, 9, 2, dtype=D)
    torch.testing.assert_close(sparse(u).outputs, dense(u).outputs, rtol=1e-12, atol=1e-12)
    dense2 = MultiRegionRNN.from_graph(_graph(), seed=3, sparse=False, dtype=D)
    dense2.load_state_dict(sparse.state_dict())
    torch.testing.assert_close(dense2(u).outputs, dense(u).outputs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_clamped_sources_are_clamped_before_the_trial_too(sparse):
    from mrnngraph import MultiRegionRNN, perturb

    m = MultiRegionRNN.from_graph(_graph(), seed=0, dtype=D, sparse=sparse)
    u = torch.randn(1, 8, 2, dtype=D)
    with torch.no_grad():
        m.x0.fill_(0.5)  # f(x0) = tanh(0.5) != the clamp value 0.3
    # c hears only itself, u and b (5 steps late): for steps 0..5 it reads b's rate
    # before the trial, which is the clamp value, as if b had started at rate 0.3.
    m2 = MultiRegionRNN.from_graph(_graph(), seed=0, dtype=D)
    with torch.no_grad():
        m2.x0.fill_(0.5)
        m2.x0[m.layout.slice("b")] = torch.atanh(torch.tensor(0.3, dtype=D))
    c = m.layout.slice("c")
    with perturb(m, clamp={"b": 0.3}):
        out = m(u)
        (g,) = torch.autograd.grad(out.outputs.sum(), [m.parametrizations.weight_hh.original])
    assert bool((m.region_activity(out.rates, "b") == 0.3).all())
    assert bool(torch.isfinite(g).all())
    torch.testing.assert_close(out.states[:, :6, c], m2(u).states[:, :6, c])
    assert not torch.allclose(m(u).states[:, :6, c], m2(u).states[:, :6, c])


def test_currents_add_up_with_delays():
    from mrnngraph import MultiRegionRNN
    from mrnngraph.analysis import currents, total_current

    m = MultiRegionRNN.from_graph(_graph(), seed=0, dtype=D)
    u = torch.randn(2, 10, 2, dtype=D)
    out = m(u)
    c = total_current(m, currents(m, out.rates, u))
    s = out.states
    prev = torch.cat([m.x0.expand(2, 1, -1), s[:, :-1]], dim=1)
    torch.testing.assert_close(s - (1 - m.alpha) * prev, m.alpha * c, rtol=1e-10, atol=1e-12)


def test_the_delayed_jacobian_propagates_the_linear_dynamics():
    from mrnngraph import MultiRegionRNN
    from mrnngraph.analysis.linear import delay_jacobian_matrices, jacobian

    G = _graph()
    G.graph["activation"] = "linear"
    m = MultiRegionRNN.from_graph(G, seed=0, dtype=D)
    x0 = torch.randn(m.hidden_size, dtype=D, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        m.x0.copy_(x0)
        out = m(torch.zeros(1, 12, 2, dtype=D))
    J = delay_jacobian_matrices(m, x0)[0]
    L = m._delays.hh.max_delay
    assert J.shape == (m.hidden_size * (L + 1),) * 2
    z = x0.repeat(L + 1)  # the history before the trial is x0 throughout
    for t in range(12):
        z = J @ z
        torch.testing.assert_close(z[: m.hidden_size], out.states[0, t], rtol=1e-10, atol=1e-12)
    jac = jacobian(m, x0)
    assert jac.matrix.shape == (m.hidden_size,) * 2 and jac.delayed.shape == J.shape
    assert jac.eigenvalues.shape == (m.hidden_size * (L + 1),)


def test_fixed_points_do_not_move_with_delays():
    from mrnngraph import MultiRegionRNN
    from mrnngraph.analysis import find_fixed_points

    G = _graph()
    G.graph["activation"] = "linear"
    plain = MultiRegionRNN.from_graph(_graph(delays=False), seed=0, dtype=D, activation="linear")
    delayed = MultiRegionRNN.from_graph(G, seed=0, dtype=D)
    start = torch.randn(3, plain.hidden_size, dtype=D, generator=torch.Generator().manual_seed(0))
    a = find_fixed_points(plain, torch.ones(2, dtype=D), start)
    b = find_fixed_points(delayed, torch.ones(2, dtype=D), start)
    torch.testing.assert_close(a.points, b.points)
    L = delayed._delays.hh.max_delay
    assert a.eigenvalues.shape[1] == plain.hidden_size
    assert b.eigenvalues.shape[1] == plain.hidden_size * (L + 1)


@pytest.mark.parametrize(
    "per", [[[0, 1, 2], [2, 0, 1], [1, 2, 0]], [[0, 1, 1], [0, 1, 1], [2, 0, 0]]]
)
def test_one_bmm_into_the_result_and_the_scattered_groups_agree(per):
    # Equal regions with distinct delay rows and columns: one group of row (column) groups
    # in unit order, written straight into the result; else gathers and scatters.
    W, drive, x0, alpha, _ = _inputs(H=6, T=6, seed=6)
    delays = torch.tensor(per).repeat_interleave(2, 0).repeat_interleave(2, 1)
    op = DelayedDense(DelayPlan(delays))
    assert (op.fwd_whole, op.adj_whole) == ((True, True) if per[0] == [0, 1, 2] else (False, False))
    got = {}
    for method in ("reference", "fused"):
        s, r = _run(method, W, drive, x0, alpha, "tanh", delays)
        got[method] = (s, r, *torch.autograd.grad(s.sum() + r.square().sum(), (W, drive, x0)))
    for a, b in zip(got["fused"], got["reference"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(G=valid_graphs(max_regions=3, max_size=6), data=st.data())
def test_random_circuits_with_delays_fused_autograd_and_sparse_agree(G, data):
    from mrnngraph import MultiRegionRNN

    for _, _, attrs in G.edges(data=True):
        attrs["delay"] = 10.0 * data.draw(st.integers(0, 3))
    models = [
        MultiRegionRNN.from_graph(G, seed=0, dtype=D, dt=10.0, sparse=sparse, scan=scan)
        for sparse, scan in ((False, "auto"), (False, "autograd"), (True, "auto"))
    ]
    u = torch.randn(2, 6, models[0].input_size, dtype=D)
    got = []
    for m in models:
        out = m(u)
        loss = out.rates.square().sum() + out.outputs.sum() + out.states.sum()
        params = [p for p in m.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
        got.append((out.outputs, out.rates, out.states, grads))
    for a, b in zip(got[0][:3], got[1][:3], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    for a, b in zip(got[0][3], got[1][3], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    for a, b in zip(got[0][:3], got[2][:3], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_delayed_model_layouts_agree():
    from mrnngraph import MultiRegionRNN

    first = MultiRegionRNN.from_graph(_graph(), seed=0, dtype=D)
    time_first = MultiRegionRNN.from_graph(_graph(), seed=0, dtype=D, batch_first=False)
    u = torch.randn(2, 9, 2, dtype=D)
    out = first(u)
    out_t = time_first(u.transpose(0, 1))
    for a, b in zip(out, out_t, strict=True):
        torch.testing.assert_close(a, b.transpose(0, 1))
    single = first(u[0])
    for a, b in zip(out, single, strict=True):
        torch.testing.assert_close(a[0], b)


def test_a_hand_built_negative_delay_names_the_edge():
    import dataclasses

    from mrnngraph import MultiRegionRNN, compile

    circuit = compile(_graph(), seed=0)
    circuit.blocks[("a", "b")] = dataclasses.replace(circuit.blocks[("a", "b")], delay=-10.0)
    with pytest.raises(ValueError, match=r"edge \('a', 'b'\): delay must be >= 0 ms; got -10"):
        MultiRegionRNN(circuit)


@pytest.mark.parametrize("sparse", [False, True])
def test_signals_arrive_no_earlier_than_the_delays_before_and_after_training(sparse):
    import networkx as nx

    from mrnngraph import MultiRegionRNN

    G = nx.DiGraph(dt=10.0, tau=20.0, activation="tanh")
    G.add_node("u", kind="input", size=1)
    for n in "abc":
        G.add_node(n, size=4)
    G.add_node("y", kind="output", size=1)
    G.add_edges_from(
        [("u", "a", {"delay": 20.0}), ("a", "b", {"delay": 30.0}), ("b", "c", {"delay": 50.0})]
    )
    G.add_edges_from([("a", "a"), ("b", "b"), ("c", "c"), ("c", "a", {"delay": 10.0})])
    G.add_edge("c", "y", delay=20.0)
    m = MultiRegionRNN.from_graph(G, seed=0, dtype=D, sparse=sparse)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    pulse = torch.zeros(1, 20, 1, dtype=D)
    pulse[0, 0, 0] = 1.0
    g = torch.Generator().manual_seed(0)
    for round_ in range(4):
        with torch.no_grad():
            out = m(pulse)
        first = {
            n: int(m.region_activity(out.states, n)[0].abs().sum(-1).nonzero()[0]) for n in "abc"
        }
        # u -> a: 2 steps; a -> b: 3 more after a's first rate; b -> c: 5 more.
        assert first == {"a": 2, "b": 6, "c": 12}
        y = (out.outputs - m.bias_ho)[0, :, 0]
        assert int(y.nonzero()[0]) == 14 and bool((y[:14] == 0).all())
        if round_ < 3:  # a few training steps; the arrival times must not change
            opt.zero_grad()
            u = torch.randn(8, 20, 1, dtype=D, generator=g)
            m(u).outputs.square().mean().backward()
            opt.step()


@pytest.mark.parametrize("sparse", [False, True])
def test_zero_delay_model_is_the_forward_pass_before_delays_bit_for_bit(sparse):
    from torch.nn.utils import parametrize

    from mrnngraph import MultiRegionRNN

    m = MultiRegionRNN.from_graph(_graph(delays=False), seed=4, sparse=sparse)
    u = torch.randn(3, 10, 2, generator=torch.Generator().manual_seed(2))
    out = m(u)
    # The forward pass as it was written before delays existed.
    ut = u.transpose(0, 1)
    T, B, _ = ut.shape
    with parametrize.cached():
        w_hh = (
            m._constraint("weight_hh").blocks(m.parametrizations.weight_hh.original)
            if sparse
            else m.weight_hh
        )
        drive = torch.addmm(m.bias, ut.reshape(T * B, -1), m.weight_ih.t().contiguous())
        states, rates = leaky_scan(
            w_hh,
            drive.view(T, B, -1),
            m.x0.expand(B, -1),
            m.alpha,
            m.activation,
            return_rates=True,
        )
        outputs = torch.nn.functional.linear(rates, m.weight_ho, m.bias_ho)
    for a, b in zip(out, (outputs, rates, states), strict=True):
        assert torch.equal(a, b.transpose(0, 1))
