"""Tasks: shapes, timing, seeding, the correct-answer metric and the neurogym adapter."""

import math
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mrnngraph.tasks import (
    ContextDependentIntegration,
    FlipFlop,
    PerceptualDecisionMaking,
    from_neurogym,
    get_task,
)


# --------------------------------------------------------------------------- a fake neurogym env
class _Box:
    def __init__(self, n, name=None):
        self.shape = (n,)
        if name is not None:
            self.name = name


class _Discrete:
    def __init__(self, n, name=None):
        self.n = n
        if name is not None:
            self.name = name


class FakeEnv:
    """Duck-typed like neurogym's TrialEnv: spaces, dt, seed(), new_trial() setting ob/gt.

    A fixation period of 2 steps, a cue of 1-3 steps on channel 1 or 2, a decision of 2 steps.
    """

    def __init__(self, dt=100):
        self.dt = dt
        self.observation_space = _Box(3, name={"fixation": 0, "stimulus": [1, 2]})
        self.action_space = _Discrete(3, name={"fixation": 0, "choice": [1, 2]})
        self.rng = np.random.RandomState(0)

    def seed(self, seed):
        self.rng = np.random.RandomState(seed)

    def new_trial(self):
        side = int(self.rng.randint(1, 3))
        n_cue = int(self.rng.randint(1, 4))
        T_ = 2 + n_cue + 2
        ob = np.zeros((T_, 3), dtype=np.float32)
        ob[: 2 + n_cue, 0] = 1
        ob[2 : 2 + n_cue, side] = 1
        gt = np.zeros(T_, dtype=np.int64)
        gt[-2:] = side
        self.ob, self.gt = ob, gt
        return {"ground_truth": side, "n_cue": n_cue, "label": "not a number"}


class FakeBoxEnv(FakeEnv):
    """A regression environment (Box action space)."""

    def __init__(self):
        super().__init__(dt=50)
        self.action_space = _Box(2)

    def new_trial(self):
        v = self.rng.uniform(-1, 1, size=2)
        self.ob = np.tile(np.r_[1.0, v], (4, 1))
        self.gt = np.tile(v, (4, 1))
        return {"a": float(v[0])}


ALL_TASKS = [
    PerceptualDecisionMaking(),
    ContextDependentIntegration(),
    FlipFlop(),
    from_neurogym(FakeEnv()),
]


# --------------------------------------------------------------------------- shapes, seeding
@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: t.name)
def test_shapes_and_dtypes(task):
    x, y, m = b = task.batch(7, seed=0)
    assert x.shape[0] == y.shape[0] == m.shape[0] == 7
    assert x.shape[-1] == task.input_size and m.shape == x.shape[:2]
    if task.kind == "classification":
        assert y.dtype == torch.long and y.shape == x.shape[:2]
        assert int(y.max()) < task.output_size and int(y.min()) >= 0
    else:
        assert y.shape == (*x.shape[:2], task.output_size)
    assert len(task.input_names) == task.input_size
    assert len(task.output_names) == task.output_size
    for v in b.trials.values():
        assert v.shape[0] == 7


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: t.name)
def test_seeding(task):
    a, b, c = task.batch(5, seed=1), task.batch(5, seed=1), task.batch(5, seed=2)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    g = torch.Generator().manual_seed(1)
    first, second = task.batch(5, generator=g), task.batch(5, generator=g)
    assert not torch.equal(first.inputs, second.inputs)


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: t.name)
def test_trivially_correct_policy_scores_100_percent(task):
    b = task.batch(64, seed=3)
    best = task.optimal_outputs(b)
    assert task.accuracy(best, b) == 1.0
    assert float(task.loss(best, b)) < float(task.loss(torch.zeros_like(best), b))


@pytest.mark.parametrize("task", ALL_TASKS[:2] + ALL_TASKS[3:], ids=lambda t: t.name)
def test_wrong_answers_score_zero(task):
    b = task.batch(32, seed=4)
    y = b.targets.clone()
    y[y != 0] = 3 - y[y != 0]  # swap the two choices
    wrong = torch.nn.functional.one_hot(y, task.output_size).float()
    assert task.accuracy(wrong, b) == 0.0


def test_flip_flop_wrong_sign_scores_zero():
    task = FlipFlop()
    b = task.batch(8, seed=0)
    assert task.accuracy(-b.targets, b) == 0.0


