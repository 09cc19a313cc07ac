"""Sweep benchmark (issue #6): 8 trials of the MNIST-CNN template on ``digits``, and the cost of
Tune per trial against the same training without Tune, measured in the same run.

1. ``python -m ray_jobs.tune`` from launch to a FINISHED parent run (Optuna + ASHA, searching the
   learning rate, Dense width, dropout and batch size); target <= 180 s on 2 CPUs.
2. Per-trial overhead: each trial's wall time in the sweep (its MLflow child run, from Tune
   starting it to its last result) minus the time of the same training — the trial's sampled
   network and hyperparameters, the epochs it ran, the same per-epoch code (``ray_jobs.train.loop``) —
   run here in one process without Tune, Ray or MLflow.

    python -m benchmarks.bench_tune [--trials 8] [--epochs 6] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SEARCH = (
    "train.optimizer.learning_rate=log_range(1e-3, 1e-2)",
    "dense_1.units=choice(64, 128)",
    "dropout_1.rate=range(0.2, 0.5)",
    "train.batch_size=choice(32, 64)",
)


def run_sweep(home: str, trials: int, epochs: int) -> float:
    env = {**os.environ, "NEURALFORGE_HOME": home}
    for var in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "NEURALFORGE_STORAGE"):
        env.pop(var, None)
    cmd = [
        sys.executable,
        "-m",
        "ray_jobs.tune",
        "--template",
        "mnist_cnn",
        "--dataset",
        "digits",
        "--num-samples",
        str(trials),
        "--epochs",
        str(epochs),
        "--search-method",
        "bayesian",
        "-o",
        os.path.join(home, "best.neural"),
    ]
    for s in SEARCH:
        cmd += ["--search", s]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(out.stdout[-2000:] + out.stderr[-3000:])
    return seconds


class _Stop(Exception):
    pass


def replay(home: str, child) -> float:
    """Seconds to train the trial's network for the epochs it ran, in this process, without Tune."""
    import torch
    from mlflow.tracking import MlflowClient

    from neural_engine.data import load
    from neural_engine.ir import Graph
    from ray_jobs.config import TrainConfig
    from ray_jobs.train.loop import Session, run_epochs
    from ray_jobs.train.setup import loop_config, plan

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    with tempfile.TemporaryDirectory() as d:
        setup = client.download_artifacts(child.info.run_id, "setup", d)
        with open(os.path.join(setup, "graph.json")) as f:
            graph = Graph.from_json(json.load(f))
        with open(os.path.join(setup, "config.json")) as f:
            recorded = json.load(f)
    ran = len(client.get_metric_history(child.info.run_id, "val_loss"))
    fields = set(TrainConfig.__dataclass_fields__)
    given = {k: v for k, v in recorded.items() if k in fields}
    config = TrainConfig(
        **{
            **given,
            "template": None,
            "dsl": None,
            "graph": "replay.json",
            "dataset": recorded["dataset_pinned"],
        }
    )
    reports = []

    def report(metrics, checkpoint=None):
        reports.append(metrics)
        if len(reports) >= ran:
            raise _Stop

    start = time.perf_counter()
    dataset = load(config.dataset)
    _, hyper = plan(config, graph, dataset)
    loop = loop_config(config, graph, hyper, dataset, None, threads=1)
    try:
        run_epochs(
            loop,
            Session(
                0, 1, torch.device("cpu"), lambda m: m, lambda x: x, report, None, lambda directory: None
            ),
        )
    except _Stop:
        pass
    return time.perf_counter() - start


def measure(trials: int, epochs: int) -> dict:
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory() as home:
        wall = run_sweep(home, trials, epochs)
        client = MlflowClient(f"sqlite:///{home}/mlflow.db")
        exp = [e.experiment_id for e in client.search_experiments()]
        parent = client.search_runs(exp, "tags.`neuralforge.kind` = 'sweep'")[0]
        children = client.search_runs(exp, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        rows = []
        for child in children:
            if child.data.tags.get("neuralforge.trial_status") == "error":
                continue
            steps = client.get_metric_history(child.info.run_id, "val_loss")
            # from Tune starting the trial to its last result (the best trial's evaluation comes later)
            in_tune = (max(m.timestamp for m in steps) - child.info.start_time) / 1000
            alone = replay(home, child)
            rows.append(
                {
                    "trial": child.data.tags["neuralforge.trial"],
                    "epochs": len(steps),
                    "status": child.data.tags["neuralforge.trial_status"],
                    "in_tune_s": round(in_tune, 2),
                    "without_tune_s": round(alone, 2),
                    "overhead_s": round(in_tune - alone, 2),
                }
            )
        overheads = [r["overhead_s"] for r in rows]
        return {
            "sweep_wall_s": round(wall, 1),
            "parent_status": parent.info.status,
            "trials": len(children),
            "best_val_loss": round(parent.data.metrics["best_val_loss"], 4),
            "best_test_accuracy": round(parent.data.metrics.get("test_accuracy", float("nan")), 4),
            "per_trial_overhead_s": {
                "mean": round(statistics.mean(overheads), 2),
                "median": round(statistics.median(overheads), 2),
                "max": round(max(overheads), 2),
            },
            "rows": sorted(rows, key=lambda r: r["trial"]),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = measure(args.trials, args.epochs)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(
        f"sweep: {r['trials']} trials of MNIST-CNN on digits (<= {args.epochs} epochs), "
        f"{r['sweep_wall_s']} s to {r['parent_status']}  (target <= 180 s on 2 CPUs)"
    )
    print(f"best: val_loss {r['best_val_loss']}, test accuracy {r['best_test_accuracy']:.2%}")
    print(f"{'trial':14} {'status':14} {'epochs':>6} {'in Tune s':>10} {'without s':>10} {'overhead s':>11}")
    for row in r["rows"]:
        print(
            f"{row['trial']:14} {row['status']:14} {row['epochs']:>6} {row['in_tune_s']:>10} "
            f"{row['without_tune_s']:>10} {row['overhead_s']:>11}"
        )
    o = r["per_trial_overhead_s"]
    print(f"per-trial overhead of Tune: mean {o['mean']} s, median {o['median']} s, max {o['max']} s")


if __name__ == "__main__":
    main()
