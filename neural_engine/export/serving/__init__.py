"""Serving bundles generated from an export, each a folder with a README of commands:

- ``triton``: an NVIDIA Triton model repository (``config.pbtxt`` with dynamic batching, the ONNX
  file as version 1);
- ``torchserve`` (legacy, only on request: TorchServe is archived and no longer maintained):
  handler, ``config.properties``, the inputs of ``torch-model-archiver`` and the command that
  builds the ``.mar``;
- ``onnxruntime``: a small HTTP server script (``predictor.py``) beside the model.

>>> image = TensorSpec("image", "float32", (None, 1, 8, 8))
>>> output = TensorSpec("output", "float32", (None, 10))
>>> sig = Signature((image,), (output,))
>>> sig.to_json()["inputs"][0]
{'name': 'image', 'dtype': 'float32', 'shape': [None, 1, 8, 8]}
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy name: float32, int64, …
    shape: tuple[int | None, ...]  # None: the batch (dim 0) or a free dimension

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    ort_level: str = "all"  # onnxruntime optimisation level the model loads at

    def to_json(self) -> dict:
        return {
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "ort_level": self.ort_level,
        }

    @staticmethod
    def from_arrays(input_names, inputs, output_names, outputs, ort_level: str = "all") -> Signature:
        """From one batch of inputs and the outputs they gave (the batch dim becomes None)."""

        def spec(name, x):
            x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
            return TensorSpec(name, str(x.dtype), (None, *x.shape[1:]))

        return Signature(
            tuple(spec(n, x) for n, x in zip(input_names, inputs)),
            tuple(spec(n, y) for n, y in zip(output_names, outputs)),
            ort_level,
        )


@dataclass
class Bundle:
    kind: str
    directory: Path
    files: list[Path] = field(default_factory=list)
    commands: dict[str, list[str]] = field(default_factory=dict)  # what the README shows, as argv


def model_name(text: str) -> str:
    """A name every server accepts: letters, digits, ``_`` and ``-``, starting with a letter."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-") or "model"
    return name if name[0].isalpha() else f"m_{name}"


def copy_asset(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ASSETS / name, dest)
    return dest


def write_bundles(
    directory: Path,
    name: str,
    signature: Signature,
    onnx_path: Path | None,
    torchscript_path: Path | None = None,
    max_batch_size: int = 32,
    *,
    torchserve: bool = False,
) -> dict[str, Bundle]:
    """Every bundle the export's files allow: Triton and ONNX Runtime need the ONNX file; the
    legacy TorchServe bundle (``torchserve=True``) takes the TorchScript file when there is one,
    else the ONNX file."""
    from neural_engine.export.serving import ortserver, triton
    from neural_engine.export.serving import torchserve as torchserve_bundle

    name = model_name(name)
    bundles = {}
    if onnx_path is not None:
        bundles["triton"] = triton.write(directory / "triton", name, onnx_path, signature, max_batch_size)
        bundles["onnxruntime"] = ortserver.write(directory / "onnxruntime", name, onnx_path, signature)
    served = torchscript_path or onnx_path
    if torchserve and served is not None:
        bundles["torchserve"] = torchserve_bundle.write(
            directory / "torchserve", name, served, signature, max_batch_size
        )
    return bundles
