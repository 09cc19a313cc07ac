"""An MLflow tracking server on PostgreSQL: ``neuralforge tracking up|status|down``.

``up()`` starts ``mlflow server`` as a child in a session of its own, on a free loopback port,
its runs in PostgreSQL and its artifacts under ``<storage>/mlartifacts`` (the root training
already gives its experiments, so the server's proxy and the clients agree; ``s3://`` storage
works the same). Every machine then only needs ``MLFLOW_TRACKING_URI=http://HOST:PORT``.

Without a database URL it runs a PostgreSQL of its own: a cluster in ``<home>/postgres``
(``initdb`` once), its postmaster a second child in its own session, listening on no TCP port —
only on a Unix socket in a private ``/tmp/nf-pg-*`` folder (mode 700, trust authentication
there, TCP rejected in ``pg_hba.conf``), so only this user reaches it. PostgreSQL refuses to
run as root: under root the cluster and its postmaster belong to the ``postgres`` system user
(Debian's package creates it), who must be able to enter the data folder (``--pgdata``).
With ``--database-url`` (or ``MLFLOW_BACKEND_STORE_URI``) it uses that database instead.

What it started is written to ``<home>/tracking.json``; ``down()`` stops exactly those
processes (PID *and* creation time, their sessions, their descendants), the database with a
fast shutdown. The database's files stay: the next ``up()`` serves the same runs. The database
itself (URL checks, the local cluster) is :mod:`ray_jobs.cluster.postgres`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from neural_engine.errors import TrackingServerError
from neural_engine.progress import emit
from neural_engine.settings import settings
from ray_jobs import cluster
from ray_jobs.cluster import postgres as pg
from ray_jobs.train.setup import _artifact_root  # where training puts its experiments' artifacts

LOOPBACK = "127.0.0.1"


# -- state --------------------------------------------------------------------------------------


@dataclass
class Child:
    """A process ``up()`` started in its own session (the fields ``cluster.own_processes`` reads)."""

    pid: int
    create_time: float
    processes: dict[int, float] = field(default_factory=dict)  # pid -> create_time, once ready


@dataclass
class TrackingState:
    """What ``up()`` started; JSON in ``<home>/tracking.json``."""

    url: str  # MLFLOW_TRACKING_URI of the server
    database: str  # the backend store, password masked
    artifacts: str  # --artifacts-destination
    log: str
    started_at: float
    server: Child | None = None  # `mlflow server`
    postgres: Child | None = None  # our postmaster (None with --database-url)
    pgdata: str | None = None
    socket_dir: str | None = None

    @classmethod
    def load(cls, path: Path) -> TrackingState | None:
        def parse(data: dict) -> TrackingState:
            children = {
                k: Child(**cluster.with_processes(data[k])) for k in ("server", "postgres") if data.get(k)
            }
            return cls(**{**data, **children})

        return cluster.read_state(
            path, parse, TrackingServerError, "neuralforge tracking up", "no server runs"
        )

    def save(self, path: Path) -> None:
        cluster.write_state(path, self)

    def children(self) -> list[Child]:
        return [c for c in (self.server, self.postgres) if c is not None]


@dataclass(frozen=True)
class TrackingStatus:
    running: bool
    state: TrackingState | None
    alive: tuple[int, ...] = ()
    message: str = ""

    def to_json(self) -> dict:
        s = self.state
        return {
            "running": self.running,
            "message": self.message,
            "alive_pids": list(self.alive),
            **(
                {
                    "url": s.url,
                    "database": s.database,
                    "artifacts": s.artifacts,
                    "log": s.log,
                    "pgdata": s.pgdata,
                }
                if s
                else {}
            ),
        }


def state_path(home: Path | None = None) -> Path:
    return (home or settings().home) / "tracking.json"


# -- the local PostgreSQL -----------------------------------------------------------------------


def _start(
    command: list[str], log: Path, env: dict | None = None, **kwargs
) -> tuple[subprocess.Popen, Child]:
    """``command`` in a session of its own, its output appended to ``log``."""
    import psutil

    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            **kwargs,
        )
    try:
        return proc, Child(proc.pid, psutil.Process(proc.pid).create_time())
    except psutil.Error:  # exited at once; the log says why
        proc.wait()
        raise TrackingServerError(_exited(command[0], proc, log)) from None


def _exited(what: str, proc: subprocess.Popen, log: Path) -> str:
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    return f"{Path(what).name} must keep running; it exited with status {proc.returncode}. Its log ({log}) ends:\n{tail}"


def _wait_postgres(proc: subprocess.Popen, socket_dir: str, log: Path, timeout: float) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise TrackingServerError(_exited("postgres", proc, log))
        try:
            pg.connect(socket_dir, "postgres").close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise TrackingServerError(
                    f"PostgreSQL must accept connections within {timeout:g} s; it did not (log: {log})",
                    hint="try a longer --timeout",
                ) from None
            time.sleep(0.2)


def _start_postgres(
    state: TrackingState, pgdata: Path, run_as: dict, log: Path, path: Path, timeout: float
) -> str:
    bindir = pg.postgres_bin()
    pg.init_cluster(bindir, pgdata, run_as)
    # Short and private: a socket path must stay under 107 characters.
    state.socket_dir = tempfile.mkdtemp(prefix="nf-pg-", dir="/tmp")
    pg.own_folder(Path(state.socket_dir), run_as)
    proc, state.postgres = _start(
        [
            str(bindir / "postgres"),
            "-D",
            str(pgdata),
            "-p",
            str(pg.PG_SOCKET_PORT),
            "-c",
            "listen_addresses=",
            "-c",
            f"unix_socket_directories={state.socket_dir}",
            "-c",
            "unix_socket_permissions=0700",
        ],
        log,
        cwd=pgdata,
        **run_as,
    )
    state.save(path)  # before waiting: a failed start is still cleaned up by down()
    _wait_postgres(proc, state.socket_dir, log, timeout)
    pg.create_database(state.socket_dir)
    return pg.local_database_uri(state.socket_dir)


# -- the MLflow server --------------------------------------------------------------------------


def _server_command(
    host: str, port: int, workers: int, artifacts: str, allowed_hosts: str | None
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--artifacts-destination",
        artifacts,
        *(["--allowed-hosts", allowed_hosts] if allowed_hosts else []),
    ]


def _wait_http(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TrackingServerError(_exited("mlflow server", proc, log))
        try:
            with opener.open(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.3)
    raise TrackingServerError(
        f"the MLflow server must answer at {url}/health within {timeout:g} s; it did not (log: {log})",
        hint="the machine may be overloaded; try a longer --timeout",
    )


def up(
    database_url: str | None = None,
    *,
    port: int | None = None,
    host: str = LOOPBACK,
    workers: int = 2,
    pgdata: str | Path | None = None,
    allowed_hosts: str | None = None,
    timeout: float = 90,
) -> TrackingState:
    """Start the tracking server (and, without ``database_url``, its PostgreSQL), or return the one
    already running for this home. Clients set ``MLFLOW_TRACKING_URI`` to ``state.url``.

    >>> # state = up(); os.environ["MLFLOW_TRACKING_URI"] = state.url; ...; down()
    """

    database_url = database_url or os.environ.get("MLFLOW_BACKEND_STORE_URI") or None
    uri = pg.backend_uri(database_url) if database_url else "postgresql+psycopg2://"
    pg.require_driver(uri)  # refuse before starting anything
    run_as: dict = {}
    if not database_url:
        pg.postgres_bin()
        run_as = pg.popen_user()
        pgdata = pg.data_folder(pgdata, run_as)
    path = state_path()
    current = status()
    if current.running:
        return current.state
    if current.state is not None:  # stale: clear what is left of it first
        down()
    s = settings()
    artifacts = _artifact_root(s)
    if "://" not in artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    port = port or cluster.free_ports(1)[0]
    url = f"http://{LOOPBACK if host in ('0.0.0.0', '::', '') else host}:{port}"
    log = path.parent / "tracking.log"
    state = TrackingState(
        url=url,
        database=pg.masked(uri),
        artifacts=artifacts,
        log=str(log),
        started_at=time.time(),
        pgdata=None if database_url else str(pgdata),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if database_url:
            pg.check_database(uri)
        else:
            uri = _start_postgres(state, pgdata, run_as, path.parent / "postgres.log", path, timeout)
            state.database = uri
        # The URL goes through the environment, not argv: a password stays out of `ps`.
        env = {**os.environ, **s.s3_client_env(), "MLFLOW_BACKEND_STORE_URI": uri}  # S3: the proxy's endpoint
        # MLflow's job runner (GenAI evaluation, trace archival) is 7 more processes NeuralForge never uses.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        env.pop("MLFLOW_TRACKING_URI", None)
        proc, state.server = _start(_server_command(host, port, workers, artifacts, allowed_hosts), log, env)
        state.save(path)
        _wait_http(proc, url, log, timeout)
    except BaseException:
        down()
        raise
    for child in state.children():
        child.processes = {p.pid: p.create_time() for p in cluster.own_processes(child)}
    state.save(path)
    return state


# -- status / down ------------------------------------------------------------------------------


def status() -> TrackingStatus:
    """Whether the server recorded for this home (and its database) runs."""
    path = state_path()
    state = TrackingState.load(path)
    if state is None:
        return TrackingStatus(False, None, message=f"no tracking server started from {path.parent}")
    alive = tuple(sorted(p.pid for c in state.children() for p in cluster.own_processes(c)))
    gone = [
        name
        for name, c in (("the MLflow server", state.server), ("PostgreSQL", state.postgres))
        if c is not None and cluster.same_process(c.pid, c.create_time) is None
    ]
    if state.server is None or gone:
        return TrackingStatus(
            False,
            state,
            alive,
            message=f"stale: {' and '.join(gone) or 'the server'} "
            "gone; `neuralforge tracking down` clears it",
        )
    return TrackingStatus(
        True, state, alive, message=f"running at {state.url} on {pg.masked(state.database)}"
    )


def _stop_child(child: Child, grace: float, first: signal.Signals) -> list[int]:
    """Stop ``child``'s processes: ``first`` to the leader, then SIGTERM, then SIGKILL to the rest."""
    import psutil

    stopped = []
    for _ in range(3):  # a worker may be forked while we stop its parent: sweep again
        procs = cluster.own_processes(child)
        if not procs:
            break
        procs.sort(key=lambda p: p.pid != child.pid)  # the leader first: it stops its children
        stopped += [p.pid for p in procs]
        if procs[0].pid == child.pid:
            try:
                procs[0].send_signal(first)
            except psutil.Error:  # gone meanwhile
                pass
            procs = cluster.wait_gone(procs, grace)
        if procs:
            cluster.stop_processes(procs, grace / 2)
    return stopped


