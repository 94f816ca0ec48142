"""What a user runs, run the way a user runs it: in a fresh process, at torch's default
thread count, each with a time limit.

The rest of the suite pins one torch thread (tests/conftest.py) to keep CI's two cores
free; these tests leave the child's threads alone, so a problem that only shows at the
default settings (such as compile leaving MKL unable to run a batched solve: issue 12)
fails here instead of stalling a user's session. A child that hangs is killed at its
time limit and the test fails with what the child had written to stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Variables that would pin the child's threads below torch's default.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Each child needs 5-20 s of CPU; the limit leaves room for a machine shared with other
# jobs (a run at load 13 on 2 cores took 7x its CPU time) and still stops a hang.
LIMIT_S = 240


def run_child(code: str, cwd: Path, *, timeout: float) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter at default threads; fail on a hang or a crash."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:

        def text(b: bytes | str | None) -> str:
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

        pytest.fail(
            f"the child did not finish within {timeout:.0f} s (a hang?).\n"
            f"stdout:\n{text(err.stdout)[-3000:]}\nstderr:\n{text(err.stderr)[-3000:]}"
        )
    if proc.returncode != 0:
        pytest.fail(
            f"the child exited with {proc.returncode}.\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
        )
    # MKL reports a corrupted call (on stdout) and may carry on with garbage.
    for stream in (proc.stdout, proc.stderr):
        if "MKL ERROR" in stream:
            pytest.fail(f"MKL reported an error in the child:\n{stream[-3000:]}")
    return proc


def test_batched_float64_solve_after_compile(tmp_path):
    # Issue 12: after compiling a circuit with several edges, a batched float64 solve
    # (what the Levenberg-Marquardt fixed-point finder runs) hung or failed inside MKL.
    proc = run_child(
        """
        import networkx as nx
        import torch
        import mrnngraph as mg
        from mrnngraph.analysis import find_fixed_points
        from mrnngraph.presets import cbgt_loop

        G = nx.DiGraph()
        G.add_node("stim", kind="input", size=4)
        G.add_node("ctx", size=80, exc_frac=0.8, tau=50.0)
        G.add_node("str", size=40, sign="inh")
        G.add_node("thal", size=40, sign="exc", base_firing=1.0, init=1.0)
        G.add_node("choice", kind="output", size=2)
        G.add_edge("stim", "ctx", sparsity=0.5)
        G.add_edge("ctx", "ctx", sparsity=0.8, autapses=False)
        G.add_edge("ctx", "str", density=0.3, rule="fixed_indegree", ei=["EI"])
        G.add_edge("str", "thal", density=0.5)
        G.add_edge("thal", "ctx", trainable=False, gain=0.5)
        G.add_edge("ctx", "choice", ei=["E"])
        threads = torch.get_num_threads()
        for graph in (G, cbgt_loop()):
            mg.compile(graph, seed=0)
        assert torch.get_num_threads() == threads, (threads, torch.get_num_threads())

        g = torch.Generator().manual_seed(0)
        A = torch.randn(8, 160, 160, dtype=torch.float64, generator=g)
        A = A @ A.mT + torch.eye(160, dtype=torch.float64)
        b = torch.randn(8, 160, 1, dtype=torch.float64, generator=g)
        x = torch.linalg.solve(A, b)
        residual = float((A @ x - b).abs().max())
        assert residual < 1e-8, residual

        # What hung in the issue: Levenberg-Marquardt on the 160-unit circuit.
        model = mg.MultiRegionRNN(mg.compile(G, seed=0))
        fps = find_fixed_points(model, torch.zeros(4), torch.randn(4, 160, generator=g),
                                max_iter=20)
        assert fps.points.shape[1] == 160 and bool((fps.q >= 0).all()), fps
        print("solved", threads, residual)
    """,
        tmp_path,
        timeout=LIMIT_S,
    )
    words = proc.stdout.split()
    assert words[0] == "solved" and int(words[1]) >= 1 and float(words[2]) < 1e-8


def test_user_flow_compile_train_analyse_draw_save(tmp_path):
    # compile -> model -> training steps -> every analysis -> drawing -> save/load.
    proc = run_child(
        """
        import math
        from pathlib import Path

        import matplotlib
        import matplotlib.pyplot as plt
        import torch

        import mrnngraph as mg
        from mrnngraph.analysis import (currents, find_fixed_points, flow_field, jacobian,
                                        plot_block_norms, plot_currents, plot_flow_field,
                                        plot_spectrum, sample_states, total_current)
        from mrnngraph.presets import cbgt_loop
        from mrnngraph.tasks import PerceptualDecisionMaking

        assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
        here = Path.cwd()
        threads = torch.get_num_threads()

        G = cbgt_loop()
        circuit = mg.compile(G, seed=0)
        model = mg.MultiRegionRNN(circuit, dt=20.0, tau=100.0)  # alpha = 0.2 everywhere
        H = circuit.layout.hidden_size
        task = PerceptualDecisionMaking(dt=20.0, stimulus=300.0, delay=200.0)

        history = mg.train(model, task, steps=3, batch_size=16, seed=0, progress=False)
        assert len(history.loss) == 3 and all(math.isfinite(v) for v in history.loss)

        batch = task.batch(8, seed=1)
        with torch.no_grad():
            out = model(batch.inputs)
        B, T = batch.inputs.shape[:2]
        assert out.states.shape == (B, T, H) and bool(torch.isfinite(out.states).all())

        # Currents by pathway: they add up to the total drive.
        parts = currents(model, out.rates, batch.inputs)
        assert ("gpe", "stn") in parts and parts[("gpe", "stn")].shape == (B, T, 16)
        total = total_current(model, parts)
        step = out.states[:, 1:] - 0.8 * out.states[:, :-1]
        torch.testing.assert_close(step, 0.2 * total[:, 1:], rtol=0, atol=1e-4)
        plot_currents(parts)

        # Lesions at run time; the model is the same afterwards.
        before = {k: v.clone() for k, v in model.state_dict().items()}
        stn = circuit.layout.slice("stn")
        with torch.no_grad(), mg.perturb(model, silence=["stn"], cut=[("gpe", "snr")]):
            lesioned = model(batch.inputs)
        assert bool((lesioned.rates[..., stn] == 0).all())
        assert not torch.equal(lesioned.rates, out.rates)
        after = model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)

        # Fixed points with both methods: batched float64 solves at default threads.
        u = batch.inputs[0, -1]
        init = sample_states(out.states, 4, noise=0.5,
                             generator=torch.Generator().manual_seed(0))
        lm = find_fixed_points(model, u, init, max_iter=15)
        adam = find_fixed_points(model, u, init, method="adam", max_iter=40, refine_iter=2)
        for fps in (lm, adam):
            assert fps.points.ndim == 2 and fps.points.shape[1] == H
            assert fps.points.shape[0] >= 1 and bool((fps.q >= 0).all())
        plot_spectrum(lm)

        # Linearisation at the best point.
        J = jacobian(model, lm.points[int(lm.q.argmin())], u)
        assert J.matrix.shape == (H, H) and bool(torch.isfinite(J.eigenvalues).all())
        assert J["stn", "ctx_e"].shape == (16, 96)
        plot_block_norms(J)

        # Flow field on the plane of cortex.
        ff = flow_field(model, out.states, regions="ctx", inputs=u, grid=6)
        assert bool(torch.isfinite(ff.speed).all())
        plot_flow_field(ff, fixed_points=lm)

        text = str(mg.report(model))
        assert "cbgt_loop" in text and "stn" in text

        # Drawing, to PNG files.
        ax = mg.draw(G)
        ax.figure.savefig(here / "area.png")
        mg.plot_connectivity(model).figure.savefig(here / "matrix.png")
        plt.close("all")
        for name in ("area.png", "matrix.png"):
            data = (here / name).read_bytes()
            assert data[:8] == b"\\x89PNG\\r\\n\\x1a\\n" and len(data) > 5000, name

        # A checkpoint gives the same model back; a graph file gives the same circuit.
        mg.save_model(model, here / "model.pt", graph=G)
        loaded = mg.load_model(here / "model.pt")
        with torch.no_grad():
            again = loaded(batch.inputs)
        torch.testing.assert_close(again.outputs, out.outputs)
        mg.save(G, here / "circuit.json")
        G2 = mg.load(here / "circuit.json")
        assert list(G2.nodes) == list(G.nodes) and list(G2.edges) == list(G.edges)
        c2 = mg.compile(G2, seed=0)
        assert all(torch.equal(b.weight, c2.blocks[k].weight) for k, b in circuit.blocks.items())

        assert torch.get_num_threads() == threads
        print("user flow ok", threads)
    """,
        tmp_path,
        timeout=LIMIT_S,
    )
    assert proc.stdout.split()[:3] == ["user", "flow", "ok"], proc.stdout[-3000:]
    assert {p.name for p in tmp_path.iterdir()} >= {
        "area.png",
        "matrix.png",
        "model.pt",
        "circuit.json",
    }


def test_fixed_points_after_the_user_sets_threads(tmp_path):
    # Users set threads (the CLI's --threads, cluster scripts); the finder must still run.
    run_child(
        """
        import torch
        torch.set_num_threads(2)
        import mrnngraph as mg
        from mrnngraph.analysis import find_fixed_points
        from mrnngraph.presets import cbgt_loop

        model = mg.MultiRegionRNN.from_graph(cbgt_loop(), seed=0)
        g = torch.Generator().manual_seed(0)
        fps = find_fixed_points(model, torch.zeros(3), torch.randn(4, 240, generator=g),
                                max_iter=10)
        assert fps.points.shape[1] == 240 and bool((fps.q >= 0).all()), fps
        print("ok")
    """,
        tmp_path,
        timeout=LIMIT_S,
    )