def test_batch_unpacks_and_moves():
    b = PerceptualDecisionMaking().batch(3, seed=0)
    x, y, m = b
    assert len(b) == 3 and x is b.inputs
    sub = b.select(slice(0, 2))
    assert sub.batch_size == 2 and sub.trials["choice"].shape == (2,)
    assert b.to("cpu").inputs.device.type == "cpu" and b.to(None) is b


# --------------------------------------------------------------------------- PDM
def test_pdm_timing_in_steps():
    task = PerceptualDecisionMaking(dt=20, fixation=100, stimulus=800, delay=200, decision=200)
    x, y, m = b = task.batch(16, seed=0)
    assert task.n_steps == 65 == x.shape[1]  # (100 + 800 + 200 + 200) / 20
    go = 5 + 40 + 10
    assert bool((x[:, :go, 0] == 1).all()) and bool((x[:, go:, 0] == 0).all())
    ev = x[:, :, 1:]
    assert bool((ev[:, :5] == 0).all()) and bool((ev[:, 45:] == 0).all())
    assert bool((ev[:, 5:45] != 0).all())
    assert bool((y[:, :go] == 0).all())
    assert bool((y[:, go:] == b.trials["choice"][:, None]).all())
    assert torch.equal(b.trials["decision_mask"][:, go:], torch.ones(16, 10))
    # Loss weights: 1, except the 100 ms grace period at the start of the decision.
    assert bool((m[:, :go] == 1).all()) and bool((m[:, go + 5 :] == 1).all())
    assert bool((m[:, go : go + 5] == 0).all())


def test_pdm_coherence_set_and_evidence_means():
    task = PerceptualDecisionMaking(sigma=0.0)
    b = task.batch(600, seed=0)
    assert set(b.trials["coherence"].tolist()) == {0.0, 3.2, 6.4, 12.8, 25.6, 51.2}
    assert set(b.trials["choice"].tolist()) == {1, 2}
    stim = b.inputs[:, 10]  # a stimulus step
    c = b.trials["coherence"] / 100
    right = torch.where(b.trials["choice"] == 1, stim[:, 1] - stim[:, 2], stim[:, 2] - stim[:, 1])
    torch.testing.assert_close(right, c.float())
    torch.testing.assert_close(stim[:, 1] + stim[:, 2], torch.ones(600))


def test_pdm_noise_scale_follows_neurogym():
    task = PerceptualDecisionMaking(dt=10, sigma=1.0, coherences=[0])
    b = task.batch(200, seed=0)
    stim = b.inputs[:, 10:90, 1]
    assert abs(float(stim.std()) - 1 / math.sqrt(10)) < 0.01


def test_pdm_variable_epochs_are_padded_with_zero_mask():
    task = PerceptualDecisionMaking(
        dt=20, fixation=0, stimulus=(200, 400), delay=(0, 100), decision=100
    )
    assert task.n_steps == 20 + 5 + 5
    b = task.batch(200, seed=1)
    lengths = ((b.mask > 0) | (b.trials["decision_mask"] > 0)).sum(1)  # grace: mask 0
    assert int(lengths.min()) >= 10 + 0 + 5 and int(lengths.max()) <= 30
    assert len(set(lengths.tolist())) > 5
    assert float(b.inputs[b.mask == 0].abs().sum()) == 0.0
    assert bool((b.trials["decision_mask"].sum(1) == 5).all())
    best = task.optimal_outputs(b)
    assert task.accuracy(best, b) == 1.0


def test_pdm_metrics_and_psychometric():
    task = PerceptualDecisionMaking()
    b = task.batch(300, seed=0)
    m = task.metrics(task.optimal_outputs(b), b)
    assert m["accuracy"] == 1.0 and m["accuracy_coherence_ge_12.8"] == 1.0
    assert m["fixation_breaks"] == 0.0
    assert set(m["accuracy_by_coherence"]) == {"0", "3.2", "6.4", "12.8", "25.6", "51.2"}
    curve = task.psychometric(task.optimal_outputs(b), b)
    assert int(curve.n_trials.sum()) == int(curve.n_answered.sum()) == 300


def test_pdm_answering_fixate_is_wrong():
    task = PerceptualDecisionMaking()
    b = task.batch(10, seed=0)
    fix = torch.zeros(10, task.n_steps, 3)
    fix[..., 0] = 5
    assert task.accuracy(fix, b) == 0.0
    assert task.metrics(fix, b)["fixation_breaks"] == 0.0


