"""`neuralforge tracking`: database URLs and missing pieces (fast); a real PostgreSQL (initdb,
postgres) under an MLflow server, with a training and a sweep tracked through it at the same time,
read back from PostgreSQL, the MLflow client and `neuralforge runs list`, then stopped (slow)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from neural_engine.errors import NeuralForgeError
from ray_jobs import cluster
from ray_jobs.cluster import postgres as pg
from ray_jobs.cluster import tracking_server as ts


@pytest.mark.parametrize(
    "url,expected",
    [
        ("postgresql://me@db/mlflow", "postgresql+psycopg2://me@db/mlflow"),
        ("postgres://me:pw@db:5433/mlflow", "postgresql+psycopg2://me:pw@db:5433/mlflow"),
        (
            "postgresql+psycopg://me@db/mlflow",
            "postgresql+psycopg://me@db/mlflow",
        ),  # an explicit driver stays
    ],
)
def test_postgresql_urls_use_the_installed_driver(url, expected):
    assert pg.backend_uri(url) == expected


def test_other_databases_are_refused_without_showing_the_password():
    with pytest.raises(NeuralForgeError, match="--database-url must be a PostgreSQL URL") as info:
        pg.backend_uri("mysql://me:secret@db/mlflow")
    assert "secret" not in str(info.value) and "me:***@db" in str(info.value)


def test_missing_postgresql_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [])
    with pytest.raises(NeuralForgeError) as info:
        pg.postgres_bin()
    assert "apt-get install postgresql" in info.value.hint and "--database-url" in info.value.hint


def test_missing_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # import psycopg2 -> ImportError
    with pytest.raises(NeuralForgeError, match="needs the Python driver psycopg2") as info:
        pg.require_driver("postgresql+psycopg2://me@db/mlflow")
    assert "neuralforge[postgres]" in info.value.hint


def test_a_private_folder_on_the_way_is_named():
    outer = Path(tempfile.mkdtemp(prefix="nf-reach-"))  # not under pytest's own private (700) folders
    try:
        outer.chmod(0o711)
        private = outer / "private"
        private.mkdir(mode=0o700)
        nobody = 65534
        assert pg.blocking_folder(private / "db", nobody, nobody) == private
        assert pg.blocking_folder(private / "db", os.geteuid(), os.getegid()) is None  # its owner
        private.chmod(0o711)
        assert pg.blocking_folder(private / "db", nobody, nobody) is None
    finally:
        shutil.rmtree(outer)


# ---- the real thing --------------------------------------------------------------------------

CLEARED = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_BACKEND_STORE_URI",
    "NEURALFORGE_STORAGE",
    "RAY_ADDRESS",
    "RAY_AUTH_MODE",
    "RAY_AUTH_TOKEN",
    "RAY_AUTH_TOKEN_PATH",
)


@pytest.fixture
def tracking_home(tmp_path, monkeypatch):
    """(home, pgdata): an empty data home; pgdata None (the default, ``<home>/postgres``) unless we
    are root. PostgreSQL refuses to run as root, so it then runs as user ``postgres``, who cannot
    enter pytest's private (700) temp folders: the database goes to a folder that user can reach."""
    for var in CLEARED:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("NEURALFORGE_HOME", str(home))
    outer = None
    if os.geteuid() == 0:
        outer = Path(tempfile.mkdtemp(prefix="nf-pgdata-"))
        outer.chmod(0o711)
    try:
        yield home, outer / "db" if outer else None
    finally:
        monkeypatch.setenv("NEURALFORGE_HOME", str(home))  # a test may have pointed elsewhere
        ts.down()
        if outer:
            shutil.rmtree(outer, ignore_errors=True)


def _query(state, sql: str, *params) -> list[tuple]:
    import psycopg2

    con = psycopg2.connect(host=state.socket_dir, port=pg.PG_SOCKET_PORT, user=pg.DB_USER, dbname=pg.DB_NAME)
    try:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        con.close()


