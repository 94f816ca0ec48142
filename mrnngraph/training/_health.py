"""Cheap checks for silent failures during training (see ``train(health_every=...)``)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..tasks import Batch
from ._history import History, TrainingWarning

#: Steps of training loss over which a loss that has not moved is reported.
_STALL_WINDOW = 100
#: Relative spread (max - min) / mean of the loss over that window below which it "has not moved".
_STALL_TOL = 1e-4
#: Rates at most this large (in absolute value) everywhere count as a silent region.
_SILENT = 1e-6
#: Rates this close to a bound of a bounded activation everywhere count as saturated.
_SATURATED = 1e-3
_BOUNDED = ("tanh", "sigmoid", "retanh")

_MESSAGES = {
    "silent_region": "the rates of region {region!r} are all zero over a whole batch: it "
    "takes no part in the task (and a relu passes no gradient to its inputs)",
    "saturated_region": "every rate of region {region!r} is within 1e-3 of its activation's "
    "bound over a whole batch (the activation's slope is ~0)",
    "input_independent_outputs": "the outputs are the same for every trial of a batch: they "
    "do not depend on the input",
    "loss_stalled": f"the training loss has not moved over {_STALL_WINDOW} steps "
    f"(relative spread < {_STALL_TOL:g})",
    "no_answers": "no trial of the batch answered: the outputs stay at 'fixate' through "
    "the decision epoch (accuracy 0, however low the loss)",
    "all_fixation_breaks": "every trial of the batch broke fixation (a choice output won "
    "before the go cue; accuracy 0, however low the loss)",
    "silent_at_decision": "region {region!r}, which the readout reads, is silent at every "
    "counted decision step of the batch: there the outputs are the readout bias alone, the "
    "same for every trial, and silent relu units pass no gradient to learn an answer (the "
    "defaults readout_sign and fixation_from_bias make an answer activity instead; state "
    "noise while training, the model's noise_std, also gives silent units a gradient; "
    "docs/training.md, 'The recipe')",
}


class _Health:
    """Cheap checks for silent failures, from tensors the step already has."""

    def __init__(
        self,
        model: nn.Module,
        history: History,
        every: int | None,
        warn: bool,
        member: int | None = None,
        task: Any = None,
    ):
        self.every, self.history, self.warn, self.member = every, history, warn, member
        # Tasks that read an answer per trial (choices after a go cue) can tell a network
        # that never answers, which a falling loss hides (fixation dominates the loss).
        self.answers = getattr(task, "answers", None)
        layout = getattr(model, "layout", None)
        self.regions: list[tuple[str, slice]] = []
        if layout is not None and getattr(layout, "regions", None):
            self.regions = [(r, layout.slice(r)) for r in layout.regions]
        self.activation = str(getattr(model, "activation", ""))
        # Regions the readout reads: if all of them fall silent in the decision epoch, the
        # answer is the readout bias alone (the hierarchy of issue 12, docs/training.md).
        mask_ho = getattr(getattr(model, "circuit", None), "mask_ho", None)
        self.readout: list[tuple[str, slice]] = []
        if isinstance(mask_ho, torch.Tensor) and mask_ho.dim() == 2:
            read = mask_ho.ne(0).any(0)
            self.readout = [
                (r, sl)
                for r, sl in self.regions
                if sl.stop <= read.numel() and bool(read[sl].any())
            ]
        self.events: dict[tuple[str, str | None], dict[str, Any]] = {}
        self.active: list[str] = []

    def due(self, step: int) -> bool:
        return self.every is not None and step % self.every == 0

    def check(self, step: int, out: Any, y: torch.Tensor, batch: Batch) -> None:
        found: list[tuple[str, str | None]] = []
        with torch.no_grad():
            rates = getattr(out, "rates", None)
            if isinstance(rates, torch.Tensor) and self.regions and rates.numel():
                flat = rates.detach().flatten(0, -2)
                peak = flat.abs().amax(0)
                sat = None
                if self.activation == "tanh":
                    sat = (1 - flat.abs()).amax(0)
                elif self.activation == "sigmoid":
                    sat = torch.minimum(flat, 1 - flat).amax(0)
                elif self.activation == "retanh":
                    sat = (1 - flat).amax(0)
                peak_r = [
                    float(peak[sl].max()) if sl.stop > sl.start else math.inf
                    for _, sl in self.regions
                ]
                for (name, sl), p in zip(self.regions, peak_r, strict=True):
                    if p <= _SILENT:
                        found.append(("silent_region", name))
                    elif sat is not None and float(sat[sl].max()) <= _SATURATED:
                        found.append(("saturated_region", name))
                found += self._silent_at_decision(
                    rates.detach(),
                    batch,
                    dict(zip([r for r, _ in self.regions], peak_r, strict=True)),
                )
            counted = (batch.mask > 0).all(0)
            if y.shape[0] > 1 and bool(counted.any()):
                yc, xc = y.detach()[:, counted], batch.inputs[:, counted]
                x_varies = bool((xc - xc[:1]).abs().amax() > 0)
                spread = float((yc - yc[:1]).abs().amax())
                if x_varies and spread <= 1e-6 * (1.0 + float(yc.abs().amax())):
                    found.append(("input_independent_outputs", None))
            if self.answers is not None and step >= _STALL_WINDOW:
                # Not before: an untrained network answering nothing yet is no failure.
                a = self.answers(y.detach(), batch)
                if a.numel() and bool((a == 0).all()):
                    found.append(("no_answers", None))
                elif a.numel() and bool((a == -1).all()):
                    found.append(("all_fixation_breaks", None))
        if self.member is None:
            loss = self.history.loss[-_STALL_WINDOW:]
        else:
            loss = [row[self.member] for row in self.history.member_loss[-_STALL_WINDOW:]]
        if len(loss) == _STALL_WINDOW:
            mean = sum(loss) / len(loss)
            if mean > 0 and (max(loss) - min(loss)) <= _STALL_TOL * mean:
                found.append(("loss_stalled", None))
        self.active = []
        for kind, region in found:
            self._record(step, kind, region)
            word = kind.split("_")[0] if region is None else f"{region} {kind.split('_')[0]}"
            if self.member is not None:
                word = f"member {self.member} {word}"
            self.active.append(word)

    def _silent_at_decision(
        self, rates: torch.Tensor, batch: Batch, peak: dict[str, float]
    ) -> list[tuple[str, str | None]]:
        """Readout regions active somewhere in the batch but silent at every counted step
        of the decision epoch, reported only when every readout region is."""
        dec = getattr(batch, "trials", {}).get("decision_mask")
        if not self.readout or not isinstance(dec, torch.Tensor) or dec.shape != rates.shape[:2]:
            return []
        counted = (dec > 0) & (batch.mask > 0)
        if not bool(counted.any()):
            return []
        at_decision = rates[counted]  # (steps counted over the batch, H)
        silent = [
            name
            for name, sl in self.readout
            if peak[name] > _SILENT and float(at_decision[:, sl].abs().amax()) <= _SILENT
        ]
        if len(silent) < len([n for n, _ in self.readout if peak[n] > _SILENT]):
            return []
        return [("silent_at_decision", name) for name in silent]

    def _record(self, step: int, kind: str, region: str | None) -> None:
        key = (kind, region)
        ev = self.events.get(key)
        if ev is not None:
            ev["last_step"], ev["checks"] = step, ev["checks"] + 1
            return
        message = _MESSAGES[kind].format(region=region)
        if self.member is not None:
            message = f"member {self.member}: {message}"
        ev = {
            "kind": kind,
            "region": region,
            "step": step,
            "last_step": step,
            "checks": 1,
            "message": message,
            **({} if self.member is None else {"member": self.member}),
        }
        self.events[key] = ev
        self.history.health.append(ev)
        if self.warn:
            import warnings

            warnings.warn(f"train: step {step}: {message}", TrainingWarning, stacklevel=5)

    def postfix(self) -> str | None:
        return ", ".join(self.active) if self.active else None
