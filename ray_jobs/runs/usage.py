"""Usage accounting: device-hours per training run, summed per user and month from MLflow.

Contract for the training entry point: when a run ends (and, to keep a running total current,
after each epoch), call ``record_usage(run_id, Usage(...))``. It logs on the MLflow run

- tags ``neuralforge.user``, ``mlflow.user`` (the submitter, not the cluster's login),
  ``neuralforge.device`` (``gpu`` or ``cpu``), ``neuralforge.workers``, ``neuralforge.per_worker``;
- metrics ``device_hours`` and ``gpu_hours`` or ``cpu_hours`` (the latest value counts) and
  ``wall_hours``.

Device-hours are wall hours × workers × devices per worker: GPUs per worker on GPU, CPUs per
worker otherwise. A run counts toward the month (UTC) in which it started; deleted runs and
experiments still count (deleting a run does not give the hours back).

>>> u = Usage(user="ada", device="gpu", workers=2, per_worker=1, seconds=5400)
>>> u.device_hours, u.metrics()["gpu_hours"], u.tags()["neuralforge.device"]
(3.0, 3.0, 'gpu')
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from neural_engine.errors import JobError, QuotaExceededError, ValidationError
from neural_engine.settings import Settings, settings
from ray_jobs.tracking import client as tracking_client

USER_TAG = "neuralforge.user"
DEVICE_TAG = "neuralforge.device"
DEVICES = ("gpu", "cpu")


@dataclass(frozen=True)
class Usage:
    """One run's consumption: ``workers`` × ``per_worker`` devices for ``seconds`` of wall time."""

    user: str
    device: str  # "gpu" or "cpu"
    workers: int
    per_worker: float  # GPUs per worker on GPU, CPUs per worker on CPU
    seconds: float

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValidationError(f"device must be one of {DEVICES}; received {self.device!r}")
        if self.workers < 1 or self.per_worker <= 0 or self.seconds < 0:
            raise ValidationError(
                "usage needs workers >= 1, per_worker > 0 and seconds >= 0; received "
                f"workers={self.workers}, per_worker={self.per_worker}, "
                f"seconds={self.seconds}"
            )
        if not self.user:
            raise ValidationError("usage needs a user; received an empty name")

    @property
    def device_hours(self) -> float:
        return self.seconds / 3600 * self.workers * self.per_worker

    def tags(self) -> dict[str, str]:
        return {
            USER_TAG: self.user,
            "mlflow.user": self.user,
            DEVICE_TAG: self.device,
            "neuralforge.workers": str(self.workers),
            "neuralforge.per_worker": f"{self.per_worker:g}",
        }

    def metrics(self) -> dict[str, float]:
        return {
            "device_hours": self.device_hours,
            f"{self.device}_hours": self.device_hours,
            "wall_hours": self.seconds / 3600,
        }


def record_usage(run_id: str, usage: Usage, *, client=None, step: int = 0) -> None:
    """Log ``usage`` on the MLflow run ``run_id`` in one batch (tracking URI from the settings
    unless a ``MlflowClient`` is given). Safe to call repeatedly; the latest values count."""

    from mlflow.entities import Metric, RunTag

    client = client or tracking_client(settings().mlflow_uri)
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, step) for k, v in usage.metrics().items()],
        tags=[RunTag(k, v) for k, v in usage.tags().items()],
        synchronous=True,
    )


@dataclass
class UserUsage:
    gpu_hours: float = 0.0
    cpu_hours: float = 0.0
    runs: int = 0
    run_ids: list[str] = field(default_factory=list, repr=False)

    def hours(self, device: str) -> float:
        return self.gpu_hours if device == "gpu" else self.cpu_hours


def month_range(month: str | None = None) -> tuple[str, int, int]:
    """``(YYYY-MM, first ms, end ms)`` of a UTC month (default: the current one).

    >>> month_range("2026-12")[1:] == (1796083200000, 1798761600000)
    True
    """
    if month is None:
        month = datetime.now(UTC).strftime("%Y-%m")
    m = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(f"--month must be YYYY-MM, e.g. 2026-11; received {month!r}")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
    return month, int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def usage_by_user(month: str | None = None, *, tracking_uri: str | None = None) -> dict[str, UserUsage]:
    """Device-hours per user for runs started in ``month`` (YYYY-MM, UTC; default: this month),
    over every experiment of the tracking store."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    _, start, end = month_range(month)
    uri = tracking_uri or settings().mlflow_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return {}  # no store yet, so no runs (and no empty database created as a side effect)
    client = MlflowClient(uri)
    query = (
        f"attributes.start_time >= {start} AND attributes.start_time < {end} AND metrics.device_hours >= 0"
    )
    try:
        experiments = [e.experiment_id for e in _pages(client.search_experiments, view_type=ViewType.ALL)]
        runs = (
            list(
                _pages(
                    client.search_runs,
                    experiment_ids=experiments,
                    filter_string=query,
                    run_view_type=ViewType.ALL,
                )
            )
            if experiments
            else []
        )
    except MlflowException as e:
        raise JobError(
            f"the MLflow tracking store {uri} must answer to sum the usage; it failed: {e.message}",
            hint="check MLFLOW_TRACKING_URI",
        ) from None
    totals: dict[str, UserUsage] = {}
    for run in runs:
        tags = run.data.tags
        user = tags.get(USER_TAG) or tags.get("mlflow.user") or "unknown"
        device = tags.get(DEVICE_TAG, "cpu")
        t = totals.setdefault(user, UserUsage())
        if device == "gpu":
            t.gpu_hours += run.data.metrics["device_hours"]
        else:
            t.cpu_hours += run.data.metrics["device_hours"]
        t.runs += 1
        t.run_ids.append(run.info.run_id)
    return dict(sorted(totals.items()))


def _pages(search, **kwargs):
    token = None
    while True:
        page = search(max_results=1000, page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def check_quota(
    user: str | None = None, s: Settings | None = None, devices: tuple[str, ...] = DEVICES
) -> UserUsage | None:
    """Raise QuotaExceededError when ``user`` has used up a monthly quota of the settings
    (``NEURALFORGE_QUOTA_GPU_HOURS``, ``NEURALFORGE_QUOTA_CPU_HOURS``); their usage otherwise
    (None when no quota is set, and MLflow is then not queried)."""
    s = s or settings()
    user = user or s.user
    quotas = {
        d: q
        for d, q in (("gpu", s.quota_gpu_hours), ("cpu", s.quota_cpu_hours))
        if q is not None and d in devices
    }
    if not quotas:
        return None
    month, _, _ = month_range()
    used = usage_by_user(month, tracking_uri=s.mlflow_uri).get(user, UserUsage())
    for device, quota in quotas.items():
        if used.hours(device) >= quota:
            var = f"NEURALFORGE_QUOTA_{device.upper()}_HOURS"
            raise QuotaExceededError(
                f"{user} must stay under the monthly quota of {quota:g} {device.upper()}-hours "
                f"({var}); {month} already has {used.hours(device):.2f} from {used.runs} run(s)",
                hint=f"`neuralforge usage --month {month}` lists the usage; ask for a higher {var}",
            )
    return used
