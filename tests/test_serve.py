"""``neuralforge serve``: the deployment plans (fast), and a live Ray Serve deployment of the
digits model on the local head of ``neuralforge cluster up`` (slow): real HTTP requests whose
predictions equal torch's, bad input answered 4xx while the replica keeps serving, scaling to 2
replicas, a 20% canary, rollback, promotion and deletion."""

from __future__ import annotations

import collections
import json
import re
import socket

import numpy as np
import pytest
import requests
import torch

from ray_jobs import serve
from ray_jobs.cli import main
from ray_jobs.serve import plans as serve_plans
from tests.digits_model import digits_graph, digits_test_samples, trained_state

MODEL_V1 = {"storage": "/s", "key": "serving/d/aaa.onnx", "version": "aaa", "source": "run r"}
MODEL_V2 = {"storage": "/s", "key": "serving/d/bbb.onnx", "version": "bbb", "source": "v2.onnx"}


def test_a_canary_then_promote_or_rollback_only_changes_user_configs():
    app = serve_plans.new_app("d", MODEL_V1, replicas=2, cpus=0.5)
    deps = {d["name"]: d for d in app["deployments"]}
    assert app["import_path"] == "ray_jobs.serve.app:build" and app["route_prefix"] == "/d"
    assert deps["stable"]["num_replicas"] == 2 and deps["stable"]["ray_actor_options"] == {"num_cpus": 0.5}
    assert deps["canary"]["ray_actor_options"] == {"num_cpus": 0}  # parked: reserves nothing
    canary = serve_plans.with_canary(app, MODEL_V2, 0.2, replicas=1)
    c = {d["name"]: d for d in canary["deployments"]}
    assert c["canary"]["user_config"] == MODEL_V2 and c["canary"]["ray_actor_options"] == {"num_cpus": 0.5}
    assert c["Router"]["user_config"] | {} == {
        "name": "d",
        "stable": "aaa",
        "canary": "bbb",
        "canary_share": 0.2,
        "seed": 0,
    }
    assert c["stable"] == deps["stable"] and canary["args"] == app["args"]  # stable replicas untouched
    promoted = {d["name"]: d for d in serve_plans.promoted(canary)["deployments"]}
    assert promoted["stable"]["user_config"] == MODEL_V2 and promoted["stable"]["num_replicas"] == 2
    assert (
        promoted["Router"]["user_config"]["stable"] == "bbb"
        and promoted["Router"]["user_config"]["canary"] is None
    )
    back = {d["name"]: d for d in serve_plans.rolled_back(canary)["deployments"]}
    assert back["stable"]["user_config"] == MODEL_V1 and back["Router"]["user_config"]["canary_share"] == 0.0
    assert back["canary"]["ray_actor_options"] == {"num_cpus": 0}
    with pytest.raises(serve_plans.ServeError, match="promote needs a canary; d has none"):
        serve_plans.promoted(app)


def test_readiness_waits_for_exactly_the_replicas_asked_for():
    config = serve_plans.new_app("d", MODEL_V1, replicas=2, cpus=1)
    running = [{"state": "RUNNING"}]
    app = {
        "status": "RUNNING",
        "deployed_app_config": config,
        "deployments": {
            "stable": {"status": "HEALTHY", "replicas": running * 2},
            "canary": {"status": "HEALTHY", "replicas": running},
            "Router": {"status": "HEALTHY", "replicas": running},
        },
    }
    assert serve_plans.readiness(app) is True
    app["deployments"]["stable"]["replicas"] = running + [{"state": "STARTING"}]
    assert serve_plans.readiness(app) == "stable: HEALTHY {'RUNNING': 1, 'STARTING': 1} (want 2 running)"
    failed = serve_plans.readiness({**app, "status": "DEPLOY_FAILED", "message": "boom"})
    assert isinstance(failed, serve_plans.ServeError) and "deployment failed: boom" in str(failed)


def test_serve_without_a_cluster_is_a_clear_error(nf_home, monkeypatch, capsys):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["serve", "status"]) == 1
    assert "a Ray cluster is needed" in capsys.readouterr().err


def test_a_source_that_is_not_a_model_is_refused(tmp_path, nf_home):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(serve_plans.ServeError, match="model.onnx must be an ONNX model onnxruntime loads"):
        serve.stage_model(str(bad), "d")
    with pytest.raises(serve_plans.ServeError, match="the source must be an MLflow run id or an .onnx file"):
        serve.stage_model(str(tmp_path / "weights.pt"), "d")


# ---- live: Ray Serve on the session's local head --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probabilities(state, x):
    from neural_engine.export.weights import export_module

    model, _ = export_module(digits_graph(), state)
    with torch.inference_mode():
        return model(x).numpy()


