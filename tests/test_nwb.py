"""read_nwb: small NWB files written here with pynwb, read back as Recordings."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")

from mrnngraph.io.nwb import read_nwb  # noqa: E402
from mrnngraph.recording import Recording  # noqa: E402


def _write(path, *, units=True, trials=True, location_column=False):
    from pynwb import NWBHDF5IO, NWBFile

    f = NWBFile(
        session_description="test",
        identifier="id",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    dev = f.create_device(name="probe")
    groups = {
        a: f.create_electrode_group(name=f"g_{a}", description="", location=a, device=dev)
        for a in ("MOs", "VISp", "VISl")
    }
    for a in ("MOs", "VISp", "VISl"):
        f.add_electrode(group=groups[a], location=a)
    if location_column:
        f.add_unit_column(name="area", description="brain area")
    # unit: (electrode row, spike times)
    spec = [
        (0, [0.105, 0.115, 1.105]),
        (1, [0.205, 1.205, 1.215, 1.225]),
        (0, [0.155]),
        (2, [0.305, 1.305]),
    ]
    if units:
        for row, st in spec:
            kw = (
                {"area": ["MOs", "VISp", "MOs", "VISl"][len(f.units or [])]}
                if location_column
                else {}
            )
            f.add_unit(spike_times=st, electrodes=[row], **kw)
    if trials:
        f.add_trial_column(name="coherence", description="signed coherence")
        f.add_trial_column(name="choice", description="left or right")
        f.add_trial(start_time=0.0, stop_time=1.0, coherence=0.5, choice="left")
        f.add_trial(start_time=1.0, stop_time=2.0, coherence=-0.5, choice="right")
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path


def test_round_trip_bins_spikes_by_trial_and_area(tmp_path):
    path = _write(tmp_path / "s.nwb")
    rec = read_nwb(
        path, regions={"m2": "MOs", "v1": ["VISp", "VISl"]}, bin_ms=100.0, window_ms=(0.0, 400.0)
    )
    assert isinstance(rec, Recording)
    assert rec.regions == ["m2", "v1"] and rec.dt == 100.0
    assert rec.n_neurons == {"m2": 2, "v1": 2} and rec.n_trials == 2 and rec.n_steps == 4
    # unit 0 (MOs): 0.105, 0.115 in trial 0 bin 1; 1.105 in trial 1 bin 1; Hz = count / 0.1
    np.testing.assert_allclose(rec.rates["m2"][:, :, 0], [[0, 20, 0, 0], [0, 10, 0, 0]])
    np.testing.assert_allclose(rec.rates["m2"][:, :, 1], [[0, 10, 0, 0], [0, 0, 0, 0]])
    # VISp unit: 0.205 -> trial 0 bin 2; 1.205, 1.215, 1.225 -> trial 1 bin 2
    np.testing.assert_allclose(rec.rates["v1"][:, 2, 0], [10, 30])
    np.testing.assert_allclose(rec.rates["v1"][:, 3, 1], [10, 10])  # VISl unit
    assert rec.trials["coherence"].tolist() == [0.5, -0.5]
    assert rec.trials["choice"].tolist() == ["left", "right"]
    assert rec.trials["nwb_id"].tolist() == [0, 1]
    counts = read_nwb(
        path, regions={"m2": "MOs"}, bin_ms=100.0, window_ms=(0.0, 400.0), counts=True
    )
    np.testing.assert_allclose(counts.rates["m2"].sum(), 4)
    # the result saves and loads like any recording
    rec.save(tmp_path / "r.npz")
    back = Recording.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(back.rates["v1"], rec.rates["v1"])


def test_alignment_window_and_smoothing(tmp_path):
    path = _write(tmp_path / "s.nwb")
    rec = read_nwb(
        path,
        regions={"m2": "MOs"},
        bin_ms=50.0,
        window_ms=(-100.0, 200.0),
        align="stop_time",
        counts=True,
    )
    # trial 0 stops at 1.0 s: the window is 0.9..1.2 s; 1.105 falls in bin (1.1..1.15) = 4
    assert rec.n_steps == 6
    assert rec.rates["m2"][0, :, 0].tolist() == [0, 0, 0, 0, 1, 0]
    smooth = read_nwb(
        path,
        regions={"m2": "MOs"},
        bin_ms=50.0,
        window_ms=(-100.0, 200.0),
        align="stop_time",
        counts=True,
        smooth_ms=50.0,
    )
    raw = rec.rates["m2"][0, :, 0]
    s = smooth.rates["m2"][0, :, 0]
    assert s.max() < raw.max() and s[3] > 0 and s[5] > 0  # spread to the neighbours
    # a Gaussian of 1 bin s.d. centred on bin 4, normalised to one spike
    k = np.exp(-0.5 * np.arange(-4, 2) ** 2)
    np.testing.assert_allclose(s, k / np.exp(-0.5 * np.arange(-4, 5) ** 2).sum(), rtol=1e-5)


def test_default_window_runs_to_the_shortest_trial(tmp_path):
    path = _write(tmp_path / "s.nwb")
    rec = read_nwb(path, regions={"m2": "MOs"}, bin_ms=300.0, counts=True)
    assert rec.n_steps == 3  # trials last 1 s: three whole 300-ms bins
    np.testing.assert_allclose(rec.rates["m2"][:, 0, 0], [2, 1])
    with pytest.raises(ValueError, match="no trial lasts a whole bin of 2000 ms"):
        read_nwb(path, regions={"m2": "MOs"}, bin_ms=2000.0)


def test_location_column(tmp_path):
    path = _write(tmp_path / "s.nwb", location_column=True)
    rec = read_nwb(
        path, regions={"m2": "MOs"}, bin_ms=100.0, window_ms=(0.0, 400.0), location_column="area"
    )
    assert rec.n_neurons == {"m2": 2}
    with pytest.raises(ValueError, match="no column 'nope'"):
        read_nwb(
            path,
            regions={"m2": "MOs"},
            bin_ms=100.0,
            window_ms=(0.0, 400.0),
            location_column="nope",
        )


def test_missing_area_lists_the_file_areas(tmp_path):
    path = _write(tmp_path / "s.nwb")
    with pytest.raises(
        ValueError,
        match=r"region 'ca1': no units in area 'CA1'\. The "
        r"file's areas: 'MOs' \(2 units\), 'VISl' \(1 unit\), 'VISp' \(1 unit\)",
    ):
        read_nwb(path, regions={"m2": "MOs", "ca1": "CA1"}, bin_ms=100.0, window_ms=(0.0, 400.0))


def test_files_without_units_or_trials(tmp_path):
    no_units = _write(tmp_path / "a.nwb", units=False)
    with pytest.raises(ValueError, match="a.nwb: the file has no units"):
        read_nwb(no_units, regions={"m2": "MOs"}, bin_ms=10.0, window_ms=(0, 100))
    no_trials = _write(tmp_path / "b.nwb", trials=False)
    with pytest.raises(ValueError, match="b.nwb: the file has no trials"):
        read_nwb(no_trials, regions={"m2": "MOs"}, bin_ms=10.0, window_ms=(0, 100))


def test_bad_arguments(tmp_path):
    path = _write(tmp_path / "s.nwb")
    with pytest.raises(ValueError, match="whole, positive number of bins"):
        read_nwb(path, regions={"m2": "MOs"}, bin_ms=30.0, window_ms=(0, 100))
    with pytest.raises(ValueError, match="align='go_cue' is not a trials column"):
        read_nwb(path, regions={"m2": "MOs"}, bin_ms=10.0, window_ms=(0, 100), align="go_cue")
    with pytest.raises(TypeError, match="regions must be a non-empty mapping"):
        read_nwb(path, regions={}, bin_ms=10.0, window_ms=(0, 100))
    with pytest.raises(ValueError, match="bin_ms must be a float > 0"):
        read_nwb(path, regions={"m2": "MOs"}, bin_ms=0, window_ms=(0, 100))


def test_cli_fit_reads_an_nwb_session(tmp_path):
    import argparse
    import json
    import warnings

    import networkx as nx

    import mrnngraph as mg
    from mrnngraph.cli.fitting import register

    path = _write(tmp_path / "s.nwb")
    G = nx.DiGraph(dt=100.0, tau=200.0, activation="tanh")
    G.add_node("m2", size=3)
    G.add_node("v1", size=4)
    G.add_edges_from([("m2", "m2"), ("m2", "v1"), ("v1", "m2"), ("v1", "v1")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.CircuitWarning)
        mg.save(G, tmp_path / "c.json")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "run"
    args = parser.parse_args(
        [
            "fit",
            str(tmp_path / "c.json"),
            str(path),
            "--regions",
            "m2=MOs",
            "v1=VISp,VISl",
            "--steps",
            "2",
            "--out",
            str(out),
            "--quiet",
            "--no-figures",
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.CircuitWarning)
        assert args.handler(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["neurons"] == {"m2": 2, "v1": 2} and metrics["bin_ms"] == 100.0
    assert metrics["trials"] == {"train": 1, "test": 1}
    assert (out / "model.pt").is_file()
