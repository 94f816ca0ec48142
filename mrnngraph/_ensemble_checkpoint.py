"""Checkpoints of an :class:`~mrnngraph.Ensemble` (see :func:`mrnngraph.save_model`): one
payload per member, each what ``save_model(ens[k])`` would store and verified the same
way on loading, in one file with the ensemble's metadata and a checksum over them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import networkx as nx

from .checkpoint import FORMAT, VERSION, _check_payload, _fail, _load_one, _payload, checksum
from .model import same_bits

__all__ = ["ensemble_payload", "load_ensemble", "check_ensemble_payload", "ensemble_checksum"]


def ensemble_payload(
    model: Any, graph: Any, spectral_radius: float | None, meta_text: str
) -> dict[str, Any]:
    """The payload of an ensemble checkpoint."""
    refuse_edited_ensemble(model)
    graphs = _member_graphs(graph, model.n_members)
    members = []
    for k in range(model.n_members):
        try:
            members.append(_payload(model[k], graphs[k], spectral_radius, "{}"))
        except ValueError as err:
            raise ValueError(f"member {k}: {err}") from None
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "members": members,
        # The ensemble's own sparse option (what ens[k] builds); members store theirs.
        "sparse": model.options()["sparse"],
        "metadata": meta_text,
    }
    payload["checksum"] = ensemble_checksum(payload)
    return payload


def load_ensemble(payload: dict, name: str, sparse: bool | None, device: Any) -> tuple[Any, list]:
    """The ensemble (and each member's graph) of a checked ensemble payload."""
    from .ensemble import Ensemble

    models, graphs = [], []
    for k, member in enumerate(payload["members"]):
        model, G = _load_one(member, f"{name} (member {k})", sparse, None)
        models.append(model)
        graphs.append(G)
    try:
        result: Any = Ensemble.from_models(models)
    except ValueError as err:
        raise _fail(name, f"the members do not form an ensemble: {err}") from None
    if sparse is None:
        result._sparse_option = payload.get("sparse")
    if device is not None:
        result.to(device)
    return result, graphs


def check_ensemble_payload(payload: dict, name: str) -> None:
    """Every entry of an ensemble payload present with its type (each member's too)."""
    members = payload["members"]
    if not isinstance(members, list) or not members:
        raise _fail(name, "entry 'members' must be a non-empty list of member payloads")
    if not isinstance(payload.get("metadata"), str):
        raise _fail(name, "entry 'metadata' must be a str")
    if "checksum" not in payload or not isinstance(payload["checksum"], str):
        raise _fail(name, "entry 'checksum' must be a str")
    if payload.get("sparse") not in (None, True, False):
        raise _fail(name, f"entry 'sparse' must be a bool or None; got {payload['sparse']!r}")
    for k, member in enumerate(members):
        _check_payload(member, f"{name} (member {k})")


def refuse_edited_ensemble(ens: Any) -> None:
    """An ensemble's stacked buffers (masks, signs, frozen values, ...) must be what its
    circuits give: each member is saved from its circuit."""
    from .ensemble import Ensemble

    factory = {"device": ens.alpha.device, "dtype": ens.alpha.dtype}
    ref = dict(Ensemble(ens.circuits, **ens.options(), **factory).named_buffers())
    for key, t in ens.named_buffers():
        if key != "x0" and not same_bits(t, ref[key]):
            raise ValueError(
                f"the ensemble's buffer {key!r} differs from what its circuits give (edited "
                "by hand?); a checkpoint stores the circuits' structure unchanged"
            )


def _member_graphs(graph: Any, n: int) -> list[Any]:
    """``save_model(ensemble, graph=...)``: one graph for every member, or one per member."""
    if graph is None or isinstance(graph, nx.DiGraph):
        return [graph] * n
    if not isinstance(graph, list | tuple) or len(graph) != n:
        raise TypeError(
            f"graph must be a networkx.DiGraph or a list of {n} (one per ensemble member); "
            f"got {type(graph).__name__}"
        )
    return list(graph)


def ensemble_checksum(payload: dict) -> str:
    """Digest of an ensemble payload: its head and every member's :func:`checksum`."""
    h = hashlib.blake2b(digest_size=16)
    head = [payload["format"], payload["version"], payload["metadata"], payload.get("sparse")]
    h.update(json.dumps(head).encode())
    for member in payload["members"]:
        h.update(checksum(member).encode())
    return h.hexdigest()
