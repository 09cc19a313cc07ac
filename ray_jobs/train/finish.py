"""After training: evaluate the best weights on the test split (``ray_jobs.runs.evaluate``: metrics,
tables, figures) and log the model, the best checkpoint, usage and the final status to the run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from neural_engine.checkpoints import load_checkpoint
from neural_engine.data import make_loaders
from neural_engine.errors import NeuralForgeError
from neural_engine.objectives import make_loss
from ray_jobs.runs import evaluate as ev
from ray_jobs.runs.usage import Usage, record_usage
from ray_jobs.train.loop import CHECKPOINT
from ray_jobs.train.setup import Prepared, user


def best_model(p: Prepared, checkpoint):
    """The network with the best validation weights from the last checkpoint."""
    from neural_engine.build import build

    if checkpoint is None:
        raise NeuralForgeError("training reported no checkpoint", hint="see the Ray logs for the failure")
    with checkpoint.as_directory() as d:
        state = load_checkpoint(Path(d) / CHECKPOINT, what="the last Ray Train checkpoint (best weights)")
    model = build(p.graph, logits=True)
    model.load_state_dict(state["best_weights"] or state["model"])
    return model.eval(), state


def evaluate(p: Prepared, model):
    """The full evaluation of ``model`` on the test split (``ray_jobs.runs.evaluate.Evaluation``)."""
    from ray_jobs.runs.evaluate import evaluate_model

    h = p.hyper
    loaders = make_loaders(
        p.config.dataset, p.loop_config["split"], h.batch_size, p.config.pipeline, seed=h.seed
    )
    return evaluate_model(
        model,
        loaders["test"],
        task=p.dataset.task,
        classes=p.dataset.classes,
        loss_fn=make_loss(h.loss),
        max_batches=3 if p.config.smoke_test else None,
    )


def finish(p: Prepared, result, *, seconds: float, usage: bool = True) -> None:
    """Evaluate and log the best weights, the model and (``usage``) the device-hours; end the run."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(p.tracking_uri)
    model, state = best_model(p, result.checkpoint)
    ev.log(client, p.run_id, evaluate(p, model))
    client.log_metric(p.run_id, "best_epoch", state["best_epoch"])
    if usage:
        record_usage(
            p.run_id,
            Usage(user(), "gpu" if p.config.gpu else "cpu", p.config.workers, 1, seconds),
            client=client,
        )
    with tempfile.TemporaryDirectory() as d:
        torch.save(model.state_dict(), Path(d, "best.pt"))
        client.log_artifact(p.run_id, str(Path(d, "best.pt")), "checkpoints")
    mlflow.set_tracking_uri(p.tracking_uri)
    with mlflow.start_run(run_id=p.run_id):
        mlflow.pytorch.log_model(
            model, name="model", serialization_format="pickle", pip_requirements=_requirements()
        )
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
