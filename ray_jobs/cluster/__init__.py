"""A local Ray head for job submission: ``neuralforge cluster up|status|down``.

``up()`` runs ``ray start --head --block`` as a child in a session of its own (its PID is the
session id), with the dashboard, GCS and every agent on 127.0.0.1, free ports, a small object
store, a private ``--temp-dir`` (so a plain ``ray.init()`` elsewhere on the host does not attach to
it) and token authentication; its processes get ``RAY_ADDRESS`` of this head, so Ray's own
address look-ups inside tasks never pick another Ray on the host. They also get this home's
store as absolute values (``Settings.store_env``: data home, storage, MLflow tracking URI, S3
endpoint), so a job submitted with Ray's own ``ray job submit``, from any working directory,
records where the dashboard and ``neuralforge runs`` look. What it started is written to
``<home>/cluster.json``. (The dashboard and job server listen on 127.0.0.1 only; Ray gives no
option to bind GCS and raylet gRPC servers to one interface, so those rely on the token.)

``down()`` stops only those processes: the ones recorded at start (checked by PID *and* creation
time, so a reused PID is never touched), every process still in the head's session (Ray's
GCS, raylet, dashboard, agents and workers inherit it), and their descendants (job drivers, which
Ray's job supervisor starts in sessions of their own). SIGTERM, then SIGKILL after a grace period.
It never runs ``ray stop``, which would kill every Ray on the host.

>>> state_path(Path("/tmp/nf"))
PosixPath('/tmp/nf/cluster.json')
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from neural_engine.errors import ClusterError
from neural_engine.progress import SILENT, Progress
from neural_engine.settings import Settings, settings

DEFAULT_OBJECT_STORE_MB = 256
MIN_OBJECT_STORE_MB = 80  # Ray refuses less than 75 MiB
LOOPBACK = "127.0.0.1"


def state_path(home: Path | None = None) -> Path:
    return (home or settings().home) / "cluster.json"


# -- token authentication ----------------------------------------------------------------------


def _token_file() -> Path:
    """Where Ray reads a token file from: ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def auth_token() -> str | None:
    """The token Ray's own loader finds (``RAY_AUTH_TOKEN``, else the file of
    ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``), or None when there is none."""
    from ray._raylet import AuthenticationTokenLoader
    from ray.exceptions import AuthenticationError

    loader = AuthenticationTokenLoader.instance()
    loader.reset_cache()  # the environment may have changed since the last call
    try:
        if not loader.has_token(ignore_auth_mode=True):
            return None
        return loader.get_raw_token(ignore_auth_mode=True) or None
    except AuthenticationError:  # RAY_AUTH_TOKEN_PATH names a missing or empty file
        return None


def token_source() -> str:
    """Where the token comes from, for messages (never the token itself)."""
    return "the RAY_AUTH_TOKEN variable" if os.environ.get("RAY_AUTH_TOKEN") else str(_token_file())


def ensure_auth_token() -> str:
    """The token, generating one (like ``ray get-auth-token --generate``) where Ray looks for it."""
    token = auth_token()
    if token:
        return token
    path = _token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32)  # 256 bits, as Ray's own generator
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


# -- state --------------------------------------------------------------------------------------


