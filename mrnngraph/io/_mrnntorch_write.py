"""Writing a circuit graph as an mRNNTorch configuration, refusing what it cannot express."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import networkx as nx

from .._params import InstanceOf, check
from ..errors import GraphError, Problem
from ..schema import canonical_name
from ..validation import validate

__all__ = ["to_mrnntorch"]


def _as_declared(attrs: Mapping[Any, Any], sparsity: Mapping[str, float]) -> tuple[str, str]:
    """The attribute a per-sub-pathway sparsity was declared as (``sparsity`` or
    ``density``) and its values as declared, for a message: ``EE 0.1, EI 0.05``."""
    name = next(
        (
            k
            for k in attrs
            if isinstance(k, str) and canonical_name("edge", k) in ("sparsity", "density")
        ),
        "sparsity",
    )
    density = canonical_name("edge", name) == "density"
    shown = ", ".join(f"{k} {1.0 - v if density else v:g}" for k, v in sparsity.items())
    return name, shown


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
    ``tau`` (also one per unit) and learned time constants (``learn_tau``),
    conduction delays (``delay``), a ``sparsity``/``density`` given per E/I
    sub-pathway, mask rules other than ``fixed_outdegree`` (dense projections are
    fine with any rule), ``one_to_one``, ``autapses=False``, ``ei`` sub-pathways
    that leave part of a block out, and frozen projections (``trainable=False``).
    Each reason names its node or edge and attribute.

    What has no place in the config is dropped with one warning: output nodes and
    their projections (mRNNTorch has no readout), ``zero`` projections (pairs not
    listed are zero there too), ``gain``, also per sub-pathway (mRNNTorch draws its
    own initial weights), and drawing hints and ``meta``. When every region (or every input) is
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
    if hasattr(G, "circuit") and hasattr(G, "state_dict"):
        raise TypeError(
            f"G must be a networkx.DiGraph; got a {type(G).__name__}: an mRNNTorch config "
            "holds structure only (no trained weights, no readout), so pass the graph "
            "the model was built from"
        )
    check("G", G, InstanceOf((nx.Graph,), "a networkx.DiGraph"))
    report = validate(G)
    if report.errors:
        raise GraphError(report.errors)
    spec = report.spec
    if spec is None:  # validate sets it whenever there are no errors
        raise GraphError(report.problems)
    nodes = spec.nodes
    reasons: list[Problem] = []
    dropped: list[str] = []

    def problem(
        place: dict[str, Any], message: str, code: str, attribute: str | None = None
    ) -> None:
        reasons.append(Problem(**place, message=message, code=code, attribute=attribute))

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
                    "exc_frac",
                )
            elif nodes[n].sign is None and signed:
                problem(
                    {"node": n},
                    f"unconstrained {kind} node among sign-constrained "
                    f"ones: mRNNTorch constrains all of them or none ({flag})",
                    "mrnntorch-mixed-constraint",
                    "sign",
                )
        if names and not signed and not any(nodes[n].exc_frac is not None for n in names):
            flags[flag] = False
        for n in names:
            if nodes[n].tau is not None:
                problem(
                    {"node": n},
                    "per-region tau: mRNNTorch has one tau for the whole network",
                    "mrnntorch-tau",
                    "tau",
                )
            if nodes[n].learn_tau:
                problem(
                    {"node": n},
                    "learn_tau=True: mRNNTorch's time constant is fixed (one tau for the "
                    "whole network, never trained)",
                    "mrnntorch-learn-tau",
                    "learn_tau",
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
        if e.delay > 0:
            problem(
                where,
                f"delay {e.delay:g} ms: mRNNTorch has no conduction delays",
                "mrnntorch-delay",
                "delay",
            )
        per_pathway = isinstance(e.sparsity, Mapping)
        if per_pathway:
            name, shown = _as_declared(G.edges[e.src, e.dst], e.sparsity)
            problem(
                where,
                f"{name} per sub-pathway ({shown}): mRNNTorch gives a connection one "
                "sparsity for its whole block",
                "mrnntorch-sparsity",
                name,
            )
        if e.rule == "one_to_one":
            problem(
                where, "rule 'one_to_one' has no mRNNTorch equivalent", "mrnntorch-rule", "rule"
            )
        elif not per_pathway and e.sparsity > 0 and e.rule != "fixed_outdegree":
            problem(
                where,
                f"rule {e.rule!r} with sparsity {e.sparsity:g}: mRNNTorch's "
                "torch.nn.init.sparse_ masks have a fixed out-degree per source unit",
                "mrnntorch-rule",
                "rule",
            )
        if e.src == e.dst and not e.autapses:
            problem(
                where,
                "autapses=False: mRNNTorch cannot exclude self-connections",
                "mrnntorch-autapses",
                "autapses",
            )
        if e.ei is not None and not _entries_cover_block(e.ei, s, d):
            problem(
                where,
                f"ei={list(e.ei)!r} keeps only part of the block: mRNNTorch "
                "projections are whole blocks",
                "mrnntorch-ei",
                "ei",
            )
        if not e.trainable:
            problem(
                where,
                "frozen projection (trainable=False): mRNNTorch trains every connection",
                "mrnntorch-frozen",
                "trainable",
            )
        gains = e.gain.values() if isinstance(e.gain, Mapping) else (e.gain,)
        if any(g != 1.0 for g in gains):
            gain_edges.append(f"({e.src!r}, {e.dst!r})")
        entry: dict[str, Any] = {"src_region": e.src, "dst_region": e.dst}
        if not per_pathway and (e.sparsity > 0 or e.rule == "fixed_outdegree"):
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
