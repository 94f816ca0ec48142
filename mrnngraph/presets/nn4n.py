"""nn4n's multi-area layouts as circuit graphs: :func:`multi_area` and :func:`multi_area_ei`.

The graphs compile to the block structure nn4n's ``MultiArea`` and
``MultiAreaEI`` masks have for the same parameters (see ``docs/interop.md``):

* areas are named ``area_1 … area_n`` (nn4n's ``get_areas()``), the input node
  ``input`` and the output node ``readout``;
* ``density`` takes nn4n's ``area_connectivities`` forms: ``[lower, upper]``
  (diagonal 1), ``[lower, upper, diagonal]``, or a full ``[n, n]`` matrix whose
  entry ``[i, j]`` is the probability from area ``j`` to area ``i``; every
  synapse is an independent Bernoulli draw, self-connections included;
* inputs reach ``input_areas`` densely; the readout reads ``readout_areas``
  densely (all areas by default, and always area 1 when there is one area);
* in ``multi_area_ei``, the first ``int(size * exc_frac)`` units of each area are
  excitatory; ``inter_area`` keeps the listed sub-pathways between different
  areas (``"EI"`` = excitatory → inhibitory) and never touches within-area blocks.

Examples
--------
>>> G = multi_area([30, 20], density=[0.2, 0.1])
>>> list(G.nodes)
['input', 'area_1', 'area_2', 'readout']
>>> G.edges["area_1", "area_2"]["density"], G.edges["area_2", "area_1"]["density"]
(0.2, 0.1)
>>> H = multi_area_ei(2, hidden_size=40, inter_area=("EE", "EI"), inh_readout=False)
>>> H.edges["area_1", "area_2"]["ei"], H.edges["area_1", "readout"]["ei"]
(['EE', 'EI'], ['E'])
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from ..schema import n_excitatory

__all__ = ["multi_area", "multi_area_ei"]

_PATHWAYS = ("EE", "EI", "IE", "II")


def _sizes(sizes: int | Sequence[int], hidden_size: int | None) -> list[int]:
    if isinstance(sizes, bool):
        raise TypeError("sizes must be an int (number of areas) or a list of area sizes")
    if isinstance(sizes, numbers.Integral):
        n = int(sizes)
        if n < 1:
            raise ValueError(f"the number of areas must be >= 1; got {n}")
        if hidden_size is None:
            raise TypeError("give hidden_size (nn4n's dims[1]) with an int number of areas")
        if (
            isinstance(hidden_size, bool)
            or not isinstance(hidden_size, numbers.Integral)
            or hidden_size < 1
            or hidden_size % n
        ):
            raise ValueError(
                f"hidden_size must be a positive multiple of the number of areas "
                f"({n}); got {hidden_size!r}"
            )
        return [int(hidden_size) // n] * n
    out = list(sizes)
    if not out or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in out
    ):
        raise ValueError(f"area sizes must be positive ints; got {sizes!r}")
    if hidden_size is not None and hidden_size != sum(out):
        raise ValueError(f"the area sizes add up to {sum(out)}, not hidden_size={hidden_size}")
    return [int(s) for s in out]


def area_connectivities(density: Any, n: int) -> np.ndarray:
    """nn4n's ``area_connectivities`` in any of its forms as an ``[n, n]`` matrix.

    Entry ``[i, j]`` is the connection probability from area ``j`` to area ``i``.

    >>> area_connectivities([0.2, 0.1], 3).tolist()
    [[1.0, 0.1, 0.1], [0.2, 1.0, 0.1], [0.2, 0.2, 1.0]]
    >>> area_connectivities([0.2, 0.1, 0.5], 2).tolist()
    [[0.5, 0.1], [0.2, 0.5]]
    """
    arr = np.asarray(density, dtype=float)
    if arr.ndim == 1 and arr.shape[0] in (2, 3):
        out = np.zeros((n, n))
        out[np.tril_indices(n, -1)] = arr[0]
        out[np.triu_indices(n, 1)] = arr[1]
        out[np.diag_indices(n)] = arr[2] if arr.shape[0] == 3 else 1.0
    elif arr.shape == (n, n):
        out = arr.copy()
    else:
        raise ValueError(
            f"density must be [lower, upper], [lower, upper, diagonal] or an "
            f"({n}, {n}) matrix; got shape {arr.shape}"
        )
    if not (np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 1))):
        raise ValueError(f"densities must be in [0, 1]; got {density!r}")
    return out


def _areas(which: Sequence[int | str] | None, names: list[str], what: str) -> list[int]:
    if which is None or len(names) == 1:
        # nn4n uses every area by default, and area 1 whenever there is only one.
        return list(range(len(names)))
    out = []
    for a in which:
        if isinstance(a, str) and a in names:
            out.append(names.index(a))
        elif isinstance(a, numbers.Integral) and not isinstance(a, bool) and 0 <= a < len(names):
            out.append(int(a))
        else:
            raise ValueError(
                f"{what} must hold area indices in [0, {len(names)}) or area names; got {a!r}"
            )
    return sorted(set(out))


def _build(
    sizes: list[int],
    conn: np.ndarray,
    input_areas: list[int],
    readout_areas: list[int],
    n_inputs: int,
    n_outputs: int,
    name: str,
    node_attrs: dict[str, Any],
) -> tuple[nx.DiGraph, list[str]]:
    for what, v in (("n_inputs", n_inputs), ("n_outputs", n_outputs)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{what} must be a positive int; got {v!r}")
    names = [f"area_{i + 1}" for i in range(len(sizes))]
    G = nx.DiGraph(name=name)
    G.add_node("input", kind="input", size=int(n_inputs))
    for a, size in zip(names, sizes, strict=True):
        G.add_node(a, size=size, **node_attrs)
    G.add_node("readout", kind="output", size=int(n_outputs))
    for i in input_areas:
        G.add_edge("input", names[i])
    for i, dst in enumerate(names):
        for j, src in enumerate(names):
            if conn[i, j] > 0:
                G.add_edge(src, dst, density=float(conn[i, j]))
    for i in readout_areas:
        G.add_edge(names[i], "readout")
    return G, names


def multi_area(
    sizes: int | Sequence[int],
    *,
    hidden_size: int | None = None,
    density: Any = (0.1, 0.1),
    input_areas: Sequence[int | str] | None = None,
    readout_areas: Sequence[int | str] | None = None,
    n_inputs: int = 1,
    n_outputs: int = 1,
) -> nx.DiGraph:
    """A multi-area network like nn4n's ``MultiArea`` mask.

    Parameters
    ----------
    sizes : int or sequence of int
        nn4n's ``n_areas``: a number of equal areas (then ``hidden_size`` is the
        total and must divide evenly) or the list of area sizes.
    hidden_size : int, optional
        nn4n's ``dims[1]``; required with an int ``sizes``.
    density : sequence or array
        nn4n's ``area_connectivities``: ``[lower, upper]`` (diagonal 1),
        ``[lower, upper, diagonal]``, or an ``[n, n]`` matrix, entry ``[i, j]`` from
        area ``j`` to area ``i``. Default ``[0.1, 0.1]`` as in nn4n. Zero entries
        give no edge.
    input_areas, readout_areas : sequence of int or str, optional
        Areas (0-based indices as in nn4n, or names) that receive the input and
        feed the readout; all areas by default.
    n_inputs, n_outputs : int
        nn4n's ``dims[0]`` and ``dims[2]``.

    Returns
    -------
    networkx.DiGraph
        Unconstrained areas ``area_1 … area_n`` with Bernoulli projections.
    """
    s = _sizes(sizes, hidden_size)
    conn = area_connectivities(density, len(s))
    names = [f"area_{i + 1}" for i in range(len(s))]
    G, _ = _build(
        s,
        conn,
        _areas(input_areas, names, "input_areas"),
        _areas(readout_areas, names, "readout_areas"),
        n_inputs,
        n_outputs,
        "multi_area",
        {},
    )
    return G


def multi_area_ei(
    sizes: int | Sequence[int],
    *,
    hidden_size: int | None = None,
    density: Any = (0.1, 0.1),
    input_areas: Sequence[int | str] | None = None,
    readout_areas: Sequence[int | str] | None = None,
    n_inputs: int = 1,
    n_outputs: int = 1,
    exc_frac: float = 0.8,
    inter_area: Sequence[str] = _PATHWAYS,
    inh_readout: bool = True,
) -> nx.DiGraph:
    """A multi-area E/I network like nn4n's ``MultiAreaEI`` mask.

    Takes the parameters of :func:`multi_area` and:

    Parameters
    ----------
    exc_frac : float
        nn4n's ``exc_pct``: the first ``int(size * exc_frac)`` units of every area
        are excitatory, the rest inhibitory.
    inter_area : sequence of {"EE", "EI", "IE", "II"}
        The sub-pathways kept between *different* areas (source type, then target
        type: ``"EI"`` is excitatory → inhibitory, nn4n's ``exc_inh``). nn4n's
        ``inter_area_connections=[True, True, False, False]`` is
        ``inter_area=("EE", "EI")``. Within-area blocks are never changed.
    inh_readout : bool
        False reads out excitatory units only (``ei=["E"]`` on readout edges).

    Returns
    -------
    networkx.DiGraph
        Areas with ``exc_frac``; projections between areas carry ``ei`` when some
        sub-pathway is removed (and are left out when none is kept).
    """
    if (
        isinstance(inter_area, str)
        or not all(p in _PATHWAYS for p in inter_area)
        or len(set(inter_area)) != len(inter_area)
    ):
        raise ValueError(
            f"inter_area must list distinct entries of {', '.join(_PATHWAYS)}; "
            f"got {inter_area!r} (nn4n's [EE, EI, IE, II] booleans: list the "
            "True ones)"
        )
    if not (isinstance(exc_frac, numbers.Real) and math.isfinite(exc_frac) and 0 <= exc_frac <= 1):
        raise ValueError(f"exc_frac must be a float in [0, 1]; got {exc_frac!r}")
    if not isinstance(inh_readout, bool):
        raise TypeError(f"inh_readout must be a bool; got {inh_readout!r}")
    s = _sizes(sizes, hidden_size)
    conn = area_connectivities(density, len(s))
    names = [f"area_{i + 1}" for i in range(len(s))]
    G, names = _build(
        s,
        conn,
        _areas(input_areas, names, "input_areas"),
        _areas(readout_areas, names, "readout_areas"),
        n_inputs,
        n_outputs,
        "multi_area_ei",
        {"exc_frac": float(exc_frac)},
    )

    def types(size: int) -> set[str]:
        n_exc = n_excitatory(size, exc_frac)  # the split compile makes
        return {t for t, k in (("E", n_exc), ("I", size - n_exc)) if k > 0}

    kinds = {a: types(size) for a, size in zip(names, s, strict=True)}
    for src, dst in list(G.edges):
        if src not in kinds:
            continue
        if dst == "readout":
            if not inh_readout:
                if "E" in kinds[src]:
                    G.edges[src, dst]["ei"] = ["E"]
                else:
                    G.remove_edge(src, dst)
            continue
        if src == dst:
            continue
        possible = [p for p in _PATHWAYS if p[0] in kinds[src] and p[1] in kinds[dst]]
        kept = [p for p in possible if p in inter_area]
        if not kept:
            G.remove_edge(src, dst)
        elif kept != possible:
            G.edges[src, dst]["ei"] = kept
    return G
