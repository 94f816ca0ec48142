"""Re-measure the default run quoted in README.md and docs/training.md.

Runs ``mrnngraph train`` with every default (the packaged CBGT loop on perceptual
decision making) once per seed, each in a fresh process as a user would, and
writes what the docs quote to ``docs/data/train_default.json``: held-out accuracy
(all trials, coherence >= 12.8 %, per coherence), fixation breaks, constraint
violations, training and total seconds, and the machine's load. Seed 0's
psychometric curve is copied to ``docs/img/train_psychometric.png``.

    python examples/train_default.py                   # seeds 0-5, about 2-4 min on 2 cores
    python examples/train_default.py --seeds 0 --json /tmp/default.json --no-image
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_seed(seed: int, out: Path, figures: bool) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "mrnngraph",
        "train",
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--quiet",
    ]
    if not figures:
        cmd.append("--no-figures")
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    wall = time.perf_counter() - start
    m = json.loads((out / "metrics.json").read_text())
    ev = m["eval"]
    return {
        "seed": seed,
        "command": " ".join(["mrnngraph", *cmd[3:]]),
        "accuracy": ev["accuracy"],
        "accuracy_coherence_ge_12.8": ev["accuracy_coherence_ge_12.8"],
        "accuracy_by_coherence": {c: v["accuracy"] for c, v in ev["accuracy_by_coherence"].items()},
        "fixation_breaks": ev["fixation_breaks"],
        "eval_trials": ev["n_trials"],
        "constraint_violations": m["constraint_violations"],
        "health": m["health"],
        "train_seconds": m["train_seconds"],
        "total_seconds": m["total_seconds"],
        "wall_seconds": round(wall, 2),
        "settings": {k: m[k] for k in ("steps", "batch_size", "lr", "threads_per_process")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", default="0,1,2,3,4,5", help="comma-separated seeds (default: 0-5)"
    )
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "data" / "train_default.json")
    parser.add_argument(
        "--no-image",
        dest="image",
        action="store_false",
        help="do not replace docs/img/train_psychometric.png",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    load_start = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            out = Path(tmp) / f"seed{seed}"
            row = run_seed(seed, out, figures=seed == seeds[0])
            runs.append(row)
            print(
                f"seed {seed}: accuracy {100 * row['accuracy']:.1f} %, coherence >= 12.8 %: "
                f"{100 * row['accuracy_coherence_ge_12.8']:.1f} %, fixation breaks "
                f"{100 * row['fixation_breaks']:.2f} %, train {row['train_seconds']:.1f} s, "
                f"wall {row['wall_seconds']:.1f} s",
                flush=True,
            )
            if seed == seeds[0] and args.image:
                shutil.copyfile(
                    out / "psychometric.png", ROOT / "docs" / "img" / "train_psychometric.png"
                )
    import torch

    import mrnngraph

    result = {
        "what": "mrnngraph train with every default, one fresh process per seed",
        "script": "python examples/train_default.py",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "mrnngraph_version": mrnngraph.__version__,
        "torch_version": torch.__version__,
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
