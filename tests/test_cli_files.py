"""``mrnngraph convert / validate / info`` through the real dispatcher."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mrnngraph.cli as cli
from mrnngraph import GraphError, Problem, check, compile
from mrnngraph.cli._args import integer, real
from mrnngraph.cli.files import expected_synapses, info_table
from mrnngraph.compilation import candidates
from mrnngraph.io import load, save
from mrnngraph.presets import cbgt_loop, two_area_ei
from mrnngraph.validation import EdgeSpec, NodeSpec

from .strategies import valid_graphs

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
    for command, words in (
        ("convert", "mrnntorch.json"),
        ("validate", "Exit status 1"),
        ("info", "masked-out fraction"),
    ):
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
    code, _, err = run(
        "convert", EXAMPLES / "cbgt_loop.yaml", tmp_path / "x.txt", "--to", "mrnntorch"
    )
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
    text = text.replace(
        "  - {src: a2,   dst: choice, ei: [E]}      # read out excitatory units only\n", ""
    )
    (tmp_path / "bad.yaml").write_text(text)
    code, out, err = run("validate", tmp_path / "bad.yaml")
    assert code == 1 and err == ""
    lines = out.strip().splitlines()
    errors = [x for x in lines if x.startswith("error:")]
    assert len(errors) == 2
    assert any(
        "line 14: node 'a2'" in x and "'exc_frac' must be a float in [0, 1]" in x for x in errors
    )
    assert any(
        "line 18: edge ('stim', 'a1')" in x and "did you mean 'density'?" in x for x in errors
    )
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
    code, out, err = run("info", EXAMPLES / "cbgt_loop.yaml")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert lines[0] == "circuit 'cbgt_loop': 8 regions, 1 inputs, 1 outputs"
    header = lines[1].split()
    assert header == ["node", "kind", "units", "E/I", "in", "out", "params", "masked"]
    rows = {x.split()[0]: x.split() for x in lines[2:-1]}
    assert list(rows) == [
        "stim",
        "ctx_e",
        "ctx_i",
        "d1",
        "d2",
        "gpe",
        "stn",
        "snr",
        "thal",
        "choice",
        "total",
    ]
    assert rows["stim"][1:4] == ["input", "3", "free"]
    assert rows["ctx_e"][1:6] == ["recurrent", "96", "96/0", "4", "6"]
    assert rows["gpe"][3:6] == ["0/16", "2", "2"]  # the zero d1 -> gpe edge is not counted
    assert rows["choice"][1:6] == ["output", "3", "-", "1", "0"]
    assert rows["choice"][6] == str(3 * 96)  # dense readout of ctx_e
    assert rows["total"][1:2] == ["240"]
    # Without --report nothing is compiled: the counts are the expected ones.
    assert lines[-1].startswith("params and masked: expected counts for 'bernoulli'")
    spec = check(cbgt_loop())
    expected = sum(
        expected_synapses(e, spec.nodes[e.src], spec.nodes[e.dst])[0]
        for e in spec.edges
        if e.trainable
    )
    assert int(rows["total"][4]) == round(expected)


def test_info_report_counts_the_drawn_masks(run):
    code, out, err = run("info", EXAMPLES / "cbgt_loop.yaml", "--seed", "3", "--report")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "circuit 'cbgt_loop': 8 regions, 1 inputs, 1 outputs (seed 3)"
    c = compile(cbgt_loop(), seed=3)
    assert "\n".join(lines[1:13]) == info_table(c)
    total = lines[12].split()
    free = int(c.mask_hh.sum()) + int(c.mask_ih.sum()) + int(c.mask_ho.sum())
    assert int(total[4]) == free  # every cbgt_loop projection is trainable, no learned bias
    masked = 1 - free / (240 * 240 + 240 * 3 + 3 * 240)
    assert float(total[5]) == pytest.approx(masked, abs=5e-4)
    assert "params and masked: expected" not in out
    # The same seed gives the same report.
    assert run("info", EXAMPLES / "cbgt_loop.yaml", "--seed", "3", "--report")[1] == out


@settings(max_examples=60, deadline=None)
@given(valid_graphs())
def test_info_table_from_the_spec_agrees_with_the_compiled_masks(G):
    spec = check(G)
    c = compile(G, seed=0)
    all_exact = True
    for e in spec.edges:
        n, exact = expected_synapses(e, spec.nodes[e.src], spec.nodes[e.dst])
        drawn = int(c.blocks[(e.src, e.dst)].mask.sum())
        cand = 0 if e.zero else int(candidates(e, spec.nodes[e.src], spec.nodes[e.dst]).sum())
        assert 0 <= n <= cand
        if exact:
            assert n == drawn, e
        else:  # bernoulli: a binomial draw around its mean
            all_exact = False
            p = e.density
            assert n == pytest.approx(cand * p)
            assert abs(drawn - n) <= 6 * math.sqrt(cand * p * (1 - p)) + 1
    if all_exact:
        assert info_table(spec) == info_table(c)


def test_expected_synapses_of_each_rule_without_tensors():
    a = NodeSpec("a", "recurrent", 10**9, exc_frac=0.75)
    b = NodeSpec("b", "recurrent", 10**9)
    for rule, n in (
        ("bernoulli", 0.5 * 10**18),
        ("fixed_indegree", 5 * 10**17),
        ("fixed_outdegree", 5 * 10**17),
        ("fixed_total", 5 * 10**17),
        ("one_to_one", 5 * 10**8),
    ):
        got, exact = expected_synapses(EdgeSpec("a", "b", sparsity=0.5, rule=rule), a, b)
        assert got == n and exact == (rule != "bernoulli")
    # Self-edge without autapses: the diagonal of each E/I sub-block is left out.
    got, _ = expected_synapses(EdgeSpec("a", "a", autapses=False, ei=("EE", "I")), a, a)
    e_units = 75 * 10**7
    assert got == e_units * (e_units - 1) + (10**9 - e_units) * (10**9 - 1)
    assert expected_synapses(EdgeSpec("a", "b", zero=True), a, b) == (0, True)


# ------------------------------------------------- the real command, in a child process
ROOT = Path(__file__).resolve().parents[1]
#: Address space of a child: enough for Python, torch and a small circuit; a command
#: that tried to allocate a 10**9-unit region would fail (not be killed by the kernel).
CHILD_MEMORY = 2 * 2**30

_BATCH = """
import contextlib, io, json, sys, traceback
from mrnngraph.cli import main
results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = None
    results.append([code, out.getvalue(), err.getvalue()])
