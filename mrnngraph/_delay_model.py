"""A model's conduction delays: each edge's ``delay`` (ms) in steps of the model's ``dt``,
and the delayed input drive and readout. The recurrent part runs in the scan
(:mod:`mrnngraph._delays`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import schema
from ._delays import DelayPlan

__all__ = ["ModelDelays", "edge_steps", "initial_rates", "shift"]


def edge_steps(circuit, dt: float) -> dict[tuple[str, str], int]:
    """Every declared edge's delay in steps of ``dt`` (0 where it has none).

    Raises
    ------
    ValueError
        Naming the edge, for a delay that is not a whole number of steps (or is
        negative or not finite).
    """
    out = {}
    for (src, dst), block in circuit.blocks.items():
        delay = float(getattr(block, "delay", 0.0) or 0.0)
        if not (math.isfinite(delay) and delay >= 0):
            raise ValueError(f"edge ({src!r}, {dst!r}): delay must be >= 0 ms; got {delay!r}")
        steps = delay / dt
        k = round(steps)
        if abs(steps - k) > 1e-9 * max(1.0, steps):
            raise ValueError(
                f"edge ({src!r}, {dst!r}): delay {delay:g} ms is not a whole number of "
                f"steps of dt = {dt:g} ms ({steps:.6g} steps); use a multiple of {dt:g} ms "
                "or another dt"
            )
        out[(src, dst)] = int(k)
    return out


def _rect(lay, src: str, dst: str) -> tuple[int, int, int, int]:
    r, c = lay.slice(dst), lay.slice(src)
    return r.start, r.stop, c.start, c.stop


def _steps_matrix(circuit, steps, family: str, shape: tuple[int, int]) -> torch.Tensor:
    lay = circuit.layout
    D = torch.zeros(shape, dtype=torch.long)
    for (src, dst), block in circuit.blocks.items():
        if block.family == family and steps[(src, dst)]:
            D[lay.slice(dst), lay.slice(src)] = steps[(src, dst)]
    return D


@dataclass(frozen=True, eq=False)
class ModelDelays:
    """The delays of one model, in steps: built once from its circuit and ``dt``.

    ``hh`` is the recurrent plan (None if no recurrent edge has a delay); ``ih`` and
    ``ho`` the per-entry steps of the input and readout weights (None without delays).
    """

    steps: dict[tuple[str, str], int]
    hh: DelayPlan | None
    ih: torch.Tensor | None
    ho: torch.Tensor | None

    @classmethod
    def build(cls, circuit, dt: float) -> ModelDelays | None:
        """None when every edge has delay 0 (the model then runs exactly as without)."""
        steps = edge_steps(circuit, dt)
        if not any(steps.values()):
            return None
        lay = circuit.layout
        H, I, O = lay.hidden_size, lay.input_size, lay.output_size
        D_hh = _steps_matrix(circuit, steps, "hh", (H, H))
        live = [
            (*_rect(lay, src, dst), steps[(src, dst)])
            for (src, dst), b in circuit.blocks.items()
            if b.family == "hh" and not b.zero and bool(b.mask.any())
        ]
        D_ih = _steps_matrix(circuit, steps, "ih", (H, I))
        D_ho = _steps_matrix(circuit, steps, "ho", (O, H))
        return cls(
            steps=steps,
            hh=DelayPlan(D_hh, live) if bool(D_hh.any()) else None,
            ih=D_ih if bool(D_ih.any()) else None,
            ho=D_ho if bool(D_ho.any()) else None,
        )

    def drive(self, u: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``bias + sum_k W_ih^(k) u[t - k]`` for inputs ``u (T, B, I)`` (0 before the trial),
        as one GEMM: the shifted inputs side by side against the weights of each delay."""
        T, B, _ = u.shape
        if self.ih is None:
            return torch.addmm(bias, u.reshape(T * B, -1), w_ih.t().contiguous()).view(T, B, -1)
        zero = torch.zeros_like(u[0])
        ks, ws = _split(self.ih, w_ih)
        us = torch.cat([shift(u, k, zero) for k in ks], dim=-1)
        return torch.addmm(bias, us.reshape(T * B, -1), torch.cat(ws, 1).t()).view(T, B, -1)

    def readout(
        self,
        rates: torch.Tensor,
        x0: torch.Tensor,
        clamp,
        activation: str,
        w_ho: torch.Tensor,
        bias_ho: torch.Tensor | None,
    ) -> torch.Tensor:
        """``sum_k W_ho^(k) rates[t - k] (+ b_o)`` for rates ``(T, B, H)``, with
        ``f(x0)`` (clamped) before the trial: one GEMM of the rates against the weights
        of every delay, then the small outputs shifted."""
        if self.ho is None:
            out = torch.matmul(rates, w_ho.t())
        else:
            h0 = initial_rates(x0, activation, clamp)
            ks, ws = _split(self.ho, w_ho)
            # As linear(): the weight gradient is then the fast g^T @ rates GEMM.
            w = torch.cat(ws, 0)
            ys = torch.nn.functional.linear(rates, w).split(w_ho.shape[0], dim=-1)
            y0 = torch.nn.functional.linear(h0, w).split(w_ho.shape[0], dim=-1)
            out = sum(shift(y, k, f) for k, y, f in zip(ks, ys, y0, strict=True))
        return out if bias_ho is None else out + bias_ho


def _split(D: torch.Tensor, w: torch.Tensor) -> tuple[list[int], list[torch.Tensor]]:
    """The delays in ``D [n, m]`` and, per delay, ``w [n, m]`` where ``D`` has it (0 elsewhere)."""
    D = D.to(w.device)
    ks = torch.unique(D).tolist()
    zero = torch.zeros((), dtype=w.dtype, device=w.device)
    return ks, [torch.where(D == k, w, zero) for k in ks]


def shift(x: torch.Tensor, k: int, fill: torch.Tensor) -> torch.Tensor:
    """``x (T, B, n)`` delayed by ``k`` steps along time, ``fill (B, n)`` before the start."""
    if k == 0:
        return x
    T = x.shape[0]
    head = fill.to(x).expand(min(k, T), *x.shape[1:])
    return torch.cat([head, x[: max(T - k, 0)]], dim=0)


def initial_rates(x0, activation: str, clamp) -> torch.Tensor:
    """``f(x0)``, clamped where clamped: the rates before the trial."""
    h0 = schema.activation(activation).function(x0)
    if clamp is not None:
        mask, value = clamp
        h0 = torch.where(mask.to(h0.device), value.to(h0), h0)
    return h0
