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

import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
import torch

from ._files import atomic_write
from ._spec_graph import spec_to_graph
from .circuit import CompiledCircuit
from .compilation import compile as compile_graph
from .errors import CircuitWarning, GraphError
from .model import MultiRegionRNN, same_bits

__all__ = [
    "save_model",
    "load_model",
    "load_checkpoint",
    "Checkpoint",
    "spec_to_graph",
    "circuit_fingerprint",
    "checksum",
    "FORMAT",
    "VERSION",
]

#: The ``format`` entry of every checkpoint file.
FORMAT = "mrnngraph-checkpoint"
#: The layout version this module writes and reads.
VERSION = 1

#: Options added after version 1 was first written, with the value that reproduces a
#: checkpoint saved before them (such a model had no readout bias, and an unsigned readout).
_HPARAMS_BEFORE = {"readout_bias": False, "readout_sign": False}


# --------------------------------------------------------------------------- fingerprint
def circuit_fingerprint(circuit: CompiledCircuit) -> str:
    """A hex digest of a compiled circuit's layout and every initial tensor.

    Two circuits with the same fingerprint have bit-identical blocks, signs,
    biases, initial states and time constants, and the same ``learn_tau`` units
    and bounds.

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

    h.update(
        json.dumps(
            [lay.regions, lay.inputs, lay.outputs, [lay.sizes[n] for n in lay.names]]
        ).encode()
    )
    for key in sorted(circuit.blocks):
        b = circuit.blocks[key]
        h.update(json.dumps([b.src, b.dst, b.family, b.zero, b.trainable]).encode())
        add(b.weight)
        add(b.mask)
    for t in (
        circuit.sign_h,
        circuit.sign_i,
        circuit.bias,
        circuit.x0,
        circuit.tau,
        circuit.learnable_bias,
    ):
        add(t)
    # Learned time constants (issue 16): None where no region learns them, so the
    # fingerprints of circuits without them are what they always were.
    for name in ("learn_tau", "tau_min", "tau_max"):
        t = getattr(circuit, name, None)
        if t is not None:
            h.update(name.encode())
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
        return compile_graph(
            G,
            seed=compile_opts["seed"],
            order=compile_opts["order"],
            spectral_radius=compile_opts["spectral_radius"],
            dtype=getattr(torch, compile_opts["dtype"]),
        )


def save_model(
    model: MultiRegionRNN | Any,
    path: str | os.PathLike,
    *,
    graph: nx.DiGraph | None = None,
    spectral_radius: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` (circuit graph, compile options, hyper-parameters, weights) to one file.

    Parameters
    ----------
    model : MultiRegionRNN or Ensemble
        An :class:`~mrnngraph.Ensemble` is saved as one payload per member (each what
        ``save_model(ens[k])`` would store, checked the same way) in one file;
        :func:`load_model` gives the ensemble back.
    path : path
        The file to write (parent folders are created; written atomically).
    graph : networkx.DiGraph, optional
        The graph the model's circuit was compiled from, kept as given (labels,
        colours and positions included). Default: rebuilt from ``model.circuit.spec``
        with :func:`spec_to_graph`. For an ensemble: one graph for all members or a
        list with one per member.
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
        model's circuit (wrong graph, or a missing ``spectral_radius``), or the file
        would not load: a parameter holds NaN or inf, or a buffer (mask, sign, frozen
        weights, ...) was edited away from the circuit's (e.g. inside
        :func:`mrnngraph.perturb`).

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
    from .ensemble import Ensemble

    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict; got {type(metadata).__name__}")
    try:
        meta_text = json.dumps(metadata or {}, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"metadata must be JSON-serialisable: {err}") from None
    if isinstance(model, Ensemble):
        from ._ensemble_checkpoint import ensemble_payload

        payload = ensemble_payload(model, graph, spectral_radius, meta_text)
    else:
        if not isinstance(model, MultiRegionRNN):
            raise TypeError(
                f"save_model needs a MultiRegionRNN or an Ensemble; got {type(model).__name__}"
            )
        payload = _payload(model, graph, spectral_radius, meta_text)
    path = Path(path)
    _atomic_save(payload, path)
    return path


def _payload(
    model: MultiRegionRNN, graph: Any, spectral_radius: float | None, meta_text: str
) -> dict[str, Any]:
    """One model's checkpoint payload (see :func:`save_model`)."""
    from .io import graph_to_dict

    circuit = model.circuit
    if spectral_radius is None:
        spectral_radius = getattr(circuit, "spectral_radius", None)
    compile_opts = {
        "seed": int(circuit.seed),
        "order": list(circuit.spec.nodes),
        "spectral_radius": None if spectral_radius is None else float(spectral_radius),
        "dtype": str(circuit.dtype).removeprefix("torch."),
    }
    G = graph if graph is not None else spec_to_graph(circuit.spec)
    fingerprint = circuit_fingerprint(circuit)
    if circuit_fingerprint(_compile_quiet(G, compile_opts)) != fingerprint:
        raise ValueError(
            f"compiling the {'given graph' if graph is not None else 'circuit spec'} with seed "
            f"{circuit.seed} does not reproduce the model's circuit; pass the graph it was "
            "compiled from, and spectral_radius= if it was compiled with one"
        )
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _refuse_unloadable(model, state)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "graph": json.dumps(graph_to_dict(G)),
        "compile": compile_opts,
        # The model options (MultiRegionRNN.options(): sparse included, since it fixes the
        # shape of the recurrent parameter) and the dtype.
        "model": model.options() | {"dtype": str(model.alpha.dtype).removeprefix("torch.")},
        "fingerprint": fingerprint,
        "metadata": meta_text,
        "state_dict": state,
    }
    payload["checksum"] = checksum(payload)
    return payload


