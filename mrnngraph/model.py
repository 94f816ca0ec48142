"""A trainable multi-region recurrent network built from a compiled circuit.

Dale's law, connectivity masks and frozen projections are a
:mod:`torch.nn.utils.parametrize` parametrization of each weight, so they hold
after every optimizer step by construction:

    W_eff = where(trainable, mask * (sign != 0 ? sign * |W| : W), W_frozen)

Masks, signs and frozen values are buffers, never parameters: optimizers and
weight decay never see them. Reading ``model.weight_hh`` gives the effective
weights; the raw parameter is ``model.parametrizations.weight_hh.original``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import networkx as nx
import torch
from torch import nn
from torch.nn.utils import parametrize

from . import schema
from ._constrained import Constrained, _BiasParam, same_bits, signed_columns
from ._delay_model import ModelDelays
from ._params import NON_NEGATIVE, POSITIVE, Optional, check
from ._scan import SCAN_METHODS, leaky_scan
from ._sparse import (
    BlockSparse,
    choose_sparse,
)
from ._tau import graph_with_tau, learned_alpha, time_constants
from .circuit import CompiledCircuit
from .compilation import compile as compile_graph

__all__ = ["MultiRegionRNN", "RNNOutput", "Constrained", "Perturbation"]

#: The model options a graph may also set (``G.graph``), where neither the graph nor a
#: keyword argument gives them.
MODEL_DEFAULTS: dict[str, Any] = {"dt": 10.0, "tau": 100.0, "activation": "relu"}


def __getattr__(name: str) -> Any:
    if name == "DEFAULTS":  # the old name, for one release
        warnings.warn(
            "mrnngraph.model.DEFAULTS is deprecated; use MODEL_DEFAULTS",
            DeprecationWarning,
            stacklevel=2,
        )
        return MODEL_DEFAULTS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RNNOutput(NamedTuple):
    """What :meth:`MultiRegionRNN.forward` returns (batch-first unless the model says not).

    Attributes
    ----------
    outputs : Tensor, shape (B, T, O)
    rates : Tensor, shape (B, T, H)
        ``f(states)``.
    states : Tensor, shape (B, T, H)
        Pre-activation states ``x[1..T]`` (the state after each input step).
    """

    outputs: torch.Tensor
    rates: torch.Tensor
    states: torch.Tensor


class Perturbation(NamedTuple):
    """Run-time changes applied inside :meth:`MultiRegionRNN.forward` (see ``mrnngraph.perturb``).

    Attributes
    ----------
    clamp : (Tensor, Tensor) or None
        ``(mask [H] bool, value [H])``: rates of masked units held at ``value``.
    drive : callable or None
        ``drive(T, B, like) -> Tensor`` broadcastable to ``(T, B, H)`` (time first),
        added to the external drive of every unit.
    """

    clamp: tuple[torch.Tensor, torch.Tensor] | None = None
    drive: Any = None


class MultiRegionRNN(nn.Module):
    r"""Leaky, continuous-time RNN whose structure comes from a circuit graph.

    Per unit, with :math:`\alpha = dt/\tau` (or the ``alpha`` given):

    .. math::
        x_{t+1} = x_t + \alpha(-x_t + W_{hh} h_t + W_{ih}(u_t + \eta^u_t) + b + \eta^x_t),
        \quad h_t = f(x_t), \quad y_t = W_{ho} h_{t+1} + b_o

    with noise :math:`\eta = \sqrt{2/\alpha}\,\sigma\,\mathcal{N}(0, 1)`, i.e. the state
    receives :math:`\sqrt{2\alpha}\,\sigma` per step (mRNNTorch's scaling).

    An edge with a conduction ``delay`` of ``d = delay / dt`` steps (a whole number, else
    a ValueError naming the edge) carries its source's rates (or inputs) from ``d`` steps
    earlier: before the trial a region sits at :math:`f(x_0)` (its clamp value under
    :func:`mrnngraph.perturb`) and inputs are 0. Every execution path applies the delays
    (see ``mrnngraph._delays``); a circuit without delays runs exactly as before.

    Parameters
    ----------
    circuit : CompiledCircuit
        From :func:`mrnngraph.compile`.
    dt, tau : float, optional
        Step and default time constant (ms). Default: the graph's ``dt``/``tau``
        attributes, else 10 and 100. Regions with their own ``tau`` keep it.
    activation : str, optional
        ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"softplus"``, ``"retanh"`` or ``"linear"``.
    noise_std, input_noise_std : float
        Standard deviation of the state and input noise; 0 (off) by default.
    batch_first : bool
        Tensors are ``(B, T, ·)`` if True (default), else ``(T, B, ·)``.
    alpha : float, optional
        Use this integration factor for every unit instead of ``dt / tau``.
        ``alpha=1`` gives the discrete-time (Elman-style) network
        :math:`x_{t+1} = W_{hh} h_t + W_{ih} u_t + b`.
    sparse : bool, optional
        Keep the recurrent weights as the circuit's declared blocks and run the
        recurrent term block by block (see :mod:`mrnngraph._sparse`), never forming
        the dense ``[H, H]`` matrix in the forward pass. ``None`` (default) chooses
        block-sparse where it measured faster (``mrnngraph._sparse.choose_sparse``:
        at least 256 recurrent units, declared blocks covering at most 40 % of
        ``[H, H]``, of 1,024 entries on average and at most four shapes). Results
        equal the dense path's up to float rounding.
        In sparse mode ``model.weight_hh`` is still the dense effective matrix,
        assembled when read; the trainable tensor is the flat vector
        ``model.parametrizations.weight_hh.original`` of block entries.
    scan : {"auto", "fused", "autograd"}
        How the time loop is differentiated (see :mod:`mrnngraph._scan`).
        ``"fused"`` (what ``"auto"`` picks) is one autograd node over the sequence
        whose backward walks time once and forms the weight gradient as one GEMM
        over all steps; on CUDA its loops are replayed from CUDA graphs. It
        supports double backward by recomputation. ``"autograd"`` records the plain
        loop (needed for :mod:`torch.func` transforms).
    readout_bias : bool
        Give the outputs a learnable bias :math:`b_o` (the parameter ``bias_ho``,
        shape ``(O,)``, zeros at initialisation), as ``torch.nn.Linear`` has. On by
        default: without it a readout from units that fall silent answers exactly
        zero whatever the task. ``False`` leaves it out (``y_t = W_{ho} h_t``).
    readout_sign : bool
        Dale's law on the readout too (on by default): the readout weights from an
        excitatory unit are >= 0, from an inhibitory unit <= 0, as its other outgoing
        weights are; units without a sign read out freely. The initial weights are the
        circuit's with the unit's sign (``sign * |w|``). With it, a task's answer has to
        be *activity* of the readout area, not its silence: together with
        :func:`mrnngraph.train` reading the "fixate" output from its bias alone, this
        is what trains the three-area hierarchy of docs/training.md ("The recipe").
        ``False`` gives the unconstrained readout of earlier versions (checkpoints
        written before this option load with it).
    device, dtype : optional
        Where and in which floating type to create the parameters.

    Examples
    --------
    >>> import networkx as nx, torch
    >>> G = nx.DiGraph()
    >>> G.add_node("u", kind="input", size=2)
    >>> G.add_node("ctx", size=20, exc_frac=0.8)
    >>> G.add_node("y", kind="output", size=1)
    >>> G.add_edges_from([("u", "ctx"), ("ctx", "ctx"), ("ctx", "y")])
    >>> model = MultiRegionRNN.from_graph(G, seed=0)
    >>> out = model(torch.randn(3, 50, 2))
    >>> out.outputs.shape, out.rates.shape
    (torch.Size([3, 50, 1]), torch.Size([3, 50, 20]))
    """

    def __init__(
        self,
        circuit: CompiledCircuit,
        *,
        dt: float | None = None,
        tau: float | None = None,
        activation: str | None = None,
        noise_std: float = 0.0,
        input_noise_std: float = 0.0,
        batch_first: bool = True,
        alpha: float | None = None,
        sparse: bool | None = None,
        scan: str = "auto",
        readout_bias: bool = True,
        readout_sign: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        if not isinstance(circuit, CompiledCircuit):
            raise TypeError(
                "MultiRegionRNN needs a CompiledCircuit (from mrnngraph.compilation); "
                f"got {type(circuit).__name__}. Use MultiRegionRNN.from_graph(G)."
            )
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        graph = circuit.graph
        self.circuit = circuit
        self.layout = circuit.layout
        self.dt = check("dt", _pick("dt", dt, graph), POSITIVE)
        self.tau = check("tau", _pick("tau", tau, graph), POSITIVE)
        self.activation = str(_pick("activation", activation, graph))
        self.noise_std = check("noise_std", noise_std, NON_NEGATIVE)
        self.input_noise_std = check("input_noise_std", input_noise_std, NON_NEGATIVE)
        self.batch_first = bool(batch_first)
        self.alpha_override = check("alpha", alpha, Optional(_ALPHA))
        if scan not in SCAN_METHODS:
            raise ValueError(
                f"scan must be one of {', '.join(map(repr, SCAN_METHODS))}; got {scan!r}"
            )
        if sparse is not None and not isinstance(sparse, bool):
            raise TypeError(f"sparse must be a bool or None; got {type(sparse).__name__}")
        if not isinstance(readout_bias, bool):
            raise TypeError(f"readout_bias must be a bool; got {type(readout_bias).__name__}")
        if not isinstance(readout_sign, bool):
            raise TypeError(f"readout_sign must be a bool; got {type(readout_sign).__name__}")
        self.scan = scan
        self.readout_bias = readout_bias
        self.readout_sign = readout_sign
        self.sparse = choose_sparse(circuit) if sparse is None else sparse
        #: Conduction delays in steps of dt (None: no edge has one; see mrnngraph._delays).
        self._delays = ModelDelays.build(circuit, self.dt)
        #: Set by :func:`mrnngraph.perturb` only: rate clamps and extra drive at run time.
        self.perturbation: Perturbation | None = None
        _check_options(self)

        H, I, O = (self.layout.hidden_size, self.layout.input_size, self.layout.output_size)
        self.hidden_size, self.input_size, self.output_size = H, I, O
        tau_h = torch.where(torch.isnan(circuit.tau), torch.tensor(self.tau), circuit.tau)
        alpha_h = (
            torch.full((H,), self.alpha_override)
            if self.alpha_override is not None
            else self.dt / tau_h
        )
        too_fast = alpha_h > 1
        if bool(too_fast.any()):
            names = sorted({self.layout.regions[int(i)] for i in self.layout.unit_region[too_fast]})
            raise ValueError(
                f"dt / tau must be <= 1 for a stable leaky update; regions {names} "
                f"have tau < dt = {self.dt:g}"
            )
        # learn_tau regions: alpha is parametrized by per-unit raw time constants
        # (mrnngraph._tau); every other unit's alpha stays the constant dt / tau.
        learned = learned_alpha(circuit, alpha_h.to(**factory), self.dt)
        if learned is None:
            self.register_buffer("alpha", alpha_h.to(**factory))
        else:
            self.alpha = nn.Parameter(alpha_h.to(**factory))
            parametrize.register_parametrization(self, "alpha", learned, unsafe=True)
        self.register_buffer("x0", circuit.x0.to(**factory, copy=True))

        for name, sign in (
            ("weight_hh", circuit.sign_h),
            ("weight_ih", circuit.sign_i),
            ("weight_ho", circuit.sign_h if readout_sign else None),
        ):
            fam = name[-2:]
            if fam == "hh" and self.sparse:
                # Declared blocks only: circuit.mask_hh / weight_hh (dense) are never asked for.
                steps = getattr(self._delays, "steps", None)  # conduction delays, if any
                blocks = BlockSparse(circuit, delays=steps, **factory)
                self.register_parameter(
                    name, nn.Parameter(blocks.initial_original(circuit).to(**factory))
                )
                parametrize.register_parametrization(self, name, blocks, unsafe=True)
                continue
            # Registration passes the current value through right_inverse, which refuses
            # anything the constraint cannot give: start from the circuit's weights.
            initial = self._initial_weight(name)
            self.register_parameter(name, nn.Parameter(initial.to(**factory, copy=True)))
            trainable = getattr(circuit, f"trainable_{fam}")
            frozen_needed = not bool(trainable.all())
            has_sign = sign is not None and bool((sign != 0).any())
            parametrize.register_parametrization(
                self,
                name,
                Constrained(
                    getattr(circuit, f"mask_{fam}").to(device, copy=True),
                    sign.to(**factory, copy=True) if has_sign else None,
                    initial.to(**factory, copy=True) if frozen_needed else None,
                    trainable.to(device, copy=True) if frozen_needed else None,
                    name=name,
                ),
            )

        if bool(circuit.learnable_bias.any()):
            self.bias = nn.Parameter(torch.empty(H, **factory))
            parametrize.register_parametrization(
                self,
                "bias",
                _BiasParam(
                    circuit.learnable_bias.to(device, copy=True),
                    circuit.bias.to(**factory, copy=True),
                ),
            )
        else:
            self.register_buffer("bias", torch.empty(H, **factory))
        #: Readout bias ``b_o`` (``(O,)``), or None with ``readout_bias=False``.
        self.bias_ho: nn.Parameter | None
        self.register_parameter(
            "bias_ho", nn.Parameter(torch.empty(O, **factory)) if readout_bias else None
        )
        self.register_load_state_dict_pre_hook(_exchange_recurrent_state)
        self.reset_parameters()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_graph(
        cls,
        G: nx.DiGraph,
        *,
        seed: int | None = None,
        order=None,
        spectral_radius: float | None = None,
        **kwargs: Any,
    ) -> MultiRegionRNN:
        """Compile ``G`` (see :func:`mrnngraph.compile`) and build the model from it."""
        circuit = compile_graph(G, seed=seed, order=order, spectral_radius=spectral_radius)
        return cls(circuit, **kwargs)

    def _initial_weight(self, name: str) -> torch.Tensor:
        """The circuit's initial ``name`` (dense), the readout's signed by its source units
        under ``readout_sign`` (``sign * |w|``; compile's tensors stay as they are)."""
        w = getattr(self.circuit, name)
        if name != "weight_ho" or not self.readout_sign:
            return w
        return signed_columns(w, self.circuit.sign_h)

    def reset_parameters(self) -> None:
        """Set every weight and bias back to the circuit's initial values (readout bias 0)."""
        with torch.no_grad():
            for name in ("weight_hh", "weight_ih", "weight_ho"):
                con = self._constraint(name)
                if isinstance(con, BlockSparse):
                    # Block entries straight from the circuit: no dense [H, H] anywhere.
                    self.parametrizations[name].original.copy_(con.initial_original(self.circuit))
                    continue
                ref = getattr(self, name)
                setattr(self, name, self._initial_weight(name).to(ref, copy=True))
            if parametrize.is_parametrized(self, "bias"):
                self.bias = self.circuit.bias.to(self.bias, copy=True)
            else:
                self.bias.copy_(self.circuit.bias)
            if self.bias_ho is not None:
                self.bias_ho.zero_()
            if parametrize.is_parametrized(self, "alpha"):
                self.alpha = self.parametrizations.alpha[0].fixed  # learned tau: back to tau

    # ------------------------------------------------------------------ structure
    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this model from its circuit (device and
        dtype aside): ``MultiRegionRNN(model.circuit, **model.options())``."""
        return {
            "dt": self.dt,
            "tau": self.tau,
            "activation": self.activation,
            "noise_std": self.noise_std,
            "input_noise_std": self.input_noise_std,
            "batch_first": self.batch_first,
            "alpha": self.alpha_override,
            "sparse": self.sparse,
            "scan": self.scan,
            "readout_bias": self.readout_bias,
            "readout_sign": self.readout_sign,
        }

    def time_constants(self) -> dict[str, torch.Tensor]:
        """Each recurrent region's per-unit time constants in ms (``dt / alpha``):
        trained ones for ``learn_tau`` regions, the fixed ``tau`` elsewhere.

        Returns
        -------
        dict of str to Tensor
            Region -> ``(size,)`` float64 CPU tensor, detached.

        Examples
        --------
        >>> import networkx as nx, torch
        >>> G = nx.DiGraph()
        >>> G.add_node("u", kind="input", size=1)
        >>> G.add_node("a", size=3, tau=50.0, learn_tau=True)
        >>> G.add_node("b", size=2)
        >>> G.add_edges_from([("u", "a"), ("a", "b")])
        >>> model = MultiRegionRNN.from_graph(G, seed=0)
        >>> {k: v.round().tolist() for k, v in model.time_constants().items()}
        {'a': [50.0, 50.0, 50.0], 'b': [100.0, 100.0]}
        """
        return time_constants(self)

    def to_graph(self, graph: nx.DiGraph | None = None) -> nx.DiGraph:
        """The circuit graph with the time constants in effect written in.

        Each ``learn_tau`` region's ``tau`` becomes its trained values in ms (one
        float where all its units agree, else one per unit); the graph's ``dt``,
        ``tau`` and ``activation`` are set to the model's, so ``compile`` with the
        circuit's seed and ``MultiRegionRNN`` give a model whose ``alpha`` is this
        one's. Weights are not part of a graph (:func:`mrnngraph.save_model` keeps
        them); write the result to a file with :func:`mrnngraph.save`.

        Parameters
        ----------
        graph : networkx.DiGraph, optional
            The graph the circuit was compiled from, kept as given otherwise (labels,
            positions); default: rebuilt from ``self.circuit.spec``.

        Raises
        ------
        ValueError
            If the model was built with ``alpha=`` (not a graph attribute).
        """
        return graph_with_tau(self, graph)

    #: Buffers that are learned state, not structure: :func:`mrnngraph.fit` learns the
    #: latent units' initial state into ``x0``. Checkpoints require them finite only.
    LEARNED_BUFFERS = ("x0",)

    def structural_state(self) -> dict[str, torch.Tensor]:
        """The ``state_dict`` entries that come from the circuit, not from training.

        Masks, signs, frozen weights, ``alpha`` and fixed biases, as this model's
        circuit and options give them (CPU tensors, freshly built: whatever the
        model's own buffers now hold). :func:`mrnngraph.load_model` refuses a
        checkpoint whose buffers differ from these. Parameters and
        :attr:`LEARNED_BUFFERS` (``x0``) are left out.
        """
        # parametrize swaps in a generated subclass; build from the class it derives from.
        cls = type(self).__mro__[1] if parametrize.is_parametrized(self) else type(self)
        fresh = cls(self.circuit, **self.options(), dtype=self.alpha.dtype)
        params = {name for name, _ in fresh.named_parameters()}
        return {
            k: v
            for k, v in fresh.state_dict().items()
            if k not in params and k not in self.LEARNED_BUFFERS
        }

    def structure_mismatches(self) -> list[str]:
        """Names of the buffers whose values differ, bit for bit, from
        :meth:`structural_state`: empty unless a buffer was edited (a tampered
        checkpoint loaded with ``load_state_dict``, or inside :func:`mrnngraph.perturb`,
        which edits masks on purpose)."""
        own = self.state_dict()
        return [
            k
            for k, v in self.structural_state().items()
            if k not in own or not same_bits(own[k].detach().cpu(), v)
        ]

    # ------------------------------------------------------------------ buffers by name
    def _constraint(self, name: str) -> Constrained:
        return self.parametrizations[name][0]  # type: ignore[index,return-value]

    @property
    def mask_hh(self) -> torch.Tensor:
        return self._constraint("weight_hh").mask

    @property
    def mask_ih(self) -> torch.Tensor:
        return self._constraint("weight_ih").mask

    @property
    def mask_ho(self) -> torch.Tensor:
        return self._constraint("weight_ho").mask

    @property
    def sign_h(self) -> torch.Tensor:
        """``[H]`` sign of each recurrent unit's outgoing weights (+1 E, -1 I, 0 free)."""
        s = self._constraint("weight_hh").sign
        return s if s is not None else torch.zeros(self.hidden_size, device=self.alpha.device)

    @property
    def sign_i(self) -> torch.Tensor:
        s = self._constraint("weight_ih").sign
        return s if s is not None else torch.zeros(self.input_size, device=self.alpha.device)

    # ------------------------------------------------------------------ forward
    def _noise(
        self,
        shape: tuple[int, ...],
        scale: torch.Tensor | float,
        like: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        z = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        return z * scale

    def forward(
        self,
        inputs: torch.Tensor,
        x0: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> RNNOutput:
        """Run the network over a sequence of inputs.

        Parameters
        ----------
        inputs : Tensor, shape (B, T, I), or (T, B, I) if not ``batch_first``, or (T, I)
            External input to the input nodes, in their order and unit order.
        x0 : Tensor, shape (B, H) or (H,), optional
            Initial pre-activation state; default: the regions' ``init``.
        generator : torch.Generator, optional
            Source of the noise (only used when ``noise_std`` or ``input_noise_std`` > 0).

        Returns
        -------
        RNNOutput
            ``(outputs, rates, states)`` in the same layout as ``inputs``.
        """
        if inputs.dim() not in (2, 3) or inputs.shape[-1] != self.input_size:
            raise ValueError(
                f"inputs must have shape (B, T, {self.input_size})"
                f"{'' if self.batch_first else ' time first'} or (T, {self.input_size}); "
                f"got {tuple(inputs.shape)}"
            )
        unbatched = inputs.dim() == 2
        u = (
            inputs.unsqueeze(1)
            if unbatched
            else (inputs.transpose(0, 1) if self.batch_first else inputs)
        )
        T, B, _ = u.shape
        u = u.to(self.alpha.dtype)
        if x0 is None:
            x0 = self.x0.expand(B, -1)
        elif x0.shape not in ((B, self.hidden_size), (self.hidden_size,)):
            raise ValueError(
                f"x0 must have shape ({B}, {self.hidden_size}) or "
                f"({self.hidden_size},); got {tuple(x0.shape)}"
            )
        else:
            x0 = x0.expand(B, -1)

        with parametrize.cached():
            if self.sparse:
                w_hh = self._constraint("weight_hh").blocks(
                    self.parametrizations.weight_hh.original
                )
            else:
                w_hh = self.weight_hh
            w_ih, w_ho, bias = self.weight_ih, self.weight_ho, self.bias
            if self.input_noise_std > 0:
                # Input channels have no time constant of their own: the model-level
                # alpha (dt / tau, or the alpha given) sets their noise scale.
                a = self.alpha_override or self.dt / self.tau
                u = u + self._noise(
                    u.shape, math.sqrt(2.0 / a) * self.input_noise_std, u, generator
                )
            # One pass writes the contiguous (T, B, H) drive the scan reads step by step;
            # a row-major copy of w_ih.t() makes its gradient the fast u^T @ grad GEMM.
            if self._delays is None:
                drive = torch.addmm(bias, u.reshape(T * B, -1), w_ih.t().contiguous())
                drive = drive.view(T, B, -1)
            else:  # input edges with delays read earlier inputs
                drive = self._delays.drive(u, w_ih, bias)
            if self.noise_std > 0:
                scale = torch.sqrt(2.0 / self.alpha) * self.noise_std
                drive = drive + self._noise(drive.shape, scale, drive, generator)
            p = self.perturbation
            clamp = None
            if p is not None:
                if p.drive is not None:
                    drive = drive + p.drive(T, B, drive)
                clamp = p.clamp
            states, rates = leaky_scan(
                w_hh,
                drive,
                x0,
                self.alpha,
                self.activation,
                clamp,
                delays=None if self._delays is None or self.sparse else self._delays.hh,
                method=self.scan,
                return_rates=True,
            )
            if self._delays is not None and self._delays.ho is not None:
                h = (rates, x0, clamp, self.activation)
                outputs = self._delays.readout(*h, w_ho, self.bias_ho)
            elif self.bias_ho is None:
                outputs = torch.matmul(rates, w_ho.t())
            else:
                outputs = torch.nn.functional.linear(rates, w_ho, self.bias_ho)

        def back(t: torch.Tensor) -> torch.Tensor:
            if unbatched:
                return t.squeeze(1)
            return t.transpose(0, 1) if self.batch_first else t

        return RNNOutput(back(outputs), back(rates), back(states))

    # ------------------------------------------------------------------ regions by name
    def region_activity(self, rates: torch.Tensor, *names: str) -> torch.Tensor:
        """The units of the named regions (or groups), concatenated, from ``(..., H)``."""
        idx = self.layout.indices(*names).to(rates.device)
        for n in names:
            if self.layout.space(n) != "h":
                raise ValueError(f"{n!r} is not a recurrent region")
        return rates.index_select(-1, idx)

    def projection(self, src: str, dst: str) -> torch.Tensor:
        """Effective weights ``[size(dst), size(src)]`` from ``src`` to ``dst`` (names, groups)."""
        spaces = (self.layout.space(src), self.layout.space(dst))
        weight = {("h", "h"): "weight_hh", ("i", "h"): "weight_ih", ("h", "o"): "weight_ho"}.get(
            spaces
        )
        if weight is None:
            raise ValueError(f"no weight matrix goes from {src!r} to {dst!r}")
        w = getattr(self, weight)
        rows = self.layout.indices(dst).to(w.device)
        cols = self.layout.indices(src).to(w.device)
        return w.index_select(0, rows).index_select(1, cols)

    def weight_subset(self, *names: str) -> torch.Tensor:
        """Effective recurrent weights among the named regions, ``[n, n]`` in the order given."""
        for n in names:
            if self.layout.space(n) != "h":
                raise ValueError(f"{n!r} is not a recurrent region")
        idx = self.layout.indices(*names).to(self.alpha.device)
        return self.weight_hh.index_select(0, idx).index_select(1, idx)

    def extra_repr(self) -> str:
        lay = self.layout
        parts = [
            f"regions={len(lay.regions)}",
            f"hidden_size={self.hidden_size}",
            f"input_size={self.input_size}",
            f"output_size={self.output_size}",
        ]
        if self.alpha_override is not None:
            parts.append(f"alpha={self.alpha_override:g}")
        else:
            parts += [f"dt={self.dt:g}", f"tau={self.tau:g}"]
        parts.append(f"activation={self.activation!r}")
        if parametrize.is_parametrized(self, "alpha"):
            parts.append(f"learn_tau={sorted(set(self.parametrizations.alpha[0].regions))}")
        if self.noise_std:
            parts.append(f"noise_std={self.noise_std:g}")
        if self.input_noise_std:
            parts.append(f"input_noise_std={self.input_noise_std:g}")
        if not self.batch_first:
            parts.append("batch_first=False")
        if self.sparse:
            parts.append("sparse=True")
        if self.scan != "auto":
            parts.append(f"scan={self.scan!r}")
        if not self.readout_bias:
            parts.append("readout_bias=False")
        if not self.readout_sign:
            parts.append("readout_sign=False")
        return ", ".join(parts)


def _exchange_recurrent_state(
    module: MultiRegionRNN,
    state_dict: dict,
    prefix: str,
    local_metadata: dict,
    strict: bool,
    missing_keys: list,
    unexpected_keys: list,
    error_msgs: list,
) -> None:
    """Load pre-hook: a dense model's ``weight_hh`` entries into a block-sparse model and
    the other way round, so both paths of one graph exchange state dicts."""
    p = prefix + "parametrizations.weight_hh."
    original = state_dict.get(p + "original")
    if not isinstance(original, torch.Tensor):
        return
    con = module._constraint("weight_hh")
    if isinstance(con, BlockSparse) and original.dim() == 2:
        problem = con.state_from_dense(state_dict, p)
    elif isinstance(con, Constrained) and original.dim() == 1:
        layout = BlockSparse(module.circuit, dtype=original.dtype)
        problem = layout.state_to_dense(state_dict, p, con.frozen, con.trainable)
    else:
        return
    if problem is not None:
        src, dst = ("dense", "block-sparse") if original.dim() == 2 else ("block", "dense")
        error_msgs.append(
            f"cannot load the {src} recurrent weights into this {dst} model: {problem}"
        )


def _pick(name: str, given: Any, graph: dict) -> Any:
    if given is not None:
        return given
    return graph.get(name, MODEL_DEFAULTS[name])


#: ``alpha=``: an integration factor in (0, 1].
_ALPHA = schema.Interval(0.0, 1.0, closed=(False, True))


def _check_options(m: MultiRegionRNN) -> None:
    """What the single-value checks in ``__init__`` (``_params.check``) cannot see."""
    schema.activation(m.activation)  # ValueError naming the ones there are
    learn = m.circuit.learn_tau
    if m.alpha_override is not None and learn is not None and bool(learn.any()):
        names = sorted({m.layout.regions[int(r)] for r in m.layout.unit_region[learn]})
        raise ValueError(
            f"alpha= sets one fixed alpha for every unit, but regions {names} have "
            "learn_tau=True (their alpha = dt / tau is trained); build the model "
            "without alpha= (give dt and tau), or set learn_tau=False"
        )
