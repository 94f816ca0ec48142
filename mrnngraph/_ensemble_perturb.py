""":func:`mrnngraph.perturb` of an :class:`~mrnngraph.Ensemble`: every member perturbed
as ``perturb(ens[k], ...)`` perturbs it, all at once, undone exactly on exit.

Silences, clamps and stimuli are checked once on the shared layout and tiled over the
members' ``N * H`` units (the ensemble's forward applies them as a member's does); a
cut edits each member's rectangles of copies of the stacked masks
(:meth:`~mrnngraph._ensemble_constrained.StackedConstrained.masked_members`), swapped
in and put back on exit, so the ensemble's own tensors are never written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from typing import Any

import torch

from .model import Perturbation
from .perturbation import _FAMILY_WEIGHT, _combine, _cut_blocks, _unit_plan

__all__ = ["perturb_ensemble", "member_perturbation"]


@contextmanager
def perturb_ensemble(
    ens: Any,
    silence: Sequence[str] | str,
    cut: Sequence[tuple[str, str]],
    clamp: Mapping[str, Any] | None,
    stimulate: Mapping[str, Any] | None,
    window: Any,
) -> Iterator[Any]:
    """The ensemble branch of :func:`mrnngraph.perturb` (its arguments, checked the same
    way). A cut edge is cut in every member that declares it; a KeyError only when no
    member does."""
    one = _unit_plan(ens, silence, clamp, stimulate, window)
    cuts = _member_cuts(ens, cut)
    new = _tiled(one, ens.n_members, ens.hidden_size)
    previous = ens.perturbation
    with ExitStack() as masks:
        try:
            for fam, rects in cuts.items():
                con = ens.parametrizations[_FAMILY_WEIGHT[fam]][0]
                masks.enter_context(con.masked_members(rects))
            ens.perturbation = _combine(previous, new)
            yield ens
        finally:
            ens.perturbation = previous


def member_perturbation(ens: Any, k: int) -> Perturbation | None:
    """Member ``k``'s share of the ensemble's active perturbation: what
    ``perturb(ens[k], ...)`` would set on the member (None outside a block)."""
    p = ens.perturbation
    if p is None:
        return None
    H = ens.hidden_size
    units = slice(k * H, (k + 1) * H)
    clamp = None if p.clamp is None else (p.clamp[0][units], p.clamp[1][units])
    drive = None
    if p.drive is not None:
        whole = p.drive

        def drive(T: int, B: int, like: torch.Tensor) -> torch.Tensor:
            d = whole(T, B, like)
            return torch.broadcast_to(d, (*d.shape[:-1], ens.n_members * H))[..., units]

    return Perturbation(clamp=clamp, drive=drive)


def _tiled(p: Perturbation, n: int, h: int) -> Perturbation:
    """One member's perturbation (``H`` units) repeated over ``n`` members."""
    clamp = None if p.clamp is None else (p.clamp[0].repeat(n), p.clamp[1].repeat(n))
    drive: Callable[[int, int, torch.Tensor], torch.Tensor] | None = None
    if p.drive is not None:
        one = p.drive

        def drive(T: int, B: int, like: torch.Tensor) -> torch.Tensor:
            d = torch.broadcast_to(one(T, B, like), (T, B, h))
            return d.unsqueeze(2).expand(T, B, n, h).reshape(T, B, n * h)

    return Perturbation(clamp=clamp, drive=drive)


def _member_cuts(ens: Any, cut: Any) -> dict[str, dict[int, list[tuple[slice, slice]]]]:
    """``family -> {member: [(rows, cols), ...]}`` of the edges cut in each member."""
    lay = ens.layout
    if isinstance(cut, tuple) and len(cut) == 2 and all(isinstance(c, str) for c in cut):
        cut = [cut]
    views = [SimpleNamespace(layout=lay, circuit=c) for c in ens.circuits]
    out: dict[str, dict[int, list[tuple[slice, slice]]]] = {}
    for pair in cut:
        if isinstance(pair, (tuple, list)) and len(pair) == 2:
            for name in pair:  # an unknown name: the layout's own KeyError, members aside
                if isinstance(name, str):
                    lay.expand(name)
        found, missing = [], []
        for k, view in enumerate(views):
            try:
                found.append((k, _cut_blocks(view, [pair])))
            except KeyError as err:
                missing.append(err.args[0])
        if not found:
            raise KeyError(f"{missing[0]} (in none of the {len(views)} members)")
        for k, families in found:
            for fam, pairs in families.items():
                rects = out.setdefault(fam, {}).setdefault(k, [])
                rects += [(lay.slice(d), lay.slice(s)) for s, d in pairs]
    return out
