"""``mrnngraph train --seeds --distributed``: batched slices per process, interrupted sweeps.

Every test starts real processes (gloo/TCP store on CPU) with a timeout, so a hang fails.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import mrnngraph.cli as cli
from mrnngraph.io import save
from mrnngraph.presets import two_area_ei

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--steps", "3", "--batch-size", "8", "--eval-trials", "40", "--quiet", "--no-figures"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 20-unit circuit that fits perceptual decision making (3 inputs, 3 outputs)."""
    path = tmp_path_factory.mktemp("circuit") / "small.yaml"
    save(two_area_ei(size=10, n_inputs=3, n_outputs=3), path)
    return path


@pytest.fixture
def run(monkeypatch, capsys):
    """Run ``mrnngraph ARGS`` in this process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("training",))
    n = torch.get_num_threads()

    def call(*args):
        try:
            code = cli.main([str(a) for a in args])
        finally:
            torch.set_num_threads(n)  # the command sets its own thread count
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _ranks(script, argv, world=2):
    """Run ``script`` as ``world`` ranks under torchrun's variables; returns the
    processes' (exit status, stdout, stderr), killing them all on a timeout."""
    port = _port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *map(str, argv)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(
                RANK=str(r),
                LOCAL_RANK=str(r),
                WORLD_SIZE=str(world),
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
                OMP_NUM_THREADS="1",
            ),
        )
        for r in range(world)
    ]
    try:
        results = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            p.kill()
    return [(p.returncode, o, e) for p, (o, e) in zip(procs, results, strict=True)]


# --------------------------------------------------------------------------- --batched
_DIVERGE = """
import sys
import torch
import mrnngraph.cli.training as C

real = C._build_model


def build(G, seed, args):
    model = real(G, seed, args)
    if seed == 1:  # weights 1e18 times too large: its loss is not finite at step 1
        with torch.no_grad():
            model.parametrizations.weight_hh.original.mul_(1e18)
    return model


C._build_model = build

if __name__ == "__main__":  # the spawned ranks import this file too: the patch holds there
    from mrnngraph.cli import main

    sys.exit(main(sys.argv[1:]))
"""


def test_batched_slices_equal_the_one_process_batched_sweep(small, tmp_path, monkeypatch):
    """--seeds 0-3 --batched --distributed --nproc 2: rank 0 trains seeds 0 and 2 as one
    ensemble, rank 1 seeds 1 and 3. Every member trains on seed 0's batches as in the
    one-process --batched sweep, so every member's history and held-out metrics match
    it. Seed 1 diverges at step 1 in both: a row, not a hang; seed 3, beside it in rank
    1's ensemble, trains on; rank 0's summary has all four rows."""
    script = tmp_path / "sweep.py"
    script.write_text(_DIVERGE)
    argv = ["train", small, "--seeds", "0-3", *FAST, "--batched", "--threads", "1"]
    proc = subprocess.run(
        [sys.executable, str(script), *map(str, argv), "--distributed", "--nproc", "2",
         "--out", tmp_path / "dist"],
        capture_output=True,
        text=True,
        timeout=180,
        env=_env(),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # a member diverged
    assert "member seed 1: " in proc.stderr and "diverged at step 1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "member seed 2 (2/2)" in proc.stdout and "member seed 3 (2/2)" in proc.stdout

    import mrnngraph.cli.training as C

    real = C._build_model

    def build(G, seed, args):
        model = real(G, seed, args)
        if seed == 1:
            with torch.no_grad():
                model.parametrizations.weight_hh.original.mul_(1e18)
        return model

    monkeypatch.setattr(C, "_build_model", build)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("training",))
    n = torch.get_num_threads()
    try:
        assert cli.main([str(a) for a in [*argv, "--out", tmp_path / "one"]]) == 1
    finally:
        torch.set_num_threads(n)
    for s in (0, 2, 3):
        h1, h2 = (
            json.loads((tmp_path / d / f"member_{s}" / "history.json").read_text())
            for d in ("dist", "one")
        )
        assert h1["seed"] == h2["seed"] == 0  # the batches of the sweep's first seed
        np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)
        assert [e["step"] for e in h1["evals"]] == [e["step"] for e in h2["evals"]]
        np.testing.assert_allclose(
            [e["accuracy"] for e in h1["evals"]], [e["accuracy"] for e in h2["evals"]], atol=1e-6
        )
        e1, e2 = (
            json.loads((tmp_path / d / f"member_{s}" / "metrics.json").read_text())["eval"]
            for d in ("dist", "one")
        )
        assert e1["n_trials"] == 40 and e1["loss"] == pytest.approx(e2["loss"], rel=1e-5)
    m = json.loads((tmp_path / "dist" / "metrics.json").read_text())
    assert m["processes"] == 2 and [r["seed"] for r in m["per_member"]] == [0, 1, 2, 3]
    assert m["training"].startswith("together as one batched Ensemble in each process")
    assert "seed 0" in m["training"] and m["summary"]["accuracy"]["n"] == 3
    assert m["diverged"] == [1]
    rows = {r["seed"]: r for r in _rows(tmp_path / "dist" / "members.csv")}
    assert {s: r["status"] for s, r in rows.items()} == {
        "0": "trained",
        "1": "diverged",
        "2": "trained",
        "3": "trained",
    }
    assert rows["1"]["diverged_at_step"] == "1" and rows["3"]["steps"] == "3"
    assert (tmp_path / "dist" / "member_1" / "model_last_good.pt").exists()
    one = {r["seed"]: r["status"] for r in _rows(tmp_path / "one" / "members.csv")}
    assert one == {s: r["status"] for s, r in rows.items()}


