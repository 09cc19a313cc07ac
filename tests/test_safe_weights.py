"""Weights and checkpoints are read without running code (issue 14, "Safe weights").

A pickle may call any function while it loads. Each place a run reads a file from the store gets
a planted one whose unpickling would create a marker folder: resuming from a Ray Train checkpoint,
the best weights after training, a run's ``checkpoints/best.pt`` (``evaluate``, ``export``) and
``export --checkpoint``. Each must refuse it with a clear error and leave no marker; real
checkpoints still round-trip.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from neural_engine.build import build
from neural_engine.checkpoints import load_checkpoint
from neural_engine.errors import CheckpointError
from ray_jobs.cli import main
from ray_jobs.train.loop import CHECKPOINT, Session, _report, _restore
from tests.digits_model import digits_graph

REFUSED = "must hold only tensors and plain data"
FORMATS = ("torch.save", "pickle")  # torch's zip format, and a bare (legacy) pickle


class Planted:
    """Unpickling this calls ``os.mkdir(marker)``: code a planted checkpoint runs in whoever loads it."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def plant(path: Path, marker: Path, fmt: str) -> Path:
    """A file shaped like a training checkpoint, with the payload among its values."""
    payload = {"model": {}, "best_weights": None, "epoch": Planted(marker)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    return path


def ray_checkpoint(directory: Path):
    from ray.train import Checkpoint

    return Checkpoint.from_directory(str(directory))


def training_objects(graph):
    from neural_engine.objectives import make_scheduler

    model = build(graph, logits=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler, _ = make_scheduler(None, optimizer, epochs=4, steps_per_epoch=1, warmup_epochs=1)
    return model, optimizer, scheduler


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "nf-home"
    for var in ("MLFLOW_TRACKING_URI", "NEURALFORGE_STORAGE", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NEURALFORGE_HOME", str(home))
    return home


def logged_run(home: Path, best: Path) -> str:
    """A finished run as ``neuralforge train`` leaves it, with ``best`` as its checkpoints/best.pt."""
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import experiment_id

    uri = f"sqlite:///{home}/mlflow.db"
    client = MlflowClient(uri)
    run_id = client.create_run(experiment_id(uri, "neuralforge", str(home / "mlartifacts"))).info.run_id
    with tempfile.TemporaryDirectory() as d:
        Path(d, "graph.json").write_text(json.dumps(digits_graph().to_json()))
        Path(d, "best.pt").write_bytes(best.read_bytes())
        client.log_artifact(run_id, str(Path(d, "graph.json")), "setup")
        client.log_artifact(run_id, str(Path(d, "best.pt")), "checkpoints")
    for key, value in {
        "dataset": "digits",
        "train.epochs": "1",
        "train.batch_size": "32",
        "train.seed": "0",
    }.items():
        client.log_param(run_id, key, value)
    client.set_terminated(run_id, "FINISHED")
    return run_id


# -- planted files are refused, and run nothing --------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_loader_refuses_a_pickle_that_would_run_code(tmp_path, fmt):
    marker = tmp_path / "marker"
    path = plant(tmp_path / "best.pt", marker, fmt)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, what="the weights")
    message = str(info.value)
    assert message.startswith(f"the weights {REFUSED}") and str(path) in message
    assert "refused" in message and "could run code" in message
    assert "state_dict" in info.value.hint
    assert not marker.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_resuming_refuses_a_planted_ray_train_checkpoint(tmp_path, fmt):
    marker = tmp_path / "marker"
    plant(tmp_path / "checkpoint_000003" / CHECKPOINT, marker, fmt)
    with pytest.raises(CheckpointError, match=f"the Ray Train checkpoint to resume from {REFUSED}"):
        _restore(ray_checkpoint(tmp_path / "checkpoint_000003"), *training_objects(digits_graph()))
    assert not marker.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_best_weights_after_training_refuse_a_planted_checkpoint(tmp_path, fmt):
    from ray_jobs.train.finish import best_model

    marker = tmp_path / "marker"
    plant(tmp_path / "checkpoint_000005" / CHECKPOINT, marker, fmt)
    with pytest.raises(CheckpointError, match=f"the last Ray Train checkpoint \\(best weights\\) {REFUSED}"):
        best_model(SimpleNamespace(graph=digits_graph()), ray_checkpoint(tmp_path / "checkpoint_000005"))
    assert not marker.exists()


@pytest.mark.parametrize("command", [["evaluate"], ["export", "--no-serving"]])
def test_evaluate_and_export_of_a_run_refuse_its_planted_best_weights(home, tmp_path, capsys, command):
    marker = tmp_path / "marker"
    run_id = logged_run(home, plant(tmp_path / "planted.pt", marker, "torch.save"))
    assert main([command[0], run_id, *command[1:]]) == 1
    err = capsys.readouterr().err
    assert f"error: run {run_id}'s best weights {REFUSED}" in err and "refused" in err
    assert "hint:" in err and "Traceback" not in err and "UnpicklingError" not in err
    assert not marker.exists()


def test_export_refuses_a_planted_checkpoint_file(tmp_path, capsys):
    marker = tmp_path / "marker"
    path = plant(tmp_path / "state.pt", marker, "torch.save")
    assert (
        main(["export", "--template", "mnist_cnn", "--input-shape", "8,8,1", "--checkpoint", str(path)]) == 1
    )
    err = capsys.readouterr().err
    assert f"error: --checkpoint {REFUSED}" in err and "Traceback" not in err
    assert not marker.exists()


def test_an_unreadable_file_says_so(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(
        CheckpointError, match="must be a readable file written by torch.save; received .*empty.pt"
    ):
        load_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="received .*missing.pt \\(FileNotFoundError"):
        load_checkpoint(tmp_path / "missing.pt")


# -- real checkpoints round-trip -----------------------------------------------------------------


def test_the_loops_checkpoint_resumes_model_optimizer_scheduler_and_counters(tmp_path):
    graph = digits_graph()
    model, optimizer, scheduler = training_objects(graph)
    torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 8, 8)), torch.tensor([0, 1, 2, 3])).backward()
    optimizer.step()  # Adam's state: step counts and moments
    scheduler.step()
    state = {
        "epoch": 1,
        "best": 0.5,
        "best_epoch": 0,
        "stale": 0,
        "history": [{"train_loss": 1.0, "val_loss": 0.5, "lr": 0.01}],
        "best_weights": {k: v.clone() for k, v in model.state_dict().items()},
    }
    kept = tmp_path / "kept"

    def report(metrics, checkpoint=None):
        checkpoint.to_directory(str(kept))

    from ray.train import Checkpoint

    _report(
        Session(0, 1, torch.device("cpu"), None, None, report, None, Checkpoint.from_directory),
        state["history"][0],
        state,
        model,
        optimizer,
        scheduler,
    )
    again = training_objects(graph)
    restored = _restore(ray_checkpoint(kept), *again)
    assert restored["history"] == state["history"] and restored["epoch"] == 1 and restored["best"] == 0.5
    for name, value in model.state_dict().items():
        assert torch.equal(again[0].state_dict()[name], value), name
    assert again[1].state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    assert again[2].state_dict() == scheduler.state_dict()

    from ray_jobs.train.finish import best_model

    best, _ = best_model(SimpleNamespace(graph=graph), ray_checkpoint(kept))
    assert all(torch.equal(best.state_dict()[k], v) for k, v in state["best_weights"].items())


def test_a_runs_best_weights_load_for_evaluate_and_export(home, tmp_path):
    from ray_jobs.runs.load import RunSource
    from ray_jobs.serve.export import run_source

    weights = build(digits_graph(), logits=True).state_dict()
    torch.save(weights, tmp_path / "best.pt")
    run_id = logged_run(home, tmp_path / "best.pt")
    source = RunSource(
        run_id,
        None,
        None,
        digits_graph(),
        None,
        None,
        None,
        f"sqlite:///{home}/mlflow.db",
        tmp_path / "download",
    )
    model = source.model()
    _, state, _, _ = run_source(run_id, tmp_path / "export")
    for name, value in weights.items():
        assert torch.equal(model.state_dict()[name], value) and torch.equal(state[name], value), name
