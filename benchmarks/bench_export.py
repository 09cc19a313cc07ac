"""Export benchmarks (issues #7, #17), each printed as a ratio against a baseline measured in the same run.

1. ResNet-18 (224×224, random weights): ONNX export + ``onnx.checker`` + validation on 100 samples
   (torch and onnxruntime, max abs diff, top-1 agreement). Targets: <= 3 s; fp32 max abs diff
   <= 1e-5; onnxruntime batch-1 latency / torch eager <= 1.0.
2. The digits model (MNIST-CNN on 8×8 digits, trained here for a few epochs): fp32, FP16, INT8
   dynamic and INT8 static (QDQ) — accuracy on the test split, size, latency — and the advisor.
3. ``--cifar`` (alone): ResNet-18 CIFAR (32×32×3, 10 classes, the ``resnet18_cifar`` template),
   briefly trained, on 1,000 test images read by torchvision's CIFAR10 reader. Without
   ``--cifar-root`` (no internet here) the images are synthetic, written in CIFAR-10's python
   format (``cifar-10-batches-py``) and labelled so in the output. ONNX by the dynamo exporter
   (its export time against the legacy exporter's, same run) and the ``.pt2`` program: max abs
   diff (target < 1e-5), class match (target 100%), file size, CPU latency at batch 1 and 32
   against PyTorch eager (the baseline).

    python -m benchmarks.bench_export [--threads 1] [--skip-resnet] [--json]
    python -m benchmarks.bench_export --cifar [--cifar-root DIR] [--train-steps 20]
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
    from neural_engine.export.onnx_export import export_onnx
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
        "exporter": exported.exporter,
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


def _pickle(path: Path, obj: dict) -> None:
    """As CIFAR-10's files were written (Python 2: str keys; torchvision unpickles with latin1)."""
    import pickle

    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_synthetic_cifar(root: Path, test: int = 1000, train: int = 2000, seed: int = 0) -> Path:
    """Synthetic images in CIFAR-10's python layout (``cifar-10-batches-py``: ``data_batch_1..5``,
    ``test_batch``, ``batches.meta``; rows of 3,072 uint8, channel-major), so torchvision's CIFAR10
    reader parses them as it parses CIFAR-10. Class k is a smooth colour field of its own plus noise:
    learnable in a few steps, so the trained network has real class margins."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0, np.pi, 32)
    fields = np.stack(
        [
            np.stack(
                [np.outer(np.sin(grid * (1 + (k + c) % 3)), np.cos(grid * (1 + k % 4))) for c in range(3)]
            )
            for k in range(10)
        ]
    )  # (10, 3, 32, 32) in [-1, 1]

    def batch(n: int, label: str) -> dict:
        labels = rng.integers(0, 10, n)
        x = 128 + 80 * fields[labels] + rng.normal(0, 30, (n, 3, 32, 32))
        data = np.clip(x, 0, 255).astype(np.uint8).reshape(n, 3072)
        return {"batch_label": label, "labels": labels.tolist(), "data": data, "filenames": []}

    for i in range(1, 6):
        _pickle(folder / f"data_batch_{i}", batch(train // 5, f"training batch {i} of 5 (synthetic)"))
    _pickle(folder / "test_batch", batch(test, "testing batch 1 of 1 (synthetic)"))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": test})
    return root


def _cifar_arrays(root: Path, train: bool, verify: bool):
    """(images (N, 3, 32, 32) float in [0, 1], labels) through torchvision's CIFAR10 reader."""
    import numpy as np
    import torchvision

    from neural_engine.data.readers import unverified

    cls = torchvision.datasets.CIFAR10 if verify else unverified(torchvision.datasets.CIFAR10)
    ds = cls(str(root), train=train, download=False)
    x = (
        torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))).float() / 255
    )  # (N, H, W, C) -> NCHW
    return x, torch.tensor(ds.targets)


def _train_briefly(graph, x, y, steps: int, batch: int = 100) -> dict:
    """SGD on the training images for ``steps`` batches; the training build's state dict."""
    import os

    from neural_engine.build import build

    torch.manual_seed(0)
    model = build(graph, logits=True).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)  # training is set-up, not measured: every core
    try:
        for step in range(steps):
            idx = torch.randint(0, len(x), (batch,), generator=torch.Generator().manual_seed(step))
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.state_dict()


