"""Train, Sweeps and architecture versions in AppTest: forms checked by the engine, jobs submitted to
a real local Ray head, their MLflow runs shown live; errors are messages, never tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app.jobs_view import curve_rows, defaults, kind_of, neuralforge_jobs, progress
from neural_engine.dsl import parse
from neural_engine.projects import save_version, versions
from neural_engine.templates import template
from ray_jobs.cluster.submit import Job

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app" / "streamlit_app.py")
PAGES = ROOT / "app" / "app_pages"
DIGITS_CNN = (
    'network DigitsCNN { input: (8, 8, 1) layers: Conv2D(8, 3, activation="relu") Flatten() '
    'Dense(HPO(choice(16, 32)), "relu") Output(10, "softmax") '
    "train { epochs: 4 batch_size: 64 } optimizer: Adam(learning_rate=0.005) }"
)


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_canvas_saves_loads_and_diffs_versions(nf_home):
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["canvas_tab"] = "Versions"
    at.run()
    at.text_input(key="project_name").set_value("digits-cnn")
    at.text_input(key="version_message").set_value("the template")
    at.button(key="save_version").click().run()
    assert not at.exception and any("Saved digits-cnn@v1" in s.value for s in at.success)
    good = 'network T { input: (8, 8, 1) layers: Conv2D(4, 3) Flatten() Output(10, "softmax") }'
    at.session_state["canvas_tab"] = "DSL"
    at.run()
    at.text_area(key="dsl_editor").set_value(good).run()
    at.button(key="apply_dsl").click().run()
    at.session_state["canvas_tab"] = "Versions"
    at.run()
    at.text_input(key="version_message").set_value("smaller")
    at.button(key="save_version").click().run()
    saved = versions("digits-cnn")
    assert [(v.number, v.parent, v.message) for v in saved] == [(1, None, "the template"), (2, 1, "smaller")]
    assert saved[1].graph == parse(good)
    diff = at.code[-1].value
    assert "+ conv2d_1 (Conv2D)" not in diff and "- maxpooling2d_1 (MaxPooling2D)" in diff
    at.selectbox(key="load_version").set_value(1)
    at.button(key="load_version_button").click().run()
    at.session_state["canvas_tab"] = "Canvas"
    at.run()
    assert not at.exception and at.metric[0].value == "315,146"  # back to the template


def test_train_form_checks_before_submitting(nf_home):
    save_version("digits-cnn", parse(DIGITS_CNN), "with a search value")
    save_version("wrong-input", template("mnist_cnn"), "28x28 input")
    at = page("train.py")
    assert any("Ray is not reachable" in w.value and "neuralforge cluster up" in w.value for w in at.warning)
    at.selectbox(key="train_architecture").set_value("digits-cnn@v1").run()
    # defaults come from the DSL: epochs, batch size, learning rate
    assert (at.number_input(key="train_epochs").value, at.number_input(key="train_batch").value) == (4, 64)
    assert at.number_input(key="train_lr").value == pytest.approx(0.005)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Steps"] == f"4 × {-(-1257 // 64)}" and metrics["Estimated time"].startswith("~")
    at.text_input(key="train_optimizer").set_value("Adamm").run()
    assert any("optimizer" in e.value and "Adam" in e.value for e in at.error)
    at.text_input(key="train_optimizer").set_value("Adam")
    at.selectbox(key="train_architecture").set_value("wrong-input@v1").run()
    assert not at.exception
    assert any(
        "must match dataset digits's samples (8, 8, 1)" in e.value and "Hint:" in e.value for e in at.error
    )


def test_jobs_view_helpers():
    def job(i, kind="", ep="python x.py", t=0):
        return Job(i, "RUNNING", ep, kind=kind, start_time=t)

    jobs = [job("a", "train", t=1), job("b", t=3), job("c", ep="python -m ray_jobs.tune --x", t=2)]
    assert [j.id for j in neuralforge_jobs(jobs)] == ["c", "a"] and kind_of(jobs[2]) == "tune"
    assert progress({"epochs": "3"}, {"train_loss": [(0, 1.0)] * 4}) == (4, 4)
    assert curve_rows({"val_loss": [(2, 0.5)]}) == [{"epoch": 3, "metric": "val_loss", "value": 0.5}]
    d = defaults(parse(DIGITS_CNN))
    assert (d.epochs, d.batch_size, d.learning_rate, d.optimizer) == (4, 64, 0.005, "Adam")


def test_sweeps_page_lists_the_search_space_and_opens_the_best(nf_home):
    import mlflow
    from mlflow.tracking import MlflowClient

    from neural_engine.settings import settings

    save_version("digits-cnn", parse(DIGITS_CNN))
    at = page("sweeps.py")
    assert any("Ray is not reachable" in w.value for w in at.warning)
    at.selectbox(key="sweep_architecture").set_value("digits-cnn@v1").run()
    assert at.dataframe[0].value.to_dict("records") == [
        {"path": "dense_1.units", "search": "HPO(choice(16, 32))"}
    ]
    at.text_area(key="sweep_extra").set_value("train.optimizer.learning_rate log_range(1e-4, 1e-2)").run()
    assert any("must be PATH=VALUE" in e.value for e in at.error)
    # a sweep as ray_jobs.tune records it: parent (kind sweep, best run, best.neural), child trials
    client = MlflowClient(settings().mlflow_uri)
    exp = client.create_experiment("sweeps", artifact_location=str(nf_home / "artifacts"))
    parent = client.create_run(exp, run_name="DigitsCNN-sweep", tags={"neuralforge.kind": "sweep"})
    for i, units in enumerate((16, 32)):
        child = client.create_run(
            exp,
            run_name=f"trial_{i}",
            tags={"mlflow.parentRunId": parent.info.run_id, "neuralforge.trial_status": "completed"},
        )
        client.log_param(child.info.run_id, "hpo.dense_1.units", units)
        client.log_metric(child.info.run_id, "val_loss", 1.0 - i / 2)
    best = DIGITS_CNN.replace("HPO(choice(16, 32))", "32")
    mlflow.set_tracking_uri(settings().mlflow_uri)
    client.log_text(parent.info.run_id, best, "sweep/best.neural")  # where ray_jobs.tune logs it
    client.set_tag(parent.info.run_id, "neuralforge.best_run", child.info.run_id)
    st.cache_data.clear()  # the first page cached "no sweeps" for a few seconds
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/sweeps.py").run()
    assert not at.exception, [e.value for e in at.exception]
    trials = at.dataframe[-1].value.to_dict("records")
    assert [(t["trial"], t["hpo.dense_1.units"], t["val_loss"]) for t in trials] == [
        ("trial_0", "16", 1.0),
        ("trial_1", "32", 0.5),
    ]
    at.button(key="sweep_open_best").click().run()
    assert not at.exception, [e.value for e in at.exception]
    graph = at.session_state["graph_json"]
    assert next(n["params"] for n in graph["nodes"] if n["id"] == "dense_1")["units"] == 32


@pytest.mark.slow
def test_train_page_submits_to_ray_lists_and_stops_the_job(ray_head):
    """A run on digits submitted through the page: the job is listed (also in a fresh session — jobs
    live in Ray), and Stop ends it. Its live curve is checked in a real browser (test_browser.py)."""
    from ray_jobs.cluster import submit

    at = page("train.py")
    assert not at.warning, [w.value for w in at.warning]
    at.selectbox(key="train_architecture").set_value("template:mnist_cnn")
    at.number_input(key="train_epochs").set_value(50).run()
    at.button(key="train_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job_id = at.session_state["watched_job"]
    assert submit.status(job_id).entrypoint.startswith(
        "python -m ray_jobs.train --template mnist_cnn --epochs 50"
    )
    assert any(f"{job_id} · train ·" in o for o in at.selectbox(key="train_job").options)
    fresh = page("train.py")  # a reload, or a restarted dashboard
    assert fresh.selectbox(key="train_job").value == job_id
    fresh.button(key=f"stop_{job_id}").click().run()
    assert not fresh.exception
    assert submit.wait(job_id, timeout=60).status == "STOPPED"
    fresh.run()
    assert any(f"{job_id} · train · STOPPED" in o for o in fresh.selectbox(key="train_job").options)
    assert not any(b.key == f"stop_{job_id}" for b in fresh.button)  # nothing left to stop


def test_sign_in_gates_the_app_and_tags_jobs_with_the_user(nf_home):
    from app import auth

    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "s3cret",
        "client_id": "nf",
        "client_secret": "x",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception and [b.label for b in at.button] == ["Sign in"] and not at.metric
    at.user = {"is_logged_in": True, "email": "ada@example.com", "name": "Ada"}
    at.run()
    assert not at.exception and at.metric[0].value == "315,146"
    assert any("Signed in as ada@example.com" in c.value for c in at.sidebar.caption)
    assert auth.job_env() == {}  # outside a signed-in session: the settings' user
