"""Compile a checked circuit into block tensors: masks by rule, balanced initial weights.

Reproducibility
---------------
Every projection draws its mask and weights from its own generator, seeded from
``(seed, src, dst)``. Adding, removing or reordering one edge therefore leaves every
other projection's mask unchanged, and the weights of every region whose inputs
did not change.

Masks
-----
The candidates of a projection are the ``[dst, src]`` entries its ``ei``
sub-pathways allow (all of them when ``ei`` is not given), minus the diagonal on
a self-edge with ``autapses=False``; ``one_to_one`` keeps only the diagonal. Each
listed ``ei`` entry is its own sub-block and the ``rule`` is applied inside each
one separately (without ``ei`` the whole projection is one block). With ``n``
candidates in a row, column or block and sparsity ``s``, the fixed rules keep
exactly ``n - ceil(s * n)`` (the count ``torch.nn.init.sparse_`` uses):

* ``bernoulli``: each candidate independently with probability ``1 - s``;
* ``fixed_indegree``: per target unit (row);
* ``fixed_outdegree``: per source unit (column), as mRNNTorch's masks;
* ``fixed_total`` and ``one_to_one``: over the whole sub-block.

Initial weights
---------------
Magnitudes are ``|N(0, 1)|`` for sign-constrained sources and ``N(0, 1)`` for
unconstrained ones. For each target unit ``i``, counting the realised synapses of
all its incoming projections of one family (recurrent, or input): with ``kE``
excitatory, ``kI`` inhibitory and ``kF`` unconstrained inputs, inhibitory weights
are multiplied by ``beta = kE / kI`` (when both are positive), which makes the
expected total input zero (E/I balance, as in Song, Yang & Wang 2016), and every
weight of the row by ``1 / sqrt(kE + beta**2 * kI + kF)``, which gives the row
unit second moment (so a dense balanced block has spectral radius about 1). Each
projection's ``gain`` multiplies its weights afterwards. Readout weights are
``N(0, 1) / sqrt(k)`` and unconstrained. ``spectral_radius=`` rescales the whole
recurrent matrix afterwards.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from .circuit import Block, CompiledCircuit, Layout
from .validate import EdgeSpec, NodeSpec, Spec, check

__all__ = ["compile", "compile_spec", "draw_mask", "candidates"]


def _generator(seed: int, *key: str) -> torch.Generator:
    digest = hashlib.blake2b("\x00".join((str(seed), *key)).encode(), digest_size=8).digest()
    g = torch.Generator()
    g.manual_seed(int.from_bytes(digest, "little") & ((1 << 63) - 1))
    return g


def _keep_count(n: torch.Tensor, sparsity: float) -> torch.Tensor:
    # float64 ceil of (s * n) reproduces math.ceil(sparsity * rows) in torch.nn.init.sparse_.
    n64 = n.to(torch.float64)
    return (n64 - torch.ceil(n64 * sparsity)).to(torch.long)


def _fixed_per_row(cand: torch.Tensor, sparsity: float, g: torch.Generator) -> torch.Tensor:
    rows, cols = cand.shape
    if rows == 0 or cols == 0:
        return cand.clone()
    keys = torch.rand(rows, cols, generator=g)
    keys[~cand] = 2.0  # non-candidates sort last
    order = keys.argsort(dim=1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(cols).expand(rows, cols))
    k = _keep_count(cand.sum(1), sparsity)
    return (rank < k[:, None]) & cand


def _fixed_total(cand: torch.Tensor, sparsity: float, g: torch.Generator) -> torch.Tensor:
    idx = cand.flatten().nonzero().squeeze(1)
    k = int(_keep_count(torch.tensor(idx.numel()), sparsity))
    out = torch.zeros(cand.numel(), dtype=torch.bool)
    out[idx[torch.randperm(idx.numel(), generator=g)[:k]]] = True
    return out.view_as(cand)


def draw_mask(cand: torch.Tensor, rule: str, sparsity: float,
              g: torch.Generator) -> torch.Tensor:
    """Draw a boolean mask inside the boolean candidate matrix ``cand`` (``[dst, src]``).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> m = draw_mask(torch.ones(5, 8, dtype=torch.bool), "fixed_indegree", 0.25, g)
    >>> m.sum(1).tolist()
    [6, 6, 6, 6, 6]
    """
    if rule == "bernoulli":
        return (torch.rand(cand.shape, generator=g) < 1.0 - sparsity) & cand
    if rule == "fixed_indegree":
        return _fixed_per_row(cand, sparsity, g)
    if rule == "fixed_outdegree":
        return _fixed_per_row(cand.T, sparsity, g).T.contiguous()
    if rule in ("fixed_total", "one_to_one"):
        return _fixed_total(cand, sparsity, g)
    raise ValueError(f"unknown rule {rule!r}")


def _type_range(node: NodeSpec, t: str | None) -> slice:
    if t is None:
        return slice(0, node.size)
    return slice(0, node.n_exc) if t == "E" else slice(node.n_exc, node.size)


def _sub_blocks(e: EdgeSpec, s: NodeSpec, d: NodeSpec) -> list[tuple[slice, slice]]:
    """(rows, cols) of each sub-block the rule is applied in separately."""
    if e.ei is None:
        return [(slice(0, d.size), slice(0, s.size))]
    return [(_type_range(d, entry[1] if len(entry) == 2 else None), _type_range(s, entry[0]))
            for entry in e.ei]


_LOCAL = threading.local()


def _scratch(n: int) -> torch.Tensor:
    buf = getattr(_LOCAL, "buf", None)
    if buf is None or buf.numel() < n:
        buf = _LOCAL.buf = torch.empty(n)
    return buf[:n]


def _sub_candidates(e: EdgeSpec, rows: slice, cols: slice) -> torch.Tensor:
    cand = torch.ones(rows.stop - rows.start, cols.stop - cols.start, dtype=torch.bool)
    if e.rule == "one_to_one" or (e.src == e.dst and not e.autapses):
        r = torch.arange(rows.start, rows.stop)[:, None]
        c = torch.arange(cols.start, cols.stop)[None, :]
        cand &= (r == c) if e.rule == "one_to_one" else (r != c)
    return cand


def candidates(e: EdgeSpec, s: NodeSpec, d: NodeSpec) -> torch.Tensor:
    """Where projection ``e`` may have synapses, ``[d.size, s.size]`` bool.

    The entries its ``ei`` sub-pathways allow, minus the diagonal of a self-edge
    without autapses (``one_to_one``: only the diagonal); ``zero`` and ``sparsity``
    are not taken into account.
    """
    out = torch.zeros(d.size, s.size, dtype=torch.bool)
    for rows, cols in _sub_blocks(e, s, d):
        out[rows, cols] = _sub_candidates(e, rows, cols)
    return out


def _edge_mask(e: EdgeSpec, s: NodeSpec, d: NodeSpec, g: torch.Generator) -> torch.Tensor:
    if e.zero:
        return torch.zeros(d.size, s.size, dtype=torch.bool)
    plain = e.rule != "one_to_one" and (e.src != e.dst or e.autapses)
    if e.ei is None and plain and e.rule == "bernoulli":
        # The common case, drawn without a candidate matrix (large circuits are mostly
        # this) into a per-thread scratch buffer: allocating and freeing one uniform
        # matrix per block costs more in page faults than drawing it.
        u = _scratch(d.size * s.size).view(d.size, s.size)
        torch.rand(d.size, s.size, generator=g, out=u)
        return u < 1.0 - e.sparsity
    mask = torch.zeros(d.size, s.size, dtype=torch.bool)
    for rows, cols in _sub_blocks(e, s, d):
        mask[rows, cols] = draw_mask(_sub_candidates(e, rows, cols), e.rule, e.sparsity, g)
    return mask


def _unit_signs(node: NodeSpec) -> torch.Tensor:
    out = torch.zeros(node.size)
    if node.typed:
        out[: node.n_exc] = 1.0
        out[node.n_exc:] = -1.0
    return out


def _per_unit(value: float | tuple[float, ...], size: int) -> torch.Tensor:
    if isinstance(value, tuple):
        return torch.tensor(value, dtype=torch.float64)
    return torch.full((size,), float(value), dtype=torch.float64)


def _draw_edge(e: EdgeSpec, s: NodeSpec, d: NodeSpec,
               g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mask and unscaled signed weights of one projection (one generator, fixed order)."""
    mask = _edge_mask(e, s, d, g)
    if e.zero:
        return mask, None
    raw = torch.randn(mask.shape, generator=g)
    if s.typed and d.kind != "output":
        raw.abs_()
        raw[:, s.n_exc:].neg_()
    raw.mul_(mask)
    return mask, raw


