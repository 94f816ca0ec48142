"""Shared pieces of the analysis tools: the one-step update map and layout helpers.

Everything here reads the model's *effective* weights (masks, Dale's law, frozen
entries and any :func:`mrnngraph.perturb` cut applied) and never writes to the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn.utils import parametrize

from .._scan import ACTIVATION_FUNCTIONS

__all__ = [
    "effective",
    "activation",
    "update",
    "time_first",
    "region_names",
    "as_state_batch",
    "as_input_batch",
]


def effective(
    model, *, dtype: torch.dtype | None = None, detach: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(W_hh [H,H], W_ih [H,I], bias [H], alpha [H])`` as tensors of ``dtype``.

    ``detach=True`` reads them without recording a graph, so no gradient ever
    reaches the model's parameters from the analysis.
    """
    ctx = torch.no_grad() if detach else torch.enable_grad()
    with ctx, parametrize.cached():
        out = [model.weight_hh, model.weight_ih, model.bias, model.alpha]
        if detach:
            out = [t.detach() for t in out]
    if dtype is not None:
        out = [t.to(dtype) for t in out]
    return out[0], out[1], out[2], out[3]


def activation(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's rate function, with the clamps of an active :func:`mrnngraph.perturb`."""
    f = ACTIVATION_FUNCTIONS[model.activation]
    p = getattr(model, "perturbation", None)
    if p is None or p.clamp is None:
        return f
    mask, value = p.clamp

    def clamped(x: torch.Tensor) -> torch.Tensor:
        return torch.where(mask.to(x.device), value.to(x), f(x))

    return clamped


def update(
    x: torch.Tensor,
    u: torch.Tensor,
    w_hh: torch.Tensor,
    w_ih: torch.Tensor,
    bias: torch.Tensor,
    alpha: torch.Tensor,
    f: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``F(x) = x + alpha * (-x + W_hh f(x) + W_ih u + b)`` for a batch ``x (N, H)``."""
    drive = f(x) @ w_hh.T + u @ w_ih.T + bias
    return x + alpha * (drive - x)


def time_first(
    model, t: torch.Tensor, width: int, name: str
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``t`` in the model's layout -> ``(T, B, width)``, and the function that maps back."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    if t.dim() not in (2, 3) or t.shape[-1] != width:
        lay = "(B, T, {w})" if model.batch_first else "(T, B, {w})"
        raise ValueError(
            f"{name} must have shape {lay.format(w=width)} or (T, {width}); got {tuple(t.shape)}"
        )
    if t.dim() == 2:
        return t.unsqueeze(1), (lambda y: y.squeeze(1))
    if model.batch_first:
        return t.transpose(0, 1), (lambda y: y.transpose(0, 1))
    return t, (lambda y: y)


def region_names(model, names: Sequence[str] | str | None) -> list[str]:
    """Recurrent regions named (groups expanded, order kept); all of them for ``None``."""
    lay = model.layout
    if names is None:
        return list(lay.regions)
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for n in lay.expand(*names):
        if lay.space(n) != "h":
            raise ValueError(
                f"{n!r} is not a recurrent region; recurrent regions: "
                f"{', '.join(repr(r) for r in lay.regions)}"
            )
        if n not in out:
            out.append(n)
    return out


def as_state_batch(model, x: torch.Tensor, name: str = "state") -> torch.Tensor:
    """``(H,)`` or ``(N, H)`` -> ``(N, H)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    H = model.hidden_size
    if x.dim() == 1 and x.shape[0] == H:
        return x.unsqueeze(0)
    if x.dim() == 2 and x.shape[1] == H:
        return x
    raise ValueError(f"{name} must have shape ({H},) or (N, {H}); got {tuple(x.shape)}")


def as_input_batch(
    model, u: torch.Tensor | float | None, n: int, like: torch.Tensor, name: str = "inputs"
) -> torch.Tensor:
    """``None`` (zeros), a number, ``(I,)`` or ``(N, I)`` -> ``(N, I)`` like ``like``."""
    I = model.input_size
    if u is None:
        return like.new_zeros(n, I)
    if isinstance(u, (int, float)) and not isinstance(u, bool):
        return like.new_full((n, I), float(u))
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, a number or None; got {type(u).__name__}")
    u = u.to(like)
    if u.dim() == 1 and u.shape[0] == I:
        return u.expand(n, I)
    if u.dim() == 2 and u.shape == (n, I):
        return u
    if u.dim() == 2 and u.shape == (1, I):
        return u.expand(n, I)
    raise ValueError(f"{name} must have shape ({I},) or ({n}, {I}); got {tuple(u.shape)}")
