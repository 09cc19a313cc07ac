"""Smaller or faster ONNX variants through onnxruntime's own tools, each measured on real data.

- ``fp16``: weights and activations in half precision (``onnxruntime.transformers.float16``);
  inputs and outputs stay float32, so callers do not change.
- ``int8-dynamic``: int8 weights, activations quantized per batch at run time
  (``quantize_dynamic``). On CPUs without VNNI this often makes conv nets *slower* (ConvInteger):
  the advisor flags it.
- ``int8-static``: int8 weights and activations with scales calibrated on batches of the
  training split (``quantize_static``, QDQ format, per-channel weights).

Every variant is loaded first in a child process: onnxruntime's full graph optimisation crashed
the process on some FP16 graphs here (a Transformer encoder, onnxruntime 1.32). A variant whose
load crashes at ``all`` is measured and marked at the first level that loads (``ort_level``).

>>> VARIANTS
('fp16', 'int8-dynamic', 'int8-static')
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

from neural_engine.errors import ExportError

VARIANTS = ("fp16", "int8-dynamic", "int8-static")


def parse_variants(text: str | None) -> tuple[str, ...]:
    """``"fp16,int8-static"``, ``"all"`` or None → the variants, in the order of ``VARIANTS``."""
    if not text:
        return ()
    names = VARIANTS if text.strip() == "all" else tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ExportError(
            f"--quantize must be one or more of {', '.join(VARIANTS)} (comma-separated) or all; "
            f"received {', '.join(unknown)}"
        )
    return tuple(v for v in VARIANTS if v in names)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of input batches."""

    def __init__(self, names: list[str], batches):
        self._batches = iter(
            [
                {n: np.ascontiguousarray(x.numpy() if hasattr(x, "numpy") else x) for n, x in zip(names, b)}
                for b in batches
            ]
        )

    def get_next(self):
        return next(self._batches, None)


def to_fp16(fp32: Path, out: Path) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    onnx.save(model, str(out))
    return out


def preprocess(fp32: Path, out: Path) -> Path:
    """Shape inference and graph clean-up before int8 quantization, as onnxruntime recommends."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32), str(out), skip_symbolic_shape=True)
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation; quantize the plain file when it fails
        return fp32
    return out


def to_int8_dynamic(fp32: Path, out: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=False)
    return out


def to_int8_static(fp32: Path, out: Path, input_names: list[str], calibration) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ExportError("int8-static needs calibration batches; received none")
    quantize_static(
        str(fp32),
        str(out),
        _Reader(input_names, calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    return out


def make_variant(name: str, fp32: Path, out: Path, input_names: list[str], calibration=None) -> Path:
    """Write variant ``name`` of the fp32 file to ``out``; its path."""
    if name == "fp16":
        return to_fp16(fp32, out)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer warns per tensor it leaves alone (e.g. LayerNorm weights)
    pre = preprocess(fp32, out.with_name(f"{out.stem}.preprocessed.onnx"))
    try:
        if name == "int8-dynamic":
            return to_int8_dynamic(pre, out)
        return to_int8_static(pre, out, input_names, calibration)
    finally:
        root.setLevel(level)
        if pre != fp32:
            pre.unlink(missing_ok=True)


_LOAD = (
    "import sys, onnxruntime as o; s = o.SessionOptions(); s.intra_op_num_threads = 1; "
    "s.graph_optimization_level = getattr(o.GraphOptimizationLevel, sys.argv[2]); "
    "o.InferenceSession(sys.argv[1], s, providers=['CPUExecutionProvider'])"
)
_LEVELS = {
    "all": "ORT_ENABLE_ALL",
    "extended": "ORT_ENABLE_EXTENDED",
    "basic": "ORT_ENABLE_BASIC",
    "disabled": "ORT_DISABLE_ALL",
}


def loadable_level(path: Path, levels=("all", "extended", "basic", "disabled")) -> tuple[str, str | None]:
    """The first graph optimisation level at which onnxruntime loads ``path`` without crashing
    (tried in a child process), and a note when it is not ``all``."""
    crashes = []
    for level in levels:
        done = subprocess.run(
            [sys.executable, "-c", _LOAD, str(path), _LEVELS[level]],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode == 0:
            note = (
                None
                if not crashes
                else (
                    f"onnxruntime crashed loading {path.name} at optimisation level "
                    f"{', '.join(crashes)}; measured at '{level}'"
                )
            )
            return level, note
        if done.returncode > 0:  # a Python error, not a crash: the file itself is refused
            lines = done.stderr.strip().splitlines()
            raise ExportError(
                f"onnxruntime must load {path.name}; it refused it: {lines[-1] if lines else ''}"
            )
        crashes.append(f"'{level}' (signal {-done.returncode})")
    raise ExportError(f"onnxruntime must load {path.name}; it crashed at every optimisation level")
