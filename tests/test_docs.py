"""The docs show the vocabulary exactly as the schema defines it."""

from pathlib import Path

import pytest

from mrnngraph.schema import attribute_table

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("scope", ["node", "edge", "graph"])
def test_attribute_tables_match_the_schema(scope):
    assert attribute_table(scope) in (DOCS / "graph.md").read_text()


def test_readme_example_runs_and_its_error_text_is_true():
    import re
    import warnings

    import mrnngraph as mg

    readme = (DOCS.parent / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    scope: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mg.CircuitWarning)
        exec(compile(code, "README.md", "exec"), scope)
    assert tuple(scope["out"].outputs.shape) == (16, 100, 2)
    assert tuple(scope["out"].rates.shape) == (16, 100, 160)
    G = scope["G"]
    G.add_edge("ctx", "thal", sparsty=0.5)
    with pytest.raises(mg.GraphError) as info:
        mg.compile(G)
    for line in str(info.value).splitlines():
        assert line in readme
