"""Shape engine speed: full propagation + report vs. torch's meta-device build + forward.

Prints the medians, the ratio against the baseline measured in this same process, and how the
time grows with graph size (a chain of Dense/ReLU nodes). Targets (issue #2): ResNet-18 at
224x224 <= 0.5 ms and >= 100x faster than the meta baseline; a 10,000-node chain <= 100 ms.

    python benchmarks/bench_shapes.py [--runs 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial

import torch
import torchvision

from neural_engine.ir import GraphBuilder
from neural_engine.report import report
from neural_engine.templates import template


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up (imports, caches of the Python runtime)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def meta_resnet18():
    with torch.device("meta"):
        model = torchvision.models.resnet18()
        model(torch.empty(1, 3, 224, 224))


def chain(n: int):
    g = GraphBuilder(f"Chain{n}", {"x": (64,)})
    x = "x"
    for _i in range(n // 2):
        x = g.add("Dense", x, units=64)
        x = g.add("ReLU", x)
    return g.build()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)

    resnet = template("resnet18")
    ours = median_ms(lambda: report(resnet), args.runs)
    meta = median_ms(meta_resnet18, args.runs)
    sizes = (1_000, 2_500, 5_000, 10_000)
    chains = {n: median_ms(partial(report, chain(n)), max(3, args.runs // 10)) for n in sizes}
    result = {
        "resnet18_report_ms": round(ours, 3),
        "torch_meta_build_forward_ms": round(meta, 3),
        "speedup_vs_meta": round(meta / ours, 1),
        "chain_ms": {n: round(t, 2) for n, t in chains.items()},
        "chain_us_per_node": {n: round(1000 * t / n, 2) for n, t in chains.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"ResNet-18 @224 propagate+report  median {ours:8.3f} ms  (target <= 0.5 ms)")
    print(f"torch meta build + forward       median {meta:8.3f} ms  (baseline, same process)")
    print(f"speed-up vs meta                 {meta / ours:8.1f}x    (target >= 100x)")
    for n, t in chains.items():
        print(f"chain of {n:>6} nodes            median {t:8.2f} ms  ({1000 * t / n:.2f} us/node)")


if __name__ == "__main__":
    main()
