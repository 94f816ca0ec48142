"""Conduction delays in the time loop: the recurrent term reads rates from earlier steps.

With a delay of ``D[i, j]`` steps on the synapse from unit ``j`` to unit ``i``,

    x[t+1] = lerp(x[t], drive[t] + sum_j W[i, j] h[t - D[i, j]]_j, alpha)

where ``h[s] = f(x0)`` (clamped where clamped) for every ``s <= 0``: before the trial the
sources sit at their initial rate. ``D`` comes from the edges' ``delay`` (ms) divided by
the model's ``dt``; a circuit declares it per projection, so ``D`` is constant on region
blocks, which is what makes the loops below cheap.

The loops never split the recurrent matmul by delay class (that would multiply the work
by the number of distinct delays). The rates are kept as one ``(L + 1 + T, B, H)`` history
with ``L`` the longest delay, so the last ``L + 1`` steps are one contiguous *window* from
which a single ``index_select`` of whole chunks takes every block's inputs, each at its
own delay; then
one ``bmm`` per group of equally shaped blocks and one scatter. For the dense weight:

* forward, the blocks are the *row groups* (consecutive destination units whose delay
  rows are equal) against all sources: per step one gather, one ``bmm``, no scatter when
  the row groups are equal in size (it writes straight into the state);
* adjoint, the *column groups* (consecutive sources with equal delay columns): step ``t``
  collects ``W_d^T (alpha * lam[t + d])`` for every delay ``d`` from the window
  ``lam[t .. t + L]`` the same way; the steps before the trial (all reading ``f(x0)``)
  are one more product with the prefix sums of ``lam``;
* weight gradient: two GEMMs over all steps per block of equal delay (``delta[t]``
  against the rates ``d`` steps earlier, and the steps ``t <= d`` against ``f(x0)``),
  only for blocks that can carry weights when the model says which; never one per step.

Block-sparse execution keeps its groups (blocks of one shape) and gives each block its
delay (:class:`DelayedBlocks`): the gather index carries the time offset. The flops per
step are those of the circuit without delays; the gather, a ``bmm`` instead of one
``mm`` and the wider weight-gradient GEMMs are the overhead (``bench/delays.py``). The
CUDA-graph replay of :mod:`mrnngraph._graphs` is not used for delayed loops (they run
eagerly, on any device).

Inputs and outputs: an input edge with a delay feeds the target the input from ``d``
steps earlier (zero before the trial); an output edge reads the rates ``d`` steps
earlier (``f(x0)`` before the trial). See :class:`mrnngraph._delay_model.ModelDelays`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from . import _buffers, schema
from ._blocks import BlockOperator
from ._scan import activation_derivative, alpha_grad, double_backward

__all__ = [
    "DelayPlan",
    "DelayedBlocks",
    "DelayedDense",
    "delayed_scan",
]

Run = tuple[int, int, int]  # (start, stop, delay steps)
Block = tuple[int, int, int, int, int]  # (r0, r1, c0, c1, delay steps)


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

    def __init__(self, steps: torch.Tensor, support: Sequence[Block] | None = None):
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
        #: Rectangles whose weight gradient is formed: all of ``[H, H]``, or only the blocks
        #: that can carry weights (``support``, from the model: the gradient elsewhere is
        #: masked away by the parametrization, so it is left at 0).
        self.grad_blocks = self.blocks if support is None else tuple(support)
        self.covers_all = support is None
        self._dense: tuple | None = None  # DelayedDense's index structure, built once

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
# Every delayed product is, per group of equally shaped blocks, one gather of the blocks'
# inputs from a *window* of steps, one bmm and one scatter. The window is ``(L + 1, B, H)``
# with ``L`` the longest delay: the rates ``h[t - L] .. h[t]`` forward (a slice of the
# history, so the gather takes every block's input at its own delay in one
# index_select), the adjoints ``lam[t] .. lam[t + L]`` backward.
class _Side(NamedTuple):
    """One group of ``nb`` blocks, one direction: inputs of ``n_in`` units gathered from the
    window in chunks of ``c_in`` (``gather`` indexes the window's ``(L + 1) * H / c_in``
    chunks), outputs of ``n_out`` units scattered in chunks of ``c_out``."""

    nb: int
    n_in: int
    c_in: int
    gather: torch.Tensor
    n_out: int
    c_out: int
    scatter: torch.Tensor
    #: ``(B, device)`` -> the window rows to gather (filled on first use).
    rows: dict


def _gathered(side: _Side, window: torch.Tensor) -> torch.Tensor:
    """The blocks' inputs ``(nb, B, n_in)`` from the contiguous window ``(L + 1, B, H)``:
    one ``index_select`` of whole chunks (rows of the window seen as ``(-1, c_in)``)."""
    _, B, H = window.shape
    key = (B, window.device)
    rows = side.rows.get(key)
    if rows is None:
        n = H // side.c_in
        pos, q = side.gather // n, side.gather % n
        per_b = torch.arange(B, device=side.gather.device)[:, None] * n
        rows = ((pos * (B * n) + q)[None, :] + per_b).reshape(-1).to(window.device)
        side.rows[key] = rows
    z = window.reshape(-1, side.c_in).index_select(0, rows)
    return z.view(B, side.nb, side.n_in).transpose(0, 1)


def _products(side: _Side, window: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The blocks' outputs ``(B, nb * n_out / c_out, c_out)`` for ``w (nb, n_in, n_out)``."""
    y = torch.bmm(_gathered(side, window), w)
    return y.transpose(0, 1).reshape(window.shape[1], -1, side.c_out)


