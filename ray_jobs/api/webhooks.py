"""Webhooks: ``started``, ``progress`` (one per epoch), ``completed`` and ``failed`` POSTed to a
job's ``webhook_url``, signed, retried with exponential backoff, every attempt logged.

The events come from watching the real job (:class:`ray_jobs.api.jobs.JobObserver`: Ray's job
status and the MLflow run's metrics), one thread per watched job in the API process; a restarted
API resumes the unfinished jobs that carry a webhook and skips what was already delivered.

Each request carries ``X-NeuralForge-Event``, ``X-NeuralForge-Delivery`` (an id),
``X-NeuralForge-Timestamp`` (Unix seconds) and ``X-NeuralForge-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``<timestamp>.<body>`` with the server's webhook secret (:func:`verify`).

>>> body, ts = b'{"event":"started"}', "1700000000"
>>> verify("s3cret", body, ts, sign("s3cret", body, ts), now=1700000010)
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
import uuid
from pathlib import Path

from neural_engine.errors import NeuralForgeError
from neural_engine.settings import Settings
from ray_jobs.api.jobs import EPOCH_METRICS, JobObserver

log = logging.getLogger("neuralforge.api.webhooks")
RETRY_STATUS = (408, 425, 429)


def check_url(url: str, hosts: tuple[str, ...]) -> None:
    """Refuse a webhook URL whose host the settings do not allow (``NEURALFORGE_WEBHOOK_HOSTS``:
    ``name`` matches exactly, ``.name`` any subdomain; none set: any host).

    >>> check_url("https://ci.example.com/hook", (".example.com",))
    >>> check_url("http://169.254.169.254/latest", ("hooks.example.com",))
    Traceback (most recent call last):
    neural_engine.errors.ValidationError: webhook_url's host must be one NEURALFORGE_WEBHOOK_HOSTS allows (hooks.example.com); received 169.254.169.254
    """
    from urllib.parse import urlparse

    from neural_engine.errors import ValidationError
    if not hosts:
        return
    host = (urlparse(url).hostname or "").lower()
    if not any(host == h or (h.startswith(".") and host.endswith(h)) for h in hosts):
        raise ValidationError(f"webhook_url's host must be one NEURALFORGE_WEBHOOK_HOSTS allows "
                              f"({', '.join(hosts)}); received {host or url}")


def sign(secret: str, body: bytes, timestamp: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is ours for this body and timestamp, and the timestamp is recent."""
    fresh = abs((now if now is not None else time.time()) - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(sign(secret, body, timestamp), signature)


def secret(s: Settings) -> str:
    """``NEURALFORGE_WEBHOOK_SECRET``, else the one generated into ``<home>/api/webhook_secret``."""
    if s.webhook_secret:
        return s.webhook_secret
    path = s.home / "api" / "webhook_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    except FileExistsError:
        pass
    return path.read_text().strip()


class EventMapper:
    """Observer events -> webhook events (name, key, data); ``started`` always comes first."""

    def __init__(self):
        self.started = False

    def __call__(self, event: dict, observer: JobObserver) -> list[tuple[str, str, dict]]:
        out = []
        kind = event["type"]
        if not self.started and (
            kind in ("metrics", "end") or (kind == "status" and event["status"] != "PENDING")
        ):
            self.started = True
            out.append(("started", "started", {"start_time": observer.job.start_time}))
        if kind == "metrics" and any(k in event["metrics"] for k in EPOCH_METRICS):
            epoch = event["step"] + 1
            out.append(
                (
                    "progress",
                    f"progress:{epoch}",
                    {"epoch": epoch, "epochs": observer.epochs, "metrics": event["metrics"]},
                )
            )
        if kind == "end":
            name = "completed" if event["status"] == "SUCCEEDED" else "failed"
            out.append(
                (
                    name,
                    name,
                    {
                        "message": event["message"],
                        "metrics": event["metrics"],
                        "end_time": observer.job.end_time,
                    },
                )
            )
        return out


class Webhooks:
    """Watches jobs and delivers their events; deliveries are logged as JSON lines."""

    def __init__(
        self,
        s: Settings,
        *,
        poll: float = 1.0,
        attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 10.0,
    ):
        self.settings, self.poll, self.attempts, self.backoff, self.timeout = (
            s,
            poll,
            attempts,
            backoff,
            timeout,
        )
        self.log_path = s.home / "api" / "webhooks.jsonl"
        self._secret: str | None = None
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = secret(self.settings)
        return self._secret

    def watch(self, job_id: str, url: str) -> None:
        with self._lock:
            if job_id in self._threads and self._threads[job_id].is_alive():
                return
            t = threading.Thread(target=self._run, args=(job_id, url), name=f"webhook-{job_id}", daemon=True)
            self._threads[job_id] = t
            t.start()

    def open(self, resume: bool = True) -> None:
        """Start (again, after :meth:`close`); with ``resume``, watch the cluster's unfinished jobs
        that carry a webhook (in the background; no cluster: none)."""
        self._stop.clear()
        if resume:
            self.resume()

    def resume(self) -> None:
        def scan():
            from ray_jobs.api.jobs import watched_jobs

            try:
                for job_id, url in watched_jobs():
                    self.watch(job_id, url)
            except NeuralForgeError as e:
                log.info("no jobs to resume webhooks for: %s", e.message)

        threading.Thread(target=scan, name="webhook-resume", daemon=True).start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for t in list(self._threads.values()):
            t.join(timeout)

    def _run(self, job_id: str, url: str) -> None:
        observer, mapper = JobObserver(job_id, self.settings), EventMapper()
        done = {d["key"] for d in self._log_rows(job_id) if d["ok"]}
        mapper.started = "started" in done
        while not self._stop.is_set():
            try:
                events = observer.poll()
            except NeuralForgeError as e:
                log.warning("webhook watch of %s: %s", job_id, e.message)
                if "no job has the id" in e.message:
                    return
                self._stop.wait(self.poll * 5)
                continue
            for event in events:
                for name, key, data in mapper(event, observer):
                    if key not in done and self.deliver(job_id, url, name, key, data, observer):
                        done.add(key)
            if observer.done:
                return
            self._stop.wait(self.poll)

    def deliver(self, job_id: str, url: str, event: str, key: str, data: dict, observer=None) -> bool:
        """POST one event, retrying transport errors, 5xx and 408/425/429 with exponential backoff."""
        import httpx

        delivery = uuid.uuid4().hex
        payload = {
            "id": delivery,
            "event": event,
            "job_id": job_id,
            "created": time.time(),
            "run_id": observer.run_id if observer else None,
            "status": observer.job.status if observer and observer.job else None,
            "data": data,
        }
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        for attempt in range(1, self.attempts + 1):
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "NeuralForge-Webhooks",
                "X-NeuralForge-Event": event,
                "X-NeuralForge-Delivery": delivery,
                "X-NeuralForge-Timestamp": ts,
                "X-NeuralForge-Signature": sign(self.secret, body, ts),
            }
            code, error = None, None
            try:
                code = httpx.post(url, content=body, headers=headers, timeout=self.timeout).status_code
            except httpx.HTTPError as e:
                error = f"{type(e).__name__}: {e}"[:300]
            ok = code is not None and 200 <= code < 300
            self._append(
                {
                    "job_id": job_id,
                    "delivery": delivery,
                    "event": event,
                    "key": key,
                    "url": url,
                    "attempt": attempt,
                    "status_code": code,
                    "error": error,
                    "ok": ok,
                    "at": time.time(),
                }
            )
            retry = error is not None or code >= 500 or code in RETRY_STATUS
            if (
                ok
                or not retry
                or attempt == self.attempts
                or self._stop.wait(self.backoff * 2 ** (attempt - 1))
            ):
                return ok
        return False

    def _append(self, row: dict) -> None:
        with self._lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def _log_rows(self, job_id: str) -> list[dict]:
        try:
            lines = Path(self.log_path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        rows = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:  # a line cut short by a crash
                continue
            if row.get("job_id") == job_id:
                rows.append(row)
        return rows

    def deliveries(self, job_id: str) -> list[dict]:
        """One entry per delivery (its last attempt), oldest first."""
        last: dict[str, dict] = {}
        for row in self._log_rows(job_id):
            last[row["delivery"]] = row
        return [
            {
                "id": r["delivery"],
                "event": r["event"],
                "attempts": r["attempt"],
                "ok": r["ok"],
                "status_code": r["status_code"],
                "error": r["error"],
                "at": r["at"],
            }
            for r in last.values()
        ]
