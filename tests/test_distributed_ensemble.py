"""``train(ensemble, distributed=True)``: data-parallel training of an ensemble over 2
CPU processes (gloo), checked against each member trained alone with DDP on the same
2 processes; clipping that binds, a regulariser and a diverging member."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import json, os, sys
import torch
torch.set_num_threads(1)
import mrnngraph as mg
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import PerceptualDecisionMaking
from mrnngraph.training import RateL2, constraint_violations, train

out, rank = sys.argv[1], int(os.environ["RANK"])
task = PerceptualDecisionMaking(stimulus=100, delay=0, decision=40)
kw = dict(steps=4, lr=0.05, batch_size=8, seed=0, clip_grad=0.05, progress=False,
          health_every=None, losses=[RateL2(1e-2)], distributed=True)


def models():
    G = two_area_ei(size=8)
    ms = [mg.MultiRegionRNN(mg.compile(G, seed=s), dt=20.0, tau=100.0, dtype=torch.float64)
          for s in range(3)]
    with torch.no_grad():  # member 1's loss is not finite at step 1
        ms[1].parametrizations.weight_hh.original.mul_(1e18)
    return ms


start = models()
ens = mg.Ensemble.from_models(models())
if rank == 1:  # other starting weights: rank 0's must be broadcast
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(0.1)
try:
    h = train(ens, task, **kw)
    result = {"member_loss": h.member_loss, "grad_norm": h.member_grad_norm,
              "diverged": h.diverged, "terms": h.member_terms}
except NotImplementedError as err:
    result = {"refused": str(err)}
    json.dump(result, open(os.path.join(out, f"rank{rank}.json"), "w"))
    sys.exit(3)
torch.save(ens.state_dict(), os.path.join(out, f"ens{rank}.pt"))
result["initialized"] = torch.distributed.is_initialized()  # the group train() made is closed
os.environ["MASTER_PORT"] = sys.argv[2]  # one group for both runs alone (train joins it)
torch.distributed.init_process_group("gloo")
alone = {}
for k in (0, 2):
    m = models()[k]
    ha = train(m, task, **kw)
    alone[k] = {"loss": ha.loss}
    torch.save(m.state_dict(), os.path.join(out, f"alone{k}_{rank}.pt"))
    torch.save(ens[k].state_dict(), os.path.join(out, f"member{k}_{rank}.pt"))
torch.save(ens[1].state_dict(), os.path.join(out, f"member1_{rank}.pt"))
torch.save(start[1].state_dict(), os.path.join(out, f"start1_{rank}.pt"))
result["alone"] = alone
result["violations"] = [constraint_violations(ens[k]) for k in range(3)]
json.dump(result, open(os.path.join(out, f"rank{rank}.json"), "w"))
"""


def _port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_ensemble_data_parallel_equals_each_member_with_ddp(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port, second = _port(), _port()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), second],
            env={
                **env,
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
                "WORLD_SIZE": "2",
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                "OMP_NUM_THREADS": "1",
                "PYTHONPATH": str(ROOT),
            },
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    try:
        errs = [p.communicate(timeout=180)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert "refused" not in info[0], info[0]
    assert [p.returncode for p in procs] == [0, 0], errs

    # Every rank holds the same ensemble and the same history.
    a, b = (torch.load(tmp_path / f"ens{r}.pt", weights_only=True) for r in range(2))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert info[0]["member_loss"] == info[1]["member_loss"]
    assert info[0]["terms"] == info[1]["terms"]

    # Member 1 diverged at step 1 on both ranks and kept its starting weights.
    for i in info:
        assert [(d["member"], d["step"], d["what"]) for d in i["diverged"]] == [(1, 1, "loss")]
    m1 = torch.load(tmp_path / "member1_0.pt", weights_only=True)
    s1 = torch.load(tmp_path / "start1_0.pt", weights_only=True)
    ho = "parametrizations.weight_ho.original"  # "fixate" held at zero from the start
    assert all(torch.equal(m1[k], s1[k]) for k in s1 if "original" in k and k != ho)
    assert torch.equal(m1[ho][1:], s1[ho][1:]) and bool((m1[ho][0] == 0).all())

    # The others equal the member trained alone with DDP on the same two processes
    # (the same per-rank batches), clipping binding at some steps.
    norms = [n for step in info[0]["grad_norm"] for n in (step[0], step[2])]
    assert max(norms) > 0.05 and all(n == n for n in norms)
    for k in (0, 2):
        ours = torch.load(tmp_path / f"member{k}_0.pt", weights_only=True)
        alone = torch.load(tmp_path / f"alone{k}_0.pt", weights_only=True)
        for name, t in alone.items():
            assert torch.allclose(ours[name], t, rtol=0, atol=1e-10), (k, name)
        losses = [step[k] for step in info[0]["member_loss"]]
        assert losses == pytest.approx(info[0]["alone"][str(k)]["loss"], rel=1e-10)
    for i in info:
        assert i["violations"] == [{"dale": 0, "mask": 0, "frozen": 0}] * 3
        assert not i["initialized"]  # the group train() made is closed
