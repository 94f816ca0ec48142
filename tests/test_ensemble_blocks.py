"""Block-sparse execution of an ensemble (``sparse=True``): the same runs, gradients and
training as the dense batched matmul, to float rounding."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest
import torch

import mrnngraph as mg
from mrnngraph._ensemble_blocks import EnsembleBlocks, choose_sparse_ensemble
from tests.test_ensemble import circuits
from tests.test_ensemble_tau import tau_circuits

D = torch.float64
ROOT = Path(__file__).resolve().parents[1]


def _pair(cs, **kw):
    dense = mg.Ensemble(cs, sparse=False, dtype=D, **kw)
    sparse = mg.Ensemble(cs, sparse=True, dtype=D, **kw)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in dense.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=D))
    sparse.load_state_dict(dense.state_dict())
    return dense, sparse


@pytest.mark.parametrize("scan", ["fused", "autograd"])
def test_block_sparse_equals_dense(scan):
    """Variants with frozen, zero and differently masked pathways; learned time constants."""
    for cs, act in ((circuits(), "softplus"), (tau_circuits(), "tanh")):
        dense, sparse = _pair(cs, activation=act, scan=scan)
        assert sparse.sparse and not dense.sparse and "sparse=True" in repr(sparse)
        u = torch.randn(len(cs), 2, 7, cs[0].layout.input_size, dtype=D)
        x = [e(u) for e in (dense, sparse)]
        for a, b in zip(*x, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
        for out in x:
            (out.outputs.sin().sum() + out.rates.square().sum()).backward()
        for (name, a), b in zip(dense.named_parameters(), sparse.parameters(), strict=True):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-11, atol=1e-12, msg=name)


def test_block_sparse_under_perturb_and_training_steps():
    dense, sparse = _pair(circuits(), activation="softplus")
    u = torch.randn(2, 6, 3, dtype=D)
    kw = {"silence": "str", "cut": [("thal", "ctx"), ("ctx", "ctx")], "stimulate": {"ctx": 0.2}}
    with mg.perturb(dense, **kw), mg.perturb(sparse, **kw):
        torch.testing.assert_close(sparse(u).outputs, dense(u).outputs, rtol=1e-12, atol=1e-13)
    opts = [torch.optim.Adam(e.parameters(), lr=1e-2) for e in (dense, sparse)]
    for _ in range(3):
        for e, opt in zip((dense, sparse), opts, strict=True):
            opt.zero_grad()
            e(u).outputs.square().mean((1, 2, 3)).sum().backward()
            opt.step()
    for a, b in zip(dense.parameters(), sparse.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_only_declared_blocks_are_gathered():
    cs = circuits(2)
    blocks = EnsembleBlocks(cs)
    H = cs[0].layout.hidden_size
    covered = torch.zeros(2 * H, 2 * H, dtype=torch.bool)
    for g in blocks.groups:
        for d, s in zip(g.dst_starts, g.src_starts, strict=True):
            covered[d : d + g.nd, s : s + g.ns] = True
    for k, c in enumerate(cs):
        own = covered[k * H : (k + 1) * H, k * H : (k + 1) * H]
        # every possible synapse (and only live pathways) is inside a gathered block
        assert bool(own[c.mask_hh].all())
        assert not covered[k * H : (k + 1) * H, : k * H].any()
    # str -> thal is zero in all but member 2's variant: member 0 has no block there
    lay = cs[0].layout
    assert not covered[lay.slice("thal"), lay.slice("str")].any()


def _ring(all_pairs: bool = False, size: int = 64) -> nx.DiGraph:
    """8 regions, each feeding itself and the next (or every region)."""
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=1)
    for i in range(8):
        G.add_node(f"r{i}", size=size)
    G.add_edge("u", "r0")
    for i in range(8):
        for j in range(8) if all_pairs else (i, (i + 1) % 8):
            G.add_edge(f"r{i}", f"r{j}")
    return G


def test_sparse_none_follows_the_members_circuits():
    small = circuits(2)
    assert not choose_sparse_ensemble(small) and not mg.Ensemble(small).sparse
    ring = [mg.compile(_ring(), seed=s) for s in range(2)]
    assert all(mg.MultiRegionRNN(c).sparse for c in ring)
    assert choose_sparse_ensemble(ring) and mg.Ensemble(ring).sparse
    mixed = [ring[0], mg.compile(_ring(all_pairs=True), seed=0)]
    assert not mg.MultiRegionRNN(mixed[1]).sparse
    assert not choose_sparse_ensemble(mixed) and not mg.Ensemble(mixed).sparse
    # 256 units: a model runs block-sparse, an ensemble (where it measured no faster) not
    smaller = [mg.compile(_ring(size=32), seed=s) for s in range(2)]
    assert all(mg.MultiRegionRNN(c).sparse for c in smaller)
    assert not choose_sparse_ensemble(smaller) and not mg.Ensemble(smaller).sparse
    with pytest.raises(TypeError, match="sparse must be a bool or None"):
        mg.Ensemble(small, sparse="yes")


def test_default_threads_in_a_child_process():
    """Block-sparse and delayed ensembles under torch's default thread count: the same
    outputs and gradients as the dense path, each member its own model's (the
    index_add scatters may run on several threads)."""
    code = textwrap.dedent(
        """
        import warnings, torch, mrnngraph as mg
        from tests.test_ensemble import circuits
        from tests.test_ensemble_delays import delayed_circuits
        warnings.simplefilter("ignore")
        u = torch.randn(8, 10, 3, dtype=torch.float64)
        for cs in (circuits(), delayed_circuits()):
            runs = []
            for sparse in (True, False):
                ens = mg.Ensemble(cs, sparse=sparse, dtype=torch.float64)
                out = ens(u)
                out.outputs.square().sum().backward()
                runs.append((out.outputs, ens.parametrizations.weight_hh.original.grad))
            for a, b in zip(*runs):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
            for k in range(len(cs)):
                o = mg.MultiRegionRNN(cs[k], sparse=False, dtype=torch.float64)(u)
                torch.testing.assert_close(o.outputs, runs[0][0][k], rtol=1e-12, atol=1e-12)
        print("ok", torch.get_num_threads())
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok")
