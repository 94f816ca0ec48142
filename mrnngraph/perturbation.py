"""Lesions, clamps and stimulation by region name, undone exactly on exit.

:func:`perturb` is a context manager around a :class:`~mrnngraph.MultiRegionRNN`:
inside the ``with`` block every forward pass runs with regions silenced or
clamped, projections cut and external currents added; on exit (also when the
block raises) the model is exactly as it was, so ``state_dict()`` is
bit-identical. Nothing is copied or retrained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from .model import Perturbation

__all__ = ["perturb"]

StimulusValue = float | torch.Tensor | Callable[[torch.Tensor], torch.Tensor]
Window = tuple[int, int | None]

_FAMILY_WEIGHT = {"hh": "weight_hh", "ih": "weight_ih", "ho": "weight_ho"}


@contextmanager
def perturb(
    model,
    *,
    silence: Sequence[str] | str = (),
    cut: Sequence[tuple[str, str]] = (),
    clamp: Mapping[str, float | torch.Tensor] | None = None,
    stimulate: Mapping[str, StimulusValue] | None = None,
    window: Window | Mapping[str, Window] | None = None,
) -> Iterator[Any]:
    """Run ``model`` with regions silenced or clamped, projections cut, regions stimulated.

    Every name may be a region, or a ``parent`` group standing for its children.
    All arguments are checked before anything changes.

    Parameters
    ----------
    model : MultiRegionRNN or Ensemble
        An :class:`~mrnngraph.Ensemble` is perturbed member by member as
        ``perturb(ens[k], ...)`` perturbs member ``k``: the same silences, clamps and
        stimuli in every member, and a cut edge cut in every member that declares it
        (a KeyError only when none does). Its forward then gives each member's
        perturbed run with the member dimension first, and :func:`~mrnngraph.currents`
        reads the cut weights and the stimulus. ``ens[k]`` inside the block is the
        unperturbed member (a copy built from its circuit).
    silence : str or sequence of str
        Recurrent regions whose rates are held at 0 at every step (also at ``t = 0``).
    cut : sequence of (src, dst)
        Projections removed: their effective weights read 0 inside the block, for
        recurrent, input and readout edges alike (frozen projections included). A pair
        of group names cuts every declared edge between their children.
    clamp : dict of str to float or Tensor
        Rates held at a value: a number for every unit, or a tensor of shape
        ``(size,)`` (the group's units in layout order for a group).
    stimulate : dict of str to number, Tensor or callable
        A current added to the drive of each unit of the region (it enters the update
        like an input current: ``x += alpha * stimulus``). A number or a ``(size,)``
        tensor is constant; a ``(T, size)`` tensor varies over steps; a tensor in the
        model's batch layout, ``(B, T, size)`` (``(T, B, size)`` if not ``batch_first``),
        varies over trials too; a callable ``fn(t)`` gets the step indices ``t`` (a
        float tensor of shape ``(T,)``) and returns ``(T,)`` or ``(T, size)``.
    window : (t0, t1) or dict of str to (t0, t1), optional
        Steps at which the stimulation is on: ``t0 <= t < t1`` (``t1=None``: to the end),
        where step ``t`` is the update that produces ``states[:, t]``. One window for
        every stimulus, or one per stimulated name; default: always on.

    Yields
    ------
    MultiRegionRNN or Ensemble
        The same model object.

    Raises
    ------
    KeyError
        For an unknown name (the message lists the known ones), or a cut edge that
        the circuit does not declare (the message lists the declared edges).
    ValueError
        For an input or output where a recurrent region is needed, a unit both
        silenced and clamped, a wrong shape or window.
    TypeError
        For values of the wrong type.

    Notes
    -----
    A cut asks each weight's parametrization for edited copies of its masks
    (``Constrained.masked`` / ``BlockSparse.masked``), which puts the original tensors
    back on exit rather than editing them in place, so a graph recorded inside the
    block can still be back-propagated after it. Perturbations nest: an inner block
    adds to the outer one. State noise and the optimizer are unaffected. Cut weights
    receive zero gradient inside the block.

    With conduction delays (edge ``delay``), a silenced or clamped region is held at its
    value before the trial too, so targets that hear it late see the clamp from the first
    step, not its initial rate; a stimulus is a current into the stimulated units
    themselves and is not delayed; a cut edge carries nothing at any delay.

    Examples
    --------
    >>> import torch
    >>> from mrnngraph import MultiRegionRNN
    >>> from mrnngraph.presets.examples import cbgt_loop
    >>> model = MultiRegionRNN.from_graph(cbgt_loop(scale=0.25), seed=0)
    >>> u = torch.rand(2, 20, 3)
    >>> with torch.no_grad(), perturb(model, silence=["stn"], cut=[("gpe", "snr")],
    ...                               clamp={"thal": 0.0}):
    ...     out = model(u)
    >>> float(model.region_activity(out.rates, "stn").abs().max())
    0.0
    >>> model.perturbation is None
    True
    """
    from .ensemble import Ensemble

    if isinstance(model, Ensemble):
        from ._ensemble_perturb import perturb_ensemble

        with perturb_ensemble(model, silence, cut, clamp, stimulate, window) as ens:
            yield ens
        return
    new = _unit_plan(model, silence, clamp, stimulate, window)
    cuts = _cut_blocks(model, cut)

    previous = model.perturbation
    with ExitStack() as masks:
        try:
            # Each parametrization swaps in its own edited buffers and puts them back.
            for con, rects in _cut_rectangles(model, cuts):
                masks.enter_context(con.masked(*rects))
            model.perturbation = _combine(previous, new)
            yield model
        finally:
            model.perturbation = previous


# --------------------------------------------------------------------------- checks
def _unit_plan(
    model,
    silence: Sequence[str] | str,
    clamp: Mapping[str, float | torch.Tensor] | None,
    stimulate: Mapping[str, StimulusValue] | None,
    window: Window | Mapping[str, Window] | None,
) -> Perturbation:
    """The clamps (silence included) and the stimulus drive of one model's ``H`` units,
    checked (``model`` needs ``layout``, ``hidden_size``, ``batch_first`` and ``alpha``
    for the dtype and device: an :class:`~mrnngraph.Ensemble` gives one member's)."""
    H = model.hidden_size
    ref = model.alpha
    mask = torch.zeros(H, dtype=torch.bool, device=ref.device)
    value = torch.zeros(H, dtype=ref.dtype, device=ref.device)
    silence = [silence] if isinstance(silence, str) else list(silence)
    silenced = _recurrent_indices(model, silence, "silence")
    if silenced.numel():
        mask[silenced.to(ref.device)] = True
    if clamp is not None:
        if not isinstance(clamp, Mapping):
            raise TypeError(f"clamp must be a dict of region -> value; got {type(clamp).__name__}")
        values = []
        for name, v in clamp.items():
            idx = _recurrent_indices(model, [name], "clamp").to(ref.device)
            if bool(mask[idx].any()):
                raise ValueError(f"clamp: {name!r} overlaps a silenced or already clamped region")
            mask[idx] = True
            values.append((idx, _clamp_value(name, v, idx.numel(), ref)))
        if values:
            # Built out of place so that a clamp value that requires grad keeps its graph.
            parts = torch.zeros(H, dtype=ref.dtype, device=ref.device)
            for idx, v in values:
                parts = parts.index_put((idx,), v)
            value = parts
    stim = _stimuli(model, stimulate, window)
    return Perturbation(
        clamp=(mask, value) if bool(mask.any()) else None,
        drive=_drive_fn(model, stim) if stim else None,
    )


def _recurrent_indices(model, names: Sequence[str], what: str) -> torch.Tensor:
    lay = model.layout
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"{what}: region names must be str; got {n!r}")
    leaves = lay.expand(*names)
    for leaf in leaves:
        if lay.space(leaf) != "h":
            raise ValueError(
                f"{what}: {leaf!r} is not a recurrent region; recurrent regions: "
                f"{', '.join(repr(r) for r in lay.regions)}"
            )
    return lay.indices(*leaves)


def _clamp_value(name: str, v: Any, n: int, ref: torch.Tensor) -> torch.Tensor:
    if isinstance(v, bool) or not isinstance(v, (int, float, torch.Tensor)):
        raise TypeError(f"clamp[{name!r}] must be a number or a tensor; got {type(v).__name__}")
    if isinstance(v, torch.Tensor):
        if v.dim() == 0:
            return v.to(ref).expand(n)
        if v.shape != (n,):
            raise ValueError(
                f"clamp[{name!r}] must be a number or a tensor of shape ({n},); "
                f"got {tuple(v.shape)}"
            )
        return v.to(ref)
    if not math.isfinite(v):
        raise ValueError(f"clamp[{name!r}] must be finite; got {v!r}")
    return torch.full((n,), float(v), dtype=ref.dtype, device=ref.device)


def _window(name: str, w: Any) -> Window:
    ok = (
        isinstance(w, (tuple, list))
        and len(w) == 2
        and isinstance(w[0], int)
        and not isinstance(w[0], bool)
        and (w[1] is None or (isinstance(w[1], int) and not isinstance(w[1], bool)))
    )
    if not ok:
        raise TypeError(
            f"window for {name!r} must be a pair of ints (t0, t1) (t1 may be None); got {w!r}"
        )
    t0, t1 = w
    if t0 < 0 or (t1 is not None and t1 <= t0):
        raise ValueError(f"window for {name!r} must satisfy 0 <= t0 < t1; got {tuple(w)!r}")
    return t0, t1


def _stimuli(
    model,
    stimulate: Mapping[str, StimulusValue] | None,
    window: Window | Mapping[str, Window] | None,
) -> list[tuple[str, torch.Tensor, StimulusValue, Window | None]]:
    if stimulate is None:
        if window is not None:
            raise ValueError("window= applies to stimulate=; no stimulation was given")
        return []
    if not isinstance(stimulate, Mapping):
        raise TypeError(
            f"stimulate must be a dict of region -> value; got {type(stimulate).__name__}"
        )
    if isinstance(window, Mapping):
        extra = sorted(set(window) - set(stimulate))
        if extra:
            raise KeyError(
                f"window names {extra} are not stimulated; stimulated: {sorted(stimulate)}"
            )
    out = []
    for name, v in stimulate.items():
        idx = _recurrent_indices(model, [name], "stimulate")
        if not (
            callable(v)
            or isinstance(v, torch.Tensor)
            or (isinstance(v, (int, float)) and not isinstance(v, bool))
        ):
            raise TypeError(
                f"stimulate[{name!r}] must be a number, a tensor or a callable; "
                f"got {type(v).__name__}"
            )
        if (
            isinstance(v, torch.Tensor)
            and v.dim() > 0
            and (v.dim() > 3 or v.shape[-1] != idx.numel())
        ):
            raise ValueError(
                f"stimulate[{name!r}] must end in the region size {idx.numel()}; "
                f"got shape {tuple(v.shape)}"
            )
        w = window.get(name) if isinstance(window, Mapping) else window
        out.append((name, idx, v, None if w is None else _window(name, w)))
    return out


def _cut_blocks(model, cut: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    lay = model.layout
    blocks = model.circuit.blocks
    if isinstance(cut, tuple) and len(cut) == 2 and all(isinstance(c, str) for c in cut):
        cut = [cut]
    out: dict[str, list[tuple[str, str]]] = {}
    for pair in cut:
        if not (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and all(isinstance(c, str) for c in pair)
        ):
            raise TypeError(f"cut must be a list of (src, dst) name pairs; got {pair!r}")
        src, dst = pair
        srcs, dsts = lay.expand(src), lay.expand(dst)
        found = [(s, d) for s in srcs for d in dsts if (s, d) in blocks]
        if not found:
            declared = ", ".join(repr(e) for e in blocks if e[0] in srcs or e[1] in dsts)
            raise KeyError(
                f"cut: the circuit declares no edge ({src!r}, {dst!r}); "
                f"edges from {src!r} or into {dst!r}: {declared or 'none'}"
            )
        for s, d in found:
            out.setdefault(blocks[(s, d)].family, []).append((s, d))
    return out


def _cut_rectangles(
    model, cuts: dict[str, list[tuple[str, str]]]
) -> list[tuple[torch.nn.Module, list[tuple[slice, slice]]]]:
    """``(parametrization, [(rows, cols), ...])`` of the weight of each family cut."""
    lay = model.layout
    return [
        (
            model.parametrizations[_FAMILY_WEIGHT[fam]][0],
            [(lay.slice(d), lay.slice(s)) for s, d in pairs],
        )
        for fam, pairs in cuts.items()
    ]


# --------------------------------------------------------------------------- run time
def _stimulus_tensor(
    model, name: str, n: int, v: StimulusValue, T: int, B: int, like: torch.Tensor
) -> torch.Tensor:
    """One stimulus as a tensor broadcastable to ``(T, B, n)`` (time first)."""
    if callable(v) and not isinstance(v, torch.Tensor):
        t = torch.arange(T, dtype=like.dtype, device=like.device)
        s = torch.as_tensor(v(t), dtype=like.dtype, device=like.device)
        if s.dim() == 1 and s.shape[0] == T:
            s = s.unsqueeze(-1)
        if s.dim() != 2 or s.shape[0] != T or s.shape[1] not in (1, n):
            raise ValueError(
                f"stimulate[{name!r}] returned shape {tuple(s.shape)}; "
                f"expected ({T},) or ({T}, {n})"
            )
        return s.unsqueeze(1)
    s = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    if s.dim() <= 1:
        return s
    if s.dim() == 2:
        if s.shape[0] != T:
            raise ValueError(f"stimulate[{name!r}] has {s.shape[0]} steps; the run has {T}")
        return s.unsqueeze(1)
    s = s.transpose(0, 1) if model.batch_first else s
    if s.shape[:2] != (T, B):
        lay = f"({B}, {T}, {n})" if model.batch_first else f"({T}, {B}, {n})"
        raise ValueError(
            f"stimulate[{name!r}] must have shape {lay} for this run; got {tuple(v.shape)}"
        )  # type: ignore[union-attr]
    return s


def _drive_fn(model, stim: list) -> Callable[[int, int, torch.Tensor], torch.Tensor]:
    H = model.hidden_size

    def drive(T: int, B: int, like: torch.Tensor) -> torch.Tensor:
        total = like.new_zeros(T, B, H)
        for name, idx, v, w in stim:
            s = _stimulus_tensor(model, name, idx.numel(), v, T, B, like)
            s = torch.broadcast_to(s, (T, B, idx.numel()))
            if w is not None:
                t = torch.arange(T, device=like.device)
                on = (t >= w[0]) & (t < (T if w[1] is None else w[1]))
                s = s * on.to(like.dtype)[:, None, None]
            total = total.index_add(2, idx.to(like.device), s)
        return total

    return drive


def _combine(old: Perturbation | None, new: Perturbation) -> Perturbation:
    if old is None:
        return new
    clamp = old.clamp
    if new.clamp is not None:
        if clamp is None:
            clamp = new.clamp
        else:
            m_new, v_new = new.clamp
            clamp = (clamp[0] | m_new, torch.where(m_new, v_new, clamp[1]))
    drive = old.drive
    if new.drive is not None:
        drive = new.drive if drive is None else _sum_drives(drive, new.drive)
    return Perturbation(clamp=clamp, drive=drive)


def _sum_drives(a: Callable, b: Callable) -> Callable:
    return lambda T, B, like: a(T, B, like) + b(T, B, like)
