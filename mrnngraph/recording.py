"""Activity by region: the one container for recorded data and for a model's activity.

A :class:`Recording` holds, for each region, an array ``(trials, T, neurons)`` of
rates (or binned spike counts), the bin width ``dt`` in ms, optional inputs
``(trials, T, I)`` and outputs ``(trials, T, O)``, and per-trial variables (condition
labels, coherences, ...). Recorded data (arrays, ``.npz``, NWB through
:func:`mrnngraph.io.read_nwb`) and a model's activity (:func:`activity`) are the same
type, so every analysis of activity runs on both.

Arrays are stored as float32 numpy arrays, whatever was given (numpy or torch).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._params import COUNT, POSITIVE, InstanceOf, Optional, check
from .errors import GraphError, Problem
from .schema import Interval

__all__ = ["Recording", "activity"]

_FORMAT = "mrnngraph.recording/1"
#: The share of trials held out by :meth:`Recording.split`.
_FRACTION = Interval(0.0, 1.0, closed=(False, False))


def _as_array(x: Any, what: str) -> np.ndarray:
    """numpy (float32) view of a numpy array, torch tensor or nested sequence."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    if isinstance(x, str | bytes) or x is None or isinstance(x, Mapping):
        raise TypeError(
            f"{what} must be an array (numpy or torch) of numbers; got {type(x).__name__}"
        )
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{what} must be an array (numpy or torch) of numbers; "
            f"could not convert {type(x).__name__}: {err}"
        ) from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{what} must hold numbers; got dtype {a.dtype}")
    if np.iscomplexobj(a):
        raise TypeError(f"{what} must hold real numbers; got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _check_finite(a: np.ndarray, what: str, last: str) -> None:
    bad = ~np.isfinite(a)
    n = int(bad.sum())
    if n:
        trial, t, k = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what} has {n} non-finite value{'s' if n != 1 else ''} "
            f"(NaN or inf); the first is {float(a[trial, t, k])!r} at trial {trial}, "
            f"bin {t}, {last} {k}"
        )


def _three_d(x: Any, what: str, last: str) -> np.ndarray:
    a = _as_array(x, what)
    if a.ndim != 3:
        raise ValueError(
            f"{what} must have shape (trials, T, {last}s); "
            f"got shape {a.shape} ({a.ndim} dimension{'s' if a.ndim != 1 else ''})"
        )
    return a


