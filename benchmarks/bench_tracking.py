"""Tracking throughput: NeuralForge's batching MetricLogger vs. a naive ``log_metric`` loop, on
the same MLflow SQLite store, measured in the same run. Target (issue #5): >= 1,000 metrics/s and
>= 100x the naive loop.

    python -m benchmarks.bench_tracking [--metrics 20000] [--naive 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metrics", type=int, default=20_000)
    ap.add_argument("--naive", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import MetricLogger, experiment_id
    with tempfile.TemporaryDirectory() as d:
        uri = f"sqlite:///{d}/mlflow.db"
        client = MlflowClient(uri)
        exp = experiment_id(uri, "bench", f"{d}/artifacts")
        naive_run, ours_run = (client.create_run(exp).info.run_id for _ in range(2))
        start = time.perf_counter()
        for step in range(args.naive):
            client.log_metric(naive_run, "loss", 1.0 / (step + 1), step=step)
        naive = args.naive / (time.perf_counter() - start)
        start = time.perf_counter()
        logger = MetricLogger(uri, ours_run)
        for step in range(args.metrics):
            logger.log({"loss": 1.0 / (step + 1)}, step=step)
        queued = time.perf_counter() - start
        logger.close()
        ours = args.metrics / (time.perf_counter() - start)
        stored = len(client.get_metric_history(ours_run, "loss"))
    result = {"naive_metrics_per_s": round(naive, 1), "logger_metrics_per_s": round(ours, 1),
              "speedup": round(ours / naive, 1), "caller_us_per_metric": round(1e6 * queued / args.metrics, 2),
              "stored": stored}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"naive log_metric loop (baseline)   {naive:10.1f} metrics/s")
    print(f"NeuralForge MetricLogger           {ours:10.1f} metrics/s  (target >= 1,000/s)")
    print(f"speed-up                           {ours / naive:10.1f}x         (target >= 100x)")
    print(f"time a training step waits        {1e6 * queued / args.metrics:10.2f} us per metric (queued)")
    assert stored == args.metrics, f"stored {stored} of {args.metrics}"


if __name__ == "__main__":
    main()
