"""Measure ONNX variants (fp32 and its quantized forms) side by side on the same samples.

Each result holds size, accuracy on labelled test data and its change vs fp32, agreement with
fp32's top-1 and the largest output difference, latency at batch 1 and 32 and the speed-up over
fp32. A variant passes when it loses at most ``max_accuracy_drop`` accuracy (without labels:
when at most that share of samples changes class vs fp32).

>>> r = VariantResult("int8-static", "m.onnx", 100, accuracy=0.97, accuracy_delta=-0.005)
>>> r.check(0.01), r.check(0.001)
([], ['accuracy must drop by at most 0.1 points vs fp32; it dropped 0.5'])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from neural_engine.export.runners import OrtRunner, latency_ms, run_batched
from neural_engine.export.validate import accuracy, compare

LATENCY_BATCHES = (1, 32)


@dataclass
class VariantResult:
    name: str
    file: str
    size_bytes: int
    accuracy: float | None = None
    accuracy_delta: float | None = None  # accuracy - fp32 accuracy (negative: lost)
    agreement_with_fp32: float | None = None  # share of samples with fp32's top-1 class
    max_abs_diff_vs_fp32: float | None = None
    latency_ms: dict[int, float] = field(default_factory=dict)
    speedup_vs_fp32: dict[int, float] = field(default_factory=dict)
    ort_level: str = "all"
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def check(self, max_accuracy_drop: float) -> list[str]:
        """Why this variant is rejected (empty: accepted)."""
        if self.accuracy_delta is not None:
            drop = -self.accuracy_delta
            what = "accuracy must drop by at most"
        elif self.agreement_with_fp32 is not None:
            drop = 1 - self.agreement_with_fp32
            what = "top-1 classes must change vs fp32 on at most"
        else:
            return []
        if drop > max_accuracy_drop + 1e-12:
            return [f"{what} {max_accuracy_drop * 100:g} points vs fp32; it dropped {drop * 100:.3g}"]
        return []

    def to_json(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def measure(
    name: str,
    path,
    samples,
    reference=None,
    *,
    level: str = "all",
    latency_batches=LATENCY_BATCHES,
    budget_s: float = 0.25,
) -> tuple[VariantResult, list]:
    """Run ``path`` on ``samples``; compare with ``reference`` (fp32's result and outputs) if given."""
    runner = OrtRunner(path, level)
    outputs = run_batched(runner, samples)
    result = VariantResult(
        name, path.name, path.stat().st_size, accuracy(outputs, samples.labels), ort_level=level
    )
    result.latency_ms = {
        b: latency_ms(runner, samples.repeat_to(b), budget_s=budget_s) for b in latency_batches
    }
    if reference is not None:
        base, base_outputs = reference
        c = compare(base_outputs, outputs, tie_tol=0)
        result.agreement_with_fp32, result.max_abs_diff_vs_fp32 = c.agreement, c.max_abs_diff
        if result.accuracy is not None and base.accuracy is not None:
            result.accuracy_delta = result.accuracy - base.accuracy
        result.speedup_vs_fp32 = {
            b: base.latency_ms[b] / result.latency_ms[b] for b in result.latency_ms if b in base.latency_ms
        }
    else:
        result.accuracy_delta = 0.0 if result.accuracy is not None else None
    return result, outputs
