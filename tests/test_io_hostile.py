"""Hostile and odd files (issue 13): every reader bounded, every error a GraphError naming
the file, and every valid graph saved to a file that loads back to the same circuit.

What could hang runs in a child process with a timeout, so a regression fails instead
of stalling the suite.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest

from mrnngraph import GraphError
from mrnngraph.io import load, save
from mrnngraph.io._common import MAX_DEPTH
from mrnngraph.presets import two_area_ei
from tests.strategies_files import hostile_files

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("json", "yaml", "graphml")


def run_child(code: str, timeout: float, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (default threads, no pytest); fail on a hang."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=env,
        )
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        last = out.strip().splitlines()[-1:] or ["(nothing)"]
        pytest.fail(f"the child did not finish in {timeout} s; last line: {last[0]}")


_LOAD_ALL = """
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    from mrnngraph import GraphError
    from mrnngraph.io import load, validate_file
    for path in sys.argv[1:]:
        print("start", path, flush=True)
        out = {"path": path}
        for name, fn in (("load", load), ("validate_file", validate_file)):
            t = time.perf_counter()
            try:
                fn(path)
                out[name] = ["ok"]
            except GraphError as err:
                out[name] = ["GraphError", [p.where for p in err.problems]]
            except BaseException as err:
                out[name] = [type(err).__name__, str(err)[:200]]
            out[name + "_s"] = time.perf_counter() - t
        print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    paths = []
    for name, data in hostile_files():
        path = folder / name
        path.write_bytes(data)
        paths.append(str(path))
    proc = run_child(_LOAD_ALL, 240, *paths)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(paths)
    return results


def test_every_hostile_file_is_read_or_refused_with_a_graph_error(hostile_results):
    """Issue 13 §1 and §5: no hang, no RecursionError, TypeError, ValueError..."""
    escaped = [
        (os.path.basename(r["path"]), r[fn])
        for r in hostile_results
        for fn in ("load", "validate_file")
        if r[fn][0] not in ("ok", "GraphError")
    ]
    assert not escaped
    for r in hostile_results:
        name = os.path.basename(r["path"])
        if name.startswith("ok-"):
            assert r["load"] == ["ok"], name
        for fn in ("load", "validate_file"):
            if r[fn][0] == "GraphError":  # every problem names the file
                assert all(repr(r["path"]) in where for where in r[fn][1]), (name, r[fn])


def test_hostile_corpus_covers_the_issue():
    names = {name for name, _ in hostile_files()}
    assert len(names) == len(hostile_files()) >= 150
    for prefix in (
        "yaml-alias-chain",
        "yaml-recursive",
        "yaml-deep",
        "yaml-int-key",
        "yaml-region-name-tilde",
        "yaml-huge-int",
        "json-deep",
        "json-huge-int",
        "json-node-attr-node_for_adding",
        "graphml-attr-u_of_edge",
        "mrnn-sign-list",
        "graphml-no-graph",
        "graphml-laughs-utf-16",
        "graphml-deep-json",
    ):
        assert any(n.startswith(prefix) for n in names), prefix


_CHAIN = """
    import sys, warnings
    warnings.simplefilter("ignore")
    from mrnngraph import GraphError
    from mrnngraph.io import load
    try:
        load(sys.argv[1])
    except GraphError as err:
        print(err.problems[0].code, err.problems[0].message)
"""


