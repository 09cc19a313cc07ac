"""``neuralforge export`` from an MLflow training run: files, report, variants, metrics, tags and
the ONNX flavour recorded on the run; a failed validation exits 1 and registers no model; ``-o FILE``
writes the model there with the rest beside it (or in ``--out-dir``); progress on stderr."""

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


def test_export_of_a_run_records_files_report_variants_and_the_onnx_model(home, tmp_path, capsys):
    import mlflow
    import numpy as np
    from mlflow.tracking import MlflowClient

    run_id = training_run(home)
    argv = [
        "--quantize",
        "all",
        "--max-accuracy-drop",
        "0.05",
        "--torchserve",
        "-o",
        str(tmp_path / "d.onnx"),
    ]
    assert main(["export", run_id, *argv]) == 0
    out = capsys.readouterr()
    assert "# Export report: MnistCNN" in out.out and "## Variants" in out.out
    variants = [f"d.{v}.onnx" for v in ("fp16", "int8-dynamic", "int8-static")]
    assert {p.name for p in tmp_path.iterdir()} == {
        "d.onnx",
        *variants,
        "d.report.json",
        "d.report.md",
        "d-serving",
    }
    assert json.loads((tmp_path / "d.report.json").read_text())["files"] == ["d.onnx", *variants]
    # the run records the folder layout: model.onnx, report.json, serving/ (what `serve` reads)
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
    assert run.data.tags["neuralforge.export.onnx.exporter"] == "dynamo"
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
    assert report["files"][0] == "model.onnx" and report["validation"]["file"] == "model.onnx"
    assert "serving/triton/MnistCNN/1/model.onnx" in report["serving"]["triton"]
    assert all(f.startswith("serving/") for files in report["serving"].values() for f in files)
    assert report["validation"]["sample_source"].startswith("digits test split")
    assert [v["name"] for v in report["variants"]] == ["fp32", "fp16", "int8-dynamic", "int8-static"]


def test_pt2_export_of_a_pruned_run_to_a_named_file_is_recorded_apart(home, tmp_path):
    from mlflow.tracking import MlflowClient

    run_id = training_run(home)
    argv = [
        "export",
        run_id,
        "--format",
        "pt2",
        "--prune",
        "0.5",
        "--no-serving",
        "-o",
        str(tmp_path / "m.pt2"),
    ]
    assert main(argv) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"m.pt2", "m.report.json", "m.report.md"}
    assert json.loads((tmp_path / "m.report.json").read_text())["files"] == ["m.pt2"]
    torch.export.load(str(tmp_path / "m.pt2")).module()(torch.zeros(2, 1, 8, 8))
    # the run's copy keeps the folder layout that `serve` and the dashboard read
    assert {"model.pt2", "report.json", "report.md"} == artifacts(home, run_id, "export/pt2-pruned50")
    run = MlflowClient(f"sqlite:///{home}/mlflow.db").get_run(run_id)
    assert run.data.tags["neuralforge.export.pt2-pruned50"] == "valid"
    assert run.data.tags["neuralforge.export.pt2-pruned50.exporter"] == "torch.export"
    assert "export.pt2-pruned50.prune_accuracy_delta" in run.data.metrics


def test_a_failed_validation_exits_1_and_registers_no_model(home, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    run_id = training_run(home)
    model = tmp_path / "m.onnx"
    assert main(["export", run_id, "--max-abs-diff", "1e-12", "-o", str(model), "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["passed"] is False  # --json: the report alone on stdout, progress on stderr
    assert "exporting MnistCNN to onnx, validating on 100 samples…" in err
    assert "validating: 100 samples in" in err
    assert "error: the export failed validation: max abs diff must be <= 1e-12; measured" in err
    assert not model.exists() and (tmp_path / "rejected" / "m.onnx").exists()
    assert (tmp_path / "m.report.md").exists() and (tmp_path / "m-serving").exists() is False
    assert artifacts(home, run_id, "export/onnx") == {"report.json", "report.md"}
    run = MlflowClient(f"sqlite:///{home}/mlflow.db").get_run(run_id)
    assert run.data.tags["neuralforge.export.onnx"] == "failed"
    assert not [
        a
        for a in MlflowClient(f"sqlite:///{home}/mlflow.db").list_artifacts(run_id)
        if a.path == "onnx_model"
    ]


def test_an_untrained_template_exports_with_a_warning(home, capsys):
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
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    folder = home / "exports" / "MnistCNN" / "onnx"  # the default folder
    assert "warning: no trained weights" in err and (folder / "model.onnx").exists()
    assert json.loads((folder / "report.json").read_text())["validation"]["random_weights"] is True


def test_a_checkpoint_file_exports_to_the_named_file_with_its_reports_in_out_dir(home, tmp_path):
    import numpy as np
    import onnxruntime as ort

    from neural_engine.export.weights import export_module

    graph, ckpt, model = tmp_path / "net.json", tmp_path / "best.pt", tmp_path / "m.onnx"
    graph.write_text(json.dumps(digits_graph().to_json()))
    torch.save(trained_state(), ckpt)
    argv = ["export", str(graph), "--checkpoint", str(ckpt), "--dataset", "digits"]
    assert main([*argv, "-o", str(model), "--out-dir", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "m.report.json").read_text())
    assert report["validation"]["random_weights"] is False and report["files"] == [str(model)]
    assert set(report["serving"]) == {"triton", "onnxruntime"}  # TorchServe (legacy) only with --torchserve
    assert (tmp_path / "out" / "m-serving" / "onnxruntime" / "model.onnx").exists()
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    (got,) = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    module, _ = export_module(digits_graph(), trained_state())
    with torch.inference_mode():
        np.testing.assert_allclose(got, module(torch.from_numpy(x)).numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("fmt", "file", "hint"),
    [("onnx", "m.pt", "--format torchscript"), ("pt2", "m.onnx", "--format onnx"), ("onnx", "m", "m.onnx")],
)
def test_a_model_file_of_another_format_is_refused(home, capsys, fmt, file, hint):
    assert main(["export", "--template", "mnist_cnn", "--format", fmt, "-o", file]) == 1
    err = capsys.readouterr().err
    expected = {"onnx": ".onnx", "pt2": ".pt2"}[fmt]
    assert (
        f"error: -o must name a {expected} file for --format {fmt}; received {file!r}" in err and hint in err
    )


def test_an_unknown_run_is_refused(home, capsys):
    assert main(["export", "0" * 32]) == 1
    assert "error: the source must be a training run of sqlite:///" in capsys.readouterr().err
