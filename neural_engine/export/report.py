"""The export report as Markdown: validation, latency, variants and advice, pruning, notes.

>>> size(1536), pct(0.98125), pct(None)
('1.5 KiB', '98.1%', '–')
"""

from __future__ import annotations


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _num(x: float | None, fmt: str = ".3g") -> str:
    return "–" if x is None else format(x, fmt)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]


def _validation(r) -> list[str]:
    c, t = r.comparison, r.thresholds
    runtime = next(k for k in r.latency_ms if k != "torch")
    agreement = (
        "–" if c.agreement is None else f"{pct(c.agreement)} ({c.disagreements} disagree, {c.ties} ties)"
    )
    rows = [
        [
            "max abs diff",
            _num(c.max_abs_diff),
            f"<= {t.max_abs_diff:g}",
            _ok(c.max_abs_diff <= t.max_abs_diff),
        ],
        ["max rel diff", _num(c.max_rel_diff), "–", ""],
        [
            "top-1 agreement",
            agreement,
            f">= {pct(t.min_agreement)}",
            ""
            if c.agreement is None
            else _ok(not c.disagreements or 1 - c.disagreements / c.samples >= t.min_agreement),
        ],
        ["output shapes", "match" if c.shape_match else "differ", "equal", _ok(c.shape_match)],
        [
            f"accuracy (torch / {runtime})",
            f"{pct(r.accuracy.get('torch'))} / {pct(r.accuracy.get(runtime))}",
            "–",
            "",
        ],
    ]
    lines = ["## Validation against PyTorch", "", *_table(["check", "measured", "threshold", "ok"], rows)]
    lat = r.latency_ms
    ratio = [f"{lat[runtime][b] / lat['torch'][b]:.2f}" for b in (1, 32)]
    lines += [
        "## Latency (median ms)",
        "",
        *_table(
            ["runtime", "batch 1", "batch 32"],
            [[k, *(f"{v[b]:.3f}" for b in (1, 32))] for k, v in lat.items()]
            + [[f"{runtime} / torch", *ratio]],
        ),
    ]
    return lines


def _ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _variants(result) -> list[str]:
    rows = []
    for v in result.variants:
        delta = "–" if v.accuracy_delta is None else f"{v.accuracy_delta * 100:+.2f} pts"
        rows.append(
            [
                v.name,
                size(v.size_bytes),
                pct(v.accuracy),
                delta,
                pct(v.agreement_with_fp32),
                _num(v.max_abs_diff_vs_fp32),
                *(f"{v.latency_ms.get(b, 0):.3f}" for b in (1, 32)),
                _num(v.speedup_vs_fp32.get(1), ".2f") + ("x" if v.speedup_vs_fp32 else ""),
                "ok" if v.passed else "**rejected**",
            ]
        )
    lines = [
        "## Variants",
        "",
        *_table(
            [
                "variant",
                "size",
                "accuracy",
                "Δ accuracy",
                "agrees with fp32",
                "max abs diff vs fp32",
                "batch 1 ms",
                "batch 32 ms",
                "speed-up (b1)",
                "status",
            ],
            rows,
        ),
    ]
    if result.advice:
        lines += [
            f"**Recommended: {result.advice.recommended}** — {result.advice.reason}",
            "",
            *(f"- {f}" for f in result.advice.flags),
            "",
        ]
    return lines


def _prune(p) -> list[str]:
    row = [
        p.method,
        pct(p.target_sparsity),
        pct(p.sparsity),
        str(p.layers),
        pct(p.accuracy_before),
        pct(p.accuracy_pruned),
        pct(p.accuracy_finetuned) if p.finetune_epochs else "–",
        "–" if p.accuracy_delta is None else f"{p.accuracy_delta * 100:+.2f} pts",
    ]
    return [
        "## Pruning",
        "",
        *_table(
            [
                "method",
                "target",
                "reached",
                "layers",
                "accuracy before",
                "pruned",
                f"fine-tuned ({p.finetune_epochs} epochs)",
                "Δ accuracy",
            ],
            [row],
        ),
    ]


def markdown(result) -> str:
    r = result.report
    status = "valid" if result.passed else "**FAILED**"
    lines = [
        f"# Export report: {result.name}",
        "",
        (
            f"Format {r.format}, file `{r.file}` ({size(r.size_bytes)}); "
            f"{r.samples} samples from {r.sample_source}; "
            f"status {status}."
        ),
        "",
        *([f"exporter: {r.exporter}", ""] if r.exporter else []),
    ]
    lines += [*(f"- failed: {f}" for f in r.failures), ""] if r.failures else []
    lines += _validation(r)
    if result.variants:
        lines += _variants(result)
    if result.prune:
        lines += _prune(result.prune)
    notes = (
        list(r.notes)
        + [n for v in result.variants for n in v.notes]
        + (result.prune.notes if result.prune else [])
    )
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in dict.fromkeys(notes)), ""]
    return "\n".join(lines)
