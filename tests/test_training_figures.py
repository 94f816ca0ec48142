"""The figures of a training run (mrnngraph.analysis.training_plots), by content: artists,
labels, norms, panels. Headless, fixed seeds, no training."""

from __future__ import annotations

import json

import matplotlib
import matplotlib.colors as mcolors
import networkx as nx
import numpy as np
import pytest
import torch

import mrnngraph as mg
from mrnngraph import analysis
from mrnngraph.analysis import training_plots as tp
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import ContextDependentIntegration, FlipFlop, PerceptualDecisionMaking
from mrnngraph.training import History

matplotlib.use("Agg")


def _weak_block_graph() -> nx.DiGraph:
    """Input u -> a; a <-> b; a -> y. The projection a -> b is planted 100x weaker."""
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=12, sign="exc")
    G.add_node("b", size=8, sign="inh")
    G.add_node("y", kind="output", size=2)
    G.add_edges_from([("u", "a"), ("a", "a"), ("b", "a"), ("a", "y")])
    G.add_edge("a", "b", gain=0.01)
    return G


def _panel(fig, title):
    return next(a for a in fig.axes if a.get_title() == title)


def _block(data, rows, cols, dst, src):
    # Small circuits are shown unwidened: the image's pixels are the matrix's entries.
    r0, r1 = next((a, b) for n, a, b in rows if n == dst)
    c0, c1 = next((a, b) for n, a, b in cols if n == src)
    return np.asarray(data)[r0:r1, c0:c1]


# --------------------------------------------------------------------------- the old path
def test_old_import_path_warns_and_gives_the_same_function():
    from mrnngraph.cli import training

    for name in (
        "circuit_figure",
        "connectivity_figure",
        "training_figure",
        "trials_figure",
        "psychometric_figure",
    ):
        with pytest.warns(DeprecationWarning, match=f"analysis.training_plots.{name}"):
            f = getattr(training, name)
        assert f is getattr(tp, name) is getattr(analysis, name)
    with pytest.raises(AttributeError, match="no_such_figure"):
        training.no_such_figure  # noqa: B018


def test_cli_module_defines_no_figures():
    import inspect

    from mrnngraph.cli import training

    src = inspect.getsource(training)
    assert "def circuit_figure" not in src and "def connectivity_figure" not in src
    assert "imshow" not in src and "Figure(" not in src


# --------------------------------------------------------------------------- connectivity
@pytest.fixture(scope="module")
def weak():
    model = mg.MultiRegionRNN.from_graph(_weak_block_graph(), seed=3)
    return model.circuit, model


def test_block_scale_shows_a_weak_block_as_strongly_as_a_strong_one(weak):
    circuit, model = weak
    fig = tp.connectivity_figure(circuit, model)  # default: "block"
    rows, cols = tp._groups(model.layout)
    before = _panel(fig, "before training")
    img = before.images[0]
    assert isinstance(img.norm, mcolors.TwoSlopeNorm)
    assert (img.norm.vmin, img.norm.vmax) == (-1.0, 1.0)
    data = img.get_array()
    weak_max = np.abs(_block(data, rows, cols, "b", "a")).max()
    strong_max = np.abs(_block(data, rows, cols, "a", "a")).max()
    assert weak_max == pytest.approx(1.0) and strong_max == pytest.approx(1.0)
    # Each shown block's scale is printed in it: u->a, a->a, b->a, a->b, a->y.
    texts = {t.get_text() for t in before.texts}
    assert len(before.texts) == 5
    w_ab = float(circuit.weight_hh[12:, :12].abs().max())  # [dst b, src a]
    assert f"{w_ab:.2g}" in texts
    cbar = next(a for a in fig.axes if "largest |w| of its block" in a.get_ylabel())
    assert cbar is not None


def test_shared_scale_lets_the_weak_block_vanish(weak):
    circuit, model = weak
    fig = tp.connectivity_figure(circuit, model, scale="shared")
    rows, cols = tp._groups(model.layout)
    img = _panel(fig, "before training").images[0]
    data = np.asarray(img.get_array())
    weak_max = np.abs(_block(data, rows, cols, "b", "a")).max()
    assert weak_max / img.norm.vmax < 0.05
    assert not _panel(fig, "before training").texts


