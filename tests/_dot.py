"""A small reader for the DOT text that ``mrnngraph.drawing.to_dot`` writes, shared by the
drawing tests (a module without tests: importing it inside a ``@given`` test defines no
``@given`` tests, which hypothesis's ``nested_given`` check would refuse)."""

from __future__ import annotations

import re

_STMT = re.compile(r'^\s*("(?:[^"\\]|\\.)*")(?:\s*->\s*("(?:[^"\\]|\\.)*"))?\s*\[(.*)\];$')
_ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def unquote(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), s[1:-1])


def parse_dot(text: str) -> tuple[dict[str, dict], dict[tuple[str, str], dict]]:
    """A small reader for the DOT that to_dot writes: node and edge statements."""
    nodes, edges = {}, {}
    for line in text.splitlines():
        m = _STMT.match(line)
        if not m:
            continue
        attrs = {k: unquote(f'"{v}"') for k, v in _ATTR.findall(m.group(3))}
        if m.group(2):
            edges[(unquote(m.group(1)), unquote(m.group(2)))] = attrs
        else:
            nodes[unquote(m.group(1))] = attrs
    return nodes, edges
