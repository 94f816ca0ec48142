"""``load`` and ``save`` by file extension, and ``validate_file`` for the CLI.

===================  ===============  ===========================================
extension            ``format=``      layout
===================  ===============  ===========================================
``.json``            ``"json"``       node-link data with a format/version header
                                      (an mRNNTorch config is recognised too)
``.yaml``/``.yml``   ``"yaml"``       regions mapping + connections list
``.graphml``         ``"graphml"``    GraphML, non-scalar values JSON-encoded
``.mrnntorch.json``  ``"mrnntorch"``  mRNNTorch's config layout
===================  ===============  ===========================================

Examples
--------
>>> import os, tempfile
>>> from mrnngraph.presets import two_area_ei
>>> G = two_area_ei(size=10)
>>> with tempfile.TemporaryDirectory() as tmp:
...     for ext in ("json", "yaml", "graphml"):
...         path = os.path.join(tmp, f"circuit.{ext}")
...         save(G, path)
...         H = load(path)
...         assert list(H.nodes(data=True)) == list(G.nodes(data=True))
...         assert list(H.edges(data=True)) == list(G.edges(data=True))
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from .._params import InstanceOf, check
from ..errors import GraphError, Problem
from ..schema import Options
from ..validation import Report, validate
from ._common import (
    Lines,
    PathLike,
    atomic_write,
    file_error,
    file_problem,
    json_text,
    locate,
)
from ._graphml import graph_to_graphml, graphml_lines, read_graphml
from ._json import graph_from_dict, graph_to_dict, json_lines
from ._yaml import graph_from_yaml, graph_to_yaml
from .mrnntorch import is_mrnntorch_config, read_config, read_json, to_mrnntorch

__all__ = ["FORMATS", "format_of", "load", "save", "validate_file"]

Format = Literal["json", "yaml", "graphml", "mrnntorch"]
#: Every format :func:`load` and :func:`save` know.
FORMATS: tuple[str, ...] = ("json", "yaml", "graphml", "mrnntorch")
_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".graphml": "graphml"}


def _check_path(path: Any) -> Path:
    return Path(check("path", path, InstanceOf((str, os.PathLike), "a str or os.PathLike")))


def format_of(path: PathLike, format: str | None = None) -> str:
    """The format a path is read or written in: ``format`` if given, else its extension.

    >>> format_of("c.yml"), format_of("cbgt.mrnntorch.json"), format_of("x.txt", "yaml")
    ('yaml', 'mrnntorch', 'yaml')
    """
    if format is not None:
        return check("format", format, Options(FORMATS))
    name = _check_path(path).name.lower()
    if name.endswith(".mrnntorch.json"):
        return "mrnntorch"
    fmt = _SUFFIXES.get(Path(name).suffix)
    if fmt is None:
        raise file_error(
            path,
            f"unknown file extension {Path(name).suffix or '(none)'!r}",
            code="unknown-format",
            hint=f"use one of {', '.join(_SUFFIXES)} or .mrnntorch.json, or pass "
            f"format= (one of {', '.join(FORMATS)})",
        )
    return fmt


def _read(
    path: Path, fmt: str
) -> tuple[nx.DiGraph | None, Callable[[], Lines], list[Problem] | None]:
    """Parse ``path``: the graph, where its parts are in the file, and the problems of
    an mRNNTorch config.

    Format errors raise :class:`GraphError`. The second item gives the file's
    :class:`~mrnngraph.io._common.Lines` when called (JSON and GraphML files are
    parsed a second time for them, so only to locate problems). For an mRNNTorch
    config the third item lists every problem of the config and its circuit (already
    located; the graph is ``None`` if any is an error); for the native formats it is
    ``None``.
    """
    source = str(path)
    if fmt in ("json", "mrnntorch"):
        data, text = read_json(path)
        if fmt == "mrnntorch" or is_mrnntorch_config(data):
            G, problems = read_config(data, source=source, text=text)
            return G, Lines, problems
        return graph_from_dict(data, source=source), lambda: json_lines(text), None
    if fmt == "yaml":
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise file_error(path, f"not UTF-8 text: {err.reason}") from None
        G, lines = graph_from_yaml(text, source=source)
        return G, lambda: lines, None
    data = path.read_bytes()
    G, names = read_graphml(data, source=source)
    return G, lambda: graphml_lines(data, names), None


def load(path: PathLike, *, format: Format | None = None, check: bool = True) -> nx.DiGraph:
    """Read a circuit file (JSON, YAML, GraphML or an mRNNTorch config).

    Parameters
    ----------
    path : str or os.PathLike
    format : {"json", "yaml", "graphml", "mrnntorch"}, optional
        Default: from the extension (``.json``, ``.yaml``/``.yml``, ``.graphml``,
        ``.mrnntorch.json``). A ``.json`` file without the mrnngraph header that has
        mRNNTorch's sections (``recurrent_regions``, ...) is read as an mRNNTorch
        config (see :func:`mrnngraph.from_mrnntorch`).
    check : bool
        Also validate the circuit (default) and raise on any error, naming the file
        and the line of the attribute (else of the region or connection) at fault, in
        each problem's ``file`` and ``line`` too. With
        ``check=False`` only the file layout is checked (mRNNTorch configs are
        always checked).

    Returns
    -------
    networkx.DiGraph
        Nodes, edges, attributes and their order as saved.

    Raises
    ------
    GraphError
        For a syntax error (with the parser's line), a wrong layout, unknown keys,
        an unknown format or version, or (with ``check``) an invalid circuit.
    FileNotFoundError
        If there is no such file.
    """
    path = _check_path(path)
    fmt = format_of(path, format)
    G, lines, problems = _read(path, fmt)
    if problems is not None:  # an mRNNTorch config, checked with its circuit
        return _config_graph(G, problems, str(path))
    if check:
        report = validate(G)
        if report.errors:
            raise GraphError(
                locate(report.errors, path, lines()),
                header=f"{len(report.errors)} problem"
                f"{'s' if len(report.errors) != 1 else ''} in {str(path)!r}",
            )
    return G


def _config_graph(G: nx.DiGraph | None, problems: list[Problem], source: str) -> nx.DiGraph:
    """Raise for the errors of a read mRNNTorch config; warn what mRNNTorch would ignore."""
    errors = [p for p in problems if p.level == "error"]
    if errors or G is None:
        raise GraphError(
            errors,
            header=f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
            f" in the mRNNTorch config {source}",
        )
    for p in problems:
        if p.code == "zero-connection-ignored":
            warnings.warn(str(p), UserWarning, stacklevel=3)
    return G


def validate_file(path: PathLike, *, format: Format | None = None) -> Report:
    """Read a circuit file and report every problem of the circuit, located in the file.

    Problems of the file's layout itself (syntax, structure, header) still raise
    :class:`GraphError`, as in :func:`load`.

    Returns
    -------
    Report
        Errors and warnings whose ``where`` names the file (and line, where known);
        ``report.spec`` is set when there are no errors.
    """
    path = _check_path(path)
    fmt = format_of(path, format)
    G, lines, problems = _read(path, fmt)
    if problems is not None:
        spec = None
        if G is not None and not any(p.level == "error" for p in problems):
            spec = validate(G).spec
        return Report(problems, spec)
    report = validate(G)
    located = locate(report.problems, path, lines() if report.problems else None)
    return Report(located, report.spec)


def save(G: nx.DiGraph, path: PathLike, *, format: Format | None = None) -> None:
    """Write a circuit to a file, atomically (a temporary file moved into place).

    Parameters
    ----------
    G : networkx.DiGraph
    path : str or os.PathLike
    format : {"json", "yaml", "graphml", "mrnntorch"}, optional
        Default: from the extension (``.mrnntorch.json`` writes an mRNNTorch config,
        see :func:`mrnngraph.to_mrnntorch`).

    Every valid circuit is written so that :func:`load` gives it back: the same
    nodes, edges and attributes in the same order, with numpy and torch numbers,
    ``numpy.str_``, fractions and decimals as plain Python values, tuples as lists,
    and a ``sign`` given as a number or numpy value as ``"exc"``/``"inh"``. An existing
    file keeps its permissions.

    Raises
    ------
    GraphError
        If an attribute cannot be stored in the format so that it reads back the
        same (NaN in JSON, an object with no JSON form, a value that contains itself
        or nests deeper than 90 levels, an integer of more than 4,300 digits), naming
        the node or edge and the attribute, or if the circuit cannot be written as an
        mRNNTorch config. Nothing is written then.
    TypeError
        If ``G`` is not a networkx DiGraph or ``path`` not a path.
    """
    path = _check_path(path)
    fmt = format_of(path, format)
    if fmt == "graphml":
        data = graph_to_graphml(G)
        atomic_write(path, lambda fh: fh.write(data), binary=True)
        return
    if fmt == "yaml":
        text = graph_to_yaml(G)
    else:
        d = to_mrnntorch(G) if fmt == "mrnntorch" else graph_to_dict(G)
        try:
            text = json_text(d, indent=2) + "\n"
        except ValueError:
            raise GraphError(
                [
                    file_problem(
                        path,
                        "NaN and infinite values cannot be stored in JSON",
                        "not-serialisable",
                        hint="save as YAML, which can hold them",
                    )
                ],
                header="the graph cannot be saved",
            ) from None
    atomic_write(path, lambda fh: fh.write(text))