def test_pdm_decision_weight():
    b = PerceptualDecisionMaking(decision_weight=5.0, grace=0).batch(2, seed=0)
    assert set(b.mask.unique().tolist()) == {1.0, 5.0}
    assert torch.equal(b.mask == 5.0, b.trials["decision_mask"] > 0)


def test_ideal_observer():
    task = PerceptualDecisionMaking()
    acc = task.ideal_accuracy(np.array([0, 3.2, 6.4, 12.8, 25.6, 51.2]))
    assert acc[0] == 0.5 and bool(np.all(np.diff(acc) > 0)) and acc[-1] > 0.999
    assert PerceptualDecisionMaking(sigma=0).ideal_accuracy([0, 3.2]).tolist() == [0.5, 1.0]
    ranged = PerceptualDecisionMaking(stimulus=(400, 800)).ideal_accuracy(6.4)
    assert (
        task.ideal_accuracy(6.4)
        > ranged
        > PerceptualDecisionMaking(stimulus=400).ideal_accuracy(6.4)
    )


# --------------------------------------------------------------------------- Mante
def test_context_dependent_integration():
    task = ContextDependentIntegration(sigma=0.0)
    x, y, m = b = task.batch(400, seed=0)
    tr = b.trials
    assert task.n_steps == 15 + 38 + 15 + 10  # 750 ms is 37.5 steps: rounded half up
    relevant = torch.where(tr["context"] == 0, tr["motion_coherence"], tr["color_coherence"])
    assert torch.equal(tr["choice"], torch.where(relevant > 0, 1, 2))
    assert torch.equal(x[:, 20, 3], (tr["context"] == 0).float())  # cue held all trial
    torch.testing.assert_close(x[:, 20, 1], (tr["motion_coherence"] / 100).float())
    torch.testing.assert_close(x[:, 20, 2], (tr["color_coherence"] / 100).float())
    assert bool((x[:, :15, 1:3] == 0).all())  # no dots during fixation
    agree = torch.sign(tr["motion_coherence"]) == torch.sign(tr["color_coherence"])
    assert 0.35 < float(agree.float().mean()) < 0.65
    metrics = task.metrics(task.optimal_outputs(b), b)
    assert metrics["accuracy_context_motion"] == metrics["accuracy_context_color"] == 1.0


def test_context_policy_that_ignores_context_is_at_chance():
    task = ContextDependentIntegration(sigma=0.0)
    b = task.batch(2000, seed=0)
    motion_only = torch.where(b.trials["motion_coherence"] > 0, 1, 2)
    y = torch.where(b.trials["decision_mask"] > 0, motion_only[:, None], 0)
    acc = task.accuracy(torch.nn.functional.one_hot(y, 3).float(), b)
    assert 0.7 < acc < 0.8  # right in the motion context, right half the time in color


# --------------------------------------------------------------------------- flip-flop
@given(seed=st.integers(0, 2**31), bits=st.integers(1, 4))
def test_flip_flop_targets_hold_the_last_pulse(seed, bits):
    task = FlipFlop(n_bits=bits, pulse=40.0)
    x, y, m = task.batch(3, seed=seed)
    assert x.shape == (3, 100, bits)
    last = torch.zeros(3, bits)
    for t in range(x.shape[1]):
        last = torch.where(x[:, t] != 0, x[:, t], last)
        assert torch.equal(y[:, t], last)


def test_flip_flop_timing():
    task = FlipFlop(dt=10, duration=1000, pulse=30, pulse_rate=5, settle=50)
    b = task.batch(50, seed=0)
    assert b.inputs.shape == (50, 100, 3)
    assert set(b.inputs.unique().tolist()) <= {-1.0, 0.0, 1.0}
    rate = float(b.trials["n_pulses"].sum()) / (50 * 3 * 1.0)  # pulses per second per bit
    assert 3.5 < rate < 6.5
    # pulses last 3 steps unless a new one starts on the same channel
    on = (b.inputs != 0).float()
    starts = on[:, 1:] > on[:, :-1]
    assert starts.any()


