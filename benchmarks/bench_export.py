"""Export benchmarks (issue #7), each printed as a ratio against a baseline measured in the same run.

1. ResNet-18 (224×224, random weights): ONNX export + ``onnx.checker`` + validation on 100 samples
   (torch and onnxruntime, max abs diff, top-1 agreement). Targets: <= 3 s; fp32 max abs diff
   <= 1e-5; onnxruntime batch-1 latency / torch eager <= 1.0.
2. The digits model (MNIST-CNN on 8×8 digits, trained here for a few epochs): fp32, FP16, INT8
   dynamic and INT8 static (QDQ) — accuracy on the test split, size, latency — and the advisor.

    python -m benchmarks.bench_export [--threads 1] [--skip-resnet] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def resnet18(directory: Path) -> dict:
    from neural_engine.export import runners, validate
    from neural_engine.export.formats import export_onnx
    from neural_engine.export.samples import validation_samples
    from neural_engine.export.weights import export_module
    from neural_engine.shapes import propagate
    from neural_engine.templates import template

    analysis = propagate(template("resnet18"))
    model, _ = export_module(analysis.graph)
    samples = validation_samples(analysis, None, n=100)
    start = time.perf_counter()
    exported = export_onnx(model, analysis, directory / "resnet18.onnx")
    export_s = time.perf_counter() - start
    torch_runner, ort_runner = runners.TorchRunner(model), runners.OrtRunner(exported.path)
    reference = runners.run_batched(torch_runner, samples)
    torch_s = time.perf_counter() - start - export_s
    outputs = runners.run_batched(ort_runner, samples)
    total_s = time.perf_counter() - start
    c = validate.compare(reference, outputs)
    one = samples.repeat_to(1)
    torch_ms = runners.latency_ms(torch_runner, one, budget_s=2.0)
    ort_ms = runners.latency_ms(ort_runner, one, budget_s=2.0)
    return {
        "export_and_check_s": export_s,
        "validate_torch_s": torch_s,
        "validate_ort_s": total_s - export_s - torch_s,
        "total_s": total_s,
        "max_abs_diff": c.max_abs_diff,
        "agreement": c.agreement,
        "torch_b1_ms": torch_ms,
        "ort_b1_ms": ort_ms,
        "ratio_b1": ort_ms / torch_ms,
        "size_mb": exported.size_bytes / 2**20,
    }


def digits(directory: Path) -> dict:
    from neural_engine.export.pipeline import ExportSpec, run_export
    from neural_engine.export.validate import Thresholds
    from tests.digits_model import digits_graph, trained_state

    start = time.perf_counter()
    state = trained_state(seed=0, epochs=15)
    train_s = time.perf_counter() - start
    spec = ExportSpec(
        quantize=("fp16", "int8-dynamic", "int8-static"),
        serving=False,
        samples=1000,
        latency_budget_s=1.0,
        thresholds=Thresholds(max_accuracy_drop=0.02),
    )
    r = run_export(digits_graph(), state, spec, directory / "digits", dataset="digits")
    return {
        "train_s": train_s,
        "samples": r.report.samples,
        "advice": r.advice.to_json(),
        "variants": [v.to_json() for v in r.variants],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default: 1)")
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {}
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_resnet:
            out["resnet18"] = resnet18(Path(d))
        out["digits"] = digits(Path(d))
    if args.json:
        print(json.dumps(out, indent=1, default=str))
        return 0
    if "resnet18" in out:
        r = out["resnet18"]
        print(f"ResNet-18 @224, random weights, {args.threads} thread(s):")
        print(
            f"  export + checker {r['export_and_check_s']:.2f} s; 100-sample validation: "
            f"torch {r['validate_torch_s']:.2f} s, "
            f"onnxruntime {r['validate_ort_s']:.2f} s; total {r['total_s']:.2f} s (target <= 3 s)"
        )
        print(
            f"  fp32 max abs diff {r['max_abs_diff']:.2e} (target <= 1e-5), "
            f"top-1 agreement {r['agreement']:.0%}, "
            f"{r['size_mb']:.1f} MiB"
        )
        print(
            f"  batch-1 latency: torch eager {r['torch_b1_ms']:.1f} ms, onnxruntime {r['ort_b1_ms']:.1f} ms, "
            f"ratio {r['ratio_b1']:.2f} (target <= 1.0)"
        )
    d = out["digits"]
    print(f"digits model (MNIST-CNN 8x8, trained {d['train_s']:.0f} s), {d['samples']} test samples:")
    print("  variant        size KiB  accuracy  delta pts  b1 ms   b32 ms  b1 vs fp32")
    for v in d["variants"]:
        delta = v["accuracy_delta"] or 0.0
        print(
            f"  {v['name']:13} {v['size_bytes'] / 1024:9.1f}  {v['accuracy']:8.2%}  {delta * 100:+9.2f}  "
            f"{v['latency_ms'][1]:6.3f}  {v['latency_ms'][32]:7.3f}  {v['speedup_vs_fp32'].get(1, 1.0):.2f}x"
        )
    print(f"  advisor: {d['advice']['recommended']} — {d['advice']['reason']}")
    for flag in d["advice"]["flags"]:
        print(f"  flag: {flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
