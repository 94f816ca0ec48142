"""train(): the loss goes down, constraints hold at every step, divergence is caught."""

import json
import math

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.checkpoint import load_model
from mrnngraph.tasks import FlipFlop, PerceptualDecisionMaking
from mrnngraph.training import (
    History,
    RateL2,
    StopAt,
    TrainingDiverged,
    TrainingInterrupted,
    TrainingWarning,
    WeightL1,
    WeightL2,
    constraint_violations,
    evaluate,
    train,
)


def tiny_graph(n_in: int = 3, n_out: int = 3) -> nx.DiGraph:
    """Every constraint in a few units: Dale (mixed and single-sign regions, signed
    inputs), sparse masks, no autapses, a frozen projection and a zero one."""
    G = nx.DiGraph(name="tiny", dt=20.0, tau=100.0)
    G.add_node("stim", kind="input", size=n_in, sign="exc")
    G.add_node("ctx", size=16, exc_frac=0.75)
    G.add_node("str", size=6, sign="inh")
    G.add_node("thal", size=6, sign="exc", base_firing=0.2)
    G.add_node("choice", kind="output", size=n_out)
    G.add_edge("stim", "ctx", density=0.5)
    G.add_edge("ctx", "ctx", density=0.5, autapses=False)
    G.add_edge("ctx", "str", density=0.5, ei=["EI"])
    G.add_edge("str", "thal", density=0.5)
    G.add_edge("thal", "ctx", density=0.5, trainable=False)
    G.add_edge("str", "ctx", zero=True)
    G.add_edge("ctx", "choice", ei=["E"])
    return G


def tiny_model(seed: int = 0, **kw) -> mg.MultiRegionRNN:
    return mg.MultiRegionRNN.from_graph(tiny_graph(), seed=seed, **kw)


def assert_constraints(model: mg.MultiRegionRNN) -> None:
    """Checked directly on the effective weights, independently of constraint_violations."""
    c = model.circuit
    with torch.no_grad():
        w = model.weight_hh
        exc, inh = model.sign_h > 0, model.sign_h < 0
        assert bool((w[:, exc] >= 0).all()), "an excitatory column went negative"
        assert bool((w[:, inh] <= 0).all()), "an inhibitory column went positive"
        assert bool((w[~model.mask_hh] == 0).all()), "a synapse appeared outside the mask"
        assert bool((model.weight_ih[:, model.sign_i > 0] >= 0).all())
        assert bool((model.weight_ih[~model.mask_ih] == 0).all())
        assert bool((model.weight_ho[~model.mask_ho] == 0).all())
        lay = c.layout
        frozen = w[lay.slice("ctx"), lay.slice("thal")]
        assert torch.equal(frozen, c.connection("thal", "ctx").weight)
        assert bool((w[lay.slice("ctx"), lay.slice("str")] == 0).all()), "zero edge moved"
        ctx = lay.slice("ctx")
        assert bool((torch.diagonal(w[ctx, ctx]) == 0).all()), "an autapse appeared"


# --------------------------------------------------------------------------- learning
def test_training_lowers_the_loss():
    model = tiny_model()
    task = PerceptualDecisionMaking(stimulus=200, delay=0, decision=100)
    before = evaluate(model, task, batch_size=200, seed=99)["loss"]
    history = train(model, task, steps=40, lr=1e-2, batch_size=16, seed=0, progress=False)
    after = evaluate(model, task, batch_size=200, seed=99)["loss"]
    assert after < 0.6 * before
    assert len(history) == 40 and history.step == list(range(1, 41))
    assert sum(history.loss[-5:]) < sum(history.loss[:5])


def test_training_regression_task():
    model = tiny_model()
    task = FlipFlop(duration=400)
    before = evaluate(model, task, batch_size=64, seed=99)["loss"]
    history = train(model, task, steps=15, lr=1e-2, batch_size=8, seed=0, progress=False)
    assert evaluate(model, task, batch_size=64, seed=99)["loss"] < before
    assert all(0 <= a <= 1 for a in history.accuracy if not math.isnan(a))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 1000), lr=st.sampled_from([1e-3, 0.05, 0.5]))
