"""``mrnngraph convert``, ``validate`` and ``info``: circuit files on the command line."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import warnings
from typing import Any

from ._args import integer, output_file

__all__ = ["register", "info_table", "expected_synapses"]


def register(subparsers: Any) -> None:
    """Add the ``convert``, ``validate`` and ``info`` sub-commands."""
    from ..io.files import FORMATS

    p = subparsers.add_parser(
        "convert",
        help="convert a circuit file to another format",
        description="Read a circuit (JSON, YAML, GraphML or an mRNNTorch config) and write it "
        "in the format of the output's extension (.json, .yaml/.yml, .graphml, "
        ".mrnntorch.json for an mRNNTorch config).",
    )
    p.add_argument("input", metavar="IN", help="the circuit file to read")
    p.add_argument(
        "output", metavar="OUT", type=output_file, help="the file to write (replaced atomically)"
    )
    p.add_argument(
        "--from",
        dest="from_format",
        choices=FORMATS,
        help="format of IN (default: from its extension)",
    )
    p.add_argument(
        "--to",
        dest="to_format",
        choices=FORMATS,
        help="format of OUT (default: from its extension)",
    )
    p.add_argument(
        "--no-check",
        action="store_true",
        help="convert without validating the circuit (file layout is still checked)",
    )
    p.set_defaults(handler=_convert)

    p = subparsers.add_parser(
        "validate",
        help="check a circuit file and list every problem",
        description="Check a circuit file: print every error and warning, each with the "
        "node or edge it belongs to (and the line, for YAML). Exit status 1 if there is "
        "any error, 0 otherwise.",
    )
    p.add_argument("file", metavar="FILE", help="the circuit file to check")
    p.add_argument("--format", choices=FORMATS, help="format of FILE (default: its extension)")
    p.set_defaults(handler=_validate)

    p = subparsers.add_parser(
        "info",
        help="summarise a circuit: units, E/I split, degrees, parameters",
        description="Print one row per node: kind, units, E/I split (excitatory/inhibitory "
        "units, 'free' if unconstrained), number of incoming and outgoing projections (zero "
        "projections not counted), trainable parameters (weights of its incoming projections "
        "that are neither masked out nor frozen, plus a learnable bias) and the masked-out "
        "fraction of its rows of the weight matrices; then totals. The counts come from the "
        "declaration, without compiling (nothing is allocated, whatever the circuit's size): "
        "exact for the fixed rules, expected values for 'bernoulli' projections. With "
        "--report the circuit is compiled with --seed and the drawn masks are counted.",
    )
    p.add_argument("file", metavar="FILE", help="the circuit file to summarise")
    p.add_argument("--format", choices=FORMATS, help="format of FILE (default: its extension)")
    p.add_argument(
        "--seed",
        type=integer(low=0, high=2**64 - 1),
        default=0,
        help="with --report: seed the masks are drawn with (default: 0)",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="also print the connectivity report: requested vs realised density "
        "per projection, degree statistics, E/I input balance per region, spectral "
        "radius of W_hh, parameter counts, frozen and zero pathways",
    )
    p.add_argument("--markdown", action="store_true", help="with --report: print Markdown tables")
    p.set_defaults(handler=_info)


def read_circuit(
    path: str, file_format: str | None, *, compiling: bool = False
) -> tuple[Any, Any, list[Any]]:
    """Read and check a circuit file for a command: ``(graph, spec, warnings)``.

    Every error is raised as one :class:`~mrnngraph.GraphError` located in the file,
    except, unless ``compiling``, that the circuit needs more memory than this
    machine has (``"too-much-memory"``): a command that only reads the circuit never
    allocates it, so that is returned among the warnings instead.
    """
    import math

    from ..errors import GraphError
    from ..io.files import load, validate_file
    from ..validation import validate

    report = validate_file(path, format=file_format)
    errors = [p for p in report.errors if compiling or p.code != "too-much-memory"]
    if errors:
        raise GraphError(
            errors,
            header=f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in {str(path)!r}",
        )
    G = load(path, format=file_format, check=False)
    if report.spec is not None:
        return G, report.spec, report.warnings
    memory = [dataclasses.replace(p, level="warning") for p in report.errors]
    again = validate(G, memory_limit=math.inf)
    return G, again.spec, memory + again.warnings


def _convert(args: argparse.Namespace) -> int:
    from ..io.files import load, save

    found: list[Any] = []
    if args.no_check:
        G = load(args.input, format=args.from_format, check=False)
    else:
        G, _, found = read_circuit(args.input, args.from_format)
        found = [p for p in found if p.code == "too-much-memory"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save(G, args.output, format=args.to_format)
    for p in found:
        print(f"warning: {p}", file=sys.stderr)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(f"wrote {args.output}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from ..io.files import validate_file

    report = validate_file(args.file, format=args.format)
    for p in report.problems:
        print(f"{p.level}: {p}")
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "invalid" if n_err else "valid"
    print(
        f"{args.file}: {verdict} ({n_err} error{'s' if n_err != 1 else ''}, "
        f"{n_warn} warning{'s' if n_warn != 1 else ''})"
    )
    return 1 if n_err else 0


def _ei(spec: Any) -> str:
    if spec.kind == "output" or not spec.typed:
        return "free" if spec.kind != "output" else "-"
    return f"{spec.n_exc}/{spec.n_inh}"


def _keep(n: int, sparsity: float) -> int:
    # The fixed rules keep n - ceil(s * n) of n candidates (compile's count, in float64).
    return n - math.ceil(n * sparsity)


def _span(node: Any, t: str | None) -> tuple[int, int]:
    if t is None:
        return 0, node.size
    return (0, node.n_exc) if t == "E" else (node.n_exc, node.size)


def expected_synapses(e: Any, s: Any, d: Any) -> tuple[float, bool]:
    """Synapses projection ``e`` from node ``s`` to ``d`` will have once compiled, and
    whether that count is exact, computed from the specs alone (no tensor is made).

    The fixed rules and ``one_to_one`` keep an exact number of synapses; ``bernoulli``
    keeps each candidate with probability ``density``, so its count is the expected
    one unless the density is 0 or 1.

    Examples
    --------
    >>> from mrnngraph.validation import EdgeSpec, NodeSpec
    >>> a, b = NodeSpec("a", "recurrent", 10, exc_frac=0.8), NodeSpec("b", "recurrent", 4)
    >>> expected_synapses(EdgeSpec("a", "b", sparsity=0.25, rule="fixed_indegree"), a, b)
    (28, True)
    >>> expected_synapses(EdgeSpec("a", "a", autapses=False, ei=("EI",)), a, a)
    (16, True)
    >>> expected_synapses(EdgeSpec("a", "b", sparsity=0.5), a, b)
    (20.0, False)
    >>> expected_synapses(EdgeSpec("a", "b", sparsity={"E": 0.5, "I": 1.0}), a, b)
    (16.0, False)
    """
    if e.zero:
        return 0, True
    # One block per sub-pathway where the edge names them (its ei, or a per-sub-pathway
    # sparsity mapping), each with its own sparsity; else the whole projection.
    split = e.ei is not None or isinstance(e.sparsity, dict)
    entries = e.sub_pathways(s, d) if split else (None,)
    blocks = [
        (
            _span(d, x[1] if x is not None and len(x) == 2 else None),
            _span(s, x[0] if x is not None else None),
            e.sparsity if x is None else e.sparsity_of(x),
        )
        for x in entries
    ]
    special = e.rule == "one_to_one" or (e.src == e.dst and not e.autapses)
    total: float = 0
    exact = True
    for (r0, r1), (c0, c1), sp in blocks:
        rows, cols = r1 - r0, c1 - c0
        diag = max(0, min(r1, c1) - max(r0, c0)) if special else 0
        if e.rule == "one_to_one":
            total += _keep(diag, sp)
        elif e.rule == "fixed_total":
            total += _keep(rows * cols - diag, sp)
        elif e.rule == "fixed_indegree":  # per row: a row on the diagonal has one fewer
            total += diag * _keep(cols - 1, sp) + (rows - diag) * _keep(cols, sp)
        elif e.rule == "fixed_outdegree":
            total += diag * _keep(rows - 1, sp) + (cols - diag) * _keep(rows, sp)
        else:  # bernoulli
            n = rows * cols - diag
            if sp == 0:
                total += n
            elif sp < 1:
                total += n * (1.0 - sp)
                exact = exact and n == 0
    return total, exact


def _counts(x: Any) -> tuple[Any, dict[tuple[str, str], float], bool]:
    """(spec, synapses per live projection, all exact?) of a Spec or a compiled circuit."""
    if hasattr(x, "blocks"):  # a CompiledCircuit: count the drawn masks
        spec = x.spec
        live = [e for e in spec.edges if not e.zero]
        return spec, {(e.src, e.dst): int(x.blocks[(e.src, e.dst)].mask.sum()) for e in live}, True
    spec = x
    counts, exact = {}, True
    for e in spec.edges:
        if not e.zero:
            n, ok = expected_synapses(e, spec.nodes[e.src], spec.nodes[e.dst])
            counts[(e.src, e.dst)] = n
            exact = exact and ok
    return spec, counts, exact


def _fraction(free: float, possible: int) -> str:
    return f"{1 - free / possible:.3f}" if possible else "-"


def info_table(circuit: Any) -> str:
    """The ``mrnngraph info`` table (one row per node, then totals) of a checked
    :class:`~mrnngraph.validation.Spec` or of a compiled circuit.

    A spec gives the counts a compiled circuit will have (exact for the fixed rules,
    the expected value for ``bernoulli`` projections) without allocating anything, so
    it works for circuits of any size; a compiled circuit gives the counts of its
    drawn masks.

    Examples
    --------
    >>> import networkx as nx
    >>> from mrnngraph import check, compile
    >>> G = nx.DiGraph()
    >>> G.add_node("cue", kind="input", size=2)
    >>> G.add_node("ctx", size=10, exc_frac=0.8)
    >>> G.add_node("str", size=5, sign="inh", learnable_bias=True)
    >>> G.add_node("y", kind="output", size=1)
    >>> G.add_edges_from([("cue", "ctx"), ("ctx", "str"), ("str", "ctx"), ("ctx", "y")])
    >>> G.add_edge("ctx", "ctx", autapses=False)
    >>> print(info_table(compile(G, seed=0)))
    node   kind       units  E/I   in  out  params  masked
    cue    input          2  free   0    1       0       -
    ctx    recurrent     10  8/2    3    3     160   0.059
    str    recurrent      5  0/5    1    1      55   0.412
    y      output         1  -      1    0      10   0.333
    total                15         5    5     225   0.185
    >>> info_table(check(G)) == info_table(compile(G, seed=0))
    True
    """
    spec, counts, _ = _counts(circuit)
    nodes = spec.nodes
    H = sum(nodes[n].size for n in spec.regions)
    I = sum(nodes[n].size for n in spec.inputs)  # noqa: E741
    O = sum(nodes[n].size for n in spec.outputs)  # noqa: E741
    live = [e for e in spec.edges if not e.zero]
    rows = [("node", "kind", "units", "E/I", "in", "out", "params", "masked")]
    total_params: float = 0
    for name in (*spec.inputs, *spec.regions, *spec.outputs):
        s = nodes[name]
        into = [e for e in live if e.dst == name]
        n_out = sum(1 for e in live if e.src == name)
        params = sum(counts[(e.src, e.dst)] for e in into if e.trainable)
        present = sum(counts[(e.src, e.dst)] for e in into)
        if s.kind == "recurrent":
            params += s.size if s.learnable_bias else 0
            masked = _fraction(present, s.size * (H + I))
        elif s.kind == "output":
            masked = _fraction(present, s.size * H)
        else:
            masked = "-"
        total_params += params
        rows.append(
            (
                str(name),
                s.kind,
                str(s.size),
                _ei(s),
                str(len(into)),
                str(n_out),
                str(round(params)),
                masked,
            )
        )
    present = sum(counts.values())
    rows.append(
        (
            "total",
            "",
            str(H),
            "",
            str(len(live)),
            str(len(live)),
            str(round(total_params)),
            _fraction(present, H * H + H * I + O * H),
        )
    )
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    numeric = {2, 4, 5, 6, 7}
    lines = []
    for r in rows:
        cells = [
            c.rjust(w) if k in numeric else c.ljust(w)
            for k, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    G, spec, found = read_circuit(args.file, args.format, compiling=args.report)
    circuit = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.report:
            # Only --report needs the tensors: the table itself is computed from the
            # spec, so `info` answers for a circuit of any size without allocating it.
            circuit = compile_circuit(G, args.seed)
    name = G.graph.get("name", args.file)
    seed = f" (seed {args.seed})" if circuit is not None else ""
    print(
        f"circuit {name!r}: {len(spec.regions)} regions, {len(spec.inputs)} inputs, "
        f"{len(spec.outputs)} outputs{seed}"
    )
    print(info_table(circuit if circuit is not None else spec))
    if circuit is None and not _counts(spec)[2]:
        print(
            "params and masked: expected counts for 'bernoulli' projections; --report "
            "compiles and counts the drawn masks"
        )
    if circuit is not None:
        from ..reporting import format_report, report

        rep = report(circuit)
        print()
        print(rep.to_markdown() if args.markdown else format_report(rep), end="")
    for p in found:
        print(f"warning: {p}", file=sys.stderr)
    seen = {str(p) for p in found}
    for w in caught:
        if not any(str(w.message) in text for text in seen):
            print(f"warning: {w.message}", file=sys.stderr)
    return 0


def compile_circuit(G: Any, seed: int) -> Any:
    """``mrnngraph.compile(G, seed=seed)``, imported when a command needs the tensors."""
    from ..compilation import compile as compile_graph

    return compile_graph(G, seed=seed)
