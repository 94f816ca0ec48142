"""The compiled form of a circuit: per-projection blocks, per-unit vectors and a :class:`Layout`.

The per-projection :class:`Block` objects are the source of truth; the dense
``[H, H]`` matrices (``weight_hh``, ``mask_hh``, ...) are assembled from them on
first access and cached, so a graph that is sparse at region level stays cheap
until someone asks for a dense view.

All matrices are ``[destination, source]`` (rows post, columns pre).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple

import torch

from .validation import Spec

__all__ = ["Layout", "Block", "Connection", "CompiledCircuit"]

Space = Literal["h", "i", "o"]


@dataclass(frozen=True)
class Layout:
    """Where each named region, input and output lives in the unit vectors.

    Unit order is region order; inside a region excitatory units come first.

    Examples
    --------
    >>> lay = Layout(regions=("a", "b"), inputs=("u",), outputs=("y",),
    ...              sizes={"a": 3, "b": 2, "u": 1, "y": 1}, n_exc={"a": 2, "b": 0},
    ...              parents={"ab": ("a", "b")})
    >>> lay.slice("b"), lay.slice("ab"), lay.hidden_size
    (slice(3, 5, None), slice(0, 5, None), 5)
    """

    regions: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    sizes: dict[str, int]
    n_exc: dict[str, int] = field(default_factory=dict)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def _offsets(self) -> dict[str, tuple[Space, int, int]]:
        out: dict[str, tuple[Space, int, int]] = {}
        for space, names in (("h", self.regions), ("i", self.inputs), ("o", self.outputs)):
            start = 0
            for n in names:
                out[n] = (space, start, start + self.sizes[n])  # type: ignore[assignment]
                start += self.sizes[n]
        return out

    @property
    def hidden_size(self) -> int:
        return sum(self.sizes[n] for n in self.regions)

    @property
    def input_size(self) -> int:
        return sum(self.sizes[n] for n in self.inputs)

    @property
    def output_size(self) -> int:
        return sum(self.sizes[n] for n in self.outputs)

    @property
    def names(self) -> tuple[str, ...]:
        """Every node name: regions, then inputs, then outputs."""
        return self.regions + self.inputs + self.outputs

    def expand(self, *names: str) -> list[str]:
        """Replace parent (group) names by their children, keeping order; check names."""
        out: list[str] = []
        for n in names:
            if n in self.parents:
                out.extend(self.parents[n])
            elif n in self._offsets:
                out.append(n)
            else:
                known = ", ".join(repr(x) for x in (*self.names, *self.parents))
                raise KeyError(f"unknown region {n!r}; known names: {known}")
        return out

    def space(self, name: str) -> Space:
        """``"h"`` for recurrent regions (and groups of them), ``"i"`` inputs, ``"o"`` outputs."""
        spaces = {self._offsets[n][0] for n in self.expand(name)}
        if len(spaces) != 1:
            raise ValueError(f"group {name!r} mixes recurrent regions, inputs and outputs")
        return spaces.pop()

    def indices(self, *names: str) -> torch.Tensor:
        """Unit indices (``int64``) of the named regions or groups, in the order given."""
        parts = []
        for n in self.expand(*names):
            _, a, b = self._offsets[n]
            parts.append(torch.arange(a, b))
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)

    def slice(self, name: str) -> slice:
        """The slice of one region, input, output, or group of contiguous children."""
        parts = [self._offsets[n] for n in self.expand(name)]
        spaces = {p[0] for p in parts}
        parts.sort(key=lambda p: p[1])
        contiguous = all(parts[k][2] == parts[k + 1][1] for k in range(len(parts) - 1))
        if len(spaces) != 1 or not contiguous:
            raise ValueError(
                f"the units of group {name!r} are not contiguous; use layout.indices(name)"
            )
        return slice(parts[0][1], parts[-1][2])

    def exc_slice(self, name: str) -> slice:
        """The excitatory units of one region (empty for unconstrained or inhibitory ones)."""
        s = self.slice(name)
        return slice(s.start, s.start + self.n_exc.get(name, 0))

    @cached_property
    def unit_region(self) -> torch.Tensor:
        """``[H]`` index into :attr:`regions` of each recurrent unit."""
        return torch.repeat_interleave(
            torch.arange(len(self.regions)),
            torch.tensor([self.sizes[n] for n in self.regions], dtype=torch.long),
        )


@dataclass(frozen=True, eq=False)
class Block:
    """One projection's compiled block, ``[size(dst), size(src)]``."""

    src: str
    dst: str
    family: Literal["hh", "ih", "ho"]
    weight: torch.Tensor
    mask: torch.Tensor
    zero: bool = False
    trainable: bool = True
    #: Conduction delay in ms (the edge's ``delay``).
    delay: float = 0.0


class Connection(NamedTuple):
    """View of one projection: effective weight, mask, ``[dst, src]`` sign matrix, zero flag."""

    weight: torch.Tensor
    mask: torch.Tensor
    sign: torch.Tensor
    zero: bool


