"""Recommend one variant from measurements, and say what to avoid.

The rule: among the variants that keep accuracy (see ``VariantResult.check``), the smallest file
that is not meaningfully slower than fp32 — its speed relative to fp32 (the geometric mean over
the measured batch sizes, 1 and 32) at least ``1 / slower_tolerance``; ties go to the faster one.
A convolutional network whose INT8 dynamic variant runs slower than fp32 is flagged (ConvInteger
on CPU); so is any rejected variant.

>>> from neural_engine.export.variants import VariantResult
>>> fp32 = VariantResult("fp32", "a", 400, latency_ms={1: 1.0, 32: 8.0})
>>> dyn = VariantResult("int8-dynamic", "b", 100, latency_ms={1: 4.0, 32: 40.0})
>>> qdq = VariantResult("int8-static", "c", 110, latency_ms={1: 1.2, 32: 7.0})
>>> a = advise([fp32, dyn, qdq], conv_net=True)
>>> a.recommended, a.flags[0][:53]
('int8-static', 'int8-dynamic runs 4.0x slower than fp32 at batch 1 on')
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Advice:
    recommended: str
    reason: str
    flags: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def advise(variants, conv_net: bool, slower_tolerance: float = 1.1, batch: int = 1) -> Advice:
    """``variants``: ``VariantResult`` s, fp32 first."""
    fp32 = variants[0]
    flags = []
    for v in variants[1:]:
        slowdown = fp32.latency_ms[batch] / v.latency_ms[batch] if v.latency_ms.get(batch) else None
        if v.name == "int8-dynamic" and conv_net and slowdown is not None and slowdown < 1:
            flags.append(
                f"int8-dynamic runs {1 / slowdown:.1f}x slower than fp32 at batch {batch} on this "
                f"convolutional network (ConvInteger on this CPU); prefer int8-static (QDQ)"
            )
        if not v.passed:
            flags.append(f"{v.name} rejected: {'; '.join(v.failures)}")
    fit = [v for v in variants if v.passed and speed(v, fp32) >= 1 / slower_tolerance]
    best = min(fit, key=lambda v: (v.size_bytes, -speed(v, fp32))) if fit else fp32
    if best is fp32:
        reason = "no variant is both smaller and as fast while keeping accuracy; keep fp32"
    else:
        delta = "" if best.accuracy_delta is None else f", accuracy {best.accuracy_delta * 100:+.2f} points"
        reason = (
            f"{best.size_bytes / fp32.size_bytes:.0%} of fp32's size at {speed(best, fp32):.2f}x its speed "
            f"(batch {' and '.join(map(str, sorted(best.latency_ms)))}){delta}"
        )
    return Advice(best.name, reason, flags)


def speed(variant, fp32) -> float:
    """fp32's latency over the variant's: the geometric mean over the batch sizes both measured."""
    ratios = [
        fp32.latency_ms[b] / variant.latency_ms[b]
        for b in variant.latency_ms
        if b in fp32.latency_ms and variant.latency_ms[b] > 0
    ]
    return math.prod(ratios) ** (1 / len(ratios)) if ratios else 0.0
