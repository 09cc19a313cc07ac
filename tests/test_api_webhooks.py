"""Webhooks (signatures, retries with backoff, the delivery log, the order of events) and the
Python client against a real ``python -m ray_jobs.api`` server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from neural_engine.settings import Settings
from ray_jobs.api.keys import KeyStore
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


# ---- the Python client against a real server ------------------------------------------------------


def start_server(env: dict, port: int) -> subprocess.Popen:
    """``python -m ray_jobs.api`` on a loopback port, answering /health."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ray_jobs.api", "--port", str(port), "--log-level", "warning"],
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