def test_constraints_hold_after_training(seed, lr):
    model = tiny_model(seed)
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)
    train(model, task, steps=3, lr=lr, batch_size=4, seed=seed, progress=False, clip_grad=None)
    assert_constraints(model)
    assert constraint_violations(model) == {"dale": 0, "mask": 0, "frozen": 0}


def test_constraints_hold_at_every_step():
    seen = []

    def check(step, history, model):
        assert_constraints(model)
        seen.append(step)

    train(
        tiny_model(),
        PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
        steps=5,
        lr=0.3,
        batch_size=4,
        seed=0,
        progress=False,
        callbacks=[check],
    )
    assert seen == [1, 2, 3, 4, 5]


def test_constraint_violations_detects_broken_weights():
    model = tiny_model()
    lay = model.layout
    broken = model.weight_hh.detach().clone()
    e = lay.exc_slice("ctx").start
    broken[0, e] = -1.0  # excitatory column negative
    broken[lay.slice("ctx"), lay.slice("str")] = 0.5  # outside the mask, and wrong sign
    broken[lay.slice("ctx").start, lay.slice("thal").start] += 1.0  # frozen changed

    class Fake:
        circuit, sign_h, sign_i = model.circuit, model.sign_h, model.sign_i
        mask_hh, mask_ih, mask_ho = model.mask_hh, model.mask_ih, model.mask_ho
        weight_hh, weight_ih, weight_ho = broken, model.weight_ih, model.weight_ho

    v = constraint_violations(Fake())
    n = 16 * 6
    assert v["mask"] >= n and v["dale"] >= 1 + n and v["frozen"] >= n


def test_constraint_violations_checks_the_circuit_not_the_buffers():
    """Weights that follow a tampered mask buffer still break the circuit's mask."""
    model = tiny_model()
    assert constraint_violations(model) == {"dale": 0, "mask": 0, "frozen": 0}
    con = model._constraint("weight_hh")
    with torch.no_grad():
        con.mask.fill_(True)
        model.parametrizations.weight_hh.original.fill_(0.1)
    v = constraint_violations(model)
    assert v["mask"] > 0


def test_same_seed_same_run():
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)
    runs = []
    for _ in range(2):
        m = tiny_model(noise_std=0.05)
        h = train(m, task, steps=4, lr=1e-2, batch_size=4, seed=7, progress=False)
        runs.append((h.loss, m.parametrizations.weight_hh.original.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    h = train(tiny_model(), task, steps=1, batch_size=2, progress=False)
    assert isinstance(h.seed, int)


def test_time_first_models_train():
    model = tiny_model(batch_first=False)
    h = train(
        model,
        PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
        steps=2,
        batch_size=4,
        seed=0,
        progress=False,
        losses=[RateL2(1e-3)],
    )
    assert len(h) == 2 and h.terms["rate_l2"][0] > 0


class PlainRNN(torch.nn.Module):
    """Any module whose forward returns the outputs tensor trains too."""

    def __init__(self, batch_first: bool):
        super().__init__()
        self.batch_first = batch_first
        self.rnn = torch.nn.GRU(3, 8, batch_first=batch_first)
        self.readout = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.readout(self.rnn(x)[0])


@pytest.mark.parametrize("batch_first", [True, False])
def test_plain_modules_train(batch_first):
    torch.manual_seed(0)
    model = PlainRNN(batch_first)
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)
    before = evaluate(model, task, batch_size=64, seed=1)["loss"]
    h = train(model, task, steps=15, lr=1e-2, batch_size=8, seed=0, progress=False)
    assert len(h) == 15 and evaluate(model, task, batch_size=64, seed=1)["loss"] < before


# --------------------------------------------------------------------------- losses, history
def test_regularisers_match_their_definitions():
    model = tiny_model()
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40, grace=0)
    b = task.batch(4, seed=0)  # every step counted (RateL2 averages over counted steps)
    out = model(b.inputs)
    r = model.region_activity(out.rates, "ctx")
    torch.testing.assert_close(RateL2(2.0, regions=["ctx"])(model, out, b), 2.0 * r.pow(2).mean())
    w = model.weight_hh
    n = model.mask_hh.sum()
    torch.testing.assert_close(WeightL1(0.5)(model, out, b), 0.5 * w.abs().sum() / n)
    torch.testing.assert_close(WeightL2(0.5, which=["hh"])(model, out, b), 0.5 * w.pow(2).sum() / n)
    assert WeightL2(1.0, which=("hh", "ih")).name == "weight_l2[hh,ih]"
    with pytest.raises(ValueError):
        WeightL1(1.0, which="xx")
    with pytest.raises(ValueError):
        RateL2(-1.0)