# --------------------------------------------------------------------------- interrupts
_SLOW_LATER = """
import sys, time
import mrnngraph.training as T

real = T.train


def train(*args, **kwargs):
    if kwargs["seed"] >= 2:  # the second member of each rank: slow enough to be cut short
        kwargs["callbacks"] = [lambda step, history, model: time.sleep(0.5)]
    return real(*args, **kwargs)


T.train = train
from mrnngraph.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", sys.argv[1], "--seeds", "0-3", "--distributed", "--nproc", "2",
                   "--threads", "1", "--steps", "40", "--batch-size", "4",
                   "--eval-trials", "20", "--quiet", "--no-figures", "--out", sys.argv[2]]))
"""


def test_ctrl_c_on_a_launched_sweep_writes_a_summary_of_what_finished(small, tmp_path):
    """Ctrl-C (SIGINT to the whole process group) while rank 0 trains seed 2 and rank 1
    seed 3, the first members done: every process exits 130, each rank writes its
    cut-short member, and rank 0 writes the summary of both ranks' members."""
    script = tmp_path / "sweep.py"  # a file: the spawned ranks import it (the patch)
    script.write_text(_SLOW_LATER)
    out = tmp_path / "dist"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(small), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,  # its own process group, as a terminal's job
    )
    try:
        end = time.monotonic() + 150
        firsts = [out / f"member_{s}" / "metrics.json" for s in (0, 1)]
        while not all(f.exists() for f in firsts) and proc.poll() is None:
            assert time.monotonic() < end, "the first members never finished"
            time.sleep(0.1)
        time.sleep(1.0)  # into the second members (0.5 s per step)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] == {
        "signal": "SIGINT",
        "member": 2,
        "members": [2, 3],
        "completed_members": [0, 1],
        "processes_not_heard_from": [],
    }
    assert m["processes"] == 2 and m["summary"]["accuracy"]["n"] == 2
    rows = {r["seed"]: r["status"] for r in _rows(out / "members.csv")}
    assert rows == {"0": "trained", "1": "trained", "2": "interrupted", "3": "interrupted"}
    for s in (2, 3):
        cut = json.loads((out / f"member_{s}" / "metrics.json").read_text())["interrupted"]
        assert cut["signal"] == "SIGINT" and 0 < cut["completed_steps"] < 40


_SILENT = """
import os, signal, sys, time
from pathlib import Path
import mrnngraph.cli._seeds_meeting as meeting
import mrnngraph.training as T

meeting.INTERRUPT_WAIT_S = 2.0
import mrnngraph.cli._train_seeds as seeds

seeds.INTERRUPT_WAIT_S = 2.0
signal.signal(signal.SIGINT, signal.default_int_handler)
out = Path(sys.argv[2])
real = T.train


def train(*args, **kwargs):
    def stop(step, history, model):
        if kwargs["seed"] == 3:  # rank 1 dies without a word
            os.kill(os.getpid(), signal.SIGKILL)
        if kwargs["seed"] == 2 and step == 2:  # rank 0 is interrupted once seed 1 is in
            end = time.monotonic() + 60
            while not (out / "member_1" / "metrics.json").exists() and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGINT)
    kwargs["callbacks"] = [stop]
    return real(*args, **kwargs)


T.train = train
from mrnngraph.cli import main

sys.exit(main(["train", sys.argv[1], "--seeds", "0-3", "--distributed", "--steps", "5",
               "--batch-size", "4", "--eval-trials", "20", "--quiet", "--no-figures",
               "--out", sys.argv[2]]))
"""


