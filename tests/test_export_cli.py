"""``neuralforge export`` from an MLflow training run: files, report, variants, metrics, tags and
the ONNX flavour recorded on the run; a failed validation exits 1 and registers no model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch

from ray_jobs.cli import main
from tests.digits_model import digits_graph, trained_state


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("nf-home")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_TRACKING_URI", "NEURALFORGE_STORAGE", "RAY_ADDRESS"):
            mp.delenv(var, raising=False)
        mp.setenv("NEURALFORGE_HOME", str(home))
        yield home


def training_run(home: Path) -> str:
    """A finished run as ``neuralforge train`` leaves it: setup/graph.json, checkpoints/best.pt, params."""
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import experiment_id

    uri = f"sqlite:///{home}/mlflow.db"
    client = MlflowClient(uri)
    run_id = client.create_run(experiment_id(uri, "neuralforge", str(home / "mlartifacts"))).info.run_id
    with tempfile.TemporaryDirectory() as d:
        Path(d, "graph.json").write_text(json.dumps(digits_graph().to_json()))
        torch.save(trained_state(), Path(d, "best.pt"))
        client.log_artifact(run_id, str(Path(d, "graph.json")), "setup")
        client.log_artifact(run_id, str(Path(d, "best.pt")), "checkpoints")
    for key, value in {
        "dataset": "digits",
        "dataset_version": "0123456789abcdef",
        "split": '"default"',
        "train.seed": "0",
    }.items():
        client.log_param(run_id, key, value)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def artifacts(home: Path, run_id: str, path: str) -> set[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    return {a.path.removeprefix(f"{path}/") for a in client.list_artifacts(run_id, path)}


def test_export_of_a_run_records_files_report_variants_and_the_onnx_model(home, capsys):
    import mlflow
    import numpy as np
    from mlflow.tracking import MlflowClient

    run_id = training_run(home)
    assert main(["export", run_id, "--quantize", "all", "--max-accuracy-drop", "0.05"]) == 0
    out = capsys.readouterr()
    assert "# Export report: MnistCNN" in out.out and "## Variants" in out.out
    files = artifacts(home, run_id, "export/onnx")
    assert {
        "model.onnx",
        "model.fp16.onnx",
        "model.int8-dynamic.onnx",
        "model.int8-static.onnx",
        "report.json",
        "report.md",
        "serving",
    } <= files and "rejected" not in files
    assert {"triton", "torchserve", "onnxruntime"} == artifacts(home, run_id, "export/onnx/serving")
    run = MlflowClient(f"sqlite:///{home}/mlflow.db").get_run(run_id)
    assert run.data.tags["neuralforge.export.onnx"] == "valid"
    assert run.data.tags["neuralforge.export.onnx.recommended"] in {
        "fp32",
        "fp16",
        "int8-dynamic",
        "int8-static",
    }
    m = run.data.metrics
    assert m["export.onnx.max_abs_diff"] < 1e-5 and m["export.onnx.top1_agreement"] == 1.0
    assert "export.onnx.int8-static.accuracy_delta" in m and m["export.onnx.int8-static.size_bytes"] > 0
    mlflow.set_tracking_uri(f"sqlite:///{home}/mlflow.db")
    onnx_model = mlflow.pyfunc.load_model(f"runs:/{run_id}/onnx_model")
    x = np.zeros((2, 1, 8, 8), np.float32)
    assert np.asarray(next(iter(onnx_model.predict({"image": x}).values()))).shape == (2, 10)
    report = json.loads(
        Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/export/onnx/report.json")).read_text()
    )
    assert report["validation"]["sample_source"].startswith("digits test split")
    assert [v["name"] for v in report["variants"]] == ["fp32", "fp16", "int8-dynamic", "int8-static"]


def test_torchscript_export_of_a_pruned_run_is_recorded_apart(home):
    from mlflow.tracking import MlflowClient

    run_id = training_run(home)
    assert main(["export", run_id, "--format", "torchscript", "--prune", "0.5", "--no-serving"]) == 0
    assert {"model.pt", "report.json", "report.md"} == artifacts(home, run_id, "export/torchscript-pruned50")
    run = MlflowClient(f"sqlite:///{home}/mlflow.db").get_run(run_id)
    assert run.data.tags["neuralforge.export.torchscript-pruned50"] == "valid"
    assert "export.torchscript-pruned50.prune_accuracy_delta" in run.data.metrics


def test_a_failed_validation_exits_1_and_registers_no_model(home, capsys):
    from mlflow.tracking import MlflowClient

    run_id = training_run(home)
    assert main(["export", run_id, "--max-abs-diff", "1e-12"]) == 1
    err = capsys.readouterr().err
    assert "error: the export failed validation: max abs diff must be <= 1e-12; measured" in err
    assert artifacts(home, run_id, "export/onnx") == {"report.json", "report.md"}
    run = MlflowClient(f"sqlite:///{home}/mlflow.db").get_run(run_id)
    assert run.data.tags["neuralforge.export.onnx"] == "failed"
    assert not [
        a
        for a in MlflowClient(f"sqlite:///{home}/mlflow.db").list_artifacts(run_id)
        if a.path == "onnx_model"
    ]


def test_an_untrained_template_exports_with_a_warning(home, tmp_path, capsys):
    assert (
        main(
            [
                "export",
                "--template",
                "mnist_cnn",
                "--input-shape",
                "8,8,1",
                "--dataset",
                "digits",
                "--no-serving",
                "-o",
                str(tmp_path),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "warning: no trained weights" in err and (tmp_path / "model.onnx").exists()
    assert json.loads((tmp_path / "report.json").read_text())["validation"]["random_weights"] is True


def test_a_checkpoint_file_exports_with_its_graph(home, tmp_path):
    graph, ckpt = tmp_path / "net.json", tmp_path / "best.pt"
    graph.write_text(json.dumps(digits_graph().to_json()))
    torch.save(trained_state(), ckpt)
    assert (
        main(
            [
                "export",
                str(graph),
                "--checkpoint",
                str(ckpt),
                "--dataset",
                "digits",
                "--no-serving",
                "-o",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "out" / "report.json").read_text())["validation"]["random_weights"] is False


def test_an_unknown_run_is_refused(home, capsys):
    assert main(["export", "0" * 32]) == 1
    assert "error: the source must be a training run of sqlite:///" in capsys.readouterr().err
