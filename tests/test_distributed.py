"""Data-parallel training over 2 CPU processes (gloo): identical parameters, constraints hold."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import mrnngraph.cli as cli

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent("""
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    import mrnngraph as mg
    from mrnngraph.presets import cbgt_loop
    from mrnngraph.tasks import PerceptualDecisionMaking
    from mrnngraph.training import constraint_violations, train

    out = sys.argv[1]
    rank = int(os.environ["RANK"])
    G = cbgt_loop(scale=0.1)
    G.edges["thal", "ctx_e"]["trainable"] = False  # a frozen projection too
    model = mg.MultiRegionRNN.from_graph(G, seed=3)
    initial = model.weight_hh.detach().clone()
    if rank == 1:  # start from other weights: DDP must broadcast rank 0's
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1)
    task = PerceptualDecisionMaking(stimulus=200, delay=0, decision=100)
    history = train(model, task, steps=4, lr=0.05, batch_size=8, seed=0, progress=False,
                    distributed=True)
    torch.save(model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    json.dump({"loss": history.loss, "violations": constraint_violations(model),
               "changed": bool((model.weight_hh != initial).any()),
               "initialized": torch.distributed.is_initialized()},
              open(os.path.join(out, f"rank{rank}.json"), "w"))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_hold_identical_parameters(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(tmp_path)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys() and "parametrizations.weight_hh.original" in a
    for k in a:
        assert torch.equal(a[k], b[k]), k
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert info[0]["loss"] == info[1]["loss"]  # averaged over both ranks
    for i in info:
        assert i["violations"] == {"dale": 0, "mask": 0, "frozen": 0}
        assert i["changed"] and not i["initialized"]  # the group train() made is closed


def test_cli_distributed_launches_processes(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("training",))
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    out = tmp_path / "run"
    n = torch.get_num_threads()
    try:
        code = cli.main(
            [
                "train",
                "--distributed",
                "--nproc",
                "2",
                "--steps",
                "2",
                "--batch-size",
                "8",
                "--eval-trials",
                "20",
                "--quiet",
                "--no-figures",
                "--out",
                str(out),
            ]
        )
    finally:
        torch.set_num_threads(n)
    assert code == 0
    assert f"wrote {out}" in capfd.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert m["processes"] == 2 and m["steps"] == 2
    names = sorted(p.name for p in out.iterdir())
    assert names == ["history.csv", "history.json", "metrics.json", "model.pt"]
    assert m["constraint_violations"] == {"dale": 0, "mask": 0, "frozen": 0}


def test_distributed_needs_a_process_group(monkeypatch):
    from mrnngraph.training import distributed_env

    monkeypatch.delenv("RANK", raising=False)
    assert distributed_env() is None
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed_env() == {"rank": 1, "world_size": 4, "local_rank": 1}


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_backend_is_gloo_on_cpu(monkeypatch, tmp_path):
    """One process is a valid group too: train() makes it with gloo and closes it."""
    import mrnngraph as mg
    from mrnngraph.presets import two_area_ei
    from mrnngraph.tasks import PerceptualDecisionMaking
    from mrnngraph.training import train

    seen = {}
    real_init = torch.distributed.init_process_group

    def spy(backend, **kw):
        seen["backend"] = backend
        return real_init(backend, **kw)

    monkeypatch.setattr(torch.distributed, "init_process_group", spy)
    for k, v in {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }.items():
        monkeypatch.setenv(k, v)
    model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    h = train(
        model,
        PerceptualDecisionMaking(stimulus=100, delay=0, decision=40),
        steps=2,
        batch_size=4,
        seed=0,
        progress=False,
        distributed=True,
    )
    assert seen["backend"] == "gloo" and len(h) == 2
    assert not torch.distributed.is_initialized()


_LAUNCHED = """
import os, signal, sys, time

def work(out):
    rank = os.environ["RANK"]
    open(os.path.join(out, f"started{rank}"), "w").close()
    try:
        time.sleep(120)
    except KeyboardInterrupt:  # Ctrl-C: writing what it has takes a while
        time.sleep(2.0)
        open(os.path.join(out, f"wrote{rank}"), "w").close()

if __name__ == "__main__":
    from mrnngraph.training import launch

    try:
        launch(work, sys.argv[1], nprocs=2, threads=1)
    except KeyboardInterrupt:
        os._exit(130)  # as mrnngraph's CLI leaves after an interrupt
"""


def test_launch_waits_for_its_processes_after_ctrl_c(tmp_path):
    """Ctrl-C reaches launch() and its processes (one process group); launch waits for
    them to finish what they write instead of leaving at once (its exit would send
    each a second SIGINT), then raises KeyboardInterrupt."""
    import signal
    import time

    script = tmp_path / "launched.py"  # a file: the spawned processes import it
    script.write_text(_LAUNCHED)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    try:
        end = time.monotonic() + 120
        while not all((tmp_path / f"started{r}").exists() for r in range(2)):
            assert proc.poll() is None and time.monotonic() < end, proc.stderr.read()
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert all((tmp_path / f"wrote{r}").exists() for r in range(2)), err
