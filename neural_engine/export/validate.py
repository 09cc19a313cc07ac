"""Numerical validation of an export against the PyTorch module it came from.

``compare`` measures two sets of outputs: max absolute and relative difference (elementwise,
``|a - b| / (|ref| + 1e-6)``), output shape match, and — for class outputs (class axis 1 with more
than one class) — top-1 agreement. A disagreement where the reference's top two classes are closer
than the absolute threshold is a numerical tie: counted apart (``ties``), never a failure.

>>> import numpy as np
>>> ref = [np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)]
>>> c = compare(ref, [ref[0] + 1e-6])
>>> c.shape_match, c.agreement, c.max_abs_diff < 2e-6
(True, 1.0, True)
>>> Thresholds(max_abs_diff=-1)
Traceback (most recent call last):
...
neural_engine.errors.ExportError: --max-abs-diff must be a non-negative number; received -1
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from neural_engine.errors import ExportError


@dataclass(frozen=True)
class Thresholds:
    """When an export counts as valid. Fields are the CLI's ``--max-abs-diff`` and so on."""

    max_abs_diff: float = 1e-4  # fp32 exports vs torch
    min_agreement: float = 1.0  # fp32 exports: share of samples whose top-1 class agrees
    max_accuracy_drop: float = 0.01  # quantized or pruned variants: accuracy lost vs fp32 (0.01 = 1 point)

    def __post_init__(self):
        for name in ("max_abs_diff", "max_accuracy_drop"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value >= 0:
                raise ExportError(
                    f"--{name.replace('_', '-')} must be a non-negative number; received {value!r}"
                )
        if not isinstance(self.min_agreement, int | float) or not 0 <= self.min_agreement <= 1:
            raise ExportError(
                f"--min-agreement must be a share between 0 and 1; received {self.min_agreement!r}"
            )


@dataclass(frozen=True)
class Comparison:
    max_abs_diff: float
    max_rel_diff: float
    shape_match: bool
    samples: int = 0
    agreement: float | None = None  # top-1 agreement (class outputs only)
    disagreements: int | None = None  # samples whose top-1 differs, ties excluded
    ties: int = 0  # top-1 differs, but the reference's top two are within tolerance


def _class_axis(out: np.ndarray) -> int | None:
    return 1 if out.ndim >= 2 and out.shape[1] > 1 else None


def compare(reference: list[np.ndarray], candidate: list[np.ndarray], tie_tol: float = 1e-4) -> Comparison:
    """Differences between two runs' outputs (every output; agreement on the first)."""
    shapes = [r.shape == c.shape for r, c in zip(reference, candidate)] + [len(reference) == len(candidate)]
    if not all(shapes):
        return Comparison(float("inf"), float("inf"), False, len(reference[0]))
    abs_diff = max(
        float(np.max(np.abs(r.astype(np.float64) - c), initial=0)) for r, c in zip(reference, candidate)
    )
    rel_diff = max(
        float(np.max(np.abs(r.astype(np.float64) - c) / (np.abs(r) + 1e-6), initial=0))
        for r, c in zip(reference, candidate)
    )
    ref, cand = reference[0], candidate[0]
    axis = _class_axis(ref)
    if axis is None:
        return Comparison(abs_diff, rel_diff, True, len(ref))
    top_ref, top_cand = ref.argmax(axis), cand.argmax(axis)
    differ = top_ref != top_cand
    ordered = np.sort(ref, axis=axis)
    margin = np.take(ordered, -1, axis=axis) - np.take(ordered, -2, axis=axis)
    ties = differ & (margin <= tie_tol)
    return Comparison(
        abs_diff,
        rel_diff,
        True,
        len(ref),
        float(1 - differ.mean()),
        int((differ & ~ties).sum()),
        int(ties.sum()),
    )


def accuracy(outputs: list[np.ndarray], labels) -> float | None:
    """Top-1 accuracy of the first output against ``labels`` (None without labels or classes)."""
    if labels is None or _class_axis(outputs[0]) is None:
        return None
    labels = np.asarray(labels)
    pred = outputs[0].argmax(1)
    return float((pred == labels).mean()) if pred.shape == labels.shape else None


@dataclass
class ValidationReport:
    """One exported file checked against torch (fp32) — see ``pipeline`` for variants."""

    format: str
    file: str
    size_bytes: int
    samples: int
    sample_source: str
    random_weights: bool
    comparison: Comparison
    accuracy: dict[str, float | None]
    latency_ms: dict[str, dict[int, float]]
    thresholds: Thresholds
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # how the file was written: "dynamo", "legacy (dynamo failed: <why>)", "torch.export", …
    exporter: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict:
        out = asdict(self)
        out["passed"] = self.passed
        return out


def check_fp32(comparison: Comparison, thresholds: Thresholds) -> list[str]:
    """The reasons an fp32 export fails, each saying what was expected and what was measured."""
    failures = []
    if not comparison.shape_match:
        failures.append("output shapes must match torch's; they differ")
        return failures
    if comparison.max_abs_diff > thresholds.max_abs_diff:
        failures.append(
            f"max abs diff must be <= {thresholds.max_abs_diff:g}; measured {comparison.max_abs_diff:.3g}"
        )
    if comparison.disagreements:
        agreed = 1 - comparison.disagreements / comparison.samples
        if agreed < thresholds.min_agreement:
            failures.append(
                f"top-1 classes must agree with torch on {thresholds.min_agreement:.1%} of samples; "
                f"{comparison.disagreements} of {comparison.samples} disagree"
            )
    return failures