json.dump(results, sys.__stdout__)
"""


def _limit_memory():  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))


def _child_env():
    env = {k: v for k, v in os.environ.items() if k != "MRNNGRAPH_MEMORY_LIMIT"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def mrnngraph(*args, cwd=None, timeout=120):
    """Run ``python -m mrnngraph ARGS`` in a child process with limited memory:
    (exit code, stdout, stderr). Each start costs the package's import, so most cases
    go through :func:`mrnngraph_batch`; this one checks the real entry point."""
    proc = subprocess.run(
        [sys.executable, "-m", "mrnngraph", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=_child_env(),
        preexec_fn=_limit_memory,
    )
    return proc.returncode, proc.stdout, proc.stderr


def mrnngraph_batch(cases, *, cwd=None, timeout=240):
    """Run the command line once per argument list in ONE child process with limited
    memory (one start-up for all): {name: (exit code, stdout, stderr)}. An exception
    that escapes the command gives exit code None and its traceback on stderr."""
    names = list(cases)
    proc = subprocess.run(
        [sys.executable, "-c", _BATCH],
        capture_output=True,
        text=True,
        input=json.dumps([[str(a) for a in cases[n]] for n in names]),
        timeout=timeout,
        cwd=cwd,
        env=_child_env(),
        preexec_fn=_limit_memory,
    )
    assert proc.returncode == 0, proc.stderr
    return {n: tuple(r) for n, r in zip(names, json.loads(proc.stdout), strict=True)}


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


HUGE = (
    "regions:\n  a: {size: 1000000000}\n  b: {size: 3, sign: inh}\n"
    "connections:\n  - {src: a, dst: b, density: 0.5}\n  - {src: b, dst: a}\n"
)
HOSTILE = {
    "recursive.yaml": "meta: &r [*r]\nregions: {a: {size: 2}}\n",
    "deep.json": "[" * 20000 + "]" * 20000,
    "binary.graphml": "\x00\xff\xfe garbage",
}


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """Every command-line case of this module, run in one memory-limited child."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "huge.yaml").write_text(HUGE)
    (tmp / "adir.yaml").mkdir()
    (tmp / "file").write_text("")
    for name, text in HOSTILE.items():
        (tmp / name).write_text(text, encoding="latin-1")
    src = EXAMPLES / "two_area_ei.yaml"
    cases = {
        "huge validate": ["validate", "huge.yaml"],
        "huge info": ["info", "huge.yaml"],
        "huge convert": ["convert", "huge.yaml", "huge.json"],
        "huge info --report": ["info", "huge.yaml", "--report"],
        "missing": ["validate", "nope.yaml"],
        "directory": ["info", "adir.yaml"],
        "missing input": ["convert", "nope.json", "x.yaml"],
        "out under a file": ["convert", src, "file/x.json"],
        "out in no directory": ["convert", src, "no/x.json"],
        "out is a directory": ["convert", src, "adir.yaml"],
    }
    for name in HOSTILE:
        for command in ("validate", "info"):
            cases[f"{command} {name}"] = [command, name]
    return tmp, mrnngraph_batch(cases, cwd=tmp)


