"""MLflow records of a sweep: a parent run, a child run per trial, the best trial and the table.

Everything is written by the driver — trials only report to Tune, and :class:`SweepLogger` (a
Tune callback) turns each report into MLflow calls one at a time — so no two processes write to
the tracking store at once (SQLite's "database is locked"). A child run holds the trial's sampled
values (params ``hpo.<path>``, plus every hyperparameter as a training run records them), its
per-epoch metrics, its resolved network and configuration under ``setup/`` (so ``neuralforge
reproduce`` and ``runs compare`` work on trials), and its outcome: tag ``neuralforge.trial_status``
``completed``, ``early_stopped`` (ASHA, or the loop's own patience) or ``error`` (with the error
in ``neuralforge.error``). Children carry ``mlflow.parentRunId``.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

from ray import tune

from neural_engine.dsl import print_dsl
from neural_engine.errors import NeuralForgeError
from neural_engine.ir import HPO, Graph
from neural_engine.progress import SILENT, Progress
from neural_engine.search import sampled, substitute
from neural_engine.shapes import propagate
from ray_jobs.config import resolve
from ray_jobs.entry import stopped
from ray_jobs.runs.usage import Usage, record_usage
from ray_jobs.tracking import client as tracking_client
from ray_jobs.train.setup import (
    DEFAULT_LOSS,
    Prepared,
    log_files,
    loop_config,
    prepare,
    run_params,
    setup_files,
    user,
)

STATUS_TAG = "neuralforge.trial_status"
BEST_NETWORK = "sweep/best.neural"  # the winning network as DSL, on the sweep's parent run
METRIC_KEYS = (
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "lr",
    "epoch_seconds",
    "samples_per_s",
    "gpu_memory_gb",
    "gpu_utilization",
)


@dataclass(frozen=True)
class SweepResult:
    parent_run_id: str
    best_run_id: str
    best_values: dict
    best_path: str
    trials: list
    metrics: dict = field(default_factory=dict)  # the parent run's: best_<metric>, trial counts, test_*


@dataclass
class Parent:
    prepared: Prepared
    client: object
    dataset_pinned: str

    @property
    def run_id(self) -> str:
        return self.prepared.run_id

    def fail(self, err: BaseException) -> None:
        self.client.set_terminated(self.run_id, "KILLED" if stopped(err) else "FAILED")


def open_sweep(config, s, space: dict[str, HPO], fixed: dict, method: str, samples: int) -> Parent:
    """The parent run: the network as written (``setup/``) and the sweep's settings."""
    from mlflow.entities import Param

    p = prepare(config, tags={"neuralforge.kind": "sweep"})
    client = tracking_client(p.tracking_uri)
    params = {
        "sweep.method": method,
        "sweep.num_samples": samples,
        "sweep.metric": s.metric,
        "sweep.mode": s.goal,
        "sweep.workers_per_trial": s.workers_per_trial,
        **{f"search.{k}": json.dumps(h.to_json()) for k, h in space.items()},
        **{f"fixed.{k}": v for k, v in fixed.items()},
    }
    client.log_batch(p.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    d = p.dataset
    return Parent(p, client, f"{d.name}@{d.version}" if d.version else config.dataset)


class SweepTracker:
    """Child runs and the table of trials; every call comes from the driver."""

    def __init__(
        self, parent: Parent, graph: Graph, space: dict[str, HPO], fixed: dict, metric: str, goal: str
    ):

        self.parent, self.graph, self.space, self.fixed = parent, graph, space, fixed
        self.metric, self.goal = metric, goal
        self.client, self.sampled = parent.client, sampled
        self.rows: dict[str, dict] = {}
        self.run_ids: dict[str, str] = {}
        self.experiment_id = self.client.get_run(parent.run_id).info.experiment_id

    def graph_of(self, trial_id: str) -> Graph:
        return substitute(self.graph, {**self.fixed, **self.rows[trial_id]["values"]})

    def start(self, trial_id: str, trial_config: dict) -> None:
        from mlflow.entities import Param

        p = self.parent.prepared
        values = self.sampled(self.space, trial_config)
        self.rows[trial_id] = {"trial": trial_id, "values": values, "status": "running", "epochs": 0}
        graph = self.graph_of(trial_id)
        params, dsl, planned = {}, "", None
        try:
            hyper = resolve(p.config, graph, DEFAULT_LOSS[p.dataset.task])
            planned = hyper.epochs
            analysis = propagate(graph)
            dsl = print_dsl(graph)
            params = run_params(p.config, hyper, p.dataset, analysis)
        except NeuralForgeError:
            pass  # the trial reports its own error
        self.rows[trial_id]["planned_epochs"] = planned
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{p.graph.name}-{trial_id}",
            tags={
                "mlflow.parentRunId": p.run_id,
                "neuralforge.kind": "trial",
                "neuralforge.sweep": p.run_id,
                "neuralforge.trial": trial_id,
                "neuralforge.network": graph.name,
                "neuralforge.user": user(),
                "mlflow.user": user(),
                STATUS_TAG: "running",
            },
        )
        self.run_ids[trial_id] = self.rows[trial_id]["run_id"] = run.info.run_id
        params.update({f"hpo.{k}": v for k, v in values.items()})
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        config = replace(p.config, dataset=self.parent.dataset_pinned)
        log_files(self.client, run.info.run_id, setup_files(config, graph, dsl, p.dataset))

    def result(self, trial_id: str, result: dict) -> None:
        from mlflow.entities import Metric

        step = int(result.get("training_iteration", 1)) - 1
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(result[k]), now, step) for k in METRIC_KEYS if k in result]
        self.client.log_batch(self.run_ids[trial_id], metrics=metrics, synchronous=True)
        row = self.rows[trial_id]
        row["epochs"] = step + 1
        row.update({k: float(result[k]) for k in ("val_loss", "val_accuracy", "train_loss") if k in result})
        if self.metric in result:
            key, value = f"best_{self.metric}", float(result[self.metric])
            better = min if self.goal == "min" else max
            row[key] = better(row.get(key, value), value)

    def end(self, trial_id: str, error: str | None = None) -> None:
        row = self.rows[trial_id]
        planned = row.get("planned_epochs")
        finished = planned is None or row["epochs"] >= planned
        status = "error" if error else "completed" if finished else "early_stopped"
        row["status"] = status
        tags = {STATUS_TAG: status}
        if error:
            row["error"] = error
            tags["neuralforge.error"] = error[:5000]
        for k, v in tags.items():
            self.client.set_tag(self.run_ids[trial_id], k, v)
        self.client.set_terminated(self.run_ids[trial_id], "FAILED" if error else "FINISHED")

    def table(self) -> list[dict]:
        """One row per trial: id, run, status, epochs, sampled values, last metrics, error."""
        rows = []
        for r in self.rows.values():
            row = {k: v for k, v in r.items() if k != "values"}
            row.update({f"hpo.{k}": v for k, v in r["values"].items()})
            rows.append(row)
        return rows


