"""The figures of evaluation and comparison, as PNG bytes (matplotlib, Agg; imported when drawn)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(width, height), dpi=100)


def png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def confusion_png(cm: np.ndarray, classes) -> bytes:
    n = len(classes)
    plt, fig = figure(max(4.0, 0.5 * n + 2), max(3.5, 0.5 * n + 1.5))
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set(
        xticks=range(n),
        yticks=range(n),
        xticklabels=classes,
        yticklabels=classes,
        xlabel="predicted",
        ylabel="true",
        title="Confusion matrix",
    )
    if n <= 20:
        import numpy as np

        for (i, j), v in np.ndenumerate(cm):
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v > cm.max() / 2 else "black",
            )
    return png(plt, fig)


def examples_png(examples, classes) -> bytes:
    cols = min(5, len(examples))
    rows = (len(examples) + cols - 1) // cols
    plt, fig = figure(2 * cols, 2.2 * rows)
    for k, (image, true, pred) in enumerate(examples):
        ax = fig.add_subplot(rows, cols, k + 1)
        img = image.float().numpy().transpose(1, 2, 0)  # (H, W, C)
        img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray")
        ax.set_title(f"true {classes[true]}\npred {classes[pred]}", fontsize=8)
        ax.axis("off")
    return png(plt, fig)


def smooth(values: list[float], alpha: float) -> list[float]:
    """Exponential moving average (TensorBoard's): ``alpha`` 0 keeps the curve, near 1 flattens it."""
    out, last = [], None
    for v in values:
        last = v if last is None else alpha * last + (1 - alpha) * v
        out.append(last)
    return out


def curves_png(histories: dict, curves, smoothing: float, names: dict) -> bytes:
    shown = [m for m in curves if any(h[m] for h in histories.values())]
    plt, fig = figure(5 * max(len(shown), 1), 3.5)
    for k, metric in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), k + 1)
        for run_id, h in histories.items():
            points = sorted(h[metric], key=lambda m: m.step)
            if points:
                ax.plot(
                    [p.step for p in points],
                    smooth([p.value for p in points], smoothing),
                    label=f"{names.get(run_id) or run_id[:8]}",
                )
        ax.set(title=metric + (f" (smoothing {smoothing:g})" if smoothing else ""), xlabel="epoch")
        ax.legend(fontsize=7)
    return png(plt, fig)