class Recording:
    """Activity of several regions over trials, binned in time.

    Parameters
    ----------
    rates : mapping of str to array, shape (trials, T, neurons)
        One array per region (numpy or torch), in the order the regions should have.
        Rates in any unit (Hz, spike counts per bin, normalised): :func:`mrnngraph.fit`
        learns the scale of each neuron.
    dt : float
        Bin width in ms.
    inputs : array, shape (trials, T, I), optional
        What the circuit's input nodes received, in their order and unit order.
    trials : mapping of str to array, shape (trials,), optional
        Per-trial variables: numbers, booleans or strings (no Python objects, so the
        recording saves without pickle).
    outputs : array, shape (trials, T, O), optional
        Behaviour or any target of the circuit's output nodes.

    Attributes
    ----------
    rates : dict of str to numpy.ndarray
        float32, ``(trials, T, neurons)`` per region.
    dt : float
    inputs, outputs : numpy.ndarray or None
    trials : dict of str to numpy.ndarray

    Raises
    ------
    TypeError
        For a value that is not an array of numbers, or a region name that is not a str.
    ValueError
        For a wrong number of dimensions (the expected and received shapes are named),
        regions or arrays that disagree on the number of trials or bins (naming which),
        NaN or inf (naming region, trial, bin and neuron of the first, and how many), or a
        ``dt`` that is not a float > 0.

    Examples
    --------
    >>> import numpy as np
    >>> rec = Recording({"m2": np.zeros((4, 10, 3)), "v1": np.ones((4, 10, 5))}, dt=10.0,
    ...                 trials={"choice": np.array([0, 1, 0, 1])})
    >>> rec.regions, rec.n_trials, rec.n_steps, rec.n_neurons
    (['m2', 'v1'], 4, 10, {'m2': 3, 'v1': 5})
    >>> train, test = rec.split(0.5, seed=0, stratify="choice")
    >>> len(train), len(test), sorted(test.trials["choice"].tolist())
    (2, 2, [0, 1])
    """

    def __init__(
        self,
        rates: Mapping[str, Any],
        dt: float,
        *,
        inputs: Any = None,
        trials: Mapping[str, Any] | None = None,
        outputs: Any = None,
    ):
        if not isinstance(rates, Mapping):
            raise TypeError(
                "rates must be a mapping of region name to an array "
                f"(trials, T, neurons); got {type(rates).__name__}"
            )
        if not rates:
            raise ValueError("rates is empty: a recording needs at least one region")
        self.dt = check("dt", dt, POSITIVE)  # the bin width in ms
        self.rates: dict[str, np.ndarray] = {}
        shape0: tuple[str, int, int] | None = None
        for name, x in rates.items():
            if not isinstance(name, str):
                raise TypeError(f"region names must be str; got {name!r} ({type(name).__name__})")
            a = _three_d(x, f"rates[{name!r}]", "neuron")
            if shape0 is None:
                shape0 = (name, a.shape[0], a.shape[1])
            else:
                first, n, t = shape0
                if a.shape[0] != n:
                    raise ValueError(
                        f"rates[{name!r}] has {a.shape[0]} trials but "
                        f"rates[{first!r}] has {n}; every region needs the "
                        "same trials"
                    )
                if a.shape[1] != t:
                    raise ValueError(
                        f"rates[{name!r}] has {a.shape[1]} time bins but "
                        f"rates[{first!r}] has {t}; every region needs the "
                        "same bins"
                    )
            _check_finite(a, f"rates[{name!r}]", "neuron")
            self.rates[name] = a
        self.inputs = self._side(inputs, "inputs", "input")
        self.outputs = self._side(outputs, "outputs", "output")
        self.trials: dict[str, np.ndarray] = {}
        for key, v in (trials or {}).items():
            if not isinstance(key, str):
                raise TypeError(f"trial variable names must be str; got {key!r}")
            if hasattr(v, "detach") and hasattr(v, "cpu"):
                v = v.detach().cpu().numpy()
            arr = np.asarray(v)
            if arr.dtype == object:
                raise TypeError(
                    f"trials[{key!r}] must hold numbers, booleans or strings "
                    "(saved without pickle); got Python objects"
                )
            if arr.ndim != 1 or arr.shape[0] != self.n_trials:
                raise ValueError(
                    f"trials[{key!r}] must have shape ({self.n_trials},), one "
                    f"value per trial; got shape {arr.shape}"
                )
            self.trials[key] = arr

    def _side(self, x: Any, what: str, last: str) -> np.ndarray | None:
        if x is None:
            return None
        a = _three_d(x, what, last)
        if a.shape[:2] != (self.n_trials, self.n_steps):
            raise ValueError(
                f"{what} must have shape ({self.n_trials}, {self.n_steps}, "
                f"{last}s) like the rates (trials, T); got shape {a.shape}"
            )
        _check_finite(a, what, last)
        return a

    # ------------------------------------------------------------------ sizes
    @property
    def regions(self) -> list[str]:
        """Region names, in the order given."""
        return list(self.rates)

    @property
    def n_trials(self) -> int:
        return next(iter(self.rates.values())).shape[0]

    @property
    def n_steps(self) -> int:
        """Time bins per trial (``T``)."""
        return next(iter(self.rates.values())).shape[1]

    @property
    def n_neurons(self) -> dict[str, int]:
        """Recorded neurons per region."""
        return {k: v.shape[2] for k, v in self.rates.items()}

    def __len__(self) -> int:
        return self.n_trials

    def __repr__(self) -> str:
        regions = ", ".join(f"{k}: {n}" for k, n in self.n_neurons.items())
        extra = []
        if self.inputs is not None:
            extra.append(f"inputs={self.inputs.shape[2]}")
        if self.outputs is not None:
            extra.append(f"outputs={self.outputs.shape[2]}")
        if self.trials:
            extra.append(f"trials=[{', '.join(self.trials)}]")
        tail = (", " + ", ".join(extra)) if extra else ""
        return (
            f"Recording({self.n_trials} trials x {self.n_steps} bins of {self.dt:g} ms; "
            f"neurons {{{regions}}}{tail})"
        )

    # ------------------------------------------------------------------ trials
    def _index(self, idx: Any) -> np.ndarray:
        n = self.n_trials
        if isinstance(idx, slice):
            return np.arange(n)[idx]
        if isinstance(idx, int | np.integer) and not isinstance(idx, bool):
            if not -n <= idx < n:
                raise IndexError(f"trial {idx} is out of range for {n} trials")
            return np.array([idx % n])
        if hasattr(idx, "detach") and hasattr(idx, "cpu"):
            idx = idx.detach().cpu().numpy()
        a = np.asarray(idx)
        if a.dtype == bool:
            if a.shape != (n,):
                raise IndexError(f"a boolean trial mask must have shape ({n},); got {a.shape}")
            return np.flatnonzero(a)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            if a.size == 0:
                return np.zeros(0, dtype=np.int64)
            raise IndexError(
                "index trials with a slice, an int, a sequence of ints or a "
                f"boolean mask; got {type(idx).__name__} of dtype {a.dtype}"
            )
        if a.size and (a.min() < -n or a.max() >= n):
            raise IndexError(f"trial indices must be in [{-n}, {n}); got {a.min()}..{a.max()}")
        return a % n if a.size else a.astype(np.int64)

    def __getitem__(self, idx: Any) -> Recording:
        """The recording restricted to some trials (an int keeps the trial axis)."""
        k = self._index(idx)
        return Recording(
            {r: v[k] for r, v in self.rates.items()},
            self.dt,
            inputs=None if self.inputs is None else self.inputs[k],
            outputs=None if self.outputs is None else self.outputs[k],
            trials={t: v[k] for t, v in self.trials.items()},
        )

    def split(
        self, test_fraction: float = 0.25, *, seed: int = 0, stratify: str | None = None
    ) -> tuple[Recording, Recording]:
        """A seeded random split of the trials into ``(train, test)``.

        Parameters
        ----------
        test_fraction : float in (0, 1)
            Share of trials held out (rounded, at least one trial on each side).
        seed : int
            Seed of the permutation (``numpy.random.default_rng``).
        stratify : str, optional
            A trial variable: each of its values is split in the same proportion, so
            every condition appears in both parts where it has at least two trials.
        """
        test_fraction = check("test_fraction", test_fraction, _FRACTION)
        seed = check("seed", seed, COUNT)
        stratify = check("stratify", stratify, Optional(InstanceOf((str,), "a str")))
        n = self.n_trials
        if n < 2:
            raise ValueError(f"cannot split {n} trial into train and test; need at least 2")
        rng = np.random.default_rng(seed)
        if stratify is None:
            groups = [np.arange(n)]
        else:
            if stratify not in self.trials:
                known = ", ".join(map(repr, self.trials)) or "none"
                raise KeyError(f"stratify={stratify!r} is not a trial variable; known: {known}")
            labels = self.trials[stratify]
            groups = [np.flatnonzero(labels == v) for v in np.unique(labels)]
        test: list[np.ndarray] = []
        for g in groups:
            g = g[rng.permutation(len(g))]
            k = int(round(test_fraction * len(g)))
            if len(g) >= 2:
                k = min(max(k, 1), len(g) - 1)
            test.append(g[:k])
        test_idx = np.sort(np.concatenate(test))
        if test_idx.size == 0 or test_idx.size == n:
            k = min(max(int(round(test_fraction * n)), 1), n - 1)
            test_idx = np.sort(rng.permutation(n)[:k])
        train_idx = np.setdiff1d(np.arange(n), test_idx)
        return self[train_idx], self[test_idx]

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write a ``.npz`` file (``numpy.savez``, no pickle); read it with :meth:`load`."""
        arrays: dict[str, np.ndarray] = {
            "format": np.array(_FORMAT),
            "dt": np.array(self.dt),
            "regions": np.array(self.regions, dtype=str),
            "trial_names": np.array(list(self.trials), dtype=str),
        }
        for k, v in enumerate(self.rates.values()):
            arrays[f"rates_{k}"] = v
        for k, v in enumerate(self.trials.values()):
            arrays[f"trial_{k}"] = v
        if self.inputs is not None:
            arrays["inputs"] = self.inputs
        if self.outputs is not None:
            arrays["outputs"] = self.outputs
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recording:
        """Read a file written by :meth:`save` (``allow_pickle=False``)."""
        where = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except ValueError as err:
            raise GraphError(
                [
                    Problem(
                        where,
                        f"not a readable recording (.npz without pickle): {err}",
                        code="bad-file",
                        file=where,
                    )
                ],
                header="cannot read the recording",
            ) from None
        if str(data.get("format", "")) != _FORMAT:
            raise GraphError(
                [
                    Problem(
                        where,
                        f"not a mrnngraph recording: the 'format' entry "
                        f"is missing or not {_FORMAT!r}",
                        code="bad-file",
                        file=where,
                    )
                ],
                header="cannot read the recording",
            )
        regions = [str(r) for r in data["regions"]]
        rates = {r: data[f"rates_{k}"] for k, r in enumerate(regions)}
        trials = {str(t): data[f"trial_{k}"] for k, t in enumerate(data["trial_names"])}
        return cls(
            rates,
            float(data["dt"]),
            inputs=data.get("inputs"),
            outputs=data.get("outputs"),
            trials=trials,
        )

    # ------------------------------------------------------------------ checks
    def check_against(self, model_or_circuit: Any) -> None:
        """Check that this recording can be fitted by (or compared with) a circuit.

        Parameters
        ----------
        model_or_circuit : MultiRegionRNN, CompiledCircuit or Layout

        Raises
        ------
        GraphError
            Listing every problem: regions the circuit does not have (named, with the
            circuit's regions), more recorded neurons than a region has units, inputs or
            outputs whose width differs from the circuit's, inputs missing while the
            circuit has input nodes.
        """
        lay = getattr(model_or_circuit, "layout", model_or_circuit)
        if not hasattr(lay, "regions") or not hasattr(lay, "sizes"):
            raise TypeError(
                "model_or_circuit must be a MultiRegionRNN, a CompiledCircuit or a Layout "
                f"(check_against needs its regions); got {type(model_or_circuit).__name__}"
            )
        problems: list[Problem] = []
        known = ", ".join(map(repr, lay.regions))
        missing = [r for r in self.regions if r not in lay.regions]
        if missing:
            problems.append(
                Problem(
                    "recording",
                    f"region{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(map(repr, missing))} not in the circuit; its recurrent regions "
                    f"are {known}",
                    code="unknown-region",
                    hint="rename the recording's regions or the graph's nodes",
                )
            )
        for r, n in self.n_neurons.items():
            if r in lay.regions and n > lay.sizes[r]:
                problems.append(
                    Problem(
                        f"region {r!r}",
                        f"{n} recorded neurons but the region has "
                        f"{lay.sizes[r]} units; each neuron needs a unit",
                        code="too-many-neurons",
                        node=r,
                        attribute="size",
                        hint=f"give node {r!r} size >= {n}",
                    )
                )
        n_in = lay.input_size
        if self.inputs is None:
            if n_in:
                problems.append(
                    Problem(
                        "recording",
                        f"has no inputs but the circuit has {n_in} input units "
                        f"({', '.join(map(repr, lay.inputs))})",
                        code="missing-inputs",
                        hint="pass inputs=(trials, T, I) to Recording",
                    )
                )
        elif self.inputs.shape[2] != n_in:
            problems.append(
                Problem(
                    "recording",
                    f"inputs have {self.inputs.shape[2]} channels but the circuit "
                    f"has {n_in} input units",
                    code="input-size",
                )
            )
        if self.outputs is not None and self.outputs.shape[2] != lay.output_size:
            problems.append(
                Problem(
                    "recording",
                    f"outputs have {self.outputs.shape[2]} channels but the circuit "
                    f"has {lay.output_size} output units",
                    code="output-size",
                )
            )
        if problems:
            raise GraphError(problems, header="the recording does not fit the circuit")


def activity(
    model: Any, inputs: Any, *, trials: Mapping[str, Any] | None = None, x0: Any = None
) -> Recording:
    """Run ``model`` (no gradient) and return its rates by region as a :class:`Recording`.

    Parameters
    ----------
    model : MultiRegionRNN
    inputs : array, shape (trials, T, I), or a Recording
        Batch first whatever the model's ``batch_first``. A :class:`Recording` gives its
        inputs and trial variables.
    trials : mapping of str to array, optional
        Per-trial variables to attach.
    x0 : array, shape (trials, H) or (H,), optional
        Initial state; default: the model's ``x0``.

    Returns
    -------
    Recording
        Every recurrent region's rates ``(trials, T, size)``, ``dt`` the model's, the
        inputs, and the model's outputs when it has output nodes.

    Examples
    --------
    >>> import torch, mrnngraph as mg
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> model = mg.MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    >>> rec = activity(model, torch.zeros(2, 5, 3))
    >>> rec.regions, rec.rates["a1"].shape
    (['a1', 'a2'], (2, 5, 10))
    """
    import torch

    if not hasattr(model, "layout") or not hasattr(model, "alpha"):
        raise TypeError(f"model must be a mrnngraph.MultiRegionRNN; got {type(model).__name__}")
    if isinstance(inputs, Recording):
        trials = {**inputs.trials, **(trials or {})}
        if inputs.inputs is None:
            inputs = np.zeros((inputs.n_trials, inputs.n_steps, 0), dtype=np.float32)
        else:
            inputs = inputs.inputs
    u = _three_d(inputs, "inputs", "input")
    if u.shape[2] != model.input_size:
        raise ValueError(f"inputs must have shape (trials, T, {model.input_size}); got {u.shape}")
    dev = model.alpha.device
    ut = torch.as_tensor(u, device=dev, dtype=model.alpha.dtype)
    x = (
        None
        if x0 is None
        else torch.as_tensor(_as_array(x0, "x0"), device=dev, dtype=model.alpha.dtype)
    )
    batch_first = getattr(model, "batch_first", True)
    with torch.no_grad():
        out = model(ut if batch_first else ut.transpose(0, 1), x)
    rates, outputs = out.rates, out.outputs
    if not batch_first:
        rates, outputs = rates.transpose(0, 1), outputs.transpose(0, 1)
    lay = model.layout
    by_region = {r: rates[..., lay.slice(r)].cpu().numpy() for r in lay.regions}
    return Recording(
        by_region,
        model.dt,
        inputs=u,
        outputs=outputs.cpu().numpy() if model.output_size else None,
        trials=trials,
    )
