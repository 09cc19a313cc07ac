"""Several processes, one truth: API keys updated by two processes at once, one dataset name
registered by two processes at once, and two API servers watching the same job (each webhook
delivered once; the lease taken over when its owner is killed).

The servers run the real ``ray_jobs.api`` command line with the cluster replaced by job files in
the home (:func:`serve_with_fake_jobs`): Ray and MLflow are not what these tests are about."""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from neural_engine.data import registry
from neural_engine.data.storage import LocalStorage
from neural_engine.data.synthetic import regression
from ray_jobs.api.keys import KeyStore
from tests.conftest import RAY_ENV_CLEARED, free_port

SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters, as two commands would be


# ---- API keys -------------------------------------------------------------------------------------


def create_keys(path: str, who: str, n: int, barrier) -> None:
    try:
        store = KeyStore(Path(path))
        barrier.wait()
        for i in range(n):
            store.create(f"{who}-{i}", "read")
    except BaseException:  # the parent's assertion shows why
        import traceback

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).with_name(f"{who}.error").write_text(traceback.format_exc())
        raise


def test_two_processes_creating_keys_at_once_keep_every_key(tmp_path):
    path = tmp_path / "api" / "keys.json"
    barrier = SPAWN.Barrier(2)
    procs = [SPAWN.Process(target=create_keys, args=(str(path), who, 40, barrier)) for who in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    errors = [e.read_text() for e in path.parent.glob("*.error")] if path.parent.exists() else []
    assert [p.exitcode for p in procs] == [0, 0], errors
    names = {k.name for k in KeyStore(path).list()}
    assert names == {f"{who}-{i}" for who in ("a", "b") for i in range(40)}, f"{80 - len(names)} keys lost"


# ---- datasets -------------------------------------------------------------------------------------


class SlowStorage(LocalStorage):
    """A local store whose writes wait a little first: both registrations have listed the versions
    before either writes, so without the conditional create they would both take version 1."""

    def write(self, key: str, data: bytes) -> None:
        time.sleep(0.3)
        super().write(key, data)

    def create(self, key: str, data: bytes) -> bool:
        time.sleep(0.3)
        return super().create(key, data)


def register_toy(root: str, seed: int, barrier, out) -> None:
    barrier.wait()
    v = registry.register_dataset(regression(n=30, seed=seed), "toy", storage=SlowStorage(root))
    out.put((seed, v.number, v.version))


def test_two_processes_registering_one_name_take_versions_1_and_2(tmp_path):
    root, barrier, out = str(tmp_path / "store"), SPAWN.Barrier(2), SPAWN.Queue()
    procs = [SPAWN.Process(target=register_toy, args=(root, seed, barrier, out)) for seed in (1, 2)]
    for p in procs:
        p.start()
    results = sorted((out.get(timeout=120) for _ in procs), key=lambda r: r[1])
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert [number for _, number, _ in results] == [1, 2]
    store = LocalStorage(root)
    found = registry.versions("toy", store)
    assert [(v.number, v.version) for v in found] == [(n, vid) for _, n, vid in results]
    assert found[1].parent == found[0].version and found[0].parent is None
    for seed, number, _ in results:
        ds, expected = registry.load(f"toy@v{number}", storage=store), regression(n=30, seed=seed)
        assert np.array_equal(ds.x, expected.x) and np.array_equal(ds.y, expected.y)


# ---- webhooks: a fake cluster, two API servers --------------------------------------------------

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
EPOCH = {"train_loss": 0.5}
LEASE = 3.0  # seconds: the servers' webhook lease (30 by default), so a takeover takes seconds
FAKE_API = ("-c", "import sys, tests.test_multiprocess as t; sys.exit(t.serve_with_fake_jobs())")


def set_job(home: Path, job_id: str, url: str, status: str, epochs: list[dict]) -> None:
    """What the fake cluster says of a job."""
    replace_file(home / "fake-jobs" / f"{job_id}.json", {"url": url, "status": status, "epochs": epochs})


def replace_file(path: Path, doc) -> None:
    """Write ``path`` whole (another process reads it meanwhile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def fake_watched_jobs() -> list[tuple[str, str]]:
    """``jobs.watched_jobs`` of the fake cluster; ``scanned-<pid>`` says which jobs this process watches."""
    folder = Path(os.environ["NEURALFORGE_HOME"]) / "fake-jobs"
    docs = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    found = [(job_id, d["url"]) for job_id, d in docs.items() if d["status"] not in TERMINAL]
    replace_file(folder / f"scanned-{os.getpid()}", [job_id for job_id, _ in found])
    return found


class FakeObserver:
    """``JobObserver`` of the fake cluster: a status change, one metrics event per new epoch, the end."""

    def __init__(self, job_id: str, s, **_):
        self.path = s.home / "fake-jobs" / f"{job_id}.json"
        self.status, self.seen, self.done = None, 0, False
        self.job, self.run_id, self.epochs = None, "run-1", None

    def poll(self) -> list[dict]:
        doc = json.loads(self.path.read_text())
        self.job, events = SimpleNamespace(status=doc["status"], start_time=1.0, end_time=None), []
        if doc["status"] != self.status and doc["status"] not in TERMINAL:
            self.status = doc["status"]
            events.append({"type": "status", "status": self.status, "message": ""})
        new = enumerate(doc["epochs"][self.seen :], start=self.seen)
        events += [{"type": "metrics", "step": i, "metrics": m} for i, m in new]
        self.seen = len(doc["epochs"])
        if doc["status"] in TERMINAL:
            events.append({"type": "end", "status": doc["status"], "message": "", "metrics": {}})
            self.done = True
        return events


def serve_with_fake_jobs() -> int:
    """``python -m ray_jobs.api`` with the fake cluster and a ``LEASE``-second webhook lease."""
    from ray_jobs.api import app, jobs, webhooks
    from ray_jobs.api.cli import __doc__ as doc
    from ray_jobs.api.cli import add_arguments, run
    from ray_jobs.entry import module_main

    jobs.watched_jobs, webhooks.JobObserver = fake_watched_jobs, FakeObserver
    app.Webhooks = functools.partial(webhooks.Webhooks, poll=0.2, timeout=1.0, lease=LEASE)
    return module_main("python -m ray_jobs.api", doc, add_arguments, run)


def watching(home: Path, job_id: str) -> set[int]:
    """The server processes whose last scan found ``job_id``."""
    scans = (home / "fake-jobs").glob("scanned-*")
    return {int(p.name.split("-")[1]) for p in scans if job_id in json.loads(p.read_text())}


def lease_holder(home: Path, job_id: str) -> int:
    """The process id in the latest generation of the job's lease."""
    files = (home / "api" / "webhooks" / job_id / "lease").glob("*.json")
    latest = max(files, key=lambda p: int(p.stem))
    return int(json.loads(latest.read_text())["owner"].split(":")[1])


def wait_for(predicate, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what()
        time.sleep(0.1)


@pytest.fixture
def two_servers(tmp_path):
    """Two API processes on one home (keys, store, delivery log), each on its own port."""
    from tests.test_api_webhooks import start_server, stop_server  # here: the servers import this module

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in RAY_ENV_CLEARED}
    env.update(
        NEURALFORGE_HOME=str(home),
        RAY_AUTH_TOKEN_PATH=str(home / "no-token"),
        NEURALFORGE_WEBHOOK_SECRET="w" * 32,
    )
    (home / "fake-jobs").mkdir(parents=True)
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda _: start_server(env, free_port(), FAKE_API), range(2)))
    yield home, procs
    for proc in procs:
        stop_server(proc)