def test_an_interrupted_rank_0_does_not_wait_for_a_dead_rank(small, tmp_path):
    """Rank 1 is killed (SIGKILL) after posting seed 1; rank 0, interrupted in seed 2,
    waits the bounded time for rank 1, then writes the summary of what it was given and
    names the rank it did not hear from."""
    out = tmp_path / "dist"
    t0 = time.monotonic()
    results = _ranks(_SILENT, [small, out])
    (c0, _, e0), (c1, _, _) = results
    assert c0 == 130 and c1 == -signal.SIGKILL, e0
    assert "Traceback" not in e0
    assert time.monotonic() - t0 < 170
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] == {
        "signal": "SIGINT",
        "member": 2,
        "members": [2],
        "completed_members": [0, 1],
        "processes_not_heard_from": [1],
    }
    rows = {r["seed"]: r["status"] for r in _rows(out / "members.csv")}
    assert rows == {"0": "trained", "1": "trained", "2": "interrupted"}


# --------------------------------------------------------------------------- one member per seed
def _child_env(**extra):
    import os
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "PYTHONPATH": root, **extra}


def test_distributed_seeds_split_the_members_over_processes(run, tmp_path, small):
    """--seeds 0-2 --distributed --nproc 2: rank 0 trains seeds 0 and 2, rank 1 seed 1;
    each member is the member of the single-process sweep (same losses and held-out
    curve), and rank 0's summary lists all three in the order given."""
    import subprocess
    import sys

    code = "import sys; from mrnngraph.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["train", str(small), "--seeds", "0-2", *FAST, "--no-figures", "--distributed",
            "--nproc", "2", "--threads", "1", "--out", str(tmp_path / "dist")]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=180,
        env=_child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "member seed 2 (2/2)" in proc.stdout and "member seed 1 (1/1)" in proc.stdout
    code, _, err = run("train", small, "--seeds", "0-2", *FAST, "--no-figures", "--out",
                       tmp_path / "one")  # fmt: skip
    assert code == 0, err
    for s in range(3):
        h1, h2 = (
            json.loads((tmp_path / d / f"member_{s}" / "history.json").read_text())
            for d in ("dist", "one")
        )
        assert h1["loss"] == h2["loss"] and h1["evals"] == h2["evals"] and h1["seed"] == s
    m = json.loads((tmp_path / "dist" / "metrics.json").read_text())
    assert [r["seed"] for r in m["per_member"]] == [0, 1, 2] and m["processes"] == 2
    assert m["summary"]["accuracy"]["n"] == 3 and m["diverged"] == []
    rows = _rows(tmp_path / "dist" / "members.csv")
    assert [(r["seed"], r["status"]) for r in rows] == [(str(s), "trained") for s in range(3)]
    one = {r["seed"]: r for r in _rows(tmp_path / "one" / "members.csv")}
    for r in rows:
        assert r["eval_accuracy"] == one[r["seed"]]["eval_accuracy"]
        assert r["train_loss_final"] == one[r["seed"]]["train_loss_final"]


_RANK = """
import sys
import mrnngraph.training as T
from mrnngraph.training import History

real = T.train


def train(model, task, **kw):
    if kw["seed"] == 1:
        h = History(step=[1], loss=[0.5], accuracy=[0.0], task_loss=[0.5], grad_norm=[1.0])
        raise T.TrainingDiverged(2, "loss", float("nan"), 1, h)
    return real(model, task, **kw)


T.train = train
from mrnngraph.cli import main

sys.exit(main(["train", sys.argv[1], "--seeds", "0-2", "--steps", "3", "--batch-size", "8",
               "--eval-trials", "40", "--quiet", "--no-figures", "--distributed",
               "--out", sys.argv[2]]))
"""


def test_distributed_seeds_under_torchrun_with_a_diverged_member(tmp_path, small):
    """Under torchrun's variables: rank 1's only member (seed 1) diverges; rank 0 still
    gets its row, marks it diverged and writes the summary; nobody hangs."""
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    out = tmp_path / "dist"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RANK, str(small), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(
                RANK=str(r),
                LOCAL_RANK=str(r),
                WORLD_SIZE="2",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
                OMP_NUM_THREADS="1",
            ),  # fmt: skip
        )
        for r in range(2)
    ]
    try:
        results = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            p.kill()
    errs = [e for _, e in results]
    assert [p.returncode for p in procs] == [1, 1], errs
    assert "member seed 1" in errs[1] and "diverged at step 2" in errs[1]
    assert "Traceback" not in errs[0] + errs[1]
    m = json.loads((out / "metrics.json").read_text())
    assert m["diverged"] == [1] and m["summary"]["accuracy"]["n"] == 2
    rows = {r["seed"]: r["status"] for r in _rows(out / "members.csv")}
    assert rows == {"0": "trained", "1": "diverged", "2": "trained"}
    assert json.loads((out / "member_1" / "metrics.json").read_text())["eval"] is None
    assert (out / "member_2" / "model.pt").exists()
