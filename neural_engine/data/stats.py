"""What registration records about a dataset: counts, class distribution, sizes, mean/std, warnings.

>>> import numpy as np
>>> from neural_engine.data.dataset import Dataset
>>> ds = Dataset("t", "classification", "image", np.full((4, 2, 2, 1), 255, np.uint8),
...              np.array([0, 0, 0, 1]), classes=("a", "b"))
>>> s = describe(ds)
>>> s["class_distribution"], s["channel_mean"], s["warnings"]
({'a': 3, 'b': 1}, [1.0], ['class imbalance: "a" has 3 samples, "b" only 1 (3.0x; warns from 3x)'])
"""

from __future__ import annotations

import numpy as np

from neural_engine.data.dataset import Dataset

IMBALANCE_RATIO = 3.0  # largest class / smallest class at or above which registration warns


def describe(ds: Dataset) -> dict:
    out = {
        "samples": len(ds),
        "task": ds.task,
        "kind": ds.kind,
        "input_shape": list(ds.input_shape),
        "num_classes": ds.num_classes,
        "warnings": [],
    }
    if ds.task == "classification":
        counts = np.bincount(ds.y, minlength=ds.num_classes)
        out["class_distribution"] = {c: int(n) for c, n in zip(ds.classes, counts)}
        out["warnings"] += imbalance(out["class_distribution"])
    elif ds.task == "segmentation":
        counts = np.bincount(ds.y.reshape(-1), minlength=ds.num_classes)
        out["pixel_distribution"] = {c: int(n) for c, n in zip(ds.classes, counts)}
    else:
        out["target_mean"], out["target_std"] = float(ds.y.mean()), float(ds.y.std())
    if ds.kind == "image":
        out["image_sizes"] = ds.extra.get("image_sizes") or {f"{ds.x.shape[1]}x{ds.x.shape[2]}": len(ds)}
        out["channel_mean"], out["channel_std"] = channel_stats(ds.x)
    elif ds.kind == "tabular":
        if ds.extra.get("features"):  # a CSV's column names (the stored arrays do not keep them)
            out["features"] = list(ds.extra["features"])
        out["feature_mean"] = [round(float(v), 6) for v in ds.x.mean(0, dtype=np.float64)]
        out["feature_std"] = [round(float(v), 6) for v in ds.x.std(0, dtype=np.float64)]
    out["corrupt_files"] = list(ds.extra.get("corrupt_files", []))
    if out["corrupt_files"]:
        out["warnings"].append(f"{len(out['corrupt_files'])} corrupt image(s) skipped")
    return out


def channel_stats(x: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, H, W, C) on the [0, 1] scale, in chunks."""
    c = x.shape[-1]
    total, sq, n = np.zeros(c), np.zeros(c), 0
    for i in range(0, len(x), chunk):
        part = x[i : i + chunk].reshape(-1, c).astype(np.float64) / 255
        total += part.sum(0)
        sq += (part**2).sum(0)
        n += len(part)
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean**2, 0))
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def imbalance(distribution: dict[str, int]) -> list[str]:
    if len(distribution) < 2:
        return []
    big, nb = max(distribution.items(), key=lambda kv: kv[1])
    small, ns = min(distribution.items(), key=lambda kv: kv[1])
    ratio = nb / max(ns, 1)
    if ratio < IMBALANCE_RATIO:
        return []
    text = f'class imbalance: "{big}" has {nb} samples, "{small}" only {ns} ({ratio:.1f}x; warns from '
    return [text + f"{IMBALANCE_RATIO:g}x)"]
