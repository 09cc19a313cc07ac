"""Webhooks: ``started``, ``progress`` (one per epoch), ``completed`` and ``failed`` POSTed to a
job's ``webhook_url``, signed, retried with exponential backoff, every attempt logged.

The events come from watching the real job (:class:`ray_jobs.api.jobs.JobObserver`: Ray's job
status and the MLflow run's metrics), one thread per watched job in the API process; a restarted
API resumes the unfinished jobs that carry a webhook and skips what was already delivered.

Several API processes (behind one load balancer) all watch every such job, but one at a time
delivers its webhooks: the holder of the job's :class:`Lease` in the store (``NEURALFORGE_STORAGE``,
which they must share). The others wait and take the lease over when its holder stops renewing it
(killed, or cut off from the store). A delivery is recorded in the store once the receiver took it
(``api/webhooks/<job>/done/<event>``) and never sent again, whichever process holds the lease.

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
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from neural_engine.data.storage import Storage, open_storage
from neural_engine.errors import NeuralForgeError, ValidationError
from neural_engine.settings import Settings
from ray_jobs.api.jobs import EPOCH_METRICS, JobObserver
from ray_jobs.api.lease import Lease

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

    if not hosts:
        return
    host = (urlparse(url).hostname or "").lower()
    if not any(host == h or (h.startswith(".") and host.endswith(h)) for h in hosts):
        raise ValidationError(
            f"webhook_url's host must be one NEURALFORGE_WEBHOOK_HOSTS allows "
            f"({', '.join(hosts)}); received {host or url}"
        )


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


def _done_key(job_id: str, key: str) -> str:
    return f"api/webhooks/{job_id}/done/{key.replace(':', '-')}"


class Webhooks:
    """Watches jobs and delivers their events (while holding each job's :class:`Lease`, ``lease``
    seconds long); every attempt is logged as a JSON line, every delivery taken recorded in the store."""

    def __init__(
        self,
        s: Settings,
        *,
        poll: float = 1.0,
        attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 10.0,
        lease: float = 30.0,
    ):
        self.settings, self.poll, self.attempts, self.backoff, self.timeout = (
            s,
            poll,
            attempts,
            backoff,
            timeout,
        )
        if lease < 2 * timeout:
            raise ValidationError(
                f"the webhook lease must last at least twice the delivery timeout "
                f"({2 * timeout:g} s); received lease={lease:g}"
            )
        self.lease = lease
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"  # this process
        self.log_path = s.home / "api" / "webhooks.jsonl"
        self._store: Storage | None = None
        self._secret: str | None = None
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = secret(self.settings)
        return self._secret

    @property
    def store(self) -> Storage:
        if self._store is None:
            self._store = open_storage(settings=self.settings)
        return self._store

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
        """Watch the unfinished jobs with a webhook, now and again every lease term: a job another
        API process submitted is watched here too, to take over should that process die."""

        def scan():
            from ray_jobs.api.jobs import watched_jobs

            first = True
            while first or not self._stop.wait(self.lease):
                try:
                    for job_id, url in watched_jobs():
                        self.watch(job_id, url)
                except NeuralForgeError as e:
                    level = logging.INFO if first else logging.DEBUG
                    log.log(level, "no jobs to resume webhooks for: %s", e.message)
                first = False

        threading.Thread(target=scan, name="webhook-resume", daemon=True).start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for t in list(self._threads.values()):
            t.join(timeout)

    def _run(self, job_id: str, url: str) -> None:
        """Wait for the job's lease, deliver while holding it, until the job's webhooks are finished."""
        lease = Lease(self.store, job_id, self.owner, self.lease)
        finished = f"api/webhooks/{job_id}/finished"
        try:
            while not self._stop.is_set():
                try:
                    if self.store.exists(finished):
                        return
                    if lease.acquire() and not self.store.exists(finished):
                        lease.keep(self._stop)
                        if self._deliver_held(job_id, url, lease):
                            self.store.create(finished, b"")
                            return
                except (NeuralForgeError, OSError) as e:  # the store: try again
                    log.warning("webhooks of %s: %s", job_id, getattr(e, "message", e))
                self._stop.wait(self.lease / 3)
        finally:
            try:
                lease.release()
            except (NeuralForgeError, OSError) as e:
                log.warning("handing back the webhook lease of %s: %s", job_id, getattr(e, "message", e))

    def _deliver_held(self, job_id: str, url: str, lease: Lease) -> bool:
        """Deliver the job's events not delivered yet while ``lease`` is held; True once the job ended."""
        observer, mapper = JobObserver(job_id, self.settings), EventMapper()
        done = self.delivered(job_id)
        mapper.started = "started" in done
        while lease.held and not self._stop.is_set():
            try:
                events = observer.poll()
            except NeuralForgeError as e:
                log.warning("webhook watch of %s: %s", job_id, e.message)
                if "no job has the id" in e.message:
                    return True
                self._stop.wait(self.poll * 5)
                continue
            for name, key, data in (out for event in events for out in mapper(event, observer)):
                if key in done:
                    continue
                if self.deliver(job_id, url, name, key, data, observer, lease=lease):
                    done.add(key)
                    self.store.create(_done_key(job_id, key), b"")
                elif lease.remaining() <= self.timeout:  # not sent: start over, a new observer replays it
                    return False
            if observer.done:
                return True
            self._stop.wait(self.poll)
        return False

    def delivered(self, job_id: str) -> set[str]:
        """The keys of the job's events a receiver took (``started``, ``progress:3``, ...)."""
        prefix = _done_key(job_id, "")
        marked = {k.removeprefix(prefix).replace("-", ":") for k in self.store.list(prefix)}
        return marked | {d["key"] for d in self._log_rows(job_id) if d["ok"]}

    def deliver(
        self,
        job_id: str,
        url: str,
        event: str,
        key: str,
        data: dict,
        observer=None,
        *,
        lease: Lease | None = None,
    ) -> bool:
        """POST one event, retrying transport errors, 5xx and 408/425/429 with exponential backoff
        (an attempt only while ``lease`` is held for longer than it may take)."""
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
            if lease is not None and lease.remaining() <= self.timeout:  # it could still run when lost
                return False
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