def _chain(levels: int) -> str:
    lines = ["meta:", "  a0: &a0 [x,x,x,x,x,x,x,x,x]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines + ["regions: {a: {size: 2}}"]) + "\n"


@pytest.mark.parametrize("levels", [10, 40])
def test_yaml_alias_chain_is_refused_quickly(tmp_path, levels):
    """Issue 13 §1: the 492-byte file (and its 2**39 big brother) hung every reader."""
    path = tmp_path / "chain.yaml"
    path.write_text(_chain(levels))
    if levels == 10:
        assert len(path.read_bytes()) < 600
    proc = run_child(_CHAIN, 60, str(path))
    assert proc.stdout.startswith("too-many-aliases aliases expand the document"), proc.stderr


_RANDOM_ALIASES = """
    import random, sys, time, warnings
    warnings.simplefilter("ignore")
    from mrnngraph import GraphError
    from mrnngraph.io._yaml import graph_from_yaml
    rng = random.Random(int(sys.argv[1]))
    for i in range(60):
        n = rng.randint(1, 30)
        lines = ["meta:"]
        maps = []
        for k in range(n):
            refs = [f"*a{rng.randrange(k)}" for _ in range(rng.randint(1, 12))] if k else []
            if maps and rng.random() < 0.3:  # merge keys take mappings only
                merged = [f"*a{rng.choice(maps)}" for _ in range(rng.randint(1, 4))]
                lines.append(f"  a{k}: &a{k} {{<<: [{', '.join(merged)}], "
                             f"y{k}: [{', '.join(refs)}]}}")
                maps.append(k)
            else:
                items = refs + ["x"] * rng.randint(0, 3)
                lines.append(f"  a{k}: &a{k} [{', '.join(items)}]")
                if rng.random() < 0.3:
                    lines[-1] = f"  a{k}: &a{k} {{y{k}: [{', '.join(items)}]}}"
                    maps.append(k)
        text = "\\n".join(lines) + "\\nregions: {a: {size: 2}}\\n"
        try:
            graph_from_yaml(text)
            print("read", flush=True)
        except GraphError as err:
            print(err.problems[0].code, flush=True)
"""


def test_random_alias_graphs_finish_in_a_child():
    """Random DAGs of anchors, sequences and merge keys: read or refused, never a hang."""
    proc = run_child(_RANDOM_ALIASES, 120, "13")
    assert proc.returncode == 0, proc.stderr[-2000:]
    codes = proc.stdout.split()
    assert len(codes) == 60 and set(codes) <= {"read", "too-many-aliases", "duplicate-key"}
    assert "read" in codes and "too-many-aliases" in codes


# --------------------------------------------------------------------------- readers
def problems_of(path, **kw):
    with pytest.raises(GraphError) as err:
        load(path, **kw)
    assert all(repr(str(path)) in p.where for p in err.value.problems), err.value.problems
    return err.value.problems


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text",
    [
        "meta: &r [*r]\nregions: {a: {size: 2}}\n",
        "meta: &m {<<: *m}\nregions: {a: {size: 2}}\n",
        "regions: {a: &r {size: 2, meta: *r}}\n",
    ],
)
def test_yaml_recursive_alias_is_refused(tmp_path, text):
    (p,) = problems_of(write(tmp_path, "c.yaml", text))
    assert p.code == "recursive-alias" and "line 1" in p.where


def test_yaml_few_aliases_and_merge_keys_still_read(tmp_path):
    path = write(
        tmp_path,
        "c.yaml",
        "meta: {d: &d {size: 2, sign: exc}}\nregions: {a: *d, b: {<<: *d, size: 3}}\n",
    )
    G = load(path)
    assert G.nodes["a"] == {"size": 2, "sign": "exc"} and G.nodes["b"]["size"] == 3


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_names_the_line(tmp_path, fmt):
    deep = "[" * 3000 + "]" * 3000
    if fmt == "yaml":
        text = f"name: x\nregions:\n  a: {{size: 2, meta: {deep}}}\n"
    else:
        text = (
            '{"format": "mrnngraph", "version": 1,\n "nodes": [{"id": "a", "size": 2,\n'
            f'"meta": {deep}}}]}}'
        )
    (p,) = problems_of(write(tmp_path, f"c.{fmt}", text))
    assert p.code in ("too-deep", "syntax-error") and "line 3" in p.where


def test_nesting_up_to_the_limit_is_read(tmp_path):
    ok = "[" * (MAX_DEPTH - 4) + "]" * (MAX_DEPTH - 4)
    for fmt, text in (
        ("yaml", f"regions: {{a: {{size: 2, meta: {ok}}}}}\n"),
        (
            "json",
            f'{{"format": "mrnngraph", "version": 1, "nodes": '
            f'[{{"id": "a", "size": 2, "meta": {ok}}}]}}',
        ),
    ):
        G = load(write(tmp_path, f"c.{fmt}", text))
        depth, value = 0, G.nodes["a"]["meta"]
        while value:
            depth, value = depth + 1, value[0]
        assert depth == MAX_DEPTH - 5


