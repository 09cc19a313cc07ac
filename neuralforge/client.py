"""A Python client of the NeuralForge REST API (``neuralforge api``): httpx and websockets only —
no torch, no Ray, no MLflow on the caller's side.

    from neuralforge.client import Client
    nf = Client("http://127.0.0.1:8080", api_key="nf_…")
    nf.shapes(template="mnist_cnn").params                       # 315146
    job = nf.train(template="mnist_cnn", dataset="digits", epochs=5)
    nf.watch(job, lambda event: print(event["type"], event))      # live, over the WebSocket
    job = nf.wait(job, timeout=600)
    nf.run(job.run_id).metrics["test_accuracy"]

Results are dataclasses (the server's full answer stays in ``.raw``); a refused request raises
:class:`APIError` (or a subclass by status) carrying the server's message, hint, node and line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self

import httpx

__all__ = [
    "APIError",
    "AuthError",
    "Client",
    "Comparison",
    "CompileResult",
    "Deployment",
    "ExportResult",
    "Job",
    "JobTimeout",
    "NotFound",
    "ParseResult",
    "RateLimited",
    "Run",
    "RunSummary",
    "ShapeReport",
    "Unavailable",
    "verify_webhook",
]


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


_BY_STATUS = {401: AuthError, 403: AuthError, 404: NotFound, 429: RateLimited, 503: Unavailable}


# -- results ---------------------------------------------------------------------------------------


def _make(cls, data: Mapping[str, Any]):
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


def _id(job: Job | str) -> str:
    return job.id if isinstance(job, Job) else job


# -- the client ------------------------------------------------------------------------------------


class Client:
    """``Client(url, api_key)``; ``token=`` sends a JWT instead. ``retries``: how often a 429 is
    retried after its ``Retry-After``."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 120.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url = url.rstrip("/")
        self.headers = (
            {"X-API-Key": api_key} if api_key else {"Authorization": f"Bearer {token}"} if token else {}
        )
        self.retries = retries
        self.http = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, method: str, path: str, **kw) -> httpx.Response:
        for attempt in range(self.retries + 1):
            r = self.http.request(method, path, **kw)
            if r.status_code != 429 or attempt == self.retries:
                break
            time.sleep(float(r.headers.get("Retry-After", "1")))
        if r.status_code >= 400:
            self._raise(r)
        return r

    def _json(self, method: str, path: str, **kw):
        return self._request(method, path, **kw).json()

    # -- engine ----------------------------------------------------------------------------------

    def parse(self, dsl: str, network: str | None = None) -> ParseResult:
        return _make(ParseResult, self._json("POST", "/parse", json={"dsl": dsl, "network": network}))

    @staticmethod
    def _source(dsl, graph, template, options) -> dict:
        return {"dsl": dsl, "graph": graph, "template": template, **options}

    def shapes(
        self, dsl: str | None = None, *, graph: dict | None = None, template: str | None = None, **options
    ) -> ShapeReport:
        """Per-node report of a DSL text, a graph or a template (``network``, ``classes``,
        ``input_shape``, ``width``, ``batch_size``, ``dtype``)."""
        return _make(
            ShapeReport, self._json("POST", "/shapes", json=self._source(dsl, graph, template, options))
        )

    def compile(
        self,
        dsl: str | None = None,
        *,
        graph: dict | None = None,
        template: str | None = None,
        target: str = "pytorch",
        timeout: float = 300,
        **options,
    ) -> CompileResult:
        """PyTorch or Keras source; a large network compiles in the background and is waited for."""
        r = self._request(
            "POST", "/compile", json={**self._source(dsl, graph, template, options), "target": target}
        )
        data, deadline = r.json(), time.monotonic() + timeout
        while r.status_code == 202 and data["status"] == "pending":
            if time.monotonic() > deadline:
                raise TimeoutError(f"compile task {data['id']} must finish within {timeout:g} s")
            time.sleep(0.2)
            data = self._json("GET", data["url"])
        if data.get("status") == "failed":
            raise APIError(422, data["error"])
        return _make(CompileResult, data.get("result") or data)

    # -- jobs ------------------------------------------------------------------------------------

    def train(
        self,
        dsl: str | None = None,
        *,
        graph: dict | None = None,
        template: str | None = None,
        dataset: str = "digits",
        webhook_url: str | None = None,
        **options,
    ) -> Job:
        """Submit a training job; ``options`` are the ``neuralforge train`` options (``epochs``,
        ``batch_size``, ``learning_rate``, ``workers``, ``smoke_test``, ``run_name``, …)."""
        body = {**self._source(dsl, graph, template, options), "dataset": dataset, "webhook_url": webhook_url}
        return _make(Job, self._json("POST", "/jobs/train", json=body))

    def tune(
        self,
        dsl: str | None = None,
        *,
        graph: dict | None = None,
        template: str | None = None,
        dataset: str = "digits",
        webhook_url: str | None = None,
        **options,
    ) -> Job:
        """Submit a sweep; ``options`` as ``neuralforge tune`` (``num_samples``, ``search``, …)."""
        body = {**self._source(dsl, graph, template, options), "dataset": dataset, "webhook_url": webhook_url}
        return _make(Job, self._json("POST", "/jobs/tune", json=body))

    def job(self, job: Job | str) -> Job:
        return _make(Job, self._json("GET", f"/jobs/{_id(job)}"))

    def jobs(self) -> list[Job]:
        return [_make(Job, j) for j in self._json("GET", "/jobs")]

    def logs(self, job: Job | str, tail: int | None = None) -> str:
        return self._json("GET", f"/jobs/{_id(job)}/logs", params={"tail": tail} if tail else None)["logs"]

    def stop(self, job: Job | str) -> bool:
        return self._json("DELETE", f"/jobs/{_id(job)}")["stopped"]

    def wait(self, job: Job | str, timeout: float = 600, poll: float = 2.0) -> Job:
        """Poll until the job ends; the final :class:`Job` (:class:`JobTimeout` after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.job(job)
            if current.done:
                return current
            if time.monotonic() > deadline:
                raise JobTimeout(current, timeout)
            time.sleep(poll)

    def watch(self, job: Job | str, callback: Callable[[dict], Any], timeout: float | None = None) -> Job:
        """Call ``callback`` with every event of the job's stream (``status``, ``metrics``, ``log``,
        ``end``) as it happens; returns the final :class:`Job`."""
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        url = "ws" + self.url.removeprefix("http") + f"/jobs/{_id(job)}/stream"
        try:
            with connect(url, additional_headers=self.headers, open_timeout=30, close_timeout=5) as ws:
                while True:
                    event = json.loads(ws.recv(timeout=timeout))
                    if event.get("type") == "error":
                        raise _BY_STATUS.get(event.get("status"), APIError)(event.get("status", 500), event)
                    callback(event)
                    if event.get("type") == "end":
                        break
        except InvalidStatus as e:
            try:
                body = json.loads(e.response.body or b"{}")
            except ValueError:
                body = {"message": (e.response.body or b"").decode(errors="replace")}
            raise _BY_STATUS.get(e.response.status_code, APIError)(e.response.status_code, body) from None
        return self.job(job)

    # -- runs and models -------------------------------------------------------------------------

    def experiments(self) -> list[dict]:
        return self._json("GET", "/experiments")

    def runs(
        self,
        experiment: str = "neuralforge",
        *,
        filter: str | None = None,
        status: str | None = None,
        parent: str | None = None,
        max: int = 100,
    ) -> list[RunSummary]:
        """Runs of an experiment (id or name), newest first, filtered as ``neuralforge runs list``."""
        params = {
            k: v for k, v in (("filter", filter), ("status", status), ("parent", parent), ("max", max)) if v
        }
        return [
            _make(RunSummary, r)
            for r in self._json("GET", f"/experiments/{experiment}", params=params)["runs"]
        ]

    def run(self, run_id: str) -> Run:
        return _make(Run, self._json("GET", f"/runs/{run_id}"))

    def compare(self, run_ids: list[str]) -> Comparison:
        return _make(Comparison, self._json("GET", "/runs/compare", params={"ids": list(run_ids)}))

    def delete_run(self, run_id: str) -> Run:
        return _make(Run, self._json("DELETE", f"/runs/{run_id}"))

    def download(self, run_id: str, path: str, dest: str | Path = ".") -> Path:
        """Download the run's artifact ``path`` into the folder ``dest``; the file's path."""
        return self._save(f"/runs/{run_id}/artifacts/{path}", Path(dest) / Path(path).name)

    def models(self) -> list[dict]:
        return self._json("GET", "/models")

    def download_model(self, model_id: str, dest: str | Path = ".") -> Path:
        """The logged model's folder as a ZIP in ``dest``."""
        return self._save(f"/models/{model_id}/download", Path(dest) / f"{model_id}.zip")

    def _save(self, path: str, target: Path) -> Path:
        with self.http.stream("GET", path) as r:
            if r.status_code >= 400:
                r.read()
                self._raise(r)
            if r.headers.get("content-type", "").startswith("application/json"):
                r.read()
                raise APIError(400, {"message": f"{path} is a folder: {r.json()}"})
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as f:
                f.writelines(r.iter_bytes())
        return target

    @staticmethod
    def _raise(r: httpx.Response):
        try:
            body = r.json()
        except ValueError:
            body = {"message": r.text[:500]}
        if not isinstance(body, dict):
            body = {"message": str(body)[:500]}
        body["_retry_after"] = r.headers.get("Retry-After")
        raise _BY_STATUS.get(r.status_code, APIError)(r.status_code, body)

    def export(
        self, run_id: str | None = None, *, template: str | None = None, format: str = "onnx", **options
    ) -> ExportResult:
        """Export a run (or an untrained template) and validate it against torch (``quantize``,
        ``prune``, ``samples``, ``max_abs_diff``, …); ``passed`` and the report."""
        body = {"run_id": run_id, "template": template, "format": format, **options}
        return _make(ExportResult, self._json("POST", "/exports", json=body, timeout=None))

    # -- deployments -----------------------------------------------------------------------------

    def deploy(
        self,
        run_id: str,
        name: str,
        *,
        replicas: int | None = None,
        canary_share: float | None = None,
        **options,
    ) -> Deployment:
        body = {"run_id": run_id, "name": name, "replicas": replicas, "canary_share": canary_share, **options}
        return _make(Deployment, self._json("POST", "/deployments", json=body, timeout=None))

    def scale(self, name: str, replicas: int, *, canary: bool = False) -> Deployment:
        return _make(
            Deployment,
            self._json(
                "POST",
                f"/deployments/{name}/scale",
                json={"replicas": replicas, "canary": canary},
                timeout=None,
            ),
        )

    def deployments(self) -> list[Deployment]:
        return [_make(Deployment, d) for d in self._json("GET", "/deployments")]

    def undeploy(self, name: str) -> None:
        self._json("DELETE", f"/deployments/{name}", timeout=None)

    def health(self) -> dict:
        return self._json("GET", "/health")