def test_symlog_scale_and_labelled_change_panel(weak):
    circuit, model = weak
    with torch.no_grad():
        model.parametrizations.weight_hh.original.mul_(2.0)  # W doubles: change == W
    try:
        fig = tp.connectivity_figure(circuit, model, scale="symlog")
    finally:
        with torch.no_grad():
            model.parametrizations.weight_hh.original.div_(2.0)
    img = _panel(fig, "after training").images[0]
    assert isinstance(img.norm, mcolors.SymLogNorm)
    assert 0 < img.norm.linthresh < img.norm.vmax
    change = _panel(fig, "recurrent change (after - before)")
    np.testing.assert_allclose(
        np.asarray(change.images[0].get_array()), circuit.weight_hh.numpy(), rtol=1e-6, atol=1e-7
    )
    assert isinstance(change.images[0].norm, mcolors.SymLogNorm)
    note = " ".join(t.get_text() for t in change.texts)
    assert "||after - before|| / ||before|| = 100 %" in note
    labels = [a.get_ylabel() for a in fig.axes]
    assert any(lab.startswith("weight change (symmetric log") for lab in labels)
    assert [t.get_text() for t in change.get_yticklabels()] == ["a", "b"]


def test_inputs_and_outputs_are_named_and_widened():
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=100, n_inputs=3, n_outputs=3), seed=0)
    fig = tp.connectivity_figure(model.circuit, model)
    ax = _panel(fig, "before training")
    names = [t.get_text() for t in ax.get_xticklabels()]
    lay = model.layout
    assert names == [*lay.inputs, *lay.regions]
    assert [t.get_text() for t in ax.get_yticklabels()] == [*lay.regions, *lay.outputs]
    h, w = ax.images[0].get_array().shape
    assert h > lay.hidden_size + lay.output_size and w > lay.hidden_size + lay.input_size


def test_unknown_scale_is_an_error(weak):
    with pytest.raises(ValueError, match="scale must be one of 'block', 'symlog', 'shared'"):
        tp.connectivity_figure(*weak, scale="log")


# --------------------------------------------------------------------------- learning curves
def test_accuracy_ceiling_of_a_planted_mix():
    # Without noise the ideal observer is right on every trial with a stimulus and guesses
    # at 0 %: a third of the trials at 50 % -> 5/6.
    ceiling, why = tp.accuracy_ceiling(PerceptualDecisionMaking(coherences=(0, 10, 20), sigma=0.0))
    assert ceiling == pytest.approx(5 / 6)
    assert why == "0 % coherence is 1 trial in 3: a coin flip"
    ceiling, why = tp.accuracy_ceiling(PerceptualDecisionMaking(coherences=(10, 20), sigma=0.0))
    assert ceiling == pytest.approx(1.0) and "0 %" not in why
    assert tp.accuracy_ceiling(FlipFlop()) is None
    assert tp.accuracy_ceiling(ContextDependentIntegration()) is None


def test_training_figure_shows_held_out_beside_per_batch_and_the_ceiling():
    h = History(
        step=[1, 2, 3, 4],
        loss=[1.0, 0.5, 0.4, 0.3],
        accuracy=[0.2, 0.6, 0.7, 0.8],
        task_loss=[1.0, 0.5, 0.4, 0.3],
        evals=[
            {"step": 2, "loss": 0.6, "accuracy": 0.5, "accuracy_coherence_ge_12.8": 0.55},
            {"step": 4, "loss": 0.35, "accuracy": 0.75, "accuracy_coherence_ge_12.8": 0.9},
        ],
    )
    task = PerceptualDecisionMaking()
    loss_ax, acc_ax = tp.training_figure(h, task=task).axes[:2]
    assert loss_ax.get_yscale() == "log"
    held = [ln for ln in loss_ax.lines if ln.get_label() == "held-out"]
    assert len(held) == 1 and list(held[0].get_ydata()) == [0.6, 0.35]
    by_label = {ln.get_label(): ln for ln in acc_ax.lines}
    assert list(by_label["training batch"].get_ydata()) == [0.2, 0.6, 0.7, 0.8]
    assert list(by_label["held-out"].get_xdata()) == [2, 4]
    assert list(by_label["held-out"].get_ydata()) == [0.5, 0.75]
    assert list(by_label["held-out, coherence >= 12.8 %"].get_ydata()) == [0.55, 0.9]
    ceiling = tp.accuracy_ceiling(task)[0]
    ideal = next(ln for lab, ln in by_label.items() if lab.startswith("ideal observer"))
    assert list(ideal.get_ydata()) == [ceiling, ceiling]
    assert f"{100 * ceiling:.1f} %" in ideal.get_label()
    assert any("coin flip" in t.get_text() for t in acc_ax.texts)
    legend = {t.get_text() for t in acc_ax.get_legend().get_texts()}
    assert {"training batch", "held-out"} <= legend


