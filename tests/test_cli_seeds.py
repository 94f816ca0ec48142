"""``mrnngraph train --seeds``: parsing, the members, the summary, its figures, --log-dir."""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import statistics

import matplotlib
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import mrnngraph.cli as cli
import mrnngraph.training as T
from mrnngraph.analysis import sweep_plots as sp
from mrnngraph.checkpoint import load_checkpoint
from mrnngraph.cli._args import MAX_SEEDS, seed_list
from mrnngraph.io import save
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import ContextDependentIntegration, PerceptualDecisionMaking
from mrnngraph.training import History

matplotlib.use("Agg")

FAST = ("--steps", "3", "--batch-size", "8", "--eval-trials", "40", "--quiet")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)  # the command sets its own thread count


@pytest.fixture
def run(monkeypatch, capsys):
    """Run ``mrnngraph ARGS``; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("training",))

    def call(*args):
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 20-unit circuit that fits perceptual decision making (3 inputs, 3 outputs)."""
    path = tmp_path_factory.mktemp("circuit") / "small.yaml"
    save(two_area_ei(size=10, n_inputs=3, n_outputs=3), path)
    return path


# --------------------------------------------------------------------------- parsing
def test_seed_list_forms():
    assert seed_list("0-3,7") == [0, 1, 2, 3, 7]
    assert seed_list("5") == [5]
    assert seed_list(" 9 , 2-3") == [9, 2, 3]  # the order given
    assert seed_list(f"0-{MAX_SEEDS - 1}") == list(range(MAX_SEEDS))


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 4)), min_size=1, max_size=6))
def test_seed_list_round_trip(parts):
    """Disjoint ranges written as text parse back to exactly their seeds."""
    text, expected, start = [], [], 0
    for gap, width in parts:
        lo = start + gap
        hi = lo + width
        text.append(f"{lo}-{hi}" if width else str(lo))
        expected += range(lo, hi + 1)
        start = hi + 1
    assert seed_list(",".join(text)) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("5-2", "range '5-2' runs backwards: write '2-5'"),
        ("-1", "seeds must be >= 0; got '-1'"),
        ("1--3", "seeds must be >= 0"),
        ("0-3,2", "seed 2 is given twice (in '0-3' and '2')"),
        ("1,1", "seed 1 is given twice"),
        (f"0-{MAX_SEEDS}", f"at most {MAX_SEEDS} seeds"),
        ("0-99999999999999999999", f"at most {MAX_SEEDS} seeds"),
        ("a", "got 'a'"),
        ("1,,2", "an empty item"),
        ("", "an empty list"),
        ("1-", "got '1-'"),
    ],
)
def test_bad_seed_lists(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        seed_list(text)
    assert message in str(exc.value)


@pytest.mark.parametrize("value", ["5-2", "0-3,2", "-1", f"0-{MAX_SEEDS + 5}"])
def test_bad_seeds_are_argument_errors(run, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exc:
        run("train", "--seeds", value, "--out", tmp_path / "o")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--seeds" in errors[0] and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("seed", ["0", "3"])  # 0 is also --seed's default
def test_seed_and_seeds_exclude_each_other(run, tmp_path, capsys, seed):
    with pytest.raises(SystemExit) as exc:
        run("train", "--seed", seed, "--seeds", "0-1", "--out", tmp_path / "o")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds: not allowed with argument --seed" in err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- a sweep
def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_two_seeds_write_members_and_a_summary(run, tmp_path, small):
    out = tmp_path / "sweep"
    code, stdout, err = run("train", small, "--seeds", "3,1", *FAST, "--out", out)
    assert code == 0, err
    top = {p.name for p in out.iterdir()}
    assert top == {
        "member_3",
        "member_1",
        "members.csv",
        "metrics.json",
        "circuit.png",
        "seeds.png",
        "training.png",
        "psychometric.png",
    }
    for s in (3, 1):
        assert {p.name for p in (out / f"member_{s}").iterdir()} == {
            "model.pt",
            "metrics.json",
            "history.json",
            "history.csv",
        }
        assert load_checkpoint(out / f"member_{s}" / "model.pt").metadata["seed"] == s

    member = {s: json.loads((out / f"member_{s}" / "metrics.json").read_text()) for s in (3, 1)}
    acc = {s: member[s]["eval"]["accuracy"] for s in (3, 1)}
    assert all(member[s]["seed"] == s and member[s]["eval"]["n_trials"] == 40 for s in (3, 1))

    rows = _rows(out / "members.csv")
    assert [int(r["seed"]) for r in rows] == [3, 1]  # the order given
    assert list(rows[0])[:8] == [
        "seed",
        "status",
        "folder",
        "steps",
        "train_seconds",
        "train_loss_final",
        "diverged_at_step",
        "health_events",
    ]
    assert {"eval_accuracy", "eval_accuracy_coherence_ge_12.8", "eval_loss"} <= set(rows[0])
    for r in rows:
        s = int(r["seed"])
        assert r["status"] == "trained" and r["folder"] == f"member_{s}" and r["steps"] == "3"
        assert float(r["eval_accuracy"]) == pytest.approx(acc[s])
        assert r["diverged_at_step"] == ""

    m = json.loads((out / "metrics.json").read_text())
    assert m["seeds"] == [3, 1] and m["members"] == 2 and m["steps"] == 3
    assert m["diverged"] == [] and m["interrupted"] is False
    a = m["summary"]["accuracy"]
    assert a["n"] == 2
    assert a["mean"] == pytest.approx(statistics.mean(acc.values()))
    assert a["std"] == pytest.approx(statistics.stdev(acc.values()))
    assert (a["min"], a["max"]) == (min(acc.values()), max(acc.values()))
    worst = min((3, 1), key=lambda s: (acc[s], (3, 1).index(s)))
    assert m["worst_member"] == {"seed": worst, "accuracy": acc[worst], "folder": f"member_{worst}"}
    assert [r["seed"] for r in m["per_member"]] == [3, 1]
    assert "accuracy_coherence_ge_12.8" in m["summary"]

    assert "member seed 3 (1/2)" in stdout and "member seed 1 (2/2)" in stdout
    assert f"held-out accuracy: mean {100 * a['mean']:.1f}%" in stdout
    assert f"(seed {worst})" in stdout and f"wrote {out}" in stdout


def test_a_context_task_sweep(run, tmp_path):
    path = tmp_path / "ctx.yaml"
    save(two_area_ei(size=10, n_inputs=5, n_outputs=3), path)
    out = tmp_path / "sweep"
    code, _, err = run("train", path, "--task", "mante", "--seeds", "0-1", *FAST, "--out", out)
    assert code == 0, err
    row = _rows(out / "members.csv")[0]
    assert {"psychometric_threshold_motion", "psychometric_threshold_color"} <= set(row)
    assert "eval_accuracy_context_motion" in row
    assert (out / "psychometric.png").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert "accuracy_context_color" in m["summary"]


def test_a_sweep_has_its_own_default_folder(run, tmp_path, small, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run("train", small, "--seeds", "0", *FAST, "--no-figures")
    assert code == 0, err
    out = tmp_path / "runs" / "two_area_ei-perceptual_decision_making-seeds"
    assert (out / "metrics.json").exists() and (out / "member_0" / "model.pt").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [out.name]


def test_a_member_is_the_single_seed_run(run, tmp_path, small):
    """Member S of --seeds is exactly --seed S: same losses, same held-out metrics."""
    code, _, err = run("train", small, "--seeds", "0,2", *FAST, "--no-figures", "--out",
                       tmp_path / "sweep")  # fmt: skip
    assert code == 0, err
    code, _, err = run("train", small, "--seed", "2", *FAST, "--no-figures", "--out",
                       tmp_path / "one")  # fmt: skip
    assert code == 0, err
    member, one = tmp_path / "sweep" / "member_2", tmp_path / "one"
    h1, h2 = (json.loads((d / "history.json").read_text()) for d in (member, one))
    assert h1["loss"] == h2["loss"] and h1["evals"] == h2["evals"] and h1["seed"] == 2
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (member, one))
    assert m1["eval"] == m2["eval"]
    assert (member / "history.csv").read_text() == (one / "history.csv").read_text()
    assert not list((tmp_path / "sweep").glob("*.png"))  # --no-figures


def test_a_diverged_member_is_reported_and_the_others_go_on(run, tmp_path, small, monkeypatch):
    real = T.train

    def train(model, task, **kw):
        if kw["seed"] == 1:
            h = History(step=[1], loss=[0.5], accuracy=[0.0], task_loss=[0.5], grad_norm=[1.0])
            raise T.TrainingDiverged(2, "loss", float("nan"), 1, h)
        return real(model, task, **kw)

    monkeypatch.setattr(T, "train", train)
    out = tmp_path / "sweep"
    code, stdout, err = run("train", small, "--seeds", "0-2", *FAST, "--out", out)
    assert code == 1 and "member seed 1" in err and "diverged at step 2" in err
    assert "Traceback" not in err
    rows = {int(r["seed"]): r for r in _rows(out / "members.csv")}
    assert rows[1]["status"] == "diverged" and rows[1]["diverged_at_step"] == "2"
    assert rows[1]["eval_accuracy"] == "" and rows[0]["status"] == rows[2]["status"] == "trained"
    m = json.loads((out / "metrics.json").read_text())
    assert m["diverged"] == [1] and m["summary"]["accuracy"]["n"] == 2
    assert m["worst_member"]["seed"] in (0, 2)
    d = json.loads((out / "member_1" / "metrics.json").read_text())
    assert d["diverged"]["step"] == 2 and d["eval"] is None
    assert (out / "seeds.png").exists() and (out / "member_2" / "model.pt").exists()


# --------------------------------------------------------------------------- figures
def _curves(task, seeds, n=200):
    out = []
    for s in seeds:
        b = task.batch(n, seed=s)
        logits = task.optimal_outputs(b) * (0.02 + 0.01 * s)  # soft, differs per member
        out.append(task.psychometric(logits, b))
    return out


def test_seed_metric_figure_by_content():
    fig = sp.seed_metric_figure(
        [4, 7, 9],
        {"all trials": [0.8, None, 0.6], "easy": [0.9, None, 0.95]},
        failed={7: "diverged"},
    )
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "7\n(diverged)", "9"]
    assert ax.get_xlabel() == "seed" and ax.get_ylabel() == "held-out accuracy (%)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "all trials, mean 70.0 ± 14.1 %" in legend and "easy, mean 92.5 ± 3.5 %" in legend
    points = ax.lines[0]
    assert list(points.get_ydata()) == pytest.approx([80.0, 60.0])
    assert any("worst: seed 9" in t.get_text() for t in ax.texts)


def test_member_curves_figure_by_content():
    hs = [
        History(step=[1, 2, 3], loss=[1.0, 0.5, 0.25], accuracy=[0.0] * 3,
                evals=[{"step": 2, "accuracy": a}, {"step": 3, "accuracy": a + 0.2}])
        for a in (0.2, 0.4)
    ]  # fmt: skip
    ax_loss, ax_acc = sp.member_curves_figure([5, 6], hs).axes
    assert ax_loss.get_yscale() == "log" and len(ax_loss.lines) == 3  # 2 members + mean
    assert [line.get_label() for line in ax_loss.lines] == ["seed 5", "seed 6", "mean over members"]
    mean = ax_acc.lines[-1]
    assert list(mean.get_xdata()) == [2, 3]
    assert list(mean.get_ydata()) == pytest.approx([0.3, 0.5])


def test_pooled_psychometric_sums_the_members():
    task = PerceptualDecisionMaking()
    curves = _curves(task, [0, 1, 2])
    pooled = sp.pool_psychometric(curves)
    assert int(pooled.n_trials.sum()) == 600
    np.testing.assert_array_equal(pooled.n_choice1, sum(c.n_choice1 for c in curves))
    assert pooled.fit is not None and pooled.fit.bias == pytest.approx(0.0, abs=3.0)


def test_member_psychometric_figure_by_content():
    task = PerceptualDecisionMaking()
    fig = sp.member_psychometric_figure([0, 1, 2], _curves(task, [0, 1, 2]))
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.lines]
    assert labels[:3] == ["seed 0", "seed 1", "seed 2"] and "pooled fit" in labels
    assert ax.get_ylabel() == "P(choice 1)" and "signed" in ax.get_xlabel()
    assert len(ax.containers) == 1  # the pooled points with error bars

    task = ContextDependentIntegration()
    fig = sp.member_psychometric_figure([0, 1], _curves(task, [0, 1], n=400))
    titles = [a.get_title() for a in fig.axes]
    assert titles == [
        "motion context: motion (relevant)",
        "motion context: color (irrelevant)",
        "color context: motion (irrelevant)",
        "color context: color (relevant)",
    ]
    assert all(len(a.containers) == 1 for a in fig.axes)
    assert [a.get_legend() is not None for a in fig.axes] == [True, False, False, False]


