"""Write the PyTorch-native files: ``.pt2`` (``torch.export``) and, behind its legacy format name,
TorchScript. ONNX lives in ``onnx_export``; both share ``ExportedFile`` and the helpers here.

- ``pt2``: ``torch.export.export`` with a dynamic batch (``Dim("batch")`` on dim 0 of every
  input), saved by ``torch.export.save``; it reloads with ``torch.export.load(path).module()``.
- ``torchscript`` (legacy: ``torch.jit`` is deprecated, ``pt2`` replaces it): ``torch.jit.trace``
  (checked against eager on a second batch size); if tracing fails or disagrees
  (data-dependent control flow), ``torch.jit.script``.

>>> import tempfile, torch
>>> from neural_engine.shapes import propagate
>>> from neural_engine.templates import template
>>> from neural_engine.export.weights import export_module
>>> a = propagate(template("mnist_cnn", input_shape=(8, 8, 1)))
>>> model, _ = export_module(a.graph)
>>> with tempfile.TemporaryDirectory() as d:
...     f = export_pt2(model, a, f"{d}/model.pt2")
...     loaded = torch.export.load(f.path).module()
...     f.exporter, f.inputs, tuple(loaded(torch.zeros(5, 1, 8, 8)).shape)
('torch.export', ['image'], (5, 10))
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from neural_engine.errors import ExportError

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
    format: str  # onnx | pt2 | torchscript
    inputs: list[str]
    outputs: list[str]
    opset: int | None = None
    method: str = ""  # torchscript: trace | script
    notes: list[str] = field(default_factory=list)
    exporter: str = ""  # how it was written, as the report says it: "dynamo", "legacy (dynamo failed: …)"

    @property
    def size_bytes(self) -> int:
        data = self.path.with_name(self.path.name + ".data")  # ONNX external weights, when written
        return self.path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def io_names(analysis) -> tuple[list[str], list[str]]:
    outputs = list(analysis.outputs)
    return list(analysis.graph.inputs), ["output"] if len(outputs) == 1 else outputs


def examples(analysis, batch: int) -> tuple[torch.Tensor, ...]:
    from neural_engine.build import example_inputs

    return tuple(example_inputs(analysis, batch=batch, generator=torch.Generator().manual_seed(batch)))


def dynamic_batch(inputs) -> tuple:
    """``dynamic_shapes`` for a module called as ``forward(*inputs)``: dim 0 of each is the batch."""
    batch = torch.export.Dim("batch", min=1)  # no upper bound
    return (tuple({0: batch} for _ in inputs),)  # one entry: the ``*args`` parameter


def first_line(e: BaseException, limit: int = 200) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:limit] if text else ''}"


@contextlib.contextmanager
def exporting():
    """No multi-head-attention fast path (it is not traceable), and the exporters' deprecation
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


def _prepare(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def export_pt2(module: torch.nn.Module, analysis, path: str | Path) -> ExportedFile:
    """``torch.export`` ``module`` (dynamic batch) and save the program to ``path`` (``.pt2``)."""
    path = _prepare(path)
    inputs, outputs = io_names(analysis)
    args = examples(analysis, 2)
    with exporting() as notes:
        try:
            program = torch.export.export(module.eval(), args, dynamic_shapes=dynamic_batch(args))
        except Exception as e:  # torch.export raises many types; all mean "this network does not export"
            raise ExportError(f"torch.export must capture the network; it failed: {first_line(e)}") from e
        torch.export.save(program, str(path))
    return ExportedFile(path, "pt2", inputs, outputs, notes=notes, exporter="torch.export")


def export_torchscript(module: torch.nn.Module, analysis, path: str | Path) -> ExportedFile:
    """Legacy. Trace ``module``; fall back to scripting when tracing fails or disagrees with eager."""
    path = _prepare(path)
    inputs, outputs = io_names(analysis)
    module = module.eval()
    with exporting() as notes:
        method, scripted = "trace", None
        try:
            scripted = torch.jit.trace(
                module, examples(analysis, 2), check_inputs=[examples(analysis, 3)], strict=False
            )
        except Exception as e:  # noqa: BLE001 - TracerWarning-as-error, data-dependent control flow, unsupported ops
            notes.append(f"tracing failed ({first_line(e)}); scripted instead")
            method = "script"
        if scripted is None:
            try:
                scripted = torch.jit.script(module)
            except Exception as e:
                raise ExportError(
                    f"TorchScript must trace or script the network; both failed ({first_line(e)})"
                ) from e
        scripted.save(str(path))
    notes.append("TorchScript is a legacy format (torch.jit is deprecated): pt2 (torch.export) replaces it")
    return ExportedFile(
        path,
        "torchscript",
        inputs,
        outputs,
        method=method,
        notes=notes,
        exporter=f"torch.jit.{method} (legacy)",
    )
