"""Many variants of one circuit as one batched model: :class:`Ensemble`.

``N`` members share the region layout (the same regions, inputs and outputs, with the
same sizes, in the same order); their masks, signs, weights, frozen pathways, biases
and time constants may all differ. Every weight is stacked with a leading member
dimension (``weight_hh`` is ``[N, H, H]``) and constrained, member by member, by the
same parametrization :class:`mrnngraph.model.MultiRegionRNN` uses (Dale's law, masks
and frozen projections hold after any optimizer step). The time loop runs all members
as one recurrence of ``N * H`` units through :func:`mrnngraph._scan.leaky_scan`, with
one batched matmul per step (:class:`mrnngraph._ensemble_operator.EnsembleOperator`), or,
for circuits sparse at region level, as the members' declared blocks
(:mod:`mrnngraph._ensemble_blocks`).

``ens[k]`` gives member ``k`` as a standalone :class:`~mrnngraph.model.MultiRegionRNN`;
:meth:`Ensemble.from_models` stacks trained models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.utils import parametrize

from ._constrained import _BiasParam
from ._ensemble_blocks import EnsembleBlocks, choose_sparse_ensemble
from ._ensemble_constrained import StackedConstrained, stack_constraints
from ._ensemble_delays import (
    delayed_drive,
    delayed_readout,
    has_input_delays,
    has_output_delays,
)
from ._ensemble_linear import shared_drive, stacked_readout
from ._ensemble_operator import EnsembleOperator
from ._ensemble_tau import member_raw_alpha, stack_time_constants
from ._scan import OperatorWeights, leaky_scan
from ._sparse import BlockSparse
from .circuit import CompiledCircuit
from .model import MultiRegionRNN, Perturbation

__all__ = ["Ensemble", "EnsembleOutput", "StackedConstrained"]

_FAMILIES = ("weight_hh", "weight_ih", "weight_ho")
#: The parameters a member may have; anything else is a feature the ensemble does not
#: stack yet and is refused by name.
_KNOWN_PARAMETERS = frozenset(
    [f"parametrizations.{n}.original" for n in (*_FAMILIES, "bias", "alpha")] + ["bias_ho"]
)


class EnsembleOutput(NamedTuple):
    """What :meth:`Ensemble.forward` returns: :class:`~mrnngraph.model.RNNOutput` with a
    leading member dimension (batch-first unless the ensemble says not).

    Attributes
    ----------
    outputs : Tensor, shape (N, B, T, O)
    rates : Tensor, shape (N, B, T, H)
    states : Tensor, shape (N, B, T, H)
    """

    outputs: torch.Tensor
    rates: torch.Tensor
    states: torch.Tensor


class Ensemble(nn.Module):
    r"""``N`` multi-region RNNs of one region layout, trained and run as one module.

    Each member is the network :class:`~mrnngraph.model.MultiRegionRNN` builds from
    its circuit with ``model_options``; the ensemble holds their parameters stacked
    with a leading member dimension and runs their time loops as one batched scan.

    Parameters
    ----------
    circuits : sequence of CompiledCircuit
        One per member (e.g. ``[mg.compile(G, seed=s) for s in range(16)]``, or
        variants of ``G``). They must share the region layout: the same regions,
        inputs and outputs with the same sizes, in the same order. Masks, signs,
        weights, frozen and ``zero`` projections, biases and time constants may differ;
        a member with ``learn_tau`` regions trains its own time constants, within its
        own bounds, as its :class:`~mrnngraph.model.MultiRegionRNN` would
        (:mod:`mrnngraph._ensemble_tau`); conduction delays may differ too (members
        with recurrent delays run block-sparse, each block at its delay).
    **model_options
        Keyword arguments of :class:`~mrnngraph.model.MultiRegionRNN` (``dt``, ``tau``,
        ``activation``, ``noise_std``, ``scan``, ``device``, ``dtype``, ...), the same
        for every member. ``sparse`` applies to the models ``ens[k]`` returns and to
        the ensemble's own recurrence: ``True`` runs every member's declared blocks as
        one block-sparse recurrence (:mod:`mrnngraph._ensemble_blocks`), ``False`` one
        batched matmul of the ``[N, H, H]`` stack per step, ``None`` (default) block-sparse
        where it measured faster: every member has at least 512 units and a circuit a
        model runs block-sparse (:func:`~mrnngraph._sparse.choose_sparse`: blocks
        covering at most 40 % of ``[H, H]``, ...). Either way the parameters are the
        ``[N, H, H]`` stacks, and results agree up to float rounding.

    Raises
    ------
    TypeError
        If a member is not a CompiledCircuit, or an option is unknown.
    ValueError
        If a member's layout differs from member 0's (the message says which member
        and how), or an option is invalid.

    Examples
    --------
    >>> import mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> circuits = [mg.compile(two_area_ei(size=10), seed=s) for s in range(4)]
    >>> ens = Ensemble(circuits, dt=20.0, tau=100.0)
    >>> out = ens(torch.randn(8, 30, ens.input_size))          # (B, T, I), shared
    >>> out.outputs.shape[:3], out.rates.shape
    (torch.Size([4, 8, 30]), torch.Size([4, 8, 30, 20]))
    >>> model_2 = ens[2]                                        # a MultiRegionRNN
    >>> torch.allclose(model_2(torch.zeros(1, 5, ens.input_size)).outputs,
    ...                ens(torch.zeros(1, 5, ens.input_size)).outputs[2], atol=1e-6)
    True
    """

    def __init__(self, circuits: Sequence[CompiledCircuit], **model_options: Any):
        super().__init__()
        circuits = _check_circuits(circuits)
        self._sparse_option = model_options.pop("sparse", None)
        if self._sparse_option is not None and not isinstance(self._sparse_option, bool):
            raise TypeError(
                f"sparse must be a bool or None; got {type(self._sparse_option).__name__}"
            )
        device = model_options.pop("device", None)
        dtype = model_options.pop("dtype", None)
        members = [
            MultiRegionRNN(c, **model_options, sparse=False, device=device, dtype=dtype)
            for c in circuits
        ]
        _check_members(members, "circuits")
        first = members[0]
        self.circuits: tuple[CompiledCircuit, ...] = circuits
        self.layout = first.layout
        self.n_members = len(members)
        self.hidden_size, self.input_size, self.output_size = (
            first.hidden_size,
            first.input_size,
            first.output_size,
        )
        self._member_options = {k: v for k, v in first.options().items() if k != "sparse"}
        #: Whether the recurrence runs block-sparse (see the ``sparse`` option).
        self.sparse = (
            choose_sparse_ensemble(circuits) if self._sparse_option is None else self._sparse_option
        )
        #: Each member's conduction delays (None: it has none; see _ensemble_delays).
        self._member_delays = [m._delays for m in members]
        recurrent_delays = any(d is not None and d.hh is not None for d in self._member_delays)
        self._blocks = (
            EnsembleBlocks(circuits, dt=first.dt if recurrent_delays else None)
            if self.sparse or recurrent_delays
            else None
        )
        #: Set by :func:`mrnngraph.perturb` only: clamps and drive of all ``N * H`` units.
        self.perturbation: Perturbation | None = None
        for k, v in self._member_options.items():
            setattr(self, "alpha_override" if k == "alpha" else k, v)
        self._build(members)

    # ------------------------------------------------------------------ construction
    def _build(self, members: list[MultiRegionRNN]) -> None:
        """Register the stacked parameters, parametrizations and buffers of ``members``."""
        learned = stack_time_constants(members)
        if learned is None:
            self.register_buffer("alpha", torch.stack([m.alpha for m in members]))
        else:  # learn_tau: each member's own time constants, [N, H] raw values
            self.alpha = nn.Parameter(learned.fixed.clone())
            parametrize.register_parametrization(self, "alpha", learned, unsafe=True)
        self.register_buffer("x0", torch.stack([m.x0 for m in members]))
        for name in _FAMILIES:
            cons = [m._constraint(name) for m in members]
            effective = torch.stack([getattr(m, name).detach() for m in members])
            self.register_parameter(name, nn.Parameter(effective.clone()))
            parametrize.register_parametrization(self, name, stack_constraints(cons, name))
        if any(parametrize.is_parametrized(m, "bias") for m in members):
            learnable = torch.stack(
                [
                    m.parametrizations.bias[0].learnable
                    if parametrize.is_parametrized(m, "bias")
                    else torch.zeros_like(m.bias, dtype=torch.bool)
                    for m in members
                ]
            )
            fixed = torch.stack([m.bias.detach() for m in members])
            self.bias = nn.Parameter(fixed.clone())
            parametrize.register_parametrization(self, "bias", _BiasParam(learnable, fixed))
        else:
            self.register_buffer("bias", torch.stack([m.bias for m in members]))
        self.bias_ho: nn.Parameter | None
        self.register_parameter(
            "bias_ho",
            nn.Parameter(torch.stack([m.bias_ho.detach() for m in members]))
            if self.readout_bias
            else None,
        )
        self._adopt(members)

    def _adopt(self, members: list[MultiRegionRNN]) -> None:
        """Copy the members' raw parameters and learned buffers into the stacks (the raw
        tensors, not the effective ones: training goes on exactly as in each member)."""
        with torch.no_grad():
            for name in _FAMILIES:
                raw = self.parametrizations[name].original
                for k, m in enumerate(members):
                    raw[k].copy_(m.parametrizations[name].original)
            for k, m in enumerate(members):
                self.x0[k].copy_(m.x0)
                if parametrize.is_parametrized(self, "bias"):
                    own = parametrize.is_parametrized(m, "bias")
                    self.parametrizations.bias.original[k].copy_(
                        m.parametrizations.bias.original if own else m.bias
                    )
                else:
                    self.bias[k].copy_(m.bias)
                if self.bias_ho is not None:
                    self.bias_ho[k].copy_(m.bias_ho)
                own = member_raw_alpha(m)
                if parametrize.is_parametrized(self, "alpha"):
                    raw_alpha = self.parametrizations.alpha.original
                    raw_alpha[k].zero_()  # units that do not learn: never read
                    if own is not None:
                        raw_alpha[k, own[0]] = own[1]

    @classmethod
    def from_models(cls, models: Sequence[MultiRegionRNN]) -> Ensemble:
        """Stack trained models into one ensemble (their weights, biases and ``x0``).

        The models must share the region layout and :meth:`~MultiRegionRNN.options`,
        dtype and device, and hold the structure their circuits give (no buffer edited,
        no :func:`mrnngraph.perturb` active).

        Raises
        ------
        TypeError
            If an item is not a MultiRegionRNN.
        ValueError
            Naming the model (``models[k]``) whose layout, options, dtype, device or
            structure differs.

        Examples
        --------
        >>> from mrnngraph.presets.examples import two_area_ei
        >>> models = [MultiRegionRNN.from_graph(two_area_ei(size=10), seed=s)
        ...           for s in range(3)]
        >>> ens = Ensemble.from_models(models)
        >>> torch.equal(ens[1].weight_hh, models[1].weight_hh)
        True
        """
        models = list(models)
        for k, m in enumerate(models):
            if not isinstance(m, MultiRegionRNN):
                raise TypeError(f"models[{k}] must be a MultiRegionRNN; got {type(m).__name__}")
        if not models:
            raise ValueError("an Ensemble needs at least one member; got no models")
        first = models[0]
        options = first.options()
        for k, m in enumerate(models[1:], 1):
            for key, value in m.options().items():
                if value != options[key]:
                    raise ValueError(
                        f"models[{k}] has {key}={value!r}, models[0] has {key}={options[key]!r}; "
                        "an ensemble's members share their options"
                    )
            for what, a, b in (
                ("dtype", m.alpha.dtype, first.alpha.dtype),
                ("device", m.alpha.device, first.alpha.device),
            ):
                if a != b:
                    raise ValueError(f"models[{k}] has {what} {a}, models[0] has {b}")
        _check_members(models, "models")
        for k, m in enumerate(models):
            if m.perturbation is not None:
                raise ValueError(f"models[{k}] is inside mrnngraph.perturb; stack it outside")
            edited = m.structure_mismatches()
            if edited:
                raise ValueError(
                    f"models[{k}]'s buffers {edited} differ from what its circuit gives; "
                    "an ensemble member is rebuilt from its circuit"
                )
        factory = {"device": first.alpha.device, "dtype": first.alpha.dtype}
        ens = cls([m.circuit for m in models], **options, **factory)
        ens._adopt([_dense(m, factory) for m in models])
        observations = [getattr(m, "observation", None) for m in models]
        if all(o is not None for o in observations):
            ens.observations = tuple(observations)
        return ens

    def reset_parameters(self) -> None:
        """Set every member's weights and biases back to its circuit's initial values."""
        factory = {"device": self.alpha.device, "dtype": self.alpha.dtype}
        options = {**self._member_options, "sparse": False}
        self._adopt([MultiRegionRNN(c, **options, **factory) for c in self.circuits])

    # ------------------------------------------------------------------ members
    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this ensemble from :attr:`circuits` (device
        and dtype aside): ``Ensemble(ens.circuits, **ens.options())``."""
        return {**self._member_options, "sparse": self._sparse_option}

    def __len__(self) -> int:
        return self.n_members

    def __getitem__(self, k: int) -> MultiRegionRNN:
        """Member ``k`` as a standalone :class:`MultiRegionRNN` (a copy: training it
        leaves the ensemble as it is), with member ``k``'s raw parameters, biases and
        ``x0``, built from its circuit with :meth:`options`."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"an ensemble is indexed by an int member; got {type(k).__name__}")
        if not -self.n_members <= k < self.n_members:
            raise IndexError(f"member {k} out of range for an ensemble of {self.n_members}")
        k %= self.n_members
        model = MultiRegionRNN(
            self.circuits[k], **self.options(), device=self.alpha.device, dtype=self.alpha.dtype
        )
        with torch.no_grad():
            for name in _FAMILIES:
                raw = self.parametrizations[name].original
                target = model.parametrizations[name].original
                con = model._constraint(name)
                value = con.original_from_dense(raw[k]) if isinstance(con, BlockSparse) else raw[k]
                target.copy_(value)
                target.requires_grad_(raw.requires_grad)
            ours = (
                self.parametrizations.bias.original
                if parametrize.is_parametrized(self, "bias")
                else self.bias
            )
            if parametrize.is_parametrized(model, "bias"):
                model.parametrizations.bias.original.copy_(ours[k])
            else:
                model.bias.copy_(self.bias[k])
            model.x0.copy_(self.x0[k])
            if model.bias_ho is not None and self.bias_ho is not None:
                model.bias_ho.copy_(self.bias_ho[k])
                model.bias_ho.requires_grad_(self.bias_ho.requires_grad)
            own = member_raw_alpha(model)
            if own is not None:
                ours = self.parametrizations.alpha.original
                own[1].copy_(ours[k, own[0]])
                own[1].requires_grad_(ours.requires_grad)
        observations = getattr(self, "observations", None)
        if observations is not None:
            model.observation = observations[k]
        return model.train(self.training)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        inputs: torch.Tensor,
        x0: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> EnsembleOutput:
        """Run every member over its inputs, all in one batched scan.

        Parameters
        ----------
        inputs : Tensor, shape (B, T, I) or (N, B, T, I)
            The same inputs for every member, or one sequence per member; time first
            (``(T, B, I)``, ``(N, T, B, I)``) if not ``batch_first``.
        x0 : Tensor, shape (N, B, H), (N, H) or (H,), optional
            Initial pre-activation states; default: each member's regions' ``init``.
        generator : torch.Generator, optional
            Source of the noise (only used when ``noise_std`` or ``input_noise_std`` > 0);
            every member draws its own.

        Returns
        -------
        EnsembleOutput
            ``(outputs, rates, states)``, each with a leading member dimension and the
            layout of ``inputs`` after it.
        """
        N, H, I = self.n_members, self.hidden_size, self.input_size
        order = "(B, T, I)" if self.batch_first else "(T, B, I)"
        if (
            inputs.dim() not in (3, 4)
            or inputs.shape[-1] != I
            or (inputs.dim() == 4 and inputs.shape[0] != N)
        ):
            raise ValueError(
                f"inputs must have shape {order.replace('I', str(I))} (the same for every "
                f"member) or (N={N}, {order[1:].replace('I', str(I))}; got {tuple(inputs.shape)}"
            )
        u = inputs.to(self.alpha.dtype)
        if self.batch_first:
            u = u.transpose(-3, -2)
        T, B = u.shape[-3], u.shape[-2]
        x0 = self._initial_state(x0, B)
        with parametrize.cached():
            w_hh, w_ih, w_ho, bias = self.weight_hh, self.weight_ih, self.weight_ho, self.bias
            if self.input_noise_std > 0:
                a = self.alpha_override or self.dt / self.tau
                u = u.expand(N, T, B, I)
                u = u + _noise(u, math.sqrt(2.0 / a) * self.input_noise_std, generator)
            if has_input_delays(self._member_delays):
                drive = delayed_drive(self._member_delays, u, w_ih, bias)
            elif u.dim() == 3:
                # Shared inputs: one GEMM drives every member, straight into (T, B, N*H).
                drive = shared_drive(u.reshape(T * B, I), w_ih, bias).view(T, B, N * H)
            else:
                per = torch.baddbmm(
                    bias[:, None, :], u.reshape(N, T * B, I), w_ih.transpose(1, 2).contiguous()
                )
                drive = per.view(N, T, B, H).permute(1, 2, 0, 3).reshape(T, B, N * H)
            alpha = self.alpha.reshape(-1)
            if self.noise_std > 0:
                drive = drive + _noise(drive, torch.sqrt(2.0 / alpha) * self.noise_std, generator)
            p, clamp = self.perturbation, None
            if p is not None:  # mrnngraph.perturb: (N * H) clamps and drive
                if p.drive is not None:
                    drive = drive + p.drive(T, B, drive)
                clamp = p.clamp
            if self._blocks is not None:
                recurrent = self._blocks.weights(w_hh)
            else:
                recurrent = OperatorWeights(EnsembleOperator(N, H), (w_hh,))
            states, rates = leaky_scan(
                recurrent,
                drive,
                x0,
                alpha,
                self.activation,
                clamp,
                method=self.scan,
                return_rates=True,
            )
            if has_output_delays(self._member_delays):
                h = (rates, x0, clamp, self.activation, w_ho, self.bias_ho)
                outputs = delayed_readout(self._member_delays, *h)
            else:
                outputs = stacked_readout(rates, w_ho, self.bias_ho)
        outputs = outputs.reshape(N, T, B, -1)
        # (T, B, N, H) -> (N, T, B, H); batch first -> (N, B, T, H).
        rates = rates.view(T, B, N, H).permute(2, 0, 1, 3)
        states = states.view(T, B, N, H).permute(2, 0, 1, 3)
        if self.batch_first:
            outputs, rates, states = (t.transpose(1, 2) for t in (outputs, rates, states))
        return EnsembleOutput(outputs, rates, states)

    def _initial_state(self, x0: torch.Tensor | None, B: int) -> torch.Tensor:
        """``x0`` as the scan's ``(B, N * H)``."""
        N, H = self.n_members, self.hidden_size
        if x0 is None:
            x = self.x0[:, None, :]
        elif x0.shape in ((N, B, H), (N, H), (H,)):
            x = x0.to(self.alpha.dtype)
            x = x[:, None, :] if x.shape == (N, H) else x
        else:
            raise ValueError(
                f"x0 must have shape ({N}, {B}, {H}), ({N}, {H}) or ({H},); got {tuple(x0.shape)}"
            )
        return x.expand(N, B, H).transpose(0, 1).reshape(B, N * H)

    def extra_repr(self) -> str:
        parts = [
            f"members={self.n_members}",
            f"regions={len(self.layout.regions)}",
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
            learns = self.parametrizations.alpha[0].learn.any(0).cpu()
            regions = self.layout.unit_region[learns].tolist()
            parts.append(f"learn_tau={sorted({self.layout.regions[int(r)] for r in regions})}")
        for name in ("noise_std", "input_noise_std"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name):g}")
        if not self.batch_first:
            parts.append("batch_first=False")
        if self.scan != "auto":
            parts.append(f"scan={self.scan!r}")
        if self.sparse:
            parts.append("sparse=True")
        if not self.readout_bias:
            parts.append("readout_bias=False")
        if not self.readout_sign:
            parts.append("readout_sign=False")
        return ", ".join(parts)