def test_graphml_deep_encoded_value(tmp_path):
    G = nx.DiGraph()
    G.add_node("a", size=2, meta="placeholder")
    path = tmp_path / "c.graphml"
    save(G, path)
    text = path.read_text().replace(
        ">placeholder<", ">mrnngraph-json:" + "[" * 5000 + "]" * 5000 + "<"
    )
    path.write_text(text)
    (p,) = problems_of(path)
    assert "node 'a'" in p.where and "nest deeper" in p.message


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("regions: {a: {1: 2, size: 2}}\n", "reads '1' as int"),
        ("regions: {~: {size: 2}}\n", "reads '~' as null"),
        ("regions: {yes: {size: 2}}\n", "reads 'yes' as bool"),
        ("1: x\nregions: {a: {size: 2}}\n", "reads '1' as int"),
        ("regions: {a: {size: 2}}\nconnections: [{src: a, dst: a, 2: x}]\n", "reads '2' as int"),
    ],
)
def test_yaml_keys_must_be_strings(tmp_path, text, fragment):
    """Issue 13 §5: ``TypeError: keywords must be strings``, ``None cannot be a node``."""
    problems = problems_of(write(tmp_path, "c.yaml", text))
    assert any(fragment in p.message and p.code == "bad-key" for p in problems), problems
    assert all("line" in p.where for p in problems)


