"""Save a trained model to one file and rebuild an identical one from it.

A checkpoint is one ``torch.save`` file holding only types that
``torch.load(..., weights_only=True)`` accepts: the circuit graph as JSON text
(:func:`mrnngraph.io.graph_to_dict`), the compile options (seed, node order,
``spectral_radius``, dtype), the model's hyper-parameters, a fingerprint of the
compiled circuit, free-form JSON metadata, and the model's ``state_dict``.
:func:`load_model` compiles the same graph with the same seed (bit-identical
initial tensors, checked against the fingerprint), builds the model with the
same hyper-parameters and loads the state dict, so the loaded model gives the
same outputs on the same input.

A :class:`~mrnngraph.CompiledCircuit` keeps its checked :class:`~mrnngraph.Spec`
but not the graph it came from; :func:`spec_to_graph` rebuilds an equivalent
graph (canonical attribute names, defaults left out, drawing hints lost) that
compiles to the same tensors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
import torch

from . import schema
from ._files import atomic_write
from .circuit import CompiledCircuit
from .compile import compile as compile_graph
from .errors import CircuitWarning
from .model import MultiRegionRNN
from .validate import EdgeSpec, NodeSpec, Spec

__all__ = ["save_model", "load_model", "load_checkpoint", "Checkpoint", "spec_to_graph",
           "circuit_fingerprint", "FORMAT", "VERSION"]

#: The ``format`` entry of every checkpoint file.
FORMAT = "mrnngraph-checkpoint"
#: The layout version this module writes and reads.
VERSION = 1

#: Model hyper-parameters stored in the checkpoint: keyword of MultiRegionRNN -> attribute.
#: ``sparse`` fixes the shape of the recurrent parameter, so it must come back as saved.
_HPARAMS = {"dt": "dt", "tau": "tau", "activation": "activation", "noise_std": "noise_std",
            "input_noise_std": "input_noise_std", "batch_first": "batch_first",
            "alpha": "alpha_override", "sparse": "sparse", "scan": "scan",
            "readout_bias": "readout_bias"}
#: Options added after version 1 was first written, with the value that reproduces a
#: checkpoint saved before them (such a model had no readout bias).
_HPARAMS_BEFORE = {"readout_bias": False}


# --------------------------------------------------------------------------- spec -> graph
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


# Both dataclasses must keep mapping 1:1 onto schema attributes for spec_to_graph.
for _cls, _scope, _skip in ((NodeSpec, "node", ("name",)), (EdgeSpec, "edge", ("src", "dst"))):
    for _f in dataclasses.fields(_cls):
        if _f.name not in _skip:
            schema.attribute(_scope, _f.name)  # KeyError at import if they drift apart
del _cls, _scope, _skip, _f


# --------------------------------------------------------------------------- fingerprint
def circuit_fingerprint(circuit: CompiledCircuit) -> str:
    """A hex digest of a compiled circuit's layout and every initial tensor.

    Two circuits with the same fingerprint have bit-identical blocks, signs,
    biases, initial states and time constants.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> a = circuit_fingerprint(mg.compile(two_area_ei(size=10), seed=1))
    >>> a == circuit_fingerprint(mg.compile(two_area_ei(size=10), seed=1))
    True
    >>> a == circuit_fingerprint(mg.compile(two_area_ei(size=10), seed=2))
    False
    """
    h = hashlib.blake2b(digest_size=16)
    lay = circuit.layout

    def add(t: torch.Tensor) -> None:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")

    h.update(json.dumps([lay.regions, lay.inputs, lay.outputs,
                         [lay.sizes[n] for n in lay.names]]).encode())
    for key in sorted(circuit.blocks):
        b = circuit.blocks[key]
        h.update(json.dumps([b.src, b.dst, b.family, b.zero, b.trainable]).encode())
        add(b.weight)
        add(b.mask)
    for t in (circuit.sign_h, circuit.sign_i, circuit.bias, circuit.x0, circuit.tau,
              circuit.learnable_bias):
        add(t)
    return h.hexdigest()


# --------------------------------------------------------------------------- save
def _atomic_save(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: torch.save(payload, fh), binary=True)


def _compile_quiet(G: nx.DiGraph, compile_opts: dict[str, Any]) -> CompiledCircuit:
    # Graph warnings (unreachable regions, ...) were shown when the model was first built.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CircuitWarning)
        return compile_graph(G, seed=compile_opts["seed"], order=compile_opts["order"],
                             spectral_radius=compile_opts["spectral_radius"],
                             dtype=getattr(torch, compile_opts["dtype"]))


def save_model(model: MultiRegionRNN, path: str | os.PathLike, *, graph: nx.DiGraph | None = None,
               spectral_radius: float | None = None,
               metadata: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (circuit graph, compile options, hyper-parameters, weights) to one file.

    Parameters
    ----------
    model : MultiRegionRNN
    path : path
        The file to write (parent folders are created; written atomically).
    graph : networkx.DiGraph, optional
        The graph the model's circuit was compiled from, kept as given (labels,
        colours and positions included). Default: rebuilt from ``model.circuit.spec``
        with :func:`spec_to_graph`.
    spectral_radius : float, optional
        If the circuit was compiled with ``spectral_radius=``, the same value
        (default: ``model.circuit.spectral_radius`` when the circuit records it).
    metadata : dict, optional
        JSON-serialisable extras (task, metrics, ...), returned by :func:`load_checkpoint`.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If ``model`` is not a MultiRegionRNN or ``metadata`` is not JSON-serialisable.
    ValueError
        If compiling the graph with the circuit's seed does not reproduce the
        model's circuit (wrong graph, or a missing ``spectral_radius``).

    Examples
    --------
    >>> import tempfile, torch, mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> path = save_model(model, tempfile.mkdtemp() + "/model.pt")
    >>> x = torch.randn(2, 5, 3)
    >>> torch.equal(load_model(path)(x).outputs, model(x).outputs)
    True
    """
    from .io import graph_to_dict

    if not isinstance(model, MultiRegionRNN):
        raise TypeError(f"save_model needs a MultiRegionRNN; got {type(model).__name__}")
    circuit = model.circuit
    if spectral_radius is None:
        spectral_radius = getattr(circuit, "spectral_radius", None)
    compile_opts = {"seed": int(circuit.seed), "order": list(circuit.spec.nodes),
                    "spectral_radius": None if spectral_radius is None else float(spectral_radius),
                    "dtype": str(circuit.dtype).removeprefix("torch.")}
    G = graph if graph is not None else spec_to_graph(circuit.spec)
    fingerprint = circuit_fingerprint(circuit)
    if circuit_fingerprint(_compile_quiet(G, compile_opts)) != fingerprint:
        raise ValueError(
            f"compiling the {'given graph' if graph is not None else 'circuit spec'} with seed "
            f"{circuit.seed} does not reproduce the model's circuit; pass the graph it was "
            "compiled from, and spectral_radius= if it was compiled with one")
    try:
        meta_text = json.dumps(metadata or {}, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"metadata must be JSON-serialisable: {err}") from None
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "graph": json.dumps(graph_to_dict(G)),
        "compile": compile_opts,
        "model": {k: getattr(model, attr) for k, attr in _HPARAMS.items()
                  if hasattr(model, attr)}
        | {"dtype": str(model.alpha.dtype).removeprefix("torch.")},
        "fingerprint": fingerprint,
        "metadata": meta_text,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    _atomic_save(payload, path)
    return path


