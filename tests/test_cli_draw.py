"""``mrnngraph draw``: figures of circuit files from the command line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import pytest  # noqa: E402

import mrnngraph.cli as cli  # noqa: E402
from mrnngraph.cli import drawing  # noqa: E402
from mrnngraph.presets import cbgt_loop, two_area_ei  # noqa: E402

SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF", "svg": b"<?xml"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def run(monkeypatch, capsys):
    """Run ``mrnngraph ARGS`` with only the drawing commands; (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("drawing",))

    def call(*args):
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


@pytest.fixture
def loads(monkeypatch):
    """Make the command read circuits from this dict (file name -> graph) instead of files."""
    graphs: dict[str, nx.DiGraph] = {}

    def fake_load(path, file_format):
        if path not in graphs:
            raise FileNotFoundError(f"no such file: {path!r}")
        return graphs[path]

    monkeypatch.setattr(drawing, "_load", fake_load)
    return graphs


def broken() -> nx.DiGraph:
    G = cbgt_loop()
    G.nodes["gpe"]["sign"] = "sideways"
    G.edges["d1", "snr"]["sparsity"] = 1.5
    return G


def test_register_adds_draw_with_its_options():
    parser = argparse.ArgumentParser(prog="mrnngraph")
    drawing.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["draw", "c.yaml", "-o", "c.png", "--matrix", "--seed", "3"])
    assert (args.circuit, args.output, args.matrix, args.seed) == ("c.yaml", "c.png", True, 3)
    assert args.handler is drawing._draw
    with pytest.raises(SystemExit):
        parser.parse_args(["draw", "c.yaml"])  # -o is required


def test_help_names_the_formats(run, capsys):
    with pytest.raises(SystemExit) as exc:
        run("draw", "--help")
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert ".png, .svg, .pdf" in out and "--matrix" in out


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_writes_each_format(run, loads, tmp_path, fmt):
    loads["cbgt.json"] = cbgt_loop()
    out = tmp_path / f"cbgt.{fmt}"
    code, stdout, err = run("draw", "cbgt.json", "-o", out)
    assert code == 0, err
    assert out.read_bytes().startswith(SIGNATURES[fmt])
    assert f"wrote {out}" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_svg_has_the_diagram_content(run, loads, tmp_path):
    loads["two.yaml"] = two_area_ei()
    out = tmp_path / "two.svg"
    assert run("draw", "two.yaml", "-o", out)[0] == 0
    text = out.read_text()
    for gid in ("mrnngraph:node:a1", "mrnngraph:node:choice", "mrnngraph:edge:a1->a2"):
        assert f'id="{gid}"' in text.replace("&gt;", ">")


def test_matrix_puts_the_connectivity_beside_the_diagram():
    fig = drawing.draw_figure(cbgt_loop(), matrix=True, seed=0)
    images = {im.get_gid() for a in fig.axes for im in a.images}
    assert images == {"mrnngraph:matrix:hh", "mrnngraph:matrix:ih", "mrnngraph:matrix:ho"}
    diagram = [
        a
        for a in fig.axes
        if any((p.get_gid() or "").startswith("mrnngraph:node:") for p in a.patches)
    ]
    assert len(diagram) == 1
    fig.canvas.draw()
    matrix = [a for a in fig.axes if a.images][0]
    assert diagram[0].get_position().x1 < matrix.get_position().x0  # side by side
    alone = drawing.draw_figure(cbgt_loop())
    assert len(alone.axes) == 1 and not alone.axes[0].images


def test_matrix_seed_changes_the_weights():
    def weights(seed):
        fig = drawing.draw_figure(two_area_ei(size=20), matrix=True, seed=seed)
        return [im for a in fig.axes for im in a.images if im.get_gid() == "mrnngraph:matrix:hh"][
            0
        ].get_array()

    assert (weights(1) == weights(1)).all()
    assert not (weights(1) == weights(2)).all()


def test_matrix_option_writes_a_file(run, loads, tmp_path):
    loads["cbgt.json"] = cbgt_loop()
    out = tmp_path / "cbgt.png"
    code, _, err = run("draw", "cbgt.json", "-o", out, "--matrix", "--seed", "1", "--which", "sign")
    assert code == 0, err
    assert out.read_bytes().startswith(SIGNATURES["png"])


def test_an_invalid_circuit_is_drawn_but_not_compiled(run, loads, tmp_path):
    loads["bad.json"] = broken()
    out = tmp_path / "bad.png"
    code, _, err = run("draw", "bad.json", "-o", out)
    assert code == 0, err
    assert out.exists()
    out2 = tmp_path / "bad_matrix.png"
    code, _, err = run("draw", "bad.json", "-o", out2, "--matrix")
    assert code == 1
    assert "node 'gpe'" in err and "edge ('d1', 'snr')" in err
    assert not out2.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


def test_unknown_figure_format_is_refused(run, loads, tmp_path):
    loads["cbgt.json"] = cbgt_loop()
    code, _, err = run("draw", "cbgt.json", "-o", tmp_path / "cbgt.bmp")
    assert code == 2 and ".png, .svg, .pdf" in err
    assert list(tmp_path.iterdir()) == []


def test_missing_circuit_file_is_an_error(run, loads, tmp_path):
    code, _, err = run("draw", "nope.json", "-o", tmp_path / "x.png")
    assert code == 1 and "nope.json" in err


