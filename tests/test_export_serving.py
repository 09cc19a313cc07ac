"""Serving bundles generated from an export: Triton's config parses as Triton's own ModelConfig
protobuf, the ONNX Runtime server script serves real requests, and the legacy TorchServe bundle
(only on request) archives with torch-model-archiver and its handler answers like torch."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
import torch

from neural_engine.export.pipeline import ExportSpec, run_export
from neural_engine.export.weights import export_module
from neural_engine.templates import template
from tests.digits_model import digits_graph, digits_test_samples, trained_state
from tests.test_templates import SMALL

SPEC = {"samples": 32, "latency_budget_s": 0.002}


@pytest.fixture(scope="module")
def digits_exports(tmp_path_factory):
    """The trained digits model exported to ONNX and to (legacy) TorchScript, with their bundles,
    the legacy TorchServe one included."""
    out = {}
    for fmt in ("onnx", "torchscript"):
        d = tmp_path_factory.mktemp(fmt)
        out[fmt] = run_export(
            digits_graph(),
            trained_state(),
            ExportSpec(format=fmt, name="digits", torchserve=True, **SPEC),
            d,
            dataset="digits",
        )
        assert out[fmt].passed
    return out


def torch_probabilities(x: torch.Tensor) -> np.ndarray:
    model, _ = export_module(digits_graph(), trained_state())
    with torch.inference_mode():
        return model(x).numpy()


def parse_triton(path: Path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_triton_config_parses_as_triton_model_config(digits_exports):
    bundle = digits_exports["onnx"].bundles["triton"]
    config = parse_triton(bundle.directory / "digits" / "config.pbtxt")
    assert (config.name, config.backend, config.max_batch_size) == ("digits", "onnxruntime", 32)
    (inp,), (out,) = config.input, config.output
    assert (inp.name, list(inp.dims), inp.data_type) == ("image", [1, 8, 8], 11)  # 11: TYPE_FP32
    assert (out.name, list(out.dims)) == ("output", [10])
    assert config.HasField("dynamic_batching") and config.dynamic_batching.max_queue_delay_microseconds > 0
    assert max(config.dynamic_batching.preferred_batch_size) <= config.max_batch_size
    assert config.instance_group[0].count == 1
    model = bundle.directory / "digits" / "1" / "model.onnx"
    assert model.read_bytes() == (digits_exports["onnx"].directory / "model.onnx").read_bytes()
    readme = (bundle.directory / "README.md").read_text()
    assert "tritonserver --model-repository" in readme and "/v2/models/digits/infer" in readme


def test_triton_config_of_a_token_model_uses_int64(tmp_path):
    spec = ExportSpec(
        torchserve=False, onnx_exporter="legacy", **SPEC
    )  # the config, not the exporter: fastest
    r = run_export(template("lstm_classifier", **SMALL["lstm_classifier"]), None, spec, tmp_path)
    config = parse_triton(tmp_path / "serving" / "triton" / "LSTMClassifier" / "config.pbtxt")
    assert r.passed and config.input[0].data_type == 9 and list(config.input[0].dims) == [20]  # TYPE_INT64
    assert set(r.bundles) == {"triton", "onnxruntime"}  # TorchServe (legacy) not asked for
    assert not any("TorchServe" in n for n in r.report.notes)


def test_torchserve_is_legacy_and_written_only_on_request(digits_exports, tmp_path):
    from neural_engine.export.pipeline import TORCHSERVE_LEGACY
    from neural_engine.export.serving import Signature, write_bundles

    r = digits_exports["onnx"]
    assert set(r.bundles) == {"triton", "onnxruntime", "torchserve"} and TORCHSERVE_LEGACY in r.report.notes
    assert "TorchServe is archived" in (r.bundles["torchserve"].directory / "README.md").read_text()
    x, _ = digits_test_samples(1)
    signature = Signature.from_arrays(["image"], [x], ["output"], [torch_probabilities(x)])
    assert set(write_bundles(tmp_path, "digits", signature, r.files[0])) == {"triton", "onnxruntime"}


def test_torchserve_archive_builds_from_the_generated_inputs(digits_exports, tmp_path):
    bundle = digits_exports["torchscript"].bundles["torchserve"]
    assert digits_exports["torchscript"].report.exporter == "torch.jit.trace (legacy)"
    argv = bundle.commands["archive"]
    inputs = [
        argv[argv.index("--serialized-file") + 1],
        argv[argv.index("--handler") + 1],
        *argv[argv.index("--extra-files") + 1].split(","),
    ]
    assert inputs == ["model.pt", "handler.py", "predictor.py", "signature.json"]
    assert all((bundle.directory / f).is_file() for f in inputs)
    props = (bundle.directory / "config.properties").read_text()
    assert "load_models=digits.mar" in props and '"batchSize": 8' in props
    (bundle.directory / "model_store").mkdir()
    archiver = Path(sys.executable).parent / argv[0]
    done = subprocess.run(
        [str(archiver), *argv[1:]], cwd=bundle.directory, check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(bundle.directory / "model_store" / "digits.mar") as mar:
        names = set(mar.namelist())
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    assert set(inputs) <= names
    assert manifest["model"]["handler"] == "handler.py" and manifest["model"]["serializedFile"] == "model.pt"


def _load_handler(directory: Path):
    spec = importlib.util.spec_from_file_location("nf_torchserve_handler", directory / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Context:
    """The parts of TorchServe's context the handler uses."""

    def __init__(self, model_dir: Path, serialized: str):
        self.system_properties = {"model_dir": str(model_dir)}
        self.manifest = {"model": {"serializedFile": serialized}}
        self.statuses = {}

    def set_response_status(self, code, phrase, idx=0):
        self.statuses[idx] = (code, phrase)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_torchserve_handler_answers_like_torch(digits_exports, fmt):
    bundle = digits_exports[fmt].bundles["torchserve"]
    serialized = "model.pt" if fmt == "torchscript" else "model.onnx"
    handler, context = _load_handler(bundle.directory), _Context(bundle.directory, serialized)
    x, _ = digits_test_samples(8)
    rows = [
        {"body": json.dumps({"inputs": x[:5].tolist()}).encode()},
        {"body": b"{not json"},
        {"data": json.dumps({"inputs": x[5:].tolist()})},
        {"body": {"inputs": [[1.0, 2.0]]}},
    ]
    out = handler.handle(rows, context)
    expected = torch_probabilities(x)
    np.testing.assert_allclose(np.array(out[0]["outputs"] + out[2]["outputs"]), expected, atol=1e-5)
    assert out[0]["predictions"] + out[2]["predictions"] == expected.argmax(1).tolist()
    assert "the body must be JSON" in out[1]["error"] and context.statuses[1][0] == 400
    assert out[3]["error"] == "input image must have shape (N, 1, 8, 8); received (1, 2)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_onnxruntime_server_script_serves_requests(digits_exports):
    bundle = digits_exports["onnx"].bundles["onnxruntime"]
    port = _free_port()
    argv = bundle.commands["serve"]
    argv = [sys.executable, *argv[1:-1], str(port)]
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    proc = subprocess.Popen(
        argv, cwd=bundle.directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert requests.get(f"{url}/health", timeout=2).json()["status"] == "ok"
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.1)
        x, _ = digits_test_samples(16)
        answer = requests.post(f"{url}/predict", json={"inputs": x.tolist()}, timeout=10).json()
        expected = torch_probabilities(x)
        assert answer["predictions"] == expected.argmax(1).tolist()
        np.testing.assert_allclose(np.array(answer["outputs"]), expected, atol=1e-5)
        bad = {
            "not json": b"{",
            "wrong shape": json.dumps({"inputs": [[0.0] * 64]}),
            "strings": json.dumps({"inputs": [[[["x"] * 8] * 8]]}),
            "no inputs": json.dumps({"input": 1}),
        }
        for what, body in bad.items():
            r = requests.post(f"{url}/predict", data=body, timeout=10)
            assert r.status_code == 400 and r.json()["error"], what
        assert requests.post(f"{url}/predict", json={"inputs": x[:1].tolist()}, timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
