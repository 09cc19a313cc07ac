"""Training benchmarks (issue #5), each against a baseline measured in the same run.

1. Ray Train overhead: the same model, data and epochs in one Ray Train worker vs. a plain
   PyTorch loop in this process. Targets: steady-state epoch-time ratio <= 1.10; fixed start-up
   (Ray start + worker group + first batch, i.e. Ray wall time minus its epochs) <= 25 s.
   Embedded (a Ray started here, as ``python -m ray_jobs.train`` with no ``RAY_ADDRESS``) or, with
   ``--attach``, attached to a running head (as under ``make run``): the head comes from
   ``ray_jobs.cluster.up`` in a temp home, or is ``--attach ADDRESS``; ``--runs`` repeats the Ray
   side there (the first job on a fresh head also starts Ray's detached helper actors). The
   start-up is broken down from timestamps on the driver and in the worker.
2. End to end: ``python -m ray_jobs.train --template mnist_cnn --dataset digits`` from launch to a
   FINISHED MLflow run; target >= 98% test accuracy within 120 s on 2 CPUs.

    python -m benchmarks.bench_train [--epochs 16] [--samples 6000] [--skip-e2e] [--json]
        [--attach [ADDRESS]] [--runs N] [--ray-defaults]
"""

from __future__ import annotations

import argparse
import contextlib
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
    marks = {"entered": time.time()}  # wall clock: the driver compares them with its own
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
    times, reports = [], []
    marks["first_epoch"] = time.time()
    for _ in range(config["epochs"]):
        start = time.perf_counter()
        for x, y in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
        if under_ray:
            start = time.perf_counter()
            ray.train.report({"epoch_seconds": times[-1]})
            reports.append(time.perf_counter() - start)
    marks["done"] = time.time()
    if config.get("out"):  # Ray keeps only the last report; the worker leaves all epochs here
        import psutil

        marks["process_created"] = psutil.Process().create_time()
        with open(config["out"], "w") as f:
            json.dump({"epochs": times, "reports": reports, "marks": marks}, f)
    return times


EMBEDDED_ONLY = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"  # set "0" by connect_ray for an embedded Ray


def ray_side(epochs: int, samples: int, threads: int, address: str | None = None) -> dict:
    """One Ray Train run of :func:`epochs_loop`: wall time, epochs and the start-up breakdown."""
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    start = time.time()
    if address:
        ray.init(address=address, log_to_driver=False)
    else:  # as ray_jobs.train.connect_ray, whose settings overhead() applies unless --ray-defaults
        ray.init(
            address="local",
            num_cpus=threads + 1,
            object_store_memory=128 * 2**20,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            log_to_driver=False,
        )
    connected = time.time()
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "epochs.json")
            fit_start = time.time()
            TorchTrainer(
                epochs_loop,
                train_loop_config={
                    "epochs": epochs,
                    "samples": samples,
                    "threads": threads,
                    "ray": True,
                    "out": out,
                },
                scaling_config=ray.train.ScalingConfig(num_workers=1),
                run_config=ray.train.RunConfig(storage_path=d, name="bench"),
            ).fit()
            end = time.time()
            with open(out) as f:
                w = json.load(f)
    finally:
        ray.shutdown()  # attached: disconnects only
    m = w["marks"]
    wall = end - start
    fixed = wall - sum(w["epochs"])
    parts = {  # they add up to the fixed start-up, less the loop's own bookkeeping between epochs
        "ray_init_s": connected - start,  # start Ray, or connect to the head
        "controller_to_worker_process_s": m["process_created"] - fit_start,  # trainer, controller, PG
        "worker_process_to_train_fn_s": m["entered"] - m["process_created"],  # imports, context, gloo
        "train_fn_setup_s": m["first_epoch"] - m["entered"],  # model, data, prepare_model
        "reports_s": sum(w["reports"]),  # ray.train.report, every epoch
        "after_last_report_s": end - m["done"],  # controller sees the end, shuts down
    }
    return {
        "epochs": w["epochs"],
        "wall_s": round(wall, 1),
        "fixed_startup_s": round(fixed, 1),
        "breakdown": {k: round(v, 2) for k, v in parts.items()},
    }


