"""The MLflow routes (experiments, runs, compare, artifacts, delete, logged models), exports with
their validation report, and a schemathesis run over every route that needs no Ray."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from neural_engine.settings import Settings
from ray_jobs.api.app import create_app
from tests import test_api as base
from tests.test_api import DSL, template_free

api, home, shared = base.api, base.home, base.shared  # fixtures shared with test_api.py


def tracked_runs(s: Settings) -> tuple[str, str]:
    """Two finished runs (as training leaves them: params, metrics, setup/graph.json), one wider."""
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import experiment_id

    client = MlflowClient(s.mlflow_uri)
    exp = experiment_id(s.mlflow_uri, "neuralforge", str(s.home / "mlartifacts"))
    ids = []
    for width, acc in ((4, 0.91), (8, 0.95)):
        run = client.create_run(exp, run_name=f"tiny-{width}", tags={"neuralforge.kind": "train"})
        graph = template_free(DSL.replace("Conv2D(4, 3)", f"Conv2D({width}, 3)"))
        with tempfile.TemporaryDirectory() as d:
            Path(d, "graph.json").write_text(json.dumps(graph.to_json()))
            client.log_artifact(run.info.run_id, str(Path(d, "graph.json")), "setup")
        client.log_param(run.info.run_id, "conv2d_1.filters", str(width))
        client.log_param(run.info.run_id, "dataset", "digits")
        for step in range(2):
            client.log_metric(run.info.run_id, "val_accuracy", acc - 0.1 + 0.1 * step, step=step)
        client.set_terminated(run.info.run_id, "FINISHED")
        ids.append(run.info.run_id)
    return ids[0], ids[1]


def test_experiments_runs_compare_and_artifacts(api):
    a, b = tracked_runs(api.settings)
    names = {e["name"]: e["id"] for e in api.call("GET", "/experiments").json()}
    assert "neuralforge" in names
    by_name = api.call("GET", "/experiments/neuralforge").json()
    by_id = api.call(
        "GET", f"/experiments/{names['neuralforge']}", params={"filter": "metrics.val_accuracy > 0.93"}
    ).json()
    filtered = {r["run_id"] for r in by_id["runs"]}
    assert {r["run_id"] for r in by_name["runs"]} >= {a, b} and b in filtered and a not in filtered
    assert api.call("GET", "/experiments/nope").status_code == 404
    assert (
        api.call("GET", "/experiments/neuralforge", params={"filter": "metrics.val_accuracy >>"}).status_code
        == 422
    )
    run = api.call("GET", f"/runs/{a}").json()
    assert run["params"]["conv2d_1.filters"] == "4" and run["metrics"]["val_accuracy"] == pytest.approx(0.91)
    assert api.call("GET", "/runs/0123456789abcdef0123456789abcdef").status_code == 404
    cmp = api.call("GET", "/runs/compare", params={"ids": f"{a},{b}"}).json()
    assert cmp["params_differ"] == {"conv2d_1.filters": ["4", "8"]} and cmp["metrics"]["val_accuracy"] == [
        pytest.approx(0.91),
        pytest.approx(0.95),
    ]
    assert any("conv2d_1" in line for line in cmp["architecture_lines"][b])
    assert api.call("GET", "/runs/compare", params={"ids": [a, b]}).json()["runs"] == [a, b]
    assert api.call("GET", "/runs/compare", params={"ids": a}).status_code == 422
    listing = api.call("GET", f"/runs/{a}/artifacts/setup").json()
    assert listing["files"][0]["path"] == "setup/graph.json"
    assert api.call("GET", f"/runs/{a}/artifacts/").json()["files"][0]["path"] == "setup"
    file = api.call("GET", f"/runs/{a}/artifacts/setup/graph.json")
    assert file.status_code == 200 and json.loads(file.content)["nodes"][0]["params"]["filters"] == 4
    assert api.call("GET", f"/runs/{a}/artifacts/setup/nope.json").status_code == 404
    assert api.call("GET", f"/runs/{a}/artifacts/setup/%2E%2E/%2E%2E/secret").status_code == 422
    deleted = api.call("DELETE", f"/runs/{b}").json()
    assert deleted["lifecycle_stage"] == "deleted"
    assert b not in {r["run_id"] for r in api.call("GET", "/experiments/neuralforge").json()["runs"]}


def test_models_are_listed_and_downloaded_as_zip(api, tmp_path):
    from mlflow.tracking import MlflowClient

    a, _ = tracked_runs(api.settings)
    client = MlflowClient(api.settings.mlflow_uri)
    model = client.create_logged_model(client.get_run(a).info.experiment_id, name="model", source_run_id=a)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "MLmodel").write_text("flavors: {}\n")
    client.log_model_artifacts(model.model_id, str(tmp_path / "m"))
    client.finalize_logged_model(model.model_id, "READY")
    listed = api.call("GET", "/models").json()
    assert listed[0]["id"] == model.model_id and listed[0]["run_id"] == a and listed[0]["status"] == "READY"
    r = api.call("GET", f"/models/{model.model_id}/download")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    (tmp_path / "got.zip").write_bytes(r.content)
    with zipfile.ZipFile(tmp_path / "got.zip") as z:
        assert z.read("MLmodel") == b"flavors: {}\n"
    assert api.call("GET", "/models/m-nope/download").status_code == 404


def test_an_export_answers_with_its_validation_report(api):
    r = api.call(
        "POST",
        "/exports",
        json={
            "template": "mnist_cnn",
            "input_shape": [8, 8, 1],
            "classes": 10,
            "samples": 8,
            "onnx_exporter": "legacy",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["passed"] is True and body["run_id"] is None and "model.onnx" in body["report"]["files"]
    assert body["report"]["validation"]["comparison"]["max_abs_diff"] < 1e-4
    assert Path(body["directory"], "model.onnx").is_file()
    assert body["report"]["validation"]["exporter"] == "legacy (asked for)"
    r = api.call(
        "POST", "/exports", json={"template": "mnist_cnn", "input_shape": [8, 8, 1], "format": "pt2"}
    )
    assert r.status_code == 200 and r.json()["report"]["files"] == ["model.pt2"], r.text
    r = api.call("POST", "/exports", json={"run_id": "0" * 32})
    assert r.status_code == 422 and "setup/graph.json" in r.json()["message"]
    assert api.call("POST", "/exports", json={"template": "mnist_cnn", "quantize": "int4"}).status_code == 422


# ---- schemathesis: no 5xx from anything the schema allows (and much it does not) -------------------

# the job and deployment routes need Ray (503 without it; test_api_jobs.py runs them); an export
# takes seconds (test_an_export_answers_with_its_validation_report)
FUZZED = r"^/(parse|shapes|compile|experiments|runs|models|health|$)"
OPERATIONS = [
    r.ok().label
    for r in schemathesis.openapi.from_dict(
        create_app(Settings.from_env({"NEURALFORGE_HOME": tempfile.mkdtemp(prefix="nf-schema-")})).openapi()
    )
    .include(path_regex=FUZZED)
    .get_all_operations()
]


@pytest.mark.parametrize("label", OPERATIONS)
def test_schemathesis_finds_no_server_errors(api, label):
    from hypothesis import given
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    operation = schemathesis.openapi.from_asgi("/openapi.json", api.app).find_operation_by_label(label)
    modes = [(GenerationMode.POSITIVE, 10)]
    if list(operation.iter_parameters()) or operation.body:  # something to get wrong
        modes.append((GenerationMode.NEGATIVE, 5))
    for mode, examples in modes:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            case.call_and_validate(
                headers=api.headers("admin"), checks=[not_a_server_error, response_schema_conformance]
            )

        check()


def test_an_mlflow_server_that_does_not_answer_is_503_saying_what_to_start(home, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    down = base.Api()
    for path in ("/experiments", "/runs/0123456789abcdef0123456789abcdef", "/models"):
        r = down.call("GET", path)
        assert r.status_code == 503, (path, r.text)
        assert "must answer" in r.json()["message"] and "MLFLOW_TRACKING_URI" in r.json()["hint"]
    health = down.client.get("/health").json()["mlflow"]
    assert not health["ok"] and "MLFLOW_TRACKING_URI" in health["hint"]