# --------------------------------------------------------------------------- neurogym
def test_from_neurogym_batches_trials_first_dimension():
    task = from_neurogym(FakeEnv(), seq_len=None)
    assert (task.input_size, task.output_size, task.kind, task.dt) == (
        3,
        3,
        "classification",
        100.0,
    )
    assert task.input_names == ("fixation", "stimulus 1", "stimulus 2")
    b = task.batch(20, seed=0)
    lengths = (b.mask > 0).sum(1)
    assert b.inputs.shape[1] == int(lengths.max()) == 7
    assert int(lengths.min()) == 5
    assert float(b.inputs[b.mask == 0].abs().sum()) == 0.0
    assert sorted(b.trials) == ["ground_truth", "n_cue"]  # the string entry is left out
    assert torch.equal(b.trials["n_cue"], (lengths - 4).float())


def test_from_neurogym_regression():
    task = from_neurogym(FakeBoxEnv(), name="box", seq_len=None)
    assert task.kind == "regression" and task.output_size == 2 and task.name == "box"
    b = task.batch(5, seed=0)
    assert b.targets.shape == (5, 4, 2)
    assert task.accuracy(b.targets + 0.1, b) == 1.0
    assert task.accuracy(b.targets + 0.5, b) == 0.0


_NO_NEUROGYM = """
import sys
sys.modules["neurogym"] = None  # any import of neurogym now fails
import numpy as np
import mrnngraph.tasks as T


class Box:
    shape = (2,)


class Discrete:
    n = 2


class Env:
    dt, observation_space, action_space = 100, Box(), Discrete()

    def seed(self, s):
        self.rng = np.random.RandomState(s)

    def new_trial(self):
        self.ob = np.eye(2)[[int(self.rng.randint(2))] * 3]
        self.gt = np.array([0, 0, 1])
        return {}


assert T.from_neurogym(Env()).batch(2, seed=0).inputs.shape[0] == 2
try:
    T.get_task("neurogym:PerceptualDecisionMaking-v0")
except ValueError as err:
    assert "neurogym" in str(err), err
else:
    raise SystemExit("no error")
assert not any(name.startswith("neurogym") and sys.modules[name] for name in sys.modules)
print("ok")
"""


def test_from_neurogym_never_imports_neurogym():
    # A child process: neither importing the package nor the adapter imports neurogym.
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", _NO_NEUROGYM], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_from_neurogym_rejects_non_envs():
    with pytest.raises(TypeError, match="new_trial"):
        from_neurogym(object())


# --------------------------------------------------------------------------- registry, errors
def test_get_task_names():
    assert isinstance(get_task("pdm"), PerceptualDecisionMaking)
    assert isinstance(get_task("Mante"), ContextDependentIntegration)
    assert isinstance(get_task("3bit"), FlipFlop)
    assert get_task("perceptual-decision-making", dt=10).dt == 10.0
    with pytest.raises(ValueError, match="known tasks"):
        get_task("nope")
    with pytest.raises(TypeError):
        get_task(3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dt": 0}, "dt"),
        ({"stimulus": 5}, "stimulus"),
        ({"decision": (300, 100)}, "decision"),
        ({"coherences": [150]}, "coherences"),
        ({"sigma": -1}, "sigma"),
        ({"decision_weight": 0}, "decision_weight"),
    ],
)
def test_pdm_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PerceptualDecisionMaking(**kwargs)


def test_bad_batch_sizes_and_seeds():
    task = FlipFlop()
    with pytest.raises(ValueError):
        task.batch(0)
    with pytest.raises(TypeError):
        task.batch(2.0)
    with pytest.raises(TypeError):
        task.batch(2, seed="x")
    with pytest.raises(TypeError):
        PerceptualDecisionMaking(stimulus="long")
    with pytest.raises(ValueError, match="pulse_rate"):
        FlipFlop(pulse_rate=0)


def test_repr_lists_timing():
    assert repr(PerceptualDecisionMaking()) == (
        "PerceptualDecisionMaking(dt=20, fixation=100, stimulus=800, delay=200, decision=200)"
    )


# --------------------------------------------------------------------------- fixation breaks
FIXATING_TASKS = [
    PerceptualDecisionMaking(),
    ContextDependentIntegration(),
    from_neurogym(FakeEnv(), seq_len=None),
]


@pytest.mark.parametrize("task", FIXATING_TASKS, ids=lambda t: t.name)
def test_an_answer_before_the_go_cue_is_an_error(task):
    b = task.batch(16, seed=5)
    best = task.optimal_outputs(b)
    assert task.accuracy(best, b) == 1.0
    early = best.clone()
    # Trial 3 answers (correctly, even) one step into its fixation period.
    early[3, 0] = 0.0
    early[3, 0, int(b.targets[3].max())] = 20.0
    ok = task.correct(early, b)
    assert not bool(ok[3]) and bool(ok[torch.arange(16) != 3].all())
    assert task.accuracy(early, b) == 15 / 16
    m = task.metrics(early, b)
    assert m["accuracy"] == 15 / 16 and m["fixation_breaks"] == 1 / 16