def _chunks(starts_stops: list[tuple[int, int]], c: int) -> list[int]:
    return [q for a, b in starts_stops for q in range(a // c, b // c)]


def _window_index(runs: Sequence[Run], c: int, H: int, L: int, forward: bool) -> list[int]:
    """Window chunk indices of units given as runs ``(start, stop, delay)``: forward the
    window is ``h[t - L .. t]`` (delay ``k`` at position ``L - k``), backward
    ``lam[t .. t + L]`` (position ``k``)."""
    n = H // c
    return [((L - k) if forward else k) * n + q for a, b, k in runs for q in range(a // c, b // c)]


def _on(t: torch.Tensor, device) -> torch.Tensor:
    return t if t.device == device else t.to(device)


class DelayedDense:
    """A dense ``[H, H]`` recurrent matrix with per-synapse delays (``weights = (W,)``).

    Forward, the blocks are the plan's row groups (all sources, each at its delay);
    backward, its column groups (all destinations). Row and column groups of one size
    are one bmm per step.
    """

    uniform_alpha: float | None = None

    def __init__(self, plan: DelayPlan):
        self.plan = plan
        self.max_delay = L = plan.max_delay
        H = plan.hidden_size
        if plan._dense is None:  # kept on the plan: a model builds its operator per call
            fwd, fwd_units = self._sides(plan.rows, H, L, forward=True)
            adj, adj_units = self._sides(plan.cols, H, L, forward=False)
            # One group of equal row (column) groups in unit order: the bmm writes straight
            # into the (B, H) result, no scatter.
            whole = tuple(
                len(sides) == 1 and bool((units[0] == torch.arange(H)).all())
                for sides, units in ((fwd, fwd_units), (adj, adj_units))
            )
            plan._dense = (fwd, fwd_units, adj, adj_units, *whole)
        self.fwd, self.fwd_units, self.adj, self.adj_units = plan._dense[:4]
        self.fwd_whole, self.adj_whole = plan._dense[4:]

    @staticmethod
    def _sides(groups, H, L, forward):
        by_size: dict[int, list] = {}
        for g in groups:
            by_size.setdefault(g[1] - g[0], []).append(g)
        sides, units = [], []
        for n, gs in by_size.items():
            c_in = math.gcd(H, *(x for _, _, runs in gs for a, b, _ in runs for x in (a, b)))
            c_out = math.gcd(H, n, *(a for a, _, _ in gs))
            gather = [i for _, _, runs in gs for i in _window_index(runs, c_in, H, L, forward)]
            scatter = _chunks([(a, b) for a, b, _ in gs], c_out)
            sides.append(
                _Side(len(gs), H, c_in, torch.tensor(gather), n, c_out, torch.tensor(scatter), {})
            )
            units.append(torch.cat([torch.arange(a, b) for a, b, _ in gs]))
        return sides, units

    def _moved(self, sides, device):
        return [
            s._replace(gather=_on(s.gather, device), scatter=_on(s.scatter, device)) for s in sides
        ]

    def _fwd_weights(self, W):
        H = W.shape[1]
        return [
            W.index_select(0, _on(u, W.device)).view(s.nb, s.n_out, H).transpose(1, 2)
            for s, u in zip(self.fwd, self.fwd_units, strict=True)
        ]

    def forward_prep(self, weights, alpha) -> tuple:
        W = weights[0]
        return self._moved(self.fwd, W.device), self._fwd_weights(W * alpha[:, None])

    def step_(self, prep, window, d, x, alpha, out) -> None:
        torch.lerp(x, d, alpha, out=out)
        B = out.shape[0]
        if self.fwd_whole:
            (side,), (w,) = prep
            out.view(B, side.nb, side.n_out).transpose(0, 1).baddbmm_(_gathered(side, window), w)
            return
        for side, w in zip(*prep, strict=True):
            out.view(B, -1, side.c_out).index_add_(1, side.scatter, _products(side, window, w))

    def recurrent(self, weights, window) -> torch.Tensor:
        W = weights[0]
        B, H = window.shape[1], W.shape[0]
        out = window.new_zeros(B, H)
        for side, w in zip(self._moved(self.fwd, W.device), self._fwd_weights(W), strict=True):
            y = _products(side, window, w)
            out = out.view(B, -1, side.c_out).index_add(1, side.scatter, y).view(B, H)
        return out

    def backward_prep(self, weights, alpha) -> tuple:
        Wa = weights[0] * alpha[:, None]
        H = Wa.shape[0]
        ws = [
            Wa.index_select(1, _on(u, Wa.device)).view(H, s.nb, s.n_out).permute(1, 0, 2)
            for s, u in zip(self.adj, self.adj_units, strict=True)
        ]
        return self._moved(self.adj, Wa.device), ws

    def rmatvec_(self, prep, window, out) -> None:
        """``out = sum_k W_k^T (alpha * lam[t + k])`` for the window ``lam[t .. t + L]``;
        every source is in exactly one column group."""
        B = out.shape[0]
        if self.adj_whole:
            (side,), (w,) = prep
            # beta=0: the old contents (even NaN) are ignored; no temporary, no copy.
            view = out.view(B, side.nb, side.n_out).transpose(0, 1)
            view.baddbmm_(_gathered(side, window), w, beta=0)
            return
        for side, w in zip(*prep, strict=True):
            out.view(B, -1, side.c_out).index_copy_(1, side.scatter, _products(side, window, w))

    def weight_grads(self, weights, delta, h0, rates, needs) -> list[torch.Tensor | None]:
        if not needs[0]:
            return [None]
        grad = (
            torch.empty_like(weights[0]) if self.plan.covers_all else torch.zeros_like(weights[0])
        )
        heads = _heads(delta, self.max_delay)
        for r0, r1, c0, c1, k in self.plan.grad_blocks:
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
    """:class:`mrnngraph._blocks.BlockOperator` whose blocks carry delays (``g.delays``,
    steps per block): each block reads its sources that many steps back, all blocks of a
    group still in one gather, one bmm and one scatter per step."""

    fwd_whole = False  # blocks may share destinations: always scatter-add

    def __init__(self, groups, src_idx, dst_idx, hidden_size):
        super().__init__(groups, src_idx, dst_idx, hidden_size)
        H = hidden_size
        self.max_delay = L = max((max(g.delays, default=0) for g in groups), default=0)
        self.fwd, self.adj, self.rows = [], [], []
        for g, s, d in zip(groups, src_idx, dst_idx, strict=True):
            ks = g.delays or (0,) * g.nb
            sk = torch.tensor(ks).repeat_interleave(g.ns // g.cs).to(s.device)
            dk = torch.tensor(ks).repeat_interleave(g.nd // g.cd).to(d.device)
            self.fwd.append(_Side(g.nb, g.ns, g.cs, (L - sk) * (H // g.cs) + s, g.nd, g.cd, d, {}))
            self.adj.append(_Side(g.nb, g.nd, g.cd, dk * (H // g.cd) + d, g.ns, g.cs, s, {}))
            units = (d.view(-1, 1) * g.cd + torch.arange(g.cd, device=d.device)).reshape(-1)
            self.rows.append(units)

    def _scaled(self, weights, alpha):
        return [
            w * alpha.index_select(0, u).view(g.nb, g.nd, 1)
            for g, w, u in zip(self.groups, weights, self.rows, strict=True)
        ]

    def forward_prep(self, weights, alpha) -> tuple:
        return self.fwd, [w.transpose(1, 2) for w in self._scaled(weights, alpha)]

    step_ = DelayedDense.step_

    def recurrent(self, weights, window) -> torch.Tensor:
        B, H = window.shape[1], self.hidden_size
        out = window.new_zeros(B, H)
        for side, w in zip(self.fwd, weights, strict=True):
            y = _products(side, window, w.transpose(1, 2))
            out = out.view(B, -1, side.c_out).index_add(1, side.scatter, y).view(B, H)
        return out

    def backward_prep(self, weights, alpha) -> tuple:
        return self.adj, self._scaled(weights, alpha)

    def rmatvec_(self, prep, window, out) -> None:
        B = out.shape[0]
        out.zero_()
        for side, w in zip(*prep, strict=True):
            out.view(B, -1, side.c_out).index_add_(1, side.scatter, _products(side, window, w))

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
            ks = g.delays or (0,) * g.nb
            for i, (a, c, k) in enumerate(zip(g.dst_starts, g.src_starts, ks, strict=True)):
                _block_grad(grad[i], delta, heads, h0, rates, a, a + g.nd, c, c + g.ns, k)
            out.append(grad)
        return out


# ---------------------------------------------------------------------------- loops
def _forward_loop(op, activation, prep, drive, alpha, x0, mask, value, states, hist, h0):
    """Writes the states and the history ``hist (L + 1 + T, B, H)``: ``hist[L + s] = h[s]``,
    ``h0`` for every ``s <= 0``."""
    activate_into = schema.activation(activation).into
    activate_into(x0, h0)
    if mask is not None:
        torch.where(mask, value, h0, out=h0)
    L = op.max_delay
    hist[: L + 1] = h0
    x_prev = x0
    rates = hist.unbind(0)[L + 1 :]
    steps = zip(drive.unbind(0), states.unbind(0), rates, strict=True)
    for t, (d, xt, rt) in enumerate(steps):
        op.step_(prep, hist[t : t + L + 1], d, x_prev, alpha, xt)
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
        window = torch.stack(hist[t : t + L + 1])
        x = torch.lerp(x, d + op.recurrent(weights, window), alpha)
        hist.append(act(x))
        states.append(x)
    if not states:
        empty = drive[:0] + x0 + 0 * alpha
        return empty, empty.clone()
    return torch.stack(states), torch.stack(hist[L + 1 :])


class _DelayedScan(torch.autograd.Function):
    """As :class:`mrnngraph._scan._FusedScan`, for a delayed operator; also returns ``h0``
    (not differentiable), which the backward needs."""

    @staticmethod
    def forward(op, activation, drive, x0, alpha, mask, value, *weights):  # type: ignore[override]
        T, B, H = drive.shape
        L = op.max_delay
        states = _buffers.empty(drive.shape, drive.dtype, drive.device)
        rates = _buffers.empty(drive.shape, drive.dtype, drive.device)
        h0 = torch.empty_like(x0, memory_format=torch.contiguous_format)
        hist = _buffers.empty((L + 1 + T, B, H), drive.dtype, drive.device)
        prep = op.forward_prep(weights, alpha)
        a = alpha if op.uniform_alpha is None else op.uniform_alpha  # a float lerps faster
        _forward_loop(
            op, activation, prep, drive, a, x0.contiguous(), mask, value, states, hist, h0
        )
        rates.copy_(hist[L + 1 :])
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
            return double_backward(
                autograd_loop,
                *(ctx, op, activation, drive, x0, alpha, mask, value, weights, g_states, g_rates),
            )
        T, B, H = states.shape
        if T == 0 or (g_states is None and g_rates is None):
            zeros = [(2, drive), (3, x0), (4, alpha), (6, value)]
            zeros += [(7 + i, w) for i, w in enumerate(weights)]
            out: list[torch.Tensor | None] = [None] * (7 + len(weights))
            for i, t in zeros:
                out[i] = torch.zeros_like(t) if needs[i] else None
            return tuple(out)
        decay, uniform = 1.0 - alpha, op.uniform_alpha
        fp = activation_derivative(
            activation, states, rates, out=_buffers.empty(states.shape, states.dtype, states.device)
        )
        fp0 = activation_derivative(activation, x0, schema.activation(activation).function(x0))
        if mask is not None:
            fp.masked_fill_(mask, 0.0)
            fp0 = fp0.masked_fill(mask, 0.0)
        # The adjoint with L zero steps after the end: lam_all[t] = dL/dx[t + 1].
        L = op.max_delay
        lam_all = _buffers.empty((T + L, B, H), states.dtype, states.device)
        lam_all[T:].zero_()
        lam = lam_all[:T]
        if g_rates is not None:
            torch.mul(fp, g_rates, out=lam)
            if g_states is not None:
                lam.add_(g_states)
        else:
            lam.copy_(g_states)
        lams, fps = lam_all.unbind(0), fp.unbind(0)
        tmp = torch.empty_like(lams[0], memory_format=torch.contiguous_format)
        prep = op.backward_prep(weights, alpha)
        for t in range(T - 1, 0, -1):
            # lam[t .. t + L] are final: every later step has been walked.
            op.rmatvec_(prep, lam_all[t : t + L + 1], tmp)
            if uniform is None:
                lams[t - 1].addcmul_(fps[t - 1], tmp).addcmul_(lams[t], decay)
            else:
                lams[t - 1].addcmul_(fps[t - 1], tmp).add_(lams[t], alpha=1.0 - uniform)
        # h0 stands for every h[s], s <= 0: sum_k W_k^T alpha sum_{t <= k} lam[t].
        op.rmatvec_(prep, lam_all[: L + 1].cumsum(0), tmp)
        grad_x0 = torch.addcmul(fp0 * tmp, decay, lams[0]) if needs[3] else None
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


def delayed_scan(op, weights, drive, x0, alpha, activation, mask, value, method):
    """What :func:`mrnngraph._scan.leaky_scan` runs for a delayed operator."""
    alpha = alpha.expand(drive.shape[-1])
    # alpha is folded into the weights; one alpha for all units (not trained) also makes
    # the leak a float.
    uniform = not alpha.requires_grad and alpha.numel() > 0 and bool((alpha == alpha[0]).all())
    op.uniform_alpha = float(alpha[0]) if uniform else None
    if method == "autograd":
        return autograd_loop(op, activation, weights, drive, x0, alpha, mask, value)
    states, rates, _ = _DelayedScan.apply(op, activation, drive, x0, alpha, mask, value, *weights)
    return states, rates
