"""mrnngraph benchmarks: speed against the tools people use, block-sparse, compile, memory.

One command measures everything and writes ``bench/out/results.json`` and
``bench/out/RESULTS.md``::

    python bench/run.py                  # everything (about 10-15 min on 2 cores)
    python bench/run.py --quick          # small sizes, to check the script itself
    python bench/run.py --sections speed,memory --threads 1 --repeats 7

Run it from the benchmark environment described in ``bench/NOTES.md`` to include
nn4n; without nn4n its rows are skipped with a note. GPU rows run when a CUDA
device is present and are skipped with a note otherwise. Timings are medians of
``--repeats`` runs after one warm-up; the cases of one size run round-robin (one
call of each per round), so that a change in the machine's load weighs on all of
them alike; the load average is recorded beside each.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from baselines import (  # noqa: E402
    Case,
    bare_loop_case,
    mrnngraph_case,
    nn4n_available,
    nn4n_case,
    torch_rnn_case,
)
from graphs import region_graph  # noqa: E402

from mrnngraph import MultiRegionRNN, compile  # noqa: E402
from mrnngraph._sparse import block_coverage  # noqa: E402

# (units, regions, T, B) of the speed comparison; ~30 % of region pairs connected.
SPEED_SIZES = [(400, 8, 200, 32), (4096, 16, 50, 16)]
QUICK_SPEED_SIZES = [(128, 4, 20, 8)]
PAIR_FRACTION = 0.3
# The block-sparse comparison: 16,384 units, 64 regions, 8 % of region pairs.
SPARSE_SIZE = (16384, 64, 0.08, 20, 16)
QUICK_SPARSE_SIZE = (1024, 16, 0.08, 10, 4)
FLOOR = "bare eager loop (floor"
COMPILE_SIZES = [(4096, 16), (16384, 64), (65536, 256)]
QUICK_COMPILE_SIZES = [(1024, 16)]


# ----------------------------------------------------------------------------- helpers
def load() -> float:
    return round(os.getloadavg()[0], 2)


def _proc_bytes(path: str, key: str) -> int:
    """The ``key:`` line of a ``/proc`` file given in kB, in bytes (0 if absent)."""
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def mem_available() -> int:
    return _proc_bytes("/proc/meminfo", "MemAvailable")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """This process's peak RSS (``VmHWM``). Not ``ru_maxrss``: a forked child starts
    with its parent's."""
    return _proc_bytes("/proc/self/status", "VmHWM")