def read_state(path: Path, parse, error: type, written_by: str, gone: str):
    """``parse(JSON of path)``; None when there is no file; ``error`` saying what to do when it is
    unreadable (``written_by``: the command that writes it; ``gone``: when deleting it is safe)."""
    try:
        return parse(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as e:
        raise error(
            f"{path} must be the state file written by `{written_by}`; it is unreadable ({e})",
            hint=f"delete {path} if {gone}",
        ) from None


def with_processes(data: dict) -> dict:
    """A state's ``processes`` with their PIDs as ints again (JSON keys are strings)."""
    return {**data, "processes": {int(k): v for k, v in data.get("processes", {}).items()}}


def write_state(path: Path, state) -> None:
    """``state`` (a dataclass) as JSON at ``path``, replaced atomically (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)


@dataclass
class ClusterState:
    """What ``up()`` started; JSON in ``<home>/cluster.json``."""

    pid: int  # the `ray start --block` process; also the session id of its tree
    create_time: float  # psutil creation time of ``pid`` (guards against PID reuse)
    gcs_address: str  # 127.0.0.1:PORT, for ray.init(address=...)
    dashboard_url: str  # http://127.0.0.1:PORT, for RAY_ADDRESS of `ray job submit`
    ports: dict[str, int]
    temp_dir: str
    log: str
    num_cpus: int
    object_store_mb: int
    started_at: float
    processes: dict[int, float] = field(default_factory=dict)  # pid -> create_time
    store: dict[str, str] = field(default_factory=dict)  # Settings.store_env() its jobs inherit

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        return read_state(
            path,
            lambda data: cls(**with_processes(data)),
            ClusterError,
            "neuralforge cluster up",
            "no head runs",
        )

    def save(self, path: Path) -> None:
        write_state(path, self)


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    state: ClusterState | None
    alive: tuple[int, ...] = ()  # our processes still running
    message: str = ""

    def to_json(self) -> dict:
        s = self.state
        return {
            "running": self.running,
            "message": self.message,
            "alive_pids": list(self.alive),
            **(
                {
                    "dashboard_url": s.dashboard_url,
                    "gcs_address": s.gcs_address,
                    "pid": s.pid,
                    "num_cpus": s.num_cpus,
                    "object_store_mb": s.object_store_mb,
                    "temp_dir": s.temp_dir,
                    "log": s.log,
                }
                if s
                else {}
            ),
        }


# -- processes ----------------------------------------------------------------------------------


def same_process(pid: int, create_time: float, zombie_ok: bool = False):
    """``psutil.Process(pid)`` if that PID still is the (running) process created at ``create_time``."""
    import psutil

    try:
        p = psutil.Process(pid)
        same = abs(p.create_time() - create_time) < 0.05
        return p if same and (zombie_ok or p.status() != psutil.STATUS_ZOMBIE) else None
    except psutil.Error:
        return None


def head_alive(state: ClusterState) -> bool:
    """Whether the `ray start --block` process of ``state`` still runs."""
    return same_process(state.pid, state.create_time) is not None


def own_processes(state: ClusterState) -> list:
    """Live processes ``up()`` started: recorded ones, the head's session, and their descendants."""
    import psutil

    found = {}
    for pid, ctime in {state.pid: state.create_time, **state.processes}.items():
        if (p := same_process(pid, ctime)) is not None:
            found[p.pid] = p
    # The session id stays allocated while any member lives, so members of session `state.pid`
    # are ours unless that PID now belongs to a different process (then our session is gone).
    leader_reused = psutil.pid_exists(state.pid) and not same_process(state.pid, state.create_time, True)
    if not leader_reused:
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == state.pid and p.create_time() >= state.create_time - 0.05:
                    found[p.pid] = p
            except (OSError, psutil.Error):
                continue
    for p in list(found.values()):
        try:
            found.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.Error:
            continue
    return [p for p in found.values() if _alive(p)]


def _alive(p) -> bool:
    import psutil

    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_processes(procs: list, grace: float) -> None:
    """SIGTERM the first of ``procs`` (the `ray start --block` parent shuts its children down),
    then the rest after ``grace`` s, then SIGKILL what is left."""
    import psutil

    for group, sig, wait in (
        (procs[:1], signal.SIGTERM, grace),
        (procs, signal.SIGTERM, grace / 2),
        (procs, signal.SIGKILL, 5),
    ):
        for p in group:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass
        procs = wait_gone(procs, wait)
        if not procs:
            return


def wait_gone(procs: list, timeout: float) -> list:
    """The processes still alive after up to ``timeout`` s (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while (procs := [p for p in procs if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return procs


# -- up / status / down -------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _ray_start_command(
    ports: dict[str, int], num_cpus: int, object_store_mb: int, temp_dir: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        LOOPBACK,
        "--port",
        str(ports["gcs"]),
        "--include-dashboard",
        "true",
        "--dashboard-host",
        LOOPBACK,
        "--dashboard-port",
        str(ports["dashboard"]),
        "--dashboard-agent-listen-port",
        str(ports["agent_http"]),
        "--dashboard-agent-grpc-port",
        str(ports["agent_grpc"]),
        "--runtime-env-agent-port",
        str(ports["runtime_env_agent"]),
        "--metrics-export-port",
        str(ports["metrics"]),
        "--ray-client-server-port",
        str(ports["client"]),
        "--min-worker-port",
        "0",
        "--max-worker-port",
        "0",  # OS-chosen: no clash with other heads
        "--num-cpus",
        str(num_cpus),
        "--object-store-memory",
        str(object_store_mb * 2**20),
        "--temp-dir",
        temp_dir,
        "--disable-usage-stats",
    ]


def _exited(proc: subprocess.Popen, log: Path) -> str:
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    return (
        f"`ray start --head` must keep running; it exited with status {proc.returncode}. "
        f"Its log ({log}) ends:\n{tail}"
    )


def _wait_ready(
    proc: subprocess.Popen, url: str, token: str, log: Path, timeout: float, progress: Progress = SILENT
) -> None:
    import requests

    deadline = time.monotonic() + timeout
    with progress.waiting(f"waiting for the Ray head at {url}") as w:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ClusterError(_exited(proc, log))
            try:
                r = requests.get(f"{url}/api/jobs/", headers={"Authorization": f"Bearer {token}"}, timeout=2)
                if r.status_code == 200:
                    w.state("ready")
                    return
                w.state(f"its job server answers {r.status_code}")
            except requests.RequestException:
                w.state("starting (its job server does not answer yet)")
            time.sleep(0.5)
    raise ClusterError(
        f"the Ray head's job server must answer at {url} within {timeout:g} s; it did not (log: {log})",
        hint="the machine may be overloaded; try a longer --timeout",
    )


def up(
    num_cpus: int | None = None,
    object_store_mb: int = DEFAULT_OBJECT_STORE_MB,
    dashboard_port: int | None = None,
    port: int | None = None,
    timeout: float = 90,
    progress: Progress = SILENT,
) -> ClusterState:
    """Start a local Ray head (or return the one already running for this home).

    Jobs reach it at ``state.dashboard_url`` with the token of :func:`auth_token`; ``progress``
    reports the wait for it.
    """
    import psutil

    if object_store_mb < MIN_OBJECT_STORE_MB:
        raise ClusterError(
            f"the object store must be at least {MIN_OBJECT_STORE_MB} MB; received {object_store_mb}"
        )
    path = state_path()
    current = status()
    if current.running:
        return current.state
    if current.state is not None:  # stale: clear what is left of it first
        down()
    token = ensure_auth_token()
    num_cpus = num_cpus or os.cpu_count() or 1
    names = ("gcs", "dashboard", "agent_http", "agent_grpc", "runtime_env_agent", "metrics", "client")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    ports.update({k: v for k, v in (("dashboard", dashboard_port), ("gcs", port)) if v})
    # Short and private: Ray's socket paths must stay under 107 characters.
    temp_dir = tempfile.mkdtemp(prefix="nf-ray-", dir="/tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.parent / "cluster.log"
    store = settings().store_env()
    env = {
        **os.environ,
        **store,
        "RAY_AUTH_MODE": "token",
        # Tasks and actors inherit this: Ray's state API (used inside Ray Train) otherwise
        # guesses the cluster and fails when another Ray runs on the host.
        "RAY_ADDRESS": f"{LOOPBACK}:{ports['gcs']}",
        # `python` in job entry points is this environment's interpreter
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("RAY_API_SERVER_ADDRESS", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            _ray_start_command(ports, num_cpus, object_store_mb, temp_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:  # exited at once; the log says why
        proc.wait()
        raise ClusterError(_exited(proc, log)) from None
    state = ClusterState(
        pid=proc.pid,
        create_time=created,
        gcs_address=f"{LOOPBACK}:{ports['gcs']}",
        dashboard_url=f"http://{LOOPBACK}:{ports['dashboard']}",
        ports=ports,
        temp_dir=temp_dir,
        log=str(log),
        num_cpus=num_cpus,
        object_store_mb=object_store_mb,
        started_at=time.time(),
        store=store,
    )
    state.save(path)  # before waiting: a failed start is still cleaned up by down()
    try:
        _wait_ready(proc, state.dashboard_url, token, log, timeout, progress)
    except BaseException:
        down()
        raise
    state.processes = {p.pid: p.create_time() for p in own_processes(state)}
    state.save(path)
    return state


def submit_line(
    state: ClusterState,
    command: str = "python -m ray_jobs.train --template mnist_cnn --dataset digits --smoke-test",
) -> str:
    """The exact ``ray job submit`` command line for this head (Ray's own CLI, token mode).

    >>> s = ClusterState(1, 0.0, "127.0.0.1:6379", "http://127.0.0.1:8265", {}, "/tmp/r", "log", 2, 256, 0.0)
    >>> submit_line(s, "python -m ray_jobs.train --help")
    'RAY_ADDRESS=http://127.0.0.1:8265 RAY_AUTH_MODE=token ray job submit --working-dir . -- python -m ray_jobs.train --help'
    """
    return (
        f"RAY_ADDRESS={state.dashboard_url} RAY_AUTH_MODE=token ray job submit --working-dir . -- {command}"
    )


def store_differs(state: ClusterState, s: Settings | None = None) -> list[str]:
    """The store settings of this process that differ from the ones the running head's jobs
    inherited (``neuralforge jobs submit`` passes its own; ``ray job submit`` jobs use the head's).

    >>> a = Settings.from_env({"NEURALFORGE_HOME": "/a", "NEURALFORGE_STORAGE": "s3://b/p"})
    >>> st = ClusterState(1, 0.0, "g", "d", {}, "t", "l", 1, 80, 0.0, store=a.store_env())
    >>> store_differs(st, Settings.from_env({"NEURALFORGE_HOME": "/a"}))
    ['NEURALFORGE_STORAGE']
    """
    mine = (s or settings()).store_env()
    return sorted(k for k in {*mine, *state.store} if state.store and mine.get(k) != state.store.get(k))


def status() -> ClusterStatus:
    """Whether the head recorded for this home runs, and which of its processes live."""
    path = state_path()
    state = ClusterState.load(path)
    if state is None:
        return ClusterStatus(False, None, message=f"no cluster started from {path.parent}")
    alive = tuple(sorted(p.pid for p in own_processes(state)))
    if not head_alive(state):
        return ClusterStatus(
            False,
            state,
            alive,
            message=f"stale: the head (pid {state.pid}) is gone; `neuralforge cluster down` clears it",
        )
    return ClusterStatus(True, state, alive, message=f"running at {state.dashboard_url}")


def down(grace: float = 10) -> list[int]:
    """Stop what ``up()`` started (and nothing else); the PIDs that were running. Idempotent."""
    path = state_path()
    state = ClusterState.load(path)
    if state is None:
        return []
    stopped = []
    for _ in range(3):  # a worker may be forked while we stop its parent: sweep again
        procs = own_processes(state)
        if not procs:
            break
        procs.sort(key=lambda p: p.pid != state.pid)  # the head first: it stops its children
        stopped += [p.pid for p in procs]
        stop_processes(procs, grace)
    if own_processes(state):
        raise ClusterError(
            f"the Ray head's processes must stop; {[p.pid for p in own_processes(state)]} are still running",
            hint=f"state kept in {path}; run down again",
        )
    path.unlink(missing_ok=True)
    if Path(state.temp_dir).name.startswith("nf-ray-"):
        shutil.rmtree(state.temp_dir, ignore_errors=True)
    return sorted(set(stopped))
