"""The bounded YAML reader behind circuit files: PyYAML's safe loader, composed once.

The node tree it keeps gives the line of every key; while it is composed, nesting deeper
than :data:`~mrnngraph.io._common.MAX_DEPTH`, recursive aliases and aliases that would
expand the document by more than :data:`~mrnngraph.io._common.MAX_ALIAS_NODES` nodes
(or as many as the file writes) are refused, and so are keys given twice and keys that
are not strings, before anything is built from the document.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from ..errors import GraphError, Problem
from ._common import _INT_LIMIT, MAX_ALIAS_NODES, MAX_DEPTH, MAX_INT_DIGITS, file_problem

__all__ = ["parse", "section", "key_lines", "line_of"]


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


_TAG = "tag:yaml.org,2002:"


class _Refused(yaml.MarkedYAMLError):
    """A document the reader will not build: too deep, recursive, a refused value."""

    def __init__(self, message: str, mark: Any, code: str):
        super().__init__(None, None, message, mark)
        self.code = code


if getattr(yaml, "__with_libyaml__", False):
    from yaml.cyaml import CParser

    class _Base(Composer, CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        """libyaml's scanner and parser (faster: bench/NOTES.md), with PyYAML's composer so
        that :class:`_Loader` can bound it (libyaml composes recursively, unbounded)."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader  # type: ignore[misc,assignment]


class _Loader(_Base):
    """The safe loader, bounded: depth, recursive aliases and alias expansion are checked
    while the document is composed, before anything is constructed from it.

    Only JSON's kinds of values are built: dates stay the strings they were written
    as, integers of more than :data:`MAX_INT_DIGITS` digits and the ``!!binary``,
    ``!!set``, ``!!omap`` and ``!!pairs`` tags are refused, so every file read can be
    saved again in every format.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._written = 0
        self._sizes: dict[int, int] = {}  # node -> its size with every alias expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._sizes:
                raise _Refused(
                    f"alias *{event.anchor} is used inside the node it names "
                    "(recursive aliases are not allowed)",
                    event.start_mark,
                    "recursive-alias",
                )
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                f"lists and mappings nest deeper than {MAX_DEPTH} levels",
                self.peek_event().start_mark,
                "too-deep",
            )
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._written += 1
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(x)] for x in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return node

    def expanded(self, root: yaml.Node) -> tuple[int, int]:
        """``(nodes written in the file, nodes once every alias is expanded)``."""
        return self._written, self._sizes[id(root)]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as err:  # int() of 5,000 digits
            raise _Refused(
                f"cannot read the value {_short(node)}: {err}", node.start_mark, "bad-value"
            ) from None

    def _int(self, node: yaml.ScalarNode) -> int:
        value = self.construct_yaml_int(node)
        if not -_INT_LIMIT < value < _INT_LIMIT:  # 0x... and 1:2:3 escape int()'s limit
            raise _Refused(
                f"the integer {_short(node)} has more than {MAX_INT_DIGITS} digits",
                node.start_mark,
                "bad-value",
            )
        return value

    def _refuse_tag(self, node: yaml.Node) -> Any:
        raise _Refused(
            f"values tagged {node.tag.replace(_TAG, '!!')} are not allowed in "
            "circuit files (they hold numbers, strings, booleans, lists and "
            "mappings)",
            node.start_mark,
            "bad-value",
        )


_Loader.add_constructor(f"{_TAG}int", _Loader._int)
_Loader.add_constructor(f"{_TAG}timestamp", SafeConstructor.construct_scalar)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"{_TAG}{_tag}", _Loader._refuse_tag)
del _tag


def _short(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        text = node.value
        return repr(text if len(text) <= 40 else text[:37] + "...")
    return f"(a {type(node).__name__[:-4].lower()})"


def _syntax_error(err: yaml.YAMLError, source: str, text: str) -> GraphError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(x) for x in (err.context, err.problem) if x)
        if isinstance(err, _Refused):
            return GraphError(
                [file_problem(source, message, err.code, line=line)], header=f"cannot read {source}"
            )
        return GraphError(
            [file_problem(source, f"YAML syntax error: {message}", "syntax-error", line=line)],
            header=f"cannot read {source}",
        )
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        return GraphError(
            [
                file_problem(
                    source,
                    f"character U+{err.character:04X} is not allowed in YAML text",
                    "syntax-error",
                    line=line,
                    hint="write it as an escape in a double-quoted string",
                )
            ],
            header=f"cannot read {source}",
        )
    return GraphError(
        [file_problem(source, f"YAML error: {err}", "syntax-error")], header=f"cannot read {source}"
    )


def parse(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree, within the bounds of :class:`_Loader`."""
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        if root is None:
            return None, None
        written, expanded = loader.expanded(root)
        if expanded - written > max(MAX_ALIAS_NODES, written):
            raise GraphError(
                [
                    file_problem(
                        source,
                        f"aliases expand the document from {written} to "
                        f"{expanded} nodes (at most {MAX_ALIAS_NODES}, or as many as the file "
                        "writes, may be added)",
                        "too-many-aliases",
                        hint="write the repeated parts out, or share fewer",
                    )
                ],
                header=f"cannot read {source}",
            )
        problems: list[Problem] = []
        _check_keys(root, source, problems)
        if problems:
            raise GraphError(problems, header=f"cannot read {source}")
        return loader.construct_document(root), root
    except yaml.YAMLError as err:
        raise _syntax_error(err, source, text) from None
    except RecursionError:  # pragma: no cover - the depth bound comes first
        raise GraphError(
            [file_problem(source, "nested too deeply", "too-deep")], header=f"cannot read {source}"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_keys(root: yaml.Node, source: str, problems: list[Problem]) -> None:
    """Mapping keys that are not strings, and keys given twice (``safe_load`` keeps the
    last), anywhere in the document. Visits each node once, whatever the aliases."""
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                stack += (value, key)
                if key.tag == f"{_TAG}merge":
                    continue
                if not isinstance(key, yaml.ScalarNode) or key.tag != f"{_TAG}str":
                    what = (
                        f"as {key.tag.replace(_TAG, '').replace('!', '')}"
                        if isinstance(key, yaml.ScalarNode)
                        else ""
                    )
                    problems.append(
                        file_problem(
                            source,
                            f"mapping keys must be strings; YAML reads {_short(key)} "
                            f"{what}".rstrip(),
                            "bad-key",
                            line=line_of(key),
                            hint="quote the key",
                        )
                    )
                elif key.value in seen:
                    problems.append(
                        file_problem(
                            source,
                            f"key {key.value!r} is given twice (first on line {seen[key.value]})",
                            "duplicate-key",
                            line=line_of(key),
                        )
                    )
                else:
                    seen[key.value] = line_of(key)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def section(root: yaml.Node | None, name: str) -> yaml.Node | None:
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value == name:
                return value
    return None


def key_lines(node: yaml.Node | None) -> dict[str, int]:
    """The line of each string key of a mapping node (merged keys: where they are written)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        k.value: line_of(k)
        for k, _ in node.value
        if isinstance(k, yaml.ScalarNode) and k.tag == f"{_TAG}str"
    }
