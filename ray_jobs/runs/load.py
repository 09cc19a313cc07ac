"""A recorded run, loaded back: its configuration (dataset pinned to the version and content
fingerprint it trained on), graph, dataset, hyperparameters and best weights, from the artifacts
under its MLflow run's ``setup/``. Shared by ``neuralforge evaluate``, ``reproduce`` and ``export``.
A sweep's parent run stands for its best trial (``neuralforge.best_run``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from neural_engine.checkpoints import load_checkpoint
from neural_engine.data import load
from neural_engine.errors import DatasetError, NeuralForgeError, ValidationError
from neural_engine.ir import Graph
from neural_engine.settings import settings
from ray_jobs.config import Hyper, TrainConfig, resolve
from ray_jobs.tracking import client as tracking_client
from ray_jobs.train.setup import DEFAULT_LOSS, loop_config

BEST_RUN_TAG = "neuralforge.best_run"


@dataclass(frozen=True)
class RunSource:
    run_id: str
    run: object  # mlflow.entities.Run
    config: TrainConfig  # network from the downloaded graph.json, dataset pinned
    graph: Graph
    dataset: object  # neural_engine.data.Dataset
    hyper: Hyper
    loop_config: dict
    tracking_uri: str
    directory: Path

    def model(self):
        """The run's best weights (``checkpoints/best.pt``) in its network."""
        from mlflow.tracking import MlflowClient

        from neural_engine.build import build

        client = MlflowClient(self.tracking_uri)
        saved = {a.path for a in client.list_artifacts(self.run_id, "checkpoints")}
        if "checkpoints/best.pt" not in saved:
            raise NeuralForgeError(
                f"run {self.run_id} must have its best weights (checkpoints/best.pt); it has none",
                hint="only finished training runs and a sweep's best trial keep them",
            )
        path = client.download_artifacts(self.run_id, "checkpoints/best.pt", str(self.directory))
        model = build(self.graph, logits=True)
        model.load_state_dict(load_checkpoint(path, what=f"run {self.run_id}'s best weights"))
        return model.eval()


def load_run(run_id: str) -> RunSource:
    """The configuration, graph and dataset of a run, from its artifacts (downloaded under
    ``<home>/runs/<run id>/``)."""
    from mlflow.exceptions import MlflowException

    quiet_downloads()
    uri = settings().mlflow_uri
    client = tracking_client(uri)
    try:
        run = client.get_run(run_id)
        if BEST_RUN_TAG in run.data.tags:
            run_id = run.data.tags[BEST_RUN_TAG]
            run = client.get_run(run_id)
    except MlflowException as err:
        raise ValidationError(
            f"RUN_ID must be an MLflow run of {uri}; received {run_id!r}", hint="see `neuralforge runs list`"
        ) from err
    directory = settings().home / "runs" / run_id
    directory.mkdir(parents=True, exist_ok=True)
    setup = {a.path.split("/")[-1] for a in client.list_artifacts(run_id, "setup")}
    if "graph.json" not in setup:
        raise ValidationError(
            f"run {run_id} must hold setup/graph.json; it has {sorted(setup) or 'no setup files'}",
            hint="only runs of `neuralforge train` or `tune` can be rebuilt",
        )
    local = Path(client.download_artifacts(run_id, "setup", str(directory)))
    recorded = json.loads((local / "config.json").read_text()) if "config.json" in setup else None
    config = _config(recorded, run.data.params, local)
    dataset = load(config.dataset)
    if recorded and dataset.fingerprint() != recorded["dataset_fingerprint"]:
        raise DatasetError(
            f"dataset {config.dataset} must hold the data run {run_id} trained on "
            f"(fingerprint {recorded['dataset_fingerprint'][:16]}); it now holds "
            f"{dataset.fingerprint()[:16]}",
            hint="register the original data again, or pin the version it had",
        )
    graph = Graph.from_json(json.loads((local / "graph.json").read_text()))
    hyper = resolve(config, graph, DEFAULT_LOSS[dataset.task])
    return RunSource(
        run_id,
        run,
        config,
        graph,
        dataset,
        hyper,
        loop_config(config, graph, hyper, dataset, run_id),
        uri,
        directory,
    )


def quiet_downloads() -> None:
    """No MLflow progress bars in the commands' output."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _config(recorded: dict | None, params: dict, local: Path) -> TrainConfig:
    """The run's TrainConfig with the network read from ``graph.json``."""
    source = {"dsl": None, "network": None, "template": None, "graph": str(local / "graph.json")}
    if recorded is None:  # a run from before config.json: what its parameters say
        split = params.get("split", "")
        return TrainConfig(
            **source,
            dataset=params["dataset"],
            split=split if split.count(",") == 2 else None,
            epochs=int(params["train.epochs"]),
            batch_size=int(params["train.batch_size"]),
            seed=int(params["train.seed"]),
            workers=int(params.get("workers", 1)),
        )
    names = {f.name for f in fields(TrainConfig)}
    config = {k: v for k, v in recorded.items() if k in names}
    augment = str(local / "augmentation.json") if config.get("augment") else None
    return TrainConfig(**{**config, **source, "dataset": recorded["dataset_pinned"], "augment": augment})
