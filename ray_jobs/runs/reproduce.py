"""Rebuild a run from what its MLflow run recorded, and train it again.

    neuralforge reproduce RUN_ID

A run's ``setup/`` holds the graph (``graph.json``), the configuration with the dataset pinned
to its version and content fingerprint (``config.json``) and the augmentation pipeline; the
hyperparameters and seeds follow from them exactly as they did the first time
(``ray_jobs.config.resolve``). The new run is tagged ``neuralforge.reproduced_from``; on the same
machine with one CPU worker its first epoch's training loss equals the original's. A sweep's
parent run stands for its best trial (:mod:`ray_jobs.runs.load`).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from neural_engine.progress import SILENT, Progress, emit, json_stdout
from ray_jobs.entry import module_main
from ray_jobs.runs.load import RunSource, load_run
from ray_jobs.train import run_report, train

SOURCE_TAG = "neuralforge.reproduced_from"


def reproduce(run_id: str, progress: Progress = SILENT, on_epoch=None) -> tuple[str, RunSource]:
    """Train the run again as a new run; returns (new run id, the source). ``progress`` and
    ``on_epoch``: as :func:`ray_jobs.train.train`'s (a line and a call per finished epoch)."""

    source = load_run(run_id)
    name = source.run.info.run_name or source.run_id
    config = replace(source.config, run_name=f"{name}-reproduced", experiment=_experiment(source))
    tags = {SOURCE_TAG: source.run_id, "neuralforge.kind": "reproduction"}
    return train(config, tags=tags, progress=progress, on_epoch=on_epoch), source


def _experiment(source: RunSource) -> str:
    from mlflow.tracking import MlflowClient

    return MlflowClient(source.tracking_uri).get_experiment(source.run.info.experiment_id).name


def first_losses(tracking_uri: str, *run_ids: str) -> list[float | None]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    out = []
    for rid in run_ids:
        history = [m for m in client.get_metric_history(rid, "train_loss") if m.step == 0]
        out.append(history[0].value if history else None)
    return out


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", help="the MLflow run to train again (a sweep: its best trial)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the new run as JSON (its id, the source, status, metrics, first-epoch losses)",
    )


def run(args: argparse.Namespace) -> int:
    epochs: list[dict] = []
    with json_stdout(args.json):
        new_id, source = reproduce(args.run_id, Progress(json=args.json), epochs.append)
    before, after = first_losses(source.tracking_uri, source.run_id, new_id)
    if args.json:
        emit(
            {
                **run_report(new_id, epochs),
                "reproduced_from": source.run_id,
                "first_train_loss": {"original": before, "reproduction": after, "equal": before == after},
            }
        )
        return 0
    print(f"MLflow run {new_id} finished: a reproduction of {source.run_id}")
    if before is not None and after is not None:
        same = "equal" if before == after else f"differs by {abs(after - before):.3g}"
        print(f"first-epoch train_loss: original {before:.6f}, reproduction {after:.6f} ({same})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return module_main("python -m ray_jobs.runs.reproduce", __doc__, add_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