def test_training_figure_without_evals_or_task():
    h = History(step=[1, 2], loss=[1.0, 0.5], accuracy=[0.2, 0.6])
    loss_ax, acc_ax = tp.training_figure(h).axes
    assert len(loss_ax.lines) == 1 and len(acc_ax.lines) == 1 and not acc_ax.texts
    assert acc_ax.get_legend() is None


# --------------------------------------------------------------------------- example trials
def _trials(task, batch_size, seed=0):
    G = two_area_ei(size=10, n_inputs=task.input_size, n_outputs=task.output_size)
    model = mg.MultiRegionRNN.from_graph(G, seed=0)
    batch = task.batch(batch_size, seed=seed)
    with torch.no_grad():
        result = model(batch.inputs)
    return model, batch, result


def test_trials_show_every_context_and_choice():
    task = ContextDependentIntegration()
    model, batch, result = _trials(task, 200)
    fig = tp.trials_figure(task, model, batch, result)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    conds = {(t.split(":")[0], t.rsplit("choice ", 1)[1]) for t in titles}
    assert conds == {(f"context {c}", k) for c in ("motion", "color") for k in ("1", "2")}
    assert len(titles) == 4


def test_trials_pdm_alternate_choices_and_mark_fixation():
    task = PerceptualDecisionMaking()
    model, batch, result = _trials(task, 120)
    fig = tp.trials_figure(task, model, batch, result)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert titles[0].startswith("coherence 51.2%")
    assert {t.rsplit("choice ", 1)[1] for t in titles} == {"1", "2"}
    in_ax = next(a for a in fig.axes if a.get_ylabel() == "inputs")
    fix = [ln for ln in in_ax.lines if ln.get_label() == "fixation"]
    assert (
        len(fix) == 1
        and fix[0].get_linestyle() == "-."
        and mcolors.to_hex(fix[0].get_color()) == "#000000"
    )
    others = [ln for ln in in_ax.lines if ln.get_label() != "fixation"]
    assert others and all(mcolors.to_hex(ln.get_color()) != "#000000" for ln in others)
    out_ax = next(a for a in fig.axes if a.get_ylabel().startswith("outputs"))
    fixate = next(ln for ln in out_ax.lines if ln.get_label() == "p(fixate)")
    assert mcolors.to_hex(fixate.get_color()) == "#000000"
    legend = {t.get_text() for a in fig.axes if a.get_legend() for t in a.get_legend().texts}
    assert {"fixation", "p(fixate)", "p(choice 1)"} <= legend


def test_trials_without_conditions_or_fixation():
    task = FlipFlop()
    model, batch, result = _trials(task, 6)
    fig = tp.trials_figure(task, model, batch, result, n=3)
    assert len([a for a in fig.axes if a.get_title()]) == 3
    colors = {mcolors.to_hex(ln.get_color()) for a in fig.axes[:3] for ln in a.lines}
    assert "#000000" not in colors


# --------------------------------------------------------------------------- the command
def test_train_command_writes_a_held_out_curve(tmp_path, monkeypatch, capsys):
    import mrnngraph.cli as cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("training",))
    n = torch.get_num_threads()
    try:
        code = cli.main(
            [
                "train",
                "--steps",
                "4",
                "--batch-size",
                "8",
                "--eval-trials",
                "30",
                "--quiet",
                "--out",
                str(tmp_path),
            ]
        )
    finally:
        torch.set_num_threads(n)
    capsys.readouterr()
    assert code == 0
    h = json.loads((tmp_path / "history.json").read_text())
    assert [e["step"] for e in h["evals"]] == [1, 2, 3, 4]
    assert all(e["n_trials"] == 30 for e in h["evals"])
    assert (tmp_path / "training.png").stat().st_size > 0
