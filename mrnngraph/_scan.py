"""The time loop of the leaky RNN, kept in one place as a pure function.

``leaky_scan(weight, drive, x0, alpha, activation)`` integrates

    x[t+1] = (1 - alpha) * x[t] + alpha * (W @ f(x[t]) + drive[t])

for ``t = 0 .. T-1`` and returns the stacked states ``x[1..T]`` (time first).
``drive`` already holds the input projection, the bias and any noise for every
step, so the loop does one matmul per step and nothing else that can be hoisted.

Two implementations give the same numbers:

``"fused"`` (the default)
    One :class:`torch.autograd.Function` over the whole sequence. The forward
    runs the loop without recording an autograd graph and keeps the states and
    rates; the backward walks time once with one matmul per step and forms the
    recurrent weight gradient as a single GEMM over all steps,
    ``sum_t delta[t+1] h[t]^T`` (what cuDNN does), instead of autograd's ``T``
    outer products. On CUDA both loops are captured once per shape as CUDA
    graphs and replayed (set ``MRNNGRAPH_CUDA_GRAPHS=0`` to turn that off).
    Double backward (``create_graph=True``) is supported by recomputing the
    sequence under autograd inside the backward.
``"autograd"``
    The plain loop under autograd: one graph node per operation and step. Use it
    for :mod:`torch.func` transforms.

Both differentiate ``alpha`` (learnable time constants): the fused backward forms
``dL/dalpha = sum_t lam[t] (x[t+1] - x[t]) / alpha`` from its adjoint.

Conduction delays (``leaky_scan(..., delays=...)``, or a block operator whose blocks
carry delays) run the delayed loops of :mod:`mrnngraph._delays`, fused or autograd alike;
without delays nothing here changes. CUDA graphs live in :mod:`mrnngraph._graphs`.

The recurrent term is computed by an *operator* (a :class:`RecurrentOperator`):
:class:`DenseOperator` for one ``[H, H]`` matrix, or the block-sparse operator of
:mod:`mrnngraph._sparse`, passed as :class:`OperatorWeights`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch

from . import _buffers, schema
from ._graphs import graphs_wanted, run_graphed

__all__ = [
    "ACTIVATION_FUNCTIONS",
    "SCAN_METHODS",
    "DenseOperator",
    "OperatorWeights",
    "RecurrentOperator",
    "activation_derivative",
    "leaky_scan",
]

SCAN_METHODS = ("auto", "fused", "autograd")


#: Activation name -> ``f``: a view of the one table, :func:`mrnngraph.schema.activation`.
ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    name: schema.activation(name).function for name in schema.ACTIVATIONS
}


def activation_derivative(
    name: str, x: torch.Tensor, h: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``f'(x)`` given ``x`` and ``h = f(x)``, as autograd differentiates ``f``.

    The conventions at kinks are autograd's: relu has derivative 0 at 0, retanh
    (``tanh(x).clamp(min=0)``) has 1, softplus switches to 1 above ``x = 20``.
    ``out``, if given, receives the result (same shape and dtype as ``x``).

    Examples
    --------
    >>> x = torch.tensor([-1.0, 0.0, 2.0])
    >>> activation_derivative("relu", x, torch.relu(x)).tolist()
    [0.0, 0.0, 1.0]
    """
    act = schema.activation(name)
    return act.derivative(x, h, torch.empty_like(x) if out is None else out)


