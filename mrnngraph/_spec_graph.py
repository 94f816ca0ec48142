"""A circuit graph rebuilt from a checked :class:`~mrnngraph.Spec` (:func:`spec_to_graph`).

A :class:`~mrnngraph.CompiledCircuit` keeps its checked spec but not the graph it
came from; :func:`spec_to_graph` rebuilds an equivalent graph (canonical attribute
names, defaults left out, drawing hints lost) that compiles to the same tensors.
Checkpoints store it when no graph is given, and :meth:`MultiRegionRNN.to_graph`
starts from it to write a trained model's time constants back into a graph.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import networkx as nx

from . import schema
from .validation import Spec

__all__ = ["spec_to_graph"]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _attrs(spec_obj: Any, scope: schema.Scope, skip: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(spec_obj):
        if f.name in skip:
            continue
        value = getattr(spec_obj, f.name)
        attr = schema.attribute(scope, f.name)
        if not attr.required and value == attr.default:
            continue  # defaults stay implicit, as a user would write the graph
        out[f.name] = _plain(value)
    return out


def spec_to_graph(spec: Spec) -> nx.DiGraph:
    """An equivalent circuit graph of a checked :class:`~mrnngraph.Spec`.

    Node order is the spec's region order, attribute names are canonical (the
    :class:`NodeSpec` and :class:`EdgeSpec` fields are schema attribute names),
    and values equal to the schema default are left out. Compiling the result
    with the circuit's seed gives bit-identical tensors.

    Parameters
    ----------
    spec : Spec
        E.g. ``circuit.spec`` or ``mrnngraph.check(G)``.

    Returns
    -------
    networkx.DiGraph

    Examples
    --------
    >>> import networkx as nx, mrnngraph as mg
    >>> G = nx.DiGraph(dt=20.0)
    >>> G.add_node("u", kind="input", size=2)
    >>> G.add_node("ctx", num_units=6, sign="pos", label="cortex")
    >>> G.add_node("y", kind="output", size=1)
    >>> G.add_edges_from([("u", "ctx"), ("ctx", "y")])
    >>> G.add_edge("ctx", "ctx", density=0.5)
    >>> H = spec_to_graph(mg.check(G))
    >>> H.nodes["ctx"], H.edges["ctx", "ctx"], H.graph
    ({'size': 6, 'sign': 'exc'}, {'sparsity': 0.5}, {'dt': 20.0})
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"spec_to_graph needs a mrnngraph Spec; got {type(spec).__name__}")
    G = nx.DiGraph()
    G.graph.update({k: _plain(v) for k, v in spec.graph.items()})
    for name, node in spec.nodes.items():
        G.add_node(name, **_attrs(node, "node", skip=("name",)))
    for e in spec.edges:
        G.add_edge(e.src, e.dst, **_attrs(e, "edge", skip=("src", "dst")))
    return G
