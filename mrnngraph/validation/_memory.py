"""What compiling a circuit needs in memory, estimated from the sizes alone, and the
problems for circuits no machine (or not this one) can compile."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import schema
from ..errors import Problem
from ._specs import _at_edge, _at_node

if TYPE_CHECKING:
    from ._specs import EdgeSpec, NodeSpec, Spec

__all__ = [
    "MemoryEstimate",
    "estimate_memory",
    "available_memory",
    "MAX_ELEMENTS",
    "MEMORY_LIMIT_ENV",
]


#: torch indexes a tensor with a signed 64-bit count of elements.
MAX_ELEMENTS = 2**63 - 1
#: Environment variable overriding the memory limit of validation (bytes, with an
#: optional K/M/G/T suffix in powers of 1024, or "none" for no limit).
MEMORY_LIMIT_ENV = "MRNNGRAPH_MEMORY_LIMIT"


@dataclass(frozen=True)
class MemoryEstimate:
    """What compiling a circuit allocates, in bytes, counted from the sizes alone.

    Attributes
    ----------
    blocks : dict of (src, dst) to int
        Each projection's block: weights (``itemsize`` bytes each) and bool mask,
        ``size(dst) * size(src)`` entries (zero edges included: they are stored too).
    per_unit : dict of str to int
        Each node's per-unit vectors (``sign``, ``bias``, ``x0``, ``tau``,
        ``learnable_bias`` of a region, and ``learn_tau``, ``tau_min``, ``tau_max``
        where any region learns its time constants; ``sign`` of an input).
    transient : int
        The working memory of compiling on top of the result: the drawing threads'
        buffers for the largest blocks, the per-row synapse counts, float64 copies of
        the per-unit vectors.
    dense : int
        The dense ``[H, H]``, ``[H, I]`` and ``[O, H]`` weight, mask and trainable
        matrices (``circuit.weight_hh`` and friends, dense model execution): not
        allocated by ``compile``, reported for those who need them.
    elements : dict of str to int
        The element count of the largest tensor of each kind (``"block"``,
        ``"per-unit"``, ``"dense"``).
    """

    blocks: dict[tuple[str, str], int]
    per_unit: dict[str, int]
    transient: int
    dense: int
    elements: dict[str, int]

    @property
    def total(self) -> int:
        """Bytes compiling needs at its peak, about: blocks, per-unit vectors, working memory."""
        return sum(self.blocks.values()) + sum(self.per_unit.values()) + self.transient


# Bytes per entry of a projection's working buffers while its mask is drawn, by case
# (see compile.py): the plain Bernoulli case draws into a float32 scratch buffer; the
# others build a candidate matrix, uniform keys and, for fixed counts, int64 sort
# orders and ranks (or indices and a permutation). Rounded up from peak resident
# memory measured on 4,096-unit blocks (bench/NOTES.md, "Figures behind code comments").
_DRAW_BYTES = {
    "plain": 5,
    "bernoulli": 7,
    "fixed_indegree": 26,
    "fixed_outdegree": 26,
    "fixed_total": 20,
    "one_to_one": 20,
}


def _estimate(
    nodes: dict[str, NodeSpec],
    edges: Sequence[EdgeSpec],
    itemsize: int = 4,
    workers: int | None = None,
) -> MemoryEstimate:
    per_unit = {}
    # learn_tau, tau_min and tau_max are compiled only where some region learns its tau.
    learned = any(s.learn_tau for s in nodes.values() if s.kind == "recurrent")
    per_recurrent = 4 * itemsize + 1 + (2 * itemsize + 1 if learned else 0)
    for n, s in nodes.items():
        per_unit[n] = s.size * (
            per_recurrent if s.kind == "recurrent" else itemsize if s.kind == "input" else 0
        )
    blocks, draw = {}, []
    for e in edges:
        if e.src not in nodes or e.dst not in nodes:
            continue
        n = nodes[e.dst].size * nodes[e.src].size
        blocks[(e.src, e.dst)] = n * (itemsize + 1)
        plain = (
            e.ei is None
            and not isinstance(e.sparsity, dict)
            and e.rule == "bernoulli"
            and (e.src != e.dst or e.autapses)
        )
        # Weights are drawn in float32 and cast: one more block of float32 if not float32.
        draw.append(
            0 if e.zero else n * (_DRAW_BYTES["plain" if plain else e.rule] + 4 * (itemsize != 4))
        )
    workers = workers or max(1, min(len(draw), os.cpu_count() or 1))
    h = sum(s.size for s in nodes.values() if s.kind == "recurrent")
    i = sum(s.size for s in nodes.values() if s.kind == "input")
    o = sum(s.size for s in nodes.values() if s.kind == "output")
    rows = sum(nodes[e.dst].size for e in edges if e.dst in nodes and e.src in nodes)
    # Per unit: the float64 copies the per-unit vectors are built from (12 bytes, rounded
    # up from a measurement in bench/NOTES.md), and the unit signs of every node.
    transient = sum(sorted(draw, reverse=True)[:workers]) + 12 * rows + 8 * h + 4 * (h + i + o)
    dense = (h * h + h * i + o * h) * (itemsize + 2)
    elements = {
        "block": max((b // (itemsize + 1) for b in blocks.values()), default=0),
        "per-unit": max(h, i, o),
        "dense": h * h,
    }
    return MemoryEstimate(blocks, per_unit, transient, dense, elements)


def estimate_memory(spec: Spec, *, itemsize: int = 4) -> MemoryEstimate:
    """Estimate what compiling ``spec`` allocates, without allocating anything.

    Parameters
    ----------
    spec : Spec
        A checked circuit (:func:`check`).
    itemsize : int
        Bytes per weight: 4 for float32 (the default dtype), 8 for float64.

    Examples
    --------
    >>> import networkx as nx
    >>> from mrnngraph.validation import check
    >>> G = nx.DiGraph()
    >>> G.add_node("a", size=1000)
    >>> G.add_edge("a", "a")
    >>> est = estimate_memory(check(G))
    >>> est.blocks[("a", "a")], est.per_unit["a"]
    (5000000, 17000)
    """
    return _estimate(spec.nodes, spec.edges, itemsize)


def _parse_bytes(text: str) -> float | None:
    """Bytes from ``"123"``, ``"1.5G"``, ``"64MiB"`` (K/M/G/T are powers of 1024); inf for
    ``"none"``; None if unreadable."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t in ("none", "inf", "off", "unlimited"):
        return math.inf
    scale = 1
    if t[-1:] in "kmgt" and t:
        scale = 1024 ** ("kmgt".index(t[-1]) + 1)
        t = t[:-1]
    try:
        value = float(t) * scale
    except ValueError:
        return None
    return value if value >= 0 and not math.isnan(value) else None


