"""What MultiRegionRNN is measured against: each baseline is built for the same circuit
size and returns ``(forward, loss)`` callables on fixed inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "Case",
    "mrnngraph_case",
    "bare_loop_case",
    "torch_rnn_case",
    "nn4n_case",
    "nn4n_available",
]


class Case:
    """A model under test: ``forward()`` runs one trial, ``loss()`` one trial with a loss
    to back-propagate, ``zero_grad()`` clears gradients, ``params`` for memory counts."""

    def __init__(
        self,
        forward: Callable[[], Any],
        loss: Callable[[], torch.Tensor],
        params: list[torch.Tensor],
        note: str = "",
    ):
        self.forward = forward
        self.loss = loss
        self.params = params
        self.note = note

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def mrnngraph_case(model: nn.Module, u: torch.Tensor) -> Case:
    """The model itself (``u`` batch-first ``(B, T, I)``)."""

    def loss() -> torch.Tensor:
        return model(u).outputs.square().mean()

    return Case(lambda: model(u), loss, list(model.parameters()))


def bare_loop_case(model: nn.Module, u: torch.Tensor, *, unbind: bool = True) -> Case:
    """A bare eager loop with the same matmuls and precomputed effective weights.

    The floor for eager execution: the effective (masked, signed) weights are
    computed once before timing and are plain leaf tensors, so the timed work is
    the input projection, ``T`` recurrent matmuls with their elementwise update, the
    readout, and autograd's per-step backward. The activation is relu.

    ``unbind=False`` indexes the drive as ``drive[t]``, as such loops are usually
    written: autograd then back-propagates each step into a zero tensor of the
    whole sequence, which costs ``O(T^2)`` memory traffic. ``unbind=True`` (the
    floor) iterates over ``drive.unbind(0)``, whose backward is one stack.
    """
    with torch.no_grad():
        W = model.weight_hh.detach().clone().requires_grad_(True)
        Wi = model.weight_ih.detach().clone().requires_grad_(True)
        Wo = model.weight_ho.detach().clone().requires_grad_(True)
        b = model.bias.detach().clone()
        alpha = model.alpha.detach().clone()
        x0 = model.x0.detach().clone()
    ut = u.transpose(0, 1)  # time first

    def forward() -> torch.Tensor:
        drive = ut @ Wi.t() + b
        steps = drive.unbind(0) if unbind else (drive[t] for t in range(drive.shape[0]))
        x = x0.expand(ut.shape[1], -1)
        h = torch.relu(x)
        rates = []
        for d in steps:
            x = x + alpha * (-x + h @ W.t() + d)
            h = torch.relu(x)
            rates.append(h)
        return torch.stack(rates) @ Wo.t()

    return Case(forward, lambda: forward().square().mean(), [W, Wi, Wo])


def torch_rnn_case(hidden: int, n_in: int, n_out: int, u: torch.Tensor) -> Case:
    """``torch.nn.RNN`` (relu, unconstrained, fused kernels) and a linear readout."""
    rnn = nn.RNN(n_in, hidden, nonlinearity="relu", batch_first=True).to(u.device)
    readout = nn.Linear(hidden, n_out).to(u.device)

    def forward() -> torch.Tensor:
        return readout(rnn(u)[0])

    return Case(
        forward, lambda: forward().square().mean(), [*rnn.parameters(), *readout.parameters()]
    )


def nn4n_available() -> tuple[bool, str]:
    try:
        import nn4n  # noqa: F401
        from nn4n.mask import MultiAreaEI  # noqa: F401
        from nn4n.model import CTRNN  # noqa: F401
    except Exception as err:  # any import failure means: skip the row
        return False, f"nn4n not importable ({type(err).__name__}: {err})"
    return True, ""


def nn4n_case(
    hidden: int,
    n_regions: int,
    conn: np.ndarray,
    n_in: int,
    n_out: int,
    u: torch.Tensor,
    *,
    seed: int = 0,
) -> Case:
    """nn4n's ``CTRNN`` with ``MultiAreaEI`` masks: same areas, pair densities, 80 % E."""
    from nn4n.mask import MultiAreaEI
    from nn4n.model import CTRNN

    np.random.seed(seed)  # nn4n draws its masks from numpy's global generator
    torch.manual_seed(seed)
    dims = [n_in, hidden, n_out]
    masks = MultiAreaEI(
        dims=dims, n_areas=n_regions, area_connectivities=conn, exc_pct=0.8
    ).get_masks()
    model = CTRNN(
        dims=dims,
        activation="relu",
        dt=10,
        tau=100,
        weights="normal",
        sparsity_masks=[np.abs(m) for m in masks],
        ei_masks=masks,
        suppress_warnings=True,
    )
    model.to(u.device)
    ut = u.transpose(0, 1).contiguous()  # nn4n is time first

    def forward() -> torch.Tensor:
        return model(ut)[0]

    return Case(forward, lambda: forward().square().mean(), list(model.parameters()))
