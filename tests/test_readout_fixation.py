"""The readout's two defaults that make "answer" activity, not silence: Dale's law on the
readout (``MultiRegionRNN(readout_sign=True)``) and the "fixate" output read from the
readout bias alone (``train(fixation_from_bias=True)``)."""

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.checkpoint import load_model, save_model
from mrnngraph.ensemble import Ensemble
from mrnngraph.tasks import ContextDependentIntegration, FlipFlop, PerceptualDecisionMaking
from mrnngraph.training import train

D = torch.float64
RAW = "parametrizations.weight_ho.original"


def readout_graph(exc_frac: float = 0.75, n_out: int = 3, inh_readout: bool = True):
    """A mixed E/I region, an inhibitory one, an unsigned one, all read out."""
    G = nx.DiGraph(name="readout", dt=20.0, tau=100.0)
    G.add_node("stim", kind="input", size=3)
    G.add_node("ctx", size=12, exc_frac=exc_frac)
    G.add_node("inh", size=4, sign="inh")
    G.add_node("free", size=5)
    G.add_node("choice", kind="output", size=n_out)
    G.add_edge("stim", "ctx")
    G.add_edge("ctx", "ctx", autapses=False)
    G.add_edge("ctx", "inh")
    G.add_edge("inh", "ctx")
    G.add_edge("ctx", "free")
    G.add_edge("free", "ctx")
    G.add_edge("ctx", "choice")
    G.add_edge("free", "choice")
    if inh_readout:
        G.add_edge("inh", "choice")
    return G


def _against_dale(w: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    s = sign.to(w.dtype).expand_as(w)
    return ((s > 0) & (w < 0)) | ((s < 0) & (w > 0))


# --------------------------------------------------------------------------- readout_sign
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), exc_frac=st.sampled_from([0.5, 0.75, 0.9]))
def test_the_readout_keeps_each_units_sign_from_the_start(seed, exc_frac):
    model = mg.MultiRegionRNN.from_graph(readout_graph(exc_frac), seed=seed, dtype=D)
    c, w = model.circuit, model.weight_ho.detach()
    assert not _against_dale(w, c.sign_h).any()
    # The compiled draw, with each signed unit's sign; unsigned units exactly as compiled.
    free = c.sign_h == 0
    torch.testing.assert_close(w.abs(), c.weight_ho.to(D).abs(), rtol=0, atol=0)
    assert torch.equal(w[:, free], c.weight_ho.to(D)[:, free])
    assert bool((w[:, c.sign_h < 0] < 0).any()) and bool((w[:, c.sign_h > 0] > 0).any())


