"""``mrnngraph train --seeds`` stopped by a signal: the finished members keep their
folders and the summary says what was cut short (each in a child process, with a
timeout)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from mrnngraph.io import save
from mrnngraph.presets import two_area_ei


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 20-unit circuit that fits perceptual decision making (3 inputs, 3 outputs)."""
    path = tmp_path_factory.mktemp("circuit") / "small.yaml"
    save(two_area_ei(size=10, n_inputs=3, n_outputs=3), path)
    return path


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


_CHILD = """
import os, signal, sys
import mrnngraph.training as T

# A job started in the background without job control inherits SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)

real = T.train


def train(*args, **kwargs):
    def stop(step, history, model):
        if kwargs["seed"] == 1 and step == 2:
            os.kill(os.getpid(), signal.SIGINT)
    kwargs["callbacks"] = [stop]
    return real(*args, **kwargs)


T.train = train
from mrnngraph.cli import main

sys.exit(main(["train", sys.argv[1], "--seeds", "0-2", "--steps", "50", "--batch-size", "4",
               "--eval-trials", "20", "--quiet", "--no-figures", "--out", sys.argv[2]]))
"""


def test_an_interrupt_keeps_the_finished_members(tmp_path, small):

    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(small), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "interrupted by SIGINT after 2 of 50" in proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] == {
        "signal": "SIGINT",
        "member": 1,
        "members": [1],
        "completed_members": [0],
    }
    rows = {int(r["seed"]): r["status"] for r in _rows(out / "members.csv")}
    assert rows == {0: "trained", 1: "interrupted"}
    assert json.loads((out / "member_0" / "metrics.json").read_text())["eval"]["n_trials"] == 20
    m1 = json.loads((out / "member_1" / "metrics.json").read_text())
    assert m1["interrupted"]["completed_steps"] == 2
    assert not (out / "member_2" / "metrics.json").exists()


_BATCHED_CHILD = """
import os, signal, sys
import mrnngraph.training as T

signal.signal(signal.SIGINT, signal.default_int_handler)
real = T.train


def train(*args, **kwargs):
    def stop(step, history, model):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)
    kwargs["callbacks"] = [stop]
    return real(*args, **kwargs)


T.train = train
from mrnngraph.cli import main

sys.exit(main(["train", sys.argv[1], "--seeds", "0-1", "--batched", "--steps", "50",
               "--batch-size", "4", "--eval-trials", "20", "--quiet", "--no-figures",
               "--out", sys.argv[2]]))
"""


def test_an_interrupt_of_a_batched_sweep_writes_every_member_cut_short(tmp_path, small):

    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-c", _BATCHED_CHILD, str(small), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 130, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] == {
        "signal": "SIGINT",
        "member": 0,
        "members": [0, 1],
        "completed_members": [],
    }
    assert {int(r["seed"]): r["status"] for r in _rows(out / "members.csv")} == {
        0: "interrupted",
        1: "interrupted",
    }
    for s in (0, 1):
        cut = json.loads((out / f"member_{s}" / "metrics.json").read_text())["interrupted"]
        assert cut["completed_steps"] == 2


_WRITING_CHILD = """
import sys
import mrnngraph.cli._train_seeds as seeds

real = seeds.write_run


def write_run(args, *rest):
    if args.seed == 1:  # Ctrl-C while member 1's folder is written
        raise KeyboardInterrupt
    return real(args, *rest)


seeds.write_run = write_run
from mrnngraph.cli import main

sys.exit(main(["train", sys.argv[1], "--seeds", "0-2", "--steps", "2", "--batch-size", "4",
               "--eval-trials", "20", "--quiet", "--no-figures", "--out", sys.argv[2]]))
"""


def test_an_interrupt_between_members_keeps_the_summary(tmp_path, small):

    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-c", _WRITING_CHILD, str(small), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] == {
        "signal": "SIGINT",
        "member": None,
        "members": [],
        "completed_members": [0],
    }
    assert {int(r["seed"]): r["status"] for r in _rows(out / "members.csv")} == {0: "trained"}
