"""mRNNTorch configuration files ⇄ circuit graphs, keeping mRNNTorch's semantics.

mRNNTorch describes a network as JSON with four lists: ``recurrent_regions``,
``input_regions``, ``recurrent_connections`` and ``input_connections``. Its
semantics, reproduced here (see ``docs/interop.md`` for the full table):

* a missing field takes mRNNTorch's default: sign ``"pos"``, base firing 0,
  init 0, no parent, no learnable bias, no sparsity (dense); an unnamed
  recurrent region at list index ``i`` is ``region_<i>``;
* every region, input regions included, is sign-constrained (``"pos"`` →
  ``sign="exc"``, ``"neg"`` → ``sign="inh"``);
* ``sparsity`` goes to ``torch.nn.init.sparse_`` on the ``[dst, src]`` block, so
  each source unit's column gets exactly ``ceil(sparsity * n_dst)`` zeros: our
  ``rule="fixed_outdegree"`` with the same ``sparsity``;
* pairs not listed have no connection; keys starting with ``__comment`` are
  ignored at every level;
* ``zero_connection`` in a config file is ignored by mRNNTorch's loader (the
  block is built as if the key were absent); ``zero_connection="zero"`` reads it
  as a declared all-zero pathway instead.

Examples
--------
>>> config = {
...     "recurrent_regions": [{"name": "ctx", "num_units": 8},
...                           {"name": "str", "num_units": 6, "sign": "neg"}],
...     "input_regions": [{"name": "cue", "num_units": 2}],
...     "recurrent_connections": [{"src_region": "ctx", "dst_region": "str",
...                                "sparsity": 0.5},
...                               {"src_region": "str", "dst_region": "ctx"}],
...     "input_connections": [{"src_region": "cue", "dst_region": "ctx"}],
... }
>>> G = from_mrnntorch(config)
>>> G.nodes["str"], G.edges["ctx", "str"]
({'size': 6, 'sign': 'inh'}, {'rule': 'fixed_outdegree', 'sparsity': 0.5})
>>> G.nodes["cue"]["sign"]
'exc'
>>> to_mrnntorch(G)["recurrent_connections"][0]
{'src_region': 'ctx', 'dst_region': 'str', 'sparsity': 0.5}
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from ..errors import GraphError, Problem
from ..validation import validate
from ._common import file_problem, json_positions, loads_json, locate

__all__ = [
    "from_mrnntorch",
    "to_mrnntorch",
    "is_mrnntorch_config",
    "read_config",
    "graph_from_config",
    "load_json",
]

#: The sections of an mRNNTorch configuration.
SECTIONS = ("recurrent_regions", "input_regions", "recurrent_connections", "input_connections")
#: mRNNTorch's defaults for a field a region leaves out.
REGION_DEFAULTS: dict[str, Any] = {
    "sign": "pos",
    "base_firing": 0.0,
    "init": 0.0,
    "parent_region": None,
    "learnable_bias": False,
}
# "device" is a key of mRNNTorch's own default tables; its loader ignores the value.
_KEYS = {
    "recurrent_regions": (
        "name",
        "num_units",
        "sign",
        "base_firing",
        "init",
        "parent_region",
        "learnable_bias",
        "device",
    ),
    "input_regions": ("name", "num_units", "sign", "device"),
    "recurrent_connections": ("src_region", "dst_region", "sparsity", "zero_connection"),
    "input_connections": ("src_region", "dst_region", "sparsity", "zero_connection"),
}
_SIGNS = {"pos": "exc", "neg": "inh"}
_OUTPUT = "output"


def _comment(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("__comment")


def is_mrnntorch_config(d: Any) -> bool:
    """Whether a parsed JSON document looks like an mRNNTorch config (not our own layout).

    >>> is_mrnntorch_config({"recurrent_regions": []}), is_mrnntorch_config({"format": "x"})
    (True, False)
    """
    return isinstance(d, Mapping) and "format" not in d and any(k in d for k in SECTIONS)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _float(value: Any) -> float | None:
    """``float(value)`` for a real number a float can hold, else ``None``."""
    if not _is_real(value):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer of 400 digits
        return None


def _per_unit(value: Any) -> Any:
    """A JSON number or list of numbers as floats (anything else is left for validation)."""
    if _float(value) is not None:
        return float(value)
    if isinstance(value, list) and all(_float(v) is not None for v in value):
        return [float(v) for v in value]
    return value


def _is_zero(value: Any) -> bool:
    return _float(value) == 0.0


# What each mrnngraph attribute of a read config is called in it, to give its line.
_CONFIG_KEYS = {
    "size": "num_units",
    "sign": "sign",
    "base_firing": "base_firing",
    "init": "init",
    "learnable_bias": "learnable_bias",
    "parent": "parent_region",
    "sparsity": "sparsity",
    "rule": "sparsity",
    "zero": "zero_connection",
}


def _entry_lines(
    problems: list[Problem], source: str, text: str, origin: dict[Any, tuple[str, int]]
) -> list[Problem]:
    """``problems`` of a config read from the JSON ``text``, each with the line of the
    entry, or of the key in it, that it comes from.

    ``origin`` maps an entry's subject (``"recurrent_regions[2]"``), ``("node", name)``
    and ``("edge", (src, dst))`` to ``(section, index)``. A second pass over the text
    finds the lines, so it is made only when there are problems.
    """
    top = json_positions(text, depth=3)
    if not isinstance(top, dict):
        return problems
    out = []
    for p in problems:
        if p.node is not None or p.edge is not None:
            key: Any = ("node", p.node) if p.edge is None else ("edge", tuple(p.edge))
        else:
            key = p.subject
        try:
            section, i = origin[key]
        except (KeyError, TypeError):  # not from an entry; an unhashable name is in none
            out.append(p)
            continue
        items = top.get(section, (None, None))[1]
        if p.file != source or not isinstance(items, list) or i >= len(items):
            out.append(p)
            continue
        line, keys = items[i]
        spelled = _CONFIG_KEYS.get(p.attribute or "", p.attribute)
        if isinstance(keys, dict) and spelled in keys:
            line = keys[spelled][0]
        out.append(dataclasses.replace(p, line=line))
    return out


def _place(source: str, part: str | None = None) -> dict[str, Any]:
    """The location fields of a problem in ``source`` (a file, or ``"<config>"``)."""
    if source == "<config>":
        return {"subject": source if part is None else f"{source}: {part}"}
    return {"file": source, "subject": part}


def _problem(
    place: dict[str, Any],
    message: str,
    code: str = "error",
    level: Literal["error", "warning"] = "error",
    hint: str | None = None,
) -> Problem:
    return Problem(**place, message=message, code=code, level=level, hint=hint)


def read_config(
    config: Mapping[str, Any],
    *,
    source: str = "<config>",
    n_outputs: int | None = None,
    readout_from: Sequence[str] | None = None,
    zero_connection: Literal["ignore", "zero"] = "ignore",
    strict: bool = True,
    text: str | None = None,
) -> tuple[nx.DiGraph | None, list[Problem]]:
    """Build the graph of a parsed mRNNTorch config; return it with every problem found.

    The graph is ``None`` when the config itself is malformed. Problems of the
    resulting circuit (from :func:`mrnngraph.validate`) are included, errors and
    warnings, each naming ``source``; with ``text``, the JSON the config was read
    from, each also has the line of its entry. See :func:`from_mrnntorch` for the
    other arguments.
    """
    origin: dict[Any, tuple[str, int]] = {}
    G, problems = _read_config(
        config, source, n_outputs, readout_from, zero_connection, strict, origin
    )
    if text is not None and problems and source != "<config>":
        problems = _entry_lines(problems, source, text, origin)
    return G, problems


def _read_config(
    config: Any,
    source: str,
    n_outputs: int | None,
    readout_from: Sequence[str] | None,
    zero_connection: str,
    strict: bool,
    origin: dict[Any, tuple[str, int]],
) -> tuple[nx.DiGraph | None, list[Problem]]:
    """:func:`read_config`; ``origin`` is filled as :func:`_entry_lines` needs it."""
    at = _place(source)
    problems: list[Problem] = []
    if not isinstance(config, Mapping):
        return None, [
            _problem(
                at,
                f"an mRNNTorch config is a JSON object; got {type(config).__name__}",
                "bad-layout",
            )
        ]
    unknown_level = "error" if strict else "warning"

    def unknown(where: dict[str, Any], key: Any, known: Sequence[str]) -> None:
        problems.append(
            _problem(
                where,
                f"unknown key {key!r}; mRNNTorch reads "
                f"{', '.join(known)} (and ignores __comment keys)",
                "unknown-key",
                unknown_level,
                hint="mRNNTorch silently ignores unknown keys; check the "
                "spelling, or pass strict=False to ignore them too",
            )
        )

    for key in config:
        if key not in SECTIONS and not _comment(key):
            unknown(at, key, SECTIONS)
    sections: dict[str, list] = {}
    for name in SECTIONS:
        value = config.get(name, [])
        # mRNNTorch's own default for a missing section is an empty dict.
        if value is None or (isinstance(value, Mapping) and not value):
            value = []
        if not isinstance(value, list):
            problems.append(
                _problem(at, f"{name!r} must be a list; got {type(value).__name__}", "bad-layout")
            )
            value = []
        sections[name] = value

    def entries(name: str):
        for i, entry in enumerate(sections[name]):
            where = _place(source, f"{name}[{i}]")
            origin[where["subject"]] = (name, i)
            if not isinstance(entry, Mapping):
                problems.append(
                    _problem(where, f"must be a JSON object; got {entry!r}", "bad-layout")
                )
                continue
            for key in entry:
                if key not in _KEYS[name] and not _comment(key):
                    unknown(where, key, _KEYS[name])
            yield i, where, entry

    G = nx.DiGraph()
    recurrent: list[str] = []
    inputs: list[str] = []
    pending_nodes: list[tuple[str, dict]] = []
    for section, prefix, names in (
        ("input_regions", "input_", inputs),
        ("recurrent_regions", "region_", recurrent),
    ):
        for i, where, entry in entries(section):
            name = entry.get("name", f"{prefix}{i}")
            ok = True
            if not isinstance(name, str) or not name:
                problems.append(
                    _problem(where, f"'name' must be a non-empty string; got {name!r}", "bad-value")
                )
                ok = False
            elif name in inputs or name in recurrent:
                problems.append(
                    _problem(
                        where,
                        f"region name {name!r} is used twice",
                        "duplicate-node",
                        hint="mrnngraph needs one name per region and input",
                    )
                )
                ok = False
            if "num_units" not in entry:
                problems.append(_problem(where, "'num_units' is required", "missing-size"))
                ok = False
            sign = entry.get("sign", REGION_DEFAULTS["sign"])
            if not isinstance(sign, str) or sign not in _SIGNS:
                problems.append(
                    _problem(
                        where,
                        f"'sign' must be 'pos' or 'neg' (mRNNTorch "
                        f"accepts nothing else); got {sign!r}",
                        "bad-value",
                    )
                )
                ok = False
            size = entry.get("num_units")
            if "num_units" in entry and (
                isinstance(size, bool) or not isinstance(size, int) or size < 1
            ):
                problems.append(
                    _problem(
                        where, f"'num_units' must be an integer >= 1; got {size!r}", "bad-value"
                    )
                )
                ok = False
            parent = entry.get("parent_region")
            if parent is not None and (not isinstance(parent, str) or not parent):
                problems.append(
                    _problem(
                        where,
                        f"'parent_region' must be null or a non-empty string; got {parent!r}",
                        "bad-value",
                    )
                )
                ok = False
            if not ok:
                # Keep a well-formed name known, so connections to it are not errors too.
                if isinstance(name, str) and name and name not in inputs + recurrent:
                    names.append(name)
                continue
            attrs: dict[str, Any] = {"kind": "input"} if section == "input_regions" else {}
            attrs.update(size=size, sign=_SIGNS[sign])
            if section == "recurrent_regions":
                for key, ours in (("base_firing", "base_firing"), ("init", "init")):
                    if key in entry and not _is_zero(entry[key]):
                        attrs[ours] = _per_unit(entry[key])
                if entry.get("learnable_bias", False) is not False:
                    attrs["learnable_bias"] = entry["learnable_bias"]
                if parent is not None:
                    attrs["parent"] = parent
            names.append(name)
            pending_nodes.append((name, attrs))
            origin[("node", name)] = (section, i)
    # Inputs first, then regions: the order every mrnngraph preset uses. The compiled
    # layout keeps the file's order within recurrent regions and within inputs.
    G.add_nodes_from(pending_nodes)

    ignored_zero: list[str] = []
    for section, sources in (("recurrent_connections", recurrent), ("input_connections", inputs)):
        kind = "recurrent region" if section == "recurrent_connections" else "input region"
        for i, where, entry in entries(section):
            src, dst = entry.get("src_region"), entry.get("dst_region")
            bad = False
            for key, value, pool, what in (
                ("src_region", src, sources, kind),
                ("dst_region", dst, recurrent, "recurrent region"),
            ):
                if key not in entry:
                    problems.append(_problem(where, f"{key!r} is required", "bad-layout"))
                    bad = True
                elif not isinstance(value, str) or value not in pool:
                    problems.append(
                        _problem(
                            where, f"{key!r} must name a {what}; got {value!r}", "unknown-node"
                        )
                    )
                    bad = True
            sparsity = entry.get("sparsity")
            if sparsity is not None and not (_is_real(sparsity) and 0 <= sparsity <= 1):
                problems.append(
                    _problem(
                        where,
                        f"'sparsity' must be null or a float in [0, 1]; got {sparsity!r}",
                        "bad-value",
                    )
                )
                bad = True
            zero = entry.get("zero_connection", False)
            if not isinstance(zero, bool):
                problems.append(
                    _problem(
                        where, f"'zero_connection' must be true or false; got {zero!r}", "bad-value"
                    )
                )
                bad = True
            if bad:
                continue
            if G.has_edge(src, dst):
                problems.append(
                    _problem(
                        where,
                        f"connection ({src!r}, {dst!r}) is listed twice "
                        "(mRNNTorch refuses to register it again)",
                        "duplicate-edge",
                    )
                )
                continue
            attrs = {}
            if zero and zero_connection == "zero":
                attrs["zero"] = True
            else:
                if zero:
                    ignored_zero.append(f"({src!r}, {dst!r})")
                if sparsity is not None:
                    attrs.update(rule="fixed_outdegree", sparsity=float(sparsity))
            G.add_edge(src, dst, **attrs)
            origin[("edge", (src, dst))] = (section, i)

    if any(p.level == "error" for p in problems):
        return None, problems
    if n_outputs is not None or readout_from is not None:
        _add_readout(G, recurrent, n_outputs, readout_from, at, problems)

    if ignored_zero:
        problems.append(
            _problem(
                at,
                "'zero_connection' is ignored in config files, as mRNNTorch's loader does: "
                f"{', '.join(ignored_zero)} are built as ordinary connections",
                "zero-connection-ignored",
                "warning",
                hint="pass zero_connection='zero' to declare them as all-zero pathways",
            )
        )
    if any(p.level == "error" for p in problems):
        return None, problems
    report = validate(G)
    problems += locate(report.problems, source) if source != "<config>" else report.problems
    return G, problems


def _add_readout(
    G: nx.DiGraph,
    recurrent: list[str],
    n_outputs: int | None,
    readout_from: Sequence[str] | None,
    at: dict[str, Any],
    problems: list[Problem],
) -> None:
    n = 1 if n_outputs is None else n_outputs
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError(f"n_outputs must be a positive int; got {n_outputs!r}")
    if _OUTPUT in G:
        problems.append(
            _problem(
                at,
                f"a region is already called {_OUTPUT!r}; cannot add the readout node",
                "duplicate-node",
            )
        )
        return
    if isinstance(readout_from, str):
        readout_from = [readout_from]
    names = list(recurrent) if readout_from is None else list(readout_from)
    sources: list[str] = []
    for name in names:
        children = [r for r in recurrent if r in G and G.nodes[r].get("parent") == name]
        if name in recurrent:
            sources.append(name)
        elif children:
            sources.extend(children)
        else:
            problems.append(
                _problem(
                    at,
                    f"readout_from names {name!r}, which is neither a "
                    "recurrent region nor a parent region",
                    "unknown-node",
                )
            )
    G.add_node(_OUTPUT, kind="output", size=n)
    for src in dict.fromkeys(sources):
        G.add_edge(src, _OUTPUT)


def load_json(path: Path) -> Any:
    """Parse a JSON file; syntax errors, duplicate keys, bad encodings, nesting deeper
    than :data:`~mrnngraph.io._common.MAX_DEPTH` and integers of more than 4,300 digits
    raise GraphError naming the file (and the line, where known)."""
    return read_json(path)[0]


def read_json(path: Path) -> tuple[Any, str]:
    """:func:`load_json`, also returning the text read."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                duplicates.append(k)
            out[k] = v
        return out

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise GraphError(
            [file_problem(path, f"not UTF-8 text: {err.reason}", "bad-file")],
            header=f"cannot read {str(path)!r}",
        ) from None
    data = loads_json(text, path, object_pairs_hook=pairs)
    if duplicates:
        raise GraphError(
            [
                file_problem(
                    path,
                    f"key {k!r} is given twice in one object (JSON readers keep only the last)",
                    "duplicate-key",
                )
                for k in dict.fromkeys(duplicates)
            ],
            header=f"cannot read {str(path)!r}",
        )
    return data, text


