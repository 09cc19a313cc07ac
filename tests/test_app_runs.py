"""The Experiments and Export pages in Streamlit's AppTest: runs written to a real MLflow store
(params, curves, graphs and an evaluation in ``ray_jobs.runs.evaluate``'s own format) are filtered,
selected, drawn, diffed and shown; an unreachable store is a banner; the untrained MNIST CNN is
exported to ONNX and validated; Ray being absent is a banner. Serve and Ray job calls are
replaced in the page's modules (a live Serve deployment takes minutes here; tests/test_serve.py
has one)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import runs_view as view
from app import state
from neural_engine.dsl import parse
from tests.conftest import free_port

PAGES = Path(__file__).resolve().parents[1] / "app" / "app_pages"
NET_A = 'network N { input: (8, 8, 1) layers: Flatten() Dense(8, activation="relu") Dropout(0.5) Output(3) }'
NET_B = 'network N { input: (8, 8, 1) layers: Flatten() Dense(16, activation="relu") Dense(12) Output(3) }'
CLEARED = ("MLFLOW_TRACKING_URI", "NEURALFORGE_STORAGE", "RAY_ADDRESS", "RAY_AUTH_TOKEN")


def evaluation(seed: int):
    """An Evaluation as ``ray_jobs.runs.evaluate`` makes it: 3 classes, 30 samples, some misclassified."""
    import numpy as np
    import torch

    from neural_engine.metrics import classification_report
    from ray_jobs.runs.evaluate import Evaluation

    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], 10)
    scores = np.eye(3)[np.where(rng.random(30) < 0.8, y, (y + 1) % 3)]
    examples = [(torch.rand(1, 8, 8), 0, 1), (torch.rand(1, 8, 8), 2, 0)]
    return Evaluation(
        "test",
        "classification",
        0.5,
        classification_report(y, scores, ("zero", "one", "two")),
        examples,
        ("zero", "one", "two"),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A, B finished (graphs, curves; A evaluated), C failed; (home, {name: run id})."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from ray_jobs.runs import evaluate
    from ray_jobs.tracking import experiment_id

    home = tmp_path_factory.mktemp("runs-app")
    uri = f"sqlite:///{home}/mlflow.db"
    client = MlflowClient(uri)
    exp = experiment_id(uri, "cmp", str(home / "mlartifacts"))
    ids, now = {}, int(time.time() * 1000)
    for name, lr, net, losses, team in (
        ("A", "0.001", NET_A, (1.0, 0.6, 0.4), "vision"),
        ("B", "0.01", NET_B, (1.2, 0.9, 0.8), "nlp"),
        ("C", "0.1", None, (2.0,), "vision"),
    ):
        rid = client.create_run(exp, run_name=name, tags={"team": team}).info.run_id
        ids[name] = rid
        client.log_batch(
            rid,
            params=[Param("optimizer.lr", lr), Param("dataset", "digits")],
            metrics=[
                Metric(k, v, now, step)
                for step, loss in enumerate(losses)
                for k, v in (("train_loss", loss), ("val_accuracy", 1 - loss / 2))
            ],
            tags=[RunTag("neuralforge.kind", "train")],
        )
        if net:
            d = home / f"setup-{name}"
            d.mkdir()
            (d / "graph.json").write_text(json.dumps(parse(net).to_json()))
            client.log_artifacts(rid, str(d), "setup")
        client.set_terminated(rid, "FINISHED" if net else "FAILED")
    evaluate.log(client, ids["A"], evaluation(0))
    return home, ids


@pytest.fixture
def runs(store, monkeypatch):
    home, ids = store
    for var in CLEARED:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NEURALFORGE_HOME", str(home))
    return ids


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at) -> list[str]:
    (frame,) = at.dataframe[:1]
    return frame.value["name"].to_list()


def select(at, *names: str) -> None:
    shown = table(at)
    at.session_state[state.RUNS_TABLE] = {"selection": {"rows": [shown.index(n) for n in names]}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def open_tab(at, name: str) -> None:
    at.session_state[state.RUNS_TAB] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def chart_data(at, title: str):
    """The table behind the chart titled ``title`` (pandas)."""
    from streamlit import dataframe_util

    (chart,) = [c for c in at.get("vega_lite_chart") if json.loads(c.proto.spec)["title"] == title]
    return dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)


# ---- Experiments -----------------------------------------------------------------------------------


def test_an_empty_store_says_how_to_make_a_run(tmp_path, monkeypatch):
    for var in CLEARED:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path))
    at = page("experiments.py")
    assert any("No runs yet" in i.value for i in at.info) and not at.warning


def test_an_unreachable_server_is_a_banner(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    at = page("experiments.py")
    assert any("is not reachable" in w.value and "mlflow server" in w.value for w in at.warning)
    assert time.monotonic() - started < 20 and not at.dataframe


def test_filters_sort_and_csv(runs):
    at = page("experiments.py")
    assert table(at) == ["C", "B", "A"]  # newest first
    at.selectbox(key="runs_status").set_value("FAILED").run()
    assert table(at) == ["C"]
    at.selectbox(key="runs_status").set_value("any")
    at.multiselect(key="runs_tags").set_value(["team=vision"]).run()
    assert table(at) == ["C", "A"]
    at.multiselect(key="runs_tags").set_value([])
    at.multiselect(key="runs_ranged").set_value(["optimizer.lr"]).run()
    at.select_slider(key="runs_range_optimizer.lr").set_value((0.01, 0.1)).run()
    assert table(at) == ["C", "B"]
    at.selectbox(key="runs_sort").set_value("name").run()
    assert table(at) == ["C", "B"]
    at.toggle(key="runs_descending").set_value(False).run()
    assert table(at) == ["B", "C"]
    (csv,) = at.download_button
    assert csv.label == "Download CSV"
    at.text_input(key="runs_expression").set_value("metrics.val_accuracy >>> 1").run()
    assert any("--filter must be an MLflow search expression" in e.value for e in at.error)
    assert not at.exception and not at.dataframe


def test_selection_draws_the_curves_of_the_selected_runs(runs):
    at = page("experiments.py")
    assert not charts(at)
    select(at, "A", "B")
    specs = charts(at)
    assert len(specs) == 2  # the default curves present: train_loss, val_accuracy
    assert {s["title"] for s in specs} == {"train_loss", "val_accuracy"}
    data = chart_data(at, "train_loss")
    a, b = (f"{n} ({runs[n][:8]})" for n in "AB")
    assert set(data["run"]) == {a, b}
    assert data[data["run"] == a]["value"].to_list() == [1.0, 0.6, 0.4]
    at.slider(key="runs_smoothing").set_value(0.5).run()
    data = chart_data(at, "train_loss (smoothing 0.5)")
    assert data[data["run"] == a]["smoothed"].to_list() == pytest.approx([1.0, 0.8, 0.6])
    assert data[data["run"] == b]["value"].to_list() == [1.2, 0.9, 0.8]
    at.toggle(key="runs_descending").set_value(False).run()  # the rows move; the selection follows
    assert table(at) == ["A", "B", "C"]
    assert set(chart_data(at, "train_loss (smoothing 0.5)")["run"]) == {a, b}


def test_the_diff_of_two_runs_names_hyperparameters_and_layers(runs):
    at = page("experiments.py")
    select(at, "A", "B")
    open_tab(at, "Compare two")
    params = at.dataframe[1].value
    assert params.columns[0] == "param" and params["param"].to_list() == ["optimizer.lr"]
    assert params.iloc[0, 1:].to_list() == ["0.001", "0.01"]  # A, then B
    (code,) = at.code
    assert "+ dense_2 (Dense) units=12" in code.value and "- dropout_1 (Dropout) rate=0.5" in code.value
    assert "~ dense_1 (Dense): units 8 -> 16" in code.value


def test_the_selected_runs_evaluation_and_actions(runs, monkeypatch):
    at = page("experiments.py")
    select(at, "A")
    open_tab(at, "Evaluation")
    cells = chart_data(at, "Confusion matrix (30 samples)")
    matrix = evaluation(0).report.confusion.tolist()
    assert cells["count"].to_list() == [n for row in matrix for n in row]
    assert cells["true"].to_list()[:3] == ["zero"] * 3
    assert cells["predicted"].to_list()[:3] == ["zero", "one", "two"]
    assert len(at.image) == 1  # the misclassified examples
    open_tab(at, "Reproduce & MLflow UI")
    assert any("mlflow ui --backend-store-uri sqlite:///" in i.value for i in at.info)
    at.button(key="runs_reproduce").click().run()  # no Ray head: a banner, not a traceback
    assert not at.exception
    assert any(
        "Not submitted: a Ray cluster is needed" in w.value and "neuralforge cluster up" in w.value
        for w in at.warning
    )
    submitted = []
    monkeypatch.setattr(
        "ray_jobs.cluster.submit.submit", lambda args, **kw: submitted.append(args) or "raysubmit_1"
    )
    at.button(key="runs_reproduce").click().run()
    assert submitted == [["neuralforge", "reproduce", runs["A"]]]
    assert any("raysubmit_1" in s.value for s in at.success)


# ---- pure helpers ----------------------------------------------------------------------------------


def test_curve_frame_smooths_each_run_and_metric_apart():
    from ray_jobs.runs.plots import smooth

    data = view.curve_frame({"a": {"loss": [(1, 0.0), (0, 1.0)]}, "b": {"loss": [(0, 4.0)]}}, 0.5, smooth)
    assert data.rows() == [("a", "loss", 0, 1.0, 1.0), ("a", "loss", 1, 0.0, 0.5), ("b", "loss", 0, 4.0, 4.0)]


def test_reselect_follows_runs_and_export_progress_counts_new_files(tmp_path):
    assert view.reselect(["a", "b", "c"], [1, 2], ["c", "x", "b"]) == [0, 2]
    assert view.reselect(["a"], [5], ["a"]) == []
    (tmp_path / "model.onnx").write_bytes(b"")
    expected = view.export_files("onnx", ["fp16"])
    assert expected == ["model.onnx", "model.fp16.onnx", "report.json"]
    assert view.export_progress(tmp_path, expected, since=0) == pytest.approx(1 / 3)
    assert view.export_progress(tmp_path, expected, since=time.time() + 60) == 0
    assert view.export_files("pt2", []) == ["model.pt2", "report.json"]


# ---- Export ----------------------------------------------------------------------------------------


@pytest.fixture
def home(store, tmp_path, monkeypatch):
    """A fresh home; the tracking store is the module's (creating one costs seconds)."""
    for var in CLEARED:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store[0]}/mlflow.db")
    return tmp_path


