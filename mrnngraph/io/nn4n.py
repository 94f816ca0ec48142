"""Export a compiled circuit as the masks and specs of nn4n's ``CTRNN``.

nn4n passes masks at its API in ``[pre, post]`` layout (input ``(I, H)``, hidden
``(H, H)``, readout ``(H, O)``), i.e. transposed from ours. Its ``ei_masks`` hold
``+1``/``-1`` per entry (anything not positive counts as ``-1``), so a layer can be
constrained only when every one of its source units has a sign.

Examples
--------
>>> from mrnngraph.presets import multi_area_ei
>>> G = multi_area_ei([10, 10], density=[1.0, 1.0], inter_area=("EE", "EI"))
>>> d = to_nn4n(G, seed=0)
>>> [m.shape for m in d["sparsity_masks"]]
[(1, 20), (20, 20), (20, 1)]
>>> d["ei_masks"][0] is None, d["ei_masks"][1][:, 0].tolist()[6:10]
(True, [1, 1, -1, -1])
>>> d["specs"]["inter_area_connections"], d["specs"]["exc_pct"]
([True, True, False, False], 0.8)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np
import torch

from .._params import InstanceOf, check
from ..circuit import CompiledCircuit
from ..compilation import compile as compile_graph
from ..errors import GraphError, Problem

__all__ = ["to_nn4n"]

_PATHWAYS = ("EE", "EI", "IE", "II")


def _ei_mask(
    sign: torch.Tensor,
    n_post: int,
    layer: str,
    names: tuple[str, ...],
    layout: Any,
    problems: list[Problem],
) -> np.ndarray | None:
    """``[pre, post]`` +1/-1 mask from per-source signs; None when all are free."""
    if sign.numel() == 0 or bool((sign == 0).all()):
        return None
    if bool((sign == 0).any()):
        free = [n for n in names if bool((sign[layout.slice(n)] == 0).any())]
        problems.append(
            Problem(
                f"{layer} layer",
                f"nodes {free!r} are unconstrained while others "
                "have a sign; nn4n's ei_masks hold only +1 and -1 per layer",
                "nn4n-mixed-constraint",
                hint="give every node of the layer a sign or exc_frac, or none",
            )
        )
        return None
    return np.repeat(sign.to(torch.int64).numpy()[:, None], n_post, axis=1)


def _allows(ei: tuple[str, ...] | None, pathway: str) -> bool:
    return ei is None or pathway in ei or pathway[0] in ei


def _density(e: Any, s: Any, d: Any) -> float:
    """The edge's density; given per E/I sub-pathway, the mean over the sub-blocks it
    names, weighted by their numbers of possible synapses (the masks themselves carry
    each sub-pathway's density exactly)."""
    if not isinstance(e.density, Mapping):
        return e.density
    count = {"E": s.n_exc, "I": s.n_inh}, {"E": d.n_exc, "I": d.n_inh}
    weights = {k: count[0][k[0]] * (count[1][k[1]] if len(k) == 2 else d.size) for k in e.density}
    total = sum(weights.values())
    if total == 0:
        return sum(e.density.values()) / len(e.density)
    return sum(e.density[k] * w for k, w in weights.items()) / total


def _inexpressible(spec: Any) -> list[Problem]:
    """What nn4n's ``CTRNN`` has no place for: delays and learned time constants.
    Every reason, each naming its node or edge and attribute."""
    problems = []
    for e in spec.edges:
        if e.delay > 0:
            problems.append(
                Problem(
                    edge=(e.src, e.dst),
                    attribute="delay",
                    message=f"delay {e.delay:g} ms: nn4n has no conduction delays",
                    code="nn4n-delay",
                )
            )
    for n in spec.regions:
        if spec.nodes[n].learn_tau:
            problems.append(
                Problem(
                    node=n,
                    attribute="learn_tau",
                    message="learn_tau=True: the time constant of nn4n's CTRNN is never trained",
                    code="nn4n-learn-tau",
                )
            )
    return problems


def to_nn4n(circuit: CompiledCircuit | nx.DiGraph, *, seed: int | None = None) -> dict[str, Any]:
    """The masks and specs that rebuild a circuit's structure in nn4n.

    Structure only: no weights are exported, neither the circuit's initial ones
    nor a trained model's (nn4n's ``CTRNN`` draws its own), so a model's readout
    bias (``bias_ho``) is not carried either; nn4n's readout starts with its own.
    Pass ``model.circuit`` to export the structure of a :class:`MultiRegionRNN`.

    Parameters
    ----------
    circuit : CompiledCircuit or networkx.DiGraph
        A graph is compiled first (with ``seed``).
    seed : int, optional
        Only used to compile a graph.

    Returns
    -------
    dict
        ``dims`` (``[I, H, O]``), ``sparsity_masks`` and ``ei_masks`` (lists of
        input, hidden, readout numpy ``int64`` arrays in nn4n's ``[pre, post]``
        layout, ``None`` where a layer is unconstrained; readouts are always
        unconstrained here), ready for ``CTRNN(dims=d["dims"],
        sparsity_masks=d["sparsity_masks"], ei_masks=d["ei_masks"])``, and ``specs``
        like nn4n's ``get_specs()``: ``dims``, ``hidden_size``, ``input_dim``,
        ``readout_dim``, ``n_areas``, ``areas`` (names), ``area_sizes``,
        ``area_connectivities`` (``[n, n]``, entry ``[i, j]`` the density from area
        ``j`` to area ``i``; for a density given per E/I sub-pathway, their mean
        weighted by the sub-blocks' sizes, while the masks carry each exactly),
        ``input_areas``, ``readout_areas``, ``tau`` where regions declare one (a
        float when every unit has the same, else one value per unit, NaN where
        the model's ``tau`` applies; nn4n's ``CTRNN`` takes one ``tau``, its
        leaky layer a per-unit ``alpha = dt / tau``), and, when some
        region has E/I types, ``exc_pct`` (one value, or one per area),
        ``inter_area_connections`` (``[EE, EI, IE, II]``: whether any projection
        between two areas keeps that sub-pathway) and ``inh_readout``.

    Raises
    ------
    GraphError
        Listing every reason the circuit has no nn4n form, each naming its node or
        edge and attribute: a layer mixing unconstrained and sign-constrained source
        nodes, conduction delays (``delay``) and learned time constants
        (``learn_tau``: the ``CTRNN`` these masks are for keeps its ``tau`` fixed).
    TypeError
        If ``circuit`` is neither a CompiledCircuit nor a graph (a model: pass
        ``model.circuit``).
    """
    what = "a CompiledCircuit or a networkx.DiGraph"
    if isinstance(getattr(circuit, "circuit", None), CompiledCircuit):
        raise TypeError(
            f"circuit must be {what}; got a {type(circuit).__name__}: to_nn4n exports "
            "masks and specs only (no trained weights, no readout bias), so pass model.circuit"
        )
    check("circuit", circuit, InstanceOf((CompiledCircuit, nx.Graph), what))
    if isinstance(circuit, nx.Graph):
        circuit = compile_graph(circuit, seed=seed)
    lay = circuit.layout
    spec = circuit.spec
    dims = [lay.input_size, lay.hidden_size, lay.output_size]
    problems: list[Problem] = _inexpressible(spec)

    def pre_post(mask: torch.Tensor) -> np.ndarray:
        return mask.T.contiguous().to(torch.int64).numpy()

    sparsity = [pre_post(circuit.mask_ih), pre_post(circuit.mask_hh), pre_post(circuit.mask_ho)]
    ei = [
        _ei_mask(circuit.sign_i, dims[1], "input", lay.inputs, lay, problems),
        _ei_mask(circuit.sign_h, dims[1], "hidden", lay.regions, lay, problems),
        None,
    ]
    if problems:
        raise GraphError(problems, header="the circuit cannot be written as nn4n masks")

    regions = list(lay.regions)
    index = {n: i for i, n in enumerate(regions)}
    conn = np.zeros((len(regions), len(regions)))
    input_areas, readout_areas = set(), set()
    pathways = dict.fromkeys(_PATHWAYS, False)
    inh_readout = False
    for e in spec.edges:
        s, d = spec.nodes[e.src], spec.nodes[e.dst]
        if e.zero:
            continue
        if s.kind == "input":
            input_areas.add(index[e.dst])
        elif d.kind == "output":
            readout_areas.add(index[e.src])
            inh_readout |= "I" in s.types and _allows(e.ei, "I")
        else:
            conn[index[e.dst], index[e.src]] = _density(e, s, d)
            if e.src != e.dst:
                for p in _PATHWAYS:
                    if p[0] in s.types and p[1] in d.types:
                        pathways[p] |= _allows(e.ei, p)
    specs: dict[str, Any] = {
        "dims": dims,
        "hidden_size": dims[1],
        "input_dim": dims[0],
        "readout_dim": dims[2],
        "n_areas": len(regions),
        "areas": regions,
        "area_sizes": [lay.sizes[n] for n in regions],
        "area_connectivities": conn,
        "input_areas": np.array(sorted(input_areas), dtype=np.int64),
        "readout_areas": np.array(sorted(readout_areas), dtype=np.int64),
    }
    tau = circuit.tau.detach().to(torch.float64).numpy()
    if tau.size and not np.isnan(tau).all():
        same = not np.isnan(tau).any() and bool((tau == tau[0]).all())
        specs["tau"] = float(tau[0]) if same else tau
    typed = [spec.nodes[n] for n in regions if spec.nodes[n].typed]
    if typed:
        fracs = [n.n_exc / n.size for n in (spec.nodes[r] for r in regions)]
        declared = {spec.nodes[n].exc_frac for n in regions}
        if len(declared) == 1 and None not in declared:
            specs["exc_pct"] = declared.pop()
        else:
            specs["exc_pct"] = fracs
        specs["inter_area_connections"] = [pathways[p] for p in _PATHWAYS]
        specs["inh_readout"] = inh_readout
    return {"dims": dims, "sparsity_masks": sparsity, "ei_masks": ei, "specs": specs}
