"""The API on a real local Ray head (``neuralforge cluster up``, the session's head of conftest):
a training job submitted through the Python client, streamed over the WebSocket, waited for, its
MLflow run read back, and its webhooks received in order with valid signatures; a job stopped
through the API ends with a ``failed`` webhook."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import requests

from neuralforge.client import Client, verify_webhook
from ray_jobs.api.keys import KeyStore
from ray_jobs.serve import Serve
from tests.conftest import RAY_ENV_CLEARED, free_port, serve_running, stop_serve
from tests.test_api_webhooks import Receiver, start_server, stop_server

pytestmark = pytest.mark.slow
SECRET = "webhook-secret-" + "s" * 20


@pytest.fixture(scope="module")
def api_on_ray(ray_head_session):
    """``python -m ray_jobs.api`` for the head's home: (url, admin key)."""
    head = ray_head_session
    env = {k: v for k, v in os.environ.items() if k not in RAY_ENV_CLEARED}
    env.update(head.env, NEURALFORGE_WEBHOOK_SECRET=SECRET)
    key = KeyStore(head.home / "api" / "keys.json").create("tester", "admin")[1]
    port = free_port()
    proc = start_server(env, port)
    yield f"http://127.0.0.1:{port}", key, head
    stop_server(proc)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_a_training_job_streamed_waited_for_and_reported_by_webhooks(api_on_ray):
    url, key, head = api_on_ray
    receiver = Receiver()
    nf = Client(url, key)
    try:
        job = nf.train(template="mnist_cnn", dataset="digits", smoke_test=True, webhook_url=receiver.url)
        assert job.id.startswith("nf-train-") and job.kind == "train" and job.user == "tester"
        assert job.entrypoint.startswith("python -m ray_jobs.train --template mnist_cnn")
        events = []
        final = nf.watch(job, events.append, timeout=300)
        assert final.status == "SUCCEEDED", nf.logs(job)[-3000:]
        kinds = [e["type"] for e in events]
        statuses = [e["status"] for e in events if e["type"] == "status"]
        assert kinds[-1] == "end" and "log" in kinds and "RUNNING" in statuses and statuses[-1] == "SUCCEEDED"
        epochs = [e for e in events if e["type"] == "metrics" and "train_loss" in e["metrics"]]
        assert [e["step"] for e in epochs] == [0]
        assert kinds.index("metrics") > kinds.index("status") and events[-1]["run_id"] == final.run_id
        assert "MLflow run" in "".join(e["text"] for e in events if e["type"] == "log")

        assert nf.wait(job, timeout=10).status == "SUCCEEDED"
        assert final.progress == {"epoch": 1, "epochs": 1, "fraction": 1.0}
        run = nf.run(final.run_id)
        assert run.status == "FINISHED" and run.name == final.run_name and "test_accuracy" in run.metrics
        assert final.metrics["test_accuracy"] == run.metrics["test_accuracy"]
        assert final.run_id in {r.run_id for r in nf.runs("neuralforge")}
        assert job.id in {j.id for j in nf.jobs()} and "MLflow run" in nf.logs(job, tail=5)

        wait_for(lambda: "completed" in receiver.events(), 30, f"webhooks so far: {receiver.events()}")
        assert receiver.events() == ["started", "progress", "completed"]
        payloads = [json.loads(body) for _, body, _ in receiver.requests]
        assert all(verify_webhook(SECRET, body, headers) for headers, body, _ in receiver.requests)
        assert payloads[1]["data"]["epoch"] == 1 and "train_loss" in payloads[1]["data"]["metrics"]
        assert payloads[2]["run_id"] == final.run_id and payloads[2]["status"] == "SUCCEEDED"
        deliveries = nf.job(job).webhook["deliveries"]
        assert [(d["event"], d["ok"], d["attempts"]) for d in deliveries] == [
            ("started", True, 1),
            ("progress", True, 1),
            ("completed", True, 1),
        ]

        # the trained run on Ray Serve through the API: deploy, list, predict over HTTP, scale, delete
        serve = Serve(head.state.dashboard_url, token=(head.home / "auth_token").read_text().strip())
        serving = serve_running(serve)
        deployed = nf.deploy(final.run_id, "api-digits", replicas=1, cpus=0.25, port=free_port())
        assert deployed.status == "RUNNING" and deployed.stable["replicas"] == 1, deployed
        assert "api-digits" in {d.name for d in nf.deployments()}
        http = requests.Session()
        http.trust_env = False  # loopback: no proxies
        x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32).tolist()
        answer = http.post(deployed.url, json={"inputs": x}, timeout=30).json()
        assert len(answer["predictions"]) == 4 and all(0 <= p < 10 for p in answer["predictions"]), answer
        assert http.post(deployed.url, data=b"{inputs: ", timeout=30).status_code == 400
        assert nf.scale("api-digits", 2).stable["replicas"] == 2
        nf.undeploy("api-digits")
        assert "api-digits" not in {d.name for d in nf.deployments()}
        if not serving:
            stop_serve(serve)  # as found: later tests start Serve on their own port
    finally:
        receiver.close()
        nf.close()


def test_a_stopped_job_ends_with_a_failed_webhook(api_on_ray):
    url, key, _ = api_on_ray
    receiver = Receiver()
    nf = Client(url, key)
    try:
        job = nf.train(template="mnist_cnn", dataset="digits", epochs=200, webhook_url=receiver.url)
        wait_for(lambda: nf.job(job).status == "RUNNING", 120, "the job must start")
        assert nf.stop(job) is True
        assert nf.wait(job, timeout=120, poll=0.5).status == "STOPPED"
        wait_for(lambda: "failed" in receiver.events(), 30, f"webhooks so far: {receiver.events()}")
        events = receiver.events()
        assert (
            events[0] == "started"
            and events[-1] == "failed"
            and set(events) <= {"started", "progress", "failed"}
        )
        assert json.loads(receiver.requests[-1][1])["status"] == "STOPPED"
        assert nf.stop(job) is False  # already ended
    finally:
        receiver.close()
        nf.close()