def test_regularisers_are_recorded_and_act():
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)
    plain, reg = tiny_model(), tiny_model()
    train(plain, task, steps=10, lr=2e-2, batch_size=8, seed=0, progress=False)
    h = train(
        reg,
        task,
        steps=10,
        lr=2e-2,
        batch_size=8,
        seed=0,
        progress=False,
        losses=[RateL2(10.0, regions="ctx"), WeightL2(10.0)],
    )
    assert set(h.terms) == {"rate_l2[ctx]", "weight_l2[hh]"}
    assert all(len(v) == 10 for v in h.terms.values())
    total = [t + a + b for t, a, b in zip(h.task_loss, *h.terms.values(), strict=True)]
    assert h.loss == pytest.approx(total, rel=1e-5)
    b = task.batch(64, seed=5)
    with torch.no_grad():
        rate = {
            name: float(m.region_activity(m(b.inputs).rates, "ctx").pow(2).mean())
            for name, m in (("plain", plain), ("reg", reg))
        }
    assert rate["reg"] < rate["plain"]


def test_history_evals_and_json():
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)
    h = train(
        tiny_model(),
        task,
        steps=4,
        batch_size=4,
        seed=0,
        progress=False,
        eval_every=2,
        eval_batch_size=20,
    )
    assert [e["step"] for e in h.evals] == [2, 4]
    assert h.evals[0]["n_trials"] == 20 and "accuracy_by_coherence" in h.evals[0]
    d = json.loads(json.dumps(h.to_dict()))
    assert d["step"] == [1, 2, 3, 4] and h.seconds > 0
    assert History(accuracy=[math.nan]).to_dict()["accuracy"] == [None]


def test_callbacks_stop_early():
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)
    h = train(
        tiny_model(),
        task,
        steps=50,
        batch_size=4,
        seed=0,
        progress=False,
        callbacks=[lambda step, history, model: step == 3],
    )
    assert len(h) == 3 and h.stopped_early
    h = train(
        tiny_model(),
        task,
        steps=5,
        batch_size=4,
        seed=0,
        progress=False,
        callbacks=[StopAt(-1.0, window=2)],
        eval_every=100,
        eval_batch_size=10,
    )
    assert len(h) == 2 and [e["step"] for e in h.evals] == [2]


def test_custom_optimizer_is_used():
    model = tiny_model()
    before = model.weight_hh.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    train(
        model,
        PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
        steps=2,
        batch_size=4,
        seed=0,
        progress=False,
        optimizer=opt,
    )
    assert torch.equal(model.weight_hh, before)


