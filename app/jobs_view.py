"""What the Train page shows, as pure functions: which Ray jobs are NeuralForge's, how far a run
got, its curves as a long table, and the form's defaults from the network's DSL. No Streamlit.

>>> progress({"train.epochs": "5"}, {"train_loss": [(0, 1.2), (1, 0.8)]})
(2, 5)
>>> progress({}, {}, planned=10)
(0, 10)
>>> curve_rows({"train_loss": [(0, 1.2), (1, 0.8)], "val_loss": [(0, 1.3)]})
[{'epoch': 1, 'metric': 'train_loss', 'value': 1.2}, {'epoch': 2, 'metric': 'train_loss', 'value': 0.8}, {'epoch': 1, 'metric': 'val_loss', 'value': 1.3}]
"""

from __future__ import annotations

from dataclasses import dataclass

CURVES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
KINDS = ("train", "tune", "reproduce")
MODULES = {"ray_jobs.train": "train", "ray_jobs.tune": "tune", "ray_jobs.runs.reproduce": "reproduce"}


@dataclass(frozen=True)
class Defaults:
    """The form's starting values: the network's ``train``/``optimizer`` sections, else training's."""

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    seed: int


def kind_of(job) -> str:
    """``train``, ``tune`` or ``reproduce`` for NeuralForge jobs (by metadata, else entry point); else ``""``."""
    if job.kind in KINDS:
        return job.kind
    return next((k for module, k in MODULES.items() if module in job.entrypoint), "")


def neuralforge_jobs(jobs: list) -> list:
    """The cluster's NeuralForge jobs, newest first."""
    return sorted((j for j in jobs if kind_of(j)), key=lambda j: j.start_time or 0, reverse=True)


def progress(
    params: dict, history: dict[str, list[tuple[int, float]]], planned: int | None = None
) -> tuple[int, int]:
    """(epochs finished, epochs planned) of a run: planned from the run's ``train.epochs`` (what
    training resolved), else from the job (``planned``); a stopped run keeps its plan."""
    done = len(history.get("train_loss", []))
    total = int(float(params.get("train.epochs") or planned or 0))
    return done, max(total, done)


def curve_rows(history: dict[str, list[tuple[int, float]]]) -> list[dict]:
    """Long rows (epoch from 1, metric, value) for a line chart, one series per metric."""
    return [
        {"epoch": step + 1, "metric": name, "value": value}
        for name in history
        for step, value in history[name]
    ]


def defaults(graph, task: str = "classification") -> Defaults:
    """The hyperparameters training would use for ``graph`` with no flags (search values: their default)."""
    from ray_jobs.config import TrainConfig, resolve
    from ray_jobs.train.setup import DEFAULT_LOSS

    hyper = resolve(TrainConfig(template="placeholder"), graph, DEFAULT_LOSS.get(task, "mse"))
    return Defaults(
        epochs=hyper.epochs,
        batch_size=hyper.batch_size,
        learning_rate=float(hyper.optimizer_kwargs.get("lr", 1e-3)),
        optimizer=hyper.optimizer,
        seed=hyper.seed,
    )