def test_breaking_fixation_on_an_uncounted_step_is_not_a_break():
    task = PerceptualDecisionMaking(stimulus=(200.0, 800.0))
    b = task.batch(32, seed=0)
    best = task.optimal_outputs(b)
    padded = (b.mask == 0).nonzero()
    assert len(padded) > 0  # variable stimulus: some trials end early
    i, t = padded[0].tolist()
    best[i, t] = torch.tensor([0.0, 20.0, 0.0])
    assert task.accuracy(best, b) == 1.0 and task.metrics(best, b)["fixation_breaks"] == 0.0


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: t.name)
def test_scoring_accepts_the_models_output(task):
    import mrnngraph as mg
    from mrnngraph.presets import two_area_ei

    G = two_area_ei(size=10, n_inputs=task.input_size, n_outputs=task.output_size)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    b = task.batch(8, seed=0)
    with torch.no_grad():
        out = model(b.inputs)
    assert float(task.loss(out, b)) == float(task.loss(out.outputs, b))
    assert task.accuracy(out, b) == task.accuracy(out.outputs, b) or math.isnan(
        task.accuracy(out.outputs, b)
    )
    assert torch.equal(task.correct(out, b), task.correct(out.outputs, b))
    a, c = task.metrics(out, b), task.metrics(out.outputs, b)
    assert a.keys() == c.keys() and a["loss"] == c["loss"]
    if task.has_psychometric:
        assert task.psychometric(out, b).to_dict() == task.psychometric(out.outputs, b).to_dict()


def test_scoring_rejects_what_is_not_outputs():
    task = PerceptualDecisionMaking()
    b = task.batch(2, seed=0)
    with pytest.raises(TypeError, match="RNNOutput"):
        task.metrics([1, 2, 3], b)


def test_from_neurogym_decision_weight():
    b1 = from_neurogym(FakeEnv(), decision_weight=1).batch(6, seed=0)
    b5 = from_neurogym(FakeEnv(), decision_weight=5).batch(6, seed=0)
    default = from_neurogym(FakeEnv()).batch(6, seed=0)
    respond = b1.targets != 0
    assert torch.equal(b1.mask, (b1.mask > 0).float())  # neurogym's own loss: every step alike
    assert torch.equal(b5.mask[respond], torch.full_like(b5.mask[respond], 5.0))
    assert torch.equal(default.mask[respond], torch.full_like(default.mask[respond], 3.0))
    assert torch.equal(b5.mask[~respond], b1.mask[~respond])
    for bad in (0, -1.0, math.nan):
        with pytest.raises(ValueError, match="decision_weight"):
            from_neurogym(FakeEnv(), decision_weight=bad)
    with pytest.raises(TypeError, match="decision_weight"):
        from_neurogym(FakeEnv(), decision_weight=True)


def test_from_neurogym_streams_of_trials():
    task = from_neurogym(FakeEnv(), seq_len=12, decision_weight=1)
    b = task.batch(4, seed=0)
    assert b.inputs.shape == (4, 12, 3) and bool((b.mask == 1).all()) and b.trials == {}
    # Trials back to back: each row holds the start of a second trial (fixation again).
    assert bool((b.targets[:, 5:] == 0).any(1).all())
    best = task.optimal_outputs(b)
    assert task.accuracy(best, b) == 1.0 and bool(task.correct(best, b).all())
    wrong = best.clone()
    respond = (b.targets != 0).nonzero()
    i, t = respond[0].tolist()
    wrong[i, t] = 0.0
    n = int((b.targets != 0).sum())
    assert task.accuracy(wrong, b) == (n - 1) / n  # neurogym's score: per response step
    assert task.correct(wrong, b).tolist() == [k != i for k in range(4)]
    assert "fixation_breaks" not in task.metrics(best, b)
    with pytest.raises(ValueError, match="seq_len"):
        from_neurogym(FakeEnv(), seq_len=0)
    for bad in (1.5, True, "long"):
        with pytest.raises(TypeError, match="seq_len"):
            from_neurogym(FakeEnv(), seq_len=bad)