def test_progress_bar(capsys):
    train(
        tiny_model(),
        PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
        steps=2,
        batch_size=2,
        seed=0,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "train perceptual_decision_making" in err and "loss=" in err
    train(
        tiny_model(),
        PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
        steps=2,
        batch_size=2,
        seed=0,
        progress=False,
    )
    assert capsys.readouterr() == ("", "")


# --------------------------------------------------------------------------- divergence
class NanAt:
    """A loss term whose value becomes NaN from the given call on."""

    name = "nan_at"

    def __init__(self, step: int):
        self.step, self.calls = step, 0

    def __call__(self, model, out, batch):
        self.calls += 1
        value = out.outputs.sum() * 0
        return value + (math.nan if self.calls >= self.step else 0.0)


def test_nan_loss_stops_and_keeps_the_last_good_parameters(tmp_path):
    model = tiny_model()
    snapshots = {}

    def snap(step, history, m):
        snapshots[step] = m.parametrizations.weight_hh.original.detach().clone()

    ckpt = tmp_path / "last_good.pt"
    with pytest.raises(TrainingDiverged, match="at step 4") as info:
        train(
            model,
            PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
            steps=10,
            lr=0.05,
            batch_size=4,
            seed=0,
            progress=False,
            losses=[NanAt(4)],
            callbacks=[snap],
            checkpoint=ckpt,
        )
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert err.step == 4 and err.what == "loss" and err.good_step == 3
    assert len(err.history) == 3
    # The parameters used at step 3 are those after step 2's update.
    assert torch.equal(model.parametrizations.weight_hh.original, snapshots[2])
    assert str(ckpt) in str(err)
    loaded = load_model(ckpt)
    assert torch.equal(loaded.weight_hh, model.weight_hh)


def test_nan_gradient_is_caught():
    def bad_grad(model, out, batch):
        return (model.weight_hh.sum() * 0).sqrt()  # value 0, gradient NaN

    model = tiny_model()
    before = model.weight_hh.detach().clone()
    with pytest.raises(TrainingDiverged, match="gradient") as info:
        train(
            model,
            PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
            steps=3,
            batch_size=2,
            seed=0,
            progress=False,
            losses=[bad_grad],
        )
    assert info.value.step == 1 and info.value.good_step == 0
    assert torch.equal(model.weight_hh, before)


# --------------------------------------------------------------------------- argument checks
def test_rejects_mismatched_sizes_and_bad_options():
    model = mg.MultiRegionRNN.from_graph(tiny_graph(n_in=2), seed=0)
    with pytest.raises(ValueError, match="input_size is 2 but task"):
        train(model, PerceptualDecisionMaking(), steps=1, progress=False)
    model = tiny_model()
    task = PerceptualDecisionMaking()
    for kwargs, err in [
        ({"steps": -1}, ValueError),
        ({"steps": 1.5}, TypeError),
        ({"steps": 1, "lr": 0}, ValueError),
        ({"steps": 1, "batch_size": 0}, ValueError),
        ({"steps": 1, "clip_grad": -1.0}, ValueError),
        ({"steps": 1, "losses": [3]}, TypeError),
    ]:
        with pytest.raises(err):
            train(model, task, progress=False, **kwargs)
    with pytest.raises(TypeError):
        train(model, "pdm", steps=1)
    with pytest.raises(RuntimeError, match="torchrun"):
        train(model, task, steps=1, progress=False, distributed=True)
    for bad in (0, 1.5, True):
        with pytest.raises((TypeError, ValueError), match="health_every"):
            train(model, task, steps=1, progress=False, health_every=bad)
    for bad, err in ((math.nan, ValueError), (math.inf, ValueError), (0.0, ValueError)) + (
        (True, TypeError),  # a bool is not a number
    ):
        with pytest.raises(err, match="clip_grad"):
            train(model, task, steps=1, progress=False, clip_grad=bad)


# --------------------------------------------------------------------------- silent failures
SHORT = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)


def dead_end_graph(activation: str = "relu") -> nx.DiGraph:
    """The readout area ``late`` gets no input at all: silent under relu, so the outputs
    are the readout bias whatever the trial."""
    G = nx.DiGraph(name="dead_end", dt=20.0, tau=100.0, activation=activation)
    G.add_node("stim", kind="input", size=3)
    G.add_node("early", size=8, exc_frac=0.75)
    G.add_node("late", size=4, sign="exc")
    G.add_node("choice", kind="output", size=3)
    G.add_edge("stim", "early")
    G.add_edge("early", "early", density=0.5)
    G.add_edge("late", "choice")
    return G


