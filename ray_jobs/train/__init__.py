"""Train a network on Ray Train and record it in MLflow.

    python -m ray_jobs.train --template mnist_cnn --dataset digits
    neuralforge train --dsl net.neural --dataset pets@v2 --workers 2 --gpu
    ray job submit --working-dir . -- python -m ray_jobs.train --template mnist_cnn --smoke-test

With no ``RAY_ADDRESS`` an embedded Ray starts (``address="local"``, CPUs of this machine, a small
object store); inside ``ray job submit`` or with an address, the cluster runs it. The driver
owns the MLflow run: parameters, tags and artifacts before training, the test evaluation and the
model after; rank 0 of the workers logs each epoch's metrics (see ``ray_jobs.tracking``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from neural_engine.errors import NeuralForgeError
from neural_engine.progress import SILENT, Progress, emit, epoch_line, json_stdout
from neural_engine.settings import settings
from ray_jobs.config import TrainConfig, add_arguments, from_args
from ray_jobs.entry import module_main, stop_on_sigterm, stopped
from ray_jobs.train.setup import Prepared, prepare, ray_storage

OBJECT_STORE_BYTES = 128 * 2**20

# Ray Train V2 settings it reads from the environment (ray/train/v2/_internal/constants.py); the
# driver passes the ones it has to the controller and the workers. The controller polls the worker
# group every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S (2 s by default) and takes one report per poll, so
# a run's end was seen two polls (~4 s) after its last report; at 0.5 s it is seen within ~1 s, and
# a dead worker sooner too (the 10-minute hang timeout is a separate setting). The cost is a
# status call to each worker twice a second. A value already in the environment wins.
TRAIN_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}


def apply_train_env() -> None:
    """Put :data:`TRAIN_ENV` into this process's environment unless already set there."""
    for name, value in TRAIN_ENV.items():
        os.environ.setdefault(name, value)


def connect_ray(num_cpus: int | None = None) -> None:
    """Attach to ``RAY_ADDRESS`` (or the job's cluster), else start an embedded local Ray."""
    import ray

    if ray.is_initialized():
        return
    address = settings().ray_address
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        # One local node, which nothing preempts: Train's preemption watcher (an actor process
        # of its own, starting just as training starts, on these 2 cores) has nothing to watch.
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        # the dashboard serves the state API that Train's placement-group cleaner polls
        ray.init(
            address="local",
            num_cpus=num_cpus,
            object_store_memory=OBJECT_STORE_BYTES,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            log_to_driver=True,
        )


def fit(p: Prepared, callbacks: list | None = None):
    """Run the TorchTrainer (with Ray Train ``callbacks``); returns Ray's Result."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from ray_jobs.train.loop import train_loop

    apply_train_env()  # read when the trainer starts its controller
    c = p.config
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=p.loop_config,
        scaling_config=ray.train.ScalingConfig(num_workers=c.workers, use_gpu=c.gpu),
        run_config=ray.train.RunConfig(
            name=p.run_id,
            **ray_storage("checkpoints"),
            failure_config=ray.train.FailureConfig(max_failures=c.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=c.keep_checkpoints),
            callbacks=callbacks,
        ),
    )
    return trainer.fit()


def train(
    config: TrainConfig,
    *,
    tags: dict[str, str] | None = None,
    progress: Progress = SILENT,
    on_epoch: Callable[[dict], None] | None = None,
) -> str:
    """Train per ``config``; returns the MLflow run id (the run ends FINISHED, or FAILED and raises).
    ``tags`` go on the run besides the usual ones. Each finished epoch is a line of ``progress``
    (:func:`neural_engine.progress.epoch_line`) and a call of ``on_epoch(metrics)``, as it finishes."""
    from mlflow.tracking import MlflowClient

    from ray_jobs.train.epochs import EpochStream
    from ray_jobs.train.finish import finish

    p = prepare(config, tags=tags)
    client = MlflowClient(p.tracking_uri)
    c, epochs = p.config, p.hyper.epochs
    progress.line(
        f"training {p.graph.name} on {p.dataset.name} for {epochs} epoch{'s' * (epochs != 1)} "
        f"({c.workers} {'GPU' if c.gpu else 'CPU'} worker{'s' * (c.workers != 1)}), run {p.run_id}"
    )

    def epoch_done(metrics: dict) -> None:
        progress.line(epoch_line(int(metrics.get("epoch", 0)), epochs, metrics))
        if on_epoch is not None:
            on_epoch(metrics)

    started = time.time()
    try:
        connect_ray()
        stop_on_sigterm()  # after ray.init, which replaced the handler
        with EpochStream(epoch_done) as stream:
            result = fit(p, [stream.callback()])
        if result.error is not None:
            raise result.error
        with progress.phase("evaluating the best weights on the test split; logging the model"):
            finish(p, result, seconds=time.time() - started)
    except BaseException as err:
        client.set_terminated(p.run_id, "KILLED" if stopped(err) else "FAILED")
        if isinstance(err, NeuralForgeError) or stopped(err):
            raise
        raise NeuralForgeError(
            f"training failed: {type(err).__name__}: {err}",
            hint="see the Ray logs above; the MLflow run is marked FAILED",
        ) from err
    return p.run_id


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the finished run as JSON (run id, status, metrics, epochs); progress stays on stderr",
    )


def run(args: argparse.Namespace) -> int:
    """The ``neuralforge train`` command: progress (a line per epoch) on standard error, the run
    on standard output."""
    epochs: list[dict] = []
    with json_stdout(args.json):
        run_id = train(from_args(args), progress=Progress(json=args.json), on_epoch=epochs.append)
    if args.json:
        emit(run_report(run_id, epochs))
    else:
        print(f"MLflow run {run_id} finished ({settings().mlflow_uri})")
    return 0


def run_report(run_id: str, epochs: list[dict] | None = None) -> dict:
    """``--json`` of a finished training run: its id, status, final metrics and (when streamed)
    the metrics of every epoch."""
    from ray_jobs.tracking import client

    run = client(settings().mlflow_uri).get_run(run_id)
    out = {
        "run_id": run_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": settings().mlflow_uri,
        "metrics": dict(sorted(run.data.metrics.items())),
    }
    if epochs is not None:
        out["epochs"] = epochs
    return out


def main(argv: list[str] | None = None) -> int:
    return module_main("python -m ray_jobs.train", __doc__, add_train_arguments, run, argv)