def test_existing_figure_survives_a_failed_draw(run, loads, tmp_path):
    loads["bad.json"] = broken()
    out = tmp_path / "keep.png"
    out.write_bytes(b"old")
    assert run("draw", "bad.json", "-o", out, "--matrix")[0] == 1
    assert out.read_bytes() == b"old"


# ------------------------------------------------------------------ through real files
@pytest.mark.parametrize("suffix", [".json", ".yaml", ".graphml"])
def test_end_to_end_with_the_package_reader(run, tmp_path, suffix):
    io = pytest.importorskip("mrnngraph.io")
    path = tmp_path / f"cbgt{suffix}"
    io.save(cbgt_loop(), path)
    out = tmp_path / "cbgt.png"
    code, _, err = run("draw", path, "-o", out, "--matrix")
    assert code == 0, err
    assert out.read_bytes().startswith(SIGNATURES["png"])


def test_end_to_end_draws_a_broken_circuit_file(run, tmp_path):
    io = pytest.importorskip("mrnngraph.io")
    path = tmp_path / "broken.json"
    io.save(broken(), path)
    out = tmp_path / "broken.pdf"
    code, _, err = run("draw", path, "-o", out)
    assert code == 0, err
    assert out.read_bytes().startswith(SIGNATURES["pdf"])


def test_a_plain_node_link_file_can_be_drawn(run, monkeypatch, tmp_path):
    """Without the package reader, a networkx node-link JSON is still a circuit to draw."""
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(nx.node_link_data(two_area_ei(), edges="links")))
    monkeypatch.setattr(
        drawing, "_load", lambda p, f: nx.node_link_graph(json.loads(open(p).read()), edges="links")
    )
    out = tmp_path / "plain.png"
    assert run("draw", path, "-o", out)[0] == 0
    assert out.read_bytes().startswith(SIGNATURES["png"])


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("dpi", ["0", "-5", "nan", "inf", "100000", "abc", ""])
def test_bad_dpi_is_a_usage_error(run, loads, capsys, tmp_path, dpi):
    loads["cbgt.json"] = cbgt_loop()
    with pytest.raises(SystemExit) as exc:
        run("draw", "cbgt.json", "-o", tmp_path / "x.png", "--dpi", dpi)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "mrnngraph draw: error: argument --dpi: must be a finite "
        f"number > 0 and <= 2400; got {dpi!r}"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_dpi_too_fine_for_the_figure_is_refused_before_rendering(run, loads, tmp_path):
    loads["cbgt.json"] = cbgt_loop()
    code, out, err = run("draw", "cbgt.json", "-o", tmp_path / "x.png", "--dpi", "2400", "--matrix")
    assert code == 2 and out == "" and list(tmp_path.iterdir()) == []
    assert err.startswith("error: argument --dpi: 2400 makes a ") and err.count("\n") == 1
    fits = float(err.split("use --dpi ")[1].split()[0])
    w, h = drawing.draw_figure(cbgt_loop(), matrix=True).get_size_inches()
    assert w * h * fits**2 <= drawing.MAX_PIXELS < w * h * (fits + 1) ** 2


@pytest.mark.parametrize("seed", ["-1", "0.5", "x"])
def test_bad_seed_is_a_usage_error(run, loads, capsys, tmp_path, seed):
    loads["cbgt.json"] = cbgt_loop()
    with pytest.raises(SystemExit) as exc:
        run("draw", "cbgt.json", "-o", tmp_path / "x.png", "--seed", seed)
    assert exc.value.code == 2
    assert "argument --seed: must be an integer >= 0" in capsys.readouterr().err


# ------------------------------------------------------- the real command, in a child
def test_huge_circuit_is_drawn_without_allocating_it(tmp_path):
    from .test_cli_files import HUGE, mrnngraph, mrnngraph_batch, one_error_line

    (tmp_path / "huge.yaml").write_text(HUGE)
    results = mrnngraph_batch(
        {
            "diagram": ["draw", "huge.yaml", "-o", "huge.svg"],
            "matrix": ["draw", "huge.yaml", "-o", "matrix.png", "--matrix"],
        },
        cwd=tmp_path,
    )
    code, out, err = results["diagram"]
    assert code == 0 and out.strip() == "wrote huge.svg", err
    svg = (tmp_path / "huge.svg").read_text()
    assert 'id="mrnngraph:node:a"' in svg
    assert "mrnngraph:invalid" not in svg  # too large to compile here is not invalid
    code, out, err = results["matrix"]
    assert code == 1 and out == ""
    line = one_error_line(err)
    assert line.startswith("error: ") and "compiling needs about" in line and "'a'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.svg", "huge.yaml"]
    # The 100000 dpi that ended in std::bad_alloc, through the real entry point.
    code, out, err = mrnngraph(
        "draw", tmp_path / "huge.yaml", "-o", tmp_path / "x.png", "--dpi", "100000"
    )
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.splitlines()[-1].startswith("mrnngraph draw: error: argument --dpi:")


def test_drawing_a_diagram_does_not_import_torch(tmp_path):
    from .test_cli_files import EXAMPLES, _child_env

    probe = (
        "import sys\n"
        "from mrnngraph.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('TORCH', 'torch' in sys.modules, code)\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "draw",
            str(EXAMPLES / "cbgt_loop.yaml"),
            "-o",
            str(tmp_path / "c.svg"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_child_env(),
    )
    assert proc.stdout.splitlines()[-1] == "TORCH False 0", (proc.stdout, proc.stderr)