def test_from_neurogym_streams_trials_by_default():
    env = FakeEnv()
    env.seed(0)
    longest = 0
    for _ in range(8):
        env.new_trial()
        longest = max(longest, len(env.ob))
    task = from_neurogym(FakeEnv())
    assert task.seq_len == 2 * longest == from_neurogym(FakeEnv(), seq_len="auto").seq_len
    b = task.batch(5, seed=1)
    assert b.inputs.shape == (5, task.seq_len, 3) and bool((b.mask > 0).all())
    assert b.trials == {}  # rows of several trials
    # Each row holds a second trial: fixation (target 0) after a response.
    first_response_end = [int((row != 0).nonzero().max()) for row in b.targets]
    assert all(e >= 3 for e in first_response_end)
    assert torch.equal(
        b.inputs, from_neurogym(FakeEnv(), seq_len=task.seq_len).batch(5, seed=1).inputs
    )
    one = from_neurogym(FakeEnv(), seq_len=None)
    assert one.seq_len is None and one.batch(5, seed=1).inputs.shape[1] <= 7


# --------------------------------------------------------------------------- grace period
EPOCH_TASKS = [
    PerceptualDecisionMaking(),
    ContextDependentIntegration(dt=10),
    PerceptualDecisionMaking(delay=(0.0, 400.0), decision=(200.0, 300.0)),
]


@pytest.mark.parametrize("task", EPOCH_TASKS, ids=lambda t: f"{t.name}-{t.n_steps}")
def test_grace_period_weighs_zero_in_the_loss(task):
    b = task.batch(16, seed=3)
    n = round(task.grace / task.dt)
    assert task.grace == 100.0 and n >= 1
    dec = b.trials["decision_mask"] > 0
    first = dec.float().argmax(1)
    t = torch.arange(b.n_steps)
    in_grace = (t[None] >= first[:, None]) & (t[None] < first[:, None] + n)
    assert bool(dec[in_grace].all())
    assert bool((b.mask[in_grace] == 0).all())
    assert bool((b.mask[dec & ~in_grace] == task.decision_weight).all())
    # What the network outputs on those steps does not change the loss.
    best = task.optimal_outputs(b)
    other = best.clone()
    other[in_grace] = torch.tensor([5.0, -3.0, 2.0])
    assert float(task.loss(other, b)) == float(task.loss(best, b))
    # ... and the scoring is unchanged: an answer on those steps is still scored.
    early = best.clone()
    early[in_grace] = torch.tensor([9.0, 0.0, 0.0])  # keeps fixating through the grace
    assert task.accuracy(early, b) == 1.0


@pytest.mark.parametrize("cls", [PerceptualDecisionMaking, ContextDependentIntegration])
@pytest.mark.parametrize("weight", [1.0, 3.0])
def test_grace_zero_gives_the_loss_without_grace_period(cls, weight):
    task = cls(grace=0.0, decision_weight=weight, delay=(100.0, 300.0))
    b = task.batch(12, seed=4)
    in_trial = torch.zeros_like(b.mask)
    for i in range(12):  # trials end at the last decision step
        in_trial[i, : int(b.trials["decision_mask"][i].nonzero().max()) + 1] = 1.0
    old = in_trial + (weight - 1.0) * b.trials["decision_mask"]
    assert torch.equal(b.mask, old)
    graced = cls(decision_weight=weight, delay=(100.0, 300.0)).batch(12, seed=4)
    assert torch.equal(graced.inputs, b.inputs) and torch.equal(graced.targets, b.targets)
    assert float((graced.mask != b.mask).sum()) == 12 * round(100.0 / task.dt)


def test_grace_leaves_the_last_decision_step():
    task = PerceptualDecisionMaking(decision=(40.0, 200.0), grace=300.0)
    b = task.batch(64, seed=0)
    dec = b.trials["decision_mask"] > 0
    last = torch.arange(b.n_steps)[None] == dec.float().cumsum(1).argmax(1)[:, None]
    assert bool((b.mask[last & dec] == 1).all()) and bool((b.mask[dec & ~last] == 0).all())


@pytest.mark.parametrize(
    "bad, error",
    [(-1.0, ValueError), (math.nan, ValueError), (math.inf, ValueError)]
    + [(True, TypeError), ("100", TypeError)],
)
def test_grace_rejects_bad_values(bad, error):
    with pytest.raises(error, match="grace must be a float >= 0"):
        PerceptualDecisionMaking(grace=bad)
