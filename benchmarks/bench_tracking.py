"""Tracking throughput: NeuralForge's batching MetricLogger vs. a naive ``log_metric`` loop on the
same MLflow store, measured in the same run — on the embedded default (SQLite) and through an
MLflow tracking server (the at-scale setup; started here on loopback over its own SQLite file).
Target (issue #5): >= 1,000 metrics/s and >= 100x the naive loop.

    python -m benchmarks.bench_tracking [--store sqlite|server|both] [--metrics 20000] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator


def measure(uri: str, artifacts: str, metrics: int, naive_steps: int) -> dict:
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import MetricLogger, experiment_id

    client = MlflowClient(uri)
    exp = experiment_id(uri, "bench", artifacts)
    naive_run, ours_run = (client.create_run(exp).info.run_id for _ in range(2))
    start = time.perf_counter()
    for step in range(naive_steps):
        client.log_metric(naive_run, "loss", 1.0 / (step + 1), step=step)
    naive = naive_steps / (time.perf_counter() - start)
    start = time.perf_counter()
    logger = MetricLogger(uri, ours_run)
    for step in range(metrics):
        logger.log({"loss": 1.0 / (step + 1)}, step=step)
    queued = time.perf_counter() - start
    logger.close()
    ours = metrics / (time.perf_counter() - start)
    stored = len(client.get_metric_history(ours_run, "loss"))
    assert stored == metrics, f"stored {stored} of {metrics}"
    return {
        "naive_metrics_per_s": round(naive, 1),
        "logger_metrics_per_s": round(ours, 1),
        "speedup": round(ours / naive, 1),
        "caller_us_per_metric": round(1e6 * queued / metrics, 2),
        "stored": stored,
    }


@contextlib.contextmanager
def mlflow_server(directory: str) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of ``mlflow server`` on a SQLite file in ``directory``; stopped after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{directory}/server.db",
            "--artifacts-destination",
            f"{directory}/server-artifacts",
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server on {url} did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=("sqlite", "server", "both"), default="both")
    ap.add_argument("--metrics", type=int, default=20_000)
    ap.add_argument(
        "--naive", type=int, default=200, help="naive log_metric calls (SQLite; 50 through a server)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        if args.store in ("sqlite", "both"):
            results["sqlite"] = measure(
                f"sqlite:///{d}/mlflow.db", f"{d}/artifacts", args.metrics, args.naive
            )
        if args.store in ("server", "both"):
            with mlflow_server(d) as url:
                results["server"] = measure(url, "mlflow-artifacts:/bench", args.metrics, min(args.naive, 50))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for store, r in results.items():
        print(f"[{store}] naive log_metric loop (baseline)   {r['naive_metrics_per_s']:10.1f} metrics/s")
        print(
            f"[{store}] NeuralForge MetricLogger           {r['logger_metrics_per_s']:10.1f} metrics/s  "
            "(target >= 1,000/s)"
        )
        print(f"[{store}] speed-up                           {r['speedup']:10.1f}x         (target >= 100x)")
        print(f"[{store}] time a training step waits        {r['caller_us_per_metric']:10.2f} us per metric")


if __name__ == "__main__":
    main()
