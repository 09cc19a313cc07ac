"""Export: every template exports to ONNX (the dynamo exporter) and to a torch.export program
(.pt2) and matches torch (onnxruntime and the reloaded program are the oracles); a layer the dynamo
exporter cannot convert falls back to the legacy exporter and the report says why; TorchScript is
still there under its legacy name; failures are refused; quantized variants and pruning report
measured deltas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neural_engine.build import build
from neural_engine.errors import ExportError
from neural_engine.export.formats import examples
from neural_engine.export.onnx_export import export_onnx
from neural_engine.export.pipeline import ExportSpec, run_export
from neural_engine.export.validate import Thresholds
from neural_engine.export.weights import export_module, load_training_state
from neural_engine.ir import GraphBuilder
from neural_engine.shapes import propagate
from neural_engine.templates import TEMPLATES, template
from tests.digits_model import digits_graph, trained_state
from tests.test_templates import SMALL

FAST_FIELDS = {"serving": False, "samples": 16, "latency_budget_s": 0.002}
FAST = ExportSpec(**FAST_FIELDS)


def test_every_template_has_a_small_variant_here():
    assert set(SMALL) == set(TEMPLATES)


def _reloaded(path: Path):
    """The exported file run the way a user would: onnxruntime, or the reloaded torch.export program."""
    if path.suffix == ".onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return lambda *xs: session.run(None, {n: x.numpy() for n, x in zip(names, xs)})[0]
    module = torch.export.load(str(path)).module()
    return lambda *xs: module(*xs).numpy()


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize(
    "fmt,file,runtime,exporter",
    [("onnx", "model.onnx", "onnxruntime", "dynamo"), ("pt2", "model.pt2", "pt2", "torch.export")],
)
def test_every_template_exports_and_matches_torch(name, fmt, file, runtime, exporter, tmp_path):
    analysis = propagate(template(name, **SMALL[name]))
    spec = ExportSpec(format=fmt, onnx_exporter="dynamo", **FAST_FIELDS)  # onnx: no fallback allowed
    r = run_export(analysis.graph, None, spec, tmp_path)
    c = r.report.comparison
    assert r.passed, r.report.failures
    assert r.report.exporter == exporter
    assert c.shape_match and c.max_abs_diff < 1e-5 and c.samples == 16
    assert c.agreement == 1.0 and c.disagreements == 0
    assert r.report.random_weights and any("random" in n for n in r.report.notes)
    assert set(r.report.latency_ms) == {"torch", runtime}
    assert [f.name for f in r.files] == [file]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([file, "report.json", "report.md"])
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["passed"] and saved["validation"]["comparison"]["max_abs_diff"] == c.max_abs_diff
    assert saved["validation"]["exporter"] == exporter
    assert f"exporter: {exporter}" in (tmp_path / "report.md").read_text()
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(tmp_path / file))
        assert proto.opset_import[0].version == 18  # the dynamo exporter's own: no version conversion
        for tensor in (*proto.graph.input, *proto.graph.output):
            assert tensor.type.tensor_type.shape.dim[0].dim_param == "batch"
    model, _ = export_module(analysis.graph)  # the same seeded weights
    run = _reloaded(tmp_path / file)
    for batch in (1, 5):  # the batch is dynamic: sizes the export never saw
        xs = examples(analysis, batch)
        with torch.inference_mode():
            np.testing.assert_allclose(run(*xs), model.eval()(*xs).numpy(), atol=1e-5, rtol=0)


def test_torchscript_is_kept_under_its_legacy_name(tmp_path):
    r = run_export(
        template("mnist_cnn", input_shape=(8, 8, 1)),
        None,
        ExportSpec(format="torchscript", **FAST_FIELDS),
        tmp_path,
    )
    assert (
        r.passed
        and [f.name for f in r.files] == ["model.pt"]
        and set(r.report.latency_ms)
        == {
            "torch",
            "torchscript",
        }
    )
    assert r.report.exporter == "torch.jit.trace (legacy)" and r.report.comparison.max_abs_diff < 1e-5
    assert any(n.startswith("TorchScript is a legacy format") for n in r.report.notes)
    assert "exporter: torch.jit.trace (legacy)" in (tmp_path / "report.md").read_text()


def _pooling_net(layer: str, shape: tuple[int, ...], **params):
    """A real network around one pooling layer: pool, flatten, softmax head."""
    g = GraphBuilder(layer, {"x": shape})
    g.add("Output", g.add("Flatten", g.add(layer, "x", **params)), units=3, activation="softmax")
    return g.build()


# torch.onnx's dynamo exporter has no ONNX function for aten._adaptive_avg_pool3d (torch 2.14,
# onnxscript 0.7); the legacy exporter converts it (output size a factor of the input's).
POOL3D = ("AdaptiveAveragePooling3D", (4, 4, 4, 1))
NO_DYNAMO = (
    "ONNX translation: DispatchError: No ONNX function found for <OpOverload(op='aten._adaptive_avg_pool3d'"
)


def test_a_layer_the_dynamo_exporter_cannot_convert_falls_back_to_legacy_and_says_why(tmp_path):
    r = run_export(_pooling_net(*POOL3D, output_size=2), None, FAST, tmp_path)
    assert r.passed and r.report.comparison.max_abs_diff < 1e-5 and r.report.comparison.agreement == 1.0
    assert r.report.exporter.startswith(f"legacy (dynamo failed: {NO_DYNAMO}")
    assert json.loads((tmp_path / "report.json").read_text())["validation"]["exporter"] == r.report.exporter
    assert f"exporter: legacy (dynamo failed: {NO_DYNAMO}" in (tmp_path / "report.md").read_text()
    analysis = propagate(_pooling_net(*POOL3D, output_size=2))
    with pytest.raises(
        ExportError, match=r"the dynamo ONNX exporter must convert the network; it failed: ONNX"
    ):
        export_onnx(export_module(analysis.graph)[0], analysis, tmp_path / "strict.onnx", exporter="dynamo")


def test_a_network_no_onnx_exporter_converts_is_refused_naming_both(tmp_path):
    analysis = propagate(_pooling_net("AdaptiveMaxPooling2D", (5, 5, 1), output_size=2))  # 5 -> 2: no factor
    model, _ = export_module(analysis.graph)
    with pytest.raises(
        ExportError, match=r"both failed: dynamo \(ONNX translation: DispatchError: .*\), legacy"
    ) as info:
        export_onnx(model, analysis, tmp_path / "m.onnx")
    assert "adaptive_max_pool2d" in str(info.value) and "--format pt2" in info.value.hint


def test_opset_17_and_the_legacy_exporter_on_request(tmp_path):
    import onnx

    analysis = propagate(template("mnist_cnn", input_shape=(8, 8, 1)))
    model, _ = export_module(analysis.graph)
    converted = export_onnx(model, analysis, tmp_path / "d.onnx", opset=17)  # dynamo, then onnx's converter
    legacy = export_onnx(model, analysis, tmp_path / "l.onnx", opset=17, exporter="legacy")
    assert (converted.exporter, legacy.exporter) == ("dynamo", "legacy (asked for)")
    for f in (converted, legacy):
        assert onnx.load(str(f.path)).opset_import[0].version == 17


@pytest.fixture(scope="module")
def digits_quantized(tmp_path_factory):
    """The trained digits model exported once (dynamo) with its three quantized variants."""
    spec = ExportSpec(
        quantize=("fp16", "int8-dynamic", "int8-static"),
        serving=False,
        latency_budget_s=0.01,
        thresholds=Thresholds(max_accuracy_drop=0.05),
    )
    directory = tmp_path_factory.mktemp("digits-quantized")
    return run_export(digits_graph(), trained_state(), spec, directory, dataset="digits"), directory


def test_a_trained_model_validates_on_the_test_split(digits_quantized):
    r, tmp_path = digits_quantized
    assert r.passed and not r.report.random_weights and r.report.exporter == "dynamo"
    assert r.report.samples == 100
    assert r.report.sample_source.startswith("digits test split")
    acc = r.report.accuracy
    assert acc["torch"] == acc["onnxruntime"] > 0.8
    assert r.report.comparison.max_abs_diff < 1e-5
    md = (tmp_path / "report.md").read_text()
    assert "| max abs diff |" in md and "| onnxruntime / torch |" in md


def test_an_export_beyond_the_thresholds_fails_and_is_not_kept(tmp_path):
    spec = ExportSpec(
        serving=True, samples=32, latency_budget_s=0.002, thresholds=Thresholds(max_abs_diff=1e-12)
    )
    r = run_export(digits_graph(), trained_state(), spec, tmp_path, dataset="digits")
    assert not r.passed and r.files == [] and r.bundles == {}
    assert "max abs diff must be <= 1e-12; measured" in r.report.failures[0]
    assert not (tmp_path / "model.onnx").exists() and (tmp_path / "rejected" / "model.onnx").exists()
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is False


def test_quantized_variants_of_a_dynamo_export_report_measured_deltas_and_advice(digits_quantized):
    r, tmp_path = digits_quantized
    fp32, *variants = r.variants
    assert [v.name for v in r.variants] == ["fp32", "fp16", "int8-dynamic", "int8-static"]
    for v in variants:
        assert v.accuracy is not None and v.accuracy_delta == pytest.approx(v.accuracy - fp32.accuracy)
        assert abs(v.accuracy_delta) <= 0.05 and v.agreement_with_fp32 >= 0.9, v
        assert v.size_bytes < fp32.size_bytes and set(v.latency_ms) == {1, 32} and v.speedup_vs_fp32[1] > 0
        assert (tmp_path / v.file).exists()
    sizes = {v.name: v.size_bytes / fp32.size_bytes for v in r.variants}
    assert sizes["fp16"] < 0.6 and sizes["int8-static"] < 0.45
    assert r.advice.recommended in {v.name for v in r.variants}
    dynamic = r.variants[2]
    if dynamic.latency_ms[1] > fp32.latency_ms[1]:  # ConvInteger on CPU: flagged
        assert any(f.startswith("int8-dynamic runs") for f in r.advice.flags)
    md = (tmp_path / "report.md").read_text()
    assert "## Variants" in md and f"**Recommended: {r.advice.recommended}**" in md


def test_a_variant_losing_too_much_accuracy_is_rejected():
    from neural_engine.export.variants import VariantResult

    v = VariantResult("int8-static", "m.onnx", 10, accuracy=0.9, accuracy_delta=-0.03)
    assert v.check(0.01) == ["accuracy must drop by at most 1 points vs fp32; it dropped 3"]


@pytest.mark.parametrize("method", ["unstructured", "structured"])
def test_pruning_reaches_the_sparsity_and_reports_the_accuracy_change(method, tmp_path):
    spec = ExportSpec(  # pt2: pruning is not about the format, and torch.export is the fastest exporter
        format="pt2", prune=0.5, prune_method=method, finetune_epochs=1, serving=False, latency_budget_s=0.002
    )
    r = run_export(digits_graph(), trained_state(), spec, tmp_path, dataset="digits")
    p = r.prune
    assert r.passed and p.layers == (4 if method == "unstructured" else 3)
    assert p.sparsity == pytest.approx(0.5, abs=0.02)
    assert None not in (p.accuracy_before, p.accuracy_pruned, p.accuracy_finetuned)
    assert p.accuracy_delta == pytest.approx(p.accuracy_finetuned - p.accuracy_before)
    assert p.accuracy_finetuned > 0.7
    assert "## Pruning" in (tmp_path / "report.md").read_text()


def test_structured_pruning_zeroes_whole_channels_but_keeps_the_head():
    from neural_engine.export.prune import prune_state

    state, _report = prune_state(digits_graph(), trained_state(), 0.5, "structured")
    conv = state["layers.conv2d_1.0.weight"]  # (out, in, kh, kw)
    zero_rows = (conv.flatten(1).abs().sum(1) == 0).sum().item()
    assert zero_rows == conv.shape[0] // 2
    assert (state["layers.output_1.weight"] != 0).all()


def test_training_checkpoints_load_into_the_module_with_its_softmax():
    state = trained_state()
    model, random_weights = export_module(digits_graph(), state)
    logits = build(digits_graph(), logits=True)
    logits.load_state_dict(state)
    x = torch.rand(4, 1, 8, 8)
    assert not random_weights
    torch.testing.assert_close(model(x), torch.softmax(logits.eval()(x), 1))
    with pytest.raises(
        ExportError,
        match=r"checkpoint tensor layers.conv2d_1.0.weight must have shape "
        r"\(8, 1, 3, 3\); received \(32, 1, 3, 3\)",
    ):
        load_training_state(build(template("mnist_cnn", input_shape=(8, 8, 1), width=8)), state)
    with pytest.raises(ExportError, match="the checkpoint must hold this network's weights; missing"):
        load_training_state(build(template("lstm_classifier", **SMALL["lstm_classifier"])), state)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"format": "tflite"},
            "--format must be one of onnx, pt2, torchscript (torchscript: legacy); received",
        ),
        ({"onnx_exporter": "jit"}, "--onnx-exporter must be one of auto, dynamo, legacy; received 'jit'"),
        ({"opset": 13}, "--opset must be an integer from 17 to 20; received 13"),
        ({"format": "torchscript", "quantize": ("fp16",)}, "--quantize works on ONNX exports"),
        ({"quantize": ("int4",)}, "--quantize must be one or more of fp16, int8-dynamic, int8-static"),
        ({"prune": 1.5}, "--prune must be a sparsity between 0 and 1 (exclusive); received 1.5"),
        ({"prune": 0.5, "prune_method": "random"}, "--prune-method must be one of unstructured, structured"),
        ({"finetune_epochs": 1}, "--finetune-epochs fine-tunes after pruning"),
        ({"samples": 0}, "--samples must be a positive integer; received 0"),
    ],
)
def test_bad_requests_are_refused_naming_the_flag(kwargs, message):
    with pytest.raises(ExportError) as info:
        ExportSpec(**kwargs)
    assert message in str(info.value)
    with pytest.raises(ExportError, match="--min-agreement must be a share between 0 and 1; received 2"):
        Thresholds(min_agreement=2)


def test_a_dataset_that_does_not_fit_the_network_is_refused(tmp_path):
    with pytest.raises(
        ExportError, match=r"the network takes samples of shape \(1, 28, 28\); dataset digits"
    ):
        run_export(template("mnist_cnn"), None, FAST, tmp_path, dataset="digits")


def test_a_variant_that_crashes_onnxruntime_is_measured_at_a_lower_level(tmp_path, monkeypatch):
    from neural_engine.export import quantize

    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    crash_at_all = (
        "import os, signal, sys\nif sys.argv[2] == 'ORT_ENABLE_ALL': os.kill(os.getpid(), signal.SIGSEGV)"
    )
    monkeypatch.setattr(quantize, "_LOAD", crash_at_all)
    level, note = quantize.loadable_level(model)
    assert level == "extended" and "crashed loading m.onnx at optimisation level 'all' (signal 11)" in note
    monkeypatch.setattr(quantize, "_LOAD", "raise SystemExit('refused: not a model')")
    with pytest.raises(
        ExportError, match="onnxruntime must load m.onnx; it refused it: refused: not a model"
    ):
        quantize.loadable_level(model)


def test_fp16_of_a_transformer_is_kept_although_full_optimisation_crashes_onnxruntime(tmp_path):
    graph = template("transformer_classifier", **SMALL["transformer_classifier"])
    r = run_export(
        graph,
        None,
        ExportSpec(quantize=("fp16",), serving=False, samples=16, latency_budget_s=0.002),
        tmp_path,
    )
    fp16 = r.variants[1]
    assert r.passed and fp16.agreement_with_fp32 == 1.0 and fp16.max_abs_diff_vs_fp32 < 1e-2
    assert fp16.ort_level in ("all", "extended")  # 'extended' where onnxruntime 1.32 crashes at 'all'