def down(grace: float = 10) -> list[int]:
    """Stop what ``up()`` started (and nothing else); the PIDs that were running. Idempotent.
    The database's files stay."""
    path = state_path()
    state = TrackingState.load(path)
    if state is None:
        return []
    stopped = []
    if state.server is not None:  # first: it holds the database connections
        stopped += _stop_child(state.server, grace, signal.SIGTERM)
    if state.postgres is not None:  # SIGINT: PostgreSQL's fast shutdown (rolls back, checkpoints)
        stopped += _stop_child(state.postgres, grace, signal.SIGINT)
    if left := [p.pid for c in state.children() for p in cluster.own_processes(c)]:
        raise TrackingServerError(
            f"the tracking server's processes must stop; {left} are still running",
            hint=f"state kept in {path}; run down again",
        )
    path.unlink(missing_ok=True)
    if state.socket_dir and Path(state.socket_dir).name.startswith("nf-pg-"):
        shutil.rmtree(state.socket_dir, ignore_errors=True)
    return sorted(set(stopped))


# -- the command line ---------------------------------------------------------------------------


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    u = sub.add_parser("up", help="start an MLflow server on PostgreSQL (a local one unless --database-url)")
    u.add_argument(
        "--database-url",
        help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DB to use (default: "
        "MLFLOW_BACKEND_STORE_URI, else a PostgreSQL in <home>/postgres)",
    )
    u.add_argument(
        "--pgdata",
        help="the local database's folder (default: <home>/postgres; given once, "
        "<home>/postgres links to it)",
    )
    u.add_argument("--port", type=int, help="the server's port (default: a free port)")
    u.add_argument(
        "--host",
        default=LOOPBACK,
        help="address to listen on (default: 127.0.0.1; 0.0.0.0 "
        "for other machines: MLflow has no login by default)",
    )
    u.add_argument("--allowed-hosts", help="Host headers the server accepts (MLflow's --allowed-hosts)")
    u.add_argument("--workers", type=int, default=2, help="server worker processes (default: 2)")
    u.add_argument("--timeout", type=float, default=90, help="seconds to wait for it (default: 90)")
    u.add_argument("--json", action="store_true", help="the server's state as JSON (as `tracking status`)")
    d = sub.add_parser("down", help="stop the processes `tracking up` started (by PID); the data stays")
    d.add_argument("--json", action="store_true", help='{"stopped": [PID, …]} as JSON')
    st = sub.add_parser("status", help="whether the server runs, its URL and database")
    st.add_argument("--json", action="store_true")


def run(args) -> int:
    if args.action == "up":
        s = up(
            args.database_url,
            port=args.port,
            host=args.host,
            workers=args.workers,
            pgdata=args.pgdata,
            allowed_hosts=args.allowed_hosts,
            timeout=args.timeout,
        )
        if args.json:
            emit(status().to_json())
            return 0
        print(
            f"MLflow tracking server running (pid {s.server.pid}), runs in {pg.masked(s.database)}\n"
            f"  export MLFLOW_TRACKING_URI={s.url}\n"
            f"  artifacts: {s.artifacts}   log: {s.log}"
        )
        if s.socket_dir:
            print(
                f'  psql "host={s.socket_dir} port={pg.PG_SOCKET_PORT} user={pg.DB_USER} dbname={pg.DB_NAME}"'
            )
        return 0
    if args.action == "down":
        stopped = down()
        if args.json:
            emit({"stopped": stopped})
            return 0
        print(f"stopped {len(stopped)} processes" if stopped else "no tracking server was running")
        return 0
    st = status()
    if args.json:
        print(json.dumps(st.to_json(), indent=2))
    else:
        print(st.message)
        if st.state:
            print(
                f"  export MLFLOW_TRACKING_URI={st.state.url}\n  artifacts {st.state.artifacts}  "
                f"{len(st.alive)} processes  log {st.state.log}"
            )
    return 0 if st.running else 1