def _read_int(path: str, key: str | None = None) -> int | None:
    """An integer from a small text file (``key`` picks a ``key: value kB`` line)."""
    try:
        with open(path) as f:
            text = f.read(65536)
    except OSError:
        return None
    if key is None:
        return int(text) if text.strip().isdigit() else None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * (1024 if line.endswith("kB") else 1)
    return None


def available_memory() -> tuple[int | None, str]:
    """Bytes this process could still allocate, and where the figure comes from.

    The smallest of: ``MemAvailable`` (/proc/meminfo), the cgroup's ``memory.max`` less
    ``memory.current``, and ``RLIMIT_AS`` less the process's address space; else
    ``os.sysconf`` available pages; ``(None, ...)`` where none of them can be read.
    Reads a few small files: cheap enough for every validation.
    """
    found: list[tuple[int, str]] = []
    avail = _read_int("/proc/meminfo", "MemAvailable")
    if avail is not None:
        found.append((avail, "the memory available (MemAvailable in /proc/meminfo)"))
    cg_max = _read_int("/sys/fs/cgroup/memory.max")
    cg_cur = _read_int("/sys/fs/cgroup/memory.current")
    if cg_max is not None and cg_cur is not None:
        found.append((max(0, cg_max - cg_cur), "what the cgroup's memory.max leaves"))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            used = _read_int("/proc/self/status", "VmSize") or 0
            found.append((max(0, soft - used), "what the process's RLIMIT_AS leaves"))
    except (ImportError, OSError, ValueError):
        pass
    if not found:
        try:
            pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            found.append((pages, "the memory available (os.sysconf('SC_AVPHYS_PAGES'))"))
        except (ValueError, OSError, AttributeError):
            return None, "unknown"
    return min(found)