# ---------------------------------------------------------------------------- operators
@runtime_checkable
class RecurrentOperator(Protocol):
    """What the loops need of the recurrent term ``W h``. States are ``(B, H)``.

    ``weights`` is the tuple of tensors the operator differentiates (``(W,)`` for
    :class:`DenseOperator`, the stacked blocks for
    :class:`mrnngraph._sparse.BlockOperator`); ``prep`` is what a ``*_prep`` method
    returned for them.
    """

    #: Set by :func:`leaky_scan`: the ``alpha`` common to every unit as a float, or
    #: ``None`` when units differ (or ``alpha`` needs a gradient); the loops then
    #: apply it as a scalar.
    uniform_alpha: float | None

    def key(self) -> tuple:
        """What a captured CUDA graph depends on besides the tensor shapes."""
        ...

    def forward_prep(self, weights: Sequence[torch.Tensor], alpha: torch.Tensor) -> tuple:
        """Tensors for the forward step (what a non-uniform ``alpha`` needs)."""
        ...

    def step_(
        self,
        prep: tuple,
        h: torch.Tensor,
        d: torch.Tensor,
        x: torch.Tensor,
        alpha: torch.Tensor | float,
        out: torch.Tensor,
    ) -> None:
        """``out = lerp(x, d + W h, alpha) = x + alpha * (d + W h - x)``, the leaky update
        (no autograd; ``alpha`` is the float or the ``[H]`` tensor)."""
        ...

    def recurrent(self, weights: Sequence[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        """``W h`` (differentiable; the plain autograd loop)."""
        ...

    def backward_prep(self, weights: Sequence[torch.Tensor], alpha: torch.Tensor) -> tuple:
        """Tensors for the adjoint step (``alpha`` folded in unless uniform)."""
        ...

    def rmatvec_(self, prep: tuple, lam: torch.Tensor, out: torch.Tensor) -> None:
        """``out = W^T (alpha * lam)``, leaving out a uniform ``alpha`` (no autograd)."""
        ...

    def weight_grads(
        self,
        weights: Sequence[torch.Tensor],
        delta: torch.Tensor,
        h0: torch.Tensor,
        rates: torch.Tensor,
        needs: Sequence[bool],
    ) -> list[torch.Tensor | None]:
        """``sum_t delta[t] h[t]^T`` for each weight tensor (``None`` where not needed),
        ``h[t]`` being ``h0`` then ``rates[:-1]``."""
        ...

    def rvec(self, weights: Sequence[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
        """``W^T v`` for one ``[H]`` vector."""
        ...


class DenseOperator:
    """The recurrent term as one ``[H, H]`` matrix: a :class:`RecurrentOperator` whose
    ``weights`` are ``(W,)``. States are ``(B, H)``."""

    uniform_alpha: float | None = None

    def key(self) -> tuple:
        return ("dense", self.uniform_alpha)

    def forward_prep(self, weights: Sequence[torch.Tensor], alpha: torch.Tensor) -> tuple:
        return (weights[0],)

    def step_(
        self,
        prep: tuple,
        h: torch.Tensor,
        d: torch.Tensor,
        x: torch.Tensor,
        alpha: torch.Tensor | float,
        out: torch.Tensor,
    ) -> None:
        torch.addmm(d, h, prep[0].t(), out=out)
        torch.lerp(x, out, alpha, out=out)

    def recurrent(self, weights: Sequence[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        return h @ weights[0].t()

    def backward_prep(self, weights: Sequence[torch.Tensor], alpha: torch.Tensor) -> tuple:
        if self.uniform_alpha is not None:
            return (weights[0],)
        # lam @ (alpha[:, None] * W) = W^T (alpha * lam), row by row.
        return (weights[0] * alpha[:, None],)

    def rmatvec_(self, prep: tuple, lam: torch.Tensor, out: torch.Tensor) -> None:
        torch.mm(lam, prep[0], out=out)

    def weight_grads(
        self,
        weights: Sequence[torch.Tensor],
        delta: torch.Tensor,
        h0: torch.Tensor,
        rates: torch.Tensor,
        needs: Sequence[bool],
    ) -> list[torch.Tensor | None]:
        if not needs[0]:
            return [None]
        H = delta.shape[-1]
        # One GEMM over all steps after the first: sum_t delta[t]^T h[t].
        grad = delta[0].t() @ h0
        grad.addmm_(delta[1:].reshape(-1, H).t(), rates[:-1].reshape(-1, H))
        return [grad]

    def rvec(self, weights: Sequence[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
        return v @ weights[0]


class OperatorWeights(NamedTuple):
    """A recurrent operator and the weight tensors it differentiates.

    :func:`leaky_scan` accepts this in place of a dense ``[H, H]`` matrix (the
    block-sparse model passes one, see :mod:`mrnngraph._sparse`).
    """

    operator: RecurrentOperator
    tensors: tuple[torch.Tensor, ...]


# ---------------------------------------------------------------------------- loops
# x[t+1] = lerp(x[t], d[t] + W h[t], alpha) = x[t] + alpha * (d[t] + W h[t] - x[t]):
# the leak needs no scaled copy of the drive or of the weights.
def _forward_loop(
    op: RecurrentOperator,
    activation: str,
    prep: tuple,
    drive: torch.Tensor,
    alpha: torch.Tensor | float,
    x0: torch.Tensor,
    mask: torch.Tensor | None,
    value: torch.Tensor | None,
    states: torch.Tensor,
    rates: torch.Tensor,
    h0: torch.Tensor,
) -> None:
    """The forward step loop, writing into ``states``, ``rates`` and ``h0`` (no autograd)."""
    activate_into = schema.activation(activation).into
    activate_into(x0, h0)
    if mask is not None:
        torch.where(mask, value, h0, out=h0)
    x_prev, h = x0, h0
    for d, xt, rt in zip(drive.unbind(0), states.unbind(0), rates.unbind(0), strict=True):
        op.step_(prep, h, d, x_prev, alpha, xt)
        activate_into(xt, rt)
        if mask is not None:
            torch.where(mask, value, rt, out=rt)
        x_prev, h = xt, rt


def _backward_loop(
    op: RecurrentOperator,
    prep: tuple,
    lam: torch.Tensor,
    fp: torch.Tensor,
    alpha: float | None,
    decay: torch.Tensor,
    tmp: torch.Tensor,
) -> None:
    """Adjoint loop, in place: on entry ``lam[t]`` holds the direct gradient of ``x[t+1]``;
    on exit the total one. ``tmp`` ends as ``W^T (alpha * lam[0])`` without a uniform
    ``alpha`` (the caller applies it)."""
    lams, fps = lam.unbind(0), fp.unbind(0)
    for t in range(len(lams) - 1, -1, -1):
        op.rmatvec_(prep, lams[t], tmp)
        if t > 0:
            if alpha is None:
                lams[t - 1].addcmul_(fps[t - 1], tmp).addcmul_(lams[t], decay)
            else:
                lams[t - 1].addcmul_(fps[t - 1], tmp, value=alpha).add_(lams[t], alpha=1.0 - alpha)


def _autograd_loop(
    op: RecurrentOperator,
    activation: str,
    weights: Sequence[torch.Tensor],
    drive: torch.Tensor,
    x0: torch.Tensor,
    alpha: torch.Tensor,
    mask: torch.Tensor | None,
    value: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain loop under autograd: ``(states, rates)``."""
    f = schema.activation(activation).function

    def act(x: torch.Tensor) -> torch.Tensor:
        return f(x) if mask is None else torch.where(mask, value, f(x))

    x, h = x0, act(x0)
    states, rates = [], []
    # unbind, not drive[t]: each indexing would back-propagate into a zero tensor of
    # the whole sequence (T^2 memory traffic); unbind's backward is one stack.
    for d in drive.unbind(0):
        x = torch.lerp(x, d + op.recurrent(weights, h), alpha)
        h = act(x)
        states.append(x)
        rates.append(h)
    if not states:
        # Empty, but still a function of drive and x0 so gradients (zero) can be asked for.
        empty = drive[:0] + x0
        return empty, empty.clone()
    return torch.stack(states), torch.stack(rates)


def _fwd_body(op: RecurrentOperator, activation: str) -> Callable[..., None]:
    def body(prep, drive, alpha, x0, mask, value, states, rates, h0):
        _forward_loop(op, activation, prep, drive, alpha, x0, mask, value, states, rates, h0)

    return body


def _bwd_body(op: RecurrentOperator) -> Callable[..., None]:
    def body(prep, lam_in, fp, alpha, decay, lam, tmp):
        lam.copy_(lam_in)
        _backward_loop(op, prep, lam, fp, alpha, decay, tmp)

    return body


# ---------------------------------------------------------------------------- the Function
class _FusedScan(torch.autograd.Function):
    """Sequence-level node: ``(op, activation, drive, x0, alpha, mask, value, *weights)``
    -> ``(states, rates)``, time first, ``(T, B, H)``."""

    @staticmethod
    def forward(op, activation, drive, x0, alpha, mask, value, *weights):  # type: ignore[override]
        # Pooled: the same (T, B, H) memory each call instead of fresh pages (CPU).
        states = _buffers.empty(drive.shape, drive.dtype, drive.device)
        rates = _buffers.empty(drive.shape, drive.dtype, drive.device)
        h0 = torch.empty_like(x0, memory_format=torch.contiguous_format)
        a = alpha if op.uniform_alpha is None else op.uniform_alpha
        x0c = x0.contiguous()
        if drive.shape[0] > 0:
            prep = op.forward_prep(weights, alpha)
            ran = False
            if graphs_wanted(drive):
                ran = run_graphed(
                    "forward",
                    op,
                    activation,
                    _fwd_body(op, activation),
                    {
                        "prep": prep,
                        "drive": drive,
                        "alpha": a,
                        "x0": x0c,
                        "mask": mask,
                        "value": value,
                    },
                    {"states": states, "rates": rates, "h0": h0},
                )
            if not ran:
                _forward_loop(op, activation, prep, drive, a, x0c, mask, value, states, rates, h0)
        return states, rates

    @staticmethod
    def setup_context(ctx, inputs, output):
        op, activation, drive, x0, alpha, mask, value, *weights = inputs
        states, rates = output
        ctx.op, ctx.activation = op, activation
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(drive, x0, alpha, mask, value, states, rates, *weights)

    @staticmethod
    def backward(ctx, g_states, g_rates):
        drive, x0, alpha, mask, value, states, rates, *weights = ctx.saved_tensors
        op, activation = ctx.op, ctx.activation
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():
            # create_graph=True: recompute under autograd so the gradient is differentiable.
            return double_backward(
                _autograd_loop,
                *(ctx, op, activation, drive, x0, alpha, mask, value, weights, g_states, g_rates),
            )
        T = states.shape[0]
        if T == 0 or (g_states is None and g_rates is None):
            return (
                None,
                None,
                torch.zeros_like(drive) if needs[2] else None,
                torch.zeros_like(x0) if needs[3] else None,
                torch.zeros_like(alpha) if needs[4] else None,
                None,
                torch.zeros_like(value) if needs[6] else None,
                *(
                    torch.zeros_like(w) if n else None
                    for n, w in zip(needs[7:], weights, strict=True)
                ),
            )
        uniform = op.uniform_alpha
        decay = 1.0 - alpha
        fp = activation_derivative(
            activation, states, rates, out=_buffers.empty(states.shape, states.dtype, states.device)
        )
        h0 = schema.activation(activation).function(x0)
        fp0 = activation_derivative(activation, x0, h0)
        if mask is not None:
            # Clamped units have a constant rate: no gradient flows through f.
            fp.masked_fill_(mask, 0.0)
            fp0 = fp0.masked_fill(mask, 0.0)
            h0 = torch.where(mask, value, h0)
        # lam[t] = dL/dx[t+1]; starts as the direct part, ends as the total.
        lam = _buffers.empty(states.shape, states.dtype, states.device)
        if g_rates is not None:
            torch.mul(fp, g_rates, out=lam)
            if g_states is not None:
                lam.add_(g_states)
        else:
            lam.copy_(g_states)
        tmp = torch.empty_like(x0, memory_format=torch.contiguous_format)
        prep = op.backward_prep(weights, alpha)
        ran = False
        if graphs_wanted(lam):
            out_lam = torch.empty_like(lam)
            ran = run_graphed(
                "backward",
                op,
                activation,
                _bwd_body(op),
                {
                    "prep": prep,
                    "lam_in": lam,
                    "fp": fp,
                    "alpha": uniform,
                    "decay": decay if uniform is None else None,
                },
                {"lam": out_lam, "tmp": tmp},
            )
            if ran:
                lam = out_lam
        if not ran:
            _backward_loop(op, prep, lam, fp, uniform, decay, tmp)
        grad_x0 = None
        if needs[3]:
            grad_x0 = torch.addcmul(
                fp0 * tmp * (1.0 if uniform is None else uniform), decay, lam[0]
            )
        grad_alpha = alpha_grad(lam, states, x0, alpha) if needs[4] else None
        # dL/d(drive[t] + W h[t]) = alpha * lam[t]
        delta = lam.mul_(alpha if uniform is None else uniform)
        grad_w = op.weight_grads(weights, delta, h0, rates, needs[7:])
        grad_value = None
        if needs[6]:
            # A clamped rate enters W h[t] for t < T and the rates output for t >= 1.
            s = op.rvec(weights, delta.sum((0, 1)))
            if g_rates is not None:
                s = s + g_rates.sum((0, 1))
            grad_value = torch.where(mask, s, torch.zeros_like(s))
        grad_drive = delta if needs[2] else None
        return (None, None, grad_drive, grad_x0, grad_alpha, None, grad_value, *grad_w)


def alpha_grad(
    lam: torch.Tensor, states: torch.Tensor, x0: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """``dL/dalpha`` from the total adjoint ``lam[t] = dL/dx[t+1]``: ``x[t+1] - x[t]`` is
    ``alpha * (drive[t] + W h[t] - x[t])``, so ``dL/dalpha = sum_t lam[t] (x[t+1] - x[t]) / alpha``
    (summed over the batch; ``alpha`` > 0)."""
    g = (lam[0] * (states[0] - x0)).sum(0)
    if states.shape[0] > 1:
        g += (lam[1:] * (states[1:] - states[:-1])).sum((0, 1))
    return g / alpha


def double_backward(
    loop, ctx, op, activation, drive, x0, alpha, mask, value, weights, g_states, g_rates
):
    """The backward of a fused scan under ``create_graph=True``: ``loop`` (a plain autograd
    loop with :func:`_autograd_loop`'s signature) is run again under autograd, so the
    gradient is itself differentiable. Shared by the delayed scan (:mod:`._delays`)."""
    needs = ctx.needs_input_grad
    slots = [(2, drive), (3, x0), (4, alpha), (6, value)]
    slots += [(7 + i, w) for i, w in enumerate(weights)]
    wanted = [(i, t) for i, t in slots if needs[i]]
    with torch.enable_grad():
        states, rates = loop(op, activation, weights, drive, x0, alpha, mask, value)
        outs = [(o, g) for o, g in ((states, g_states), (rates, g_rates)) if g is not None]
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


# ---------------------------------------------------------------------------- entry point
def leaky_scan(
    weight: torch.Tensor | OperatorWeights,
    drive: torch.Tensor,
    x0: torch.Tensor,
    alpha: torch.Tensor,
    activation: str,
    clamp: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    delays: Any = None,
    method: str = "auto",
    return_rates: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run the leaky recurrence; returns states ``(T, B, H)`` (and rates if asked).

    Parameters
    ----------
    weight : Tensor, shape (H, H), or OperatorWeights
        Effective recurrent weights, ``[destination, source]``, or a block-sparse
        operator with its block tensors.
    drive : Tensor, shape (T, B, H)
        Everything but the recurrent term, per step (input current, bias, noise).
    x0 : Tensor, shape (B, H)
        Initial pre-activation state.
    alpha : Tensor, shape (H,)
        ``dt / tau`` per unit (1 gives a discrete-time, Elman-style network).
    activation : str
        One of :data:`mrnngraph.schema.ACTIVATIONS`.
    clamp : (Tensor, Tensor), optional
        ``(mask [H] bool, value [H])``: the rates of the masked units are held at
        ``value`` at every step (silencing is a clamp at 0); their derivative
        through the activation is 0. Used by :func:`mrnngraph.perturb`.
    delays : Tensor of int, shape (H, H), or DelayPlan, optional
        Conduction delays in steps, ``[destination, source]`` (dense ``weight`` only; a
        block-sparse operator carries its own): the recurrent term of step ``t`` reads
        ``h[t - delays]``, ``f(x0)`` (clamped) before the start. See
        :mod:`mrnngraph._delays`. All zero or None: the loops above, unchanged.
    method : {"auto", "fused", "autograd"}
        ``"auto"`` is ``"fused"``. Both differentiate ``alpha`` when it requires a
        gradient. See the module docstring.
    return_rates : bool
        Also return the rates ``f(states)`` (clamped), ``(T, B, H)``.

    Examples
    --------
    >>> W = torch.randn(4, 4) / 2
    >>> drive, x0, alpha = torch.randn(6, 3, 4), torch.zeros(3, 4), torch.full((4,), 0.2)
    >>> fused = leaky_scan(W, drive, x0, alpha, "tanh")
    >>> plain = leaky_scan(W, drive, x0, alpha, "tanh", method="autograd")
    >>> fused.shape, torch.allclose(fused, plain, atol=1e-6)
    (torch.Size([6, 3, 4]), True)
    """
    if method not in SCAN_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, SCAN_METHODS))}; got {method!r}"
        )
    schema.activation(activation)  # ValueError naming the ones there are
    if isinstance(weight, torch.Tensor):
        op: RecurrentOperator = DenseOperator()
        weights: tuple[torch.Tensor, ...] = (weight,)
    elif isinstance(weight, OperatorWeights):
        op, weights = weight.operator, tuple(weight.tensors)
    else:
        raise TypeError(f"weight must be a Tensor or OperatorWeights; got {type(weight).__name__}")
    H = drive.shape[-1]
    mask = value = None
    if clamp is not None:
        mask = clamp[0].to(device=drive.device, dtype=torch.bool).expand(H)
        value = torch.as_tensor(clamp[1], dtype=drive.dtype, device=drive.device).expand(H)
    # One alpha for every unit (one tau), not trained: a scalar factor instead of scaled
    # weight copies.
    uniform = not alpha.requires_grad and alpha.numel() > 0 and bool((alpha == alpha[0]).all())
    op.uniform_alpha = float(alpha[0]) if uniform else None
    if method == "auto":
        method = "fused"
    if delays is not None and not isinstance(weight, torch.Tensor):
        raise TypeError("delays= is for a dense weight; a block operator carries its own delays")
    if delays is not None or getattr(op, "max_delay", 0):
        from ._delays import DelayedDense, as_plan, delayed_scan

        plan = as_plan(delays, H)
        if plan is not None:
            op = DelayedDense(plan)
        if getattr(op, "max_delay", 0):
            states, rates = delayed_scan(
                op, weights, drive, x0, alpha, activation, mask, value, method
            )
            return (states, rates) if return_rates else states

    if method == "fused":
        states, rates = _FusedScan.apply(op, activation, drive, x0, alpha, mask, value, *weights)
    else:
        states, rates = _autograd_loop(op, activation, weights, drive, x0, alpha, mask, value)
    return (states, rates) if return_rates else states