def test_silent_region_and_input_independent_outputs_are_reported():
    model = mg.MultiRegionRNN.from_graph(dead_end_graph(), seed=0)
    with pytest.warns(TrainingWarning) as caught:
        h = train(model, SHORT, steps=6, batch_size=4, seed=0, progress=False, health_every=3)
    kinds = {(e["kind"], e["region"]) for e in h.health}
    assert kinds == {("silent_region", "late"), ("input_independent_outputs", None)}
    silent = [e for e in h.health if e["kind"] == "silent_region"][0]
    assert (silent["step"], silent["last_step"], silent["checks"]) == (3, 6, 2)
    # Once per kind and region, naming the region.
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and any("'late'" in m for m in messages)
    assert all(w.filename == __file__ for w in caught)  # points at the caller's train(...)
    assert json.loads(json.dumps(h.to_dict()))["health"] == h.health


def test_health_checks_stay_quiet_on_a_healthy_run(recwarn):
    h = train(tiny_model(), SHORT, steps=8, batch_size=8, seed=0, progress=False, health_every=2)
    assert h.health == [] and not [w for w in recwarn if w.category is TrainingWarning]
    h = train(tiny_model(), SHORT, steps=4, batch_size=8, seed=0, progress=False, health_every=None)
    assert h.health == []


def test_saturated_region_is_reported():
    G = dead_end_graph("tanh")
    G.edges["stim", "early"]["gain"] = 1e4
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=20, sigma=0.0)
    with pytest.warns(TrainingWarning) as caught:
        h = train(model, task, steps=2, batch_size=4, seed=0, progress=False, health_every=1)
    assert any("'early'" in str(w.message) and "bound" in str(w.message) for w in caught)
    assert ("saturated_region", "early") in {(e["kind"], e["region"]) for e in h.health}


def test_a_loss_that_does_not_move_is_reported(capsys):
    model = mg.MultiRegionRNN.from_graph(dead_end_graph(), seed=0, readout_bias=False)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)
    with pytest.warns(TrainingWarning) as caught:
        h = train(
            model,
            SHORT,
            steps=100,
            batch_size=2,
            seed=0,
            optimizer=frozen,
            progress=True,
            health_every=50,
        )
    assert any("has not moved over 100 steps" in str(w.message) for w in caught)
    stalled = [e for e in h.health if e["kind"] == "loss_stalled"]
    assert len(stalled) == 1 and stalled[0]["step"] == 100
    assert "health=late silent" in capsys.readouterr().err  # in the progress bar


# --------------------------------------------------------------------------- interrupts
#: An interrupted run against a shorter one: at a constant lr, since a 10-step cosine
#: schedule's first steps are not a 3-step one's.
_CUT = dict(batch_size=4, seed=0, progress=False, lr_schedule="constant")


def test_ctrl_c_keeps_the_completed_steps():
    def interrupt_at_3(step, history, model):
        if step == 3:
            raise KeyboardInterrupt

    model, again = tiny_model(), tiny_model()
    with pytest.raises(TrainingInterrupted) as info:
        train(model, SHORT, steps=10, callbacks=[interrupt_at_3], **_CUT)
    err = info.value
    assert isinstance(err, KeyboardInterrupt) and err.step == 3
    assert err.history.interrupted and err.history.step == [1, 2, 3]
    assert len(err.history.loss) == len(err.history.grad_norm) == 3
    train(again, SHORT, steps=3, **_CUT)
    assert torch.equal(model.weight_hh, again.weight_hh)