def test_huge_circuit_read_only_commands_do_not_allocate(child):
    tmp, results = child
    # validate finds that this machine cannot compile it, and says so on one line.
    code, out, err = results["huge validate"]
    assert code == 1 and "Traceback" not in err
    problems = [x for x in out.splitlines() if x.startswith("error:")]
    assert len(problems) == 1 and "compiling needs about" in problems[0]
    assert "'a'" in problems[0]
    # info and convert only read it: the table comes from the declaration.
    code, out, err = results["huge info"]
    assert code == 0, err
    rows = {x.split()[0]: x.split() for x in out.splitlines()[2:6]}
    assert rows["a"][1:4] == ["recurrent", "1000000000", "free"]
    assert rows["b"][6] == str(10**9 * 3 // 2)  # expected synapses of a -> b
    assert "compiling needs about" in err and "Traceback" not in err
    code, out, err = results["huge convert"]
    assert code == 0, err
    assert load(tmp / "huge.json", check=False).nodes["a"]["size"] == 10**9


def test_huge_circuit_info_report_refuses_on_one_line(child):
    code, out, err = child[1]["huge info --report"]
    assert code == 1 and out == ""
    line = one_error_line(err)
    assert line.startswith("error: ") and "compiling needs about" in line and "'a'" in line


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "'nope.yaml': No such file or directory"),
        ("directory", "'adir.yaml': Is a directory"),
        ("missing input", "'nope.json': No such file or directory"),
    ],
)
def test_unreadable_files_are_one_line_errors(child, case, message):
    code, out, err = child[1][case]
    assert code == 1 and out == ""
    assert one_error_line(err) == f"error: {message}"


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="needs a user whom file permissions apply to"
)
def test_a_file_without_read_permission_is_a_one_line_error(run, tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text("regions: {a: {size: 2}}\n")
    path.chmod(0)
    code, _, err = run("validate", path)
    assert code == 1 and "Permission denied" in one_error_line(err)


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("command", ["validate", "info"])
def test_hostile_files_end_in_one_line_not_a_traceback(child, command, name):
    code, out, err = child[1][f"{command} {name}"]
    assert code == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and all(
        x.startswith(("error: ", "  - ")) for x in err.splitlines()
    )


@pytest.mark.parametrize(
    "case, why",
    [
        ("out under a file", "is not a directory"),
        ("out in no directory", "there is no directory"),
        ("out is a directory", "is a directory"),
    ],
)
def test_bad_output_paths_are_usage_errors(child, case, why):
    code, _, err = child[1][case]
    line = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err
    assert why in line and line.startswith("mrnngraph convert: error: argument OUT:")
    assert not (child[0] / "file").is_dir() and not (child[0] / "no").exists()


@pytest.mark.parametrize("args", [("--seed", "-1"), ("--seed", "1.5"), ("--seed", "7" * 50)])
def test_bad_numbers_are_usage_errors(run, capsys, args):
    with pytest.raises(SystemExit) as exc:
        run("info", EXAMPLES / "two_area_ei.yaml", *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "argument --seed: must be an integer >= 0" in err


def test_startup_imports_neither_torch_nor_matplotlib(tmp_path):
    """validate, info and convert of a small file load no heavy package."""
    probe = (
        "import sys\n"
        "from mrnngraph.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib') if m in sys.modules)\n"
        "print('HEAVY', ','.join(heavy), code)\n"
    )
    src = EXAMPLES / "cbgt_loop.yaml"
    for argv in (["validate", src], ["info", src], ["convert", src, tmp_path / "c.json"]):
        proc = subprocess.run(
            [sys.executable, "-c", probe, *map(str, argv)],
            capture_output=True,
            text=True,
            timeout=120,
            env=_child_env(),
        )
        assert proc.stdout.splitlines()[-1] == "HEAVY  0", (argv, proc.stdout, proc.stderr)


# ------------------------------------------------------------ argument types, messages
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["", "x", "1e999", "-0", "0x10", " 3 ", "1_000"]),
    )
)
def test_real_accepts_exactly_the_finite_numbers_in_its_range(text):
    parse = real(low=0, high=2400)
    try:
        value = float(text)
    except ValueError:
        value = None
    ok = value is not None and math.isfinite(value) and 0 < value <= 2400
    if ok:
        assert parse(text) == value
    else:
        with pytest.raises(
            argparse.ArgumentTypeError,
            match=r"^must be a finite number > 0 "
            r"and <= 2400; got ",
        ):
            parse(text)