@pytest.fixture
def receiver():
    from tests.test_api_webhooks import Receiver

    r = Receiver()
    yield r
    r.close()


def first_epoch_delivered(home: Path, receiver, procs, job_id: str = "nf-train-1") -> None:
    set_job(home, job_id, receiver.url, "RUNNING", [EPOCH])
    wait_for(lambda: receiver.events() == ["started", "progress"], 30, receiver.events)
    wait_for(
        lambda: watching(home, job_id) == {p.pid for p in procs},
        30,
        lambda: f"both servers must watch {job_id}; {watching(home, job_id)} do",
    )


@pytest.mark.slow
def test_two_api_processes_deliver_each_webhook_once(two_servers, receiver):
    home, procs = two_servers
    first_epoch_delivered(home, receiver, procs)
    set_job(home, "nf-train-1", receiver.url, "RUNNING", [EPOCH, EPOCH])
    wait_for(lambda: len(receiver.events()) >= 3, 30, receiver.events)
    set_job(home, "nf-train-1", receiver.url, "SUCCEEDED", [EPOCH, EPOCH])
    wait_for(lambda: "completed" in receiver.events(), 30, receiver.events)
    time.sleep(2 * LEASE)  # room for a second delivery, were there one
    assert receiver.events() == ["started", "progress", "progress", "completed"]
    assert [json.loads(body)["data"]["epoch"] for _, body, _ in receiver.requests[1:3]] == [1, 2]


@pytest.mark.slow
def test_the_lease_is_taken_over_when_its_holder_is_killed(two_servers, receiver):
    home, procs = two_servers
    first_epoch_delivered(home, receiver, procs)
    holder = next(p for p in procs if p.pid == lease_holder(home, "nf-train-1"))
    holder.kill()
    holder.wait()
    set_job(home, "nf-train-1", receiver.url, "SUCCEEDED", [EPOCH, EPOCH])
    wait_for(lambda: "completed" in receiver.events(), 6 * LEASE, receiver.events)
    time.sleep(LEASE)
    assert receiver.events() == ["started", "progress", "progress", "completed"]
    survivor = next(p for p in procs if p is not holder)
    assert lease_holder(home, "nf-train-1") == survivor.pid and survivor.poll() is None