def _memory_limit(arg: float | None, problems: list[Problem]) -> tuple[float | None, str]:
    if arg is not None:
        return float(arg), "the memory_limit= given"
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env is not None:
        value = _parse_bytes(env)
        if value is not None:
            return value, f"the {MEMORY_LIMIT_ENV} set"
        problems.append(
            Problem(
                subject="environment",
                message=f"{MEMORY_LIMIT_ENV} must be a number of bytes "
                f"(K, M, G, T suffixes allowed) or 'none'; got {schema.short_repr(env)}",
                code="bad-memory-limit",
            )
        )
    return available_memory()


def _count(n: int) -> str:
    """An int of any size for a message: ``"1,000"``, ``"1.18e+21"``."""
    if n < 10**15:
        return f"{n:,}"
    e = math.floor(math.log10(n))
    return f"{n / 10**e:.2f}e+{e}"


def _show_bytes(n: int) -> str:
    for unit, scale in (
        ("EiB", 2**60),
        ("PiB", 2**50),
        ("TiB", 2**40),
        ("GiB", 2**30),
        ("MiB", 2**20),
        ("KiB", 2**10),
    ):
        if n >= scale:
            return (
                f"{n / scale:,.1f} {unit} ({_count(n)} bytes)"
                if n < 2**70
                else f"{_count(n)} bytes"
            )
    return f"{n:,} bytes"


def _check_memory(
    nodes: dict[str, NodeSpec],
    edges: Sequence[EdgeSpec],
    limit: float | None,
    source: str,
    problems: list[Problem],
) -> None:
    """Problems for circuits no machine (or not this one) can compile, before allocating."""
    # Tensors torch cannot index at all, whatever the memory: a block, or a per-unit
    # vector of one node kind.
    too_many = False
    for e in edges:
        if e.src in nodes and e.dst in nodes:
            n = nodes[e.dst].size * nodes[e.src].size
            if n > MAX_ELEMENTS:
                too_many = True
                problems.append(
                    Problem(
                        **_at_edge(e.src, e.dst),
                        message=f"the projection has {_count(n)} "
                        f"entries ({_count(nodes[e.dst].size)} x {_count(nodes[e.src].size)} "
                        "units); torch cannot "
                        "index more than 2**63 - 1 in one tensor",
                        code="too-many-elements",
                    )
                )
    for kind in schema.NODE_KINDS:
        members = [s for s in nodes.values() if s.kind == kind]
        total = sum(s.size for s in members)
        if total > MAX_ELEMENTS:
            too_many = True
            big = [s for s in members if s.size > MAX_ELEMENTS]
            loc = _at_node(big[0].name) if len(big) == 1 else {"subject": "graph"}
            names = ", ".join(repr(s.name) for s in members[:8])
            problems.append(
                Problem(
                    **loc,
                    message=f"{_count(total)} {kind} units in all ({names}); torch cannot "
                    "index "
                    "more than 2**63 - 1 in one tensor",
                    code="too-many-elements",
                    attribute="size" if len(big) == 1 else None,
                )
            )
    if too_many or limit is None or limit == math.inf:
        return
    est = _estimate(nodes, edges)
    if est.total <= limit:
        return
    parts = [
        (
            b,
            f"projection ({k[0]!r}, {k[1]!r}), "
            f"{_count(nodes[k[1]].size * nodes[k[0]].size)} entries",
            _at_edge(*k),
        )
        for k, b in est.blocks.items()
    ]
    parts += [
        (b, f"per-unit vectors of {n!r}, {_count(nodes[n].size)} units", _at_node(n))
        for n, b in est.per_unit.items()
    ]
    parts.sort(key=lambda p: -p[0])
    top = "; ".join(f"{what}: {_show_bytes(b)}" for b, what, _ in parts[:3])
    # Name the node or edge responsible where one holds most of what is kept; the graph
    # otherwise.
    kept = est.total - est.transient
    loc = parts[0][2] if parts and 2 * parts[0][0] >= kept else {"subject": "graph"}
    problems.append(
        Problem(
            **loc,
            message=f"compiling needs about {_show_bytes(est.total)}, more than "
            f"{_show_bytes(int(limit))}, {source}; largest: {top}",
            code="too-much-memory",
            hint=f"make regions or dense projections smaller, or raise the limit with "
            f"{MEMORY_LIMIT_ENV} (bytes, or 'none') or validate(..., memory_limit=)",
        )
    )