def _descend(model, steps: int = 5, lr: float = 0.3) -> torch.Tensor:
    """A few SGD steps on a loss that pushes every readout weight around; returns it."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        u = torch.randn(4, 8, 3, generator=g, dtype=D)
        target = torch.randn(3, generator=g, dtype=D)
        loss = (model(u).outputs * target).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.weight_ho.detach()


def test_the_readout_stays_signed_under_training():
    G = readout_graph()
    signed = _descend(mg.MultiRegionRNN.from_graph(G, seed=3, dtype=D))
    free = _descend(mg.MultiRegionRNN.from_graph(G, seed=3, dtype=D, readout_sign=False))
    sign = mg.compile(G, seed=3).sign_h
    assert torch.isfinite(signed).all() and torch.isfinite(free).all()
    assert _against_dale(free, sign).any()  # the same steps cross zero when unconstrained
    assert not _against_dale(signed, sign).any()


def test_readout_sign_false_is_the_unconstrained_readout():
    G = readout_graph()
    off = mg.MultiRegionRNN.from_graph(G, seed=1, dtype=D, readout_sign=False)
    assert torch.equal(off.weight_ho.detach(), off.circuit.weight_ho.to(D))
    assert _against_dale(off.weight_ho.detach(), off.circuit.sign_h).any()
    assert off.options()["readout_sign"] is False and "readout_sign=False" in repr(off)
    on = mg.MultiRegionRNN.from_graph(G, seed=1, dtype=D)
    assert on.options()["readout_sign"] is True and "readout_sign" not in repr(on)
    # Only the readout differs: the same recurrence.
    u = torch.randn(2, 10, 3, dtype=D)
    assert torch.equal(on(u).rates, off(u).rates)


def test_readout_sign_must_be_a_bool():
    with pytest.raises(TypeError, match="readout_sign must be a bool; got int"):
        mg.MultiRegionRNN.from_graph(readout_graph(), seed=0, readout_sign=1)


def test_reset_parameters_restores_the_signed_readout():
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=2, dtype=D)
    first = model.weight_ho.detach().clone()
    with torch.no_grad():
        model.parametrizations.weight_ho.original.mul_(3.0)
    model.reset_parameters()
    assert torch.equal(model.weight_ho.detach(), first)


@pytest.mark.parametrize("readout_sign", [True, False])
def test_checkpoints_keep_the_readout_option(tmp_path, readout_sign):
    G = readout_graph()
    model = mg.MultiRegionRNN.from_graph(G, seed=4, readout_sign=readout_sign)
    save_model(model, tmp_path / "m.pt", graph=G)
    back = load_model(tmp_path / "m.pt")
    assert back.readout_sign is readout_sign
    assert torch.equal(back.weight_ho, model.weight_ho)


def test_a_checkpoint_from_before_the_option_loads_unsigned(tmp_path):
    """Written before readout_sign existed: no such model option, a readout against the
    units' signs. It loads as it was (readout_sign=False), not refused."""
    G = readout_graph()
    old = mg.MultiRegionRNN.from_graph(G, seed=5, readout_sign=False)
    save_model(old, tmp_path / "old.pt", graph=G)
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    del payload["model"]["readout_sign"], payload["checksum"]
    torch.save(payload, tmp_path / "old.pt")
    back = load_model(tmp_path / "old.pt")
    assert back.readout_sign is False
    assert torch.equal(back.weight_ho, old.weight_ho)


def test_an_ensemble_shares_the_option_and_keeps_each_members_signs():
    G = readout_graph()
    members = [mg.MultiRegionRNN.from_graph(G, seed=s, dtype=D) for s in (0, 1)]
    ens = Ensemble.from_models(members)
    assert ens.readout_sign is True
    for k, m in enumerate(members):
        assert torch.equal(ens.weight_ho[k], m.weight_ho)
    mixed = [members[0], mg.MultiRegionRNN.from_graph(G, seed=1, dtype=D, readout_sign=False)]
    with pytest.raises(ValueError, match="readout_sign"):
        Ensemble.from_models(mixed)


# --------------------------------------------------------------------------- fixation_from_bias
def _fixation_row(model) -> torch.Tensor:
    return model.weight_ho.detach()[..., 0, :]


def test_training_holds_the_fixation_readout_at_zero():
    task = PerceptualDecisionMaking(dt=20.0)
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0)
    other = model.weight_ho.detach()[1:].clone()
    train(model, task, steps=4, batch_size=8, seed=0, progress=False)
    assert bool((_fixation_row(model) == 0).all())
    assert not torch.equal(model.weight_ho.detach()[1:], other)  # the choices learn
    assert not bool((model.bias_ho.detach() == 0).all())
    # Nothing left behind: the hook that held the row is gone after the run.
    assert not model.parametrizations.weight_ho.original._backward_hooks
    # A second run holds it again (the row is zero), with the bias no longer fresh.
    train(model, task, steps=3, batch_size=8, seed=1, progress=False)
    assert bool((_fixation_row(model) == 0).all())


def test_the_fixation_readout_is_the_bias_alone_in_the_outputs():
    task = ContextDependentIntegration(dt=20.0)
    G = readout_graph()
    G.nodes["stim"]["size"] = task.input_size
    model = mg.MultiRegionRNN.from_graph(G, seed=1, dtype=D)
    train(model, task, steps=2, batch_size=8, seed=0, progress=False)
    out = model(task.batch(3, seed=2).inputs.to(D)).outputs
    assert torch.equal(out[..., 0], model.bias_ho.detach()[0].expand_as(out[..., 0]))