def _status(capsys) -> dict:
    capsys.readouterr()
    assert main(["serve", "status", "digits", "--json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    return found


@pytest.mark.slow
def test_live_deployment_with_scaling_canary_rollback_and_bad_input(ray_head, tmp_path, capsys):
    from neural_engine.export.pipeline import ExportSpec, run_export
    from tests.test_export_cli import training_run

    run_id = training_run(ray_head.home)  # version 1: a training run (exported on deploy)
    v2 = run_export(
        digits_graph(),
        trained_state(seed=1, epochs=2),
        ExportSpec(serving=False, samples=32),
        tmp_path / "v2",
        dataset="digits",
    ).files[0]  # version 2: an ONNX file
    port = _free_port()
    http = requests.Session()
    http.trust_env = False  # loopback: no proxies
    url = f"http://127.0.0.1:{port}/digits"
    x, _ = digits_test_samples(64)
    p1, p2 = _probabilities(trained_state(), x), _probabilities(trained_state(seed=1, epochs=2), x)
    assert (p1.argmax(1) != p2.argmax(1)).any() or not np.allclose(p1, p2)

    capsys.readouterr()
    argv = ["serve", "deploy", run_id, "--name", "digits", "--cpus", "0.1", "--port", str(port), "--json"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    deployed = json.loads(
        out
    )  # --json: only the deployment on stdout; the export's report, the wait on stderr
    assert (deployed["name"], deployed["url"], deployed["stable"]["replicas"]) == ("digits", url, 1)
    assert deployed["stable"]["source"] == f"run {run_id}" and deployed["canary"] is None
    assert f"staging {run_id} in the storage" in err
    assert "waiting for the replicas of digits: ready" in err.splitlines()
    answer = http.post(url, json={"inputs": x.tolist()}, timeout=30).json()
    assert answer["predictions"] == p1.argmax(1).tolist()
    np.testing.assert_allclose(np.array(answer["outputs"]), p1, atol=1e-5)
    v1 = answer["version"]

    bad = {
        "non-JSON": (b"{inputs: ", 400, "the body must be JSON"),
        "wrong shape": (
            json.dumps({"inputs": [[0.0] * 64]}),
            400,
            "must have shape (N, 1, 8, 8); received (1, 64)",
        ),
        "wrong dtype": (
            json.dumps({"inputs": [[[["a"] * 8] * 8]]}),
            400,
            "must hold numbers (float32); received strings",
        ),
        "no inputs": (json.dumps([1, 2]), 400, 'must be a JSON object with "inputs"'),
    }
    for what, (body, code, message) in bad.items():
        r = http.post(url, data=body, timeout=30)
        assert r.status_code == code and message in r.json()["error"], (what, r.text)
    assert (
        http.post(url, json={"inputs": x[:2].tolist()}, timeout=30).json()["predictions"]
        == p1[:2].argmax(1).tolist()
    )

    assert main(["serve", "scale", "digits", "--replicas", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["stable"]["replicas"] == 2 == _status(capsys)["stable"]["replicas"]
    waits = re.findall(r"^waiting for the replicas of digits: (.*)$", err, re.M)
    assert waits[-1] == "ready", err
    assert (
        http.post(url, json={"inputs": x.tolist()}, timeout=30).json()["predictions"] == p1.argmax(1).tolist()
    )

    assert (
        main(["serve", "deploy", str(v2), "--name", "digits", "--canary-share", "0.2", "--cpus", "0.1"]) == 0
    )
    canary = _status(capsys)["canary"]
    assert canary["share"] == 0.2 and canary["replicas"] == 1 and _status(capsys)["stable"]["replicas"] == 2
    seen = collections.Counter()
    for i in range(200):
        a = http.post(url, json={"inputs": x[i % 64 : i % 64 + 1].tolist()}, timeout=30).json()
        expected = (p2 if a["version"] == canary["version"] else p1)[i % 64].argmax()
        assert a["predictions"] == [expected]
        seen[a["version"]] += 1
    assert set(seen) == {v1, canary["version"]} and abs(seen[canary["version"]] / 200 - 0.2) <= 0.06, seen

    assert main(["serve", "rollback", "digits"]) == 0
    assert _status(capsys)["canary"] is None
    assert {
        http.post(url, json={"inputs": x[:1].tolist()}, timeout=30).json()["version"] for _ in range(30)
    } == {v1}

    assert (
        main(["serve", "deploy", str(v2), "--name", "digits", "--canary-share", "0.5", "--cpus", "0.1"]) == 0
    )
    assert main(["serve", "promote", "digits"]) == 0
    answer = http.post(url, json={"inputs": x.tolist()}, timeout=30).json()
    assert answer["version"] == canary["version"] and answer["predictions"] == p2.argmax(1).tolist()

    capsys.readouterr()
    assert main(["serve", "delete", "digits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "digits", "deleted": True}
    assert http.post(url, json={"inputs": x[:1].tolist()}, timeout=30).status_code == 404
