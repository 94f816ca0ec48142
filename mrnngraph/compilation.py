"""Compile a checked circuit into block tensors: masks by rule, balanced initial weights.

Reproducibility
---------------
Every projection draws its mask and then its weights from its own generator,
seeded from ``(seed, src, dst)``. Adding, removing or reordering one edge therefore
leaves every other projection's mask unchanged, and the weights of every region
whose inputs did not change. Compiling is deterministic whatever the number of
threads drawing the projections, and the random streams are part of the contract:
a graph and a seed give the same tensors from one version of mrnngraph to the next.

Masks
-----
The candidates of a projection are the ``[dst, src]`` entries its ``ei``
sub-pathways allow (all of them when ``ei`` is not given), minus the diagonal on
a self-edge with ``autapses=False``; ``one_to_one`` keeps only the diagonal. Each
listed ``ei`` entry is its own sub-block and the ``rule`` is applied inside each
one separately (without ``ei`` the whole projection is one block, unless ``sparsity``
is a mapping: then each E/I sub-pathway the nodes allow is one, drawn with its own
sparsity, in ``EE, EI, IE, II`` order). With ``n``
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
projection's ``gain`` (each sub-pathway's, where it is a mapping) multiplies its
weights afterwards. Readout weights are
``N(0, 1) / sqrt(k)`` and unconstrained. ``spectral_radius=`` rescales the whole
recurrent matrix afterwards.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from . import _params
from .circuit import Block, CompiledCircuit, Layout
from .schema import Interval, Invalid
from .validation import EdgeSpec, NodeSpec, Spec, check

__all__ = ["compile", "compile_spec", "draw_mask", "candidates"]


def _generator(seed: int, *key: str) -> torch.Generator:
    """The generator of one projection: a hash of the seed and the region names."""
    parts = (str(seed), *key)
    if any("\x00" in k for k in key):
        # Joining on NUL would be ambiguous (('a\x00b', 'c') vs ('a', 'b\x00c')): prefix
        # each part with its length. Names without NUL keep the streams of earlier versions.
        parts = tuple(f"{len(k)}:{k}" for k in parts)
    # surrogatepass: a region may be named with a lone surrogate (a valid Python str).
    text = "\x00".join(parts).encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(text, digest_size=8).digest()
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


def draw_mask(cand: torch.Tensor, rule: str, sparsity: float, g: torch.Generator) -> torch.Tensor:
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


def _pathway_blocks(e: EdgeSpec, s: NodeSpec, d: NodeSpec) -> list[tuple[slice, slice, str]]:
    """(rows, cols, entry) of each E/I sub-pathway of the edge (:meth:`EdgeSpec.sub_pathways`)."""
    return [
        (_type_range(d, entry[1] if len(entry) == 2 else None), _type_range(s, entry[0]), entry)
        for entry in e.sub_pathways(s, d)
    ]


def _sub_blocks(e: EdgeSpec, s: NodeSpec, d: NodeSpec) -> list[tuple[slice, slice, str | None]]:
    """(rows, cols, entry) of each sub-block the rule is applied in separately: the ``ei``
    entries, or every sub-pathway where ``sparsity`` is per sub-pathway; else the whole
    projection (entry ``None``)."""
    if e.ei is None and not isinstance(e.sparsity, dict):
        return [(slice(0, d.size), slice(0, s.size), None)]
    return list(_pathway_blocks(e, s, d))


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
    for rows, cols, _ in _sub_blocks(e, s, d):
        out[rows, cols] = _sub_candidates(e, rows, cols)
    return out


def _edge_mask(e: EdgeSpec, s: NodeSpec, d: NodeSpec, g: torch.Generator) -> torch.Tensor:
    if e.zero:
        return torch.zeros(d.size, s.size, dtype=torch.bool)
    plain = e.rule != "one_to_one" and (e.src != e.dst or e.autapses)
    if e.ei is None and plain and e.rule == "bernoulli" and not isinstance(e.sparsity, dict):
        # The common case (large circuits are mostly this), drawn without a candidate
        # matrix into a per-thread scratch buffer: allocating and freeing one uniform
        # matrix per block costs more in page faults than drawing it.
        u = _scratch(d.size * s.size).view(d.size, s.size)
        torch.rand(d.size, s.size, generator=g, out=u)
        return u < 1.0 - e.sparsity
    mask = torch.zeros(d.size, s.size, dtype=torch.bool)
    for rows, cols, entry in _sub_blocks(e, s, d):
        sparsity = e.sparsity if entry is None else e.sparsity_of(entry)
        mask[rows, cols] = draw_mask(_sub_candidates(e, rows, cols), e.rule, sparsity, g)
    return mask


def _unit_signs(node: NodeSpec) -> torch.Tensor:
    out = torch.zeros(node.size)
    if node.typed:
        out[: node.n_exc] = 1.0
        out[node.n_exc :] = -1.0
    return out


def _per_unit(value: float | tuple[float, ...], size: int) -> torch.Tensor:
    if isinstance(value, tuple):
        return torch.tensor(value, dtype=torch.float64)
    return torch.full((size,), float(value), dtype=torch.float64)


def _is_signed(e: EdgeSpec, nodes: dict[str, NodeSpec]) -> bool:
    """Whether the weights of ``e`` follow its source's signs (readouts never do)."""
    return nodes[e.src].typed and nodes[e.dst].kind != "output"