class SweepLogger(tune.Callback):
    """Tune's trial events → :class:`SweepTracker` (in the driver, one at a time); a ``progress``
    line per finished trial."""

    def __init__(self, tracker: SweepTracker, progress: Progress = SILENT, total: int | None = None):
        self.tracker, self.progress, self.total, self.done = tracker, progress, total, 0

    def on_trial_start(self, iteration, trials, trial, **info):
        self.tracker.start(trial.trial_id, trial.config)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.tracker.result(trial.trial_id, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.tracker.end(trial.trial_id)
        self._line(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.tracker.end(trial.trial_id, error=trial_error(trial))
        self._line(trial.trial_id)

    def _line(self, trial_id: str) -> None:
        self.done += 1
        row = self.tracker.rows[trial_id]
        self.progress.line(f"[{self.done}/{self.total or '?'} trials] {trial_line(row, self.tracker.metric)}")


def trial_line(row: dict, metric: str) -> str:
    """A finished trial in one line: its status, epochs, best value of the metric and its values.

    >>> trial_line({"trial": "a1", "status": "completed", "epochs": 4, "best_val_loss": 0.31,
    ...             "values": {"dense_1.units": 64}}, "val_loss")
    'trial a1: completed after 4 epochs, best val_loss 0.3100 (dense_1.units=64)'
    """
    if row.get("error"):
        return f"trial {row['trial']}: error: {row['error']}"
    best = row.get(f"best_{metric}")
    return (
        f"trial {row['trial']}: {row['status']} after {row['epochs']} epoch{'s' * (row['epochs'] != 1)}"
        + (f", best {metric} {best:.4f}" if best is not None else "")
        + f" ({values_text(row['values'])})"
    )


def values_text(values: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def trial_error(trial) -> str:
    """The trial's own exception as one line (``ShapeError: …``), not Ray's wrapper and traceback.
    Read from the driver's copy of the error files (the storage copy is synced later)."""

    import cloudpickle

    err = None
    path = trial.pickled_error_file
    if path and Path(path).exists():
        try:
            with open(path, "rb") as f:
                err = cloudpickle.load(f)
        except (
            OSError,
            EOFError,
            ImportError,
            AttributeError,
            TypeError,
            ValueError,
            pickle.UnpicklingError,
        ):
            err = None  # an error that does not unpickle here: the text below
    err = getattr(err, "cause", None) or err
    if err is not None:
        return f"{type(err).__name__}: {err}"
    path = trial.error_file
    text = Path(path).read_text() if path and Path(path).exists() else "unknown error"
    return text.strip().splitlines()[-1]


# ---- the end of a sweep -------------------------------------------------------------------


def finish_sweep(
    parent: Parent, tracker: SweepTracker, results, s, *, seconds: float, concurrency: int, dataset
):
    """Evaluate the best trial; give the parent the best values, metrics, ``best.neural`` and the
    table of trials; end it FINISHED."""
    from mlflow.entities import Metric, Param

    from ray_jobs.train.finish import finish

    rows = tracker.table()
    ok = [r for r in rows if r["status"] != "error" and f"best_{s.metric}" in r]
    if not ok:
        errors = sorted({r.get("error", "no result") for r in rows})
        raise NeuralForgeError(
            f"a sweep needs one trial that reports {s.metric}; all {len(rows)} failed: "
            + "; ".join(errors[:3]),
            hint="see the trials' child runs in MLflow",
        )
    best = results.get_best_result(metric=s.metric, mode=s.goal, scope="all", filter_nan_and_inf=True)
    trial_id = best.metrics["trial_id"]
    graph = tracker.graph_of(trial_id)
    p = parent.prepared
    config = replace(p.config, dataset=parent.dataset_pinned)
    hyper = resolve(config, graph, DEFAULT_LOSS[dataset.task])
    child = tracker.run_ids[trial_id]
    checkpoint = best.checkpoint
    if checkpoint is None and best.metrics.get("checkpoint_path"):
        from ray.train import Checkpoint

        checkpoint = Checkpoint(best.metrics["checkpoint_path"])
    best_p = Prepared(
        config,
        graph,
        hyper,
        dataset,
        child,
        p.tracking_uri,
        loop_config(config, graph, hyper, dataset, child),
    )
    finish(best_p, SimpleNamespace(checkpoint=checkpoint), seconds=seconds, usage=False)

    text = print_dsl(graph)
    where = f"MLflow run {parent.run_id}, {BEST_NETWORK}"
    if s.output:  # a file only when asked (-o): a job never writes into its working folder
        out = Path(s.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        where = f"{out} and {where}"
    client, run_id = parent.client, parent.run_id
    values = tracker.rows[trial_id]["values"]
    now = int(time.time() * 1000)
    child_metrics = client.get_run(child).data.metrics
    counts = {
        status: sum(r["status"] == status for r in rows) for status in ("completed", "early_stopped", "error")
    }
    metrics = {
        f"best_{s.metric}": tracker.rows[trial_id][f"best_{s.metric}"],
        "trials": len(rows),
        **{f"trials_{k}": v for k, v in counts.items()},
        **{k: v for k, v in child_metrics.items() if k.startswith("test_")},
    }
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(f"best.{k}", str(v)[:6000]) for k, v in values.items()],
        synchronous=True,
    )
    client.set_tag(run_id, "neuralforge.best_run", child)
    client.set_tag(run_id, "neuralforge.best_trial", trial_id)
    folder, name = BEST_NETWORK.split("/")
    log_files(
        client,
        run_id,
        {name: text, "trials.json": json.dumps(rows, indent=1, default=str), "trials.csv": _csv(rows)},
        folder,
    )
    device = "gpu" if config.gpu else "cpu"
    record_usage(run_id, Usage(user(), device, concurrency * config.workers, 1, seconds), client=client)
    client.set_terminated(run_id, "FINISHED")
    return SweepResult(run_id, child, values, where, rows, metrics)


def _csv(rows: list[dict]) -> str:

    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
