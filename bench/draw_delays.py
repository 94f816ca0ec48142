"""What delay marks cost the area diagram: the 29-area hierarchy (603 edges) drawn and
rendered without delays and with a delay on every edge, interleaved, median and best.

    python bench/draw_delays.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mrnngraph.drawing import draw  # noqa: E402
from mrnngraph.presets import cortical_hierarchy  # noqa: E402


def once(G) -> float:
    t = time.perf_counter()
    ax = draw(G)
    ax.figure.canvas.draw()
    elapsed = time.perf_counter() - t
    plt.close(ax.figure)
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    plain = cortical_hierarchy()
    delayed = cortical_hierarchy()
    rng = np.random.default_rng(0)
    for u, v in delayed.edges:
        delayed.edges[u, v]["delay"] = float(rng.integers(1, 6) * 10)
    times: dict[str, list[float]] = {"without delays": [], "with delays": []}
    once(plain)  # warm-up: fonts, caches
    for _ in range(args.repeats):
        times["without delays"].append(once(plain))
        times["with delays"].append(once(delayed))
    print(f"29-area hierarchy, {plain.number_of_edges()} edges, draw + render:")
    for name, ts in times.items():
        print(f"  {name:15s} median {statistics.median(ts):.2f} s, best {min(ts):.2f} s")
    ratio = statistics.median(times["with delays"]) / statistics.median(times["without delays"])
    print(f"  ratio of medians {ratio:.2f}")


if __name__ == "__main__":
    main()
