"""The time loop of the leaky RNN, kept in one place as a pure function.

``leaky_scan(weight, drive, x0, alpha, activation)`` integrates

    x[t+1] = (1 - alpha) * x[t] + alpha * (W @ f(x[t]) + drive[t])

for ``t = 0 .. T-1`` and returns the stacked states ``x[1..T]`` (time first).
``drive`` already holds the input projection, the bias and any noise for every
step, so the loop does one matmul per step and nothing else that can be hoisted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATION_FUNCTIONS", "leaky_scan"]


def _retanh(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x).clamp(min=0)


ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "retanh": _retanh,
    "linear": lambda x: x,
}


def _clamped(f: Callable[[torch.Tensor], torch.Tensor], mask: torch.Tensor,
             value: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.where(mask, value, f(x))


def leaky_scan(weight: torch.Tensor, drive: torch.Tensor, x0: torch.Tensor,
               alpha: torch.Tensor, activation: str,
               clamp: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Run the leaky recurrence; returns states ``(T, B, H)``.

    Parameters
    ----------
    weight : Tensor, shape (H, H)
        Effective recurrent weights, ``[destination, source]``.
    drive : Tensor, shape (T, B, H)
        Everything but the recurrent term, per step (input current, bias, noise).
    x0 : Tensor, shape (B, H)
        Initial pre-activation state.
    alpha : Tensor, shape (H,)
        ``dt / tau`` per unit (1 gives a discrete-time, Elman-style network).
    activation : str
        A key of :data:`ACTIVATION_FUNCTIONS`.
    clamp : (Tensor, Tensor), optional
        ``(mask [H] bool, value [H])``: the rates of the masked units are held at
        ``value`` at every step (silencing is a clamp at 0). Used by
        :func:`mrnngraph.perturb`.
    """
    f = ACTIVATION_FUNCTIONS[activation]
    if clamp is not None:
        f = _clamped(f, *clamp)
    # alpha folded into the weight and the drive once, outside the loop.
    w_alpha = weight.t() * alpha
    drive_alpha = drive * alpha
    decay = 1.0 - alpha
    x = x0
    h = f(x0)
    states = []
    for t in range(drive.shape[0]):
        x = torch.addmm(drive_alpha[t], h, w_alpha).add_(x * decay)
        h = f(x)
        states.append(x)
    if not states:
        return drive.new_zeros((0, *x0.shape))
    return torch.stack(states)
