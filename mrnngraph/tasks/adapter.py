"""The neurogym adapter: a neurogym-style environment as a batch-first :class:`Task`.

Duck-typed: neurogym itself is never imported here (its pins make it a poor hard
dependency); :func:`mrnngraph.tasks.get_task` imports it for ``"neurogym:<env id>"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .._params import NON_NEGATIVE, POSITIVE, STEPS, check
from .base import Batch, Task, _tensor

__all__ = ["NeurogymTask", "from_neurogym"]


# --------------------------------------------------------------------------- neurogym
class NeurogymTask(Task):
    """A neurogym-style environment as a :class:`Task` (see :func:`from_neurogym`)."""

    def __init__(
        self,
        env: Any,
        *,
        name: str | None = None,
        tolerance: float = 0.2,
        decision_weight: float = 3.0,
        seq_len: int | str | None = "auto",
    ):
        if seq_len is not None and not (isinstance(seq_len, str) and seq_len == "auto"):
            seq_len = check("seq_len", seq_len, STEPS)
        self.decision_weight = check("decision_weight", decision_weight, POSITIVE)
        tolerance = check("tolerance", tolerance, NON_NEGATIVE)
        missing = [
            a for a in ("observation_space", "action_space", "new_trial") if not hasattr(env, a)
        ]
        if missing:
            raise TypeError(
                f"{type(env).__name__} is not a neurogym-style environment: "
                f"it lacks {', '.join(missing)}"
            )
        self.env = env
        self.dt = float(getattr(env, "dt", 100.0))
        self.name = name or _env_name(env)
        obs_shape = tuple(getattr(env.observation_space, "shape", ()) or ())
        if len(obs_shape) != 1:
            raise ValueError(f"the observation space must be 1-D (channels); got shape {obs_shape}")
        self.input_size = int(obs_shape[0])
        n = getattr(env.action_space, "n", None)
        if n is not None:
            self.kind = "classification"
            self.output_size = int(n)
        else:
            act_shape = tuple(getattr(env.action_space, "shape", ()) or ())
            if len(act_shape) != 1:
                raise ValueError(
                    f"the action space must be Discrete(n) or a 1-D Box; got {env.action_space!r}"
                )
            self.kind = "regression"
            self.output_size = int(act_shape[0])
        self.tolerance = tolerance
        self.input_names = tuple(_space_names(env.observation_space, self.input_size, "ob"))
        self.output_names = tuple(_space_names(env.action_space, self.output_size, "action"))
        #: neurogym's "fixation" action where the "fixation" input marks when to answer.
        self.fixation_output = self._fixation_output()
        if seq_len == "auto":
            seq_len = 2 * self._longest_trial()
        #: Steps per row of trials back to back, or None (one trial per row).
        self.seq_len: int | None = seq_len

    def _longest_trial(self, n: int = 8) -> int:
        """The longest of ``n`` trials drawn with the environment seeded 0."""
        self._seed_env(0)
        longest = 0
        for _ in range(n):
            self.env.new_trial()
            longest = max(longest, len(self.env.ob))
        return max(longest, 1)

    def _fixation_output(self, n: int = 8) -> int | None:
        """The "fixation" action if the "fixation" observation is on at exactly the steps
        whose target is that action, in ``n`` trials drawn with the environment seeded 0
        (so the input says when to answer, as in most of neurogym's tasks); else None.
        Not so in ``PerceptualDecisionMaking-v0``, whose fixation input is off through
        the stimulus while the target is still "fixate": there fixating is a computation
        of its own, not the absence of an answer, and ``train()`` reads it out freely."""
        import numpy as np

        names_in, names_out = self.input_names, self.output_names
        if (
            self.kind != "classification"
            or "fixation" not in names_in
            or "fixation" not in names_out
        ):
            return None
        ch, act = names_in.index("fixation"), names_out.index("fixation")
        self._seed_env(0)
        for _ in range(n):
            self.env.new_trial()
            ob = np.asarray(self.env.ob).reshape(-1, self.input_size)
            gt = np.asarray(self.env.gt).reshape(-1)
            if gt.shape[0] != ob.shape[0] or not np.array_equal(ob[:, ch] > 0, gt == act):
                return None
        return act

    def _seed_env(self, seed: int) -> None:
        env = self.env
        if callable(getattr(env, "seed", None)):
            env.seed(seed)
        elif callable(getattr(env, "reset", None)):
            env.reset(seed=seed)

    def _generate(self, batch_size: int, g: torch.Generator) -> Batch:
        import numpy as np

        self._seed_env(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        obs, gts, infos = [], [], []

        def one_trial() -> tuple[Any, Any, Any]:
            trial = self.env.new_trial()
            ob = np.asarray(self.env.ob, dtype=np.float32).reshape(-1, self.input_size)
            gt = np.asarray(self.env.gt)
            if gt.shape[0] != ob.shape[0]:
                raise ValueError(f"env.gt has {gt.shape[0]} steps but env.ob has {ob.shape[0]}")
            return ob, gt, trial

        for _ in range(batch_size):
            ob, gt, trial = one_trial()
            if self.seq_len is not None:  # trials back to back, cut at seq_len
                parts_ob, parts_gt, n = [ob], [gt], ob.shape[0]
                while n < self.seq_len:
                    ob, gt, _ = one_trial()
                    parts_ob.append(ob)
                    parts_gt.append(gt)
                    n += ob.shape[0]
                ob = np.concatenate(parts_ob)[: self.seq_len]
                gt = np.concatenate(parts_gt)[: self.seq_len]
                trial = {}
            obs.append(ob)
            gts.append(gt)
            infos.append(trial if isinstance(trial, Mapping) else {})
        T = max(o.shape[0] for o in obs)
        x = torch.zeros(batch_size, T, self.input_size)
        mask = torch.zeros(batch_size, T)
        if self.kind == "classification":
            y = torch.zeros(batch_size, T, dtype=torch.long)
        else:
            y = torch.zeros(batch_size, T, self.output_size)
        for i, (o, gt) in enumerate(zip(obs, gts, strict=True)):
            n = o.shape[0]
            x[i, :n] = torch.from_numpy(o)
            mask[i, :n] = 1.0
            if self.kind == "classification":
                y[i, :n] = torch.from_numpy(gt.astype(np.int64).reshape(n))
            else:
                y[i, :n] = torch.from_numpy(gt.astype(np.float32).reshape(n, -1))
        if self.kind == "classification" and self.decision_weight != 1.0:
            mask = mask + (self.decision_weight - 1.0) * ((y != 0) & (mask > 0)).float()
        return Batch(x, y, mask, _trial_info(infos))

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Classification: the argmax of the outputs averaged over the steps whose target is
        not 0 (the last step when there is none) equals the trial's final non-zero target,
        and the trial did not break fixation (see :meth:`fixation_breaks`).
        Regression: every counted step within ``tolerance`` of the target on every channel."""
        outputs = _tensor(outputs)
        counted = batch.mask > 0
        if self.kind == "regression":
            close = ((outputs - batch.targets).abs() <= self.tolerance).all(-1) | ~counted
            return close.all(1)
        if self.seq_len is not None:  # rows of several trials: every response step right
            respond = (batch.targets != 0) & counted
            return ((outputs.argmax(-1) == batch.targets) | ~respond).all(1)
        respond = (batch.targets != 0) & counted
        last = counted.long().cumsum(1).argmax(1)  # index of the last counted step
        none = ~respond.any(1)
        respond[none, last[none]] = True
        w = respond.to(outputs.dtype)
        mean = (outputs * w[..., None]).sum(1) / w.sum(1, keepdim=True)
        t = torch.arange(respond.shape[1], device=respond.device)
        final = torch.where(respond, t, -1).argmax(1)
        answer = batch.targets.gather(1, final[:, None]).squeeze(1)
        return (mean.argmax(-1) == answer) & ~self._broke(outputs, batch)

    def accuracy(self, outputs: torch.Tensor, batch: Batch) -> float:
        """With ``seq_len`` (classification): the fraction of response steps (target not 0)
        whose argmax output is the target, as neurogym scores its ``Dataset``. Otherwise
        the fraction of trials answered correctly (see :meth:`correct`)."""
        if self.seq_len is None or self.kind == "regression":
            return super().accuracy(outputs, batch)
        outputs = _tensor(outputs)
        respond = (batch.targets != 0) & (batch.mask > 0)
        n = int(respond.sum())
        return float((outputs.argmax(-1) == batch.targets)[respond].sum()) / n if n else math.nan

    def _broke(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        counted = batch.mask > 0
        respond = (batch.targets != 0) & counted
        t = torch.arange(respond.shape[1], device=respond.device)
        first = torch.where(respond, t, respond.shape[1]).amin(1)  # T when never
        before = counted & (t[None, :] < first[:, None]) & (batch.targets == 0)
        return ((outputs.argmax(-1) != 0) & before).any(1)

    def fixation_breaks(self, outputs: torch.Tensor, batch: Batch) -> float:
        """Classification: the fraction of trials in which an output other than 0 (neurogym's
        "fixate") wins at a counted step before the first step with a non-zero target.
        Such trials count as errors in :meth:`correct`. NaN for regression."""
        if self.kind == "regression":
            return math.nan
        return float(self._broke(_tensor(outputs), batch).float().mean())

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, Any]:
        """Adds ``fixation_breaks`` for classification environments."""
        outputs = _tensor(outputs)
        out = super().metrics(outputs, batch)
        if self.kind == "classification" and self.seq_len is None:
            out["fixation_breaks"] = self.fixation_breaks(outputs, batch)
        return out


def _env_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return str(getattr(spec, "id", None) or type(env).__name__)


def _space_names(space: Any, n: int, prefix: str) -> list[str]:
    names = getattr(space, "name", None)
    out = [f"{prefix} {k}" for k in range(n)]
    if isinstance(names, Mapping):
        for key, idx in names.items():
            for j, k in enumerate(idx if isinstance(idx, Sequence) else [idx]):
                if isinstance(k, int) and 0 <= k < n:
                    out[k] = str(key) if not isinstance(idx, Sequence) else f"{key} {j + 1}"
    return out


def _trial_info(infos: list[Mapping]) -> dict[str, torch.Tensor]:
    """Scalar numeric trial entries shared by every trial, as ``(B,)`` tensors."""
    if not infos:
        return {}
    out: dict[str, torch.Tensor] = {}
    for key in infos[0]:
        values = [info.get(key) for info in infos]
        try:
            if all(isinstance(v, int | float) or type(v).__module__ == "numpy" for v in values):
                t = torch.as_tensor([float(v) for v in values])
                out[str(key)] = t
        except (TypeError, ValueError):
            continue
    return out


def from_neurogym(
    env: Any,
    *,
    name: str | None = None,
    tolerance: float = 0.2,
    decision_weight: float = 3.0,
    seq_len: int | str | None = "auto",
) -> NeurogymTask:
    """Wrap a neurogym-style environment as a batch-first :class:`Task`.

    Duck-typed: the environment needs ``observation_space`` (a 1-D box),
    ``action_space`` (``Discrete(n)`` -> classification with ``n`` classes, or a
    1-D box -> regression), ``new_trial()`` which sets ``env.ob`` ``(T, obs)`` and
    ``env.gt`` ``(T,)`` (or ``(T, act)``), and ``dt`` (ms). neurogym itself is never
    imported. By default each batch row is a stream of trials back to back, as in
    ``neurogym.Dataset`` (but batch first); ``seq_len=None`` gives one trial per row
    (padded at the end with zero mask).
    The environment is re-seeded from the batch's seed (``env.seed(s)``, or
    ``env.reset(seed=s)``) so batches are reproducible.

    Parameters
    ----------
    env : object
        E.g. ``neurogym.make("PerceptualDecisionMaking-v0", dt=20)``.
    name : str, optional
        Task name (default: the environment's ``spec.id`` or class name).
    tolerance : float
        For regression environments, the largest error that counts as correct.
    decision_weight : float
        Classification: the weight in the loss of the steps whose target is not 0
        (the response) relative to the others (fixation). neurogym's own ``Dataset``
        weighs every step alike; there the response is a few steps of a long trial
        (5 of 110 in ``PerceptualDecisionMaking-v0`` at dt 20), and with weight 1 a
        network learns to fixate throughout before it learns to answer. 3 is the
        value measured in docs/training.md ("The recipe"); 1 gives neurogym's loss.
    seq_len : int, "auto" or None
        Each batch row is ``seq_len`` steps of trials back to back, as in
        ``neurogym.Dataset`` (batch first here), so a network learns to answer in a
        continuous stream of trials, where each trial starts from the state the
        previous one left, not from ``x0``: the way neurogym's ``Dataset`` and most
        neurogym code evaluate it. A network trained on isolated trials learns to
        answer from the rest state and keeps fixating in a stream (measured in
        docs/training.md). ``accuracy`` is then neurogym's: the fraction of response
        steps answered correctly. ``"auto"`` (default): twice the longest of 8 trials
        drawn with the environment seeded 0 (220 steps for
        ``PerceptualDecisionMaking-v0`` at dt 20), so every row holds at least one
        trial that starts from another's end state. ``None``: one trial per row, with
        the trial's own information in ``batch.trials``.

    Returns
    -------
    NeurogymTask

    Examples
    --------
    >>> import numpy as np
    >>> class Box:
    ...     shape = (2,)
    >>> class Discrete:
    ...     n = 2
    >>> class Env:
    ...     dt, observation_space, action_space = 100, Box(), Discrete()
    ...     def seed(self, s): self.rng = np.random.RandomState(s)
    ...     def new_trial(self):
    ...         side = int(self.rng.randint(2))
    ...         self.ob = np.eye(2)[[side] * 3]
    ...         self.gt = np.array([0, 0, 1])
    ...         return {"side": side}
    >>> task = from_neurogym(Env())
    >>> task.seq_len  # two trials of 3 steps
    6
    >>> task.batch(4, seed=0).inputs.shape
    torch.Size([4, 6, 2])
    >>> b = from_neurogym(Env(), seq_len=None).batch(4, seed=0)
    >>> b.inputs.shape, b.targets.shape, task.kind, sorted(b.trials)
    (torch.Size([4, 3, 2]), torch.Size([4, 3]), 'classification', ['side'])
    """
    return NeurogymTask(
        env, name=name, tolerance=tolerance, decision_weight=decision_weight, seq_len=seq_len
    )
