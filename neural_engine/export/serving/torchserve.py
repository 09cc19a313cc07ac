"""A TorchServe bundle (legacy): the archive's inputs, ``config.properties`` and the archive command.

Legacy: TorchServe is archived and no longer maintained, so the bundle is written only on request
(``ExportSpec(torchserve=True)``) and its README says so; Triton and the ONNX Runtime bundle are
the maintained ways to serve an export.

``torch-model-archiver --model-name NAME --version 1.0 --serialized-file model.pt --handler
handler.py --extra-files predictor.py,signature.json --export-path model_store`` builds
``model_store/NAME.mar``; ``torchserve --start --ts-config config.properties`` serves it with
TorchServe's batching (``batchSize``/``maxBatchDelay`` in ``config.properties``).

>>> print(properties("digits", 8).splitlines()[0])
inference_address=http://127.0.0.1:8080
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from neural_engine.export.serving import Bundle, Signature, copy_asset


def properties(name: str, batch_size: int, delay_ms: int = 20) -> str:
    models = {
        name: {
            "1.0": {
                "defaultVersion": True,
                "marName": f"{name}.mar",
                "minWorkers": 1,
                "maxWorkers": 1,
                "batchSize": batch_size,
                "maxBatchDelay": delay_ms,
                "responseTimeout": 120,
            }
        }
    }
    return (
        "\n".join(
            [
                "inference_address=http://127.0.0.1:8080",
                "management_address=http://127.0.0.1:8081",
                "metrics_address=http://127.0.0.1:8082",
                "model_store=model_store",
                f"load_models={name}.mar",
                "disable_token_authorization=true",
                f"models={json.dumps(models)}",
            ]
        )
        + "\n"
    )


def archive_command(name: str, serialized: str) -> list[str]:
    return [
        "torch-model-archiver",
        "--model-name",
        name,
        "--version",
        "1.0",
        "--serialized-file",
        serialized,
        "--handler",
        "handler.py",
        "--extra-files",
        "predictor.py,signature.json",
        "--export-path",
        "model_store",
        "--force",
    ]


def _readme(name: str, serialized: str, signature: Signature) -> str:
    return f"""# TorchServe: {name} (legacy)

TorchServe is archived and no longer maintained: prefer the Triton or ONNX Runtime bundle.

Archive inputs: `{serialized}` (the model), `handler.py`, `predictor.py` (input checks),
`signature.json` (input and output shapes). Build the archive and serve it:

    pip install torchserve torch-model-archiver
    mkdir -p model_store
    {" ".join(archive_command(name, serialized))}
    torchserve --start --ncs --ts-config config.properties
    curl -s -X POST localhost:8080/predictions/{name} -H 'Content-Type: application/json' \\
        -d '{{"inputs": [...]}}'     # a batch shaped {tuple(signature.inputs[0].shape)} (None: any size)
    torchserve --stop

Bad requests get 400 with a message; TorchServe batches requests (`batchSize` in config.properties).
"""


def write(directory: Path, name: str, model_path: Path, signature: Signature, batch_size: int = 8) -> Bundle:
    directory.mkdir(parents=True, exist_ok=True)
    serialized = "model.onnx" if model_path.suffix == ".onnx" else "model.pt"
    files = [
        Path(shutil.copyfile(model_path, directory / serialized)),
        copy_asset("torchserve_handler.py", directory / "handler.py"),
        copy_asset("predictor.py", directory / "predictor.py"),
    ]
    (directory / "signature.json").write_text(json.dumps(signature.to_json(), indent=1))
    (directory / "config.properties").write_text(properties(name, min(batch_size, 8)))
    (directory / "README.md").write_text(_readme(name, serialized, signature))
    files += [directory / f for f in ("signature.json", "config.properties", "README.md")]
    return Bundle(
        "torchserve",
        directory,
        files,
        {
            "archive": archive_command(name, serialized),
            "serve": ["torchserve", "--start", "--ncs", "--ts-config", "config.properties"],
        },
    )