def cifar(directory: Path, root: str | None, steps: int, n: int = 1000) -> dict:
    from neural_engine.export import runners, validate
    from neural_engine.export.formats import export_pt2
    from neural_engine.export.onnx_export import export_onnx
    from neural_engine.export.samples import Samples
    from neural_engine.export.weights import export_module
    from neural_engine.shapes import propagate
    from neural_engine.templates import template

    synthetic = root is None
    data_root = write_synthetic_cifar(directory / "data", test=n) if synthetic else Path(root)
    (x_train, y_train), (x_test, y_test) = (_cifar_arrays(data_root, t, not synthetic) for t in (True, False))
    samples = Samples((x_test[:n],), y_test[:n], "")
    analysis = propagate(template("resnet18_cifar"))
    start = time.perf_counter()
    state = _train_briefly(analysis.graph, x_train, y_train, steps)
    train_s = time.perf_counter() - start
    model, _ = export_module(analysis.graph, state)
    torch_runner = runners.TorchRunner(model)
    reference = runners.run_batched(torch_runner, samples)
    out = {
        "data": (
            f"{n} SYNTHETIC images written in CIFAR-10's python format, read by torchvision's CIFAR10 reader "
            "(not the CIFAR-10 test set: no internet here)"
            if synthetic
            else f"the first {n} images of the CIFAR-10 test set in {root}"
        ),
        "weights": f"trained {steps} SGD steps of 100 on {len(x_train)} {'synthetic ' if synthetic else ''}images",
        "train_s": train_s,
        "params": sum(p.numel() for p in model.parameters()),
        "torch_accuracy": validate.accuracy(reference, samples.labels),
    }
    start = time.perf_counter()
    export_onnx(model, analysis, directory / "legacy.onnx", exporter="legacy")
    out["legacy_export_s"] = time.perf_counter() - start
    exports = {}
    for name, export in (
        ("onnx", lambda: export_onnx(model, analysis, directory / "model.onnx")),
        ("pt2", lambda: export_pt2(model, analysis, directory / "model.pt2")),
    ):
        start = time.perf_counter()
        f = export()
        exports[name] = {
            "export_s": time.perf_counter() - start,
            "exporter": f.exporter,
            "size_bytes": f.size_bytes,
        }
        runner = runners.OrtRunner(f.path) if name == "onnx" else runners.Pt2Runner(f.path)
        c = validate.compare(reference, runners.run_batched(runner, samples))
        exports[name].update(max_abs_diff=c.max_abs_diff, class_match=c.agreement, runner=runner)
    out["latency_ms"] = {}
    for label, runner in [("torch eager", torch_runner), *((k, v.pop("runner")) for k, v in exports.items())]:
        out["latency_ms"][label] = {
            b: runners.latency_ms(runner, samples.repeat_to(b), budget_s=2.0, max_reps=200) for b in (1, 32)
        }
    out["exports"] = exports
    return out


def print_cifar(c: dict, threads: int) -> None:
    print(f"ResNet-18 CIFAR ({c['params']:,} parameters), {threads} CPU thread(s)")
    print(f"  data: {c['data']}")
    print(f"  weights: {c['weights']} ({c['train_s']:.0f} s); torch accuracy {c['torch_accuracy']:.1%}")
    legacy = c["legacy_export_s"]
    for name, e in c["exports"].items():
        ok = e["max_abs_diff"] < 1e-5 and e["class_match"] == 1.0
        print(
            f"  {name:4} exporter {e['exporter']}: export {e['export_s']:.2f} s"
            + (
                f" (legacy exporter {legacy:.2f} s, ratio {e['export_s'] / legacy:.1f}x)"
                if name == "onnx"
                else ""
            )
        )
        print(
            f"       max abs diff {e['max_abs_diff']:.2e} (target < 1e-5), class match {e['class_match']:.1%} "
            f"(target 100%), {e['size_bytes'] / 2**20:.1f} MiB — {'PASS' if ok else 'FAIL'}"
        )
    lat = c["latency_ms"]
    base = lat["torch eager"]
    print("  CPU latency, median ms (ratio against torch eager, the baseline, same run):")
    for label, v in lat.items():
        print(
            f"    {label:12} batch 1 {v[1]:8.2f} ({v[1] / base[1]:.2f})   batch 32 {v[32]:8.2f} ({v[32] / base[32]:.2f})"
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default: 1)")
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--cifar", action="store_true", help="only the ResNet-18 CIFAR benchmark (1,000 images)")
    ap.add_argument("--cifar-root", help="a folder holding the real cifar-10-batches-py (default: synthetic)")
    ap.add_argument("--train-steps", type=int, default=20, help="--cifar: SGD steps before export")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {}
    if args.cifar:
        with tempfile.TemporaryDirectory() as d:
            out["cifar"] = cifar(Path(d), args.cifar_root, args.train_steps)
        if args.json:
            print(json.dumps(out, indent=1, default=str))
        else:
            print_cifar(out["cifar"], args.threads)
        return 0
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_resnet:
            out["resnet18"] = resnet18(Path(d))
        out["digits"] = digits(Path(d))
    if args.json:
        print(json.dumps(out, indent=1, default=str))
        return 0
    if "resnet18" in out:
        r = out["resnet18"]
        print(f"ResNet-18 @224, random weights, {args.threads} thread(s), ONNX exporter {r['exporter']}:")
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