# --------------------------------------------------------------------------- load
class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns."""

    model: MultiRegionRNN
    graph: nx.DiGraph
    metadata: dict[str, Any]


def load_checkpoint(path: str | os.PathLike, *,
                    device: torch.device | str | None = None) -> Checkpoint:
    """Rebuild the model saved by :func:`save_model`, with its graph and metadata.

    The file is read with ``torch.load(..., weights_only=True)``: it cannot run code.

    Raises
    ------
    ValueError
        If the file is not an mrnngraph checkpoint, has an unknown version, or its
        graph no longer compiles to the circuit it was saved with.
    GraphError
        If the stored graph is invalid.
    """
    from .io import graph_from_dict

    path = Path(path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not an mrnngraph checkpoint "
                         f"(no format {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise ValueError(f"{os.fspath(path)!r} has checkpoint version "
                         f"{payload.get('version')!r}; this mrnngraph reads version {VERSION}")
    G = graph_from_dict(json.loads(payload["graph"]), source=os.fspath(path))
    circuit = _compile_quiet(G, payload["compile"])
    if circuit_fingerprint(circuit) != payload["fingerprint"]:
        raise ValueError(f"{os.fspath(path)!r}: the stored graph no longer compiles to the "
                         "circuit it was saved with (was it written by a different version "
                         "of mrnngraph's compiler?)")
    hp = _HPARAMS_BEFORE | dict(payload["model"])
    dtype = getattr(torch, hp.pop("dtype"))
    model = MultiRegionRNN(circuit, dtype=dtype, **hp)
    model.load_state_dict(payload["state_dict"])
    if device is not None:
        model.to(device)
    return Checkpoint(model, G, json.loads(payload["metadata"]))


def load_model(path: str | os.PathLike, *,
               device: torch.device | str | None = None) -> MultiRegionRNN:
    """Rebuild the model saved by :func:`save_model` (see :func:`load_checkpoint`).

    Parameters
    ----------
    path : path
    device : optional
        Where to put the model (default: CPU).

    Returns
    -------
    MultiRegionRNN
        Same circuit, hyper-parameters and weights: the same outputs on the same input.
    """
    return load_checkpoint(path, device=device).model