@given(st.integers(-(10**30), 10**30))
def test_integer_accepts_exactly_the_integers_in_its_range(n):
    parse = integer(low=0, high=10**20)
    if 0 <= n <= 10**20:
        assert parse(str(n)) == n
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="must be an integer >= 0"):
            parse(str(n))
    with pytest.raises(argparse.ArgumentTypeError):
        parse("9" * 5000)  # refused without converting 5,000 digits


def test_errors_are_printed_one_line_per_problem(capsys):
    from mrnngraph.cli import report_error

    a = Problem("node 'a'", "'size' must be\nan integer")
    b = Problem("edge ('a', 'b')", "'sparsity' must be a float in [0, 1]; got 1.5")
    report_error(GraphError([a, b]))
    assert capsys.readouterr().err == (
        "error: node 'a': 'size' must be an integer\n"
        "error: edge ('a', 'b'): 'sparsity' must be a float in "
        "[0, 1]; got 1.5\n"
    )
    report_error(GraphError([b], header="the graph cannot be saved"))
    assert capsys.readouterr().err == f"error: the graph cannot be saved: {b}\n"
    report_error(GraphError([a, b], header="cannot read 'x.yaml'"))
    assert capsys.readouterr().err.splitlines() == [
        "error: cannot read 'x.yaml':",
        "  - node 'a': 'size' must be an integer",
        f"  - {b}",
    ]
    report_error(IsADirectoryError(21, "Is a directory", "c.yaml"))
    assert capsys.readouterr().err == "error: 'c.yaml': Is a directory\n"


@pytest.mark.parametrize("report", [False, True])
def test_info_prints_each_warning_once_with_its_line(run, tmp_path, report):
    (tmp_path / "w.yaml").write_text("regions:\n  a: {size: 2}\n  b: {size: 3}\n")
    code, out, err = run("info", tmp_path / "w.yaml", *(["--report"] if report else []))
    assert code == 0 and "a  " in out
    lines = err.splitlines()
    assert len(lines) == len(set(lines)) == 4
    path = tmp_path / "w.yaml"
    assert f"warning: file {str(path)!r}, line 3: node 'b': region has no edges at all" in lines


def test_only_the_named_command_group_is_registered(monkeypatch):
    loaded = []
    real = cli.importlib.import_module
    monkeypatch.setattr(
        cli.importlib, "import_module", lambda name, *a: loaded.append(name) or real(name, *a)
    )
    for argv, modules in (
        (["validate", "x.yaml"], ["files"]),
        (["draw", "-h"], ["drawing"]),
        (["-h", "validate"], list(cli.COMMAND_MODULES)),
        (["--version"], list(cli.COMMAND_MODULES)),
        (["nonsense"], list(cli.COMMAND_MODULES)),
    ):
        loaded.clear()
        cli.build_parser(cli._command_module(argv))
        assert loaded == [f"mrnngraph.cli.{m}" for m in modules], argv
