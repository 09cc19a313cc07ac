"""MLflow tracking: the run's experiment and artifacts, and a batching metric logger.

The driver creates the experiment with an absolute (or ``s3://``) artifact location — never a
path relative to a Ray worker's temp dir — and owns the run. Rank 0 of the training workers logs
metrics to that run through :class:`MetricLogger`: calls only queue, a background thread sends
``log_batch`` requests, so a training step never waits on the tracking store. Logging is
idempotent per (metric, step): after a worker failure the resumed loop re-sends the epochs its
checkpoint holds, and only the ones the store does not have yet are written — every epoch's
metrics are recorded exactly once.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

MAX_BATCH = 1000  # MLflow's log_batch limit for metrics
_READY: set[str] = set()  # SQLite stores this process has seen created


def client(tracking_uri: str):
    """An ``MlflowClient`` whose store exists. MLflow creates (migrates) a new SQLite database on
    first use, and two processes doing that at once collide ("duplicate column name": a job's driver
    and the API or dashboard watching it, on a fresh home); the first use here holds a file lock
    beside the database, so one process creates it and the others find it made."""
    from mlflow.tracking import MlflowClient

    if not tracking_uri.startswith("sqlite:///") or tracking_uri in _READY:
        return MlflowClient(tracking_uri)
    from filelock import FileLock

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{db}.lock", timeout=300):  # the client's store is made (and migrated) here
        found = MlflowClient(tracking_uri)
        found.search_experiments(max_results=1)
    _READY.add(tracking_uri)
    return found


def experiment_id(tracking_uri: str, name: str, artifact_root: str) -> str:
    """The experiment ``name``, created with ``<artifact_root>/<name>`` as its artifact location
    (once: when several processes create it at the same moment, all get the one that won)."""
    tracking = client(tracking_uri)
    found = tracking.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    from mlflow.exceptions import MlflowException

    location = artifact_root if "://" in artifact_root else Path(artifact_root).absolute().as_uri()
    try:
        return tracking.create_experiment(name, artifact_location=f"{location.rstrip('/')}/{name}")
    except MlflowException:  # another process created it meanwhile (two jobs' first runs at once)
        found = tracking.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class MetricLogger:
    """Queue metrics; a background thread writes them with ``log_batch``.

    >>> # logger = MetricLogger(uri, run_id); logger.log({"loss": 0.3}, step=1); logger.close()
    """

    def __init__(self, tracking_uri: str, run_id: str, *, skip_logged: tuple[str, ...] = ()):
        from mlflow.tracking import MlflowClient

        self.client, self.run_id = MlflowClient(tracking_uri), run_id
        self.queue: queue.Queue = queue.Queue()
        self.logged = {m: {h.step for h in self.client.get_metric_history(run_id, m)} for m in skip_logged}
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._send_loop, name="mlflow-logger", daemon=True)
        self.thread.start()

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Queue ``metrics`` at ``step`` (returns at once); steps already stored are skipped."""
        stamp = int(time.time() * 1000)
        for key, value in metrics.items():
            if step in self.logged.get(key, ()):
                continue
            self.queue.put((key, float(value), stamp, step))

    def close(self) -> None:
        """Send what is queued and stop; raises the first error the sender met."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _send_loop(self) -> None:
        from mlflow.entities import Metric

        done = False
        while not done:
            item = self.queue.get()
            batch = []
            while item is not None:
                batch.append(Metric(*item))
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    item = False
                if item is False:
                    break
            done = item is None
            if batch and self.error is None:
                try:
                    self.client.log_batch(self.run_id, metrics=batch, synchronous=True)
                except Exception as err:  # noqa: BLE001 - reported by close(); training goes on meanwhile
                    self.error = err
