"""Every public function of fitting, recordings and the activity analyses checks its
arguments one way: a wrong kind is a TypeError, a wrong value a ValueError, and the
message names the argument."""

import re

import numpy as np
import pytest
import torch

import mrnngraph as mg
from mrnngraph.analysis import (
    decode,
    flow_field,
    jacobian,
    lesion_effect,
    pathway_currents,
    pathway_strength,
    pca,
    plot_block_norms,
    plot_currents,
    plot_decoding,
    plot_fit_traces,
    plot_flow_field,
    plot_lesion_effects,
    plot_pathway_currents,
    plot_pvar,
    plot_spectrum,
    plot_trajectories,
)
from mrnngraph.fitting import PathwaySparsity, fit, free_run, pvar, reconstruct
from mrnngraph.presets import two_area_ei
from mrnngraph.recording import Recording, activity
from mrnngraph.tasks import PerceptualDecisionMaking


@pytest.fixture(scope="module")
def ctx():
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0, activation="tanh")
    g = torch.Generator().manual_seed(0)
    y = np.arange(12) % 2
    rec = activity(model, torch.randn(12, 6, 3, generator=g), trials={"y": y})
    one_bin = rec.rates["a1"][:, :1]
    return {
        "model": model,
        "task": PerceptualDecisionMaking(),
        "rec": rec,
        "short": Recording({"a1": one_bin}, rec.dt, inputs=rec.inputs[:, :1]),
        "J": jacobian(model, torch.zeros(model.hidden_size)),
        "ff": flow_field(model, model(torch.zeros(2, 5, 3)), grid=3),
    }


def _m(fn):
    """``fn(model, ...)``."""
    return lambda c, **kw: fn(c["model"], **kw)


def _mr(fn):
    """``fn(model, recording, ...)``."""
    return lambda c, **kw: fn(c["model"], c["rec"], **kw)


def _r(fn):
    """``fn(recording, ...)``."""
    return lambda c, **kw: fn(c["rec"], **kw)


def _fit(c, **kw):
    return fit(c["model"], c["rec"], **{"steps": 1, "progress": False, **kw})


NO = object()  # the argument has no wrong value of this kind