def reset_peak_rss() -> None:
    """Restart the peak at the current RSS (Linux >= 4.0); harmless where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, device: str
) -> dict[str, dict[str, Any]]:
    """Median (and all) wall times of each function, run round-robin: one warm-up
    each, then ``repeats`` rounds calling every function once. A drift in the machine's load
    (2 cores shared with other jobs) then weighs on every case alike, which keeps
    their ratios honest."""
    for fn in fns.values():
        fn()
        sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    start_load = load()
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync(device)
            times[k].append(time.perf_counter() - t)
    end_load = load()
    return {
        k: {
            "median_s": statistics.median(v),
            "min_s": min(v),
            "times_s": [round(t, 5) for t in v],
            "load": [start_load, end_load],
        }
        for k, v in times.items()
    }


def timed(fn: Callable[[], Any], repeats: int, device: str) -> dict[str, Any]:
    """Median (and all) wall times of ``fn`` after one warm-up run."""
    return timed_interleaved({"fn": fn}, repeats, device)["fn"]


def fwd_bwd(case: Case) -> Callable[[], None]:
    def run() -> None:
        case.zero_grad()
        case.loss().backward()

    return run


def no_grad(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad():
            return fn()

    return run


def model_bytes(model: torch.nn.Module) -> dict[str, int]:
    """Bytes of the parameters and buffers a model holds (each storage counted once)."""
    seen: set[int] = set()
    total = recurrent = 0
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        key = t.untyped_storage().data_ptr()
        if key in seen:
            continue
        seen.add(key)
        n = t.untyped_storage().nbytes()
        total += n
        if "weight_hh" in name:
            recurrent += n
    return {"total": total, "recurrent": recurrent}


# ----------------------------------------------------------------------------- sections
def speed_section(args, devices: list[str]) -> list[dict[str, Any]]:
    rows = []
    have_nn4n, why = nn4n_available()
    for H, R, T, B in QUICK_SPEED_SIZES if args.quick else SPEED_SIZES:
        G, conn = region_graph(H, R, pair_fraction=PAIR_FRACTION)
        circuit = compile(G, seed=0)
        I, O = circuit.layout.input_size, circuit.layout.output_size
        for device in devices:
            u = torch.randn(B, T, I, generator=torch.Generator().manual_seed(0)).to(device)
            auto = MultiRegionRNN(circuit, device=device)
            cases: list[tuple[str, Case | None, str]] = [
                (
                    f"MultiRegionRNN (default: {'block-sparse' if auto.sparse else 'dense'}, "
                    "fused scan)",
                    mrnngraph_case(auto, u),
                    "",
                )
            ]
            if auto.sparse:
                dense = MultiRegionRNN(circuit, sparse=False, device=device)
                cases.append(
                    ("MultiRegionRNN (sparse=False, fused scan)", mrnngraph_case(dense, u), "")
                )
            else:
                dense = auto
            plain = MultiRegionRNN(circuit, sparse=False, scan="autograd", device=device)
            cases += [
                ("MultiRegionRNN (sparse=False, scan='autograd')", mrnngraph_case(plain, u), ""),
                (
                    f"{FLOOR}: effective weights precomputed, drive.unbind)",
                    bare_loop_case(dense, u),
                    "",
                ),
                (
                    "bare eager loop, drive[t] indexing (as usually written)",
                    bare_loop_case(dense, u, unbind=False),
                    "",
                ),
                ("torch.nn.RNN (relu) + Linear", torch_rnn_case(H, I, O, u), ""),
            ]
            if have_nn4n:
                cases.append(("nn4n CTRNN + MultiAreaEI masks", nn4n_case(H, R, conn, I, O, u), ""))
            else:
                cases.append(("nn4n CTRNN + MultiAreaEI masks", None, why))
            live = {name: case for name, case, _ in cases if case is not None}
            fwd = timed_interleaved(
                {k: no_grad(c.forward) for k, c in live.items()}, args.repeats, device
            )
            both = timed_interleaved({k: fwd_bwd(c) for k, c in live.items()}, args.repeats, device)
            for name, case, note in cases:
                row = {
                    "units": H,
                    "regions": R,
                    "T": T,
                    "B": B,
                    "device": device,
                    "model": name,
                    "coverage": round(block_coverage(circuit), 3),
                }
                if case is None:
                    row["skipped"] = note
                else:
                    row["forward"], row["forward_backward"] = fwd[name], both[name]
                rows.append(row)
                print(_speed_line(row), flush=True)
            del cases, auto, dense, plain
            gc.collect()
    _ratios(rows)
    return rows


def _speed_line(row: dict[str, Any]) -> str:
    head = f"  {row['units']:>6} {row['device']:<4} {row['model']:<70}"
    if "skipped" in row:
        return f"{head} skipped: {row['skipped']}"
    return (
        f"{head} fwd {row['forward']['median_s']:.4f}s  "
        f"fwd+bwd {row['forward_backward']['median_s']:.4f}s  "
        f"load {row['forward_backward']['load']}"
    )


def _ratios(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if "skipped" in row:
            continue
        base = next(
            r
            for r in rows
            if r["units"] == row["units"]
            and r["device"] == row["device"]
            and r["model"].startswith(FLOOR)
        )
        for k in ("forward", "forward_backward"):
            row[k]["ratio_to_bare"] = round(row[k]["median_s"] / base[k]["median_s"], 3)
            row[k]["min_ratio_to_bare"] = round(row[k]["min_s"] / base[k]["min_s"], 3)


def sparse_section(args, device: str = "cpu") -> dict[str, Any]:
    H, R, frac, T, B = QUICK_SPARSE_SIZE if args.quick else SPARSE_SIZE
    out: dict[str, Any] = {"units": H, "regions": R, "T": T, "B": B, "device": device}
    need = 8 * H * H * 4  # dense weights, mask, effective copies and gradients
    if mem_available() < need * 1.5:
        out["skipped"] = (
            f"needs about {need / 2**30:.1f} GiB free for the dense path; "
            f"{mem_available() / 2**30:.1f} GiB available"
        )
        return out
    G, _ = region_graph(H, R, pair_fraction=frac)
    circuit = compile(G, seed=0)
    out["coverage"] = round(block_coverage(circuit), 4)
    out["pairs_connected"] = int(sum(1 for b in circuit.family_blocks("hh")))
    u = torch.randn(B, T, circuit.layout.input_size, generator=torch.Generator().manual_seed(1))
    results = {}
    for sparse in (True, False):
        t = time.perf_counter()
        model = MultiRegionRNN(circuit, sparse=sparse)
        build = time.perf_counter() - t
        case = mrnngraph_case(model, u)
        key = "sparse" if sparse else "dense"
        out[key] = {
            "build_s": round(build, 3),
            "forward": timed(no_grad(case.forward), args.sparse_repeats, device),
            "forward_backward": timed(fwd_bwd(case), args.sparse_repeats, device),
            "bytes": model_bytes(model),
        }
        print(
            f"  sparse={sparse}: fwd {out[key]['forward']['median_s']:.3f}s "
            f"fwd+bwd {out[key]['forward_backward']['median_s']:.3f}s",
            flush=True,
        )
        # Outputs and gradients of the last run, for the identity check.
        case.zero_grad()
        res = model(u)
        res.outputs.square().mean().backward()
        grad = model.parametrizations.weight_hh.original.grad
        if not sparse:
            grad = results["sparse"]["model"]._constraint("weight_hh").original_from_dense(grad)
        results[key] = {
            "model": model,
            "outputs": res.outputs.detach(),
            "rates": res.rates.detach(),
            "grad_hh": grad,
        }
        if not sparse:
            del model, case
    s, d = results["sparse"], results["dense"]
    out["max_abs_diff"] = {
        "outputs": float((s["outputs"] - d["outputs"]).abs().max()),
        "rates": float((s["rates"] - d["rates"]).abs().max()),
        "grad_weight_hh": float((s["grad_hh"] - d["grad_hh"]).abs().max()),
        "grad_weight_hh_scale": float(d["grad_hh"].abs().max()),
    }
    for k in ("forward", "forward_backward"):
        out[f"{k}_speedup"] = round(out["dense"][k]["median_s"] / out["sparse"][k]["median_s"], 2)
    return out


def compile_worker(H: int, R: int, pair_fraction: float, build_model: bool) -> dict[str, Any]:
    """Run in a fresh process: compile one graph, report time and peak memory."""
    base = rss()
    t = time.perf_counter()
    G, _ = region_graph(H, R, pair_fraction=pair_fraction)
    graph_s = time.perf_counter() - t
    gc.collect()
    before = rss()
    reset_peak_rss()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    circuit = compile(G, seed=0)
    compile_s = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = max(peak_rss(), before)
    stored = sum(
        b.weight.untyped_storage().nbytes() + b.mask.untyped_storage().nbytes()
        for b in circuit.blocks.values()
    )
    stored += sum(
        t.untyped_storage().nbytes()
        for t in (
            circuit.sign_h,
            circuit.sign_i,
            circuit.bias,
            circuit.x0,
            circuit.tau,
            circuit.learnable_bias,
        )
    )
    out = {
        "units": H,
        "regions": R,
        "projections": len(circuit.blocks),
        "recurrent_pairs": sum(1 for _ in circuit.family_blocks("hh")),
        "graph_s": round(graph_s, 3),
        "compile_s": round(compile_s, 3),
        # CPU time of all threads, split into user and kernel (page faults) time.
        "compile_user_s": round(r1.ru_utime - r0.ru_utime, 2),
        "compile_sys_s": round(r1.ru_stime - r0.ru_stime, 2),
        "compile_page_faults": r1.ru_minflt - r0.ru_minflt,
        "stored_bytes": stored,
        "peak_rss_delta_bytes": peak - before,
        "peak_over_stored": round((peak - before) / stored, 2),
        "baseline_rss_bytes": base,
    }
    if build_model:
        after = rss()
        reset_peak_rss()
        t = time.perf_counter()
        model = MultiRegionRNN(circuit)
        out["model_build_s"] = round(time.perf_counter() - t, 3)
        out["model_sparse"] = bool(model.sparse)
        out["model_peak_rss_delta_bytes"] = max(0, peak_rss() - after)
        out["model_bytes"] = model_bytes(model)
    return out


def compile_section(args) -> list[dict[str, Any]]:
    rows = []
    for H, R in QUICK_COMPILE_SIZES if args.quick else COMPILE_SIZES:
        # Declared blocks alone: (4 bytes weight + 1 byte mask) per entry.
        est = round(PAIR_FRACTION * R * R) * (H // R) ** 2 * 5
        avail = mem_available()
        row: dict[str, Any] = {"units": H, "regions": R, "estimated_stored_bytes": est}
        if est * 2.5 > avail:
            row["skipped"] = (
                f"the declared blocks alone take ~{est / 2**30:.1f} GiB; "
                f"{avail / 2**30:.1f} GiB available (need ~2.5x)"
            )
            rows.append(row)
            print(f"  compile {H}: skipped ({row['skipped']})", flush=True)
            continue
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--compile-worker",
            f"{H},{R},{PAIR_FRACTION},{int(H <= 16384)}",
            "--threads",
            str(args.threads),
        ]
        # An address-space cap turns running out of memory into an error in the worker
        # instead of the kernel's OOM killer picking a process on a shared machine.
        limit = int(avail * 0.8) + 4 * 2**30
        row["address_space_limit_bytes"] = limit
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            preexec_fn=functools.partial(resource.setrlimit, resource.RLIMIT_AS, (limit, limit)),
        )
        if proc.returncode != 0:
            row["failed"] = (proc.stderr.strip().splitlines() or ["killed"])[-1]
        else:
            row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        row["load"] = load()
        rows.append(row)
        print(
            f"  compile {H}: {row.get('compile_s', row.get('failed'))}s "
            f"peak/stored {row.get('peak_over_stored')}",
            flush=True,
        )
    return rows


def memory_section(args) -> list[dict[str, Any]]:
    rows = []
    sizes = [
        (H, R, PAIR_FRACTION) for H, R, _, _ in (QUICK_SPEED_SIZES if args.quick else SPEED_SIZES)
    ]
    H, R, frac, _, _ = QUICK_SPARSE_SIZE if args.quick else SPARSE_SIZE
    sizes.append((H, R, frac))
    for H, R, frac in sizes:
        G, _ = region_graph(H, R, pair_fraction=frac)
        circuit = compile(G, seed=0)
        synapses = sum(
            int(b.mask.sum()) for b in circuit.family_blocks("hh") if b.trainable and not b.zero
        )
        for sparse in (False, True):
            if not sparse and H > 8192:
                continue  # a dense [H, H] model of this size is measured in the sparse section
            model = MultiRegionRNN(circuit, sparse=sparse)
            nb = model_bytes(model)
            stored = model.parametrizations.weight_hh.original.numel()
            rows.append(
                {
                    "units": H,
                    "regions": R,
                    "sparse": sparse,
                    "model_bytes": nb["total"],
                    "recurrent_bytes": nb["recurrent"],
                    "recurrent_weights_stored": stored,
                    "recurrent_synapses": synapses,
                    "bytes_per_stored_weight": round(nb["recurrent"] / stored, 3),
                    "bytes_per_synapse": round(nb["recurrent"] / synapses, 3),
                    "mask_dtype": str(model.mask_hh.dtype if H <= 8192 else torch.bool),
                    "sign_shape": list(model.sign_h.shape),
                }
            )
            print(
                f"  memory {H} sparse={sparse}: "
                f"{rows[-1]['bytes_per_stored_weight']} B/stored weight",
                flush=True,
            )
            del model
            gc.collect()
    return rows


# ----------------------------------------------------------------------------- report
def _fmt_s(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def markdown(res: dict[str, Any]) -> str:
    m = res["meta"]
    lines = [
        "# mrnngraph benchmark results",
        "",
        f"- date: {m['date']}",
        f"- device: {m['cpu']} ({m['cores']} cores), "
        f"torch {m['torch']}, python {m['python']}, {m['threads']} torch threads",
        f"- load average (1, 5, 15 min) at start / end: "
        f"{', '.join(f'{x:.2f}' for x in m['load_start'])} / "
        f"{', '.join(f'{x:.2f}' for x in m.get('load_end', []))}",
        f"- GPU: {m['gpu']}",
        f"- nn4n: {m.get('nn4n')} (benchmark environment, see bench/NOTES.md)",
        f"- command: `{m['command']}`",
        "",
    ]
    if res.get("speed"):
        lines += [
            "## Time per trial (median of the repeats), ratio to the floor (bare eager "
            "loop, effective weights precomputed, drive.unbind)",
            "",
            "Cases of one size run round-robin. Ratios are of medians; the last "
            "column is the ratio of the fastest runs.",
            "",
            "| units / regions, T, B | device | model | forward | ratio | "
            "forward+backward | ratio | ratio of minima | load |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in res["speed"]:
            size = f"{r['units']} / {r['regions']}, T={r['T']}, B={r['B']}"
            if "skipped" in r:
                lines.append(
                    f"| {size} | {r['device']} | {r['model']} | skipped: {r['skipped']} | | | | | |"
                )
                continue
            f, fb = r["forward"], r["forward_backward"]
            lines.append(
                f"| {size} | {r['device']} | {r['model']} | {_fmt_s(f['median_s'])} | "
                f"{f['ratio_to_bare']:.2f} | {_fmt_s(fb['median_s'])} | "
                f"{fb['ratio_to_bare']:.2f} | {fb['min_ratio_to_bare']:.2f} | "
                f"{fb['load'][0]} |"
            )
        lines.append("")
    if m.get("gpu_note"):
        lines += [f"GPU rows: {m['gpu_note']}", ""]
    sp = res.get("sparse")
    if sp:
        lines += ["## Block-sparse vs dense execution (CPU)", ""]
        if "skipped" in sp:
            lines += [f"Skipped: {sp['skipped']}", ""]
        else:
            lines += [
                f"{sp['units']} units, {sp['regions']} regions, {sp['pairs_connected']} "
                f"connected region pairs (blocks cover {sp['coverage']:.1%} of [H, H]), "
                f"T={sp['T']}, B={sp['B']}.",
                "",
                "| path | build | forward | forward+backward | model bytes |",
                "|---|---|---|---|---|",
            ]
            for k in ("dense", "sparse"):
                d = sp[k]
                lines.append(
                    f"| {k} | {_fmt_s(d['build_s'])} | "
                    f"{_fmt_s(d['forward']['median_s'])} | "
                    f"{_fmt_s(d['forward_backward']['median_s'])} | "
                    f"{d['bytes']['total'] / 2**20:.0f} MiB |"
                )
            diff = sp["max_abs_diff"]
            lines += [
                "",
                f"Speed-up of block-sparse: forward {sp['forward_speedup']}x, "
                f"forward+backward {sp['forward_backward_speedup']}x. Largest "
                f"difference: outputs {diff['outputs']:.1e}, rates {diff['rates']:.1e}, "
                f"weight_hh gradient {diff['grad_weight_hh']:.1e} (gradient scale "
                f"{diff['grad_weight_hh_scale']:.1e}).",
                "",
            ]
    if res.get("compile"):
        lines += [
            "## Compile time and peak memory (fresh process per size, "
            f"{PAIR_FRACTION:.0%} of region pairs)",
            "",
            "| units / regions | projections | networkx graph | compile | CPU user / "
            "system (page faults) | stored tensors "
            "| peak RSS increase | peak / stored | model build (auto) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in res["compile"]:
            if "skipped" in r or "failed" in r:
                lines.append(
                    f"| {r['units']} / {r['regions']} | | | "
                    f"{r.get('skipped') or 'failed: ' + r['failed']} | | "
                    f"~{r['estimated_stored_bytes'] / 2**30:.1f} GiB (estimate) | | | |"
                )
                continue
            build = (
                f"{_fmt_s(r['model_build_s'])}, "
                f"+{r['model_peak_rss_delta_bytes'] / 2**20:.0f} MiB peak "
                f"({'sparse' if r['model_sparse'] else 'dense'})"
                if "model_build_s" in r
                else "not measured (size)"
            )
            lines.append(
                f"| {r['units']} / {r['regions']} | {r['projections']} | "
                f"{_fmt_s(r['graph_s'])} | {_fmt_s(r['compile_s'])} | "
                f"{r['compile_user_s']:.1f} s / {r['compile_sys_s']:.1f} s "
                f"({r['compile_page_faults'] / 1e6:.2f} M) | "
                f"{r['stored_bytes'] / 2**20:.0f} MiB | "
                f"{r['peak_rss_delta_bytes'] / 2**20:.0f} MiB | "
                f"{r['peak_over_stored']} | {build} |"
            )
        lines.append("")
    if res.get("memory"):
        lines += [
            "## Memory held by the model per recurrent weight",
            "",
            "Bytes of the recurrent parameter and its buffers (mask, signs, frozen "
            "values, block indices) per stored recurrent weight and per synapse "
            "(mask entry that is on).",
            "",
            "| units / regions | path | model total | recurrent | stored weights | "
            "synapses | B / stored weight | B / synapse | mask dtype | signs |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in res["memory"]:
            lines.append(
                f"| {r['units']} / {r['regions']} | "
                f"{'block-sparse' if r['sparse'] else 'dense'} | "
                f"{r['model_bytes'] / 2**20:.1f} MiB | "
                f"{r['recurrent_bytes'] / 2**20:.1f} MiB | "
                f"{r['recurrent_weights_stored']:,} | {r['recurrent_synapses']:,} | "
                f"{r['bytes_per_stored_weight']} | {r['bytes_per_synapse']} | "
                f"{r['mask_dtype']} | vector {r['sign_shape']} |"
            )
        lines.append("")
    return "\n".join(lines)


def _nn4n_version() -> str:
    ok, why = nn4n_available()
    if not ok:
        return why
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nn4n")
    except PackageNotFoundError:
        return "importable (version unknown)"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (checks the script)")
    p.add_argument("--sections", default="speed,sparse,compile,memory")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the machine is shared; see NOTES.md)",
    )
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sparse-repeats", type=int, default=3)
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument(
        "--tf32",
        action="store_true",
        help="CUDA: let matmuls use TF32, as cuDNN's RNN may by default "
        "(torch.backends.cudnn.allow_tf32)",
    )
    p.add_argument("--compile-worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.compile_worker:
        H, R, frac, build = args.compile_worker.split(",")
        print(json.dumps(compile_worker(int(H), int(R), float(frac), bool(int(build)))))
        return 0

    sections = set(args.sections.split(","))
    devices = ["cpu"]
    gpu_note = ""
    if torch.cuda.is_available():
        devices.append("cuda")
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        gpu = (
            f"{torch.cuda.get_device_name(0)}; matmul TF32 "
            f"{'on' if args.tf32 else 'off'}, cuDNN TF32 "
            f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'}"
        )
    else:
        gpu = "none"
        gpu_note = "no CUDA device on this machine: GPU rows skipped."
    res: dict[str, Any] = {
        "meta": {
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "gpu": gpu,
            "gpu_note": gpu_note,
            "load_start": list(os.getloadavg()),
            "command": " ".join(
                ["python bench/run.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "nn4n": _nn4n_version(),
        }
    }
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {load()}, GPU: {gpu}",
        flush=True,
    )
    if "speed" in sections:
        print("speed:", flush=True)
        res["speed"] = speed_section(args, devices)
    if "sparse" in sections:
        print("block-sparse:", flush=True)
        res["sparse"] = sparse_section(args)
    if "compile" in sections:
        print("compile:", flush=True)
        res["compile"] = compile_section(args)
    if "memory" in sections:
        print("memory:", flush=True)
        res["memory"] = memory_section(args)
    res["meta"]["load_end"] = list(os.getloadavg())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("results.json", json.dumps(res, indent=1)), ("RESULTS.md", markdown(res))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, out / name)
    print(f"wrote {out / 'results.json'} and {out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