def _count_rows(
    mask: torch.Tensor, e: EdgeSpec, nodes: dict[str, NodeSpec], out: torch.Tensor
) -> None:
    """Realised synapses per target unit into ``out`` (``[3, dst]``, zeros): from E, I
    and unconstrained sources.

    Summed as bytes straight into ``out``: a bool reduction without ``out`` makes an
    int copy of the block, and thousands of freed copies between live blocks
    fragment the heap (+55 % peak memory at 16,384 units).
    """
    m = mask.view(torch.uint8)
    if _is_signed(e, nodes):
        n_exc = nodes[e.src].n_exc
        torch.sum(m[:, :n_exc], 1, dtype=torch.int32, out=out[0])
        torch.sum(m[:, n_exc:], 1, dtype=torch.int32, out=out[1])
    else:
        torch.sum(m, 1, dtype=torch.int32, out=out[2])


def _row_scales(
    edges: list[EdgeSpec], counts: dict
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per target region of one family: ``(norm, beta)`` per unit (see the module doc)."""
    totals: dict[str, torch.Tensor] = {}
    for e in edges:
        c = counts[(e.src, e.dst)]
        totals[e.dst] = totals[e.dst] + c if e.dst in totals else c.clone()
    scales = {}
    for dst, total in totals.items():
        kE, kI, kF = total.float()
        both = (kE > 0) & (kI > 0)
        beta = torch.where(both, kE / kI.clamp(min=1), torch.ones_like(kE))
        scales[dst] = ((kE + beta**2 * kI + kF).clamp(min=1).rsqrt(), beta)
    return scales


def _draw_weights(
    e: EdgeSpec,
    nodes: dict[str, NodeSpec],
    mask: torch.Tensor,
    norm: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Generator,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Signed, balanced, normalised weights of one projection, zero off its mask.

    Every pass runs on the block just drawn, while it is in cache.
    """
    w = torch.randn(mask.shape, generator=g)
    if isinstance(e.gain, dict):
        _scale_per_pathway(w, e, nodes, norm, beta)
    elif _is_signed(e, nodes):
        row = (norm * e.gain)[:, None]
        n_exc = nodes[e.src].n_exc
        w.abs_()
        w[:, :n_exc].mul_(row)
        w[:, n_exc:].mul_(row * -beta[:, None])
    else:
        w.mul_((norm * e.gain)[:, None])
    # The mask as float32 into the per-thread scratch buffer: ``w.mul_(mask)`` would
    # cast it into a fresh temporary per block (0.35 M of the 1.98 M page faults of a
    # 65,536-unit compile).
    w.mul_(_scratch(mask.numel()).view(mask.shape).copy_(mask))
    return w.to(dtype)


def _scale_per_pathway(
    w: torch.Tensor,
    e: EdgeSpec,
    nodes: dict[str, NodeSpec],
    norm: torch.Tensor,
    beta: torch.Tensor,
) -> None:
    """Scale ``w`` in place as the scalar-gain case does, each sub-pathway by its own gain
    (the same operations in the same order: equal gains give the same weights)."""
    s, d = nodes[e.src], nodes[e.dst]
    signed = _is_signed(e, nodes)
    if signed:
        w.abs_()
    for rows, cols, entry in _pathway_blocks(e, s, d):
        row = (norm[rows] * e.gain_of(entry))[:, None]
        if signed and entry[0] == "I":
            row = row * -beta[rows, None]
        w[rows, cols].mul_(row)


def _map_chunked(
    pool: ThreadPoolExecutor, workers: int, fn: Callable[[Any], Any], items: Sequence[Any]
) -> list[Any]:
    """``list(map(fn, items))`` on the pool, a run of items per task: one future per
    projection cost thread wake-ups and lock traffic in the kernel at 20,000 projections.

    The workers leave torch's thread settings as they are: the thread count is the
    user's to choose, and setting it (``torch.set_num_threads(1)`` in each worker, the
    caller's count restored after) broke every batched ``torch.linalg.solve`` of the
    process afterwards (issue 12; torch's batched LU fails in MKL once the count has
    been set to 2 or more, pytorch/pytorch#142815). The cost is in bench/NOTES.md.
    """
    if workers == 1 or len(items) < 2:
        return [fn(x) for x in items]
    # About 8 tasks per worker keeps them balanced when projections differ in size.
    n = max(1, -(-len(items) // (8 * workers)))
    runs = [items[i : i + n] for i in range(0, len(items), n)]
    return [y for out in pool.map(lambda r: [fn(x) for x in r], runs) for y in out]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a large compile creates tens of thousands of
    objects (blocks, futures) and the collector, triggered by their allocation, kept
    walking them (bench/NOTES.md, "Figures behind code comments")."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class _RealFloatingDtype(_params.InstanceOf):
    """A real floating ``torch.dtype``: another type is a TypeError, ``torch.int64`` or
    ``torch.complex64`` a ValueError."""

    def _convert(self, value: Any, size: int | None) -> Any:
        super()._convert(value, size)
        if not value.is_floating_point or value.is_complex:
            raise Invalid(f"must be {self.describe()}")
        return value


_SEED = _params.Optional(Interval(-math.inf, math.inf, integer=True))
_RADIUS = _params.Optional(_params.POSITIVE)
_DTYPE = _RealFloatingDtype(
    (torch.dtype,), "a real floating torch.dtype (torch.float32, torch.float64, ...)"
)


def _compile_options(seed: Any, spectral_radius: Any, dtype: Any) -> tuple[int, Any, Any]:
    """The options checked (TypeError for the wrong kind, ValueError for the wrong value),
    before anything is drawn; a fresh seed where none is given."""
    seed = _params.check("seed", seed, _SEED)
    spectral_radius = _params.check("spectral_radius", spectral_radius, _RADIUS)
    dtype = _params.check("dtype", dtype, _DTYPE)
    return (secrets.randbits(63) if seed is None else seed), spectral_radius, dtype


def compile_spec(
    spec: Spec,
    *,
    seed: int | None = None,
    spectral_radius: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> CompiledCircuit:
    """Compile an already checked :class:`~mrnngraph.validation.Spec` (see :func:`compile`)."""
    seed, spectral_radius, dtype = _compile_options(seed, spectral_radius, dtype)
    with _gc_paused():
        return _compile_spec(spec, seed, spectral_radius, dtype)


def _compile_spec(
    spec: Spec, seed: int, spectral_radius: float | None, dtype: torch.dtype
) -> CompiledCircuit:
    nodes = spec.nodes
    layout = Layout(
        regions=spec.regions,
        inputs=spec.inputs,
        outputs=spec.outputs,
        sizes={n: s.size for n, s in nodes.items()},
        n_exc={n: s.n_exc for n, s in nodes.items()},
        parents=spec.parents,
    )
    signs = {n: _unit_signs(s) for n, s in nodes.items()}

    def family(e: EdgeSpec) -> str:
        if nodes[e.src].kind == "input":
            return "ih"
        return "ho" if nodes[e.dst].kind == "output" else "hh"

    # Per-row counts of every projection, in one buffer allocated up front.
    offsets = [0]
    for e in spec.edges:
        offsets.append(offsets[-1] + nodes[e.dst].size)
    count_buf = torch.zeros(3, offsets[-1], dtype=torch.int32)
    counts = {
        (e.src, e.dst): count_buf[:, offsets[i] : offsets[i + 1]] for i, e in enumerate(spec.edges)
    }

    # Each projection's generator, kept from its mask to its weights (about 5 KB each).
    generators = {(e.src, e.dst): _generator(seed, e.src, e.dst) for e in spec.edges}

    def draw_mask_and_count(e: EdgeSpec) -> torch.Tensor:
        mask = _edge_mask(e, nodes[e.src], nodes[e.dst], generators[(e.src, e.dst)])
        _count_rows(mask, e, nodes, counts[(e.src, e.dst)])
        return mask

    # Three passes: masks and per-row synapse counts; then each target unit's balance
    # and normalisation from the counts of all its incoming projections; then the
    # weights, scaled as they are drawn. Each edge owns its generator, so drawing
    # edges concurrently stays deterministic; torch releases the GIL inside the
    # kernels, which is where the time goes.
    live = [e for e in spec.edges if not e.zero]
    workers = max(1, min(torch.get_num_threads(), len(spec.edges)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        masks = dict(
            zip(
                ((e.src, e.dst) for e in spec.edges),
                _map_chunked(pool, workers, draw_mask_and_count, spec.edges),
                strict=True,
            )
        )
        scales: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
        for fam in ("hh", "ih", "ho"):
            per_dst = _row_scales([e for e in live if family(e) == fam], counts)
            scales.update({(fam, dst): v for dst, v in per_dst.items()})

        def draw_weights(e: EdgeSpec) -> torch.Tensor:
            norm, beta = scales[(family(e), e.dst)]
            return _draw_weights(
                e, nodes, masks[(e.src, e.dst)], norm, beta, generators.pop((e.src, e.dst)), dtype
            )

        weights = dict(
            zip(
                ((e.src, e.dst) for e in live),
                _map_chunked(pool, workers, draw_weights, live),
                strict=True,
            )
        )

    if spectral_radius is not None:
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
        blocks[key] = Block(
            e.src, e.dst, family(e), w, masks[key], e.zero, e.trainable, delay=e.delay
        )

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
        tau=cat([_unit_tau(n.tau, n.size) for n in regions]).to(dtype),
        learnable_bias=cat(
            [torch.full((n.size,), float(n.learnable_bias)) for n in regions]
        ).bool(),
        seed=seed,
        spec=spec,
        spectral_radius=None if spectral_radius is None else float(spectral_radius),
        **_learned_tau(regions, dtype),
    )


def _unit_tau(tau: float | tuple[float, ...] | None, size: int) -> torch.Tensor:
    """A region's per-unit time constants, NaN where the model's applies. A scalar is
    filled as it always was (the default dtype, then cast), so circuits keep their tensors."""
    if isinstance(tau, tuple):
        return torch.tensor(tau, dtype=torch.float64)
    return torch.full((size,), math.nan if tau is None else tau)


def _learned_tau(regions: list[NodeSpec], dtype: torch.dtype) -> dict[str, Any]:
    """``learn_tau`` ``[H]`` bool and ``tau_min``/``tau_max`` ``[H]`` (NaN where unset);
    all ``None`` where no region learns its time constants."""
    if not any(n.learn_tau for n in regions):
        return {"learn_tau": None, "tau_min": None, "tau_max": None}

    def per_unit(name: str) -> torch.Tensor:
        return torch.cat(
            [
                torch.full((n.size,), math.nan if getattr(n, name) is None else getattr(n, name))
                for n in regions
            ]
        ).to(dtype)

    return {
        "learn_tau": torch.cat([torch.full((n.size,), n.learn_tau) for n in regions]),
        "tau_min": per_unit("tau_min"),
        "tau_max": per_unit("tau_max"),
    }


def compile(
    G: Any,
    seed: int | None = None,
    order: Sequence[str] | None = None,
    *,
    spectral_radius: float | None = None,
    dtype: torch.dtype = torch.float32,
    memory_limit: float | None = None,
) -> CompiledCircuit:
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
    memory_limit : float, optional
        Bytes the circuit may need, as in :func:`~mrnngraph.validation.validate` (default:
        ``MRNNGRAPH_MEMORY_LIMIT``, else the memory this machine has available). A circuit
        estimated to need more is refused before anything is allocated.

    Returns
    -------
    CompiledCircuit

    Raises
    ------
    GraphError
        Listing every problem of an invalid graph.
    TypeError
        If ``G`` is not a networkx graph, or an option is of the wrong kind (``seed`` not
        an integer, ``dtype`` not a ``torch.dtype``, ...).
    ValueError
        If an option's value is out of range (``spectral_radius`` not finite and > 0,
        ``dtype`` not a real floating dtype).

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
    seed, spectral_radius, dtype = _compile_options(seed, spectral_radius, dtype)
    spec = check(G, order=order, memory_limit=memory_limit)
    return compile_spec(spec, seed=seed, spectral_radius=spectral_radius, dtype=dtype)