def _start(module: str, *flags) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}  # MLFLOW_TRACKING_URI: set by the test
    env.update(MLFLOW_TRACKING_URI=os.environ["MLFLOW_TRACKING_URI"], OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "--template",
            "mnist_cnn",
            "--dataset",
            "digits",
            "--smoke-test",
            *flags,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _output(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-4000:]
    return out


@pytest.mark.slow
def test_a_training_and_a_sweep_are_tracked_in_postgresql(tracking_home, monkeypatch, capsys):
    import psutil
    from mlflow.tracking import MlflowClient

    from ray_jobs.cli import main

    home, pgdata = tracking_home
    state = ts.up(pgdata=pgdata, workers=1)
    assert ts.up().server.pid == state.server.pid  # the running one is handed back
    monkeypatch.setenv("MLFLOW_TRACKING_URI", state.url)
    # no experiment yet: training and the sweep both create it at once (one of them loses the race)
    train = _start("ray_jobs.train", "--run-name", "on-postgres")
    sweep = _start("ray_jobs.tune", "--search-method", "grid", "--search", "dense_1.units=choice(16, 32)")
    train_id = re.search(r"MLflow run (\w+) finished", _output(train)).group(1)
    parent_id = re.search(r"sweep: MLflow run (\w+) finished", _output(sweep)).group(1)

    # in PostgreSQL itself
    runs = dict(_query(state, "SELECT run_uuid, status FROM runs"))
    children = {
        r
        for (r,) in _query(
            state, "SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' AND value = %s", parent_id
        )
    }
    assert len(children) == 2 and set(runs) == {train_id, parent_id, *children}
    assert set(runs.values()) == {"FINISHED"}, runs
    assert (
        _query(state, "SELECT count(*) FROM metrics WHERE run_uuid = %s AND key = 'val_loss'", train_id)[0][0]
        == 1
    )
    (location,) = {
        loc
        for (loc,) in _query(state, "SELECT artifact_location FROM experiments WHERE name = 'neuralforge'")
    }
    assert location == (home / "mlartifacts" / "neuralforge").as_uri()

    # through the server: the MLflow client and `neuralforge runs list`
    client = MlflowClient(state.url)
    assert client.get_run(train_id).data.tags["mlflow.runName"] == "on-postgres"
    assert main(["runs", "list", "--json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == set(runs)
    assert main(["runs", "list", "--parent", parent_id, "--json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)} == children

    # artifacts: written where the experiment says, listed through the server
    assert "setup/graph.json" in {a.path for a in client.list_artifacts(train_id, "setup")}
    assert "sweep/best.neural" in {a.path for a in client.list_artifacts(parent_id, "sweep")}
    experiment = client.get_run(train_id).info.experiment_id
    assert (home / "mlartifacts" / "neuralforge" / train_id / "artifacts" / "setup" / "graph.json").is_file()
    assert client.get_experiment(experiment).artifact_location == location

    # status, then down: exactly our processes stop; the database's files stay
    assert main(["tracking", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["url"] == state.url
    ours = [(p.pid, p.create_time()) for c in state.children() for p in cluster.own_processes(c)]
    bystander = subprocess.Popen(["sleep", "600"])  # not ours to stop
    try:
        stopped = ts.down()
        bystander_alive = bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    survivors = [
        pid
        for pid, created in ours
        if psutil.pid_exists(pid)
        and psutil.Process(pid).create_time() == created
        and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert len(ours) >= 5 and set(stopped) >= {state.server.pid, state.postgres.pid}
    assert not survivors and bystander_alive, (ours, survivors)
    assert not ts.state_path().exists() and not Path(state.socket_dir).exists()
    assert (Path(state.pgdata) / "PG_VERSION").exists() and main(["tracking", "status"]) == 1


@pytest.mark.slow
def test_a_second_server_on_the_same_database_and_the_runs_outlive_down(
    tracking_home, s3, tmp_path, monkeypatch
):
    """`--database-url` (a second server on the first one's PostgreSQL, as replicas would be); each
    `down` stops only its own processes; the database keeps its runs for the next `up`, whose
    artifacts go to S3 (moto's server) through the server's proxy."""
    from mlflow.tracking import MlflowClient

    first_home, pgdata = tracking_home
    first = ts.up(pgdata=pgdata, workers=1)
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path / "second"))
    second = ts.up(database_url=first.database, workers=1)
    try:
        assert second.postgres is None and second.url != first.url
        exp = MlflowClient(second.url).create_experiment("shared")
        assert MlflowClient(first.url).get_experiment(exp).name == "shared"
    finally:
        stopped = ts.down()
    assert second.server.pid in stopped and first.postgres.pid not in stopped
    monkeypatch.setenv("NEURALFORGE_HOME", str(first_home))
    assert ts.status().running
    ts.down()
    monkeypatch.setenv("NEURALFORGE_STORAGE", s3.uri)
    again = ts.up(pgdata=pgdata, workers=1)
    assert again.postgres.pid != first.postgres.pid and again.artifacts == f"{s3.uri}/mlartifacts"
    client = MlflowClient(again.url)
    assert client.get_experiment_by_name("shared").experiment_id == exp
    # an experiment made without a location: its artifacts go through the server's proxy to S3
    run = client.create_run(exp).info.run_id
    with monkeypatch.context() as m:
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            m.delenv(var)  # only the server needs S3 credentials for these
        client.log_text(run, "kept", "note.txt")
    key = f"store/mlartifacts/{exp}/{run}/artifacts/note.txt"
    assert s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read() == b"kept"
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path / "third"))
    with pytest.raises(NeuralForgeError, match="must accept connections; it did not"):
        ts.up(database_url=f"postgresql://{pg.DB_USER}@/{pg.DB_NAME}?host={tmp_path}/no-socket-here")
    assert not (tmp_path / "third" / "tracking.json").exists()  # nothing was started