# --------------------------------------------------------------------------- logs
def test_log_dir_is_refused_where_train_has_no_log_dir(run, tmp_path, monkeypatch):
    def train(model, task, *, steps, seed=None):  # an older train()
        raise AssertionError("not called")

    monkeypatch.setattr(T, "train", train)
    code, stdout, err = run("train", *FAST, "--log-dir", tmp_path / "logs", "--out", tmp_path / "o")
    assert code == 1 and stdout == "" and "--log-dir" in err and "log_dir" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(
    "log_dir" not in inspect.signature(T.train).parameters, reason="train() has no log_dir yet"
)
def test_log_dir_writes_event_files_per_member(run, tmp_path, small):
    pytest.importorskip("tensorboard")
    logs = tmp_path / "logs"
    code, _, err = run("train", small, "--seeds", "0-1", *FAST, "--no-figures", "--log-dir",
                       logs, "--out", tmp_path / "o")  # fmt: skip
    assert code == 0, err
    for s in (0, 1):
        assert list((logs / f"member_{s}").glob("events.out.tfevents.*")), s
    code, _, err = run("train", small, *FAST, "--no-figures", "--log-dir", tmp_path / "one",
                       "--out", tmp_path / "o1")  # fmt: skip
    assert code == 0, err
    assert list((tmp_path / "one").glob("events.out.tfevents.*"))


