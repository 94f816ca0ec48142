"""Read spiking data of several brain areas from an NWB file into a :class:`Recording`.

Needs ``pynwb`` (``pip install mrnngraph[nwb]``). Units live in ``nwbfile.units``
(``spike_times``); a unit's area is the ``location`` of its (first) electrode, or of
that electrode's group, or a units column the user names; trials are
``nwbfile.trials`` (``start_time``, ``stop_time`` and any added columns). DANDI
sessions follow this layout.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["read_nwb"]

_SKIP_TRIAL_COLUMNS = {"timeseries", "timeseries_index", "tags", "tags_index"}


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def _unit_areas(nwb: Any, path: str, location_column: str | None) -> list[str]:
    units = nwb.units
    n = len(units)
    if location_column is not None:
        if location_column not in units.colnames:
            raise _fail(
                path,
                f"the units table has no column {location_column!r}; its "
                f"columns: {', '.join(map(repr, units.colnames))}",
            )
        return [_text(v) for v in units[location_column][:]]
    if "electrodes" not in units.colnames:
        if "location" in units.colnames:
            return [_text(v) for v in units["location"][:]]
        raise _fail(
            path,
            "the units have no 'electrodes' column to find their brain area; "
            "name the units column that holds it with location_column=",
        )
    index = units["electrodes"]
    rows = np.asarray(index.target.data[:])
    ends = np.asarray(index.data[:])
    table = nwb.electrodes
    has_loc = table is not None and "location" in table.colnames
    has_group = table is not None and "group" in table.colnames
    out = []
    for i in range(n):
        start = 0 if i == 0 else int(ends[i - 1])
        if int(ends[i]) <= start:
            raise _fail(
                path, f"unit {i} lists no electrode, so its area is unknown; use location_column="
            )
        row = int(rows[start])
        loc = _text(table["location"][row]) if has_loc else ""
        if not loc and has_group:
            loc = _text(getattr(table["group"][row], "location", "") or "")
        if not loc:
            raise _fail(path, f"electrode {row} of unit {i} has no location; use location_column=")
        out.append(loc)
    return out


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _gaussian(sigma_bins: float) -> np.ndarray:
    half = max(1, int(math.ceil(4 * sigma_bins)))
    x = np.arange(-half, half + 1)
    k = np.exp(-0.5 * (x / sigma_bins) ** 2)
    return k / k.sum()


def _bins(w0: float, w1: float, bin_ms: float, given: Any) -> int:
    n_bins_f = (w1 - w0) / bin_ms
    n_bins = int(round(n_bins_f))
    if n_bins < 1 or abs(n_bins_f - n_bins) > 1e-6 * max(1.0, n_bins_f):
        raise ValueError(
            f"window_ms {given!r} must span a whole, positive number of "
            f"bins of {bin_ms:g} ms; got {n_bins_f:g} bins"
        )
    return n_bins


def read_nwb(
    path: str | os.PathLike,
    *,
    regions: Mapping[str, str | Sequence[str]],
    bin_ms: float,
    window_ms: tuple[float, float] | None = None,
    align: str = "start_time",
    smooth_ms: float | None = None,
    location_column: str | None = None,
    counts: bool = False,
) -> Any:
    """Bin the spikes of an NWB file by trial and brain area into a :class:`Recording`.

    Parameters
    ----------
    path : path
        An NWB (HDF5) file with a units table and a trials table.
    regions : mapping of str to str or sequence of str
        Region name (as the circuit's node) to the area (``location``) or areas pooled
        into it: ``{"m2": "MOs", "v1": ["VISp", "VISl"]}``. Units keep the file's order.
    bin_ms : float
        Bin width in ms (the recording's ``dt``).
    window_ms : (float, float), optional
        Start and end of each trial's window in ms relative to ``align``; its length
        must be a whole number of bins. Default: from ``align`` to the earliest
        ``stop_time`` after it over all trials, cut to whole bins.
    align : str
        The trials column (in seconds) the window is relative to.
    smooth_ms : float, optional
        Standard deviation of a Gaussian kernel (ms) applied along time; spikes
        outside the window are counted too, so the edges are not biased.
    location_column : str, optional
        A units column holding each unit's area, instead of its electrode's location.
    counts : bool
        Spike counts per bin instead of rates in Hz (for ``fit(..., loss="poisson")``).

    Returns
    -------
    Recording
        ``rates[region]`` of shape ``(trials, bins, units)``, in Hz (or counts); every
        one-dimensional trials column as a trial variable, and ``trials["nwb_id"]``.

    Raises
    ------
    ImportError
        Without pynwb.
    ValueError
        For a file without units or trials, an area with no units (listing the areas the
        file has, with their unit counts), a missing ``align`` column, a window that is not
        a whole number of bins.
    """
    try:
        from pynwb import NWBHDF5IO
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("read_nwb needs pynwb: pip install 'mrnngraph[nwb]'") from None
    from ..recording import Recording

    where = os.fspath(path)
    if not isinstance(regions, Mapping) or not regions:
        raise TypeError(
            "regions must be a non-empty mapping of region name to an area or "
            f"a list of areas; got {regions!r}"
        )
    for name in ("bin_ms",):
        v = bin_ms
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or not (math.isfinite(v) and v > 0)
        ):
            raise ValueError(f"{name} must be a float > 0; got {v!r}")
    if window_ms is not None:
        try:
            w0, w1 = (float(x) for x in window_ms)
        except (TypeError, ValueError):
            raise TypeError(f"window_ms must be (start, end) in ms; got {window_ms!r}") from None
        _bins(w0, w1, bin_ms, window_ms)
    if smooth_ms is not None and not (math.isfinite(smooth_ms) and smooth_ms > 0):
        raise ValueError(f"smooth_ms must be a float > 0 or None; got {smooth_ms!r}")

    with NWBHDF5IO(where, "r") as io:
        nwb = io.read()
        if nwb.units is None or len(nwb.units) == 0:
            raise _fail(
                where,
                "the file has no units (nwbfile.units is empty); read_nwb needs sorted spikes",
            )
        if nwb.trials is None or len(nwb.trials) == 0:
            raise _fail(
                where,
                "the file has no trials (nwbfile.trials is empty); read_nwb bins spikes by trial",
            )
        trials = nwb.trials
        if align not in trials.colnames and align not in ("start_time", "stop_time"):
            raise _fail(
                where,
                f"align={align!r} is not a trials column; its columns: "
                f"{', '.join(map(repr, trials.colnames))}",
            )
        t_align = np.asarray(trials[align][:], dtype=np.float64)
        if window_ms is None:
            shortest = float(np.min(np.asarray(trials["stop_time"][:]) - t_align)) * 1000.0
            w0, w1 = 0.0, math.floor(shortest / bin_ms + 1e-9) * bin_ms
            if w1 <= 0:
                raise _fail(
                    where,
                    f"no trial lasts a whole bin of {bin_ms:g} ms after {align!r}; give window_ms=",
                )
        n_bins = _bins(w0, w1, bin_ms, (w0, w1))
        areas = _unit_areas(nwb, where, location_column)
        have: dict[str, int] = {}
        for a in areas:
            have[a] = have.get(a, 0) + 1
        wanted: dict[str, list[str]] = {}
        problems = []
        for r, spec in regions.items():
            names = [spec] if isinstance(spec, str) else [str(s) for s in spec]
            missing = [a for a in names if a not in have]
            if missing:
                problems.append(f"region {r!r}: no units in area {', '.join(map(repr, missing))}")
            wanted[r] = names
        if problems:
            listing = ", ".join(
                f"{a!r} ({k} unit{'s' if k != 1 else ''})" for a, k in sorted(have.items())
            )
            raise _fail(where, "; ".join(problems) + f". The file's areas: {listing}")

        sigma = None if smooth_ms is None else smooth_ms / bin_ms
        kernel = None if sigma is None else _gaussian(sigma)
        pad = 0 if kernel is None else len(kernel) // 2
        k_bins = np.arange(-pad, n_bins + pad + 1)
        edges = t_align[:, None] + (w0 + k_bins[None, :] * bin_ms) / 1000.0
        spikes = nwb.units["spike_times"]
        rates: dict[str, np.ndarray] = {}
        for r, names in wanted.items():
            idx = [i for i, a in enumerate(areas) if a in names]
            out = np.empty((len(t_align), n_bins + 2 * pad, len(idx)))
            for j, i in enumerate(idx):
                st = np.sort(np.asarray(spikes[i], dtype=np.float64))
                out[:, :, j] = np.diff(np.searchsorted(st, edges, side="left"), axis=1)
            if kernel is not None:
                out = np.apply_along_axis(np.convolve, 1, out, kernel, mode="valid")
            if not counts:
                out = out / (bin_ms / 1000.0)
            rates[r] = out
        variables: dict[str, np.ndarray] = {"nwb_id": np.asarray(trials.id[:])}
        for col in trials.colnames:
            if col in _SKIP_TRIAL_COLUMNS:
                continue
            try:
                v = np.asarray(trials[col][:])
            except (TypeError, ValueError):
                continue
            if v.ndim == 1 and v.dtype != object and len(v) == len(t_align):
                variables[col] = v
            elif v.ndim == 1 and len(v) == len(t_align):
                try:
                    variables[col] = v.astype(str)
                except (TypeError, ValueError):
                    continue
    return Recording(rates, float(bin_ms), trials=variables)
