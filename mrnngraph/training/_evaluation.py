"""Running a model on a task without gradients (:func:`predict`, :func:`evaluate`) and
checking its constraints (:func:`constraint_violations`), with the forward helpers
training shares."""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from .._constrained import signed_columns
from .._params import SEED, STEPS, InstanceOf, Optional, validate_params
from ..tasks import Batch, Task

__all__ = ["predict", "evaluate", "constraint_violations"]

#: The model argument of training and evaluation.
MODULE = InstanceOf((nn.Module,), "a torch.nn.Module")


def _outputs(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    return out.outputs if hasattr(out, "outputs") else out[0]


def _region_rates(model: nn.Module, rates: Any) -> dict[str, Any]:
    """Each recurrent region's mean rate over everything but the units (and, for an
    ensemble's ``(N, B, T, H)`` rates, per member: a list of ``N`` floats)."""
    layout = getattr(model, "layout", None)
    if not isinstance(rates, torch.Tensor) or layout is None or not rates.numel():
        return {}
    with torch.no_grad():
        r = rates.detach()
        per_unit = r.flatten(1, -2).mean(1) if r.dim() == 4 else r.flatten(0, -2).mean(0)
        out: dict[str, Any] = {}
        for name in getattr(layout, "regions", ()):
            sl = layout.slice(name)
            if sl.stop > sl.start:
                v = per_unit[..., sl].mean(-1)
                out[name] = v.tolist() if v.dim() else float(v)
    return out


def _forward(
    module: nn.Module, bare: nn.Module, inputs: torch.Tensor, generator: torch.Generator | None
) -> Any:
    """Batch-first forward whatever the model's layout; returns the model's output."""
    batch_first = getattr(bare, "batch_first", True)
    x = inputs if batch_first else inputs.transpose(0, 1)
    kwargs = {"generator": generator} if generator is not None else {}
    out = module(x, **kwargs)
    if isinstance(out, torch.Tensor):
        return _Out(out if batch_first else out.transpose(0, 1), None)
    if batch_first:
        return out
    return type(out)(*(t.transpose(0, 1) for t in out))


class _Out:
    def __init__(self, outputs: torch.Tensor, rates: torch.Tensor | None):
        self.outputs, self.rates = outputs, rates


def _seed_of(seed: int, *key: Any) -> int:
    digest = hashlib.blake2b("\x00".join(map(str, (seed, *key))).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@validate_params(
    {
        "model": MODULE,
        "batch": InstanceOf((Batch,), "a mrnngraph.tasks.Batch"),
        "chunk_size": STEPS,
        "generator": Optional(InstanceOf((torch.Generator,), "a torch.Generator")),
    }
)
def predict(
    model: nn.Module,
    batch: Batch,
    *,
    chunk_size: int = 512,
    generator: torch.Generator | None = None,
) -> Any:
    """Run ``model`` batch-first on ``batch`` without gradients, ``chunk_size`` trials at a
    time (bounding the memory the states and rates take); returns the model's output
    (e.g. an :class:`~mrnngraph.RNNOutput`) for the whole batch."""
    parts = []
    with torch.no_grad():
        for start in range(0, batch.batch_size, chunk_size):
            parts.append(
                _forward(model, model, batch.inputs[start : start + chunk_size], generator)
            )
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], _Out):
        return _Out(torch.cat([p.outputs for p in parts]), None)
    return type(parts[0])(*(torch.cat(ts) for ts in zip(*parts, strict=True)))


@validate_params(
    {
        "model": MODULE,
        "task": InstanceOf((Task,), "a mrnngraph.tasks.Task"),
        "batch_size": STEPS,
        "seed": SEED,
    }
)
def evaluate(
    model: nn.Module,
    task: Task,
    *,
    batch_size: int = 1000,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """``task.metrics`` of the model on a fresh batch drawn with ``seed``, without gradients.

    For an :class:`~mrnngraph.Ensemble`, every member on the same batch: each scalar
    metric is the members' mean (``n_trials`` as is), and ``"members"`` is the list of
    each member's own ``task.metrics`` (member ``k`` at index ``k``).

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import two_area_ei
    >>> from mrnngraph.tasks import PerceptualDecisionMaking
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> m = evaluate(model, PerceptualDecisionMaking(), batch_size=50)
    >>> 0.0 <= m["accuracy"] <= 1.0, m["n_trials"]
    (True, 50)
    """
    from ..ensemble import Ensemble

    if isinstance(model, Ensemble):
        from ._ensemble_loop import _evaluate_ensemble

        return _evaluate_ensemble(model, task, batch_size, seed, device)
    device = torch.device(device) if device is not None else _model_device(model)
    batch = task.batch(batch_size, seed=seed, device=device)
    g = None
    if getattr(model, "noise_std", 0) or getattr(model, "input_noise_std", 0):
        g = torch.Generator(device=device).manual_seed(_seed_of(seed, "noise"))
    with torch.no_grad():
        return task.metrics(_outputs(predict(model, batch, generator=g)), batch)


def constraint_violations(model: nn.Module) -> dict[str, int]:
    """Count the entries of a :class:`~mrnngraph.MultiRegionRNN`'s effective weights that
    break its circuit's constraints (all zero by construction).

    Returns
    -------
    dict
        ``dale``: entries of an excitatory (inhibitory) source column below (above)
        zero, over the recurrent and input matrices; ``mask``: non-zero entries
        outside the mask; ``frozen``: entries of frozen projections that differ from
        the circuit's initial weights. Masks and signs are the *circuit's*, not the
        model's buffers, so weights that follow edited (tampered) buffers still count.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets import cbgt_loop
    >>> constraint_violations(mg.MultiRegionRNN.from_graph(cbgt_loop(), seed=0))
    {'dale': 0, 'mask': 0, 'frozen': 0}
    """
    circuit = getattr(model, "circuit", None)
    if circuit is None:  # duck-typed: anything with a circuit and effective weights
        raise TypeError(
            f"model must be a mrnngraph.MultiRegionRNN (with a circuit); got {type(model).__name__}"
        )
    out = {"dale": 0, "mask": 0, "frozen": 0}
    # readout_sign: Dale's law holds for the readout too, and its frozen entries are the
    # circuit's draw with their units' signs (models of earlier versions: unsigned).
    readout_sign = circuit.sign_h if getattr(model, "readout_sign", False) else None
    with torch.no_grad():
        for fam, sign in (("hh", circuit.sign_h), ("ih", circuit.sign_i), ("ho", readout_sign)):
            w = getattr(model, f"weight_{fam}").detach()
            mask = getattr(circuit, f"mask_{fam}").to(w.device).bool()
            out["mask"] += int(((w != 0) & ~mask).sum())
            if sign is not None:
                s = sign.to(w.dtype)[None, :].expand_as(w)
                out["dale"] += int(((s > 0) & (w < 0)).sum() + ((s < 0) & (w > 0)).sum())
            frozen = ~getattr(circuit, f"trainable_{fam}").to(w.device)
            ref = getattr(circuit, f"weight_{fam}").to(w)
            if fam == "ho" and readout_sign is not None:
                ref = signed_columns(ref, readout_sign)
            out["frozen"] += int(((w != ref) & frozen).sum())
    return out