def export_page(max_abs_diff: float | None = None) -> AppTest:
    at = page("export.py")
    at.radio(key="export_kind").set_value("A template (untrained)").run()
    assert any("weights are random" in w.value for w in at.warning)
    at.selectbox(key="export_template").set_value("mnist_cnn")
    at.checkbox(key="export_serving").set_value(False)
    if max_abs_diff is not None:
        at.number_input(key="export_max_abs_diff").set_value(max_abs_diff)
    at.button(key="export_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_export_of_the_untrained_template_is_validated_with_downloads(home):
    at = export_page()
    assert any(s.value.startswith("Valid: model.onnx") for s in at.success), [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["max abs diff"]) <= 1e-4 and metrics["top-1 agreement"] == "100.0%"
    assert any("## Validation against PyTorch" in m.value for m in at.markdown)
    assert [d.label for d in at.download_button] == ["model.onnx", "report.md", "report.json"]
    assert (home / "exports" / "MnistCNN" / "onnx" / "model.onnx").stat().st_size > 0
    assert any(
        "Ray Serve needs a running Ray cluster" in w.value and "neuralforge cluster up" in w.value
        for w in at.warning
    )  # no Ray here: a banner


def test_a_run_without_weights_is_refused_with_a_message(home, store):
    at = page("export.py")
    _, ids = store
    assert at.selectbox(key="export_run").options == [f"B ({ids['B'][:8]})", f"A ({ids['A'][:8]})"]
    at.selectbox(key="export_run").set_value(ids["A"])
    at.button(key="export_go").click().run()
    assert not at.exception and not at.success
    refusal = f"run {ids['A']} must have finished training (checkpoints/best.pt)"
    assert any(refusal in e.value for e in at.error)


class FakeServe:
    """``ray_jobs.serve``'s calls as the page makes them, on a dict of deployments."""

    def __init__(self):
        self.calls, self.apps = [], {}

    def patch(self, monkeypatch) -> None:
        from ray_jobs import serve

        monkeypatch.setattr(serve, "Serve", lambda address=None: self)
        monkeypatch.setattr(serve, "status", lambda client, name=None: [self.describe(n) for n in self.apps])
        monkeypatch.setattr(serve, "deploy", self.deploy)
        monkeypatch.setattr(serve, "run", self.run)

    def describe(self, name: str) -> dict:
        return {
            "name": name,
            "status": "RUNNING",
            "url": f"http://127.0.0.1:8000/{name}",
            "canary": None,
            "stable": {"version": "abc", "source": self.apps[name][0], "replicas": self.apps[name][1]},
        }

    def deploy(self, client, args):
        assert client is self
        self.calls.append(("deploy", args.source, args.name, args.replicas))
        self.apps[args.name] = (Path(args.source).name, args.replicas)

    def run(self, args):
        self.calls.append((args.action, args.name, getattr(args, "replicas", None)))
        if args.action == "scale":
            self.apps[args.name] = (self.apps[args.name][0], args.replicas)
        else:
            del self.apps[args.name]
        return 0


def test_serve_deploy_scale_and_delete_call_ray_jobs_serve(home, monkeypatch):
    fake = FakeServe()
    at = export_page()
    fake.patch(monkeypatch)
    at.run()
    assert any("No deployments yet" in c.value for c in at.caption)
    at.text_input(key="serve_name").set_value("digits")
    at.number_input(key="serve_replicas").set_value(2)
    at.button(key="serve_deploy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    onnx = str(home / "exports" / "MnistCNN" / "onnx" / "model.onnx")
    assert fake.calls == [("deploy", onnx, "digits", 2)]
    assert any("Deployed digits" in s.value for s in at.success)
    assert at.dataframe[-1].value["replicas"].to_list() == [2]
    at.number_input(key="serve_scale_replicas").set_value(3)
    at.button(key="serve_scale").click().run()
    assert at.dataframe[-1].value["replicas"].to_list() == [3]
    at.button(key="serve_delete").click().run()
    assert fake.calls[1:] == [("scale", "digits", 3), ("delete", "digits", None)]
    assert any("No deployments yet" in c.value for c in at.caption)


def test_a_failed_validation_is_a_message(home):
    at = export_page(max_abs_diff=1e-12)
    (error,) = at.error
    assert "The export failed validation: max abs diff must be <= 1e-12; measured" in error.value
    assert not at.success and [d.label for d in at.download_button] == ["report.md", "report.json"]


def fake_run(name: str, params: dict, metrics: dict):
    from types import SimpleNamespace

    return SimpleNamespace(
        info=SimpleNamespace(
            run_name=name,
            run_id=name * 32,
            status="FINISHED",
            start_time=1_700_000_000_000,
            experiment_id="1",
        ),
        data=SimpleNamespace(params=params, metrics=metrics, tags={"team": "x"}),
    )


def test_runs_frame_keeps_key_and_differing_params_and_run_metrics():
    frame = view.runs_frame(
        [
            fake_run(
                "a",
                {"dataset": "digits", "optimizer.lr": "0.1", "seed": "1"},
                {"test_accuracy": 0.8, "val_loss": 0.5, "export.onnx.size_bytes": 3.0},
            ),
            fake_run("b", {"dataset": "digits", "optimizer.lr": "0.2", "seed": "1"}, {"val_loss": 0.4}),
        ]
    )
    assert frame.columns == [
        "name",
        "run_id",
        "status",
        "start",
        "kind",
        "network",
        "params.dataset",
        "params.optimizer.lr",
        "metrics.val_loss",
        "metrics.test_accuracy",
    ]
    assert frame["metrics.test_accuracy"].to_list() == [0.8, None]
    assert view.sort_frame(frame, "metrics.test_accuracy", True)["name"].to_list() == ["a", "b"]
    ascending = view.sort_frame(frame, "metrics.test_accuracy", False)
    assert ascending["name"].to_list() == ["a", "b"]  # missing values last


def test_export_argv_is_what_neuralforge_export_parses():
    import argparse

    from ray_jobs.serve.export import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        view.export_argv(
            "mnist_cnn",
            template=True,
            input_shape="(8, 8, 1)",
            dataset="digits",
            quantize=["fp16", "int8-static"],
            max_abs_diff=1e-12,
            serving=False,
        )
    )
    assert (args.template, args.input_shape, args.dataset, args.quantize) == (
        "mnist_cnn",
        "8,8,1",
        "digits",
        "fp16,int8-static",
    )
    assert args.max_abs_diff == 1e-12 and args.no_serving and args.file is None
    args = parser.parse_args(view.export_argv("ab" * 16, template=False, fmt="pt2"))
    assert (args.file, args.template, args.format, args.no_serving) == ("ab" * 16, None, "pt2", False)


def test_runs_view_examples():
    import doctest

    assert doctest.testmod(view).failed == 0
