"""Connectome-style weighted adjacency matrices → circuit graphs.

Tract-tracing data such as the fraction of labelled neurons (FLN) give one
strength per pair of areas. :func:`from_adjacency` keeps the pairs above a
threshold and maps each strength to the projection's ``density`` and/or ``gain``.

Examples
--------
>>> fln = [[0.0, 0.02, 0.0],
...        [0.30, 0.0, 0.001],
...        [0.05, 0.40, 0.0]]          # entry [i, j]: strength from j to i
>>> G = from_adjacency(fln, ["V1", "V2", "V4"], 20, threshold=0.01, exc_frac=0.8,
...                    density="log", density_range=(0.1, 0.5), self_density=0.3)
>>> sorted((u, v) for u, v in G.edges if u != v)
[('V1', 'V2'), ('V1', 'V4'), ('V2', 'V1'), ('V2', 'V4')]
>>> G.edges["V2", "V4"]["density"], G.edges["V2", "V1"]["density"]
(0.5, 0.1)
>>> G.edges["V1", "V2"]["meta"]
{'strength': 0.3}
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal

import networkx as nx
import numpy as np

from .._params import FINITE, PROBABILITY, Optional, check
from ..errors import GraphError, Problem
from ..schema import Options
from ..validation import validate

__all__ = ["from_adjacency"]

Mapping_ = float | Callable[[float], float] | Literal["linear", "log"]
_WHERE = "from_adjacency"


def _argument(name: str, value: Any, constraint: Any, problems: list[Problem]) -> None:
    """Check an argument with :func:`mrnngraph._params.check`; a wrong one becomes a
    problem (from_adjacency lists every bad argument at once)."""
    try:
        check(name, value, constraint)
    except (TypeError, ValueError) as err:
        problems.append(Problem(_WHERE, str(err), "bad-argument"))


def _per_region(value: Any, n: int, what: str, problems: list[Problem]) -> list[Any]:
    if value is None or isinstance(value, (str, numbers.Real)):
        return [value] * n
    try:
        values = list(value)
    except TypeError:
        problems.append(
            Problem(
                _WHERE,
                f"{what} must be one value or a sequence of {n}; got {type(value).__name__}",
                "bad-argument",
            )
        )
        return [None] * n
    if len(values) != n:
        problems.append(
            Problem(_WHERE, f"{what} has {len(values)} values for {n} regions", "bad-argument")
        )
        return [None] * n
    return values


def _mapper(
    spec: Mapping_,
    value_range: tuple[float, float],
    kept: np.ndarray,
    what: str,
    problems: list[Problem],
) -> Callable[[float], float] | None:
    """Strength -> value, for a constant, a callable or a linear/log scale over ``kept``."""
    if callable(spec):
        return spec
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return lambda w: float(spec)
    if spec in ("linear", "log"):
        try:
            lo, hi = (float(x) for x in value_range)
        except (TypeError, ValueError):
            problems.append(
                Problem(
                    _WHERE, f"{what}_range must be two floats; got {value_range!r}", "bad-argument"
                )
            )
            return None
        if kept.size == 0:
            return lambda w: hi
        f = np.log if spec == "log" else (lambda x: x)
        a, b = float(f(kept.min())), float(f(kept.max()))
        if a == b:
            return lambda w: hi
        return lambda w: lo + (hi - lo) * (float(f(w)) - a) / (b - a)
    problems.append(
        Problem(
            _WHERE,
            f"{what} must be a float, a callable or 'linear'/'log'; got {spec!r}",
            "bad-argument",
        )
    )
    return None


def from_adjacency(
    matrix: Any,
    names: Sequence[str],
    sizes: int | Sequence[int],
    *,
    orientation: Literal["dst_src", "src_dst"] = "dst_src",
    threshold: float = 0.0,
    density: Mapping_ = 1.0,
    density_range: tuple[float, float] = (0.1, 1.0),
    gain: Mapping_ = 1.0,
    gain_range: tuple[float, float] = (0.5, 2.0),
    rule: str = "bernoulli",
    exc_frac: float | Sequence[float | None] | None = None,
    sign: str | Sequence[str | None] | None = None,
    ei: Sequence[str] | None = None,
    self_density: float | None = None,
    input_to: Sequence[str] | None = None,
    n_inputs: int = 1,
    readout_from: Sequence[str] | None = None,
    n_outputs: int = 1,
    name: str | None = None,
) -> nx.DiGraph:
    """Build a circuit from a weighted adjacency matrix between regions.

    Parameters
    ----------
    matrix : array-like, shape (n, n)
        Non-negative connection strengths (numpy, torch, nested lists, a
        DataFrame). NaN means "not measured" and is treated as absent.
    names : sequence of str
        The ``n`` region names, in matrix order.
    sizes : int or sequence of int
        Units per region (one value for all, or one per region).
    orientation : {"dst_src", "src_dst"}
        ``"dst_src"`` (default): entry ``[i, j]`` is the strength from region ``j``
        to region ``i`` (the ``[destination, source]`` layout of weight matrices
        and of nn4n's ``area_connectivities``). ``"src_dst"``: entry ``[i, j]`` is
        from ``i`` to ``j`` (networkx's adjacency matrices).
    threshold : float
        Entries below it, and zeros, are dropped (no edge).
    density, gain : float, callable or {"linear", "log"}
        How a kept strength ``w`` becomes the edge's ``density`` (in [0, 1]) and
        ``gain`` (> 0): a constant, ``f(w)``, or a linear or logarithmic scale from
        the weakest kept strength (``*_range[0]``) to the strongest (``*_range[1]``).
        Log scaling suits FLN data, which span orders of magnitude.
    density_range, gain_range : (float, float)
        The ends of the ``"linear"``/``"log"`` scales.
    rule : str
        The mask rule of every projection (see :mod:`mrnngraph.compilation`).
    exc_frac, sign : optional
        Per-region E/I identity: one value for all regions or one per region
        (give each region at most one of them).
    ei : sequence of str, optional
        E/I sub-pathways of every projection between two different regions (e.g.
        ``["EE", "EI"]``: only excitatory units project between areas).
    self_density : float, optional
        If given, every region gets a self-projection of this density without
        autapses, replacing the diagonal of ``matrix``; if not, the diagonal is
        read like any other entry.
    input_to, readout_from : sequence of str, optional
        Add an input node ``"input"`` (``n_inputs`` channels) projecting densely to
        these regions, and/or an output node ``"readout"`` (``n_outputs``) reading
        these regions.
    name : str, optional
        The circuit's name (graph attribute).

    Returns
    -------
    networkx.DiGraph
        Each kept edge records its strength as ``meta={"strength": w}``.

    Raises
    ------
    GraphError
        Listing every problem: a matrix that is not square ``n x n``, negative or
        infinite strengths, duplicate or empty names, per-region values of the
        wrong length, mapped densities outside [0, 1] or gains <= 0, and any
        problem of the resulting circuit.
    """
    problems: list[Problem] = []
    try:
        W = np.array(matrix.to_numpy() if hasattr(matrix, "to_numpy") else matrix, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"matrix must be a 2-D array of numbers; got {type(matrix).__name__} ({err})"
        ) from None
    if isinstance(names, str):
        raise TypeError("names must be a sequence of region names, not one string")
    names = list(names)
    n = len(names)
    if W.ndim != 2 or W.shape != (n, n):
        problems.append(
            Problem(
                _WHERE,
                f"matrix must have shape ({n}, {n}) for {n} names; got {W.shape}",
                "bad-shape",
            )
        )
    bad = [x for x in names if not isinstance(x, str) or not x]
    if bad:
        problems.append(
            Problem(_WHERE, f"names must be non-empty strings; got {bad!r}", "bad-name")
        )
    dup = sorted({x for x in names if names.count(x) > 1}, key=str)
    if dup:
        problems.append(Problem(_WHERE, f"names {dup!r} appear more than once", "bad-name"))
    _argument("orientation", orientation, Options(("dst_src", "src_dst")), problems)
    _argument("threshold", threshold, FINITE, problems)
    _argument("self_density", self_density, Optional(PROBABILITY), problems)
    size_list = _per_region(sizes, n, "sizes", problems)
    frac_list = _per_region(exc_frac, n, "exc_frac", problems)
    sign_list = _per_region(sign, n, "sign", problems)
    if problems:
        raise GraphError(problems, header="from_adjacency: bad arguments")

    if orientation == "src_dst":
        W = W.T
    finite = W[~np.isnan(W)]
    if (finite < 0).any() or np.isinf(finite).any():
        raise GraphError(
            [
                Problem(
                    _WHERE,
                    "strengths must be finite and >= 0 (NaN marks a missing measurement)",
                    "bad-value",
                )
            ],
            header="from_adjacency: bad matrix",
        )
    keep = ~np.isnan(W) & (W > 0) & (W >= threshold)
    if self_density is not None:
        np.fill_diagonal(keep, False)
    kept = W[keep]
    to_density = _mapper(density, density_range, kept, "density", problems)
    to_gain = _mapper(gain, gain_range, kept, "gain", problems)
    if problems:
        raise GraphError(problems, header="from_adjacency: bad arguments")

    G = nx.DiGraph()
    if name is not None:
        G.graph["name"] = name
    if input_to is not None:
        G.add_node("input", kind="input", size=n_inputs)
    for r, size, frac, sgn in zip(names, size_list, frac_list, sign_list, strict=True):
        attrs: dict[str, Any] = {"size": size}
        if frac is not None:
            attrs["exc_frac"] = frac
        if sgn is not None:
            attrs["sign"] = sgn
        G.add_node(r, **attrs)
    if readout_from is not None:
        G.add_node("readout", kind="output", size=n_outputs)
    for i, dst in enumerate(names):
        for j, src in enumerate(names):
            if src == dst and self_density is not None:
                G.add_edge(
                    src,
                    dst,
                    density=float(self_density),
                    autapses=False,
                    **({"rule": rule} if rule != "bernoulli" else {}),
                )
                continue
            if not keep[i, j]:
                continue
            w = float(W[i, j])
            d, g = to_density(w), to_gain(w)  # type: ignore[misc]
            if not (isinstance(d, numbers.Real) and 0 <= d <= 1):
                problems.append(
                    Problem(
                        edge=(src, dst),
                        message=f"strength {w:g} maps to density {d!r}, outside [0, 1]",
                        code="bad-mapping",
                        attribute="density",
                    )
                )
                continue
            if not (isinstance(g, numbers.Real) and g > 0 and math.isfinite(g)):
                problems.append(
                    Problem(
                        edge=(src, dst),
                        message=f"strength {w:g} maps to gain {g!r}; gains must be > 0",
                        code="bad-mapping",
                        attribute="gain",
                    )
                )
                continue
            attrs = {"density": float(d)}
            if float(g) != 1.0:
                attrs["gain"] = float(g)
            if rule != "bernoulli":
                attrs["rule"] = rule
            if ei is not None and src != dst:
                attrs["ei"] = list(ei)
            attrs["meta"] = {"strength": w}
            G.add_edge(src, dst, **attrs)
    for names_, node, as_src in ((input_to, "input", True), (readout_from, "readout", False)):
        if names_ is None:
            continue
        for r in [names_] if isinstance(names_, str) else names_:
            if r not in names:
                problems.append(
                    Problem(
                        _WHERE,
                        f"{'input_to' if as_src else 'readout_from'} names unknown region {r!r}",
                        "unknown-node",
                    )
                )
            elif as_src:
                G.add_edge(node, r)
            else:
                G.add_edge(r, node)
    problems += validate(G).errors
    if problems:
        raise GraphError(problems, header="from_adjacency: the circuit is invalid")
    return G
