"""The one table of activation functions a model's units may use.

torch is imported where a function runs, never here: the vocabulary is read
(validation, file I/O, the CLI) without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import short_repr

__all__ = ["Activation", "ACTIVATIONS", "activation"]


def _relu(x: Any) -> Any:
    return x.relu()


def _relu_into(x: Any, out: Any) -> None:
    import torch

    torch.clamp_min(x, 0, out=out)


def _relu_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.gt(x, 0, out=out)  # one pass, straight to float


def _tanh(x: Any) -> Any:
    return x.tanh()


def _tanh_into(x: Any, out: Any) -> None:
    import torch

    torch.tanh(x, out=out)


def _tanh_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.mul(h, h, out=out).neg_().add_(1)


def _sigmoid(x: Any) -> Any:
    return x.sigmoid()


def _sigmoid_into(x: Any, out: Any) -> None:
    import torch

    torch.sigmoid(x, out=out)


def _sigmoid_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.sub(h, torch.mul(h, h, out=out), out=out)


def _softplus(x: Any) -> Any:
    import torch.nn.functional as F

    return F.softplus(x)


def _softplus_into(x: Any, out: Any) -> None:
    out.copy_(_softplus(x))


def _softplus_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.sigmoid(x, out=out).masked_fill_(x > 20, 1.0)


def _retanh(x: Any) -> Any:
    return x.tanh().clamp(min=0)


def _retanh_into(x: Any, out: Any) -> None:
    import torch

    torch.tanh(x, out=out).clamp_(min=0)


def _retanh_grad(x: Any, h: Any, out: Any) -> Any:
    import torch

    return torch.mul(h, h, out=out).neg_().add_(1).mul_(x >= 0)


def _linear(x: Any) -> Any:
    return x


def _linear_into(x: Any, out: Any) -> None:
    out.copy_(x)


def _linear_grad(x: Any, h: Any, out: Any) -> Any:
    return out.fill_(1)


@dataclass(frozen=True)
class Activation:
    """One activation function ``f`` of a model's units, with what the time loop needs.

    Attributes
    ----------
    name : str
        As a graph's or a model's ``activation`` spells it.
    doc : str
    function : callable
        ``f(x)`` on a tensor, differentiable by autograd.
    into : callable
        ``into(x, out)`` writes ``f(x)`` into ``out`` without allocating (the forward
        loop's per-step activation).
    derivative : callable
        ``derivative(x, h, out)`` writes ``f'(x)`` into ``out`` and returns it, given
        ``h = f(x)``, with autograd's conventions at kinks: relu has derivative 0 at 0,
        retanh (``tanh(x).clamp(min=0)``) 1, softplus switches to 1 above ``x = 20``.
    """

    name: str
    doc: str
    function: Any
    into: Any
    derivative: Any


_ACTIVATION_TABLE: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", "max(x, 0)", _relu, _relu_into, _relu_grad),
        Activation("tanh", "tanh(x)", _tanh, _tanh_into, _tanh_grad),
        Activation("sigmoid", "1 / (1 + exp(-x))", _sigmoid, _sigmoid_into, _sigmoid_grad),
        Activation(
            "softplus",
            "log(1 + exp(x)) (torch's, linear above x = 20)",
            _softplus,
            _softplus_into,
            _softplus_grad,
        ),
        Activation("retanh", "max(tanh(x), 0)", _retanh, _retanh_into, _retanh_grad),
        Activation("linear", "x", _linear, _linear_into, _linear_grad),
    )
}

#: The names of the activation functions, in table order.
ACTIVATIONS: tuple[str, ...] = tuple(_ACTIVATION_TABLE)


def activation(name: Any) -> Activation:
    """The :class:`Activation` called ``name``.

    Raises
    ------
    ValueError
        If there is none (the message lists the names there are).

    Examples
    --------
    >>> activation("tanh").doc
    'tanh(x)'
    """
    found = _ACTIVATION_TABLE.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(
            f"activation must be one of {', '.join(ACTIVATIONS)}; got {short_repr(name)}"
        )
    return found
