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

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import httpx

from neuralforge.results import (
    ERRORS_BY_STATUS,
    APIError,
    AuthError,
    Comparison,
    CompileResult,
    Deployment,
    ExportResult,
    Job,
    JobTimeout,
    NotFound,
    ParseResult,
    RateLimited,
    Run,
    RunSummary,
    ShapeReport,
    Unavailable,
    make,
    verify_webhook,
)

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
        return make(ParseResult, self._json("POST", "/parse", json={"dsl": dsl, "network": network}))

    @staticmethod
    def _source(dsl, graph, template, options) -> dict:
        return {"dsl": dsl, "graph": graph, "template": template, **options}

    def shapes(
        self, dsl: str | None = None, *, graph: dict | None = None, template: str | None = None, **options
    ) -> ShapeReport:
        """Per-node report of a DSL text, a graph or a template (``network``, ``classes``,
        ``input_shape``, ``width``, ``batch_size``, ``dtype``)."""
        return make(
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
        return make(CompileResult, data.get("result") or data)

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
        return self._submit("train", dsl, graph, template, dataset, webhook_url, options)

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
        return self._submit("tune", dsl, graph, template, dataset, webhook_url, options)

    def _submit(self, kind, dsl, graph, template, dataset, webhook_url, options) -> Job:
        body = {**self._source(dsl, graph, template, options), "dataset": dataset, "webhook_url": webhook_url}
        return make(Job, self._json("POST", f"/jobs/{kind}", json=body))

    def job(self, job: Job | str) -> Job:
        return make(Job, self._json("GET", f"/jobs/{_id(job)}"))

    def jobs(self) -> list[Job]:
        return [make(Job, j) for j in self._json("GET", "/jobs")]

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
                        raise ERRORS_BY_STATUS.get(event.get("status"), APIError)(
                            event.get("status", 500), event
                        )
                    callback(event)
                    if event.get("type") == "end":
                        break
        except InvalidStatus as e:
            try:
                body = json.loads(e.response.body or b"{}")
            except ValueError:
                body = {"message": (e.response.body or b"").decode(errors="replace")}
            raise ERRORS_BY_STATUS.get(e.response.status_code, APIError)(
                e.response.status_code, body
            ) from None
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
            make(RunSummary, r)
            for r in self._json("GET", f"/experiments/{experiment}", params=params)["runs"]
        ]

    def run(self, run_id: str) -> Run:
        return make(Run, self._json("GET", f"/runs/{run_id}"))

    def compare(self, run_ids: list[str]) -> Comparison:
        return make(Comparison, self._json("GET", "/runs/compare", params={"ids": list(run_ids)}))

    def delete_run(self, run_id: str) -> Run:
        return make(Run, self._json("DELETE", f"/runs/{run_id}"))

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
        raise ERRORS_BY_STATUS.get(r.status_code, APIError)(r.status_code, body)

    def export(
        self, run_id: str | None = None, *, template: str | None = None, format: str = "onnx", **options
    ) -> ExportResult:
        """Export a run (or an untrained template) and validate it against torch (``quantize``,
        ``prune``, ``samples``, ``max_abs_diff``, …); ``passed`` and the report."""
        body = {"run_id": run_id, "template": template, "format": format, **options}
        return make(ExportResult, self._json("POST", "/exports", json=body, timeout=None))

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
        return make(Deployment, self._json("POST", "/deployments", json=body, timeout=None))

    def scale(self, name: str, replicas: int, *, canary: bool = False) -> Deployment:
        return make(
            Deployment,
            self._json(
                "POST",
                f"/deployments/{name}/scale",
                json={"replicas": replicas, "canary": canary},
                timeout=None,
            ),
        )

    def deployments(self) -> list[Deployment]:
        return [make(Deployment, d) for d in self._json("GET", "/deployments")]

    def undeploy(self, name: str) -> None:
        self._json("DELETE", f"/deployments/{name}", timeout=None)

    def health(self) -> dict:
        return self._json("GET", "/health")