def test_without_it_or_without_a_fixation_output_the_readout_moves_freely():
    task = PerceptualDecisionMaking(dt=20.0)
    off = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0)
    row = _fixation_row(off).clone()
    train(off, task, steps=3, batch_size=8, seed=0, progress=False, fixation_from_bias=False)
    assert not torch.equal(_fixation_row(off), row) and bool(_fixation_row(off).ne(0).any())
    # FlipFlop is a regression task: no fixation output, nothing held.
    flip = FlipFlop(n_bits=3)
    assert flip.fixation_output is None
    G = readout_graph(n_out=3)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    row = _fixation_row(model).clone()
    train(model, flip, steps=3, batch_size=8, seed=0, progress=False)
    assert not torch.equal(_fixation_row(model), row)


def test_a_readout_that_learned_fixation_weights_is_left_alone():
    """A resumed model (trained with the option off: a non-zero bias and fixation
    weights) keeps its fixation readout and goes on learning it."""
    task = PerceptualDecisionMaking(dt=20.0)
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0)
    train(model, task, steps=3, batch_size=8, seed=0, progress=False, fixation_from_bias=False)
    row = _fixation_row(model).clone()
    assert bool(row.ne(0).any())
    train(model, task, steps=3, batch_size=8, seed=1, progress=False)
    assert bool(_fixation_row(model).ne(0).any()) and not torch.equal(_fixation_row(model), row)


def test_no_readout_bias_no_hold():
    task = PerceptualDecisionMaking(dt=20.0)
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0, readout_bias=False)
    row = _fixation_row(model).clone()
    train(model, task, steps=2, batch_size=8, seed=0, progress=False)
    assert not torch.equal(_fixation_row(model), row)


def test_fixation_from_bias_must_be_a_bool():
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0)
    with pytest.raises(TypeError, match="fixation_from_bias"):
        train(model, PerceptualDecisionMaking(), steps=1, fixation_from_bias="yes")


def test_an_ensemble_holds_each_fresh_member_and_equals_them_trained_alone():
    task = PerceptualDecisionMaking(dt=20.0)
    G = readout_graph()
    fresh = mg.MultiRegionRNN.from_graph(G, seed=0, dtype=D)
    resumed = mg.MultiRegionRNN.from_graph(G, seed=1, dtype=D)
    train(resumed, task, steps=2, batch_size=8, seed=5, progress=False, fixation_from_bias=False)
    ens = Ensemble.from_models([fresh, resumed])
    alone = [
        mg.MultiRegionRNN.from_graph(G, seed=0, dtype=D),
        mg.MultiRegionRNN.from_graph(G, seed=1, dtype=D),
    ]
    alone[1].load_state_dict(resumed.state_dict())
    train(ens, task, steps=3, batch_size=8, seed=0, progress=False)
    for m in alone:
        train(m, task, steps=3, batch_size=8, seed=0, progress=False)
    assert bool((ens.weight_ho.detach()[0, 0] == 0).all())
    assert bool(ens.weight_ho.detach()[1, 0].ne(0).any())
    for k, m in enumerate(alone):
        torch.testing.assert_close(ens.weight_ho[k], m.weight_ho, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ens.bias_ho[k], m.bias_ho, rtol=1e-12, atol=1e-12)
    assert not ens.parametrizations.weight_ho.original._backward_hooks


def test_tasks_name_their_fixation_output():
    assert PerceptualDecisionMaking().fixation_output == 0
    assert ContextDependentIntegration().fixation_output == 0
    assert PerceptualDecisionMaking().output_names[0] == "fixate"


