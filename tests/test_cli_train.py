"""``mrnngraph train`` through the real dispatcher, in temporary folders, tiny runs."""

from __future__ import annotations

import json

import matplotlib
import pytest
import torch

import mrnngraph.cli as cli
from mrnngraph.analysis import training_plots as tp
from mrnngraph.checkpoint import load_checkpoint
from mrnngraph.cli import training
from mrnngraph.io import save
from mrnngraph.presets import cbgt_loop, two_area_ei
from mrnngraph.tasks import ContextDependentIntegration, FlipFlop, PerceptualDecisionMaking
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


def test_help(run, capsys):
    with pytest.raises(SystemExit) as exc:
        run("train", "--help")
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in (
        "CIRCUIT",
        "--task",
        "--steps",
        "--batch-size",
        "--lr",
        "--seed",
        "--out",
        "--device",
        "--distributed",
        "psychometric",
    ):
        assert word in text


def test_default_run_writes_everything(run, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run("train", *FAST, "--out", out)
    assert code == 0, err
    expected = {
        "circuit.png",
        "connectivity.png",
        "training.png",
        "trials.png",
        "psychometric.png",
        "metrics.json",
        "history.json",
        "history.csv",
        "model.pt",
    }
    assert {p.name for p in out.iterdir()} == expected  # nothing else, no temp files
    assert f"wrote {out}" in stdout and "coherence >= 12.8%" in stdout
    for name in expected:
        assert name in stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["circuit"] == "cbgt_loop" and m["circuit_source"] == "preset:cbgt_loop"
    assert m["task"] == "perceptual_decision_making" and m["steps"] == 3
    assert m["eval"]["n_trials"] == 40 and 0 <= m["eval"]["accuracy_coherence_ge_12.8"] <= 1
    assert set(m["eval"]["accuracy_by_coherence"]) == {"0", "3.2", "6.4", "12.8", "25.6", "51.2"}
    psy = m["eval"]["psychometric"]
    assert psy["stimulus"] == "coherence" and len(psy["levels"]) == 11
    assert sum(psy["n_trials"]) == 40 and "psychometric fit" in stdout
    if psy["fit"] is not None:  # 3 steps: the network may answer too rarely for a fit
        assert psy["fit"]["threshold"] > 0 and 0 <= psy["fit"]["lapse_low"] <= 0.25
    assert m["constraint_violations"] == {"dale": 0, "mask": 0, "frozen": 0}
    assert m["arguments"]["steps"] == 3 and m["arguments"]["circuit"] is None
    assert m["task_timing_ms"] == {
        "fixation": 100.0,
        "stimulus": 800.0,
        "delay": 200.0,
        "decision": 200.0,
    }
    h = json.loads((out / "history.json").read_text())
    assert h["step"] == [1, 2, 3] and len(h["loss"]) == 3
    _check_history_csv(out / "history.csv", h)
    ck = load_checkpoint(out / "model.pt")
    assert ck.metadata["task"] == "perceptual_decision_making"
    assert ck.graph.graph["name"] == "cbgt_loop" and ck.model.hidden_size == 240


def _check_history_csv(path, h):
    """history.csv holds history.json's per-step values, a row per step."""
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == h["step"]
    assert list(rows[0])[:5] == ["step", "loss", "task_loss", "accuracy", "grad_norm"]
    for col in ("loss", "task_loss", "accuracy", "grad_norm"):
        assert [float(r[col]) for r in rows] == pytest.approx(h[col], rel=1e-12), col
    # the held-out curve: filled at the evaluated steps only
    evaluated = {e["step"]: e["accuracy"] for e in h["evals"]}
    for r in rows:
        cell = r["eval/accuracy"]
        if int(r["step"]) in evaluated:
            assert float(cell) == pytest.approx(evaluated[int(r["step"])])
        else:
            assert cell == ""


def test_circuit_file_and_other_tasks(run, tmp_path):
    path = tmp_path / "small.yaml"
    save(two_area_ei(size=10, n_inputs=5), path)
    code, stdout, err = run("train", path, "--task", "mante", *FAST, "--out", tmp_path / "o")
    assert code == 0, err
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["task"] == "context_dependent_integration" and m["hidden_size"] == 20
    assert m["circuit_source"] == str(path)
    assert "accuracy_context_motion" in m["eval"]
    assert (tmp_path / "o" / "psychometric.png").exists()
    assert set(m["eval"]["psychometric"]) == {
        "motion context, motion",
        "motion context, color",
        "color context, color",
        "color context, motion",
    }
    assert "psychometric fit, relevant stimulus: motion" in stdout
    code, _, err = run("train", path, "--task", "3bit", *FAST, "--out", tmp_path / "f")
    assert code == 1 and "5 input channels but task 'flip_flop' needs 3" in err
    save(two_area_ei(size=10, n_inputs=3, n_outputs=3), path)
    code, stdout, err = run("train", path, "--task", "3bit", *FAST, "--out", tmp_path / "f")
    assert code == 0, err
    m = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert "psychometric" not in m["eval"] and "psychometric" not in stdout
    assert not (tmp_path / "f" / "psychometric.png").exists()


def test_broken_circuit_file_lists_every_problem(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "format: mrnngraph\nversion: 1\nregions:\n"
        "  stim: {kind: input, size: 3}\n"
        "  ctx: {sizee: 10}\n"
        "  y: {kind: output, size: 3}\n"
        "connections:\n"
        "  - {src: stim, dst: ctx, sparsity: 1.5}\n"
        "  - {src: ctx, dst: y}\n"
    )
    code, stdout, err = run("train", bad, *FAST, "--out", tmp_path / "o")
    assert code == 1 and stdout == ""
    assert "Traceback" not in err
    assert "sizee" in err and "'size'" in err and "sparsity" in err
    assert not (tmp_path / "o").exists()


def test_usage_errors(run, tmp_path):
    code, _, err = run("train", "--task", "nope", "--out", tmp_path / "o")
    assert code == 1 and "unknown task 'nope'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ("--steps", "-1"),
        ("--lr", "0"),
        ("--lr", "nan"),
        ("--clip-grad", "0"),
        ("--clip-grad", "nan"),
        ("--clip-grad", "-1"),
        ("--noise-std", "-1"),
        ("--noise-std", "inf"),
        ("--format", "xml"),
        ("--batch-size", "0"),
        ("--eval-trials", "0"),
        ("--threads", "0"),
    ],
)
def test_bad_numbers_and_choices_are_argument_errors(run, tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exc:
        run("train", *args, "--out", tmp_path / "o")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and args[0] in errors[0] and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_defaults_match_the_library():
    import inspect

    from mrnngraph.training import train

    defaults = inspect.signature(train).parameters
    for name in ("lr", "batch_size", "clip_grad", "lr_schedule"):
        assert training.DEFAULTS[name] == defaults[name].default, name
    from mrnngraph.cli import build_parser
    from mrnngraph.training._schedule import LR_SCHEDULES

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    flag = next(a for a in sub.choices["train"]._actions if a.dest == "lr_schedule")
    assert tuple(flag.choices) == LR_SCHEDULES


def test_unusable_out_is_found_before_training(run, tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    for out in (a_file, a_file / "below"):
        code, stdout, err = run("train", "--steps", "100000", "--quiet", "--out", out)
        assert code == 1 and stdout == "" and "Traceback" not in err
        assert "--out" in err and "file" in err and str(out) in err
    assert a_file.read_text() == "not a folder"


def test_health_events_are_printed_and_written(run, tmp_path):
    import networkx as nx

    G = nx.DiGraph(name="dead_end", dt=20.0, tau=100.0)
    G.add_node("stim", kind="input", size=3)
    G.add_node("early", size=8, exc_frac=0.75)
    G.add_node("late", size=4, sign="exc")
    G.add_node("choice", kind="output", size=3)
    G.add_edge("stim", "early")
    G.add_edge("late", "choice")
    path = tmp_path / "dead.json"
    save(G, path)
    code, stdout, err = run(
        "train",
        path,
        "--steps",
        "10",
        "--batch-size",
        "4",
        "--eval-trials",
        "8",
        "--quiet",
        "--no-figures",
        "--out",
        tmp_path / "o",
    )
    assert code == 0, err
    assert "warning: training health" in err and "'late'" in err and "Traceback" not in err
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["interrupted"] is False
    assert {(e["kind"], e["region"]) for e in m["health"]} >= {("silent_region", "late")}


def test_missing_file(run, tmp_path):
    code, _, err = run("train", tmp_path / "none.yaml", "--out", tmp_path / "o")
    assert code == 1 and "none.yaml" in err


# --------------------------------------------------------------------------- figures by content
def test_figures_by_content():
    import mrnngraph as mg

    task = PerceptualDecisionMaking()
    G = cbgt_loop(scale=0.2)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    batch = task.batch(60, seed=0)
    with torch.no_grad():
        result = model(batch.inputs)

    fig = tp.psychometric_figure(task, batch, result.outputs)
    ax = fig.axes[1]  # accuracy by unsigned coherence; P(choice 1): tests/test_psychometric.py
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "0",
        "3.2",
        "6.4",
        "12.8",
        "25.6",
        "51.2",
    ]
    assert ax.get_xlabel() == "coherence (%)" and ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ideal observer", "network"]

    fig = tp.trials_figure(task, model, batch, result)
    axes = fig.axes
    assert len([a for a in axes if a.get_ylabel()]) == 3
    titles = [a.get_title() for a in axes if a.get_title()]
    assert len(titles) == 4 and titles[0].startswith("coherence 51.2%")
    rate_ax = [a for a in axes if a.get_ylabel() == "mean rate per region"][0]
    assert len(rate_ax.lines) == len(model.layout.regions)
    legend_texts = {t.get_text() for a in axes if a.get_legend() for t in a.get_legend().texts}
    assert {"fixation", "p(choice 1)", "ctx_e", "thal"} <= legend_texts

    h = History(
        step=[1, 2],
        loss=[1.0, 0.5],
        accuracy=[0.2, 0.6],
        task_loss=[1.0, 0.5],
        evals=[{"step": 2, "accuracy": 0.7}],
    )
    fig = tp.training_figure(h)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and list(loss_ax.lines[0].get_ydata()) == [1.0, 0.5]
    assert len(acc_ax.lines) == 2 and acc_ax.get_ylabel() == "accuracy"

    fig = tp.circuit_figure(G)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert all(name in texts for name in ("thalamus", "SNr", "lesioned", "choice"))

    with torch.no_grad():
        model.parametrizations.weight_hh.original.mul_(2.0)  # a known change: W doubles
    fig = tp.connectivity_figure(model.circuit, model)
    titles = {a.get_title() for a in fig.axes}
    assert titles >= {"before training", "after training", "recurrent change (after - before)"}
    change_ax = [a for a in fig.axes if a.get_title().startswith("recurrent change")][0]
    shown = change_ax.images[0].get_array()
    assert shown.shape == (model.hidden_size,) * 2
    torch.testing.assert_close(torch.as_tensor(shown.data), model.circuit.weight_hh)
    assert [t.get_text() for t in change_ax.get_yticklabels()] == list(model.layout.regions)


@pytest.mark.parametrize("task", [FlipFlop(), ContextDependentIntegration()], ids=lambda t: t.name)
def test_trials_figure_other_tasks(task):
    import mrnngraph as mg

    G = two_area_ei(size=10, n_inputs=task.input_size, n_outputs=task.output_size)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    batch = task.batch(6, seed=0)
    with torch.no_grad():
        result = model(batch.inputs)
    fig = tp.trials_figure(task, model, batch, result)
    out_ax = [a for a in fig.axes if a.get_ylabel().startswith("outputs")][0]
    assert len(out_ax.lines) == 2 * task.output_size  # solid outputs, dashed targets


# --------------------------------------------------------------------------- signals
_CHILD = """
import os, signal, sys
import mrnngraph.training as T

# A shell that starts a job in the background without job control (``cmd &``, nohup)
# makes it ignore SIGINT, and Python keeps that; a terminal's Ctrl-C finds the default.
signal.signal(signal.SIGINT, signal.default_int_handler)

real = T.train
SIG = getattr(signal, sys.argv[1])


def train(*args, **kwargs):
    def stop(step, history, model):
        if step == 3:
            os.kill(os.getpid(), SIG)  # delivered to this process while it trains
    kwargs["callbacks"] = [stop]
    return real(*args, **kwargs)


T.train = train
from mrnngraph.cli import main

sys.exit(main(["train", "--steps", "1000", "--batch-size", "4", "--quiet", "--out", sys.argv[2]]))
"""


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_training_cleanly_and_keeps_what_exists(tmp_path, sig, code):
    import subprocess
    import sys

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, sig, str(out)], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and f"interrupted by {sig} after 3 of 1000" in proc.stderr
    files = {"model.pt", "history.json", "history.csv", "metrics.json"}
    assert {p.name for p in out.iterdir()} == files
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] == {"signal": sig, "completed_steps": 3, "requested_steps": 1000}
    assert m["eval"] is None
    h = json.loads((out / "history.json").read_text())
    assert h["step"] == [1, 2, 3] and h["interrupted"] is True
    ck = load_checkpoint(out / "model.pt")
    assert ck.metadata["interrupted"] == sig and ck.metadata["steps"] == 3


def test_sigterm_from_outside_exits_143_without_traceback(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mrnngraph",
            "train",
            "--steps",
            "100000",
            "--batch-size",
            "4",
            "--quiet",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)  # the folder is made just before training starts
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143 and "Traceback" not in err, err
    if (out / "metrics.json").exists():  # the signal came during training
        assert json.loads((out / "metrics.json").read_text())["interrupted"]["signal"] == "SIGTERM"
