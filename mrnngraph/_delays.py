"""Conduction delays in the time loop: the recurrent term reads rates from earlier steps.

With a delay of ``D[i, j]`` steps on the synapse from unit ``j`` to unit ``i``,

    x[t+1] = lerp(x[t], drive[t] + sum_j W[i, j] h[t - D[i, j]]_j, alpha)

where ``h[s] = f(x0)`` (clamped where clamped) for every ``s <= 0``: before the trial the
sources sit at their initial rate. ``D`` comes from the edges' ``delay`` (ms) divided by
the model's ``dt``; a circuit declares it per projection, so ``D`` is constant on region
blocks, which is what makes the loops below cheap.

The loops never split the recurrent matmul by delay class (that would multiply the work
by the number of distinct delays). Instead, for the dense weight:

* forward, per *row group* (consecutive destination units whose delay rows are equal):
  the delayed source rates are copied, run by run of equal delay, into one ``(B, H)``
  buffer and multiplied by the group's rows of ``W`` (one matmul per group, a view of
  the history and no copy when the group has one delay for every source);
* adjoint, per *column group* (consecutive sources with equal delay columns): the step
  ``t`` collects ``W_d^T (alpha * lam[t + d])`` for every delay ``d`` the same way;
* weight gradient: one GEMM over all steps per block of equal delay (``delta[t]`` against
  the rates ``d`` steps earlier), plus one small product for the steps that read
  ``f(x0)``; never one per step.

Block-sparse execution groups its blocks by delay (:class:`DelayedBlocks`). The CUDA-graph
replay of :mod:`mrnngraph._graphs` is not used for delayed loops (they run eagerly).

Inputs and outputs: an input edge with a delay feeds the target the input from ``d``
steps earlier (zero before the trial); an output edge reads the rates ``d`` steps
earlier (``f(x0)`` before the trial). See :class:`ModelDelays`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import _buffers, schema
from ._blocks import BlockOperator, _gather, _scatter_add_
from ._scan import activation_derivative, alpha_grad

__all__ = [
    "DelayPlan",
    "DelayedBlocks",
    "DelayedDense",
    "ModelDelays",
    "delayed_scan",
    "edge_steps",
    "shift",
]

Run = tuple[int, int, int]  # (start, stop, delay steps)


def _runs(v: torch.Tensor) -> tuple[Run, ...]:
    """Maximal runs of equal values in a 1-D integer tensor: ``(start, stop, value)``."""
    n = v.numel()
    cut = (torch.nonzero(v[1:] != v[:-1]).reshape(-1) + 1).tolist()
    starts, stops = [0, *cut], [*cut, n]
    return tuple((a, b, int(v[a])) for a, b in zip(starts, stops, strict=True))


class DelayPlan:
    """Per-synapse delays in steps, ``D [H, H]`` (``[destination, source]``), cut into the
    row groups (forward) and column groups (adjoint) the loops work on.

    Examples
    --------
    >>> D = torch.tensor([[0, 0, 2], [0, 0, 2], [1, 1, 0]])
    >>> plan = DelayPlan(D)
    >>> plan.max_delay, plan.rows
    (2, ((0, 2, ((0, 2, 0), (2, 3, 2))), (2, 3, ((0, 2, 1), (2, 3, 0)))))
    """

    def __init__(self, steps: torch.Tensor):
        if steps.dim() != 2 or steps.shape[0] != steps.shape[1]:
            raise ValueError(f"delays must be an (H, H) tensor of steps; got {tuple(steps.shape)}")
        if steps.dtype.is_floating_point or steps.dtype == torch.bool or steps.is_complex():
            raise TypeError(f"delays must be an integer tensor of steps; got {steps.dtype}")
        D = steps.detach().to("cpu", torch.long)
        if D.numel() and int(D.min()) < 0:
            raise ValueError(f"delays must be >= 0 steps; got {int(D.min())}")
        self.steps = D
        self.hidden_size = D.shape[0]
        self.max_delay = int(D.max()) if D.numel() else 0
        self.rows = self._groups(D)
        self.cols = self._groups(D.t())

    @staticmethod
    def _groups(D: torch.Tensor) -> tuple[tuple[int, int, tuple[Run, ...]], ...]:
        n = D.shape[0]
        if n == 0:
            return ()
        cut = (torch.nonzero((D[1:] != D[:-1]).any(1)).reshape(-1) + 1).tolist()
        starts, stops = [0, *cut], [*cut, n]
        return tuple((a, b, _runs(D[a])) for a, b in zip(starts, stops, strict=True))

    @property
    def blocks(self) -> tuple[tuple[int, int, int, int, int], ...]:
        """``(r0, r1, c0, c1, delay)``: rectangles of equal delay covering ``[H, H]``."""
        return tuple((r0, r1, c0, c1, k) for r0, r1, runs in self.rows for c0, c1, k in runs)


def as_plan(delays: DelayPlan | torch.Tensor | None, H: int) -> DelayPlan | None:
    """``delays`` (a plan or an ``(H, H)`` tensor of steps) as a plan; None when every
    delay is 0 (the loops of :mod:`mrnngraph._scan` then run unchanged)."""
    if delays is None:
        return None
    plan = delays if isinstance(delays, DelayPlan) else DelayPlan(torch.as_tensor(delays))
    if plan.hidden_size != H:
        raise ValueError(f"delays must be ({H}, {H}) for {H} units; got {tuple(plan.steps.shape)}")
    return plan if plan.max_delay > 0 else None


# ---------------------------------------------------------------------------- operators
# The delayed operators take the rate history as a list ``hist`` with ``hist[i - k]`` the
# rates ``k`` steps before the current one, and the adjoints as a list ``lams`` with
# ``lams[i + k]`` the adjoint ``k`` steps later (zeros past the end). ``alpha`` is always
# the per-unit tensor here, folded into the backward's weights.
class DelayedDense:
    """A dense ``[H, H]`` recurrent matrix with per-synapse delays (``weights = (W,)``)."""

    uniform_alpha: float | None = None

    def __init__(self, plan: DelayPlan):
        self.plan = plan
        self.max_delay = plan.max_delay

    def forward_prep(self, weights, alpha, B: int) -> tuple:
        W = weights[0]
        bufs = [W.new_empty(B, W.shape[1]) if len(r) > 1 else None for _, _, r in self.plan.rows]
        return W, bufs

    def step_(self, prep, hist, i, d, x, alpha, out) -> None:
        W, bufs = prep
        for (r0, r1, runs), buf in zip(self.plan.rows, bufs, strict=True):
            if buf is None:
                src = hist[i - runs[0][2]]
            else:
                for c0, c1, k in runs:
                    buf[:, c0:c1].copy_(hist[i - k][:, c0:c1])
                src = buf
            torch.addmm(d[:, r0:r1], src, W[r0:r1].t(), out=out[:, r0:r1])
        torch.lerp(x, out, alpha, out=out)

    def recurrent(self, weights, hist, i) -> torch.Tensor:
        W = weights[0]
        parts = []
        for r0, r1, runs in self.plan.rows:
            src = torch.cat([hist[i - k][:, c0:c1] for c0, c1, k in runs], dim=1)
            parts.append(src @ W[r0:r1].t())
        return torch.cat(parts, dim=1)

    def backward_prep(self, weights, alpha, B: int) -> tuple:
        Wa = weights[0] * alpha[:, None]
        bufs = [Wa.new_empty(B, Wa.shape[0]) if len(r) > 1 else None for _, _, r in self.plan.cols]
        return Wa, bufs

    def rmatvec_(self, prep, lams, i, out) -> None:
        """``out = sum_k W_k^T (alpha * lam[t + k])``."""
        Wa, bufs = prep
        for (c0, c1, runs), buf in zip(self.plan.cols, bufs, strict=True):
            if buf is None:
                src = lams[i + runs[0][2]]
            else:
                for r0, r1, k in runs:
                    buf[:, r0:r1].copy_(lams[i + k][:, r0:r1])
                src = buf
            torch.mm(src, Wa[:, c0:c1], out=out[:, c0:c1])

    def weight_grads(self, weights, delta, h0, rates, needs) -> list[torch.Tensor | None]:
        if not needs[0]:
            return [None]
        grad = torch.empty_like(weights[0])
        heads = _heads(delta, self.max_delay)
        for r0, r1, c0, c1, k in self.plan.blocks:
            _block_grad(grad[r0:r1, c0:c1], delta, heads, h0, rates, r0, r1, c0, c1, k)
        return [grad]

    def rvec(self, weights, v) -> torch.Tensor:
        return v @ weights[0]


def _heads(delta: torch.Tensor, max_delay: int) -> torch.Tensor:
    """``heads[k] = sum_{t <= k} delta[t]``: the steps that read ``h0`` at delay ``k``."""
    return delta[: max_delay + 1].cumsum(0)


def _block_grad(out, delta, heads, h0, rates, r0, r1, c0, c1, k) -> None:
    """``out = sum_t delta[t][:, r0:r1]^T h[t - k][:, c0:c1]`` as two GEMMs: the steps
    ``t <= k`` read ``h0``; the others read ``rates[t - k - 1]``."""
    T, H = delta.shape[0], delta.shape[-1]
    head = heads[min(k, T - 1)]
    torch.mm(head[:, r0:r1].t(), h0[:, c0:c1], out=out)
    if T > k + 1:
        d2 = delta[k + 1 :].reshape(-1, H)[:, r0:r1]
        h2 = rates[: T - k - 1].reshape(-1, H)[:, c0:c1]
        out.addmm_(d2.t(), h2)


class DelayedBlocks(BlockOperator):
    """:class:`mrnngraph._blocks.BlockOperator` whose groups carry a delay (``g.delay``
    steps): each group gathers its sources from the rates that many steps back."""

    def __init__(self, groups, src_idx, dst_idx, hidden_size):
        super().__init__(groups, src_idx, dst_idx, hidden_size)
        self.max_delay = max((g.delay for g in groups), default=0)

    def forward_prep(self, weights, alpha, B: int) -> tuple:
        return BlockOperator.backward_prep(self, weights, alpha)

    def step_(self, prep, hist, i, d, x, alpha, out) -> None:
        n, B = len(self.groups), x.shape[0]
        torch.lerp(x, d, alpha, out=out)
        for g, s, di, w, a in zip(
            self.groups, self.src_idx, self.dst_idx, prep[:n], prep[n:], strict=True
        ):
            hs = _gather(hist[i - g.delay], g.cs, s).reshape(B, g.nb, g.ns).transpose(0, 1)
            y = torch.bmm(hs, w.transpose(1, 2)).mul_(a)
            _scatter_add_(out, g.cd, di, y)

    def recurrent(self, weights, hist, i) -> torch.Tensor:
        h = hist[i]
        B, H = h.shape
        out = h.new_zeros(h.shape)
        for g, s, di, w in zip(self.groups, self.src_idx, self.dst_idx, weights, strict=True):
            hs = _gather(hist[i - g.delay], g.cs, s).reshape(B, g.nb, g.ns).transpose(0, 1)
            y = torch.bmm(hs, w.transpose(1, 2))
            src = y.transpose(0, 1).reshape(B, -1, g.cd)
            out = out.view(B, H // g.cd, g.cd).index_add(1, di, src).view(B, H)
        return out

    def backward_prep(self, weights, alpha, B: int) -> tuple:
        return BlockOperator.backward_prep(self, weights, alpha)

    def rmatvec_(self, prep, lams, i, out) -> None:
        n, B = len(self.groups), out.shape[0]
        out.zero_()
        for g, s, di, w, a in zip(
            self.groups, self.src_idx, self.dst_idx, prep[:n], prep[n:], strict=True
        ):
            ls = _gather(lams[i + g.delay], g.cd, di).reshape(B, g.nb, g.nd).transpose(0, 1)
            _scatter_add_(out, g.cs, s, torch.bmm(ls * a, w))

    def weight_grads(self, weights, delta, h0, rates, needs) -> list[torch.Tensor | None]:
        if not any(needs):
            return [None] * len(weights)
        heads = _heads(delta, self.max_delay)
        out: list[torch.Tensor | None] = []
        for g, w, need in zip(self.groups, weights, needs, strict=True):
            if not need:
                out.append(None)
                continue
            grad = torch.empty_like(w)
            for k, (a, c) in enumerate(zip(g.dst_starts, g.src_starts, strict=True)):
                _block_grad(grad[k], delta, heads, h0, rates, a, a + g.nd, c, c + g.ns, g.delay)
            out.append(grad)
        return out


# ---------------------------------------------------------------------------- loops
def _history(h0: torch.Tensor, rates: torch.Tensor, max_delay: int) -> list[torch.Tensor]:
    """``hist[max_delay + s] = h[s]``: ``h0`` for ``s <= 0``, then ``rates[s - 1]``."""
    return [h0] * (max_delay + 1) + list(rates.unbind(0))


def _forward_loop(op, activation, prep, drive, alpha, x0, mask, value, states, rates, h0):
    activate_into = schema.activation(activation).into
    activate_into(x0, h0)
    if mask is not None:
        torch.where(mask, value, h0, out=h0)
    L = op.max_delay
    hist = _history(h0, rates, L)
    x_prev = x0
    steps = zip(drive.unbind(0), states.unbind(0), rates.unbind(0), strict=True)
    for t, (d, xt, rt) in enumerate(steps):
        op.step_(prep, hist, L + t, d, x_prev, alpha, xt)
        activate_into(xt, rt)
        if mask is not None:
            torch.where(mask, value, rt, out=rt)
        x_prev = xt


def autograd_loop(op, activation, weights, drive, x0, alpha, mask, value):
    """The plain delayed loop under autograd: ``(states, rates)``."""
    f = schema.activation(activation).function

    def act(x: torch.Tensor) -> torch.Tensor:
        return f(x) if mask is None else torch.where(mask, value, f(x))

    L = op.max_delay
    x = x0
    hist = [act(x0)] * (L + 1)
    states = []
    for t, d in enumerate(drive.unbind(0)):
        x = torch.lerp(x, d + op.recurrent(weights, hist, L + t), alpha)
        hist.append(act(x))
        states.append(x)
    if not states:
        empty = drive[:0] + x0 + 0 * alpha
        return empty, empty.clone()
    return torch.stack(states), torch.stack(hist[L + 1 :])


class _DelayedScan(torch.autograd.Function):
    """As :class:`mrnngraph._scan._FusedScan`, for a delayed operator."""

    @staticmethod
    def forward(op, activation, drive, x0, alpha, mask, value, *weights):  # type: ignore[override]
        states = _buffers.empty(drive.shape, drive.dtype, drive.device)
        rates = _buffers.empty(drive.shape, drive.dtype, drive.device)
        h0 = torch.empty_like(x0, memory_format=torch.contiguous_format)
        prep = op.forward_prep(weights, alpha, drive.shape[1])
        x0c = x0.contiguous()
        _forward_loop(op, activation, prep, drive, alpha, x0c, mask, value, states, rates, h0)
        return states, rates, h0

    @staticmethod
    def setup_context(ctx, inputs, output):
        op, activation, drive, x0, alpha, mask, value, *weights = inputs
        states, rates, h0 = output
        ctx.op, ctx.activation = op, activation
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(h0)
        ctx.save_for_backward(drive, x0, alpha, mask, value, states, rates, h0, *weights)

    @staticmethod
    def backward(ctx, g_states, g_rates, _g_h0):
        drive, x0, alpha, mask, value, states, rates, h0, *weights = ctx.saved_tensors
        op, activation = ctx.op, ctx.activation
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            return _double_backward(
                ctx, op, activation, drive, x0, alpha, mask, value, weights, g_states, g_rates
            )
        T, B = states.shape[0], states.shape[1]
        if T == 0 or (g_states is None and g_rates is None):
            zeros = [(2, drive), (3, x0), (4, alpha), (6, value)]
            zeros += [(7 + i, w) for i, w in enumerate(weights)]
            out: list[torch.Tensor | None] = [None] * (7 + len(weights))
            for i, t in zeros:
                out[i] = torch.zeros_like(t) if needs[i] else None
            return tuple(out)
        decay = 1.0 - alpha
        fp = activation_derivative(
            activation, states, rates, out=_buffers.empty(states.shape, states.dtype, states.device)
        )
        fp0 = activation_derivative(activation, x0, schema.activation(activation).function(x0))
        if mask is not None:
            fp.masked_fill_(mask, 0.0)
            fp0 = fp0.masked_fill(mask, 0.0)
        lam = _buffers.empty(states.shape, states.dtype, states.device)
        if g_rates is not None:
            torch.mul(fp, g_rates, out=lam)
            if g_states is not None:
                lam.add_(g_states)
        else:
            lam.copy_(g_states)
        L = op.max_delay
        zero = torch.zeros_like(lam[0])
        lams = list(lam.unbind(0)) + [zero] * L
        fps = fp.unbind(0)
        tmp = torch.empty_like(zero)
        prep = op.backward_prep(weights, alpha, B)
        for t in range(T - 1, 0, -1):
            # lam[t .. t + L] are final: every later step has been walked.
            op.rmatvec_(prep, lams, t, tmp)
            lams[t - 1].addcmul_(fps[t - 1], tmp).addcmul_(lams[t], decay)
        # h0 stands for every h[s], s <= 0: sum_k W_k^T alpha sum_{t <= k} lam[t].
        heads = list(lam[: L + 1].cumsum(0).unbind(0))
        op.rmatvec_(prep, heads + heads[-1:] * (L + 1 - len(heads)), 0, tmp)
        grad_x0 = torch.addcmul(fp0 * tmp, decay, lam[0]) if needs[3] else None
        grad_alpha = alpha_grad(lam, states, x0, alpha) if needs[4] else None
        delta = lam.mul_(alpha)
        grad_w = op.weight_grads(weights, delta, h0, rates, needs[7:])
        grad_value = None
        if needs[6]:
            s = op.rvec(weights, delta.sum((0, 1)))
            if g_rates is not None:
                s = s + g_rates.sum((0, 1))
            grad_value = torch.where(mask, s, torch.zeros_like(s))
        grad_drive = delta if needs[2] else None
        return (None, None, grad_drive, grad_x0, grad_alpha, None, grad_value, *grad_w)


def _double_backward(ctx, op, activation, drive, x0, alpha, mask, value, weights, g_s, g_r):
    needs = ctx.needs_input_grad
    slots = [(2, drive), (3, x0), (4, alpha), (6, value)]
    slots += [(7 + i, w) for i, w in enumerate(weights)]
    wanted = [(i, t) for i, t in slots if needs[i]]
    with torch.enable_grad():
        states, rates = autograd_loop(op, activation, weights, drive, x0, alpha, mask, value)
        outs = [(o, g) for o, g in ((states, g_s), (rates, g_r)) if g is not None]
        grads = torch.autograd.grad(
            [o for o, _ in outs],
            [t for _, t in wanted],
            [g for _, g in outs],
            create_graph=True,
            allow_unused=True,
        )
    out: list[torch.Tensor | None] = [None] * (7 + len(weights))
    for (i, t), g in zip(wanted, grads, strict=True):
        out[i] = torch.zeros_like(t) if g is None else g
    return tuple(out)


def delayed_scan(op, weights, drive, x0, alpha, activation, mask, value, method):
    """What :func:`mrnngraph._scan.leaky_scan` runs for a delayed operator."""
    alpha = alpha.expand(drive.shape[-1])
    op.uniform_alpha = None
    if method == "autograd":
        return autograd_loop(op, activation, weights, drive, x0, alpha, mask, value)
    states, rates, _ = _DelayedScan.apply(op, activation, drive, x0, alpha, mask, value, *weights)
    return states, rates


# ---------------------------------------------------------------------------- the model
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
        D_ih = _steps_matrix(circuit, steps, "ih", (H, I))
        D_ho = _steps_matrix(circuit, steps, "ho", (O, H))
        return cls(
            steps=steps,
            hh=DelayPlan(D_hh) if bool(D_hh.any()) else None,
            ih=D_ih if bool(D_ih.any()) else None,
            ho=D_ho if bool(D_ho.any()) else None,
        )

    def drive(self, u: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``bias + sum_k W_ih^(k) u[t - k]`` for inputs ``u (T, B, I)`` (0 before the trial)."""
        T, B, _ = u.shape
        if self.ih is None:
            return torch.addmm(bias, u.reshape(T * B, -1), w_ih.t().contiguous()).view(T, B, -1)
        D = self.ih.to(w_ih.device)
        drive = bias.expand(T, B, -1)
        for k in torch.unique(D).tolist():
            w = torch.where(D == k, w_ih, torch.zeros((), dtype=w_ih.dtype, device=w_ih.device))
            drive = drive + torch.matmul(shift(u, k, torch.zeros_like(u[0])), w.t())
        return drive

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
        ``f(x0)`` (clamped) before the trial."""
        h0 = initial_rates(x0, activation, clamp)
        if self.ho is None:
            out = torch.matmul(rates, w_ho.t())
        else:
            D = self.ho.to(w_ho.device)
            out = None
            for k in torch.unique(D).tolist():
                w = torch.where(D == k, w_ho, torch.zeros((), dtype=w_ho.dtype, device=w_ho.device))
                part = torch.matmul(shift(rates, k, h0), w.t())
                out = part if out is None else out + part
        return out if bias_ho is None else out + bias_ho


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
