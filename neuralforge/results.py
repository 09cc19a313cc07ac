"""What the REST API's client returns and raises: typed results (the server's full answer stays in
``.raw``) and errors by status carrying the server's message, hint, node and line."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# -- errors ----------------------------------------------------------------------------------------


class APIError(Exception):
    """The server refused the request: its status and message (with hint, node and line when the
    engine gave them)."""

    def __init__(self, status: int, body: Mapping[str, Any]):
        self.status, self.body = status, dict(body)
        self.error = self.body.get("error") or "HTTPError"
        self.message = str(self.body.get("message") or self.body.get("detail") or f"HTTP {status}")
        self.hint, self.node = self.body.get("hint"), self.body.get("node")
        self.line, self.column = self.body.get("line"), self.body.get("column")
        where = (
            f" (line {self.line}, column {self.column})"
            if self.line
            else f" [{self.node}]"
            if self.node
            else ""
        )
        super().__init__(
            f"{status} {self.error}: {self.message}{where}" + (f"\nhint: {self.hint}" if self.hint else "")
        )


class AuthError(APIError):
    """401 (no or a wrong credential) or 403 (a scope too small)."""


class NotFound(APIError):
    """404: no such job, run, model, deployment or route."""


class RateLimited(APIError):
    """429: past the key's rate; ``retry_after`` seconds until the next request may pass."""

    @property
    def retry_after(self) -> float:
        return float(self.body.get("_retry_after") or 1)


class Unavailable(APIError):
    """503: Ray or MLflow must be started (the hint says how)."""


class JobTimeout(TimeoutError):
    """:meth:`Client.wait` ran out of time; ``job`` is the last status seen."""

    def __init__(self, job: Job, timeout: float):
        self.job = job
        super().__init__(f"job {job.id} must end within {timeout:g} s; it is still {job.status}")


ERRORS_BY_STATUS = {401: AuthError, 403: AuthError, 404: NotFound, 429: RateLimited, 503: Unavailable}


# -- results ---------------------------------------------------------------------------------------


def make(cls, data: Mapping[str, Any]):
    """``cls`` from the server's JSON: known fields taken, the whole answer kept in ``raw``."""
    names = {f.name for f in fields(cls)} - {"raw"}
    return cls(**{k: v for k, v in data.items() if k in names}, raw=dict(data))


@dataclass(frozen=True)
class ParseResult:
    network: str
    networks: list[str]
    graph: dict
    warnings: list[dict]
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class ShapeReport:
    name: str
    layout: str
    inputs: dict[str, list]
    outputs: list[str]
    nodes: list[dict]  # id, type, inputs, output_shape, params, non_trainable, flops, activation_bytes
    params: int
    non_trainable: int
    flops: int
    memory: dict
    lints: list[dict]
    warnings: list[dict] = field(default_factory=list)
    raw: dict = field(repr=False, default_factory=dict)

    def shape(self, node_id: str) -> tuple:
        """The output shape of ``node_id`` (batch excluded; None: unknown)."""
        return tuple(next(n for n in self.nodes if n["id"] == node_id)["output_shape"])


@dataclass(frozen=True)
class CompileResult:
    network: str
    target: str
    source: str
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Job:
    id: str
    status: str  # PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED
    entrypoint: str = ""
    message: str = ""
    kind: str | None = None
    user: str = ""
    start_time: float | None = None
    end_time: float | None = None
    run_id: str | None = None
    run_name: str | None = None
    progress: dict | None = None
    metrics: dict = field(default_factory=dict)
    webhook: dict | None = None
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    name: str | None
    status: str
    start: str
    kind: str
    val_loss: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str | None
    experiment_id: str
    status: str
    lifecycle_stage: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    params: dict
    metrics: dict
    tags: dict
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    runs: list[str]
    params_differ: dict
    metrics: dict
    architecture: dict
    architecture_lines: dict
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class ExportResult:
    run_id: str | None
    directory: str
    passed: bool
    report: dict
    raw: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    name: str
    status: str | None
    url: str
    stable: dict
    canary: dict | None
    raw: dict = field(repr=False, default_factory=dict)


def verify_webhook(secret: str, body: bytes, headers: Mapping[str, str], *, tolerance: float = 300) -> bool:
    """Whether a webhook request is from the server: ``X-NeuralForge-Signature`` is the HMAC-SHA256 of
    ``<X-NeuralForge-Timestamp>.<body>`` and the timestamp is at most ``tolerance`` s old."""
    lower = {k.lower(): v for k, v in headers.items()}
    ts, signature = lower.get("x-neuralforge-timestamp", ""), lower.get("x-neuralforge-signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
