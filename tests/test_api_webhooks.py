"""Webhooks (signatures, retries with backoff, the delivery log, the order of events, one deliverer
per job by its lease) and the Python client against a real ``python -m ray_jobs.api`` server. Two
real API servers sharing jobs are in test_multiprocess.py."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from neural_engine.data.storage import LocalStorage
from neural_engine.errors import ValidationError
from neural_engine.settings import Settings
from ray_jobs.api import lease as lease_module
from ray_jobs.api import webhooks
from ray_jobs.api.keys import KeyStore
from ray_jobs.api.lease import Lease
from ray_jobs.api.webhooks import EventMapper, Webhooks, sign, verify
from tests import test_api as base
from tests.conftest import RAY_ENV_CLEARED, free_port
from tests.test_api import DSL

home = base.home  # fixture shared with test_api.py


class Receiver:
    """A webhook receiver on a loopback port: answers ``codes`` in turn (then 200), records requests."""

    def __init__(self, codes=()):
        self.codes, self.requests = list(codes), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body, time.monotonic()))
                self.send_response(outer.codes.pop(0) if outer.codes else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body, _ in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_signatures_verify_on_both_sides():
    from neuralforge.client import verify_webhook

    body, ts = b'{"event":"progress"}', str(int(time.time()))
    headers = {"X-NeuralForge-Timestamp": ts, "X-NeuralForge-Signature": sign("s" * 32, body, ts)}
    assert verify("s" * 32, body, ts, headers["X-NeuralForge-Signature"]) and verify_webhook(
        "s" * 32, body, headers
    )
    assert not verify_webhook("s" * 32, body + b" ", headers) and not verify_webhook("t" * 32, body, headers)
    old = str(int(time.time()) - 3600)
    assert not verify_webhook(
        "s" * 32, body, {"X-NeuralForge-Timestamp": old, "X-NeuralForge-Signature": sign("s" * 32, body, old)}
    )


def test_deliveries_are_signed_retried_with_backoff_and_logged(home):
    s = Settings.from_env({**os.environ, "NEURALFORGE_WEBHOOK_SECRET": "w" * 32})
    hooks, flaky = Webhooks(s, backoff=0.1), Receiver(codes=(503, 500))
    try:
        assert hooks.deliver("job-1", flaky.url, "started", "started", {"n": 1}) is True
    finally:
        flaky.close()
    times = [t for _, _, t in flaky.requests]
    assert len(times) == 3 and times[1] - times[0] >= 0.1 and times[2] - times[1] >= 0.2  # 0.1 s, then 0.2 s
    for headers, body, _ in flaky.requests:
        assert headers["X-NeuralForge-Event"] == "started"
        assert verify("w" * 32, body, headers["X-NeuralForge-Timestamp"], headers["X-NeuralForge-Signature"])
    assert len({h["X-NeuralForge-Delivery"] for h, _, _ in flaky.requests}) == 1  # one delivery, 3 attempts
    rows = [json.loads(line) for line in hooks.log_path.read_text().splitlines()]
    assert [(r["attempt"], r["status_code"], r["ok"]) for r in rows] == [
        (1, 503, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert hooks.deliveries("job-1") == [
        {
            "id": rows[0]["delivery"],
            "event": "started",
            "attempts": 3,
            "ok": True,
            "status_code": 200,
            "error": None,
            "at": rows[2]["at"],
        }
    ]
    refused = Receiver(codes=(400,))
    try:
        assert hooks.deliver("job-2", refused.url, "failed", "failed", {}) is False
    finally:
        refused.close()
    assert len(refused.requests) == 1  # a 4xx is the receiver's answer: not retried
    gone = Webhooks(s, attempts=2, backoff=0.01)
    assert gone.deliver("job-3", f"http://127.0.0.1:{free_port()}/", "started", "started", {}) is False
    assert [d["attempts"] for d in gone.deliveries("job-3")] == [2] and gone.deliveries("job-3")[0]["error"]
    generated = Webhooks(Settings.from_env(os.environ)).secret  # no NEURALFORGE_WEBHOOK_SECRET: made once
    path = home / "api" / "webhook_secret"
    assert len(generated) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Webhooks(Settings.from_env(os.environ)).secret == generated


def test_event_order_starts_with_started_and_progress_is_per_epoch():
    from types import SimpleNamespace

    observer = SimpleNamespace(job=SimpleNamespace(start_time=1.0, end_time=2.0), epochs=2)
    mapper = EventMapper()
    names = lambda events: [n for e in events for n, _, _ in mapper(e, observer)]
    assert names([{"type": "status", "status": "PENDING", "message": ""}]) == []
    assert names(
        [
            {"type": "metrics", "step": 0, "metrics": {"train_loss": 1.0}},
            {"type": "metrics", "step": 0, "metrics": {"test_accuracy": 0.9}},
            {"type": "metrics", "step": 1, "metrics": {"val_loss": 0.5}},
            {"type": "end", "status": "SUCCEEDED", "message": "", "metrics": {}},
        ]
    ) == ["started", "progress", "progress", "completed"]
    late = EventMapper()
    assert [
        n for n, _, _ in late({"type": "end", "status": "STOPPED", "message": "", "metrics": {}}, observer)
    ] == ["started", "failed"]
    ((_, key, data),) = mapper({"type": "metrics", "step": 1, "metrics": {"train_loss": 0.1}}, observer)
    assert key == "progress:2" and data == {"epoch": 2, "epochs": 2, "metrics": {"train_loss": 0.1}}


# ---- one process at a time delivers a job's webhooks: the lease ----------------------------------


def test_of_processes_racing_for_a_free_lease_one_takes_it(tmp_path):
    store = LocalStorage(tmp_path)
    leases, barrier = [Lease(store, "job-1", f"p{i}") for i in range(8)], threading.Barrier(8)

    def race(lease: Lease) -> bool:
        barrier.wait()
        return lease.acquire()

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(race, leases))
    assert won.count(True) == 1
    assert json.loads(store.read("api/webhooks/job-1/lease/1.json"))["owner"] == leases[won.index(True)].owner


def test_an_expired_lease_is_taken_over_and_its_old_holder_learns_it_lost(tmp_path, monkeypatch):
    monkeypatch.setattr(lease_module, "CLOCK_SKEW", 0.0)
    store = LocalStorage(tmp_path)
    a, b = Lease(store, "job-1", "a", seconds=0.3), Lease(store, "job-1", "b", seconds=0.3)
    assert a.acquire() and a.held and not b.acquire()
    time.sleep(0.4)  # a missed its renewals
    assert not a.held and a.remaining() == 0 and b.acquire() and b.generation == 2
    a.deadline = time.monotonic() + 10  # a's clock says it still holds the lease
    assert a.held and not a.renew() and not a.held  # generation 2 is b's: a lost
    assert b.renew() and b.generation == 3


def test_a_claim_on_a_generation_deleted_meanwhile_does_not_count(tmp_path):
    store = LocalStorage(tmp_path)
    a = Lease(store, "job-1", "a")
    assert a.acquire() and a.renew() and a.renew() and a.renew() and a.generations() == [3, 4]
    late = Lease(store, "job-1", "late")  # it listed generation 1 long ago and found it expired
    assert not late._claim(2, 30.0) and late.generation == 0 and not late.held


def test_two_watchers_deliver_each_event_once_and_hand_over_on_close(home, monkeypatch):
    from tests.test_multiprocess import EPOCH, FakeObserver, set_job, wait_for

    monkeypatch.setattr(webhooks, "JobObserver", FakeObserver)
    s = Settings.from_env({**os.environ, "NEURALFORGE_WEBHOOK_SECRET": "w" * 32})
    watchers, receiver = [Webhooks(s, poll=0.05, timeout=1.0, lease=3.0) for _ in range(2)], Receiver()
    try:
        set_job(home, "job-1", receiver.url, "RUNNING", [EPOCH])
        for w in watchers:
            w.open(resume=False)
            w.watch("job-1", receiver.url)
        wait_for(lambda: receiver.events() == ["started", "progress"], 10, receiver.events)
        lease = Lease(watchers[0].store, "job-1", "reader")
        latest = lease.generations()[-1]
        owner = json.loads(watchers[0].store.read(f"{lease.prefix}{latest}.json"))["owner"]
        holder = next(w for w in watchers if w.owner == owner)
        holder.close()  # hands the lease back: the other takes over now, not 3 + 2 s later
        set_job(home, "job-1", receiver.url, "SUCCEEDED", [EPOCH, EPOCH])
        wait_for(lambda: "completed" in receiver.events(), 4, receiver.events)
        time.sleep(0.5)
        assert receiver.events() == ["started", "progress", "progress", "completed"]
        assert watchers[0].store.exists("api/webhooks/job-1/finished")
        assert watchers[0].delivered("job-1") == {"started", "progress:1", "progress:2", "completed"}
    finally:
        for w in watchers:
            w.close()
        receiver.close()


def test_the_lease_must_outlast_two_delivery_timeouts(home):
    with pytest.raises(ValidationError, match="at least twice the delivery timeout"):
        Webhooks(Settings.from_env(os.environ), timeout=10, lease=15)


# ---- the Python client against a real server ------------------------------------------------------


def start_server(env: dict, port: int, command: tuple[str, ...] = ("-m", "ray_jobs.api")) -> subprocess.Popen:
    """``python -m ray_jobs.api`` (or ``python *command``) on a loopback port, answering /health."""
    proc = subprocess.Popen(
        [sys.executable, *command, "--port", str(port), "--log-level", "warning"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the API server did not start: {proc.communicate()[0][-3000:]}")
        time.sleep(0.3)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("api-server")
    env = {k: v for k, v in os.environ.items() if k not in RAY_ENV_CLEARED}
    env.update(NEURALFORGE_HOME=str(home), RAY_AUTH_TOKEN_PATH=str(home / "no-token"))
    key = KeyStore(home / "api" / "keys.json").create("client", "admin")[1]
    port = free_port()
    proc = start_server(env, port)
    yield f"http://127.0.0.1:{port}", key, home
    stop_server(proc)


def test_the_client_gets_typed_results_and_the_servers_errors(server):
    from neuralforge.client import APIError, AuthError, Client, NotFound, ShapeReport, Unavailable

    url, key, _ = server
    with Client(url, key) as nf:
        parsed = nf.parse(DSL)
        assert parsed.network == "Tiny" and parsed.graph["nodes"][0]["type"] == "Conv2D"
        report = nf.shapes(template="mnist_cnn", input_shape=[8, 8, 1])
        assert (
            isinstance(report, ShapeReport) and report.shape("conv2d_1") == (6, 6, 32) and report.params > 0
        )
        assert nf.shapes(graph=parsed.graph).params == nf.shapes(DSL).params
        assert "class Tiny(nn.Module)" in nf.compile(DSL).source
        assert "keras.Model" in nf.compile(DSL, target="keras", mode="async").source
        with pytest.raises(APIError) as err:
            nf.shapes(DSL.replace("(8, 8, 1)", "(2, 2, 1)"))
        assert err.value.status == 422 and err.value.node == "conv2d_1" and err.value.line == 1
        assert "does not fit" in str(err.value) and err.value.hint
        with pytest.raises(NotFound):
            nf.run("0123456789abcdef0123456789abcdef")
        with pytest.raises(Unavailable, match="a Ray cluster is needed") as err:
            nf.train(template="mnist_cnn", smoke_test=True)
        assert "neuralforge cluster up" in err.value.hint
        with pytest.raises(Unavailable):
            nf.watch("raysubmit_nope", print)
        assert nf.health()["api"]["ok"] and not nf.health()["ray"]["ok"]
    with Client(url, "nf_bad_key") as wrong:
        with pytest.raises(AuthError) as err:
            wrong.parse(DSL)
        assert err.value.status == 401 and "unknown or revoked" in err.value.message
        with pytest.raises(AuthError):
            wrong.watch("raysubmit_nope", print)


def test_the_client_imports_neither_torch_nor_ray():
    code = (
        "import sys, neuralforge.client, neuralforge; neuralforge.Client; "
        "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'neural_engine', 'ray_jobs') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_client_reads_runs_compares_downloads_and_exports(server, tmp_path):
    from neuralforge.client import Client, RateLimited, Run
    from tests.test_api_tracking import tracked_runs

    url, key, home = server
    a, b = tracked_runs(Settings.from_env({**os.environ, "NEURALFORGE_HOME": str(home)}))
    with Client(url, key) as nf:
        assert {a, b} <= {r.run_id for r in nf.runs("neuralforge")}
        assert [r.run_id for r in nf.runs("neuralforge", filter="params.`conv2d_1.filters` = '8'")] == [b]
        run = nf.run(a)
        assert isinstance(run, Run) and run.params["conv2d_1.filters"] == "4" and run.status == "FINISHED"
        assert nf.compare([a, b]).params_differ == {"conv2d_1.filters": ["4", "8"]}
        path = nf.download(a, "setup/graph.json", tmp_path)
        assert path == tmp_path / "graph.json" and json.loads(path.read_text())["name"] == "Tiny"
        export = nf.export(template="mnist_cnn", input_shape=[8, 8, 1], classes=10, samples=8)
        assert export.passed and "model.onnx" in export.report["files"]
        assert nf.delete_run(b).lifecycle_stage == "deleted"
    assert issubclass(RateLimited, Exception)
