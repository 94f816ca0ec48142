"""The docs show the vocabulary exactly as the schema defines it."""

from pathlib import Path

import pytest

from mrnngraph.schema import attribute_table

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("scope", ["node", "edge", "graph"])
def test_attribute_tables_match_the_schema(scope):
    assert attribute_table(scope) in (DOCS / "graph.md").read_text()
