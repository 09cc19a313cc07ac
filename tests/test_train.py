"""Training on Ray: configuration checks (fast), and real Ray Train + MLflow runs (slow): a
finished run with everything needed to reproduce it, and recovery from a killed worker."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from neural_engine.errors import ValidationError
from neural_engine.templates import template
from ray_jobs.config import TrainConfig, resolve


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"learning_rate": -1}, "--learning-rate must be a positive number; received -1"),
        ({"learning_rate": 0}, "--learning-rate must be a positive number; received 0"),
        ({"batch_size": 0}, "--batch-size must be a positive integer; received 0"),
        ({"epochs": 0}, "--epochs must be a positive integer; received 0"),
        ({"workers": 0}, "--workers must be a positive integer"),
        ({"loss": "hinge"}, "--loss: loss must be one of"),
        ({"optimizer": "Adamm"}, "--optimizer: optimizer must be one of"),
        ({"split": "80,30,10"}, "--split must be three percentages adding to 100"),
        ({"gradient_clip": -2.0}, "--gradient-clip must be a positive number"),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(kwargs, message):
    with pytest.raises(ValidationError) as info:
        TrainConfig(template="mnist_cnn", **kwargs)
    assert message in str(info.value)


def test_exactly_one_network_source():
    with pytest.raises(
        ValidationError, match="exactly one of --dsl, --graph, --template or --project; received none"
    ):
        TrainConfig()
    with pytest.raises(ValidationError, match="received --dsl, --template"):
        TrainConfig(dsl="a.neural", template="mnist_cnn")


def test_flags_override_the_dsl_and_search_values_give_their_default():
    from neural_engine.dsl import parse

    g = parse("""network N { input: (8, 8, 1) layers: Flatten() Output(10, "softmax")
      optimizer: SGD(learning_rate=HPO(log_range(0.001, 0.1)), momentum=0.9)
      train { epochs: 7, batch_size: HPO(choice(16, 32)), gradient_clip: 1.0 } }""")
    h = resolve(TrainConfig(template="x", epochs=3), g, "mse")
    assert (h.epochs, h.batch_size, h.gradient_clip) == (3, 16, 1.0)
    assert h.optimizer == "SGD" and h.optimizer_kwargs == {"lr": 0.001, "momentum": 0.9}
    h = resolve(TrainConfig(template="x", learning_rate=0.5, optimizer="AdamW"), g, "mse")
    assert h.optimizer == "AdamW" and h.optimizer_kwargs["lr"] == 0.5 and h.epochs == 7


def test_smoke_test_runs_one_epoch():
    assert resolve(TrainConfig(template="x", smoke_test=True), template("mnist_cnn"), "mse").epochs == 1


def test_gpu_where_none_exists_and_oversized_batches_are_refused():
    import torch

    from neural_engine.shapes import propagate
    from ray_jobs.train.setup import check_resources

    analysis = propagate(template("resnet18"))
    hyper = resolve(TrainConfig(template="resnet18"), template("resnet18"), "mse")
    if not torch.cuda.is_available():
        with pytest.raises(ValidationError, match="--gpu needs a GPU"):
            check_resources(TrainConfig(template="resnet18", gpu=True), analysis, hyper)
    huge = resolve(TrainConfig(template="resnet18", batch_size=1_000_000), template("resnet18"), "mse")
    with pytest.raises(ValidationError, match="--batch-size 1000000 needs about .* GiB to train"):
        check_resources(TrainConfig(template="resnet18"), analysis, huge)


def test_network_must_fit_the_dataset():
    from neural_engine.data import load
    from neural_engine.shapes import propagate
    from ray_jobs.train.setup import check_fit

    g = template("mnist_cnn")  # 28x28 input, digits are 8x8
    with pytest.raises(ValidationError, match=r"input image \(28, 28, 1\) must match dataset digits"):
        check_fit(g, propagate(g), load("digits"))


def test_metric_logger_batches_and_skips_what_is_stored(tmp_path):
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import MetricLogger, experiment_id

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run = client.create_run(experiment_id(uri, "t", str(tmp_path / "art")))
    logger = MetricLogger(uri, run.info.run_id)
    for step in range(3):
        logger.log({"val_loss": 1.0 / (step + 1), "lr": 0.1}, step=step)
    logger.close()
    again = MetricLogger(uri, run.info.run_id, skip_logged=("val_loss",))
    for step in range(5):  # a resumed worker re-sends epochs 0-2, then goes on
        again.log({"val_loss": 1.0 / (step + 1)}, step=step)
    again.close()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [0, 1, 2, 3, 4]
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.artifact_location == (tmp_path / "art" / "t").as_uri()


# ---- real Ray Train + MLflow, each run in its own process (as `neuralforge train` is) ------------

RAY_VARS = ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def start_training(home, *flags, stderr=subprocess.STDOUT):
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARS}
    env["NEURALFORGE_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "ray_jobs.train", "--template", "mnist_cnn", "--dataset", "digits", *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)  train_loss (\S+)  val_loss (\S+)  val_accuracy (\S+)  ")


def streamed_json_run(process, timeout=300) -> tuple[dict, list[tuple[float, re.Match]], str]:
    """(the --json document on stdout, each epoch line of stderr with the moment it arrived, stderr)."""
    lines, epochs = [], []
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        for line in process.stderr:  # as the process writes it
            lines.append(line)
            if m := EPOCH_LINE.match(line):
                epochs.append((time.monotonic(), m))
        out = process.stdout.read()
    finally:
        timer.cancel()
    err = "".join(lines)
    assert process.wait() == 0, err[-4000:]
    return json.loads(out), epochs, err


def finished_run(home, process, timeout=300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-4000:]
    return re.search(r"MLflow run (\w+) finished", out).group(1)


def _client(home):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{home}/mlflow.db")


@pytest.mark.slow
def test_training_run_records_everything_needed_to_reproduce_it(tmp_path):
    import mlflow
    import torch

    process = start_training(tmp_path, "--epochs", "6", "--run-name", "e2e", "--json", stderr=subprocess.PIPE)
    report, epochs, err = streamed_json_run(process)
    run_id = report["run_id"]
    client = _client(tmp_path)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" == report["status"] and report["run_name"] == "e2e"
    m = run.data.metrics
    assert m["test_accuracy"] >= 0.9 and m["cpu_hours"] > 0
    assert report["metrics"] == m and report["tracking_uri"] == f"sqlite:///{tmp_path}/mlflow.db"
    history = client.get_metric_history(run_id, "val_loss")
    steps = [h.step for h in history]
    assert steps == list(range(6))
    # --json: stdout is the document alone; a line per epoch on stderr, in order, as each ended
    assert [e["epoch"] for e in report["epochs"]] == list(range(6))
    assert [e["val_loss"] for e in report["epochs"]] == [h.value for h in history]
    assert [(int(e.group(1)), int(e.group(2))) for _, e in epochs] == [(i, 6) for i in range(1, 7)]
    assert [e.group(4) for _, e in epochs] == [f"{h.value:.4f}" for h in history]
    assert err.index("epoch 6/6") < err.index("evaluating the best weights")
    arrived = epochs[-1][0] - epochs[0][0]
    took = sum(e["epoch_seconds"] for e in report["epochs"][1:])
    assert arrived > 0.5 * took, (arrived, took)  # streamed while training, not all at the end
    for key in (
        "train_loss",
        "val_accuracy",
        "lr",
        "samples_per_s",
        "epoch_seconds",
        "train_seconds",
        "data_wait_fraction",
    ):
        assert len(client.get_metric_history(run_id, key)) == 6, key
    p = run.data.params
    assert p["train.epochs"] == "6" and p["optimizer.lr"] == "0.003" and p["dataset"] == "digits"
    assert run.data.tags["neuralforge.template"] == "mnist_cnn" and run.data.tags["neuralforge.user"]
    setup = {a.path for a in client.list_artifacts(run_id, "setup")}
    assert {
        f"setup/{f}"
        for f in ("graph.json", "network.neural", "model.py", "summary.txt", "environment.json", "seeds.json")
    } <= setup
    artifacts = client.get_experiment(run.info.experiment_id).artifact_location
    assert artifacts.startswith(tmp_path.as_uri())  # never a Ray temp dir
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    model = mlflow.pytorch.load_model(f"runs:/{run_id}/model")
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def _epochs_logged(db) -> int:
    """val_loss rows so far, read-only (an MLflow client here would race the run's schema set-up)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("SELECT COUNT(*) FROM metrics WHERE key = 'val_loss'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _train_worker_pids() -> list[int]:
    import psutil

    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any("RayTrainWorker" in part for part in (p.info["cmdline"] or []))
    ]