@pytest.mark.parametrize("attr", ["node_for_adding", "u_of_edge", "v_of_edge", "self"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_attributes_named_like_networkx_arguments(tmp_path, fmt, attr):
    """Issue 13 §5: ``TypeError: add_node() got multiple values for argument``."""
    G = nx.DiGraph()
    G.add_node("a", size=2)
    G.add_edge("a", "a")
    G.nodes["a"][attr] = 1
    G.edges["a", "a"][attr] = 1
    path = tmp_path / f"c.{fmt}"
    save(G, path)
    H = load(path, check=False)
    assert H.nodes["a"] == {"size": 2, attr: 1} and H.edges["a", "a"] == {attr: 1}
    problems = problems_of(path)
    assert {p.code for p in problems} == {"unknown-attribute"}


@pytest.mark.parametrize(
    "fmt, text",
    [
        ("yaml", "meta: 1{}\nregions: {{a: {{size: 2}}}}\n"),
        ("yaml", "meta: 0x1{}\nregions: {{a: {{size: 2}}}}\n"),
        ("json", '{{"format": "mrnngraph", "version": 1,\n"nodes": [{{"id": "a", "size": 1{}}}]}}'),
    ],
)
def test_huge_integers_are_refused(tmp_path, fmt, text):
    path = write(tmp_path, f"c.{fmt}", text.format("0" * 5000))
    (p,) = problems_of(path)
    assert "4300 digits" in p.message and ("line 1" in p.where or "line 2" in p.where)


def test_mrnntorch_sign_that_is_not_a_string(tmp_path):
    config = {
        "recurrent_regions": [
            {"name": "a", "num_units": 2, "sign": ["pos"]},
            {"name": "b", "num_units": 2, "sign": {"x": 1}},
        ]
    }
    path = write(tmp_path, "c.json", json.dumps(config))
    problems = problems_of(path)
    assert [p.where.split(": ")[-1] for p in problems] == [
        "recurrent_regions[0]",
        "recurrent_regions[1]",
    ]
    assert all("'sign' must be 'pos' or 'neg'" in p.message for p in problems)


def test_mrnntorch_values_too_big_for_a_float(tmp_path):
    big = "1" + "0" * 400
    text = (
        '{"recurrent_regions": [{"name": "a", "num_units": 2, "base_firing": '
        + big
        + ', "init": ['
        + big
        + ", 1]}]}"
    )
    problems = problems_of(write(tmp_path, "c.json", text))
    assert {p.where.split(": ")[-1] for p in problems} == {"node 'a'"}


@pytest.mark.parametrize(
    "body",
    [
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><key id="d0" for="node" '
        'attr.name="size" attr.type="int"/></graphml>',
        "<graphml></graphml>",
        "<svg><graph/></svg>",
    ],
)
def test_graphml_without_a_graph(tmp_path, body):
    """Issue 13 §5: ``TypeError: a bytes-like object is required``."""
    (p,) = problems_of(write(tmp_path, "c.graphml", body))
    assert "no <graph> element" in p.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8"])
def test_graphml_dtd_refused_in_any_encoding(tmp_path, encoding):
    """Issue 13 §5: a UTF-16 file passed the byte-level DOCTYPE filter."""
    text = (
        '<?xml version="1.0" encoding="{}"?>\n'
        '<!DOCTYPE g [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph '
        'edgedefault="directed"><node id="&b;"/></graph></graphml>\n'
    )
    text = text.format(encoding[:6])
    # utf-16 writes its own BOM; the -le/-be codecs need one to be told apart
    data = (text if encoding in ("utf-8", "utf-16") else "\ufeff" + text).encode(encoding)
    (p,) = problems_of(write(tmp_path, "c.graphml", data))
    assert "DTD and entity" in p.message and "line 2" in p.where


def test_graphml_utf16_without_dtd_is_read(tmp_path):
    G = two_area_ei(size=4)
    path = tmp_path / "c.graphml"
    save(G, path)
    text, n = re.subn("encoding=.utf-8.", 'encoding="utf-16"', path.read_text(), count=1)
    assert n == 1
    path.write_bytes(text.encode("utf-16"))
    assert list(load(path).nodes(data=True)) == list(G.nodes(data=True))


@pytest.mark.parametrize(
    "body, fragment",
    [
        (
            '<node id="g"><graph edgedefault="directed"><node id="x"/></graph></node>',
            "nested graphs",
        ),
        ('<node><data key="d0">2</data></node>', "without an 'id'"),
        ('<node id="a"/><node id="a"/>', "declared twice"),
        ('<node id="a"/><edge source="a" target="zz"/>', "undeclared node 'zz'"),
        ('<node id="a"/><edge target="a"/>', "without a 'source'"),
    ],
)
def test_graphml_structure_networkx_would_misread(tmp_path, body, fragment):
    text = (
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><key id="d0" for="node" '
        'attr.name="size" attr.type="int"/><graph edgedefault="directed">'
        f"{body}</graph></graphml>"
    )
    (p,) = problems_of(write(tmp_path, "c.graphml", text))
    assert fragment in p.message


def test_graphml_unknown_encoding(tmp_path):
    text = '<?xml version="1.0" encoding="x-nope"?><graphml/>'
    (p,) = problems_of(write(tmp_path, "c.graphml", text))
    assert "unknown encoding" in p.message


def test_yaml_dates_stay_strings_and_odd_tags_are_refused(tmp_path):
    G = load(
        write(
            tmp_path,
            "c.yaml",
            "meta: {when: 2024-05-01, bad: 2001-02-30}\nregions: {a: {size: 2}}\n",
        )
    )
    assert G.graph["meta"] == {"when": "2024-05-01", "bad": "2001-02-30"}
    save(G, tmp_path / "again.yaml")
    assert load(tmp_path / "again.yaml").graph == G.graph
    for tag in ("!!set {a, b}", "!!binary AAAA", "!!omap [{a: 1}]", "!!pairs [{a: 1}]"):
        (p,) = problems_of(write(tmp_path, "t.yaml", f"meta: {tag}\nregions: {{a: {{size: 2}}}}\n"))
        assert "are not allowed" in p.message and "line 1" in p.where


def test_yaml_nul_character_names_its_line(tmp_path):
    (p,) = problems_of(write(tmp_path, "c.yaml", "regions:\n  a\x00: {size: 2}\n"))
    assert "U+0000" in p.message and "line 2" in p.where


# --------------------------------------------------------------------------- command line
_CLI_ALL = """
    import contextlib, io, json, sys, warnings
    warnings.simplefilter("ignore")
    from mrnngraph.cli import main
    for path in sys.argv[1:]:
        print("start", path, flush=True)
        err, out = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                rc = main(["validate", path])
        except SystemExit as exit:
            rc = exit.code
        except BaseException as exc:
            rc = type(exc).__name__
        print(json.dumps({"path": path, "rc": rc, "stderr": err.getvalue(),
                          "stdout": out.getvalue()}), flush=True)
"""


def test_cli_validate_on_every_hostile_file_prints_problems_not_tracebacks(tmp_path):
    """Issue 13 §5: 25 of 152 files ended in a traceback."""
    paths = []
    for name, data in hostile_files():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    proc = run_child(_CLI_ALL, 240, *paths)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(paths)
    for r in results:
        assert r["rc"] in (0, 1), r
        assert "Traceback" not in r["stderr"] + r["stdout"], r
        if r["rc"] == 1:  # a file that cannot be read: one line per problem on stderr
            assert r["stderr"] or r["stdout"], r
            lines = r["stderr"].strip().splitlines()
            assert all(line.startswith(("error: ", "  - ")) for line in lines), r


@pytest.mark.parametrize(
    "name",
    ["yaml-alias-chain-40.yaml", "json-deep-node-5000.json", "graphml-laughs-utf-16.graphml"],
)
def test_installed_command_on_hostile_files(tmp_path, name):
    data = dict(hostile_files())[name]
    path = tmp_path / name
    path.write_bytes(data)
    script = Path(sys.executable).with_name("mrnngraph")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mrnngraph"]
    proc = subprocess.run(
        [*command, "validate", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    first, *rest = proc.stderr.strip().splitlines()
    assert first.startswith("error: cannot read") and repr(str(path)) in proc.stderr
    assert all(line.startswith("  - ") for line in rest)