def test_log_dir_without_tensorboard_names_the_extra(run, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "tensorboard" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    if "log_dir" not in inspect.signature(T.train).parameters:
        pytest.skip("train() has no log_dir yet")
    code, stdout, err = run("train", *FAST, "--log-dir", tmp_path / "logs", "--out", tmp_path / "o")
    assert code == 1 and "pip install" in err and "tensorboard" in err
    assert not (tmp_path / "o").exists()


@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=12))
def test_spread_invariants(values):
    seeds = [10 + i for i in range(len(values))]
    s = sp.spread(values, seeds)
    present = [v for v in values if v is not None]
    if not present:
        assert s is None
        return
    assert s["n"] == len(present) and (s["min"], s["max"]) == (min(present), max(present))
    assert s["min"] - 1e-9 <= s["mean"] <= s["max"] + 1e-9
    assert values[seeds.index(s["min_seed"])] == s["min"]
    assert values[seeds.index(s["max_seed"])] == s["max"]
    assert (s["std"] is None) == (len(present) == 1)
    if s["std"] is not None:
        assert s["std"] == pytest.approx(statistics.stdev(present), abs=1e-9)


# --------------------------------------------------------------------------- --batched
def test_batched_members_train_together_on_the_first_seeds_batches(run, tmp_path, small):
    """--batched trains the members as one Ensemble: member 0 sees seed 0's batches, so it
    is the --seed 0 run (to float tolerance); member 2 starts from seed 2's circuit but
    trains on seed 0's batches, so it is not the --seed 2 run."""
    code, _, err = run("train", small, "--seeds", "0,2", "--batched", *FAST, "--no-figures",
                       "--out", tmp_path / "b")  # fmt: skip
    assert code == 0, err
    for seed in (0, 2):
        code, _, err = run("train", small, "--seed", seed, *FAST, "--no-figures", "--out",
                           tmp_path / f"one{seed}")  # fmt: skip
        assert code == 0, err
    hist = {
        d: json.loads((tmp_path / d / "history.json").read_text())
        for d in ("b/member_0", "b/member_2", "one0", "one2")
    }
    np.testing.assert_allclose(hist["b/member_0"]["loss"], hist["one0"]["loss"], rtol=1e-5)
    assert hist["b/member_2"]["loss"][0] != pytest.approx(hist["one2"]["loss"][0], rel=1e-6)
    with (tmp_path / "b" / "members.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["seed"] for r in rows] == ["0", "2"] and {r["status"] for r in rows} == {"trained"}
    for m in ("member_0", "member_2"):  # each member's own checkpoint loads as one model
        assert load_checkpoint(tmp_path / "b" / m / "model.pt").model.hidden_size == 20


def test_batched_needs_seeds(run, tmp_path, small):
    code, _, err = run("train", small, "--batched", *FAST, "--out", tmp_path / "x")
    assert code == 1 and "--batched trains the members of --seeds together" in err