@pytest.mark.slow
def test_a_killed_worker_resumes_from_the_last_checkpoint(tmp_path):
    epochs, killed = 8, []
    process = start_training(tmp_path, "--epochs", str(epochs), "--learning-rate", "0.001")
    deadline = time.time() + 240
    while time.time() < deadline and not killed and process.poll() is None:
        if _epochs_logged(tmp_path / "mlflow.db") >= 2:
            for pid in _train_worker_pids():
                os.kill(pid, signal.SIGKILL)  # the worker dies mid-training
                killed.append(pid)
        time.sleep(0.2)
    run_id = finished_run(tmp_path, process)
    assert killed, "the worker was never killed"
    client = _client(tmp_path)
    assert client.get_run(run_id).info.status == "FINISHED"
    steps = [h.step for h in client.get_metric_history(run_id, "val_loss")]
    assert steps == list(range(epochs))  # every epoch exactly once, across the restart


def test_an_experiment_created_meanwhile_by_another_process_is_used(tmp_path, monkeypatch):
    """Two jobs' first runs create the experiment at the same moment: the loser uses the winner's."""
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import experiment_id

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    create = MlflowClient.create_experiment

    def other_process_first(self, name, artifact_location=None, **kw):
        winner = create(MlflowClient(uri), name, artifact_location=artifact_location)
        other_process_first.winner = winner
        return create(self, name, artifact_location=artifact_location, **kw)  # "already exists"

    monkeypatch.setattr(MlflowClient, "create_experiment", other_process_first)
    assert experiment_id(uri, "shared", str(tmp_path / "art")) == other_process_first.winner


def test_processes_creating_a_new_sqlite_store_at_once_do_not_collide(tmp_path):
    """A job's driver and the API watching it both open a fresh home's store: MLflow migrates a new
    SQLite database on first use, and two migrations at once fail ("duplicate column name")."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    code = (
        "import sys\nfrom ray_jobs.tracking import client\n"
        "print(len(client(sys.argv[1]).search_experiments()))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(p.wait(240), *p.communicate()) for p in procs]
    assert all(rc == 0 and out.strip() == "1" for rc, out, _ in results), [err[-1500:] for *_, err in results]