def overhead(
    epochs: int,
    samples: int,
    threads: int,
    *,
    attach: str | None = None,
    runs: int = 1,
    ray_defaults: bool = False,
) -> dict:
    """The plain loop, then ``runs`` Ray Train runs: embedded (``attach`` None), attached to the head
    at ``attach``, or (``attach == "new"``) to a head started here with ``ray_jobs.cluster.up``.
    ``ray_defaults`` leaves out the Train settings ``ray_jobs.train`` applies (to compare)."""
    from ray_jobs.train import TRAIN_ENV, apply_train_env

    names = [*TRAIN_ENV, EMBEDDED_ONLY]
    if not ray_defaults:
        apply_train_env()
        if not attach:
            os.environ.setdefault(EMBEDDED_ONLY, "0")  # what connect_ray sets for an embedded Ray
    start = time.perf_counter()
    plain = epochs_loop({"epochs": epochs, "samples": samples, "threads": threads})
    plain_setup = time.perf_counter() - start - sum(plain)  # model + data, as train_fn_setup_s
    with _head(attach) as address:
        ray_runs = [ray_side(epochs, samples, threads, address) for _ in range(runs)]
    steady_plain = statistics.median(plain[1:])
    result = {"mode": "attached" if attach else "embedded", "runs": []}
    for r in ray_runs:
        steady_ray = statistics.median(r["epochs"][1:])
        result["runs"].append(
            {
                "plain_epoch_s": round(steady_plain, 3),
                "ray_epoch_s": round(steady_ray, 3),
                "epoch_ratio": round(steady_ray / steady_plain, 3),
                "plain_total_s": round(sum(plain), 1),
                "plain_setup_s": round(plain_setup, 2),
                "ray_wall_s": r["wall_s"],
                "ray_fixed_startup_s": r["fixed_startup_s"],
                "breakdown": r["breakdown"],
            }
        )
    result.update(result["runs"][-1])  # the last run's figures at the top level, as before
    result["train_env"] = {k: os.environ.get(k) for k in names}
    result["load_average"] = os.getloadavg()[0]
    return result


@contextlib.contextmanager
def _head(attach: str | None):
    """None (embedded), the given address, or a head of ``ray_jobs.cluster`` in a temp home."""
    if attach != "new":
        yield attach
        return
    from ray_jobs import cluster

    with tempfile.TemporaryDirectory() as home:
        saved = {k: os.environ.get(k) for k in ("NEURALFORGE_HOME", "RAY_AUTH_MODE")}
        os.environ.update(NEURALFORGE_HOME=home, RAY_AUTH_MODE="token")
        try:
            state = cluster.up(num_cpus=os.cpu_count() or 2)
            try:
                yield state.gcs_address
            finally:
                cluster.down()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def end_to_end() -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "NEURALFORGE_HOME": home}
        env.pop("RAY_ADDRESS", None)
        start = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "ray_jobs.train",
                "--template",
                "mnist_cnn",
                "--dataset",
                "digits",
                "--run-name",
                "bench",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{home}/mlflow.db")
        run = client.search_runs([e.experiment_id for e in client.search_experiments()])[0]
        return {
            "seconds": round(seconds, 1),
            "status": run.info.status,
            "test_accuracy": round(run.data.metrics["test_accuracy"], 4),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--samples", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--attach",
        nargs="?",
        const="new",
        default=None,
        metavar="ADDRESS",
        help="run the Ray side attached to a running head: ADDRESS, or (no value) a head "
        "started here for the benchmark and stopped after it",
    )
    ap.add_argument("--runs", type=int, default=1, help="Ray Train runs (on the same head when attached)")
    ap.add_argument(
        "--ray-defaults",
        action="store_true",
        help="leave out ray_jobs.train's Ray Train settings (for a before/after comparison)",
    )
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = {
        "overhead": overhead(
            args.epochs,
            args.samples,
            args.threads,
            attach=args.attach,
            runs=args.runs,
            ray_defaults=args.ray_defaults,
        )
    }
    if not args.skip_e2e:
        result["end_to_end"] = end_to_end()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    o = result["overhead"]
    print(
        f"plain PyTorch loop (baseline)  steady epoch {o['plain_epoch_s']:.3f} s, {o['plain_total_s']} s in all"
    )
    settings = ", ".join(f"{k}={v}" for k, v in o["train_env"].items() if v) or "Ray's defaults"
    print(f"Ray Train, 1 worker, {o['mode']} ({settings}; load average {o['load_average']:.1f})")
    for i, r in enumerate(o["runs"], 1):
        print(
            f"  run {i}: steady epoch {r['ray_epoch_s']:.3f} s, ratio {r['epoch_ratio']:.3f}  (target <= 1.10)"
        )
        print(
            f"         fixed start-up {r['ray_fixed_startup_s']} s of {r['ray_wall_s']} s wall  (target <= 25 s)"
        )
        for name, seconds in r["breakdown"].items():
            print(
                f"           {name:<32} {seconds:6.2f} s"
                + (f"  (plain loop: {r['plain_setup_s']:.2f} s)" if name == "train_fn_setup_s" else "")
            )
    if "end_to_end" in result:
        e = result["end_to_end"]
        print(
            f"end to end (digits, MNIST-CNN) {e['seconds']} s to {e['status']}, test accuracy "
            f"{e['test_accuracy']:.2%}  (target >= 98% in <= 120 s)"
        )


if __name__ == "__main__":
    main()
