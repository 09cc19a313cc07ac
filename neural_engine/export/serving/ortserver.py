"""An ONNX Runtime bundle: the model, ``signature.json`` and ``predictor.py`` (a small HTTP server
on the standard library; see ``neural_engine/export/assets/predictor.py``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from neural_engine.export.serving import Bundle, Signature, copy_asset


def server_command(port: int = 8001) -> list[str]:
    return [
        "python",
        "predictor.py",
        "--model",
        "model.onnx",
        "--signature",
        "signature.json",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def _readme(name: str, signature: Signature) -> str:
    return f"""# ONNX Runtime server: {name}

    pip install onnxruntime numpy
    {" ".join(server_command())}
    curl -s localhost:8001/health
    curl -s -X POST localhost:8001/predict -H 'Content-Type: application/json' \\
        -d '{{"inputs": [...]}}'     # a batch shaped {tuple(signature.inputs[0].shape)} (None: any size)

Answers `{{"outputs": ..., "predictions": [...]}}`; bad input gets 400 with a message.
"""


def write(directory: Path, name: str, onnx_path: Path, signature: Signature) -> Bundle:
    directory.mkdir(parents=True, exist_ok=True)
    files = [
        Path(shutil.copyfile(onnx_path, directory / "model.onnx")),
        copy_asset("predictor.py", directory / "predictor.py"),
    ]
    (directory / "signature.json").write_text(json.dumps(signature.to_json(), indent=1))
    (directory / "README.md").write_text(_readme(name, signature))
    files += [directory / "signature.json", directory / "README.md"]
    return Bundle("onnxruntime", directory, files, {"serve": server_command()})
