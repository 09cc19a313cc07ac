"""PostgreSQL for the MLflow tracking server: the database URL given (checked, its password masked), or a
private local cluster (``initdb`` once, run as an unprivileged user when we are root, reached only on a Unix
socket in a private folder, trust authentication there). :mod:`ray_jobs.cluster.tracking_server` starts and stops it.

>>> backend_uri("postgresql://me:secret@db.example.com/mlflow")
'postgresql+psycopg2://me:secret@db.example.com/mlflow'
>>> masked("postgresql+psycopg2://me:secret@db.example.com/mlflow")
'postgresql+psycopg2://me:***@db.example.com/mlflow'
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit

from neural_engine.errors import TrackingServerError
from neural_engine.settings import settings

DB_NAME = "mlflow"
DB_USER = "neuralforge"
PG_SOCKET_PORT = 5432  # names the socket file only: the local database listens on no TCP port
SERVICE_USER = "postgres"  # who runs the local database when we are root
INSTALL_HINT = (
    "install PostgreSQL (apt-get install postgresql) or pass --database-url postgresql://USER@HOST/DB"
)


# -- the database URL ---------------------------------------------------------------------------


def backend_uri(url: str) -> str:
    """``url`` as MLflow's backend store: a bare ``postgresql://`` gets the psycopg2 driver (the
    ``postgres`` extra; SQLAlchemy 2.1 would pick psycopg 3 for it)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise TrackingServerError(
            f"--database-url must be a PostgreSQL URL (postgresql://USER[:PASSWORD]@HOST"
            f"[:PORT]/DB); received {masked(url)!r}",
            hint="SQLite needs no server: leave MLFLOW_TRACKING_URI unset",
        )
    return f"postgresql+psycopg2://{rest}" if "+" not in scheme else url


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and the state file."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def require_driver(uri: str) -> None:
    driver = uri.partition("://")[0].partition("+")[2] or "psycopg2"
    module = {"psycopg2": "psycopg2", "psycopg": "psycopg", "pg8000": "pg8000"}.get(driver, driver)
    try:
        __import__(module)
    except ImportError:
        extra = (
            "pip install 'neuralforge[postgres]' (psycopg2-binary)"
            if module == "psycopg2"
            else f"pip install {module}"
        )
        raise TrackingServerError(
            f"MLflow needs the Python driver {module} to use PostgreSQL; it is not installed", hint=extra
        ) from None


def check_database(uri: str) -> None:
    """Connect once, so that a wrong URL is one clear error rather than MLflow's retries."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    args = {"connect_timeout": 10} if "+psycopg" in uri else {}
    engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise TrackingServerError(
            f"the database {masked(uri)} must accept connections; it did not: {reason}",
            hint="check its host, port, user, password and database name",
        ) from None
    finally:
        engine.dispose()


# -- the local cluster --------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The folder of ``initdb`` and ``postgres``: from PATH, else Debian's newest
    ``/usr/lib/postgresql/*/bin`` (Debian puts neither on PATH)."""
    found = [Path(p).resolve().parent for p in (shutil.which("initdb"),) if p]
    found += sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in found:
        if (folder / "postgres").is_file():
            return folder
    raise TrackingServerError(
        "a local database needs PostgreSQL's initdb and postgres; found neither on "
        "PATH nor in /usr/lib/postgresql/*/bin",
        hint=INSTALL_HINT,
    )


def popen_user() -> dict:
    """Popen arguments that run PostgreSQL as an unprivileged user: none unless we are root."""
    if os.geteuid() != 0:
        return {}

    try:
        pw = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise TrackingServerError(
            f"PostgreSQL refuses to run as root, so it must run as user {SERVICE_USER!r}; "
            "there is no such user",
            hint="install the postgresql package (it creates the "
            "user), run as a normal user, or pass --database-url",
        ) from None
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def blocking_folder(path: Path, uid: int, gid: int) -> Path | None:
    """The first folder above ``path`` that user ``uid`` (group ``gid``) may not enter, or None.

    >>> blocking_folder(Path("/tmp/pgdata"), 0, 0) is None  # root owns / and /tmp
    True
    """
    for folder in reversed(path.parents):  # "/" first
        st = folder.stat()
        bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        if not st.st_mode & bit:
            return folder
    return None


def own_folder(path: Path, run_as: dict) -> None:
    """Create ``path`` (mode 700) for the user PostgreSQL runs as."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if run_as:
        os.chown(path, run_as["user"], run_as["group"])
    os.chmod(path, 0o700)


def data_folder(pgdata: str | Path | None, run_as: dict) -> Path:
    """The cluster folder: ``pgdata``, else ``<home>/postgres`` (a link to the ``pgdata`` given once)."""
    default = settings().home / "postgres"
    if pgdata is None:
        path = default.resolve()
    else:
        path = Path(pgdata).expanduser().absolute()
        if path != default.resolve() and not default.exists() and not default.is_symlink():
            default.parent.mkdir(parents=True, exist_ok=True)
            default.symlink_to(path, target_is_directory=True)  # the next `up` finds it
    path.parent.mkdir(parents=True, exist_ok=True)
    if run_as and (blocked := blocking_folder(path, run_as["user"], run_as["group"])) is not None:
        mode = stat.filemode(blocked.stat().st_mode)
        raise TrackingServerError(
            f"PostgreSQL refuses to run as root, so it runs as user {SERVICE_USER!r}, who must be able to "
            f"enter {path.parent}; received a path through {blocked} ({mode}, which that user may not enter)",
            hint="pass --pgdata DIR in a folder that user can reach (e.g. /var/lib/postgresql/neuralforge), "
            "--database-url postgresql://USER@HOST/DB, or run as a normal user",
        )
    return path


def init_cluster(bindir: Path, pgdata: Path, run_as: dict) -> None:
    if (pgdata / "PG_VERSION").exists():
        return
    own_folder(pgdata, run_as)
    # Trust on the Unix socket only (its folder is private); TCP is refused outright.
    out = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            DB_USER,
            "--auth-local=trust",
            "--auth-host=reject",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
        ],
        check=False,
        cwd=pgdata,
        capture_output=True,
        text=True,
        **run_as,
    )
    if out.returncode != 0:
        raise TrackingServerError(
            f"initdb must create the database cluster in {pgdata}; it exited with "
            f"status {out.returncode}:\n{(out.stdout + out.stderr)[-2000:]}"
        )


def connect(socket_dir: str, dbname: str):
    import psycopg2

    return psycopg2.connect(
        host=socket_dir, port=PG_SOCKET_PORT, user=DB_USER, dbname=dbname, connect_timeout=3
    )


def create_database(socket_dir: str) -> None:
    con = connect(socket_dir, "postgres")
    try:
        con.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with con.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        con.close()


def local_database_uri(socket_dir: str) -> str:
    """The SQLAlchemy URL of our database: a Unix socket, no password.

    >>> local_database_uri("/tmp/nf-pg-1")
    'postgresql+psycopg2://neuralforge@/mlflow?host=/tmp/nf-pg-1&port=5432'
    """
    return (
        f"postgresql+psycopg2://{DB_USER}@/{DB_NAME}?host={quote(socket_dir, safe='/')}&port={PG_SOCKET_PORT}"
    )
