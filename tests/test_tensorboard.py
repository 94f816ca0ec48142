"""train(log_dir=...) writes TensorBoard scalars; History.to_csv writes the same history."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph as mg
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import RateL2

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

TASK = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_log_dir_writes_the_history_as_scalars(tmp_path):
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=8), seed=0)
    h = mg.train(
        model,
        TASK,
        steps=4,
        batch_size=8,
        seed=0,
        progress=False,
        losses=[RateL2(1e-3)],
        eval_every=2,
        eval_batch_size=16,
        log_dir=tmp_path,
    )
    s = _scalars(tmp_path)
    for tag, xs in (
        ("loss", h.loss),
        ("accuracy", h.accuracy),
        ("grad_norm", h.grad_norm),
        ("term/rate_l2", h.terms["rate_l2"]),
        ("rate/a1", h.rates["a1"]),
    ):
        assert [st for st, _ in s[tag]] == [1, 2, 3, 4]
        assert [v for _, v in s[tag]] == pytest.approx(xs, rel=1e-6)
    assert [st for st, _ in s["eval/accuracy"]] == [2, 4]
    assert s["eval/loss"][1][1] == pytest.approx(h.evals[1]["loss"], rel=1e-6)
    assert not any(t.startswith("member_") for t in s)
    # the CSV holds the same numbers, one column per quantity
    path = tmp_path / "history.csv"
    h.to_csv(path)
    rows = list(csv.DictReader(path.open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["term/rate_l2"]) for r in rows] == pytest.approx(h.terms["rate_l2"])
    assert [float(r["rate/a2"]) for r in rows] == pytest.approx(h.rates["a2"])
    assert rows[0]["eval/loss"] == "" and float(rows[1]["eval/loss"]) == h.evals[0]["loss"]


def test_ensemble_scalars_per_member(tmp_path):
    G = two_area_ei(size=8)
    ens = mg.Ensemble([mg.compile(G, seed=s) for s in range(2)], dt=20.0, tau=100.0)
    h = mg.train(ens, TASK, steps=3, batch_size=8, seed=0, progress=False, log_dir=tmp_path)
    s = _scalars(tmp_path)
    for k in range(2):
        assert [v for _, v in s[f"member_{k}/loss"]] == pytest.approx(
            [row[k] for row in h.member_loss], rel=1e-6
        )
        assert f"member_{k}/rate/a1" in s and f"member_{k}/grad_norm" in s
    assert [v for _, v in s["loss"]] == pytest.approx(h.loss, rel=1e-6)


def test_log_dir_is_checked():
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=8), seed=0)
    with pytest.raises(TypeError, match="log_dir"):
        mg.train(model, TASK, steps=1, progress=False, log_dir=3)
    with pytest.raises(TypeError, match="path"):
        mg.History().to_csv(3)


def test_missing_tensorboard_names_the_extra(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["tensorboard"] = None  # as if not installed
        import mrnngraph as mg
        from mrnngraph.presets import two_area_ei
        from mrnngraph.tasks import PerceptualDecisionMaking
        model = mg.MultiRegionRNN.from_graph(two_area_ei(size=4), seed=0)
        try:
            mg.train(model, PerceptualDecisionMaking(), steps=1, batch_size=2,
                     progress=False, log_dir={str(tmp_path)!r})
        except ImportError as err:
            print("IMPORTERROR", err)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "IMPORTERROR" in r.stdout, r.stderr
    assert "mrnngraph[tensorboard]" in r.stdout


def test_to_csv_without_steps(tmp_path):
    path = tmp_path / "empty.csv"
    mg.History().to_csv(path)
    assert path.read_text().splitlines() == ["step,loss,task_loss,accuracy,grad_norm"]


_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 4),
    members=st.one_of(st.none(), st.integers(1, 3)),
    data=st.data(),
)
def test_csv_round_trips_every_per_step_value(tmp_path_factory, n, members, data):
    per_step = st.lists(_FLOATS, min_size=n, max_size=n)
    h = mg.History(
        step=list(range(1, n + 1)),
        loss=data.draw(per_step),
        task_loss=data.draw(per_step),
        accuracy=data.draw(per_step),
        grad_norm=data.draw(per_step),
        terms={"rate_l2": data.draw(per_step)},
    )
    if members is not None:
        h.n_members = members
        row = st.lists(_FLOATS, min_size=members, max_size=members)
        h.member_loss = data.draw(st.lists(row, min_size=n, max_size=n))
        for name in ("member_task_loss", "member_accuracy", "member_grad_norm"):
            setattr(h, name, [[0.0] * members for _ in range(n)])
    path = tmp_path_factory.mktemp("csv") / "h.csv"
    h.to_csv(path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == n

    def same(a: str, b: float) -> bool:
        return (math.isnan(b) and a == "nan") or float(a) == b

    for i, r in enumerate(rows):
        assert int(r["step"]) == i + 1
        assert same(r["loss"], h.loss[i]) and same(r["term/rate_l2"], h.terms["rate_l2"][i])
        for k in range(members or 0):
            assert same(r[f"member_{k}/loss"], h.member_loss[i][k])
