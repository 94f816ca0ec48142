"""compile refuses options it cannot honour, before drawing anything (issue 13, item 7)."""

import math

import pytest
import torch

import mrnngraph as mg

from .conftest import issue_example


@pytest.mark.parametrize("radius", [math.inf, -math.inf, math.nan, 0.0, -1.0])
def test_spectral_radius_must_be_finite_and_positive(radius):
    with pytest.raises(ValueError, match=r"spectral_radius must be a float > 0 or None; got"):
        mg.compile(issue_example(), seed=0, spectral_radius=radius)


@pytest.mark.parametrize("radius", ["1.0", True, [1.0]])
def test_spectral_radius_must_be_a_number(radius):
    with pytest.raises(TypeError, match=r"spectral_radius must be a float > 0 or None; got"):
        mg.compile(issue_example(), seed=0, spectral_radius=radius)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_dtype_must_be_real_floating(dtype):
    with pytest.raises(
        ValueError, match=f"dtype must be a real floating torch.dtype .*; got {dtype}"
    ):
        mg.compile(issue_example(), seed=0, dtype=dtype)


def test_dtype_must_be_a_torch_dtype():
    with pytest.raises(TypeError, match="dtype must be a real floating torch.dtype"):
        mg.compile(issue_example(), seed=0, dtype="float32")


@pytest.mark.parametrize("seed", ["1", 1.0, True, [1]])
def test_seed_must_be_an_integer(seed):
    with pytest.raises(TypeError, match="seed must be an integer or None; got"):
        mg.compile(issue_example(), seed=seed)


def test_options_are_checked_before_the_graph():
    import networkx as nx

    bad = nx.DiGraph()
    bad.add_node("a", size=-1)
    with pytest.raises(TypeError, match="dtype"):
        mg.compile(bad, seed=0, dtype="float32")


def test_integer_seeds_of_any_type_give_the_same_circuit():
    import numpy as np

    a = mg.compile(issue_example(), seed=7)
    b = mg.compile(issue_example(), seed=np.int64(7))
    assert b.seed == 7 and type(b.seed) is int
    assert torch.equal(a.weight_hh, b.weight_hh)


def test_compile_spec_checks_its_options_too():
    from mrnngraph.compilation import compile_spec

    spec = mg.check(issue_example())
    with pytest.raises(ValueError, match="spectral_radius"):
        compile_spec(spec, seed=0, spectral_radius=-1.0)
    with pytest.raises(TypeError, match="seed"):
        compile_spec(spec, seed=1.5)


def test_honoured_options_still_work():
    c = mg.compile(issue_example(), seed=0, spectral_radius=1.5, dtype=torch.float64)
    assert c.weight_hh.dtype == torch.float64
    radius = torch.linalg.eigvals(c.weight_hh).abs().max().item()
    assert radius == pytest.approx(1.5, rel=1e-6)


def test_memory_limit_refuses_before_allocating():
    with pytest.raises(mg.GraphError, match="too-much-memory|needs about"):
        mg.compile(issue_example(), seed=0, memory_limit=1000)
    assert mg.compile(issue_example(), seed=0, memory_limit=math.inf).layout.hidden_size == 160


def test_region_names_with_surrogates_or_nul_compile_reproducibly():
    import networkx as nx

    def graph(a: str, b: str) -> nx.DiGraph:
        G = nx.DiGraph()
        G.add_node(a, size=3)
        G.add_node(b, size=3)
        G.add_edge(a, b, sparsity=0.5)
        G.add_edge(b, a, sparsity=0.5)
        return G

    c = mg.compile(graph("\ud800", "x"), seed=1)
    assert torch.equal(c.weight_hh, mg.compile(graph("\ud800", "x"), seed=1).weight_hh)
    # Names that only a NUL separates get different streams.
    g1 = mg.compile(graph("a\x00b", "c"), seed=1).connection("a\x00b", "c").mask
    g2 = mg.compile(graph("a", "b\x00c"), seed=1).connection("a", "b\x00c").mask
    assert not torch.equal(g1, g2)