def from_mrnntorch(
    config: Mapping[str, Any] | str | os.PathLike,
    *,
    n_outputs: int | None = None,
    readout_from: Sequence[str] | None = None,
    zero_connection: Literal["ignore", "zero"] = "ignore",
    strict: bool = True,
) -> nx.DiGraph:
    """Read an mRNNTorch config (a path to its JSON file, or the parsed dict) as a graph.

    Parameters
    ----------
    config : mapping or path
        The configuration (see the module docstring for the semantics kept).
    n_outputs : int, optional
        mRNNTorch has no readout. Give a number of output channels to add an output
        node ``"output"``; it reads every recurrent region unless ``readout_from``
        says otherwise.
    readout_from : sequence of str, optional
        Regions (or ``parent_region`` groups) the output reads; implies an output
        node with ``n_outputs`` channels (1 if not given).
    zero_connection : {"ignore", "zero"}
        ``"ignore"`` (default) does what mRNNTorch's config loader does with
        ``zero_connection: true``: nothing (a warning says so). ``"zero"`` declares
        such connections as all-zero, never-trained pathways (``zero=True``).
    strict : bool
        Unknown keys are errors (default), or warnings if False (mRNNTorch itself
        ignores them silently, which hides typos such as ``"sparsty"``).

    Returns
    -------
    networkx.DiGraph
        Input nodes first, then the recurrent regions, in file order; edges carry
        ``rule="fixed_outdegree"`` and the ``sparsity`` where one was given.

    Raises
    ------
    GraphError
        Listing every problem of the config (malformed entries, unknown keys or
        regions, duplicate names or connections) or of the resulting circuit.
    TypeError
        If ``config`` is neither a mapping nor a path.
    """
    source, text = "<config>", None
    if isinstance(config, (str, os.PathLike)):
        source = str(config)
        config, text = read_json(Path(config))
    elif not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping or a path; got {type(config).__name__}")
    return graph_from_config(
        config,
        source=source,
        n_outputs=n_outputs,
        readout_from=readout_from,
        zero_connection=zero_connection,
        strict=strict,
        text=text,
    )


