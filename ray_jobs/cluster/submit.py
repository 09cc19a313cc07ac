"""Job control on Ray's ``JobSubmissionClient``: submit, status, logs, stop, list, wait.

The cluster is, in order: the ``address`` argument, ``RAY_ADDRESS`` (the settings' ``ray_address``;
the dashboard URL ``http://HOST:8265``), else the local head of ``neuralforge cluster up``.
Ray's token authentication is handled here: the token Ray's own loader finds (``RAY_AUTH_TOKEN``,
the file ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``) goes in the ``Authorization``
header, whatever ``RAY_AUTH_MODE`` says. Every failure is a :class:`JobError` with a fix.

>>> entrypoint(["python", "-m", "ray_jobs.train", "--run-name", "first try"])
"python -m ray_jobs.train --run-name 'first try'"
"""

from __future__ import annotations

import os
import secrets
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from neural_engine.errors import JobError
from neural_engine.progress import SILENT, Progress
from neural_engine.settings import Settings, settings
from ray_jobs import cluster

EXCLUDES = (
    ".venv",
    ".git",
    ".neuralforge",
    "__pycache__",
    "*.pyc",
    "*.onnx",
    "mlruns",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    "build",
    "dist",
    "benchmarks/results",
    "node_modules",
)
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
FIX_ADDRESS = (
    "run `neuralforge cluster up`, or set RAY_ADDRESS to the cluster's dashboard URL (http://HOST:8265)"
)
FIX_TOKEN = (
    "put the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN (on the head, "
    "`ray get-auth-token` prints it)"
)


@dataclass(frozen=True)
class Job:
    id: str  # the submission id
    status: str  # PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED
    entrypoint: str
    message: str = ""
    user: str = ""
    kind: str = ""  # what submitted it: train, tune, reproduce (metadata), else ""
    start_time: float | None = None  # seconds since the epoch
    end_time: float | None = None
    epochs: int | None = None  # planned epochs of a training job (metadata), if known

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_details(cls, d) -> Job:
        return cls(
            id=d.submission_id or d.job_id or "",
            status=str(d.status),
            entrypoint=d.entrypoint,
            message=d.message or "",
            user=(d.metadata or {}).get("user", ""),
            kind=(d.metadata or {}).get("kind", ""),
            epochs=int((d.metadata or {})["epochs"])
            if str((d.metadata or {}).get("epochs", "")).isdigit()
            else None,
            start_time=d.start_time / 1000 if d.start_time else None,
            end_time=d.end_time / 1000 if d.end_time else None,
        )


def entrypoint(args: Sequence[str] | str) -> str:
    """The shell command Ray runs: the arguments quoted for the shell (a string stays as is)."""
    if isinstance(args, str):
        return args
    if not args:
        raise JobError(
            "the job needs an entry point; received none",
            hint="put it after `--`: neuralforge jobs submit -- python -m ray_jobs.train …",
        )
    return shlex.join(args)


def resolve_address(address: str | None = None, s: Settings | None = None) -> str:
    """The cluster to talk to (see the module doc), or a JobError saying how to get one."""
    s = s or settings()
    if address or s.ray_address:
        return address or s.ray_address
    path = cluster.state_path(s.home)
    head = cluster.ClusterState.load(path)
    if head is not None and cluster.head_alive(head):
        return head.dashboard_url
    if head is not None:
        raise JobError(
            f"the local Ray head recorded in {path} must be running; its process {head.pid} is gone",
            hint="run `neuralforge cluster up`",
        )
    raise JobError(
        "a Ray cluster is needed; none is given (no address, no RAY_ADDRESS) and "
        f"`neuralforge cluster up` was not run for {s.home}",
        hint=FIX_ADDRESS,
    )


@contextmanager
def _errors(address: str, job_id: str | None = None) -> Iterator[None]:
    """Ray's exceptions as JobErrors that say what to do."""
    import requests
    from ray.exceptions import AuthenticationError

    try:
        yield
    except AuthenticationError as e:
        refused = "failed" in str(e).split("\n", 1)[0]  # 403: a token was sent and is wrong
        raise JobError(
            f"the Ray cluster at {address} requires its authentication token; "
            + ("the token sent was refused" if refused else "none was found"),
            hint=FIX_TOKEN,
        ) from None
    except (ConnectionError, requests.RequestException) as e:
        raise JobError(
            f"the Ray cluster must be reachable at {address}; it is not ({type(e).__name__})",
            hint=FIX_ADDRESS,
        ) from None
    except RuntimeError as e:
        text = str(e)
        if job_id is not None and ("404" in text or "does not exist" in text):
            raise JobError(
                f"the job must exist on the cluster at {address}; no job has the id {job_id!r}",
                hint="`neuralforge jobs list` shows the jobs",
            ) from None
        raise JobError(f"the Ray job server at {address} refused the request: {text}") from None
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise JobError(f"the job request must be valid; Ray refused it: {e}") from None


