"""``mrnngraph convert / validate / info`` through the real dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mrnngraph.cli as cli
from mrnngraph.io import load, save
from mrnngraph.presets import cbgt_loop, two_area_ei

DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "circuits"


@pytest.fixture
def run(monkeypatch, capsys):
    """Run ``mrnngraph ARGS``; returns (exit code, stdout, stderr)."""
    # Only this module's commands: the other command groups are tested on their own.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("files",))

    def call(*args):
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_every_command_has_help(run, capsys):
    for command, words in (("convert", "mrnntorch.json"), ("validate", "Exit status 1"),
                           ("info", "masked-out fraction")):
        with pytest.raises(SystemExit) as exc:
            run(command, "--help")
        assert exc.value.code == 0
        assert words in capsys.readouterr().out


def test_convert_between_all_formats(run, tmp_path):
    src = EXAMPLES / "cbgt_loop.yaml"
    G = load(src)
    prev = src
    for name in ("c.json", "c.graphml", "c.yml", "back.json"):
        code, out, err = run("convert", prev, tmp_path / name)
        assert code == 0 and out.strip() == f"wrote {tmp_path / name}" and err == ""
        H = load(tmp_path / name)
        assert list(H.nodes(data=True)) == list(G.nodes(data=True))
        assert list(H.edges(data=True)) == list(G.edges(data=True))
        prev = tmp_path / name


def test_convert_mrnntorch_in_and_out(run, tmp_path):
    code, _, _ = run("convert", DATA / "cbgt_mrnntorch.json", tmp_path / "cbgt.yaml")
    assert code == 0
    G = load(tmp_path / "cbgt.yaml")
    assert G.nodes["region_7"]["size"] == 8 and G.edges["alm_exc", "str_d1"]["sparsity"] == 0.3
    code, _, err = run("convert", tmp_path / "cbgt.yaml", tmp_path / "again.mrnntorch.json")
    assert code == 0 and err == ""
    again = json.loads((tmp_path / "again.mrnntorch.json").read_text())
    assert [r["name"] for r in again["recurrent_regions"]][-1] == "region_7"
    # Lossy parts are reported as warnings on stderr, not hidden.
    code, _, err = run("convert", EXAMPLES / "cbgt_loop.yaml", tmp_path / "x.txt",
                       "--to", "mrnntorch")
    assert code == 1 and "rule 'bernoulli'" in err and "Traceback" not in err
    assert not (tmp_path / "x.txt").exists()


def test_convert_refuses_what_mrnntorch_cannot_express(run, tmp_path):
    code, out, err = run("convert", EXAMPLES / "two_area_ei.yaml", tmp_path / "t.mrnntorch.json")
    assert code == 1 and out == ""
    assert "cannot be written as an mRNNTorch config" in err
    assert err.count("mixed E/I region") == 2 and "Traceback" not in err


def test_convert_checks_unless_told_not_to(run, tmp_path):
    G = two_area_ei(size=4)
    G.nodes["a1"]["size"] = 0
    save(G, tmp_path / "bad.yaml")
    code, _, err = run("convert", tmp_path / "bad.yaml", tmp_path / "bad.json")
    assert code == 1 and "'size' must be an integer" in err and "line 10" in err
    code, _, _ = run("convert", tmp_path / "bad.yaml", tmp_path / "bad.json", "--no-check")
    assert code == 0 and load(tmp_path / "bad.json", check=False).nodes["a1"]["size"] == 0


def test_validate_valid_file(run):
    code, out, _ = run("validate", EXAMPLES / "cbgt_loop.yaml")
    assert code == 0
    assert out.strip().endswith("cbgt_loop.yaml: valid (0 errors, 0 warnings)")


def test_validate_lists_every_error_and_warning(run, tmp_path):
    text = (EXAMPLES / "two_area_ei.yaml").read_text()
    text = text.replace("a2:     {size: 100, exc_frac: 0.8}", "a2:     {size: 100, exc_frac: 1.8}")
    text = text.replace("density: 0.5}", "densty: 0.5}")
    text = text.replace("  - {src: a2,   dst: choice, ei: [E]}      # read out excitatory units "
                        "only\n", "")
    (tmp_path / "bad.yaml").write_text(text)
    code, out, err = run("validate", tmp_path / "bad.yaml")
    assert code == 1 and err == ""
    lines = out.strip().splitlines()
    errors = [x for x in lines if x.startswith("error:")]
    assert len(errors) == 2
    assert any("line 14: node 'a2'" in x and "'exc_frac' must be a float in [0, 1]" in x
               for x in errors)
    assert any("line 18: edge ('stim', 'a1')" in x and "did you mean 'density'?" in x
               for x in errors)
    assert lines[-1].endswith("bad.yaml: invalid (2 errors, 0 warnings)")


def test_validate_warnings_exit_zero(run, tmp_path):
    G = two_area_ei(size=4)
    G.remove_edge("a2", "choice")
    save(G, tmp_path / "w.json")
    code, out, _ = run("validate", tmp_path / "w.json")
    assert code == 0
    assert "warning: " in out and "has no path to any output" in out
    assert out.strip().endswith("valid (0 errors, 2 warnings)")


def test_validate_mrnntorch_config(run, tmp_path):
    code, out, _ = run("validate", DATA / "cbgt_mrnntorch.json")
    assert code == 0 and "the circuit has no output nodes" in out
    bad = json.loads((DATA / "cbgt_mrnntorch.json").read_text())
    bad["recurrent_regions"][0]["sign"] = "exc"
    bad["recurrent_connections"][0]["sparsity"] = 2
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, out, _ = run("validate", tmp_path / "bad.json")
    assert code == 1 and out.count("error:") == 2


def test_malformed_file_exits_one_without_traceback(run, tmp_path):
    (tmp_path / "broken.json").write_text('{"format": "mrnngraph",\n "version": 1,\n oops}')
    for command in ("validate", "info"):
        code, out, err = run(command, tmp_path / "broken.json")
        assert code == 1 and "line 3" in err and "JSON syntax error" in err
        assert "Traceback" not in err
    code, _, err = run("info", tmp_path / "missing.yaml")
    assert code == 1 and "missing.yaml" in err


def test_info_table(run, tmp_path):
    code, out, err = run("info", EXAMPLES / "cbgt_loop.yaml", "--seed", "3")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "circuit 'cbgt_loop': 8 regions, 1 inputs, 1 outputs (seed 3)"
    header = lines[1].split()
    assert header == ["node", "kind", "units", "E/I", "in", "out", "params", "masked"]
    rows = {x.split()[0]: x.split() for x in lines[2:]}
    assert list(rows) == ["stim", "ctx_e", "ctx_i", "d1", "d2", "gpe", "stn", "snr", "thal",
                          "choice", "total"]
    assert rows["stim"][1:4] == ["input", "3", "free"]
    assert rows["ctx_e"][1:6] == ["recurrent", "96", "96/0", "4", "6"]
    assert rows["gpe"][3:6] == ["0/16", "2", "2"]  # the zero d1 -> gpe edge is not counted
    assert rows["choice"][1:6] == ["output", "3", "-", "1", "0"]
    assert rows["choice"][6] == str(3 * 96)  # dense readout of ctx_e
    assert rows["total"][1:2] == ["240"]
    G = cbgt_loop()
    from mrnngraph import compile

    c = compile(G, seed=3)
    free = (int(c.mask_hh.sum()) + int(c.mask_ih.sum()) + int(c.mask_ho.sum()))
    assert int(rows["total"][4]) == free
    masked = 1 - free / (240 * 240 + 240 * 3 + 3 * 240)
    assert float(rows["total"][5]) == pytest.approx(masked, abs=5e-4)
    # The same seed gives the same table.
    assert run("info", EXAMPLES / "cbgt_loop.yaml", "--seed", "3")[1] == out
