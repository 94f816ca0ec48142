"""``mrnngraph convert``, ``validate`` and ``info``: circuit files on the command line."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from ..compile import compile as compile_graph
from ..io.files import FORMATS, load, save, validate_file

__all__ = ["register", "info_table"]


def register(subparsers: Any) -> None:
    """Add the ``convert``, ``validate`` and ``info`` sub-commands."""
    p = subparsers.add_parser(
        "convert", help="convert a circuit file to another format",
        description="Read a circuit (JSON, YAML, GraphML or an mRNNTorch config) and write it "
        "in the format of the output's extension (.json, .yaml/.yml, .graphml, "
        ".mrnntorch.json for an mRNNTorch config).")
    p.add_argument("input", metavar="IN", help="the circuit file to read")
    p.add_argument("output", metavar="OUT", help="the file to write (replaced atomically)")
    p.add_argument("--from", dest="from_format", choices=FORMATS,
                   help="format of IN (default: from its extension)")
    p.add_argument("--to", dest="to_format", choices=FORMATS,
                   help="format of OUT (default: from its extension)")
    p.add_argument("--no-check", action="store_true",
                   help="convert without validating the circuit (file layout is still checked)")
    p.set_defaults(handler=_convert)

    p = subparsers.add_parser(
        "validate", help="check a circuit file and list every problem",
        description="Check a circuit file: print every error and warning, each with the "
        "node or edge it belongs to (and the line, for YAML). Exit status 1 if there is "
        "any error, 0 otherwise.")
    p.add_argument("file", metavar="FILE", help="the circuit file to check")
    p.add_argument("--format", choices=FORMATS, help="format of FILE (default: its extension)")
    p.set_defaults(handler=_validate)

    p = subparsers.add_parser(
        "info", help="summarise a circuit: units, E/I split, degrees, parameters",
        description="Compile a circuit and print one row per node: kind, units, E/I split "
        "(excitatory/inhibitory units, 'free' if unconstrained), number of incoming and "
        "outgoing projections (zero projections not counted), trainable parameters (weights "
        "of its incoming projections that are neither masked out nor frozen, plus a learnable "
        "bias) and the masked-out fraction of its rows of the weight matrices; then totals.")
    p.add_argument("file", metavar="FILE", help="the circuit file to summarise")
    p.add_argument("--format", choices=FORMATS, help="format of FILE (default: its extension)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed the masks are drawn with (default: 0)")
    p.add_argument("--report", action="store_true",
                   help="also print the connectivity report: requested vs realised density "
                   "per projection, degree statistics, E/I input balance per region, spectral "
                   "radius of W_hh, parameter counts, frozen and zero pathways")
    p.add_argument("--markdown", action="store_true",
                   help="with --report: print Markdown tables")
    p.set_defaults(handler=_info)


def _convert(args: argparse.Namespace) -> int:
    G = load(args.input, format=args.from_format, check=not args.no_check)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save(G, args.output, format=args.to_format)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(f"wrote {args.output}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    report = validate_file(args.file, format=args.format)
    for p in report.problems:
        print(f"{p.level}: {p}")
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "invalid" if n_err else "valid"
    print(f"{args.file}: {verdict} ({n_err} error{'s' if n_err != 1 else ''}, "
          f"{n_warn} warning{'s' if n_warn != 1 else ''})")
    return 1 if n_err else 0


def _ei(spec: Any) -> str:
    if spec.kind == "output" or not spec.typed:
        return "free" if spec.kind != "output" else "-"
    return f"{spec.n_exc}/{spec.n_inh}"


def info_table(circuit: Any) -> str:
    """The ``mrnngraph info`` table of a compiled circuit (one row per node, then totals).

    Examples
    --------
    >>> import networkx as nx
    >>> from mrnngraph import compile
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
    """
    spec = circuit.spec
    lay = circuit.layout
    H, I, O = lay.hidden_size, lay.input_size, lay.output_size
    live = [e for e in spec.edges if not e.zero]
    rows = [("node", "kind", "units", "E/I", "in", "out", "params", "masked")]
    total_params = 0
    for name in (*lay.inputs, *lay.regions, *lay.outputs):
        s = spec.nodes[name]
        n_in = sum(1 for e in live if e.dst == name)
        n_out = sum(1 for e in live if e.src == name)
        params = sum(int(circuit.blocks[(e.src, e.dst)].mask.sum())
                     for e in live if e.dst == name and e.trainable)
        if s.kind == "recurrent":
            r = lay.slice(name)
            params += int(circuit.learnable_bias[r].sum())
            present = int(circuit.mask_hh[r].sum()) + int(circuit.mask_ih[r].sum())
            masked = f"{1 - present / (s.size * (H + I)):.3f}" if H + I else "-"
        elif s.kind == "output":
            present = int(circuit.mask_ho[lay.slice(name)].sum())
            masked = f"{1 - present / (s.size * H):.3f}" if H else "-"
        else:
            masked = "-"
        total_params += params
        rows.append((name, s.kind, str(s.size), _ei(s), str(n_in), str(n_out), str(params),
                     masked))
    possible = H * H + H * I + O * H
    present = int(circuit.mask_hh.sum()) + int(circuit.mask_ih.sum()) + int(circuit.mask_ho.sum())
    masked = f"{1 - present / possible:.3f}" if possible else "-"
    rows.append(("total", "", str(H), "", str(len(live)), str(len(live)), str(total_params),
                 masked))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    numeric = {2, 4, 5, 6, 7}
    lines = []
    for r in rows:
        cells = [c.rjust(w) if k in numeric else c.ljust(w)
                 for k, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    G = load(args.file, format=args.format)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        circuit = compile_graph(G, seed=args.seed)
    name = G.graph.get("name", args.file)
    print(f"circuit {name!r}: {len(circuit.layout.regions)} regions, "
          f"{len(circuit.layout.inputs)} inputs, {len(circuit.layout.outputs)} outputs "
          f"(seed {args.seed})")
    print(info_table(circuit))
    if args.report:
        from ..report import format_report, report

        rep = report(circuit)
        print()
        print(rep.to_markdown() if args.markdown else format_report(rep), end="")
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return 0