def _scale_family(edges: list[EdgeSpec], masks: dict, raws: dict, nodes: dict[str, NodeSpec],
                  dtype: torch.dtype) -> dict:
    """Balance and normalise each target unit's inputs of one family, in place (see module doc)."""
    weights: dict[tuple[str, str], torch.Tensor] = {}
    by_dst: dict[str, list[EdgeSpec]] = {}
    for e in edges:
        by_dst.setdefault(e.dst, []).append(e)
    for dst, incoming in by_dst.items():
        readout = nodes[dst].kind == "output"
        n = nodes[dst].size
        kE, kI, kF = (torch.zeros(n) for _ in range(3))
        for e in incoming:
            m, s = masks[(e.src, e.dst)], nodes[e.src]
            if s.typed and not readout:
                kE += m[:, : s.n_exc].sum(1)
                kI += m[:, s.n_exc:].sum(1)
            else:
                kF += m.sum(1)
        both = (kE > 0) & (kI > 0)
        beta = torch.where(both, kE / kI.clamp(min=1), torch.ones_like(kE))
        norm = (kE + beta**2 * kI + kF).clamp(min=1).rsqrt()
        for e in incoming:
            w, s = raws[(e.src, e.dst)], nodes[e.src]
            row = (norm * e.gain)[:, None]
            if s.typed and not readout:
                w[:, : s.n_exc].mul_(row)
                w[:, s.n_exc:].mul_(row * beta[:, None])
            else:
                w.mul_(row)
            weights[(e.src, e.dst)] = w.to(dtype)
    return weights