# (function, argument, wrong kind, wrong value)
CASES = [
    (_fit, "steps", 1.5, -1),
    (_fit, "lr", "fast", 0.0),
    (_fit, "batch_size", 2.0, 0),
    (_fit, "seed", 0.5, NO),
    (_fit, "loss", 3, "l1"),
    (_fit, "output_weight", "1", -1.0),
    (_fit, "clip_grad", True, 0.0),
    (_fit, "eval_every", 1.5, 0),
    (_fit, "early_stopping", 1.5, 0),
    (_fit, "learn_observation", 1, NO),
    (_fit, "learn_x0", "yes", NO),
    (_fit, "progress", None, NO),
    (_fit, "optimizer", "adam", NO),
    (_fit, "validation", {"a1": 0}, NO),
    (lambda c, **kw: fit(c["model"], **{"steps": 1, **kw}), "recording", "rec", NO),
    (lambda c, **kw: fit(**{"recording": c["rec"], "steps": 1, **kw}), "model", "m", NO),
    (_m(pvar), "recording", [1, 2], NO),
    (lambda c, **kw: pvar(c["model"], c["short"]), "recording", NO, None),
    (_m(reconstruct), "recording", "r", NO),
    (_m(free_run), "recording", 3, NO),
    (_mr(free_run), "observation", "obs", NO),
    (lambda c, **kw: PathwaySparsity(**{"weight": 1.0, **kw}), "weight", "1", -1.0),
    (lambda c, **kw: PathwaySparsity(1.0, **kw), "self_connections", 1, NO),
    (lambda c, **kw: Recording(**{"rates": c["rec"].rates, "dt": 1.0, **kw}), "dt", "1", 0.0),
    (lambda c, **kw: Recording(**{"rates": c["rec"].rates, "dt": 1.0, **kw}), "rates", [1], {}),
    (lambda c, **kw: c["rec"].split(**kw), "test_fraction", "0.5", 1.0),
    (lambda c, **kw: c["rec"].split(**kw), "seed", 0.5, -1),
    (lambda c, **kw: c["rec"].split(**kw), "stratify", 3, NO),
    (lambda c, **kw: c["rec"].check_against(**kw), "model_or_circuit", "m", NO),
    (lambda c, **kw: activity(**{"model": c["model"], "inputs": c["rec"], **kw}), "model", 3, NO),
    (_m(activity), "inputs", "u", np.zeros((2, 5, 7))),
    (lambda c, **kw: decode(c["rec"], "y", **kw), "folds", 2.5, 1),
    (lambda c, **kw: decode(c["rec"], "y", **kw), "seed", "0", -1),
    (lambda c, **kw: decode(c["rec"], "y", **kw), "window", 1.5, 0),
    (lambda c, **kw: decode(c["rec"], "y", **kw), "kind", 3, "ordinal"),
    (lambda c, **kw: decode(c["rec"], "y", **kw), "alphas", "big", [1.0, 0.0]),
    (lambda c, **kw: decode(**{"labels": "y", **kw}), "recording", 3, NO),
    (_r(pca), "n_components", 2.0, 0),
    (lambda c, **kw: lesion_effect(c["model"], c["task"], "a1", **kw), "n_random", 1.5, 0),
    (lambda c, **kw: lesion_effect(c["model"], c["task"], "a1", **kw), "batch_size", "8", 0),
    (lambda c, **kw: lesion_effect(c["model"], c["task"], "a1", **kw), "seed", 0.5, -1),
    (lambda c, **kw: lesion_effect(c["model"], c["task"], "a1", **kw), "metric", 3, NO),
    (lambda c, **kw: lesion_effect(c["model"], c["task"], **kw), "lesion", 3, {"silence": []}),
    (lambda c, **kw: lesion_effect(c["model"], **{"lesion": "a1", **kw}), "task", "pdm", NO),
    (_mr(pathway_strength), "split_ei", "yes", NO),
    (_mr(pathway_strength), "include_inputs", 1, NO),
    (_mr(pathway_currents), "include_inputs", None, NO),
    (_m(pathway_strength), "recording", "r", NO),
    (lambda c, **kw: plot_currents(**{"currents": {}, **kw}), "currents", [1], NO),
    (lambda c, **kw: plot_currents({}, **kw), "top", 2.5, 0),
    (lambda c, **kw: plot_currents({}, **kw), "dt", "10", -1.0),
    (lambda c, **kw: plot_currents({}, **kw), "time_axis", 1.5, NO),
    (lambda c, **kw: plot_block_norms(c["J"], **kw), "norm", 2, "nuclear"),
    (lambda c, **kw: plot_block_norms(c["J"], **kw), "leak", "no", NO),
    (lambda c, **kw: plot_block_norms(**kw), "jac", "J", NO),
    (lambda c, **kw: plot_spectrum(c["J"], **kw), "continuous", 1, NO),
    (lambda c, **kw: plot_spectrum(c["J"], **kw), "dt", "1", 0.0),
    (lambda c, **kw: plot_flow_field(c["ff"], **kw), "kind", 1, "arrows"),
    (lambda c, **kw: plot_flow_field(c["ff"], **kw), "max_trajectories", 2.0, -1),
    (lambda c, **kw: plot_flow_field(**kw), "ff", None, NO),
    (lambda c, **kw: plot_decoding(**kw), "result", "res", NO),
    (lambda c, **kw: plot_trajectories(**kw), "result", {}, NO),
    (lambda c, **kw: plot_trajectories(pca(c["rec"], 2), **kw), "max_trials", 1.5, -1),
    (lambda c, **kw: plot_trajectories(pca(c["rec"], 2), **kw), "ncols", "2", 0),
    (lambda c, **kw: plot_lesion_effects([], **kw), "seed", 0.5, -1),
    (lambda c, **kw: plot_pvar(**kw), "scores", [0.5], NO),
    (lambda c, **kw: plot_pvar({"all": 0.5}, **kw), "reference", 0.5, NO),
    (_mr(plot_fit_traces), "trial", 0.5, NO),
    (_mr(plot_fit_traces), "neurons", "3", 0),
    (_m(plot_pathway_currents), "recording", "r", NO),
]


def _params(cases):
    for fn, name, wrong_type, wrong_value in cases:
        for kind, bad in ((TypeError, wrong_type), (ValueError, wrong_value)):
            if bad is not NO:
                yield pytest.param(fn, name, bad, kind, id=f"{name}={bad!r}-{kind.__name__}")


@pytest.mark.parametrize("fn, name, bad, kind", list(_params(CASES)))
def test_a_bad_argument_is_named_with_the_right_exception(ctx, fn, name, bad, kind):
    with pytest.raises(kind) as err:
        fn(ctx, **({} if bad is None and kind is ValueError else {name: bad}))
    assert issubclass(type(err.value), kind) and not (
        kind is TypeError and isinstance(err.value, ValueError)
    )
    assert re.search(rf"\b{name}\b", str(err.value)), str(err.value)