def client(address: str | None = None):
    """A ``JobSubmissionClient`` for the resolved address, with the token header when there is one."""
    from ray.job_submission import JobSubmissionClient

    address = resolve_address(address)
    token = cluster.auth_token()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    # Ray lets RAY_ADDRESS/RAY_API_SERVER_ADDRESS override the address argument; ours has
    # already taken RAY_ADDRESS into account, so an explicit address must win.
    saved = {k: os.environ.pop(k) for k in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS") if k in os.environ}
    try:
        with _errors(address):
            return JobSubmissionClient(address, headers=headers)
    finally:
        os.environ.update(saved)


def job_env(address: str, s: Settings | None = None) -> dict[str, str]:
    """Environment a job gets from its submitter: the user, and where to track and store.

    On a loopback head the job runs on this machine, so this home's absolute paths are passed
    (the job's working directory is Ray's copy, where a relative home would be lost). Elsewhere
    only what the submitter set explicitly travels; the cluster's own environment fills the rest.
    """
    s = s or settings()
    env = {"NEURALFORGE_USER": s.user}
    host = urlparse(address if "://" in address else f"http://{address}").hostname
    if host in ("127.0.0.1", "localhost", "::1"):
        env.update(s.store_env())
    else:
        env.update(
            {k: os.environ[k] for k in ("MLFLOW_TRACKING_URI", "NEURALFORGE_STORAGE") if os.environ.get(k)}
        )
        env.update(s.s3_client_env())
    return env


def submit(
    entrypoint_args: Sequence[str] | str,
    *,
    address: str | None = None,
    working_dir: str | Path | None = ".",
    excludes: Sequence[str] = EXCLUDES,
    env_vars: Mapping[str, str] | None = None,
    submission_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Submit a job; its submission id. ``working_dir`` is uploaded (minus ``excludes``) and is
    the job's current directory; ``env_vars`` add to (and override) :func:`job_env`. The job sees
    its own id as ``NEURALFORGE_JOB_ID`` (training tags its MLflow run with it); ``metadata``
    (e.g. ``{"kind": "train"}``) is kept by Ray beside the user.

    For example ``submit(["python", "-c", "print('hi')"], working_dir="/tmp/w")`` returns
    ``'raysubmit_…'`` (``tests/test_jobs.py`` runs it against a real Ray cluster).
    """
    command = entrypoint(entrypoint_args)
    c = client(address)
    submission_id = submission_id or f"raysubmit_{secrets.token_hex(8)}"
    env = runtime_env(c.get_address(), submission_id, working_dir, excludes, env_vars)
    with _errors(c.get_address()):
        return c.submit_job(
            entrypoint=command,
            runtime_env=env,
            submission_id=submission_id,
            metadata={
                **(metadata or {}),
                "user": (env_vars or {}).get("NEURALFORGE_USER") or settings().user,
            },
        )


def runtime_env(
    address: str,
    submission_id: str,
    working_dir: str | Path | None = ".",
    excludes: Sequence[str] = EXCLUDES,
    env_vars: Mapping[str, str] | None = None,
) -> dict:
    """The runtime environment of job ``submission_id`` on ``address`` (see :func:`submit`)."""
    env: dict = {"env_vars": {**job_env(address), **(env_vars or {}), "NEURALFORGE_JOB_ID": submission_id}}
    if working_dir is not None:
        path = Path(working_dir).expanduser().absolute()
        if not path.is_dir():
            raise JobError(f"the working directory must be a directory; received {path}")
        env.update(working_dir=str(path), excludes=list(excludes))
    return env


def status(job_id: str, *, address: str | None = None) -> Job:
    """The job's status, message and times."""
    c = client(address)
    with _errors(c.get_address(), job_id):
        return Job.from_details(c.get_job_info(job_id))


def logs(job_id: str, *, tail: int | None = None, address: str | None = None) -> str:
    """The job's output so far (its last ``tail`` lines)."""
    c = client(address)
    with _errors(c.get_address(), job_id):
        text = c.get_job_logs(job_id)
    return "".join(text.splitlines(keepends=True)[-tail:]) if tail else text


def stop(job_id: str, *, address: str | None = None) -> bool:
    """Ask the job to stop (SIGTERM, then SIGKILL); False when it had already ended."""
    c = client(address)
    with _errors(c.get_address(), job_id):
        return c.stop_job(job_id)


def list_jobs(*, address: str | None = None) -> list[Job]:
    """The submitted jobs of the cluster, oldest first."""
    c = client(address)
    with _errors(c.get_address()):
        details = c.list_jobs()
    jobs = [Job.from_details(d) for d in details if d.submission_id]
    return sorted(jobs, key=lambda j: j.start_time or 0)


def wait(
    job_id: str,
    *,
    timeout: float = 600,
    address: str | None = None,
    poll: float = 0.5,
    on_logs: Callable[[str], None] | None = None,
    progress: Progress = SILENT,
) -> Job:
    """Poll until the job ends; the final :class:`Job`, or a JobError after ``timeout`` s. Each
    status change is a ``progress`` line; ``on_logs(text)`` gets the job's output as it grows (the
    new text only, the last of it once the job has ended)."""
    c = client(address)
    deadline, shown = time.monotonic() + timeout, 0
    with progress.waiting(f"job {job_id}") as w:
        while True:
            with _errors(c.get_address(), job_id):
                job = Job.from_details(c.get_job_info(job_id))
                # read after the status: once it says ended, these logs are complete
                text = c.get_job_logs(job_id) if on_logs is not None else ""
            if len(text) > shown:
                on_logs(text[shown:])
                shown = len(text)
            w.state(f"{job.status} {job.message}".strip() if job.done else job.status)
            if job.done:
                return job
            if time.monotonic() > deadline:
                raise JobError(
                    f"job {job_id} must end within {timeout:g} s; it is still {job.status}",
                    hint=f"`neuralforge jobs stop {job_id}` stops it",
                )
            time.sleep(poll)
