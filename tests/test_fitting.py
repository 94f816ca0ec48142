"""fit, pvar, pathway_strength, the fit figures and the ground-truth recovery (small)."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import mrnngraph as mg  # noqa: E402
from mrnngraph.analysis.fit_plots import (  # noqa: E402
    plot_fit_traces,
    plot_pathway_currents,
    plot_pvar,
)
from mrnngraph.analysis.pathways import pathway_strength  # noqa: E402
from mrnngraph.errors import GraphError  # noqa: E402
from mrnngraph.fitting import FitHistory, Observation, fit, pvar, reconstruct  # noqa: E402
from mrnngraph.recording import Recording, activity  # noqa: E402
from mrnngraph.training import RateL2, TrainingDiverged, WeightL2, constraint_violations  # noqa

pytestmark = pytest.mark.filterwarnings("ignore::mrnngraph.CircuitWarning")


def _graph(size=8, *, sign=False, frozen=False, absent=False):
    G = nx.DiGraph(dt=10.0, tau=50.0, activation="tanh")
    G.add_node("u", kind="input", size=2)
    for r in ("a", "b"):
        kw = {"exc_frac": 0.75} if sign else {}
        G.add_node(r, size=size, **kw)
        G.add_edge("u", r)
        G.add_edge(r, r)
    G.add_edge("a", "b", trainable=not frozen)
    if not absent:
        G.add_edge("b", "a", density=0.5)
    return G


def _data(seed=0, n=8, T=30, size=8, **kw):
    truth = mg.MultiRegionRNN.from_graph(_graph(size, **kw), seed=seed)
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, T, 2, generator=g) * 0.5
    rec = activity(truth, u)
    return truth, rec


# --------------------------------------------------------------------------- pvar
def test_pvar_of_the_generating_model_is_one_and_matches_curbds_formula():
    truth, rec = _data()
    scores = pvar(truth, rec)
    assert set(scores) == {"all", "a", "b"}
    assert scores["all"] > 0.999 and scores["a"] > 0.999
    # against another model: the formula by hand
    other = mg.MultiRegionRNN.from_graph(_graph(), seed=5)
    m = reconstruct(other, rec)
    d = np.concatenate([rec.rates[r][:, 1:] for r in rec.regions], axis=2).astype(float)
    mm = np.concatenate([m.rates[r][:, 1:] for r in rec.regions], axis=2).astype(float)
    n_t = d.size
    expected = 1 - (np.linalg.norm(d - mm) / (math.sqrt(n_t) * d.std())) ** 2
    assert pvar(other, rec)["all"] == pytest.approx(expected, rel=1e-5)
    assert m.rates["a"][:, 0].tolist() == rec.rates["a"][:, 0].tolist()  # bin 0 is data


def test_pvar_needs_a_matching_recording():
    truth, rec = _data()
    with pytest.raises(GraphError, match="region 'zz' not in the circuit"):
        pvar(truth, Recording({"zz": rec.rates["a"]}, dt=10.0, inputs=rec.inputs))
    with pytest.raises(
        ValueError,
        match=r"bin width \(15 ms\) must be a whole number of "
        r"model steps \(model dt = 10 ms\)",
    ):
        pvar(truth, Recording(rec.rates, dt=15.0, inputs=rec.inputs))
    with pytest.raises(TypeError, match="recording must be a mrnngraph.Recording"):
        pvar(truth, rec.rates)


# --------------------------------------------------------------------------- fit
def test_fit_recovers_a_small_ground_truth_on_held_out_trials():
    """Rates in pseudo-Hz, a partly observed region, held-out trials: the unexplained
    variance falls to under a quarter of the untrained model's and the absent pathway
    carries less current than the present one."""
    truth, rec_units = _data(seed=0, n=24, T=40, size=8, absent=True)
    rng = np.random.default_rng(0)
    hz = {
        r: 5 + 20 * rng.uniform(0.5, 1.5, v.shape[2]) * (1 + v) for r, v in rec_units.rates.items()
    }
    rec = Recording(hz, dt=10.0, inputs=rec_units.inputs, trials={"i": np.arange(24)})
    rec = Recording(
        {"a": rec.rates["a"], "b": rec.rates["b"][:, :, :6]},
        dt=10.0,
        inputs=rec.inputs,
        trials=rec.trials,
    )  # 2 latent units in b
    train, test = rec.split(0.25, seed=0)
    model = mg.MultiRegionRNN.from_graph(_graph(8), seed=3)
    before = pvar(model, test, observation=Observation.initial(train, "tanh"))["all"]
    history = fit(
        model,
        train,
        steps=80,
        lr=3e-2,
        batch_size=18,
        progress=False,
        validation=test,
        eval_every=40,
    )
    after = pvar(model, test)
    assert isinstance(history, FitHistory) and len(history.loss) == 80
    assert history.loss[-1] < 0.2 * history.loss[0]
    assert after["all"] > 0.95 and (1 - after["all"]) < 0.25 * (1 - before), (before, after)
    assert min(after["a"], after["b"]) > 0.9
    assert [e["step"] for e in history.evals] == [40, 80]
    assert history.evals[-1]["pvar"] == pytest.approx(after)
    assert isinstance(model.observation, Observation)
    s = pathway_strength(model, test)
    assert s[("a", "b")] > s[("b", "a")]


def test_constraints_hold_throughout_the_fit():
    _, rec = _data(sign=True, frozen=True)
    model = mg.MultiRegionRNN.from_graph(_graph(sign=True, frozen=True), seed=1)
    frozen0 = model.projection("a", "b").detach().clone()
    mask0 = model.mask_hh.clone()
    seen = []

    def check(step, history, m):
        seen.append(constraint_violations(m))
        return False

    fit(model, rec, steps=6, lr=0.1, progress=False, callbacks=[check])
    assert len(seen) == 6 and all(v == {"dale": 0, "mask": 0, "frozen": 0} for v in seen)
    assert torch.equal(model.projection("a", "b"), frozen0)
    assert torch.equal(model.mask_hh, mask0)
    assert not any(n.startswith(("mask", "sign")) for n, _ in model.named_parameters())


def test_latent_x0_is_learned_and_observed_units_start_from_data():
    _, rec = _data(size=8)
    sub = Recording({"a": rec.rates["a"][:, :, :5]}, dt=10.0, inputs=rec.inputs)
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=2)
    x0_before = model.x0.clone()
    fit(model, sub, steps=5, lr=0.05, progress=False)
    lay = model.layout
    observed = torch.zeros(model.hidden_size, dtype=torch.bool)
    observed[lay.slice("a").start : lay.slice("a").start + 5] = True
    assert torch.equal(model.x0[observed], x0_before[observed])  # taken from data per trial
    assert not torch.equal(model.x0[~observed], x0_before[~observed])
    frozen = mg.MultiRegionRNN.from_graph(_graph(), seed=2)
    fit(frozen, sub, steps=3, progress=False, learn_x0=False)
    assert torch.equal(frozen.x0, x0_before)
    m = reconstruct(model, sub)
    np.testing.assert_allclose(m.rates["a"][:, 0], sub.rates["a"][:, 0])


def test_fit_is_reproducible_with_a_seed_and_takes_regularisers():
    _, rec = _data()
    out = []
    for _ in range(2):
        model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
        h = fit(
            model,
            rec,
            steps=4,
            batch_size=3,
            seed=7,
            progress=False,
            losses=[RateL2(1e-3), WeightL2(1e-4)],
        )
        out.append((h.loss, model.weight_hh.detach().clone()))
    assert out[0][0] == out[1][0] and torch.equal(out[0][1], out[1][1])
    assert set(h.terms) == {"rate_l2", "weight_l2[hh]"} and len(h.terms["rate_l2"]) == 4
    d = h.to_dict()
    assert d["observation"]["loss"] == "gaussian" and len(d["observation"]["scale"]["a"]) == 8


def test_poisson_counts_fit_and_refuse_negative_values():
    truth, rec = _data()
    rng = np.random.default_rng(0)
    counts = {r: rng.poisson(3 * (1 + v)).astype(float) for r, v in rec.rates.items()}
    crec = Recording(counts, dt=10.0, inputs=rec.inputs)
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    h = fit(model, crec, steps=30, lr=3e-2, loss="poisson", progress=False)
    assert h.loss[-1] < h.loss[0] and model.observation.loss == "poisson"
    m = reconstruct(model, crec)
    assert (m.rates["a"][:, 1:] > 0).all()  # a Poisson mean
    with pytest.raises(ValueError, match="needs counts >= 0"):
        fit(model, rec, steps=1, loss="poisson", progress=False)


def test_divergence_restores_the_last_good_weights():
    _, rec = _data()
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    calls = []

    def explode(model_, out, batch):
        calls.append(1)
        return out.rates.sum() * (math.inf if len(calls) == 3 else 0.0)

    with pytest.raises(TrainingDiverged, match="diverged at step 3: the loss") as err:
        fit(model, rec, steps=10, lr=0.05, progress=False, losses={"boom": explode})
    assert err.value.good_step == 2 and len(err.value.history.loss) == 2
    # the weights used at step 2, the last with a finite loss (as train() does)
    probe = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    fit(
        probe,
        rec,
        steps=1,
        lr=0.05,
        progress=False,
        losses={"boom": lambda m, o, b: o.rates.sum() * 0.0},
    )
    assert torch.allclose(model.weight_hh, probe.weight_hh)
    assert torch.isfinite(model.weight_hh).all() and isinstance(model.observation, Observation)


def test_early_stopping_keeps_the_best_weights():
    _, rec = _data(n=12)
    train, test = rec.split(0.25, seed=0)
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    # a huge learning rate makes validation worse after the first evaluations
    h = fit(
        model,
        train,
        steps=40,
        lr=0.5,
        clip_grad=None,
        progress=False,
        validation=test,
        eval_every=2,
        early_stopping=2,
    )
    best = max(h.evals, key=lambda e: e["pvar"]["all"])
    assert h.best_step == best["step"]
    assert pvar(model, test)["all"] == pytest.approx(best["pvar"]["all"], abs=1e-5)
    if h.stopped_early:
        assert len(h.step) < 40
    with pytest.raises(ValueError, match="early_stopping needs a validation"):
        fit(model, train, steps=1, early_stopping=2, progress=False)


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"steps": -1}, ValueError, "steps must be an integer >= 0"),
        ({"steps": 1.5}, TypeError, "steps must be an integer"),
        ({"steps": 1, "lr": 0}, ValueError, "lr must be a float > 0"),
        ({"steps": 1, "loss": "l1"}, ValueError, "loss must be one of 'gaussian', 'poisson'"),
        ({"steps": 1, "batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
    ],
)
def test_bad_options(kw, err, match):
    _, rec = _data()
    model = mg.MultiRegionRNN.from_graph(_graph(), seed=1)
    with pytest.raises(err, match=match):
        fit(model, rec, progress=False, **kw)


def test_fit_checks_the_recording_against_the_circuit():
    _, rec = _data()
    model = mg.MultiRegionRNN.from_graph(_graph(size=4), seed=1)
    with pytest.raises(GraphError, match="8 recorded neurons but the region has 4 units"):
        fit(model, rec, steps=1, progress=False)
    with pytest.raises(GraphError, match="has no inputs but the circuit has 2 input units"):
        fit(model, Recording({"a": rec.rates["a"][..., :4]}, dt=10.0), steps=1, progress=False)


def test_steps_per_bin_runs_several_model_steps_per_bin():
    truth = mg.MultiRegionRNN.from_graph(_graph(), seed=0, dt=5.0)
    u_bins = torch.randn(4, 20, 2, generator=torch.Generator().manual_seed(1))
    # 10-ms bins of a 5-ms model: each bin's input held over its two steps, and the bin
    # is the rate after them
    fine = activity(truth, u_bins.repeat_interleave(2, dim=1))
    coarse = Recording(
        {r: v[:, 1::2] for r, v in fine.rates.items()}, dt=10.0, inputs=u_bins.numpy()
    )
    assert pvar(truth, coarse)["all"] > 0.999
    assert pvar(truth, Recording(fine.rates, dt=5.0, inputs=fine.inputs))["all"] > 0.999


# --------------------------------------------------------------------------- pathways + figures
def test_pathway_strength_is_the_mean_abs_current_and_splits_by_ei():
    truth, rec = _data(sign=True)
    s = pathway_strength(truth, rec)
    assert set(s) == {("a", "a"), ("b", "b"), ("a", "b"), ("b", "a")}
    from mrnngraph.analysis import currents
    from mrnngraph.fitting import free_run

    out, x0, u, _ = free_run(truth, rec)
    c = currents(truth, out.rates, u, x0=x0)
    assert s[("a", "b")] == pytest.approx(float(c[("a", "b")].detach().abs().mean()), rel=1e-6)
    with_inputs = pathway_strength(truth, rec, include_inputs=True)
    assert ("u", "a") in with_inputs
    ei = pathway_strength(truth, rec, split_ei=True)
    assert {k[2] for k in ei} <= {"EE", "EI", "IE", "II"} and ("a", "b", "IE") in ei
    # E and I sources push in opposite directions: the split is not a partition of |I|
    assert all(v >= 0 for v in ei.values())
    plain = mg.MultiRegionRNN.from_graph(_graph(), seed=0)
    with pytest.raises(ValueError, match="split_ei needs E/I types"):
        pathway_strength(plain, rec, split_ei=True)


def test_fit_figures_have_their_content():
    truth, rec = _data(absent=True)
    fig = plot_pathway_currents(truth, rec)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert any(t.startswith("a → b") for t in titles)
    assert any(t == "b → a" for t in titles)  # not declared: empty panel
    assert any(txt.get_text() == "not declared" for ax in fig.axes for txt in ax.texts)
    ax = plot_pvar({"a": 0.9, "b": 0.5, "all": 0.7}, reference={"a": 0.3, "all": 0.2})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "all"]
    assert len(ax.patches) == 6
    fig = plot_fit_traces(truth, rec, trial=1, neurons=2)
    lines = [ln for ax in fig.axes for ln in ax.get_lines()]
    assert len(lines) == 2 * 2 * 2  # regions x neurons x (data, model)
    np.testing.assert_allclose(lines[0].get_ydata(), rec.rates["a"][1, :, lines_neuron(fig)])
    with pytest.raises(IndexError, match="trial 99"):
        plot_fit_traces(truth, rec, trial=99)
    import matplotlib.pyplot as plt

    plt.close("all")


def lines_neuron(fig) -> int:
    label = fig.axes[0].get_lines()[1].get_label()  # "neuron 5 (model)"
    return int(label.split()[1])


def test_fit_in_a_fresh_process_at_default_threads():
    code = (
        "import warnings, torch, mrnngraph as mg\n"
        "warnings.simplefilter('ignore')\n"
        "from mrnngraph.presets.ground_truth import simulate_ground_truth, fitting_graph\n"
        "from mrnngraph.fitting import fit, pvar\n"
        "gt = simulate_ground_truth(size=4, n_trials=4, n_steps=10, seed=0)\n"
        "m = mg.MultiRegionRNN.from_graph(fitting_graph(4), seed=1)\n"
        "h = fit(m, gt['recording'], steps=3, progress=False)\n"
        "print(len(h.loss), sorted(pvar(m, gt['recording'])))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "3 ['a', 'all', 'b', 'c']"


def test_ground_truth_preset_declares_the_absent_pathways_absent():
    from mrnngraph.presets.ground_truth import (
        ABSENT_PATHWAYS,
        fitting_graph,
        ground_truth_graph,
    )

    G = ground_truth_graph(10)
    assert all(not G.has_edge(*p) for p in ABSENT_PATHWAYS)
    F = fitting_graph(10)
    assert all(F.has_edge(s, d) for s in "abc" for d in "abc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")


# --------------------------------------------------------------------------- command line
def _cli_parser():
    import argparse

    from mrnngraph.cli.fitting import register

    parser = argparse.ArgumentParser(prog="mrnngraph")
    register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_fit_writes_metrics_figures_and_a_loadable_model(tmp_path, capsys):
    truth, rec = _data(n=8, T=20)
    rec.save(tmp_path / "rec.npz")
    G = _graph()
    mg.save(G, tmp_path / "circuit.json")
    out = tmp_path / "run"
    args = _cli_parser().parse_args(
        [
            "fit",
            str(tmp_path / "circuit.json"),
            str(tmp_path / "rec.npz"),
            "--steps",
            "4",
            "--out",
            str(out),
            "--quiet",
            "--sparsity",
            "0.01",
            "--forcing",
            "3",
        ]
    )
    assert args.handler(args) == 0
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["pvar_test"]) == {"all", "a", "b"}
    assert metrics["trials"] == {"train": 6, "test": 2} and metrics["steps"] == 4
    assert metrics["forcing"] == 3 and metrics["sparsity"] == 0.01
    assert "a->b" in metrics["pathway_strength"]
    for f in (
        "fit_pvar.png",
        "fit_currents.png",
        "fit_traces.png",
        "fit_loss.png",
        "history.json",
        "model.pt",
    ):
        assert (out / f).is_file(), f
    model = mg.load_model(out / "model.pt")
    meta = mg.load_checkpoint(out / "model.pt").metadata
    obs = Observation.from_dict(meta["observation"])
    assert pvar(model, rec[:2], observation=obs)["all"] == pytest.approx(
        pvar(model, rec[:2], observation=obs)["all"]
    )
    assert "held-out pVar: all" in capsys.readouterr().out


def _regression_data(tmp_path):
    """A tanh recording with one model step per bin (what regress needs)."""
    G = nx.DiGraph(dt=10.0, tau=50.0, activation="tanh")
    G.add_node("u", kind="input", size=2)
    for r in "ab":
        G.add_node(r, size=5)
        G.add_edge("u", r)
    for s_ in "ab":
        for d_ in "ab":
            G.add_edge(s_, d_)
    truth = mg.MultiRegionRNN.from_graph(G, seed=0)
    gen = torch.Generator().manual_seed(0)
    units = activity(truth, torch.randn(12, 15, 2, generator=gen))
    rec = Recording({r: 5 + 10 * v for r, v in units.rates.items()}, 10.0, inputs=units.inputs)
    rec.save(tmp_path / "rec.npz")
    mg.save(G, tmp_path / "circuit.json")
    return [str(tmp_path / "circuit.json"), str(tmp_path / "rec.npz")]


@pytest.mark.parametrize("steps", ["0", "3"])
def test_cli_fit_from_a_regression(tmp_path, capsys, steps):
    import json

    out = tmp_path / "run"
    args = _cli_parser().parse_args(
        ["fit", *_regression_data(tmp_path), "--start", "regression", "--refine", "5"]
        + ["--steps", steps, "--out", str(out), "--quiet", "--no-figures"]
    )
    assert args.handler(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    reg = metrics["regression"]
    assert metrics["start"] == "regression" and metrics["steps"] == int(steps)
    assert reg["refine"] == 5 and reg["refine_trials"] == 6 and reg["sparsity"] == 0.1
    assert reg["r2"] > 0.5 and metrics["pvar_test"]["all"] > 0.5
    assert (out / "history.json").is_file() == (steps != "0")
    written = {"model.pt", "metrics.json"} | ({"history.json"} if steps != "0" else set())
    assert set(metrics["files"]) == written
    model = mg.load_model(out / "model.pt")
    obs = Observation.from_dict(mg.load_checkpoint(out / "model.pt").metadata["observation"])
    rec = Recording.load(tmp_path / "rec.npz")
    assert pvar(model, rec, observation=obs)["all"] > 0.5


def test_cli_fit_regression_options_need_start_regression(tmp_path, capsys):
    out = tmp_path / "run"
    args = _cli_parser().parse_args(
        ["fit", *_regression_data(tmp_path), "--refine", "5", "--reg-sparsity", "0.2"]
        + ["--out", str(out), "--quiet"]
    )
    assert args.handler(args) == 1
    err = capsys.readouterr().err
    assert "--refine, --reg-sparsity only apply with --start regression" in err
    assert not out.exists()


def test_cli_fit_regression_refuses_several_steps_per_bin(tmp_path, capsys):
    args = _cli_parser().parse_args(
        ["fit", *_regression_data(tmp_path), "--start", "regression", "--dt", "5"]
        + ["--out", str(tmp_path / "run"), "--quiet"]
    )
    assert args.handler(args) == 1
    assert "error:" in capsys.readouterr().err


def test_cli_fit_reports_bad_input_in_one_line(tmp_path, capsys):
    _, rec = _data(n=4, T=10)
    Recording({"zz": rec.rates["a"]}, dt=10.0, inputs=rec.inputs).save(tmp_path / "r.npz")
    mg.save(_graph(), tmp_path / "c.json")
    parser = _cli_parser()
    args = parser.parse_args(
        [
            "fit",
            str(tmp_path / "c.json"),
            str(tmp_path / "r.npz"),
            "--steps",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    with pytest.raises(GraphError, match="region 'zz' not in the circuit"):
        args.handler(args)  # the main entry point prints GraphErrors one line per problem
    args = parser.parse_args(
        ["fit", str(tmp_path / "c.json"), str(tmp_path / "x.nwb"), "--out", str(tmp_path / "o")]
    )
    with pytest.raises(FileNotFoundError):
        args.handler(args)
    (tmp_path / "s.nwb").write_bytes(b"")
    args = parser.parse_args(
        ["fit", str(tmp_path / "c.json"), str(tmp_path / "s.nwb"), "--out", str(tmp_path / "o")]
    )
    assert args.handler(args) == 1
    assert "needs --regions" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "c.json", "s.nwb", "--regions", "m2"])


def test_pathway_sparsity_is_the_sum_of_between_region_block_norms():
    from mrnngraph.fitting import PathwaySparsity

    model = mg.MultiRegionRNN.from_graph(_graph(), seed=0)
    w = model.weight_hh.detach()
    ab = w[8:, :8].norm() / math.sqrt(8)
    ba = w[:8, 8:].norm() / math.sqrt(8)
    got = PathwaySparsity(0.5)(model, None, None).detach()
    assert float(got) == pytest.approx(0.5 * float(ab + ba), rel=1e-5)
    with_self = PathwaySparsity(0.5, self_connections=True)(model, None, None).detach()
    assert float(with_self) > float(got)
    with pytest.raises(ValueError, match="weight must be a float >= 0"):
        PathwaySparsity(-1.0)
