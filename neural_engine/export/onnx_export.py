"""Write the ONNX file: ``torch.onnx.export(dynamo=True)`` (``torch.export`` + onnxscript), and the
legacy TorchScript-based exporter (``dynamo=False``) only where the dynamo one fails.

``exporter="auto"`` (the default) tries dynamo and falls back on an exporter error, saying so:
``ExportedFile.exporter`` is ``dynamo`` or ``legacy (dynamo failed: <stage>: <first line of the
root cause>)``, and the validation report carries it. ``"dynamo"`` refuses the fallback (the
error is raised); ``"legacy"`` asks for the old exporter outright.

Both write a dynamic batch axis named ``batch`` on every input and output and one file with the
weights inside (the weights go to ``model.onnx.data`` only above the 2 GB protobuf limit), checked
by ``onnx.checker``. Opsets 17–20: the dynamo exporter implements 18 and up and reaches 17
through onnx's version converter; a conversion that leaves another opset counts as a dynamo
failure. The dynamo exporter is slower than the legacy one: 2.7 s against 0.37 s (7.2x) for
ResNet-18 CIFAR on one CPU thread (`python -m benchmarks.bench_export --cifar`).

>>> import tempfile
>>> from neural_engine.shapes import propagate
>>> from neural_engine.templates import template
>>> from neural_engine.export.weights import export_module
>>> a = propagate(template("mnist_cnn", input_shape=(8, 8, 1)))
>>> model, _ = export_module(a.graph)
>>> with tempfile.TemporaryDirectory() as d:
...     f = export_onnx(model, a, f"{d}/model.onnx")
...     f.exporter, f.inputs, f.outputs, f.opset, f.size_bytes > 0
('dynamo', ['image'], ['output'], 18, True)
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from pathlib import Path

import torch

from neural_engine.errors import ExportError
from neural_engine.export.formats import (
    ExportedFile,
    dynamic_batch,
    examples,
    exporting,
    first_line,
    io_names,
)

EXPORTERS = ("auto", "dynamo", "legacy")
MIN_OPSET, MAX_OPSET = 17, 20
DEFAULT_OPSET = 18  # the dynamo exporter's own (torchlib's) opset: no version conversion
INLINE_LIMIT = 2**31 - 2**26  # bytes of weights one protobuf holds with room left for the graph
_STAGES = {"TorchExportError": "torch.export", "ConversionError": "ONNX translation"}


class DynamoFailed(Exception):
    """The dynamo exporter could not write this network; ``reason`` is what the report shows."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_request(opset, exporter: str) -> None:
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"--opset must be an integer from {MIN_OPSET} to {MAX_OPSET}; received {opset!r}")
    if exporter not in EXPORTERS:
        raise ExportError(f"--onnx-exporter must be one of {', '.join(EXPORTERS)}; received {exporter!r}")


def failure_reason(e: BaseException) -> str:
    """``<stage>: <root cause type>: <its first line>`` of a dynamo exporter error: torch.onnx
    wraps the cause in a generic "Failed to export…" message, so the cause is what says why."""
    stage = next((s for t in type(e).__mro__ if (s := _STAGES.get(t.__name__))), type(e).__name__)
    root = e
    while root.__cause__ is not None or (root.__context__ is not None and not root.__suppress_context__):
        root = root.__cause__ or root.__context__
    return f"{stage}: {first_line(root)}" if root is not e else first_line(e)


@contextlib.contextmanager
def _quiet_loggers():
    """The dynamo exporter and onnxscript log each step and a failed version conversion at
    WARNING; the outcome is checked (the opset written) and reported, not logged."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _written_opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _dynamo(module, analysis, path: Path, opset: int, notes: list[str]) -> ExportedFile:
    inputs, outputs = io_names(analysis)
    args = examples(analysis, 2)
    weights = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    external = weights > INLINE_LIMIT
    try:
        with _quiet_loggers():
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=True,
                opset_version=opset,
                input_names=inputs,
                output_names=outputs,
                dynamic_shapes=dynamic_batch(args),
                external_data=external,
                optimize=True,
                report=False,
                verbose=False,
            )
    except torch.onnx.errors.OnnxExporterError as e:  # capture (torch.export) or translation failed
        raise DynamoFailed(failure_reason(e)) from e
    except ImportError as e:  # an environment problem, not this network's: no fallback
        raise ExportError(
            f"the dynamo ONNX exporter needs onnxscript>=0.7; importing it failed: {first_line(e)}",
            hint='pip install "neuralforge[export]", or --onnx-exporter legacy',
        ) from e
    written = _written_opset(path)
    if written != opset:
        raise DynamoFailed(f"opset {opset} asked, {written} written (onnx's version converter failed)")
    if external:
        notes.append(f"weights ({weights / 2**30:.1f} GiB) in {path.name}.data: over the 2 GB protobuf limit")
    return ExportedFile(path, "onnx", inputs, outputs, opset=opset, exporter="dynamo")


def _legacy(module, analysis, path: Path, opset: int) -> ExportedFile:
    inputs, outputs = io_names(analysis)
    try:
        torch.onnx.export(
            module,
            examples(analysis, 2),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in inputs + outputs},
            do_constant_folding=True,
        )
    except Exception as e:  # the exporter raises many types; all mean "this network does not export"
        raise ExportError(f"torch.onnx.export must convert the network; it failed: {first_line(e)}") from e
    return ExportedFile(path, "onnx", inputs, outputs, opset=opset, exporter="legacy")


def _check(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportError(
            f"the ONNX file must pass onnx.checker; it does not: {str(e).splitlines()[0]}"
        ) from e


def export_onnx(
    module: torch.nn.Module, analysis, path: str | Path, *, opset: int = DEFAULT_OPSET, exporter: str = "auto"
) -> ExportedFile:
    """Export ``module`` (built from ``analysis``) to one ONNX file and check it."""
    check_request(opset, exporter)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    with exporting() as notes:
        if exporter == "legacy":
            exported = replace(_legacy(module, analysis, path, opset), exporter="legacy (asked for)")
        else:
            try:
                exported = _dynamo(module, analysis, path, opset, notes)
            except DynamoFailed as e:
                if exporter == "dynamo":
                    raise ExportError(
                        f"the dynamo ONNX exporter must convert the network; it failed: {e.reason}",
                        hint="leave out --onnx-exporter dynamo to fall back to the legacy exporter",
                    ) from e
                try:
                    legacy = _legacy(module, analysis, path, opset)
                except ExportError as legacy_error:
                    raise ExportError(
                        f"an ONNX exporter must convert the network; both failed: dynamo ({e.reason}), "
                        f"legacy ({legacy_error.__cause__ and first_line(legacy_error.__cause__)})",
                        hint="export --format pt2 (torch.export), or replace the layer named in the error",
                    ) from legacy_error
                exported = replace(legacy, exporter=f"legacy (dynamo failed: {e.reason})")
    _check(path)
    return replace(exported, notes=notes)