def test_ctrl_c_inside_the_update_undoes_that_step():
    model, again = tiny_model(), tiny_model()

    class CutShort(torch.optim.Adam):
        calls = 0

        def step(self, closure=None):
            CutShort.calls += 1
            if CutShort.calls == 3:
                with torch.no_grad():
                    for p in model.parameters():
                        p.add_(1.0)  # half an update, then Ctrl-C
                raise KeyboardInterrupt
            return super().step(closure)

    with pytest.raises(TrainingInterrupted) as info:
        opt = CutShort(model.parameters(), lr=1e-3)
        train(model, SHORT, steps=10, lr=1e-3, optimizer=opt, **_CUT)
    assert info.value.step == 2 and info.value.history.step == [1, 2]
    train(again, SHORT, steps=2, lr=1e-3, **_CUT)
    assert torch.equal(model.weight_hh, again.weight_hh)


# --------------------------------------------------------------------------- readout bias init
def _weighted_class_freq(task, n=256):
    b = task.batch(n, seed=0)
    w = b.mask.double()
    c = torch.stack([(w * (b.targets == k)).sum() for k in range(task.output_size)])
    return c / c.sum()


def test_an_untouched_readout_bias_starts_at_the_log_class_frequencies():
    task = PerceptualDecisionMaking()
    model = mg.MultiRegionRNN.from_graph(tiny_graph(), seed=0)
    assert bool((model.bias_ho == 0).all())
    before = {k: v.clone() for k, v in model.state_dict().items() if k != "bias_ho"}
    train(model, task, steps=0, progress=False, seed=0)
    freq = _weighted_class_freq(task)
    # softmax(bias) is the loss-weighted class frequency: the best constant output.
    assert torch.allclose(torch.softmax(model.bias_ho.detach().double(), 0), freq, atol=1e-6)
    assert abs(float(model.bias_ho.detach().sum())) < 1e-5  # centred
    assert int(model.bias_ho.argmax()) == 0  # a silent network fixates
    after = model.state_dict()
    # Nothing else moved but the "fixate" output's readout weights (fixation_from_bias).
    raw = "parametrizations.weight_ho.original"
    assert all(torch.equal(v, after[k]) for k, v in before.items() if k != raw)
    assert bool((after[raw][0] == 0).all()) and torch.equal(after[raw][1:], before[raw][1:])


def test_readout_bias_init_leaves_other_biases_alone():
    task = PerceptualDecisionMaking()
    off = mg.MultiRegionRNN.from_graph(tiny_graph(), seed=0)
    train(off, task, steps=0, progress=False, seed=0, init_readout_bias=False)
    assert bool((off.bias_ho == 0).all())
    resumed = mg.MultiRegionRNN.from_graph(tiny_graph(), seed=0)
    with torch.no_grad():
        resumed.bias_ho.copy_(torch.tensor([0.0, 0.5, 0.0]))
    train(resumed, task, steps=0, progress=False, seed=0)
    assert resumed.bias_ho.tolist() == [0.0, 0.5, 0.0]
    flip = FlipFlop(n_bits=2, duration=200.0)  # regression: no class frequencies
    reg = mg.MultiRegionRNN.from_graph(tiny_graph(n_in=2, n_out=2), seed=0)
    train(reg, flip, steps=0, progress=False, seed=0)
    assert bool((reg.bias_ho == 0).all())
    with pytest.raises(TypeError, match="init_readout_bias"):
        train(off, task, steps=0, progress=False, init_readout_bias=1)


def test_readout_bias_init_keeps_the_training_batches():
    """The init draws its own batch: the run's batches (and so its seed) are unchanged."""
    task = PerceptualDecisionMaking()
    seen = {}
    for flag in (True, False):
        model = mg.MultiRegionRNN.from_graph(tiny_graph(), seed=0)
        batches = []
        orig = task._generate

        def spy(batch_size, g, orig=orig, batches=batches):
            b = orig(batch_size, g)
            batches.append(b.inputs.clone())
            return b

        task._generate = spy
        try:
            train(
                model, task, steps=2, batch_size=4, progress=False, seed=3, init_readout_bias=flag
            )
        finally:
            del task._generate
        seen[flag] = batches[-2:]
    assert all(torch.equal(a, b) for a, b in zip(seen[True], seen[False], strict=True))
