"""After training: evaluate the best weights on the test split and log the model, the best
checkpoint, usage and the final status to the MLflow run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from neural_engine.errors import NeuralForgeError
from ray_jobs.loop import CHECKPOINT, _run
from ray_jobs.run_setup import Prepared, user


def best_model(p: Prepared, checkpoint):
    """The network with the best validation weights from the last checkpoint."""
    from neural_engine.build import build
    if checkpoint is None:
        raise NeuralForgeError("training reported no checkpoint", hint="see the Ray logs for the failure")
    with checkpoint.as_directory() as d:
        state = torch.load(Path(d) / CHECKPOINT, map_location="cpu", weights_only=False)
    model = build(p.graph, logits=True)
    model.load_state_dict(state["best_weights"] or state["model"])
    return model.eval(), state


def evaluate(p: Prepared, model) -> dict[str, float]:
    from neural_engine.data import make_loaders
    from neural_engine.objectives import make_loss
    h = p.hyper
    loaders = make_loaders(p.config.dataset, p.loop_config["split"], h.batch_size, p.config.augment, seed=h.seed)
    classify = p.dataset.task == "classification"
    loss, acc, _ = _run(model, loaders["test"], make_loss(h.loss), torch.device("cpu"), None, classify,
                        3 if p.config.smoke_test else None)
    return {"test_loss": loss, **({"test_accuracy": acc} if classify else {})}


def finish(p: Prepared, result, *, seconds: float) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from ray_jobs.usage import Usage, record_usage
    client = MlflowClient(p.tracking_uri)
    model, state = best_model(p, result.checkpoint)
    metrics = evaluate(p, model)
    metrics["best_epoch"] = state["best_epoch"]
    for key, value in metrics.items():
        client.log_metric(p.run_id, key, value)
    record_usage(p.run_id, Usage(user(), "gpu" if p.config.gpu else "cpu", p.config.workers, 1, seconds),
                 client=client)
    with tempfile.TemporaryDirectory() as d:
        torch.save(model.state_dict(), Path(d, "best.pt"))
        client.log_artifact(p.run_id, str(Path(d, "best.pt")), "checkpoints")
    mlflow.set_tracking_uri(p.tracking_uri)
    with mlflow.start_run(run_id=p.run_id):
        mlflow.pytorch.log_model(model, name="model", serialization_format="pickle",
                                 pip_requirements=_requirements())
    client.set_terminated(p.run_id, "FINISHED")


def _requirements() -> list[str]:
    from importlib import metadata
    reqs = []
    for name in ("torch", "torchvision", "numpy", "lark"):
        try:
            reqs.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            pass
    return reqs + ["neuralforge"]