def graph_from_config(
    config: Mapping[str, Any], *, source: str = "<config>", **options: Any
) -> nx.DiGraph:
    """:func:`from_mrnntorch` for an already parsed config read from ``source``."""
    zero = options.get("zero_connection", "ignore")
    if zero not in ("ignore", "zero"):
        raise ValueError(f"zero_connection must be 'ignore' or 'zero'; got {zero!r}")
    G, problems = read_config(config, source=source, **options)
    errors = [p for p in problems if p.level == "error"]
    if errors or G is None:
        raise GraphError(
            errors,
            header=f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
            f" in the mRNNTorch config {source}",
        )
    for p in problems:
        if p.code in ("zero-connection-ignored", "unknown-key"):
            warnings.warn(str(p), UserWarning, stacklevel=3)
    return G


# --------------------------------------------------------------------------- writing
def _entries_cover_block(ei: tuple[str, ...], s: Any, d: Any) -> bool:
    """Whether the ``ei`` entries of a projection select its whole ``[dst, src]`` block."""
    for t in s.types:
        if t in ei:
            continue
        if not (d.typed and d.kind != "output" and all(f"{t}{u}" in ei for u in d.types)):
            return False
    return True


def to_mrnntorch(G: nx.DiGraph) -> dict[str, Any]:
    """Write a circuit as an mRNNTorch config dict (``json.dump`` it to get the file).

    What mRNNTorch cannot express raises, listing every reason: mixed E/I regions
    (``exc_frac``), unconstrained regions next to constrained ones, per-region
    ``tau``, mask rules other than ``fixed_outdegree`` (dense projections are
    fine with any rule), ``one_to_one``, ``autapses=False``, ``ei`` sub-pathways
    that leave part of a block out, and frozen projections (``trainable=False``).

    What has no place in the config is dropped with one warning: output nodes and
    their projections (mRNNTorch has no readout), ``zero`` projections (pairs not
    listed are zero there too), ``gain`` (mRNNTorch draws its own initial weights),
    and drawing hints and ``meta``. When every region (or every input) is
    unconstrained, signs are written as ``"pos"`` and the warning says to build the
    mRNNTorch model with ``rec_constrained=False`` (``inp_constrained=False``).
    ``dt``, ``tau`` and ``activation`` go into a ``__comment_model`` entry, since
    mRNNTorch takes them as constructor arguments.

    The config describes structure only: mRNNTorch draws its own weights from it,
    so a trained model's weights cannot be carried, nor its readout bias (mRNNTorch
    has no readout). Pass the graph a model was built from.

    Raises
    ------
    GraphError
        For an invalid circuit, or one mRNNTorch cannot express.
    TypeError
        If ``G`` is not a networkx graph.
    """
    if not isinstance(G, nx.Graph):
        hint = ""
        if hasattr(G, "circuit") and hasattr(G, "state_dict"):
            hint = (
                "; an mRNNTorch config holds structure only (no trained weights, no "
                "readout): pass the graph the model was built from"
            )
        raise TypeError(f"expected a networkx.DiGraph; got {type(G).__name__}{hint}")
    report = validate(G)
    if report.errors:
        raise GraphError(report.errors)
    spec = report.spec
    if spec is None:  # validate sets it whenever there are no errors
        raise GraphError(report.problems)
    nodes = spec.nodes
    reasons: list[Problem] = []
    dropped: list[str] = []

    def problem(place: dict[str, Any], message: str, code: str) -> None:
        reasons.append(Problem(**place, message=message, code=code))

    flags = {}
    for kind, names, flag in (
        ("recurrent", spec.regions, "rec_constrained"),
        ("input", spec.inputs, "inp_constrained"),
    ):
        signed = [n for n in names if nodes[n].sign is not None]
        for n in names:
            if nodes[n].exc_frac is not None:
                problem(
                    {"node": n},
                    "mixed E/I region (exc_frac): mRNNTorch regions have "
                    "one sign; split it into an 'exc' and an 'inh' region with a common "
                    "parent",
                    "mrnntorch-exc-frac",
                )
            elif nodes[n].sign is None and signed:
                problem(
                    {"node": n},
                    f"unconstrained {kind} node among sign-constrained "
                    f"ones: mRNNTorch constrains all of them or none ({flag})",
                    "mrnntorch-mixed-constraint",
                )
        if names and not signed and not any(nodes[n].exc_frac is not None for n in names):
            flags[flag] = False
        if any(nodes[n].tau is not None for n in names):
            for n in names:
                if nodes[n].tau is not None:
                    problem(
                        {"node": n},
                        "per-region tau: mRNNTorch has one tau for the whole network",
                        "mrnntorch-tau",
                    )
    if spec.outputs:
        dropped.append(
            f"output nodes {list(spec.outputs)!r} and their projections (mRNNTorch has no readout)"
        )

    rec_conns, inp_conns = [], []
    zero_edges, gain_edges = [], []
    for e in spec.edges:
        s, d = nodes[e.src], nodes[e.dst]
        where = {"edge": (e.src, e.dst)}
        if d.kind == "output":
            continue
        if e.zero:
            zero_edges.append(f"({e.src!r}, {e.dst!r})")
            continue
        if e.rule == "one_to_one":
            problem(where, "rule 'one_to_one' has no mRNNTorch equivalent", "mrnntorch-rule")
        elif e.sparsity > 0 and e.rule != "fixed_outdegree":
            problem(
                where,
                f"rule {e.rule!r} with sparsity {e.sparsity:g}: mRNNTorch's "
                "torch.nn.init.sparse_ masks have a fixed out-degree per source unit",
                "mrnntorch-rule",
            )
        if e.src == e.dst and not e.autapses:
            problem(
                where,
                "autapses=False: mRNNTorch cannot exclude self-connections",
                "mrnntorch-autapses",
            )
        if e.ei is not None and not _entries_cover_block(e.ei, s, d):
            problem(
                where,
                f"ei={list(e.ei)!r} keeps only part of the block: mRNNTorch "
                "projections are whole blocks",
                "mrnntorch-ei",
            )
        if not e.trainable:
            problem(
                where,
                "frozen projection (trainable=False): mRNNTorch trains every connection",
                "mrnntorch-frozen",
            )
        if e.gain != 1.0:
            gain_edges.append(f"({e.src!r}, {e.dst!r})")
        entry: dict[str, Any] = {"src_region": e.src, "dst_region": e.dst}
        if e.sparsity > 0 or e.rule == "fixed_outdegree":
            entry["sparsity"] = e.sparsity
        (inp_conns if s.kind == "input" else rec_conns).append(entry)
    if reasons:
        raise GraphError(
            reasons,
            header="the circuit cannot be written as an mRNNTorch "
            f"config ({len(reasons)} reason{'s' if len(reasons) != 1 else ''})",
        )
    if zero_edges:
        dropped.append(
            f"zero projections {', '.join(zero_edges)} (pairs not listed are zero in mRNNTorch)"
        )
    if gain_edges:
        dropped.append(
            f"the gain of {', '.join(gain_edges)} (mRNNTorch draws its own initial weights)"
        )
    hints = sorted(
        {k for n in G.nodes for k in G.nodes[n] if k in ("label", "color", "pos", "meta")}
        | {k for *_, a in G.edges(data=True) for k in a if k in ("label", "color", "meta")}
    )
    if hints:
        dropped.append(f"drawing hints and meta ({', '.join(hints)})")
    for flag in flags:
        dropped.append(
            f"Dale's law: every {'region' if flag.startswith('rec') else 'input'} "
            f"is unconstrained, so signs are written as 'pos'; build the model "
            f"with {flag}=False"
        )

    def per_unit(v: float | tuple[float, ...]) -> float | list[float]:
        return list(v) if isinstance(v, tuple) else v

    recurrent_regions = []
    for n in spec.regions:
        ns = nodes[n]
        entry = {
            "name": n,
            "num_units": ns.size,
            "sign": "neg" if ns.sign == "inh" else "pos",
            "base_firing": per_unit(ns.base_firing),
            "init": per_unit(ns.init),
            "learnable_bias": ns.learnable_bias,
        }
        if ns.parent is not None:
            entry["parent_region"] = ns.parent
        recurrent_regions.append(entry)
    input_regions = [
        {"name": n, "num_units": nodes[n].size, "sign": "neg" if nodes[n].sign == "inh" else "pos"}
        for n in spec.inputs
    ]
    model = {k: spec.graph[k] for k in ("dt", "tau", "activation") if k in spec.graph}
    model.update(flags)
    args = "".join(f", {k}={v!r}" for k, v in model.items())
    out: dict[str, Any] = {
        "__comment_mrnngraph": f"written by mrnngraph from circuit "
        f"{spec.graph.get('name', '(unnamed)')!r}",
        "__comment_model": f"build with mRNN(config{args})",
        "recurrent_regions": recurrent_regions,
        "input_regions": input_regions,
        "recurrent_connections": rec_conns,
        "input_connections": inp_conns,
    }
    if dropped:
        warnings.warn(
            "to_mrnntorch: not kept in the mRNNTorch config: " + "; ".join(dropped),
            UserWarning,
            stacklevel=2,
        )
    return out
