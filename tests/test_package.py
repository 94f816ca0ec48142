"""What the README and docs write as ``mrnngraph.<name>`` works after ``import mrnngraph``."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = re.compile(r"\bmrnngraph((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def documented_names() -> list[str]:
    """Every dotted name written after ``mrnngraph.`` in the README, docs and examples."""
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").glob("*.py")),
    ]
    names = set()
    for f in files:
        for m in DOCUMENTED.finditer(f.read_text(encoding="utf-8")):
            names.add(m.group(1).lstrip("."))
    return sorted(names)


def test_documented_names_are_found():
    names = documented_names()
    assert "presets.cbgt_loop" in names and "analysis.currents" in names


def test_every_documented_name_is_an_attribute_after_import_mrnngraph():
    """In a fresh process, as a user runs it: ``import mrnngraph as mg; mg.presets.cbgt_loop()``.

    A name whose module is shadowed by the function it exports (``mrnngraph.training.launch``)
    counts as reachable by import."""
    code = (
        "import importlib, sys, mrnngraph\n"
        "bad = []\n"
        "for dotted in sys.argv[1:]:\n"
        "    obj = mrnngraph\n"
        "    try:\n"
        "        for part in dotted.split('.'):\n"
        "            obj = getattr(obj, part)\n"
        "    except AttributeError as e:\n"
        "        head, _, last = dotted.rpartition('.')\n"
        "        try:\n"
        "            getattr(importlib.import_module('mrnngraph.' + head), last)\n"
        "        except (ImportError, AttributeError):\n"
        "            bad.append(f'{dotted}: {e}')\n"
        "print('\\n'.join(bad))\n"
    )
    names = [n for n in documented_names() if not n.startswith("_")]
    run = subprocess.run(
        [sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", f"documented but not reachable:\n{run.stdout}"


def _fresh(code: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_import_mrnngraph_loads_neither_torch_nor_matplotlib():
    out = _fresh(
        "import sys, mrnngraph\n"
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    assert out == "[]"


def test_functions_keep_their_names_after_their_modules_are_imported():
    """``mg.compile`` stays the function once ``mrnngraph.compile`` (the module) is imported,
    whichever comes first."""
    out = _fresh(
        "import types, mrnngraph as mg\n"
        "import mrnngraph.compile, mrnngraph.drawing.matrix, mrnngraph.train\n"
        "import mrnngraph.report, mrnngraph.draw, mrnngraph.validate\n"
        "import mrnngraph.perturbation, mrnngraph.model\n"
        "names = ['compile', 'draw', 'train', 'report', 'perturb', 'validate']\n"
        "print([n for n in names if isinstance(getattr(mg, n), types.ModuleType)])\n"
        "print(type(mg.compile(mg.presets.cbgt_loop(), seed=0)).__name__)\n"
    )
    assert out.splitlines() == ["[]", "CompiledCircuit"]


def test_unknown_names_raise_attribute_error():
    import mrnngraph

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mrnngraph.nope  # noqa: B018
    with pytest.raises(AttributeError):
        mrnngraph._buffers_x  # noqa: B018
    assert set(mrnngraph.__all__) <= set(dir(mrnngraph))


def test_one_exception_family():
    import mrnngraph as mg

    for cls in (mg.GraphError, mg.TrainingDiverged):
        assert issubclass(cls, mg.MrnngraphError)
    assert issubclass(mg.GraphError, ValueError)
    assert issubclass(mg.TrainingDiverged, FloatingPointError)
    assert issubclass(mg.CircuitWarning, mg.MrnngraphWarning)
    assert issubclass(mg.TrainingWarning, mg.MrnngraphWarning)
    # An interrupt must never be caught by ``except Exception``.
    assert issubclass(mg.TrainingInterrupted, KeyboardInterrupt)
    assert not issubclass(mg.TrainingInterrupted, Exception)


def test_old_module_paths_warn_and_give_the_same_objects():
    """compile/validate/perturb/report/draw/train were module names until 0.1: they still import,
    with a DeprecationWarning, and hold the same public names as the new modules."""
    out = _fresh(
        "import importlib, warnings, mrnngraph as mg\n"
        "pairs = [('compile', 'compilation'), ('validate', 'validation'),\n"
        "         ('perturb', 'perturbation'), ('report', 'reporting'), ('draw', 'drawing'),\n"
        "         ('train', 'training')]\n"
        "for old, new in pairs:\n"
        "    with warnings.catch_warnings(record=True) as seen:\n"
        "        warnings.simplefilter('always')\n"
        "        alias = importlib.import_module('mrnngraph.' + old)\n"
        "    module = importlib.import_module('mrnngraph.' + new)\n"
        "    assert any(w.category is DeprecationWarning and new in str(w.message)\n"
        "               for w in seen), (old, [str(w.message) for w in seen])\n"
        "    assert alias.__all__ and all(getattr(alias, n) is getattr(module, n)\n"
        "                                 for n in alias.__all__), old\n"
        "    assert callable(getattr(mg, old)) and not isinstance(getattr(mg, old), type(mg))\n"
        "print('ok')\n"
    )
    assert out == "ok"
