"""Write the files: ONNX (``torch.onnx.export``, the TorchScript-based exporter) and TorchScript.

ONNX: opset 17–20, a dynamic batch axis on every input and output, one file (weights inside; the
protobuf limit is 2 GB), checked by ``onnx.checker``. The exporter is the ``dynamo=False`` one:
about 1.2 s for ResNet-18 on a 2-core CPU, where the dynamo exporter is 3–4x slower and writes
external ``.data`` files. TorchScript: ``torch.jit.trace`` (checked against eager on a second
batch size); if tracing fails or disagrees (data-dependent control flow), ``torch.jit.script``.

>>> import tempfile, torch
>>> from neural_engine.shapes import propagate
>>> from neural_engine.templates import template
>>> from neural_engine.export.weights import export_module
>>> a = propagate(template("mnist_cnn", input_shape=(8, 8, 1)))
>>> model, _ = export_module(a.graph)
>>> with tempfile.TemporaryDirectory() as d:
...     f = export_onnx(model, a, f"{d}/model.onnx")
...     f.inputs, f.outputs, f.opset, f.size_bytes > 0
(['image'], ['output'], 17, True)
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from neural_engine.errors import ExportError

MIN_OPSET, MAX_OPSET = 17, 20
_NOISE = (
    "legacy TorchScript-based ONNX export",
    "The feature will be removed",
    "TorchScript",
    "torch.jit",
    "Converting a tensor to a Python boolean",
)


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    format: str  # onnx | torchscript
    inputs: list[str]
    outputs: list[str]
    opset: int | None = None
    method: str = ""  # torchscript: trace | script
    notes: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def io_names(analysis) -> tuple[list[str], list[str]]:
    outputs = list(analysis.outputs)
    return list(analysis.graph.inputs), ["output"] if len(outputs) == 1 else outputs


def _examples(analysis, batch: int):
    from neural_engine.build import example_inputs

    return tuple(example_inputs(analysis, batch=batch, generator=torch.Generator().manual_seed(batch)))


@contextlib.contextmanager
def _exporting():
    """No multi-head-attention fast path (it is not traceable), and the exporter's deprecation
    chatter filtered out; what remains is collected as notes."""
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            notes: list[str] = []
            yield notes
        notes += sorted(
            {str(w.message).split("\n")[0] for w in caught if not any(n in str(w.message) for n in _NOISE)}
        )
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def export_onnx(module: torch.nn.Module, analysis, path: str | Path, *, opset: int = 17) -> ExportedFile:
    """Export ``module`` (built from ``analysis``) to one ONNX file and check it."""
    import onnx

    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"--opset must be an integer from {MIN_OPSET} to {MAX_OPSET}; received {opset!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs, outputs = io_names(analysis)
    dynamic = {name: {0: "batch"} for name in inputs + outputs}
    with _exporting() as notes:
        try:
            torch.onnx.export(
                module.eval(),
                _examples(analysis, 2),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=dynamic,
                do_constant_folding=True,
            )
        except Exception as e:  # the exporter raises many types; all mean "this network does not export"
            raise ExportError(
                f"torch.onnx.export must convert the network; it failed: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}"
            ) from e
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportError(
            f"the ONNX file must pass onnx.checker; it does not: {str(e).splitlines()[0]}"
        ) from e
    return ExportedFile(path, "onnx", inputs, outputs, opset=opset, notes=notes)


def export_torchscript(module: torch.nn.Module, analysis, path: str | Path) -> ExportedFile:
    """Trace ``module``; fall back to scripting when tracing fails or disagrees with eager."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs, outputs = io_names(analysis)
    module = module.eval()
    with _exporting() as notes:
        method, scripted = "trace", None
        try:
            scripted = torch.jit.trace(
                module, _examples(analysis, 2), check_inputs=[_examples(analysis, 3)], strict=False
            )
        except Exception as e:  # noqa: BLE001 - TracerWarning-as-error, data-dependent control flow, unsupported ops
            notes.append(
                f"tracing failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); scripted instead"
            )
            method = "script"
        if scripted is None:
            try:
                scripted = torch.jit.script(module)
            except Exception as e:
                raise ExportError(
                    f"TorchScript must trace or script the network; both failed "
                    f"({type(e).__name__}: {str(e).splitlines()[0][:200]})"
                ) from e
        scripted.save(str(path))
    return ExportedFile(path, "torchscript", inputs, outputs, method=method, notes=notes)