def compile_spec(spec: Spec, *, seed: int | None = None, spectral_radius: float | None = None,
                 dtype: torch.dtype = torch.float32) -> CompiledCircuit:
    """Compile an already checked :class:`~mrnngraph.validate.Spec` (see :func:`compile`)."""
    if seed is None:
        seed = secrets.randbits(63)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None; got {type(seed).__name__}")
    nodes = spec.nodes
    layout = Layout(
        regions=spec.regions, inputs=spec.inputs, outputs=spec.outputs,
        sizes={n: s.size for n, s in nodes.items()},
        n_exc={n: s.n_exc for n, s in nodes.items()},
        parents=spec.parents,
    )
    signs = {n: _unit_signs(s) for n, s in nodes.items()}

    def draw(e: EdgeSpec) -> tuple[torch.Tensor, torch.Tensor | None]:
        return _draw_edge(e, nodes[e.src], nodes[e.dst], _generator(seed, e.src, e.dst))

    # Each edge owns its generator, so drawing them concurrently stays deterministic;
    # torch releases the GIL inside the kernels, which is where the time goes.
    workers = max(1, min(torch.get_num_threads(), len(spec.edges)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        drawn = dict(zip(((e.src, e.dst) for e in spec.edges), pool.map(draw, spec.edges),
                         strict=True))
    masks = {k: v[0] for k, v in drawn.items()}
    raws = {k: v[1] for k, v in drawn.items()}
    del drawn

    def family(e: EdgeSpec) -> str:
        if nodes[e.src].kind == "input":
            return "ih"
        return "ho" if nodes[e.dst].kind == "output" else "hh"

    weights: dict[tuple[str, str], torch.Tensor] = {}
    for fam in ("hh", "ih", "ho"):
        edges = [e for e in spec.edges if family(e) == fam and not e.zero]
        weights.update(_scale_family(edges, masks, raws, nodes, dtype))

    if spectral_radius is not None:
        if not (isinstance(spectral_radius, (int, float)) and spectral_radius > 0):
            raise ValueError(f"spectral_radius must be a float > 0; got {spectral_radius!r}")
        dense = torch.zeros(layout.hidden_size, layout.hidden_size, dtype=torch.float64)
        for e in spec.edges:
            if family(e) == "hh" and not e.zero:
                dense[layout.slice(e.dst), layout.slice(e.src)] = weights[(e.src, e.dst)].double()
        radius = float(torch.linalg.eigvals(dense).abs().max()) if dense.numel() else 0.0
        if radius > 0:
            for e in spec.edges:
                if family(e) == "hh" and not e.zero:
                    w = weights[(e.src, e.dst)]
                    weights[(e.src, e.dst)] = (w.double() * (spectral_radius / radius)).to(dtype)

    blocks = {}
    for e in spec.edges:
        key = (e.src, e.dst)
        w = weights.get(key)
        if w is None:
            w = torch.zeros(masks[key].shape, dtype=dtype)
        blocks[key] = Block(e.src, e.dst, family(e), w, masks[key], e.zero, e.trainable)

    regions = [nodes[n] for n in layout.regions]

    def cat(xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs) if xs else torch.zeros(0)

    return CompiledCircuit(
        layout=layout,
        blocks=blocks,
        sign_h=cat([signs[n.name] for n in regions]).to(dtype),
        sign_i=cat([signs[n] for n in layout.inputs]).to(dtype),
        bias=cat([_per_unit(n.base_firing, n.size) for n in regions]).to(dtype),
        x0=cat([_per_unit(n.init, n.size) for n in regions]).to(dtype),
        tau=cat([torch.full((n.size,), math.nan if n.tau is None else n.tau)
                 for n in regions]).to(dtype),
        learnable_bias=cat([torch.full((n.size,), float(n.learnable_bias))
                            for n in regions]).bool(),
        seed=seed,
        spec=spec,
        spectral_radius=None if spectral_radius is None else float(spectral_radius),
    )


def compile(G: Any, seed: int | None = None, order: Sequence[str] | None = None, *,
            spectral_radius: float | None = None,
            dtype: torch.dtype = torch.float32) -> CompiledCircuit:
    """Check a circuit graph and compile it into block tensors.

    Parameters
    ----------
    G : networkx.DiGraph
        The circuit (see :mod:`mrnngraph.schema` for the attributes).
    seed : int, optional
        Seed of every mask and weight. The same graph and seed give bit-identical
        tensors; ``None`` draws a fresh seed, recorded in ``circuit.seed``.
    order : sequence of str, optional
        Node order instead of insertion order (all nodes, or the recurrent regions).
    spectral_radius : float, optional
        Rescale the initial recurrent matrix to this spectral radius (computes the
        eigenvalues of the dense ``[H, H]`` matrix: costly for very large circuits).
    dtype : torch.dtype
        Floating dtype of the weights and vectors.

    Returns
    -------
    CompiledCircuit

    Raises
    ------
    GraphError
        Listing every problem of an invalid graph.
    TypeError
        If ``G`` is not a networkx graph or ``seed`` is not an int.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.DiGraph()
    >>> G.add_node("u", kind="input", size=2)
    >>> G.add_node("ctx", size=10, exc_frac=0.8)
    >>> G.add_node("y", kind="output", size=1)
    >>> G.add_edges_from([("u", "ctx"), ("ctx", "ctx"), ("ctx", "y")])
    >>> c = compile(G, seed=0)
    >>> c.weight_hh.shape, c.sign_h.tolist()[7:]
    (torch.Size([10, 10]), [1.0, -1.0, -1.0])
    """
    spec = check(G, order=order)
    return compile_spec(spec, seed=seed, spectral_radius=spectral_radius, dtype=dtype)