_FAMILY_SPACES = {"hh": ("h", "h"), "ih": ("i", "h"), "ho": ("h", "o")}


@dataclass(frozen=True, eq=False)
class CompiledCircuit:
    """Tensors compiled from a circuit graph (CPU, ``float32`` unless asked otherwise).

    Attributes
    ----------
    layout : Layout
    blocks : dict of (src, dst) to Block
        Every declared edge, including ``zero`` ones (all-zero mask).
    sign_h : Tensor, shape (H,)
        ``+1`` excitatory, ``-1`` inhibitory, ``0`` unconstrained.
    sign_i : Tensor, shape (I,)
        The same for input channels.
    bias, x0 : Tensor, shape (H,)
    tau : Tensor, shape (H,)
        NaN where the model's default applies.
    learnable_bias : Tensor, shape (H,), bool
    learn_tau : Tensor, shape (H,), bool, or None
        Units whose time constants are trained (their region's ``learn_tau``);
        ``None`` when no region learns them (all False).
    tau_min, tau_max : Tensor, shape (H,), or None
        Bounds of learned time constants (ms), NaN where unset (the model's ``dt``,
        no upper bound); ``None`` when no region learns them (all unset).
    seed : int
        The seed the masks and weights were drawn from (drawn fresh if none was given).
    spec : Spec
        The checked graph it was compiled from.
    spectral_radius : float or None
        The ``spectral_radius=`` it was compiled with, if any (needed to rebuild it).
    """

    layout: Layout
    blocks: dict[tuple[str, str], Block]
    sign_h: torch.Tensor
    sign_i: torch.Tensor
    bias: torch.Tensor
    x0: torch.Tensor
    tau: torch.Tensor
    learnable_bias: torch.Tensor
    seed: int
    spec: Spec
    spectral_radius: float | None = None
    learn_tau: torch.Tensor | None = None
    tau_min: torch.Tensor | None = None
    tau_max: torch.Tensor | None = None

    @property
    def graph(self) -> dict[str, Any]:
        """Graph-level attributes (model defaults such as ``dt``, ``tau``, ``activation``)."""
        return self.spec.graph

    @property
    def dtype(self) -> torch.dtype:
        return self.bias.dtype

    def _sizes(self, family: str) -> tuple[int, int]:
        dims = {
            "h": self.layout.hidden_size,
            "i": self.layout.input_size,
            "o": self.layout.output_size,
        }
        src, dst = _FAMILY_SPACES[family]
        return dims[dst], dims[src]

    def _assemble(self, family: str, what: str) -> torch.Tensor:
        shape = self._sizes(family)
        if what == "weight":
            out = torch.zeros(shape, dtype=self.dtype)
        else:
            # A trainable matrix is True where no frozen block says otherwise.
            out = torch.full(shape, what == "trainable", dtype=torch.bool)
        for b in self.family_blocks(family):
            rows, cols = self.layout.slice(b.dst), self.layout.slice(b.src)
            if what == "trainable":
                out[rows, cols] = b.trainable and not b.zero
            else:
                out[rows, cols] = getattr(b, what)
        return out

    def family_blocks(self, family: str) -> Iterable[Block]:
        return (b for b in self.blocks.values() if b.family == family)

    weight_hh = cached_property(lambda self: self._assemble("hh", "weight"))
    mask_hh = cached_property(lambda self: self._assemble("hh", "mask"))
    trainable_hh = cached_property(lambda self: self._assemble("hh", "trainable"))
    weight_ih = cached_property(lambda self: self._assemble("ih", "weight"))
    mask_ih = cached_property(lambda self: self._assemble("ih", "mask"))
    trainable_ih = cached_property(lambda self: self._assemble("ih", "trainable"))
    weight_ho = cached_property(lambda self: self._assemble("ho", "weight"))
    mask_ho = cached_property(lambda self: self._assemble("ho", "mask"))
    trainable_ho = cached_property(lambda self: self._assemble("ho", "trainable"))

    def connection(self, src: str, dst: str) -> Connection:
        """The compiled block of the projection ``src -> dst``.

        Raises
        ------
        KeyError
            If the graph declares no such edge.
        """
        try:
            b = self.blocks[(src, dst)]
        except KeyError:
            raise KeyError(f"the circuit declares no edge ({src!r}, {dst!r})") from None
        space = self.layout.space(src)
        src_sign = (
            (self.sign_h if space == "h" else self.sign_i)[self.layout.slice(src)]
            if space != "o"
            else torch.zeros(self.layout.sizes[src])
        )
        if b.family == "ho":
            src_sign = torch.zeros_like(src_sign)  # readouts are unconstrained decoders
        sign = src_sign.to(self.dtype).expand(b.weight.shape[0], -1)
        return Connection(b.weight, b.mask, sign, b.zero)

    def __repr__(self) -> str:
        lay = self.layout
        return (
            f"CompiledCircuit(regions={len(lay.regions)}, hidden={lay.hidden_size}, "
            f"inputs={lay.input_size}, outputs={lay.output_size}, "
            f"projections={len(self.blocks)}, seed={self.seed})"
        )