def _refuse_unloadable(model: MultiRegionRNN, state: dict[str, torch.Tensor]) -> None:
    """What :func:`load_checkpoint` would refuse is refused before anything is written."""
    params = {k for k, _ in model.named_parameters()}
    for key in sorted(params) + list(model.LEARNED_BUFFERS):
        bad = int((~state[key].isfinite()).sum())
        if bad:
            raise ValueError(
                f"{'parameter' if key in params else 'tensor'} {key!r} has {bad} "
                "non-finite entries (NaN or inf); a checkpoint holds finite "
                "values only"
            )
    edited = model.structure_mismatches()
    if edited:
        raise ValueError(
            f"buffers {edited} differ from what the model's circuit gives (edited "
            "by hand, or saved inside mrnngraph.perturb?); a checkpoint stores "
            "the circuit's structure unchanged"
        )


# --------------------------------------------------------------------------- load
class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns: for an ensemble's file ``model`` is the
    :class:`~mrnngraph.Ensemble` and ``graph`` a list with each member's graph."""

    model: Any
    graph: Any
    metadata: dict[str, Any]


def _fail(path: str, what: str) -> ValueError:
    return ValueError(f"{path!r}: {what}")


def _read_payload(path: Path) -> Any:
    name = os.fspath(path)
    with open(path, "rb") as fh:  # a missing or unreadable file stays an OSError
        try:
            return torch.load(fh, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise _fail(
                name,
                "refused: it holds objects other than tensors and plain "
                f"values (checkpoints are read with weights_only=True): {err}",
            ) from None
        except Exception as err:  # noqa: BLE001 - any failure of the reader is a bad file
            raise _fail(
                name,
                "not a readable checkpoint (truncated or corrupt file?): "
                f"{type(err).__name__}: {err}",
            ) from None


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: Type checks of the stored model options: name -> (check, what it must be).
_HPARAM_TYPES: dict[str, tuple[Any, str]] = {
    "dt": (_is_real, "a number"),
    "tau": (_is_real, "a number"),
    "noise_std": (_is_real, "a number"),
    "input_noise_std": (_is_real, "a number"),
    "activation": (lambda v: isinstance(v, str), "a str"),
    "scan": (lambda v: isinstance(v, str), "a str"),
    "batch_first": (lambda v: isinstance(v, bool), "a bool"),
    "readout_bias": (lambda v: isinstance(v, bool), "a bool"),
    "readout_sign": (lambda v: isinstance(v, bool), "a bool"),
    "sparse": (lambda v: v is None or isinstance(v, bool), "a bool or None"),
    "alpha": (lambda v: v is None or _is_real(v), "a number or None"),
}
_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _check_payload(payload: Any, name: str) -> None:
    """Every entry present with its type; raises ValueError naming the file and entry."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _fail(name, f"not an mrnngraph checkpoint (no format {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise _fail(
            name,
            f"has checkpoint version {payload.get('version')!r}; this "
            f"mrnngraph reads version {VERSION}",
        )
    if "members" in payload:  # an ensemble: one full payload per member
        from ._ensemble_checkpoint import check_ensemble_payload

        check_ensemble_payload(payload, name)
        return
    for key, kind in (
        ("graph", str),
        ("compile", dict),
        ("model", dict),
        ("fingerprint", str),
        ("metadata", str),
        ("state_dict", dict),
    ):
        if key not in payload:
            raise _fail(name, f"entry {key!r} is missing")
        if not isinstance(payload[key], kind):
            raise _fail(
                name, f"entry {key!r} must be a {kind.__name__}; got {type(payload[key]).__name__}"
            )
    if "checksum" in payload and not isinstance(payload["checksum"], str):
        raise _fail(name, "entry 'checksum' must be a str")
    comp = payload["compile"]
    checks = {
        "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
        "order": (
            lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            "a list of region names",
        ),
        "spectral_radius": (lambda v: v is None or _is_real(v), "a number or None"),
        "dtype": (lambda v: v in _DTYPES, f"one of {', '.join(_DTYPES)}"),
    }
    for key, (ok, what) in checks.items():
        if key not in comp:
            raise _fail(name, f"compile option {key!r} is missing")
        if not ok(comp[key]):
            raise _fail(name, f"compile option {key!r} must be {what}; got {comp[key]!r}")
    for key, value in payload["model"].items():
        if key == "dtype":
            if value not in _DTYPES:
                raise _fail(
                    name, f"model option 'dtype' must be one of {', '.join(_DTYPES)}; got {value!r}"
                )
            continue
        if key not in _HPARAM_TYPES:
            raise _fail(name, f"unknown model option {key!r}")
        ok, what = _HPARAM_TYPES[key]
        if not ok(value):
            raise _fail(name, f"model option {key!r} must be {what}; got {value!r}")
    if "dtype" not in payload["model"]:
        raise _fail(name, "model option 'dtype' is missing")
    for key, value in payload["state_dict"].items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise _fail(
                name,
                f"state_dict entry {key!r} must be a tensor under a str key; "
                f"got {type(value).__name__}",
            )


def checksum(payload: dict) -> str:
    """Digest of a checkpoint payload (every entry but ``checksum``, every tensor's bits).

    :func:`save_model` stores it and :func:`load_model` checks it, so a file changed by
    accident (a flipped bit, a bad copy) is refused. It is no defence against a
    deliberate edit (anyone can recompute it): that is what comparing the structural
    tensors with the circuit is for.
    """
    h = hashlib.blake2b(digest_size=16)
    head = {
        k: payload[k]
        for k in ("format", "version", "graph", "compile", "model", "fingerprint", "metadata")
    }
    h.update(json.dumps(head, sort_keys=True).encode())
    for key in sorted(payload["state_dict"]):
        t = payload["state_dict"][key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _guarded(name: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(...)``, with anything but a ValueError (GraphError included) turned into one
    naming the file: a stored graph or option is data, never a reason for a TypeError."""
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        if isinstance(err, GraphError):
            raise
        raise _fail(name, f"{what}: {err}") from None
    except (TypeError, KeyError, AttributeError, IndexError, RecursionError, OverflowError) as err:
        raise _fail(name, f"{what}: {type(err).__name__}: {err}") from None


def _verify_state(model: MultiRegionRNN, state: dict[str, torch.Tensor], name: str) -> None:
    """Refuse a state dict that does not fit ``model`` (built from the circuit): keys,
    shapes, dtypes; non-finite parameters; any buffer not bit-identical to the circuit's."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"unexpected {', '.join(map(repr, extra))}"] if extra else []
        )
        raise _fail(name, f"the stored weights do not fit the model: {'; '.join(parts)}")
    params = {k for k, _ in model.named_parameters()}
    learned = params | set(model.LEARNED_BUFFERS)  # trained or fitted: finite, not fixed
    for key, ref in expected.items():
        t = state[key]
        if t.shape != ref.shape or t.dtype != ref.dtype:
            raise _fail(
                name,
                f"tensor {key!r} has shape {tuple(t.shape)} and dtype "
                f"{str(t.dtype).removeprefix('torch.')}; the model needs "
                f"{tuple(ref.shape)} {str(ref.dtype).removeprefix('torch.')}",
            )
        if key in learned:
            bad = int((~t.isfinite()).sum())
            if bad:
                raise _fail(
                    name,
                    f"{'parameter' if key in params else 'tensor'} {key!r} "
                    f"has {bad} non-finite entries (NaN or inf)",
                )
        elif not same_bits(t, ref.detach().cpu()):
            n = int((t != ref.detach().cpu()).sum()) if t.numel() else 0
            raise _fail(
                name,
                f"tensor {key!r} differs from what the circuit gives "
                f"({n or 'some'} of {t.numel()} entries): masks, signs, frozen "
                "weights, alpha (of units whose tau is not learned), the bounds of "
                "learned time constants and fixed biases come from the circuit, and "
                "a checkpoint must hold them unchanged",
            )


def load_checkpoint(
    path: str | os.PathLike, *, device: torch.device | str | None = None, sparse: bool | None = None
) -> Checkpoint:
    """Rebuild the model saved by :func:`save_model`, with its graph and metadata.

    The file is read with ``torch.load(..., weights_only=True)``: it cannot run code.
    Nothing structural is taken on trust: the circuit is compiled again from the
    stored graph and seed (and must match the stored fingerprint), the model is
    built from it, and every stored mask, sign, frozen weight, ``alpha`` (of the
    units whose time constants are not learned), bound of a learned time constant
    and fixed bias must equal the rebuilt one bit for bit. Trained parameters and
    ``x0`` (learned by :func:`mrnngraph.fit`) must be finite; trained time
    constants (``learn_tau`` regions) are stored as raw values that any finite
    number maps into their bounds (see :mod:`mrnngraph._tau`), so a loaded ``tau``
    is always finite and within them. A stored checksum (in files written since it
    was added) must match.

    A file saved from an :class:`~mrnngraph.Ensemble` gives the ensemble back, each
    member rebuilt and verified as above (errors name ``(member k)``), then stacked
    with :meth:`~mrnngraph.Ensemble.from_models`.

    Parameters
    ----------
    path : path
    device : optional
        Where to put the model (default: CPU).
    sparse : bool, optional
        Build the block-sparse (True) or dense (False) model, whichever the file was
        saved from; default: as saved.

    Raises
    ------
    ValueError
        Naming the file and what is wrong: not an mrnngraph checkpoint (or not
        readable: truncated, corrupt, holding pickled objects), an unknown version, a
        missing or mistyped entry, a graph that no longer compiles to the circuit it
        was saved with, a checksum mismatch, a tensor of the wrong shape or dtype, a
        structural tensor that differs from the circuit's, a non-finite parameter.
    GraphError
        If the stored graph is invalid.
    OSError
        If the file cannot be opened.
    """
    if sparse is not None and not isinstance(sparse, bool):
        raise TypeError(f"sparse must be a bool or None; got {type(sparse).__name__}")
    path = Path(path)
    name = os.fspath(path)
    payload = _read_payload(path)
    _check_payload(payload, name)
    if "members" in payload:
        from ._ensemble_checkpoint import ensemble_checksum as digest
    else:
        digest = checksum
    if "checksum" in payload and _guarded(name, "checksum", digest, payload) != payload["checksum"]:
        raise _fail(
            name,
            "the file's contents do not match its checksum: it was changed "
            "after it was written (a corrupt copy?)",
        )
    if "members" in payload:
        from ._ensemble_checkpoint import load_ensemble

        result, graph = load_ensemble(payload, name, sparse, device)
    else:
        result, graph = _load_one(payload, name, sparse, device)
    metadata = _guarded(
        name, "the stored metadata is not valid JSON", json.loads, payload["metadata"]
    )
    if not isinstance(metadata, dict):
        raise _fail(name, "the stored metadata must be a JSON object")
    return Checkpoint(result, graph, metadata)


def _load_one(
    payload: dict, name: str, sparse: bool | None, device: Any
) -> tuple[MultiRegionRNN, nx.DiGraph]:
    """The model (and graph) of one model's checked payload, verified against its circuit."""
    from .io import graph_from_dict

    data = _guarded(name, "the stored graph is not valid JSON", json.loads, payload["graph"])
    if not isinstance(data, dict):
        raise _fail(name, "the stored graph must be a JSON object")
    G = _guarded(name, "the stored graph", graph_from_dict, data, source=name)
    circuit = _guarded(name, "compiling the stored graph", _compile_quiet, G, payload["compile"])
    if circuit_fingerprint(circuit) != payload["fingerprint"]:
        raise _fail(
            name,
            "the stored graph no longer compiles to the circuit it was saved "
            "with (was it written by a different version of mrnngraph's compiler, "
            "or edited?)",
        )
    hp = _HPARAMS_BEFORE | dict(payload["model"])
    dtype = getattr(torch, hp.pop("dtype"))
    model = _guarded(name, "the stored model options", MultiRegionRNN, circuit, dtype=dtype, **hp)
    state = payload["state_dict"]
    _verify_state(model, state, name)
    model.load_state_dict(state)
    if sparse is not None and sparse != model.sparse:
        other = MultiRegionRNN(circuit, dtype=dtype, **(hp | {"sparse": sparse}))
        other.load_state_dict(model.state_dict())
        model = other
    if device is not None:
        model.to(device)
    return model, G


def load_model(
    path: str | os.PathLike, *, device: torch.device | str | None = None, sparse: bool | None = None
) -> MultiRegionRNN | Any:
    """Rebuild the model saved by :func:`save_model` (see :func:`load_checkpoint`).

    Parameters
    ----------
    path : path
    device : optional
        Where to put the model (default: CPU).
    sparse : bool, optional
        Load into the block-sparse (True) or dense (False) path; default: as saved.

    Returns
    -------
    MultiRegionRNN or Ensemble
        Same circuit, hyper-parameters and weights: the same outputs on the same input
        (an :class:`~mrnngraph.Ensemble` when the file was saved from one).

    Raises
    ------
    ValueError
        If the file is not a valid, unaltered mrnngraph checkpoint (see
        :func:`load_checkpoint`).
    """
    return load_checkpoint(path, device=device, sparse=sparse).model
