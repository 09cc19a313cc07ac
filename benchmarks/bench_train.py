"""Training benchmarks (issue #5), each against a baseline measured in the same run.

1. Ray Train overhead: the same model, data and epochs in one Ray Train worker vs. a plain
   PyTorch loop in this process. Targets: steady-state epoch-time ratio <= 1.10; fixed start-up
   (Ray start + worker group + first batch, i.e. Ray wall time minus its epochs) <= 25 s.
2. End to end: ``python -m ray_jobs.train --template mnist_cnn --dataset digits`` from launch to a
   FINISHED MLflow run; target >= 98% test accuracy within 120 s on 2 CPUs.

    python -m benchmarks.bench_train [--epochs 16] [--samples 6000] [--skip-e2e] [--json]
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

import torch

from neural_engine.build import build
from neural_engine.templates import template


def _data(samples: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(samples, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (samples,), generator=g)
    return torch.utils.data.TensorDataset(x, y)


def epochs_loop(config: dict) -> list[float]:
    """The loop both sides run: plain PyTorch; under Ray it adds Ray's three calls."""
    torch.set_num_threads(config["threads"])
    torch.manual_seed(0)
    under_ray = config.get("ray", False)
    model = build(template("mnist_cnn"), logits=True)
    loader = torch.utils.data.DataLoader(_data(config["samples"]), batch_size=64, shuffle=True)
    if under_ray:
        import ray.train
        import ray.train.torch as rt
        model, loader = rt.prepare_model(model), rt.prepare_data_loader(loader)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    times = []
    for _ in range(config["epochs"]):
        start = time.perf_counter()
        for x, y in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
        if under_ray:
            ray.train.report({"epoch_seconds": times[-1]})
    if config.get("out"):  # Ray keeps only the last report; the worker leaves all epochs here
        with open(config["out"], "w") as f:
            json.dump(times, f)
    return times


def overhead(epochs: int, samples: int, threads: int) -> dict:
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer
    plain = epochs_loop({"epochs": epochs, "samples": samples, "threads": threads})
    start = time.perf_counter()
    ray.init(address="local", num_cpus=threads + 1, object_store_memory=128 * 2**20, include_dashboard=True,
             dashboard_host="127.0.0.1", log_to_driver=False)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "epochs.json")
        TorchTrainer(epochs_loop, train_loop_config={"epochs": epochs, "samples": samples, "threads": threads,
                                                     "ray": True, "out": out},
                     scaling_config=ray.train.ScalingConfig(num_workers=1),
                     run_config=ray.train.RunConfig(storage_path=d, name="bench")).fit()
        wall = time.perf_counter() - start
        with open(out) as f:
            ray_epochs = json.load(f)
    ray.shutdown()
    steady_plain, steady_ray = statistics.median(plain[1:]), statistics.median(ray_epochs[1:])
    return {"plain_epoch_s": round(steady_plain, 3), "ray_epoch_s": round(steady_ray, 3),
            "epoch_ratio": round(steady_ray / steady_plain, 3), "plain_total_s": round(sum(plain), 1),
            "ray_wall_s": round(wall, 1), "ray_fixed_startup_s": round(wall - sum(ray_epochs), 1)}


def end_to_end() -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "NEURALFORGE_HOME": home}
        env.pop("RAY_ADDRESS", None)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "ray_jobs.train", "--template", "mnist_cnn",
                              "--dataset", "digits", "--run-name", "bench"], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        from mlflow.tracking import MlflowClient
        client = MlflowClient(f"sqlite:///{home}/mlflow.db")
        run = client.search_runs([e.experiment_id for e in client.search_experiments()])[0]
        return {"seconds": round(seconds, 1), "status": run.info.status,
                "test_accuracy": round(run.data.metrics["test_accuracy"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--samples", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = {"overhead": overhead(args.epochs, args.samples, args.threads)}
    if not args.skip_e2e:
        result["end_to_end"] = end_to_end()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    o = result["overhead"]
    print(f"plain PyTorch loop (baseline)  steady epoch {o['plain_epoch_s']:.3f} s, {o['plain_total_s']} s in all")
    print(f"Ray Train, 1 worker            steady epoch {o['ray_epoch_s']:.3f} s, ratio {o['epoch_ratio']:.3f}"
          "  (target <= 1.10)")
    print(f"Ray fixed start-up             {o['ray_fixed_startup_s']} s of {o['ray_wall_s']} s wall  (target <= 25 s)")
    if "end_to_end" in result:
        e = result["end_to_end"]
        print(f"end to end (digits, MNIST-CNN) {e['seconds']} s to {e['status']}, test accuracy "
              f"{e['test_accuracy']:.2%}  (target >= 98% in <= 120 s)")


if __name__ == "__main__":
    main()
