"""Every public function of mrnngraph.training checks its arguments one way: a wrong kind
is a TypeError, a wrong value a ValueError, and the message names the argument."""

import re

import pytest

import mrnngraph as mg
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import (
    RateL2,
    StopAt,
    WeightL1,
    WeightL2,
    constraint_violations,
    evaluate,
    launch,
    predict,
    train,
)


@pytest.fixture(scope="module")
def ctx():
    task = PerceptualDecisionMaking()
    return {
        "model": mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0),
        "task": task,
        "batch": task.batch(4, seed=0),
    }


def _train(c, **kw):
    return train(c["model"], c["task"], **{"steps": 1, "progress": False, **kw})


NO = object()  # the argument has no wrong value of this kind

# (function, argument, wrong kind, wrong value)
CASES = [
    (_train, "steps", 1.5, -1),
    (_train, "lr", "fast", 0.0),
    (_train, "batch_size", 8.0, 0),
    (_train, "clip_grad", "1", -1.0),
    (_train, "seed", 0.5, NO),
    (_train, "eval_every", 2.0, 0),
    (_train, "eval_batch_size", None, 0),
    (_train, "eval_seed", 1.5, NO),
    (_train, "health_every", True, 0),
    (_train, "progress", 1, NO),
    (_train, "distributed", "no", NO),
    (_train, "init_readout_bias", 0, NO),
    (_train, "optimizer", "adam", NO),
    (_train, "callbacks", [3], NO),
    (_train, "checkpoint", 3, NO),
    (lambda c, **kw: train(c["model"], **{"task": c["task"], "steps": 1, **kw}), "task", 3, NO),
    (
        lambda c, **kw: train(**{"model": c["model"], "task": c["task"], "steps": 1, **kw}),
        "model",
        "m",
        NO,
    ),
    (lambda c, **kw: evaluate(c["model"], c["task"], **kw), "batch_size", 2.0, 0),
    (lambda c, **kw: evaluate(c["model"], c["task"], **kw), "seed", "0", NO),
    (lambda c, **kw: evaluate(c["model"], **kw), "task", "pdm", NO),
    (lambda c, **kw: predict(c["model"], c["batch"], **kw), "chunk_size", 1.5, 0),
    (lambda c, **kw: predict(c["model"], **kw), "batch", "b", NO),
    (lambda c, **kw: predict(c["model"], c["batch"], **kw), "generator", 0, NO),
    (lambda c, **kw: constraint_violations(**kw), "model", "m", NO),
    (lambda c, **kw: launch(print, **kw), "nprocs", 2.0, 0),
    (lambda c, **kw: launch(print, **kw), "threads", "2", 0),
    (lambda c, **kw: launch(**{"fn": print, **kw}), "fn", 3, NO),
    (lambda c, **kw: RateL2(**{"weight": 1.0, **kw}), "weight", "1", -1.0),
    (lambda c, **kw: RateL2(**{"weight": 1.0, **kw}), "regions", 3, []),
    (lambda c, **kw: WeightL1(**{"weight": 1.0, **kw}), "weight", None, float("nan")),
    (lambda c, **kw: WeightL2(**{"weight": 1.0, **kw}), "which", [1], ["xx"]),
    (lambda c, **kw: StopAt(**{"accuracy": 0.9, **kw}), "accuracy", "0.9", float("inf")),
    (lambda c, **kw: StopAt(**{"accuracy": 0.9, **kw}), "window", 2.5, 0),
]


def _params(cases):
    for fn, name, wrong_type, wrong_value in cases:
        for kind, bad in ((TypeError, wrong_type), (ValueError, wrong_value)):
            if bad is not NO:
                yield pytest.param(fn, name, bad, kind, id=f"{name}={bad!r}-{kind.__name__}")


@pytest.mark.parametrize("fn, name, bad, kind", list(_params(CASES)))
def test_a_bad_argument_is_named_with_the_right_exception(ctx, fn, name, bad, kind):
    with pytest.raises(kind) as err:
        fn(ctx, **{name: bad})
    assert type(err.value) is kind  # not a subclass standing in for the other kind
    assert re.search(rf"\b{name}\b", str(err.value)), str(err.value)
