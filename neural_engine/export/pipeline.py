"""One export request from start to finish: prune (optional), export, validate against torch,
quantized variants with the advisor, serving bundles, and the report (``report.json``,
``report.md``) — written into one folder (``model.onnx``, ``report.json``, ``serving/``…) or beside
a model file the caller names (``model_file="m.onnx"``: ``m.report.json``, ``m-serving/``…; see
``layout``).

Formats: ``onnx`` (the dynamo exporter, the legacy one only where dynamo fails — the report says
which), ``pt2`` (a ``torch.export`` program, the PyTorch-native format) and ``torchscript``
(legacy, kept for existing users: ``torch.jit`` is deprecated). The TorchServe bundle is legacy
too (TorchServe is archived): written only on request (``torchserve=True``), and the report's
notes say it is legacy.

Only files that passed their checks stay beside the report: a failed fp32 export is moved to
``rejected/`` (``ExportResult.passed`` is False; nothing is left at the model's path), and so is a
rejected variant. ``progress`` (a ``neural_engine.progress.Progress``) shows a bar over the
validation samples; the default prints nothing.

>>> import tempfile
>>> from neural_engine.templates import template
>>> with tempfile.TemporaryDirectory() as d:
...     r = run_export(template("mnist_cnn", input_shape=(8, 8, 1)), None, ExportSpec(serving=False), d,
...                    dataset="digits")
...     r.passed, r.report.exporter, r.report.comparison.agreement, [f.name for f in r.files]
(True, 'dynamo', 1.0, ['model.onnx'])
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from neural_engine.errors import ExportError
from neural_engine.export.layout import SUFFIXES, Layout
from neural_engine.export.validate import Thresholds, ValidationReport
from neural_engine.progress import SILENT, Progress

FORMATS = tuple(SUFFIXES)  # every name ExportSpec takes: onnx, pt2, torchscript
LEGACY_FORMATS = ("torchscript",)
TORCHSERVE_LEGACY = (
    "the TorchServe bundle is legacy: TorchServe is archived and no longer maintained; "
    "serve with Triton or the ONNX Runtime bundle"
)
RANDOM_WEIGHTS = (
    "the weights are random (an untrained network): numbers check the export, not a model; "
    "the exporter also merges identical untrained tensors, so sizes understate a trained model's"
)


@dataclass(frozen=True)
class ExportSpec:
    """What to export and how to check it; fields are the ``neuralforge export`` flags."""

    format: str = "onnx"  # onnx | pt2 | torchscript (legacy)
    opset: int = 18
    onnx_exporter: str = "auto"  # auto (dynamo, legacy where it fails) | dynamo | legacy
    quantize: tuple[str, ...] = ()
    prune: float | None = None
    prune_method: str = "unstructured"
    finetune_epochs: int = 0
    samples: int = 100
    thresholds: Thresholds = field(default_factory=Thresholds)
    serving: bool = True  # the bundles: Triton and ONNX Runtime (ONNX exports), TorchServe below
    torchserve: bool = False  # the legacy TorchServe bundle too (with ``serving``), marked legacy
    max_batch_size: int = 32
    latency_budget_s: float = 0.25
    name: str | None = None

    def __post_init__(self):
        from neural_engine.export.onnx_export import check_request
        from neural_engine.export.quantize import parse_variants

        if self.format not in FORMATS:
            raise ExportError(
                f"--format must be one of {', '.join(FORMATS)} (torchscript: legacy); received {self.format!r}"
            )
        check_request(self.opset, self.onnx_exporter)
        if self.quantize and self.format != "onnx":
            raise ExportError(
                f"--quantize works on ONNX exports; received --format {self.format}", hint="use --format onnx"
            )
        parse_variants(",".join(self.quantize))
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ExportError(f"--samples must be a positive integer; received {self.samples!r}")
        if not isinstance(self.finetune_epochs, int) or self.finetune_epochs < 0:
            raise ExportError(
                f"--finetune-epochs must be a non-negative integer; received {self.finetune_epochs!r}"
            )
        if self.prune is not None:
            from neural_engine.export.prune import check

            check(self.prune, self.prune_method)
        if self.finetune_epochs and self.prune is None:
            raise ExportError("--finetune-epochs fine-tunes after pruning; received no --prune")


@dataclass
class ExportResult:
    layout: Layout
    name: str
    report: ValidationReport
    variants: list = field(default_factory=list)  # VariantResult, fp32 first
    advice: object = None  # Advice
    prune: object = None  # PruneReport
    bundles: dict = field(default_factory=dict)  # kind -> Bundle
    files: list[Path] = field(default_factory=list)  # model files that passed

    @property
    def passed(self) -> bool:
        return self.report.passed and all(v.passed for v in self.variants)

    @property
    def directory(self) -> Path:
        """The folder of the reports (and of the model, without a named model file)."""
        return self.layout.directory

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "validation": self.report.to_json(),
            "variants": [v.to_json() for v in self.variants],
            "advice": self.advice.to_json() if self.advice else None,
            "prune": self.prune.to_json() if self.prune else None,
            "files": [self.layout.relative(f) for f in self.files],
            "serving": {k: [self.layout.relative(f) for f in b.files] for k, b in self.bundles.items()},
        }

    def write_reports(self) -> None:
        """``report.json`` and ``report.md`` where the layout puts them."""
        from neural_engine.export import report as report_mod

        self.layout.report_json.write_text(json.dumps(self.to_json(), indent=1, default=str))
        self.layout.report_md.write_text(report_mod.markdown(self))


def _reject(path: Path, layout: Layout) -> None:
    if path.exists():
        layout.rejected.mkdir(exist_ok=True)
        shutil.move(str(path), layout.rejected / path.name)


def _primary(module, analysis, spec: ExportSpec, path: Path, samples, random_weights: bool, progress):
    """Export in ``spec.format`` to ``path`` and validate against torch: (report, file, outputs)."""
    from neural_engine.export import formats, runners, validate
    from neural_engine.export.onnx_export import export_onnx

    torch_runner = runners.TorchRunner(module)
    reference = runners.run_batched(torch_runner, samples)
    if spec.format == "onnx":
        exported = export_onnx(module, analysis, path, opset=spec.opset, exporter=spec.onnx_exporter)
        runner = runners.OrtRunner(exported.path)
    elif spec.format == "pt2":
        exported = formats.export_pt2(module, analysis, path)
        runner = runners.Pt2Runner(exported.path)
    else:
        exported = formats.export_torchscript(module, analysis, path)
        runner = runners.TorchScriptRunner(exported.path)
    with progress.bar("validating", total=len(samples), unit="sample") as bar:
        outputs = runners.run_batched(runner, samples, on_batch=bar.update)
    comparison = validate.compare(reference, outputs, tie_tol=spec.thresholds.max_abs_diff)
    latency = {
        r.name: {
            b: runners.latency_ms(r, samples.repeat_to(b), budget_s=spec.latency_budget_s) for b in (1, 32)
        }
        for r in (torch_runner, runner)
    }
    notes = list(exported.notes) + ([RANDOM_WEIGHTS] if random_weights else [])
    report = ValidationReport(
        spec.format,
        exported.path.name,
        exported.size_bytes,
        len(samples),
        samples.source,
        random_weights,
        comparison,
        {
            "torch": validate.accuracy(reference, samples.labels),
            runner.name: validate.accuracy(outputs, samples.labels),
        },
        latency,
        spec.thresholds,
        validate.check_fp32(comparison, spec.thresholds),
        notes,
        exported.exporter,
    )
    return report, exported, outputs


def _variants(exported, analysis, spec: ExportSpec, layout: Layout, samples, dataset, split):
    from neural_engine.export import advisor, quantize, variants
    from neural_engine.export import samples as sample_mod

    fp32, fp32_outputs = variants.measure("fp32", exported.path, samples, budget_s=spec.latency_budget_s)
    results = [fp32]
    calibration = (
        sample_mod.calibration_batches(analysis, dataset, split) if "int8-static" in spec.quantize else None
    )
    for name in spec.quantize:
        path = quantize.make_variant(name, exported.path, layout.variant(name), exported.inputs, calibration)
        level, note = quantize.loadable_level(path)
        result, _ = variants.measure(
            name, path, samples, (fp32, fp32_outputs), level=level, budget_s=spec.latency_budget_s
        )
        result.notes += [note] if note else []
        result.failures = result.check(spec.thresholds.max_accuracy_drop)
        results.append(result)
    conv = any(i.spec.family == "convolution" for i in analysis.nodes.values())
    return results, advisor.advise(results, conv_net=conv)


def _prune(graph, state, spec: ExportSpec, samples, dataset, split):
    from neural_engine.export.prune import prune_state

    loader = None
    if spec.finetune_epochs:
        if dataset is None:
            raise ExportError(
                "--finetune-epochs needs a dataset to train on; received none",
                hint="give --dataset, or leave out --finetune-epochs",
            )
        from neural_engine.data import make_loaders

        loader = make_loaders(dataset, split, batch_size=32)["train"]
    return prune_state(
        graph,
        state,
        spec.prune,
        spec.prune_method,
        samples=samples,
        train_loader=loader,
        finetune_epochs=spec.finetune_epochs,
    )


def _bundles(exported, spec: ExportSpec, layout: Layout, samples, outputs, name: str) -> dict:
    """Serving bundles for the export, their signature taken from one real sample and its output.
    Triton and ONNX Runtime serve ONNX files; a pt2 program has no bundle (yet)."""
    from neural_engine.export.serving import Signature, write_bundles

    first = next(samples.batches(1))
    signature = Signature.from_arrays(exported.inputs, first, exported.outputs, [o[:1] for o in outputs])
    onnx_path = exported.path if spec.format == "onnx" else None
    ts_path = exported.path if spec.format == "torchscript" else None
    return write_bundles(
        layout.serving, name, signature, onnx_path, ts_path, spec.max_batch_size, torchserve=spec.torchserve
    )


def run_export(
    graph,
    state: dict | None,
    spec: ExportSpec,
    directory=None,
    *,
    model_file=None,
    dataset=None,
    split=None,
    progress: Progress = SILENT,
) -> ExportResult:
    """Export ``graph`` with weights ``state`` (the training build's state dict; None: random
    weights) into ``directory`` — or to ``model_file`` exactly, the rest beside it (or in
    ``directory`` when given) named after its stem; validate on ``dataset``'s test split (None:
    random inputs)."""
    from neural_engine.export.samples import validation_samples
    from neural_engine.export.weights import export_module
    from neural_engine.shapes import propagate

    layout = Layout.of(spec.format, directory, model_file)
    layout.directory.mkdir(parents=True, exist_ok=True)
    layout.model.parent.mkdir(parents=True, exist_ok=True)
    analysis = propagate(graph)
    samples = validation_samples(analysis, dataset, split, spec.samples)
    pruned = None
    if spec.prune is not None:
        state, pruned = _prune(graph, state, spec, samples, dataset, split)
    module, random_weights = export_module(graph, state)
    report, exported, outputs = _primary(
        module, analysis, spec, layout.model, samples, random_weights, progress
    )
    result = ExportResult(layout, spec.name or graph.name, report, prune=pruned)
    if not report.passed:
        _reject(exported.path, layout)
    else:
        result.files.append(exported.path)
        if spec.quantize:
            result.variants, result.advice = _variants(
                exported, analysis, spec, layout, samples, dataset, split
            )
            for v in result.variants[1:]:
                if v.passed:
                    result.files.append(layout.variant(v.name))
                else:
                    _reject(layout.variant(v.name), layout)
        if spec.serving:
            result.bundles = _bundles(exported, spec, layout, samples, outputs, result.name)
            if "torchserve" in result.bundles:
                report.notes.append(TORCHSERVE_LEGACY)
    result.write_reports()
    return result


def copy_export(result: ExportResult, layout: Layout) -> ExportResult:
    """The same export in ``layout`` — a named file's export as a folder of its own, the way a
    run records it: the files that passed and the serving bundles copied, the reports written
    anew naming the copies (rejected files stay behind)."""
    from dataclasses import replace

    old = result.layout
    layout.directory.mkdir(parents=True, exist_ok=True)
    copies = {
        old.model: layout.model,
        **{old.variant(v.name): layout.variant(v.name) for v in result.variants[1:]},
    }
    for f in result.files:
        shutil.copyfile(f, copies[f])
    if result.bundles:
        shutil.copytree(old.serving, layout.serving, dirs_exist_ok=True)
    names = {a.name: b.name for a, b in copies.items()}
    moved = replace(
        result,
        layout=layout,
        report=replace(result.report, file=names[result.report.file]),
        variants=[replace(v, file=names.get(v.file, v.file)) for v in result.variants],
        bundles={
            k: replace(
                b,
                directory=layout.serving / b.directory.relative_to(old.serving),
                files=[layout.serving / f.relative_to(old.serving) for f in b.files],
            )
            for k, b in result.bundles.items()
        },
        files=[copies[f] for f in result.files],
    )
    moved.write_reports()
    return moved
