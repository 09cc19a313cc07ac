"""The connector interface: what NeuralForge asks of a compute platform, and the values it gets back.

A connector runs NeuralForge jobs (``train``, ``tune``, or any command) on one backend. Seven
methods are required; five are optional, and a connector that leaves one out raises
:class:`UnsupportedError` for it — ``capabilities()`` lists the ones it has. Every failure is a
:class:`ConnectorError` (``errors.py``); calls the backend may fail transiently go through
``self.call``, which retries them with exponential backoff (``retry.py``).

>>> JobStatus.from_native("SUCCEEDED", RAY_STATES, backend="ray")
<JobStatus.SUCCEEDED: 'SUCCEEDED'>
>>> JobSpec.train(template="mnist_cnn", smoke_test=True).flags()
['--template', 'mnist_cnn', '--smoke-test']
>>> ResourceConfig(cpus=-1)
Traceback (most recent call last):
neuralforge.integrations.errors.ConnectorError: ResourceConfig.cpus must be a number >= 0; received -1
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from neuralforge.integrations.errors import ConnectorError, UnsupportedError
from neuralforge.integrations.retry import RetryPolicy, retry
from neuralforge.integrations.retry import is_transient as default_is_transient

T = TypeVar("T")


class JobStatus(StrEnum):
    PENDING = "PENDING"  # accepted, not started (queued, waiting for resources, setting up)
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"  # cancelled by a user

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED)

    @classmethod
    def from_native(cls, state: str, states: Mapping[str, JobStatus], backend: str) -> JobStatus:
        """The status a backend's own job state stands for (``states``: the backend's table)."""
        try:
            return states[str(state)]
        except KeyError:
            raise ConnectorError(
                f"the {backend} job state must be one of {', '.join(states)}; received {state!r}",
                hint=f"add it to the {backend} connector's table",
            ) from None


# A backend's job states by its own names (each connector sets its table as ``states``).
RAY_STATES: Mapping[str, JobStatus] = {
    s: JobStatus(s) for s in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED")
}


def _check(name: str, ok: bool, expected: str, value) -> None:
    if not ok:
        raise ConnectorError(f"ResourceConfig.{name} must be {expected}; received {value!r}")


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass(frozen=True)
class ResourceConfig:
    """What a job gets: per worker ``cpus``/``gpus``/``memory_mb`` (None: the backend's default),
    ``workers`` (training workers; a command is one process), and its runtime environment."""

    cpus: float | None = None
    gpus: float = 0
    memory_mb: int | None = None
    workers: int = 1
    env_vars: Mapping[str, str] = field(default_factory=dict)
    pip: tuple[str, ...] = ()  # packages installed for the job
    working_dir: str | None = None  # a local folder uploaded as the job's current directory

    def __post_init__(self):
        _check(
            "cpus", self.cpus is None or (_number(self.cpus) and self.cpus >= 0), "a number >= 0", self.cpus
        )
        _check("gpus", _number(self.gpus) and self.gpus >= 0, "a number >= 0", self.gpus)
        _check(
            "memory_mb",
            self.memory_mb is None or (isinstance(self.memory_mb, int) and self.memory_mb > 0),
            "a positive integer",
            self.memory_mb,
        )
        _check(
            "workers", isinstance(self.workers, int) and self.workers >= 1, "an integer >= 1", self.workers
        )
        _check(
            "env_vars",
            all(isinstance(k, str) and isinstance(v, str) for k, v in self.env_vars.items()),
            "a mapping of strings to strings",
            dict(self.env_vars),
        )
        _check("pip", all(isinstance(p, str) for p in self.pip), "a tuple of requirement strings", self.pip)


@dataclass(frozen=True)
class JobSpec:
    """What to run: a NeuralForge command (``train``, ``tune``) with its flags by field name, or a
    shell ``entrypoint``. Flags: ``True`` → ``--flag``; ``False``/``None`` left out; a list repeats."""

    kind: str  # "train", "tune" or "command"
    args: Mapping[str, Any] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | str = ()  # kind "command": arguments, or one shell string
    name: str = ""  # a label kept with the job

    KINDS: ClassVar[tuple[str, ...]] = ("train", "tune", "command")

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise ConnectorError(
                f"JobSpec.kind must be one of {', '.join(self.KINDS)}; received {self.kind!r}"
            )
        if (self.kind == "command") != bool(self.entrypoint) or (self.kind == "command" and self.args):
            raise ConnectorError(
                "a command job needs an `entrypoint` and no `args`; a train or tune job "
                f"needs `args` and no `entrypoint`; received kind={self.kind!r}, "
                f"entrypoint={self.entrypoint!r}, args={dict(self.args)!r}"
            )

    @classmethod
    def train(cls, name: str = "", **args) -> JobSpec:
        return cls("train", args, name=name)

    @classmethod
    def tune(cls, name: str = "", **args) -> JobSpec:
        return cls("tune", args, name=name)

    @classmethod
    def command(cls, entrypoint: Sequence[str] | str, name: str = "") -> JobSpec:
        """Any command: a list of arguments (quoted for the shell) or one shell string."""
        return cls(
            "command", entrypoint=entrypoint if isinstance(entrypoint, str) else tuple(entrypoint), name=name
        )

    def flags(self) -> list[str]:
        """The command-line flags of ``args`` (``smoke_test=True`` → ``--smoke-test``)."""
        out: list[str] = []
        for key, value in self.args.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                out.append(flag)
            elif value is not None and value is not False:
                for v in value if isinstance(value, list | tuple) else [value]:
                    out += [flag, str(v)]
        return out


@dataclass(frozen=True)
class JobInfo:
    """One job as ``list_jobs`` reports it."""

    id: str
    status: JobStatus
    kind: str = ""
    name: str = ""
    message: str = ""
    start_time: float | None = None  # seconds since the epoch
    end_time: float | None = None


@dataclass(frozen=True)
class JobResult:
    """A job's outcome so far: its status and, once the job logged them, its MLflow run and metrics."""

    job_id: str
    status: JobStatus
    run_id: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A deployed model: ``POST`` requests to ``url``."""

    name: str
    url: str
    version: str = ""
    replicas: int = 1


@dataclass(frozen=True)
class ResourceUsage:
    """The cluster's resources by name (``CPU``, ``GPU``, ``memory`` in bytes, …): ``total`` and ``used``."""

    total: Mapping[str, float]
    used: Mapping[str, float]
    nodes: int

    @property
    def available(self) -> dict[str, float]:
        return {k: v - self.used.get(k, 0.0) for k, v in self.total.items()}


class BaseConnector(ABC):
    """Subclass it, set ``name`` and ``states``, implement the abstract methods and any optional ones."""

    name: ClassVar[str] = "base"
    states: ClassVar[Mapping[str, JobStatus]] = {}  # the backend's job states → JobStatus
    OPTIONAL: ClassVar[tuple[str, ...]] = (
        "deploy_model",
        "delete_endpoint",
        "upload_file",
        "download_file",
        "get_resource_usage",
    )
    retry_policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], object] = staticmethod(time.sleep)  # replaced in tests

    # -- required ---------------------------------------------------------------------------------

    @abstractmethod
    def authenticate(self) -> None:
        """Check the credentials with the backend: ConnectorAuthError when refused or missing."""

    @abstractmethod
    def submit_job(self, spec: JobSpec, resources: ResourceConfig | None = None) -> str:
        """Start ``spec``; the job's id."""

    @abstractmethod
    def get_job_status(self, job_id: str) -> JobStatus:
        """The job's status; JobNotFoundError for an unknown id (as for every method taking a job id)."""

    @abstractmethod
    def get_job_result(self, job_id: str) -> JobResult:
        """The job's status with its MLflow run id and metrics, where the job logged them."""

    @abstractmethod
    def cancel_job(self, job_id: str) -> bool:
        """Ask the job to stop (it ends STOPPED); False when it had already ended."""

    @abstractmethod
    def list_jobs(self) -> list[JobInfo]:
        """The backend's jobs."""

    @abstractmethod
    def get_logs(self, job_id: str, tail: int | None = None) -> str:
        """The job's output so far (its last ``tail`` lines)."""

    # -- optional: UnsupportedError unless overridden ---------------------------------------------

    def deploy_model(self, model: str, name: str, resources: ResourceConfig | None = None) -> Endpoint:
        """Serve ``model`` (an MLflow run id or an ``.onnx`` file) at an endpoint called ``name``."""
        raise UnsupportedError(self.name, "deploy_model")

    def delete_endpoint(self, name: str) -> None:
        """Remove the endpoint; NotFoundError when there is none of that name."""
        raise UnsupportedError(self.name, "delete_endpoint")

    def upload_file(self, local_path: str | Path, key: str) -> str:
        """Copy a local file to the backend's storage under ``key``; its URI there."""
        raise UnsupportedError(self.name, "upload_file")

    def download_file(self, key: str, local_path: str | Path) -> Path:
        """Copy ``key`` from the backend's storage to ``local_path``; NotFoundError when missing."""
        raise UnsupportedError(self.name, "download_file")

    def get_resource_usage(self) -> ResourceUsage:
        """The cluster's total and used resources."""
        raise UnsupportedError(self.name, "get_resource_usage")

    @classmethod
    def capabilities(cls) -> frozenset[str]:
        """The optional methods this connector implements."""
        return frozenset(m for m in cls.OPTIONAL if getattr(cls, m) is not getattr(BaseConnector, m))

    # -- helpers ----------------------------------------------------------------------------------

    def status_of(self, state: str) -> JobStatus:
        """The JobStatus of one of the backend's job states (ConnectorError for an unknown one)."""
        return JobStatus.from_native(state, self.states, self.name)

    def is_transient(self, err: BaseException) -> bool:
        """Whether ``err`` is worth retrying; by default only TransientError."""
        return default_is_transient(err)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` with retries of transient errors, per ``retry_policy``."""
        return retry(fn, policy=self.retry_policy, is_transient=self.is_transient, sleep=self.sleep)

    def wait(
        self,
        job_id: str,
        timeout: float = 600,
        poll: float = 0.5,
        on_status: Callable[[JobStatus], object] | None = None,
    ) -> JobStatus:
        """Poll until the job ends; its final status (ConnectorError after ``timeout`` s).
        ``on_status`` sees every status polled."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_job_status(job_id)
            if on_status is not None:
                on_status(status)
            if status.terminal:
                return status
            if time.monotonic() > deadline:
                raise ConnectorError(
                    f"job {job_id} must end within {timeout:g} s; it is still {status}",
                    hint="cancel_job stops it",
                )
            self.sleep(poll)
