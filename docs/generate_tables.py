"""Regenerate the attribute tables of docs/graph.md from mrnngraph.schema.

Run ``python docs/generate_tables.py`` after changing the vocabulary; each table under
``## Node (region) attributes``, ``## Edge (projection) attributes`` and
``## Graph attributes`` is replaced by ``mrnngraph.schema.attribute_table(scope)``.
``tests/test_docs.py`` fails when the file and the schema drift apart.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mrnngraph.schema import attribute_table

HEADINGS = {
    "node": "## Node (region) attributes",
    "edge": "## Edge (projection) attributes",
    "graph": "## Graph attributes",
}
TABLE = re.compile(r"\| name \| allowed values .*?(?=\n\n|\n?\Z)", re.S)


def regenerate(text: str) -> str:
    """``text`` with the table after each heading replaced by the schema's."""
    for scope, heading in HEADINGS.items():
        start = text.index(heading)
        m = TABLE.search(text, start)
        if m is None:
            raise ValueError(f"no attribute table after {heading!r}")
        text = text[: m.start()] + attribute_table(scope) + text[m.end() :]
    return text


GRAPH_MD = Path(__file__).with_name("graph.md")


def main(path: Path = GRAPH_MD) -> int:
    old = path.read_text()
    new = regenerate(old)
    if new != old:
        path.write_text(new)
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
