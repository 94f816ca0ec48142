"""Reading an mRNNTorch configuration (a parsed JSON document) into a circuit graph.

The semantics kept are listed in :mod:`mrnngraph.io.mrnntorch`; this module finds every
problem of a config (malformed entries, unknown keys or regions, duplicates) with the
line of its entry where the JSON text is known.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import networkx as nx

from .._params import STEPS, InstanceOf, Optional, validate_params
from ..errors import Problem
from ..schema import Boolean, Options
from ..validation import validate
from ._common import json_positions, locate

__all__ = ["SECTIONS", "REGION_DEFAULTS", "is_mrnntorch_config", "read_config"]

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


@validate_params(
    {
        "source": InstanceOf((str,), "a str"),
        "n_outputs": Optional(STEPS),
        "zero_connection": Options(("ignore", "zero")),
        "strict": Boolean(),
        "text": Optional(InstanceOf((str,), "a str")),
    }
)
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
