"""The REST API without Ray: credentials on every route, scopes, keys, JWTs, rate limits, body
limit, CORS, the engine routes, job requests checked before Ray is asked. MLflow routes, exports and
the schemathesis run are in test_api_tracking.py; webhooks and the client in test_api_webhooks.py;
jobs on a real Ray head in test_api_jobs.py. The fixtures here are shared with those modules."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from neural_engine.settings import Settings
from neural_engine.templates import template
from ray_jobs.api import jobs as api_jobs
from ray_jobs.api.app import PUBLIC, create_app, routes
from ray_jobs.api.auth import keys_path
from ray_jobs.api.keys import KeyStore
from ray_jobs.cli import main
from tests.conftest import RAY_ENV_CLEARED

JWT_SECRET = "j" * 40
DSL = 'network Tiny { input: (8, 8, 1) layers: Conv2D(4, 3) Flatten() Output(10, "softmax") }'
ROUTES = routes(create_app(Settings.from_env({"NEURALFORGE_HOME": tempfile.mkdtemp(prefix="nf-routes-")})))
ISSUE_ROUTES = {
    ("POST", "/parse"),
    ("POST", "/shapes"),
    ("POST", "/compile"),
    ("GET", "/compile/{task_id}"),
    ("POST", "/jobs/train"),
    ("POST", "/jobs/tune"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"),
    ("GET", "/jobs/{job_id}/logs"),
    ("DELETE", "/jobs/{job_id}"),
    ("WEBSOCKET", "/jobs/{job_id}/stream"),
    ("GET", "/experiments"),
    ("GET", "/experiments/{experiment}"),
    ("GET", "/runs/{run_id}"),
    ("GET", "/runs/compare"),
    ("GET", "/runs/{run_id}/artifacts/{path:path}"),
    ("DELETE", "/runs/{run_id}"),
    ("GET", "/models"),
    ("GET", "/models/{model_id}/download"),
    ("POST", "/exports"),
    ("POST", "/deployments"),
    ("GET", "/deployments"),
    ("GET", "/deployments/{name}"),
    ("POST", "/deployments/{name}/scale"),
    ("DELETE", "/deployments/{name}"),
    ("GET", "/health"),
    ("GET", "/"),
}
# every route but the public ones, whatever its scope: a route added without a scope fails below
PROTECTED = sorted((m, r.path, r.scope) for r in ROUTES for m in r.methods if r.path not in PUBLIC)
IDS = [f"{m} {p}" for m, p, _ in PROTECTED]
SCOPES = ("read", "submit", "admin")


def url_of(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


class Api:
    """A TestClient of the app for this test's home, with one key per scope."""

    def __init__(self, **env):
        self.settings = Settings.from_env({**os.environ, "NEURALFORGE_API_JWT_SECRET": JWT_SECRET, **env})
        store = KeyStore(keys_path(self.settings))
        self.keys = {scope: store.create(f"{scope}-user", scope)[1] for scope in ("read", "submit", "admin")}
        self.app = create_app(self.settings, resume_webhooks=False)
        self.client = TestClient(self.app)

    def headers(self, scope: str = "admin") -> dict:
        return {"X-API-Key": self.keys[scope]}

    def call(self, method: str, path: str, scope: str | None = "admin", **kw) -> httpx.Response:
        headers = {**(self.headers(scope) if scope else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)


def isolate(mp: pytest.MonkeyPatch, home: Path) -> Path:
    """This home, no Ray cluster, no token, MLflow in the home."""
    for var in RAY_ENV_CLEARED:
        mp.delenv(var, raising=False)
    mp.setenv("NEURALFORGE_HOME", str(home))
    mp.setenv("RAY_AUTH_TOKEN_PATH", str(home / "no-token"))
    return home


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    return isolate(monkeypatch, tmp_path / "nf-home")


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Api:
    """One app and home for the read-mostly tests (MLflow's first database takes seconds)."""
    from mlflow.tracking import MlflowClient

    with pytest.MonkeyPatch.context() as mp:  # only while building it: tests isolate themselves (`api`)
        isolate(mp, tmp_path_factory.mktemp("api-home"))
        api = Api()
        MlflowClient(api.settings.mlflow_uri).search_experiments()  # create the database once, here
    return api


@pytest.fixture
def api(shared, monkeypatch) -> Api:
    isolate(monkeypatch, shared.settings.home)
    return shared


def token(scope="read", secret=JWT_SECRET, expires_in=60) -> str:
    return jwt.encode(
        {"sub": "notebook", "scope": scope, "exp": int(time.time()) + expires_in}, secret, "HS256"
    )


# ---- credentials, scopes, limits ------------------------------------------------------------------


def test_the_routes_are_the_issues_and_only_the_public_ones_need_no_scope():
    assert {
        (m, r.path) for r in ROUTES for m in r.methods if r.path not in PUBLIC - {"/", "/health"}
    } == ISSUE_ROUTES
    assert {r.path for r in ROUTES if r.scope is None} == PUBLIC


BAD_CREDENTIALS = {
    "none": {},
    "unknown key": {"X-API-Key": "nf_000000000000_" + "a" * 43},
    "not a key": {"X-API-Key": "letmein"},
    "token with another secret": {"Authorization": f"Bearer {token(secret='x' * 40)}"},
    "expired token": {"Authorization": f"Bearer {token(expires_in=-120)}"},
}


@pytest.mark.parametrize("method,path,scope", PROTECTED, ids=IDS)
def test_every_protected_route_refuses_missing_and_wrong_credentials(api, method, path, scope):
    for what, headers in BAD_CREDENTIALS.items():
        if method == "WEBSOCKET":
            with (
                pytest.raises(WebSocketDenialResponse) as denied,
                api.client.websocket_connect(url_of(path), headers=headers),
            ):
                pass
            assert denied.value.status_code == 401, what
            continue
        r = api.client.request(method, url_of(path), headers=headers, json={})
        assert r.status_code == 401, (what, r.status_code, r.text)
        assert r.json()["error"] == "AuthError" and "WWW-Authenticate" in r.headers, what
    # and a body that is not even JSON is refused for the credentials first
    if method in ("POST", "DELETE"):
        r = api.client.request(
            method, url_of(path), content=b"{", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 401, r.text


def test_public_routes_answer_without_credentials(api):
    for path in ("/", "/health", "/openapi.json", "/docs"):
        assert api.client.get(path).status_code == 200, path


@pytest.mark.parametrize("method,path,scope", PROTECTED, ids=IDS)
def test_a_key_below_the_routes_scope_gets_403_and_one_with_it_passes(api, method, path, scope):
    expected = (
        "read"
        if method in ("GET", "WEBSOCKET") or path in ("/parse", "/shapes", "/compile")
        else "admin"
        if method == "DELETE" and not path.startswith("/jobs")
        else "submit"
    )
    assert scope == expected
    for held in SCOPES:
        if method == "WEBSOCKET":
            continue  # read is the lowest scope; the credentials test covers the refusal
        r = api.call(method, url_of(path), scope=held, json={})
        if SCOPES.index(held) < SCOPES.index(scope):
            assert r.status_code == 403 and f"needs the {scope!r} scope" in r.json()["message"], (
                held,
                r.text,
            )
        else:
            assert r.status_code not in (401, 403), (held, r.status_code, r.text)


def test_keys_cli_prints_the_key_once_and_stores_only_a_hash(home, capsys):
    assert main(["api", "keys", "create", "--scope", "read", "--name", "ci"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("nf_")
    path = home / "api" / "keys.json"
    text = path.read_text()
    assert key not in text and key.rsplit("_", 1)[1] not in text and '"scope": "read"' in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["api", "keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ci" in listed and key not in listed
    client = TestClient(create_app(Settings.from_env(os.environ), resume_webhooks=False))
    assert client.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": key}).status_code == 200
    assert main(["api", "keys", "revoke", "ci"]) == 0
    assert client.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": key}).status_code == 401
    capsys.readouterr()
    assert main(["api", "keys", "create", "--scope", "submit", "--name", "bot", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["key"].startswith("nf_") and (made["name"], made["scope"]) == ("bot", "submit")
    assert client.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": made["key"]}).status_code == 200
    assert main(["api", "keys", "revoke", made["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        **{k: made[k] for k in made if k != "key"},
        "revoked": True,
    }
    with pytest.raises(SystemExit):  # argparse refuses a scope it does not know
        main(["api", "keys", "create", "--scope", "root", "--name", "x"])


def test_a_development_key_only_when_enabled(home, monkeypatch):
    dev = "dev-key-" + "z" * 16
    plain = TestClient(create_app(Settings.from_env(os.environ), resume_webhooks=False))
    assert plain.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": dev}).status_code == 401
    monkeypatch.setenv("NEURALFORGE_API_DEV_KEY", dev)
    enabled = TestClient(create_app(Settings.from_env(os.environ), resume_webhooks=False))
    assert enabled.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": dev}).status_code == 200
    assert enabled.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": dev + "x"}).status_code == 401
    monkeypatch.setenv("NEURALFORGE_API_DEV_KEY", "short")
    with pytest.raises(Exception, match="NEURALFORGE_API_DEV_KEY must be at least 16 characters"):
        Settings.from_env(os.environ)
    assert "dev-key" not in repr(Settings.from_env({**os.environ, "NEURALFORGE_API_DEV_KEY": dev}))


def test_jwt_bearer_tokens(api):
    bearer = lambda t: {"Authorization": f"Bearer {t}"}
    r = api.call("POST", "/parse", scope=None, json={"dsl": DSL}, headers=bearer(token("read")))
    assert r.status_code == 200
    r = api.call(
        "POST", "/jobs/train", scope=None, json={"template": "mnist_cnn"}, headers=bearer(token("read"))
    )
    assert r.status_code == 403
    r = api.call("POST", "/parse", scope=None, json={"dsl": DSL}, headers=bearer(token("root")))
    assert r.status_code == 401 and "scope claim" in r.json()["message"]
    no_secret = TestClient(create_app(Settings.from_env(os.environ), resume_webhooks=False))
    r = no_secret.post("/parse", json={"dsl": DSL}, headers=bearer(token("read")))
    assert r.status_code == 401 and "NEURALFORGE_API_JWT_SECRET" in r.json()["message"]


def test_the_rate_limit_trips_per_key_and_recovers(home):
    api = Api(NEURALFORGE_API_RATE_LIMIT="3/4 second")
    # warm (another key): the three requests below must land inside one window on a slow machine too
    api.call("POST", "/parse", scope="admin", json={"dsl": DSL})
    seen = []
    for _ in range(3):
        r = api.call("POST", "/parse", scope="read", json={"dsl": DSL})
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "3"
        seen.append(int(r.headers["X-RateLimit-Remaining"]))
    assert seen == [2, 1, 0]
    r = api.call("POST", "/parse", scope="read", json={"dsl": DSL})
    assert r.status_code == 429 and r.json()["error"] == "RateLimitError"
    wait = int(r.headers["Retry-After"])
    assert (
        1 <= wait <= 4
        and r.headers["X-RateLimit-Remaining"] == "0"
        and int(r.headers["X-RateLimit-Reset"]) > 0
    )
    assert api.call("POST", "/parse", scope="submit", json={"dsl": DSL}).status_code == 200  # per key
    time.sleep(wait + 0.2)
    r = api.call("POST", "/parse", scope="read", json={"dsl": DSL})
    assert r.status_code == 200 and int(r.headers["X-RateLimit-Remaining"]) >= 0
    _, own = KeyStore(keys_path(api.settings)).create("slow", "read", rate_limit="1/minute")
    assert api.client.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": own}).status_code == 200
    r = api.client.post("/parse", json={"dsl": DSL}, headers={"X-API-Key": own})
    assert r.status_code == 429 and r.headers["X-RateLimit-Limit"] == "1"


def test_the_body_size_limit(home):
    api = Api(NEURALFORGE_API_MAX_BODY_MB=str(2048 / 2**20))
    small = {"dsl": DSL}
    assert api.call("POST", "/parse", json=small).status_code == 200
    big = {"dsl": DSL + " " * 3000}
    r = api.call("POST", "/parse", json=big)
    assert r.status_code == 413 and r.text == "Content Too Large"  # Starlette answers a declared length

    def chunks():  # no Content-Length: the limit counts what arrives
        yield json.dumps(big).encode()

    r = api.call("POST", "/parse", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "must be at most 2,048 bytes" in r.json()["message"]


def test_cors_origins_come_from_the_settings(home):
    api = Api(NEURALFORGE_API_CORS_ORIGINS="https://app.example.com")
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    ok = api.client.options("/parse", headers={"Origin": "https://app.example.com", **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.com"
    other = api.client.options("/parse", headers={"Origin": "https://evil.example.com", **preflight})
    assert "access-control-allow-origin" not in other.headers
    r = api.call("POST", "/parse", json={"dsl": DSL}, headers={"Origin": "https://app.example.com"})
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "X-RateLimit-Remaining" in r.headers["access-control-expose-headers"]


# ---- the engine routes ----------------------------------------------------------------------------


def test_parse_gives_the_graph_and_warnings_and_located_errors(api):
    from neural_engine.dsl import parse

    two = DSL + "\n" + DSL.replace("Tiny", "Other")
    r = api.call("POST", "/parse", json={"dsl": two, "network": "Tiny"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["network"] == "Tiny" and body["networks"] == ["Tiny", "Other"]
    assert body["graph"] == parse(DSL).to_json()
    twice = api.call("POST", "/parse", json={"dsl": DSL + "\n" + DSL}).json()
    assert "defined twice" in twice["warnings"][0]["message"] and twice["warnings"][0]["line"] == 2
    bad = api.call("POST", "/parse", json={"dsl": DSL.replace("Conv2D(4, 3)", "Conv2D(4, 3")})
    assert bad.status_code == 422
    err = bad.json()
    assert err["error"] == "DSLSyntaxError" and err["line"] == 1 and err["column"] > 1 and err["hint"]
    unknown = api.call("POST", "/parse", json={"dsl": DSL.replace("Conv2D", "Conv2d_x")}).json()
    assert unknown["error"] in ("ValidationError", "DSLSyntaxError") and "Conv2d_x" in unknown["message"]


def test_shapes_is_the_engines_report(api):
    from neural_engine.report import report

    r = api.call(
        "POST", "/shapes", json={"template": "mnist_cnn", "input_shape": [8, 8, 1], "batch_size": 16}
    )
    assert r.status_code == 200, r.text
    body, expected = r.json(), report(template("mnist_cnn", input_shape=(8, 8, 1)), batch_size=16).to_json()
    assert body["params"] == expected["params"] and body["flops"] == expected["flops"]
    assert [n["output_shape"] for n in body["nodes"]] == [list(n["output_shape"]) for n in expected["nodes"]]
    assert body["memory"]["batch_size"] == 16
    graph = api.call("POST", "/parse", json={"dsl": DSL}).json()["graph"]
    assert (
        api.call("POST", "/shapes", json={"graph": graph}).json()["params"]
        == api.call("POST", "/shapes", json={"dsl": DSL}).json()["params"]
    )
    too_small = api.call("POST", "/shapes", json={"dsl": DSL.replace("(8, 8, 1)", "(2, 2, 1)")})
    assert too_small.status_code == 422
    err = too_small.json()
    assert err["error"] == "ShapeError" and err["node"] == "conv2d_1" and err["line"] == 1 and err["hint"]
    for bad in (
        {"graph": {"nodes": 3}},
        {"graph": {"inputs": {"x": [4]}, "nodes": [{"id": 1}]}},
        {"template": "resnet19"},
        {"dsl": DSL, "template": "mnist_cnn"},
        {},
    ):
        r = api.call("POST", "/shapes", json=bad)
        assert r.status_code == 422 and r.json()["message"], (bad, r.text)
    assert "resnet18" in api.call("POST", "/shapes", json={"template": "resnet19"}).json()["hint"]


def test_compile_sync_and_async(api):
    from neural_engine.codegen import generate_keras, generate_pytorch

    r = api.call("POST", "/compile", json={"dsl": DSL, "target": "pytorch"})
    assert r.status_code == 200 and r.json()["source"] == generate_pytorch(template_free(DSL))
    keras = api.call("POST", "/compile", json={"dsl": DSL, "target": "keras"}).json()["source"]
    assert keras == generate_keras(template_free(DSL))
    r = api.call("POST", "/compile", json={"dsl": DSL, "mode": "async", "with_training": True})
    assert r.status_code == 202 and r.headers["Location"] == r.json()["url"]
    for _ in range(100):
        task = api.call("GET", r.headers["Location"]).json()
        if task["status"] != "pending":
            break
        time.sleep(0.05)
    assert task["status"] == "done" and task["result"]["source"] == generate_pytorch(
        template_free(DSL), with_training=True
    )
    big = {
        "name": "Chain",
        "inputs": {"x": [8]},
        "nodes": [{"id": f"d{i}", "type": "Dense", "params": {"units": 8}} for i in range(500)],
        "edges": [
            {"id": f"e{i}", "source": "x" if i == 0 else f"d{i - 1}", "target": f"d{i}"} for i in range(500)
        ],
    }
    assert api.call("POST", "/compile", json={"graph": big}).status_code == 202  # large: in the background
    failed = api.call(
        "POST", "/compile", json={"dsl": DSL.replace("(8, 8, 1)", "(2, 2, 1)"), "mode": "async"}
    )
    for _ in range(100):
        task = api.call("GET", failed.headers["Location"]).json()
        if task["status"] != "pending":
            break
        time.sleep(0.05)
    assert task["status"] == "failed" and task["error"]["error"] == "ShapeError"
    assert api.call("GET", "/compile/nope").status_code == 404


def test_background_work_survives_the_app_restarting(api):
    """Lifespans may run again on one app (test clients, reloads): compile tasks still run."""
    for _ in range(2):
        with TestClient(api.app) as client:
            r = client.post("/compile", json={"dsl": DSL, "mode": "async"}, headers=api.headers())
            assert r.status_code == 202
            deadline = time.monotonic() + 30
            while (task := client.get(r.headers["Location"], headers=api.headers()).json())[
                "status"
            ] == "pending":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert task["status"] == "done"


def template_free(dsl: str):
    from neural_engine.dsl import parse

    return parse(dsl)


# ---- jobs: checked before Ray is asked, 503 without a cluster ------------------------------------


def test_job_requests_are_checked_before_submitting(api):
    cases = {
        "epochs": ({"template": "mnist_cnn", "epochs": 0}, "--epochs must be a positive integer"),
        "two sources": ({"template": "mnist_cnn", "dsl": DSL}, "give exactly one of"),
        "dsl": ({"dsl": DSL.replace("Flatten()", "Flatten(")}, "expected"),
        "template": ({"template": "resnet19"}, "unknown template"),
        "optimizer": ({"template": "mnist_cnn", "optimizer": "Adamm"}, "--optimizer"),
        "webhook": ({"template": "mnist_cnn", "webhook_url": "not a url"}, "webhook_url"),
        "unknown option": ({"template": "mnist_cnn", "epoch": 3}, "epoch"),
    }
    for what, (body, message) in cases.items():
        r = api.call("POST", "/jobs/train", json=body)
        assert r.status_code == 422 and message in r.json()["message"], (what, r.text)
    r = api.call("POST", "/jobs/tune", json={"template": "mnist_cnn", "search_method": "genetic"})
    assert r.status_code == 422 and "--search-method" in r.json()["message"]


def test_webhook_hosts_are_limited_by_the_settings(home):
    limited = Api(NEURALFORGE_WEBHOOK_HOSTS="hooks.example.com, .corp.example")
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:9/hook",
        "https://evil.example/x",
    ):
        r = limited.call("POST", "/jobs/train", json={"template": "mnist_cnn", "webhook_url": url})
        assert r.status_code == 422 and "NEURALFORGE_WEBHOOK_HOSTS" in r.json()["message"], (url, r.text)
    for url in ("https://hooks.example.com/nf", "https://ci.corp.example/hook"):  # allowed: Ray is asked next
        r = limited.call("POST", "/jobs/train", json={"template": "mnist_cnn", "webhook_url": url})
        assert r.status_code == 503, (url, r.text)


def test_a_request_becomes_the_clis_command(api):
    import argparse

    from ray_jobs.config import add_arguments, from_args
    from ray_jobs.tune import add_sweep_arguments, sweep_config

    sub = api_jobs.prepare(
        "train",
        {"template": "mnist_cnn", "epochs": 2, "smoke_test": True, "webhook_url": "http://127.0.0.1:9/hook"},
        user="ci",
    )
    assert sub.command[:3] == ["python", "-m", "ray_jobs.train"] and sub.files == {}
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = from_args(parser.parse_args(sub.command[3:]))
    assert (config.template, config.epochs, config.smoke_test, config.run_name) == (
        "mnist_cnn",
        2,
        True,
        sub.run_name,
    )
    assert sub.run_name == f"mnist_cnn-{sub.id}" and sub.id.startswith("nf-train-")
    assert sub.env[api_jobs.WEBHOOK_ENV] == "http://127.0.0.1:9/hook" and sub.env["NEURALFORGE_USER"] == "ci"
    tune = api_jobs.prepare(
        "tune",
        {
            "dsl": DSL,
            "search": ["conv2d_1.filters=choice(4, 8)"],
            "num_samples": 2,
            "workers_per_trial": 1,
            "run_name": "sweep-1",
        },
        user="ci",
    )
    parser = argparse.ArgumentParser()
    add_sweep_arguments(parser)
    args = parser.parse_args(tune.command[3:])
    assert tune.command[2] == "ray_jobs.tune" and tune.files == {"network.neural": DSL}
    assert (args.dsl, args.run_name) == ("network.neural", "sweep-1")
    assert (
        sweep_config(args).search == ("conv2d_1.filters=choice(4, 8)",)
        and sweep_config(args).num_samples == 2
    )
    with pytest.raises(Exception, match="quotes"):
        api_jobs.prepare("train", {"template": "mnist_cnn", "run_name": "a'b"}, user="ci")


def test_without_a_cluster_job_and_serve_routes_are_503_saying_what_to_start(api):
    for method, path, body in (
        ("POST", "/jobs/train", {"template": "mnist_cnn"}),
        ("GET", "/jobs", None),
        ("GET", "/jobs/raysubmit_x", None),
        ("DELETE", "/jobs/raysubmit_x", None),
        ("GET", "/deployments", None),
        ("POST", "/deployments/d/scale", {"replicas": 2}),
    ):
        r = api.call(method, path, json=body)
        assert r.status_code == 503 and "neuralforge cluster up" in r.json()["hint"], (path, r.text)
    health = api.client.get("/health").json()
    assert (
        health["ok"] is False and health["api"]["ok"] and health["mlflow"]["ok"] and health["storage"]["ok"]
    )
    assert not health["ray"]["ok"] and "neuralforge cluster up" in health["ray"]["hint"]
    assert api.client.get("/").json()["links"]["docs"] == "/docs"
