"""Shared fixtures: a real S3 server (moto's standalone server) on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import pytest


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest replaces ``sys.modules["__main__"]`` with the script it ran and leaves it
    there; a later test's spawned process would then run that script as its main module. Restored
    after every test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """``http://127.0.0.1:PORT`` of a moto S3 server in its own process, stopped after the session."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on 127.0.0.1:{port}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass(frozen=True)
class S3Env:
    endpoint: str
    bucket: str
    uri: str  # s3://bucket/prefix

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint)


def s3_environment(monkeypatch, endpoint: str, home) -> None:
    """Dummy credentials and the endpoint for boto3 and NeuralForge; no proxy for loopback."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NEURALFORGE_S3_ENDPOINT_URL": endpoint,
        "NEURALFORGE_HOME": str(home),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "NEURALFORGE_STORAGE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path) -> S3Env:
    """A fresh bucket on the test server, with the environment pointing NeuralForge at it."""
    s3_environment(monkeypatch, s3_server, tmp_path / "home")
    env = S3Env(s3_server, f"nf-{uuid.uuid4().hex[:12]}", "")
    env.client().create_bucket(Bucket=env.bucket)
    return S3Env(s3_server, env.bucket, f"s3://{env.bucket}/store")


@pytest.fixture
def nf_home(monkeypatch, tmp_path):
    """NEURALFORGE_HOME in a temporary directory (the default storage lives there too)."""
    home = tmp_path / "nf-home"
    monkeypatch.setenv("NEURALFORGE_HOME", str(home))
    monkeypatch.delenv("NEURALFORGE_STORAGE", raising=False)
    return home


# -- a local Ray head (`neuralforge cluster up`), shared by tests/test_cluster.py and test_jobs.py --

RAY_ENV_CLEARED = (
    "RAY_ADDRESS",
    "RAY_API_SERVER_ADDRESS",
    "RAY_AUTH_TOKEN",
    "RAY_AUTH_MODE",
    "MLFLOW_TRACKING_URI",
    "NEURALFORGE_STORAGE",
    "NEURALFORGE_QUOTA_GPU_HOURS",
    "NEURALFORGE_QUOTA_CPU_HOURS",
)


@dataclass(frozen=True)
class RayHead:
    home: object  # NEURALFORGE_HOME of the head (pathlib.Path)
    env: dict  # the variables to set; RAY_ENV_CLEARED are unset
    state: object  # ray_jobs.cluster.ClusterState

    def apply(self, mp: pytest.MonkeyPatch) -> None:
        for var in RAY_ENV_CLEARED:
            mp.delenv(var, raising=False)
        for var, value in self.env.items():
            mp.setenv(var, value)


@pytest.fixture(scope="session")
def ray_head_session(tmp_path_factory):
    """One head for the session (1 CPU, 100 MB object store, its own token file); at the end
    ``down()`` must leave none of its processes alive and no other process touched."""
    import psutil

    from ray_jobs import cluster

    home = tmp_path_factory.mktemp("ray-head")
    env = {
        "NEURALFORGE_HOME": str(home),
        "RAY_AUTH_TOKEN_PATH": str(home / "auth_token"),
        "NEURALFORGE_USER": "tester",
    }
    with pytest.MonkeyPatch.context() as mp:
        RayHead(home, env, None).apply(mp)
        state = cluster.up(num_cpus=1, object_store_mb=100)
    bystander = subprocess.Popen(["sleep", "86400"])  # not ours to stop
    try:
        yield RayHead(home, env, state)
    finally:
        with pytest.MonkeyPatch.context() as mp:
            RayHead(home, env, state).apply(mp)
            ours = [
                (p.pid, p.create_time())
                for p in cluster.own_processes(cluster.ClusterState.load(cluster.state_path()))
            ]
            cluster.down()
        survivors = [
            pid
            for pid, created in ours
            if psutil.pid_exists(pid)
            and psutil.Process(pid).create_time() == created
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]
        bystander_alive = bystander.poll() is None
        bystander.kill()
        bystander.wait()
        assert len(ours) >= 5 and not survivors and bystander_alive, (ours, survivors, bystander_alive)


@pytest.fixture
def ray_head(ray_head_session, monkeypatch) -> RayHead:
    """The session's head, with this test's environment pointing at it."""
    ray_head_session.apply(monkeypatch)
    return ray_head_session


def stop_serve(s, timeout: float = 60) -> None:
    """Shut Ray Serve down (it must serve nothing) and wait until its controller is gone, so that a
    later test starts Serve on its own port. ``s``: a ``ray_jobs.serve.Serve``."""
    assert not s.details().get("applications"), s.details().get("applications")
    s.client.delete_applications()
    deadline = time.monotonic() + timeout
    while (s.details().get("controller_info") or {}).get("actor_id"):
        assert time.monotonic() < deadline, f"Serve must shut down within {timeout:g} s"
        time.sleep(0.5)


def serve_running(s) -> bool:
    return bool((s.details().get("controller_info") or {}).get("actor_id"))
