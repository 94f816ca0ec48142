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

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from .._params import STEPS, InstanceOf, Optional, validate_params
from ..errors import GraphError
from ..schema import Boolean, Options
from ._common import file_problem, loads_json
from ._mrnntorch_read import REGION_DEFAULTS as REGION_DEFAULTS
from ._mrnntorch_read import SECTIONS as SECTIONS
from ._mrnntorch_read import is_mrnntorch_config, read_config
from ._mrnntorch_write import to_mrnntorch

__all__ = [
    "from_mrnntorch",
    "to_mrnntorch",
    "is_mrnntorch_config",
    "read_config",
    "graph_from_config",
    "load_json",
]


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


@validate_params(
    {
        "config": InstanceOf((Mapping, str, os.PathLike), "a mapping or a path"),
        "n_outputs": Optional(STEPS),
        "zero_connection": Options(("ignore", "zero")),
        "strict": Boolean(),
    }
)
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
        If ``config`` is neither a mapping nor a path, or an option is of the wrong
        kind (``n_outputs=2.5``, ``strict="yes"``).
    ValueError
        If ``n_outputs`` is below 1 or ``zero_connection`` is neither ``"ignore"``
        nor ``"zero"``.
    """
    source, text = "<config>", None
    if isinstance(config, (str, os.PathLike)):
        source = str(config)
        config, text = read_json(Path(config))
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
