"""A connectivity report of a circuit or a (trained) model: one row per projection.

:func:`report` measures what was realised against what the graph requested
(density per projection, degree statistics), the E/I balance of each target
region, the spectral radius of the effective recurrent matrix, parameter counts,
and which pathways are frozen or zero. :func:`format_report` renders it as a
text table (``mrnngraph info --report``), :meth:`ConnectivityReport.to_markdown`
as Markdown.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .circuit import CompiledCircuit
from .compilation import _pathway_blocks, _sub_candidates, candidates
from .compilation import compile as compile_graph

__all__ = ["ConnectivityReport", "report", "format_report"]

_FAMILY_NAMES = {"hh": "recurrent", "ih": "input", "ho": "readout"}
_WEIGHTS = {"hh": "weight_hh", "ih": "weight_ih", "ho": "weight_ho"}


@dataclass
class ConnectivityReport:
    """What :func:`report` measured.

    Attributes
    ----------
    name : str
    source : {"circuit", "model"}
        Initial weights of a compiled circuit, or the current weights of a model.
    projections : list of dict
        One row per declared edge, in the circuit's edge order. Keys: ``src``,
        ``dst``, ``kind`` (recurrent, input, readout), ``rule``, ``requested_density``
        (the graph's ``density``; 0 for a ``zero`` pathway; for a density given per E/I
        sub-pathway, their mean weighted by each sub-pathway's candidates, so it compares
        with ``realised_density``), ``requested_by_pathway`` (that mapping, else None),
        ``candidates`` (entries
        the rule could fill: all unless ``ei``, ``autapses=False`` or ``one_to_one``
        exclude some),
        ``synapses`` (mask entries), ``realised_density`` (``synapses / candidates``),
        ``in_degree`` and ``out_degree`` (dicts of mean, std, min, max over target and
        source units), ``mean_abs_weight``, ``parameters`` (trainable entries),
        ``trainable``, ``zero``.
    regions : list of dict
        One row per recurrent region: ``region``, ``size``, ``type`` (E, I, E/I,
        free, or mixed for free and typed units together), ``exc_in`` and ``inh_in``
        (mean over the region's units of the summed positive and of the summed absolute
        negative recurrent weights onto a unit),
        ``ei_ratio_mean`` and ``ei_ratio_std`` (of ``exc_in / inh_in`` over units with
        inhibitory input), ``no_inh_input`` (units without), ``self_radius`` (spectral
        radius of the region's own block), ``tau`` (``mean``, ``min``, ``max`` of the
        units' time constants in ms: a model's in effect, trained ones included; a
        circuit's own or its graph's ``tau``; None where a circuit leaves it to the
        model) and ``learn_tau`` (the region trains them).
    summary : dict
        ``hidden_size``, ``input_size``, ``output_size``, ``regions``,
        ``projections``, ``spectral_radius`` (of the effective ``[H, H]`` matrix,
        None if not computed), ``trainable_parameters`` (entries an optimizer can
        change: unmasked, unfrozen weights and learnable biases), ``parameter_entries``
        (all entries of the raw parameter tensors), ``frozen`` and ``zero`` (lists of
        ``(src, dst)``), ``learn_tau`` (regions whose time constants are trained).
        Learned time constants count one trainable entry per unit.
    """

    name: str
    source: str
    projections: list[dict[str, Any]] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python data (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def to_markdown(self) -> str:
        """The report as Markdown tables."""
        return _render(self, markdown=True)

    def __str__(self) -> str:
        return format_report(self)


def report(
    obj: Any, *, seed: int = 0, spectral: bool = True
) -> ConnectivityReport | list[ConnectivityReport]:
    """Measure the connectivity of a circuit graph, compiled circuit or model.

    Parameters
    ----------
    obj : MultiRegionRNN, Ensemble, CompiledCircuit or networkx.DiGraph
        A model reports its current masks and effective weights (after training, or
        inside a :func:`mrnngraph.perturb` block); a compiled circuit its initial
        ones; a graph is compiled first with ``seed``. An
        :class:`~mrnngraph.Ensemble` gives a list with one report per member
        (``report(ens[k])`` at index ``k``).
    seed : int
        Only used for a graph.
    spectral : bool
        Compute the spectral radius of the whole ``[H, H]`` matrix (an eigenvalue
        problem, costly for very large circuits).

    Returns
    -------
    ConnectivityReport, or a list of them for an ensemble

    Examples
    --------
    >>> from mrnngraph.presets.examples import cbgt_loop
    >>> rep = report(cbgt_loop(), seed=0)
    >>> row = next(r for r in rep.projections if (r["src"], r["dst"]) == ("gpe", "stn"))
    >>> row["requested_density"], round(row["realised_density"], 2)
    (0.5, 0.46)
    >>> rep.summary["zero"]
    [('d1', 'gpe')]
    """
    import networkx as nx

    from .ensemble import Ensemble

    if isinstance(obj, Ensemble):
        return [report(obj[k], seed=seed, spectral=spectral) for k in range(len(obj))]
    model = None
    if isinstance(obj, CompiledCircuit):
        circuit = obj
    elif isinstance(obj, nx.Graph):
        circuit = compile_graph(obj, seed=seed)
    elif isinstance(getattr(obj, "circuit", None), CompiledCircuit) and hasattr(obj, "weight_hh"):
        model, circuit = obj, obj.circuit
    else:
        raise TypeError(
            "report needs a MultiRegionRNN, a CompiledCircuit or a networkx graph; "
            f"got {type(obj).__name__}"
        )
    lay = circuit.layout
    spec = circuit.spec
    with torch.no_grad():
        if model is not None:
            dense = {fam: getattr(model, _WEIGHTS[fam]).detach().cpu() for fam in _WEIGHTS}
            masks = {fam: getattr(model, f"mask_{fam}").cpu() for fam in _WEIGHTS}
            learns = {
                fam: model.parametrizations[_WEIGHTS[fam]].original.requires_grad
                for fam in _WEIGHTS
            }
        else:
            dense = {fam: getattr(circuit, _WEIGHTS[fam]) for fam in _WEIGHTS}
            masks = {fam: getattr(circuit, f"mask_{fam}") for fam in _WEIGHTS}
            learns = dict.fromkeys(_WEIGHTS, True)

    edges = {(e.src, e.dst): e for e in spec.edges}
    rows = []
    for (src, dst), block in circuit.blocks.items():
        e = edges[(src, dst)]
        r, c = lay.slice(dst), lay.slice(src)
        mask = masks[block.family][r, c]
        w = dense[block.family][r, c]
        cand = int(candidates(e, spec.nodes[src], spec.nodes[dst]).sum())
        n_syn = int(mask.sum())
        trainable = block.trainable and not block.zero
        rows.append(
            {
                "src": src,
                "dst": dst,
                "kind": _FAMILY_NAMES[block.family],
                "rule": e.rule,
                "requested_density": _requested(e, spec.nodes[src], spec.nodes[dst], cand),
                "requested_by_pathway": (
                    None if e.zero or not isinstance(e.sparsity, dict) else e.density
                ),
                "candidates": cand,
                "synapses": n_syn,
                "realised_density": n_syn / cand if cand else math.nan,
                "in_degree": _stats(mask.sum(1)),
                "out_degree": _stats(mask.sum(0)),
                "mean_abs_weight": float(w[mask].abs().mean()) if n_syn else 0.0,
                "parameters": n_syn if trainable and learns[block.family] else 0,
                "trainable": block.trainable,
                "zero": block.zero,
            }
        )

    w_hh = dense["hh"].double()
    signs = (model.sign_h if model is not None else circuit.sign_h).detach().cpu()
    regions = [_region_row(name, lay, w_hh, signs[lay.slice(name)]) for name in lay.regions]
    taus = _time_constants(model, circuit)
    learned = _learning_regions(circuit)
    for row in regions:
        t = taus.get(row["region"])
        row["tau"] = None if t is None else _stats(t)
        if row["tau"] is not None:
            del row["tau"]["std"]
        row["learn_tau"] = row["region"] in learned

    n_bias = 0
    n_tau = sum(lay.sizes[n] for n in learned)
    if model is not None:
        tau_p = getattr(getattr(model, "parametrizations", None), "alpha", None)
        if tau_p is None or not tau_p.original.requires_grad:
            n_tau = 0
        bias_p = (
            getattr(model.parametrizations, "bias", None)
            if hasattr(model, "parametrizations")
            else None
        )
        if bias_p is not None and bias_p.original.requires_grad:
            n_bias = int(circuit.learnable_bias.sum())
        entries = sum(p.numel() for p in model.parameters())
    else:
        n_bias = int(circuit.learnable_bias.sum())
        entries = sum(dense[f].numel() for f in dense) + (lay.hidden_size if n_bias else 0)
        entries += n_tau  # one raw value per learned time constant
    radius = None
    if spectral and w_hh.numel():
        radius = float(torch.linalg.eigvals(w_hh).abs().max())
    summary = {
        "hidden_size": lay.hidden_size,
        "input_size": lay.input_size,
        "output_size": lay.output_size,
        "regions": len(lay.regions),
        "projections": len(rows),
        "spectral_radius": radius,
        "trainable_parameters": sum(r["parameters"] for r in rows) + n_bias + n_tau,
        "parameter_entries": entries,
        "frozen": [(r["src"], r["dst"]) for r in rows if not r["trainable"] and not r["zero"]],
        "zero": [(r["src"], r["dst"]) for r in rows if r["zero"]],
        "learn_tau": learned,
    }
    name = str(spec.graph.get("name") or "circuit")
    return ConnectivityReport(
        name=name,
        source="model" if model is not None else "circuit",
        projections=rows,
        regions=regions,
        summary=summary,
    )


def _learning_regions(circuit: CompiledCircuit) -> list[str]:
    learn = getattr(circuit, "learn_tau", None)
    if learn is None:
        return []
    lay = circuit.layout
    return [n for n in lay.regions if bool(learn[lay.slice(n)].any())]


def _time_constants(model: Any, circuit: CompiledCircuit) -> dict[str, torch.Tensor | None]:
    """Per region, the units' time constants in ms: a model's in effect (``dt / alpha``),
    a circuit's own ``tau`` (or its graph's; None where neither gives one)."""
    if model is not None:
        return dict(model.time_constants())
    default = circuit.graph.get("tau")
    tau = circuit.tau.double()
    if default is not None:
        tau = torch.where(torch.isnan(tau), torch.full_like(tau, float(default)), tau)
    out: dict[str, torch.Tensor | None] = {}
    for name in circuit.layout.regions:
        t = tau[circuit.layout.slice(name)]
        out[name] = None if bool(torch.isnan(t).any()) else t
    return out


def _tau_cell(r: dict[str, Any]) -> str:
    t = r.get("tau")
    if t is None:
        text = "model's"
    elif t["min"] == t["max"]:
        text = f"{t['mean']:.3g}"
    else:
        text = f"{t['mean']:.3g} [{t['min']:.3g}, {t['max']:.3g}]"
    return text + (" learned" if r.get("learn_tau") else "")


def _stats(x: torch.Tensor) -> dict[str, float]:
    x = x.double()
    if x.numel() == 0:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan}
    return {
        "mean": float(x.mean()),
        "std": float(x.std(correction=0)),
        "min": float(x.min()),
        "max": float(x.max()),
    }


def _region_row(name: str, lay: Any, w_hh: torch.Tensor, sign: torch.Tensor) -> dict[str, Any]:
    s = lay.slice(name)
    rows = w_hh[s]
    exc = rows.clamp(min=0).sum(1)
    inh = (-rows).clamp(min=0).sum(1)
    has_inh = inh > 0
    ratio = exc[has_inh] / inh[has_inh]
    own = w_hh[s, s]
    kinds = {int(v) for v in sign.tolist()}
    return {
        "region": name,
        "size": lay.sizes[name],
        "type": {
            frozenset({1}): "E",
            frozenset({-1}): "I",
            frozenset({1, -1}): "E/I",
            frozenset({0}): "free",
        }.get(frozenset(kinds), "mixed"),
        "exc_in": float(exc.mean()),
        "inh_in": float(inh.mean()),
        "ei_ratio_mean": float(ratio.mean()) if ratio.numel() else math.nan,
        "ei_ratio_std": float(ratio.std(correction=0)) if ratio.numel() else math.nan,
        "no_inh_input": int((~has_inh).sum()),
        "self_radius": float(torch.linalg.eigvals(own).abs().max()) if own.numel() else 0.0,
    }


# --------------------------------------------------------------------------- rendering
def _requested(e: Any, s: Any, d: Any, n_candidates: int) -> float:
    """The density edge ``e`` asks for over its candidates (weighted per sub-pathway)."""
    if e.zero:
        return 0.0
    if not isinstance(e.sparsity, dict):
        return e.density
    kept = sum(
        int(_sub_candidates(e, rows, cols).sum()) * e.density[entry]
        for rows, cols, entry in _pathway_blocks(e, s, d)
    )
    return kept / n_candidates if n_candidates else math.nan


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _deg(d: dict[str, float]) -> str:
    if math.isnan(d["mean"]):
        return "-"
    return f"{d['mean']:.1f}±{d['std']:.1f} [{d['min']:.0f}, {d['max']:.0f}]"


def _table(header: Sequence[str], body: list[list[str]], markdown: bool) -> list[str]:
    if markdown:

        def row(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        return [row(header), "|" + "|".join("---" for _ in header) + "|"] + [row(r) for r in body]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    return out + [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body
    ]


def _render(rep: ConnectivityReport, *, markdown: bool) -> str:
    s = rep.summary
    title = f"Connectivity of {rep.name!r} ({rep.source})"
    lines = [f"## {title}" if markdown else title, ""]
    facts = [
        (
            "units",
            f"{s['hidden_size']} recurrent in {s['regions']} regions, "
            f"{s['input_size']} input, {s['output_size']} output",
        ),
        ("projections", str(s["projections"])),
        ("spectral radius of W_hh", _fmt(s["spectral_radius"], 3)),
        (
            "trainable parameters",
            f"{s['trainable_parameters']} (of {s['parameter_entries']} parameter entries)",
        ),
        ("frozen pathways", ", ".join(f"{a} → {b}" for a, b in s["frozen"]) or "none"),
        ("zero pathways", ", ".join(f"{a} → {b}" for a, b in s["zero"]) or "none"),
        ("learned time constants", ", ".join(s.get("learn_tau", [])) or "none"),
    ]
    width = max(len(k) for k, _ in facts)
    lines += [f"- {k}: {v}" if markdown else f"{k.ljust(width)}  {v}" for k, v in facts]
    lines.append("")
    header = [
        "projection",
        "kind",
        "rule",
        "requested",
        "realised",
        "synapses",
        "in-degree",
        "out-degree",
        "mean |w|",
        "params",
        "flags",
    ]
    body = []
    for r in rep.projections:
        flags = ",".join(
            f
            for f, on in (("zero", r["zero"]), ("frozen", not r["trainable"] and not r["zero"]))
            if on
        )
        body.append(
            [
                f"{r['src']} → {r['dst']}",
                r["kind"],
                r["rule"],
                _fmt(r["requested_density"])
                if r.get("requested_by_pathway") is None
                else ", ".join(f"{k} {v:.2f}" for k, v in r["requested_by_pathway"].items()),
                _fmt(r["realised_density"]),
                f"{r['synapses']}/{r['candidates']}",
                _deg(r["in_degree"]),
                _deg(r["out_degree"]),
                _fmt(r["mean_abs_weight"], 3),
                str(r["parameters"]),
                flags or "-",
            ]
        )
    lines += ["### Projections" if markdown else "Projections", ""]
    lines += _table(header, body, markdown)
    lines.append("")
    header = [
        "region",
        "size",
        "type",
        "E in",
        "I in",
        "E/I mean",
        "E/I std",
        "units w/o I",
        "self radius",
        "tau ms",
    ]
    body = [
        [
            r["region"],
            str(r["size"]),
            r["type"],
            _fmt(r["exc_in"]),
            _fmt(r["inh_in"]),
            _fmt(r["ei_ratio_mean"]),
            _fmt(r["ei_ratio_std"]),
            str(r["no_inh_input"]),
            _fmt(r["self_radius"], 3),
            _tau_cell(r),
        ]
        for r in rep.regions
    ]
    lines += [
        "### Recurrent input balance per target region"
        if markdown
        else "Recurrent input balance per target region",
        "",
    ]
    lines += _table(header, body, markdown)
    return "\n".join(lines) + "\n"


def format_report(rep: ConnectivityReport) -> str:
    """The report as a plain-text table (what ``mrnngraph info --report`` prints).

    Examples
    --------
    >>> from mrnngraph.presets.examples import two_area_ei
    >>> text = format_report(report(two_area_ei(size=20), seed=0))
    >>> print(text.splitlines()[0])
    Connectivity of 'two_area_ei' (circuit)
    >>> "a1 → a2" in text
    True
    """
    if not isinstance(rep, ConnectivityReport):
        raise TypeError(f"format_report needs a ConnectivityReport; got {type(rep).__name__}")
    return _render(rep, markdown=False)