# ---------------------------------------------------------------------------- helpers
def _noise(like: torch.Tensor, scale: torch.Tensor | float, generator) -> torch.Tensor:
    z = torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return z * scale


def _dense(model: MultiRegionRNN, factory: dict[str, Any]) -> MultiRegionRNN:
    """``model`` itself if it runs densely, else a dense copy of it (same state)."""
    if not model.sparse:
        return model
    twin = MultiRegionRNN(model.circuit, **{**model.options(), "sparse": False}, **factory)
    twin.load_state_dict(model.state_dict())
    return twin


def _check_circuits(circuits: Any) -> tuple[CompiledCircuit, ...]:
    if isinstance(circuits, CompiledCircuit) or not isinstance(circuits, Sequence):
        raise TypeError(
            "circuits must be a sequence of CompiledCircuit (one per member); "
            f"got {type(circuits).__name__}"
        )
    for k, c in enumerate(circuits):
        if not isinstance(c, CompiledCircuit):
            raise TypeError(f"circuits[{k}] must be a CompiledCircuit; got {type(c).__name__}")
    if not circuits:
        raise ValueError("an Ensemble needs at least one member; got no circuits")
    return tuple(circuits)


def _check_members(members: Sequence[MultiRegionRNN], what: str) -> None:
    """Members share the layout of member 0 and have no parameter the stack lacks."""
    ref = members[0].layout
    for k, m in enumerate(members):
        for space, names in (
            ("regions", m.layout.regions),
            ("inputs", m.layout.inputs),
            ("outputs", m.layout.outputs),
        ):
            ref_names = getattr(ref, space)
            if names != ref_names:
                raise ValueError(
                    f"{what}[{k}] has {space} {list(names)}, {what}[0] has "
                    f"{list(ref_names)}: ensemble members share the region layout "
                    "(the same names in the same order)"
                )
            for n in names:
                if m.layout.sizes[n] != ref.sizes[n]:
                    raise ValueError(
                        f"{what}[{k}]: {space[:-1]} {n!r} has {m.layout.sizes[n]} units, "
                        f"in {what}[0] {ref.sizes[n]}: ensemble members share the "
                        "region layout (the same sizes)"
                    )
        extra = sorted({n for n, _ in m.named_parameters()} - _KNOWN_PARAMETERS)
        if extra:
            raise NotImplementedError(
                f"{what}[{k}] has parameters {extra} that ensembles do not stack yet"
            )
