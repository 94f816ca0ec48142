"""``mrnngraph train`` through the real dispatcher, in temporary folders, tiny runs."""

from __future__ import annotations

import json

import matplotlib
import pytest
import torch

import mrnngraph.cli as cli
from mrnngraph.checkpoint import load_checkpoint
from mrnngraph.cli import training
from mrnngraph.io import save
from mrnngraph.presets import cbgt_loop, two_area_ei
from mrnngraph.tasks import ContextDependentIntegration, FlipFlop, PerceptualDecisionMaking
from mrnngraph.train import History

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
    for word in ("CIRCUIT", "--task", "--steps", "--batch-size", "--lr", "--seed", "--out",
                 "--device", "--distributed", "psychometric"):
        assert word in text


def test_default_run_writes_everything(run, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run("train", *FAST, "--out", out)
    assert code == 0, err
    expected = {"circuit.png", "connectivity.png", "training.png", "trials.png",
                "psychometric.png", "metrics.json", "history.json", "model.pt"}
    assert {p.name for p in out.iterdir()} == expected  # nothing else, no temp files
    assert f"wrote {out}" in stdout and "coherence >= 12.8%" in stdout
    for name in expected:
        assert name in stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["circuit"] == "cbgt_loop" and m["circuit_source"] == "preset:cbgt_loop"
    assert m["task"] == "perceptual_decision_making" and m["steps"] == 3
    assert m["eval"]["n_trials"] == 40 and 0 <= m["eval"]["accuracy_coherence_ge_12.8"] <= 1
    assert set(m["eval"]["accuracy_by_coherence"]) == {"0", "3.2", "6.4", "12.8", "25.6",
                                                       "51.2"}
    assert m["constraint_violations"] == {"dale": 0, "mask": 0, "frozen": 0}
    assert m["arguments"]["steps"] == 3 and m["arguments"]["circuit"] is None
    assert m["task_timing_ms"] == {"fixation": 100.0, "stimulus": 800.0, "delay": 200.0,
                                   "decision": 200.0}
    h = json.loads((out / "history.json").read_text())
    assert h["step"] == [1, 2, 3] and len(h["loss"]) == 3
    ck = load_checkpoint(out / "model.pt")
    assert ck.metadata["task"] == "perceptual_decision_making"
    assert ck.graph.graph["name"] == "cbgt_loop" and ck.model.hidden_size == 240


def test_circuit_file_and_other_tasks(run, tmp_path):
    path = tmp_path / "small.yaml"
    save(two_area_ei(size=10, n_inputs=5), path)
    code, stdout, err = run("train", path, "--task", "mante", *FAST, "--out", tmp_path / "o")
    assert code == 0, err
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["task"] == "context_dependent_integration" and m["hidden_size"] == 20
    assert m["circuit_source"] == str(path)
    assert "accuracy_context_motion" in m["eval"]
    assert not (tmp_path / "o" / "psychometric.png").exists()
    code, _, err = run("train", path, "--task", "3bit", *FAST, "--out", tmp_path / "f")
    assert code == 1 and "5 input channels but task 'flip_flop' needs 3" in err


def test_broken_circuit_file_lists_every_problem(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: mrnngraph\nversion: 1\nregions:\n"
                   "  stim: {kind: input, size: 3}\n"
                   "  ctx: {sizee: 10}\n"
                   "  y: {kind: output, size: 3}\n"
                   "connections:\n"
                   "  - {src: stim, dst: ctx, sparsity: 1.5}\n"
                   "  - {src: ctx, dst: y}\n")
    code, stdout, err = run("train", bad, *FAST, "--out", tmp_path / "o")
    assert code == 1 and stdout == ""
    assert "Traceback" not in err
    assert "sizee" in err and "'size'" in err and "sparsity" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (("--task", "nope"), "unknown task 'nope'"),
    (("--steps", "-1"), "--steps must be >= 0"),
    (("--lr", "0"), "--lr must be > 0"),
])
def test_usage_errors(run, tmp_path, args, message):
    code, _, err = run("train", *args, "--out", tmp_path / "o")
    assert code == 1 and message in err and "Traceback" not in err


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

    fig = training.psychometric_figure(task, batch, result.outputs)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "3.2", "6.4", "12.8", "25.6",
                                                           "51.2"]
    assert ax.get_xlabel() == "coherence (%)" and ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ideal observer", "network"]

    fig = training.trials_figure(task, model, batch, result)
    axes = fig.axes
    assert len([a for a in axes if a.get_ylabel()]) == 3
    titles = [a.get_title() for a in axes if a.get_title()]
    assert len(titles) == 4 and titles[0].startswith("coherence 51.2%")
    rate_ax = [a for a in axes if a.get_ylabel() == "mean rate per region"][0]
    assert len(rate_ax.lines) == len(model.layout.regions)
    legend_texts = {t.get_text() for a in axes if a.get_legend() for t in a.get_legend().texts}
    assert {"fixation", "p(choice 1)", "ctx_e", "thal"} <= legend_texts

    h = History(step=[1, 2], loss=[1.0, 0.5], accuracy=[0.2, 0.6], task_loss=[1.0, 0.5],
                evals=[{"step": 2, "accuracy": 0.7}])
    fig = training.training_figure(h)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and list(loss_ax.lines[0].get_ydata()) == [1.0, 0.5]
    assert len(acc_ax.lines) == 2 and acc_ax.get_ylabel() == "accuracy"

    fig = training.circuit_figure(G)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert all(name in texts for name in ("thalamus", "SNr", "lesioned", "choice"))

    with torch.no_grad():
        model.parametrizations.weight_hh.original.mul_(2.0)  # a known change: W doubles
    fig = training.connectivity_figure(model.circuit, model)
    titles = {a.get_title() for a in fig.axes}
    assert titles >= {"before training", "after training", "recurrent change (after - before)"}
    change_ax = [a for a in fig.axes if a.get_title().startswith("recurrent change")][0]
    shown = change_ax.images[0].get_array()
    assert shown.shape == (model.hidden_size,) * 2
    torch.testing.assert_close(torch.as_tensor(shown.data), model.circuit.weight_hh)
    assert [t.get_text() for t in change_ax.get_yticklabels()] == list(model.layout.regions)


@pytest.mark.parametrize("task", [FlipFlop(), ContextDependentIntegration()],
                         ids=lambda t: t.name)
def test_trials_figure_other_tasks(task):
    import mrnngraph as mg

    G = two_area_ei(size=10, n_inputs=task.input_size, n_outputs=task.output_size)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    batch = task.batch(6, seed=0)
    with torch.no_grad():
        result = model(batch.inputs)
    fig = training.trials_figure(task, model, batch, result)
    out_ax = [a for a in fig.axes if a.get_ylabel().startswith("outputs")][0]
    assert len(out_ax.lines) == 2 * task.output_size  # solid outputs, dashed targets