def test_neurogym_environments_have_one_where_the_fixation_input_marks_the_go_cue():
    from mrnngraph.tasks import from_neurogym

    from .test_tasks import FakeBoxEnv, FakeEnv, _Box, _Discrete

    # FakeEnv: the fixation input is on exactly while the target is "fixation".
    assert from_neurogym(FakeEnv()).fixation_output == 0
    assert from_neurogym(FakeBoxEnv()).fixation_output is None  # regression
    unnamed = FakeEnv()
    unnamed.action_space = _Discrete(3)  # no "fixation" action named
    assert from_neurogym(unnamed).fixation_output is None
    no_input = FakeEnv()
    no_input.observation_space = _Box(3)  # no "fixation" input named
    assert from_neurogym(no_input).fixation_output is None

    class EarlyOff(FakeEnv):
        """The fixation input goes off before the go cue (as in neurogym's
        PerceptualDecisionMaking-v0): fixating is then not the absence of an answer."""

        def new_trial(self):
            info = super().new_trial()
            self.ob[1:, 0] = 0
            return info

    task = from_neurogym(EarlyOff())
    assert task.fixation_output is None
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0)
    row = _fixation_row(model).clone()
    train(model, task, steps=2, batch_size=4, seed=0, progress=False)
    assert not torch.equal(_fixation_row(model), row)  # read out freely


# --------------------------------------------------------------------------- lr_schedule
def _lrs_seen(schedule: str | None, steps: int = 6, lr: float = 0.02) -> tuple[list, float]:
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    seen = []
    kw = {} if schedule is None else {"lr_schedule": schedule}
    train(
        model,
        PerceptualDecisionMaking(dt=20.0),
        steps=steps,
        batch_size=4,
        seed=0,
        progress=False,
        optimizer=opt,
        callbacks=[lambda step, h, m: seen.append(opt.param_groups[0]["lr"])],
        **kw,
    )
    return seen, opt.param_groups[0]["lr"]


def test_the_learning_rate_is_annealed_by_default_and_put_back():
    import math

    seen, after = _lrs_seen(None)
    expected = [0.02 * (1 + math.cos(math.pi * (s - 1) / 6)) / 2 for s in range(1, 7)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert seen[0] == 0.02 and seen[-1] < 0.002
    assert after == 0.02  # the optimizer passed in is left as it came
    constant, after = _lrs_seen("constant")
    assert constant == [0.02] * 6 and after == 0.02


def test_lr_schedule_is_checked():
    model = mg.MultiRegionRNN.from_graph(readout_graph(), seed=0)
    with pytest.raises(ValueError, match="lr_schedule must be one of 'cosine', 'constant'"):
        train(model, PerceptualDecisionMaking(), steps=1, lr_schedule="linear")
    with pytest.raises(TypeError, match="lr_schedule must be a str"):
        train(model, PerceptualDecisionMaking(), steps=1, lr_schedule=None)


def test_constraint_violations_and_the_connectivity_matrix_know_the_readout_sign():
    from mrnngraph.drawing.matrix import connectivity_matrices
    from mrnngraph.training import constraint_violations

    G = readout_graph()
    G.edges["inh", "choice"]["trainable"] = False  # a frozen readout from I units
    on = mg.MultiRegionRNN.from_graph(G, seed=0)
    off = mg.MultiRegionRNN.from_graph(G, seed=0, readout_sign=False)
    clean = {"dale": 0, "mask": 0, "frozen": 0}
    assert constraint_violations(on) == clean and constraint_violations(off) == clean
    # A readout weight against its unit's sign counts, but only where the readout is signed.
    exc = int(torch.nonzero(on.circuit.sign_h > 0)[0])
    for m in (on, off):
        with torch.no_grad():
            raw = m.parametrizations.weight_ho.original
            raw.copy_(m.weight_ho)
        m.parametrizations.weight_ho[0].sign = None  # unconstrain, then write -1 there
        m.parametrizations.weight_ho[0]._all_signed = False
        with torch.no_grad():
            m.parametrizations.weight_ho.original[1, exc] = -1.0
    assert constraint_violations(on)["dale"] == 1 and constraint_violations(off)["dale"] == 0
    _, signed = connectivity_matrices(mg.MultiRegionRNN.from_graph(G, seed=0))
    _, free = connectivity_matrices(off)
    s = signed["ho"]["sign"]
    assert np.nanmax(s) == 1 and np.nanmin(s) == -1
    assert np.all(np.isnan(free["ho"]["sign"]) | (free["ho"]["sign"] == 0))
