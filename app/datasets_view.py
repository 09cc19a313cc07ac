"""What the Datasets page shows, as small functions of engine results (no Streamlit here).

Tables are polars frames; images are uint8 arrays ready for ``st.image``; the upload handler
takes bytes, so the page and its tests call it the same way.

>>> suggest_name("My Pets (2024).zip")
'my-pets-2024'
>>> move([{"type": "A"}, {"type": "B"}], 1, -1)
[{'type': 'B'}, {'type': 'A'}]
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from neural_engine.data.catalog import is_builtin
from neural_engine.data.splits import PARTS

SPLIT_COLUMNS = ("class", *PARTS, "total")


def suggest_name(filename: str) -> str:
    """A dataset name from an upload's file name (lowercase, ``-`` for anything else; never a built-in)."""
    stem = re.sub(r"[^a-z0-9_.]+", "-", Path(filename).stem.lower()).strip("-._")[:56] or "upload"
    return f"{stem}-upload" if is_builtin(stem) else stem


def catalog_table(builtins: list[dict], registered: dict[str, list[dict]]) -> pl.DataFrame:
    """One row per built-in and per registered dataset (its latest version)."""
    rows = [
        {
            "name": r["name"],
            "version": "built-in",
            "task": r["task"],
            "input shape": r["input shape"],
            "classes": r["classes"],
            "samples": r["samples"],
            "source": r["source"],
        }
        for r in builtins
    ]
    for name, versions in registered.items():
        v = versions[-1]
        rows.append(
            {
                "name": name,
                "version": f"v{v['number']} · {v['version']} ({len(versions)} in all)",
                "task": v["task"],
                "input shape": str(tuple(v["input_shape"])),
                "classes": len(v["classes"]),
                "samples": v["stats"]["samples"],
                "source": v["source"],
            }
        )
    return pl.DataFrame(rows)


def version_label(v: dict) -> str:
    """``v2 · 1a2b3c4d5e6f · split 70/15/15 · 2 augmentation steps``."""
    parts = [f"v{v['number']}", v["version"]]
    if v.get("split"):
        parts.append("split " + "/".join(f"{r * 100:g}" for r in v["split"]["ratios"]))
    if v.get("pipeline"):
        parts.append(f"{len(v['pipeline'])} augmentation step" + ("s" if len(v["pipeline"]) != 1 else ""))
    return " · ".join(parts)


def distribution(stats: dict) -> pl.DataFrame | None:
    """(class, samples) from the engine's stats; pixels per class for segmentation; None for regression."""
    dist, unit = stats.get("class_distribution"), "samples"
    if dist is None and stats.get("pixel_distribution"):
        dist, unit = stats["pixel_distribution"], "pixels"
    if not dist:
        return None
    return pl.DataFrame({"class": list(dist), unit: list(dist.values())})


def channel_table(stats: dict) -> pl.DataFrame | None:
    """Per-channel (images, on the [0, 1] scale) or per-feature (tabular) mean and std."""
    for prefix in ("channel", "feature"):
        if f"{prefix}_mean" in stats:
            mean, std = stats[f"{prefix}_mean"], stats[f"{prefix}_std"]
            names = stats.get("features") if prefix == "feature" else None
            return pl.DataFrame(
                {prefix: names or [str(i) for i in range(len(mean))], "mean": mean, "std": std}
            )
    return None


def gallery_indices(y: np.ndarray, n: int, seed: int = 0) -> list[int]:
    """``n`` sample indices, round-robin over classes (every class shows when ``n`` allows), by seed."""
    rng = np.random.default_rng(seed)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return sorted(rng.choice(len(y), size=min(n, len(y)), replace=False).tolist())
    pools = [rng.permutation(np.flatnonzero(y == c)).tolist() for c in np.unique(y)]
    out: list[int] = []
    while len(out) < min(n, len(y)):
        for pool in pools:
            if pool and len(out) < n:
                out.append(pool.pop())
    return out


def enlarge(image: np.ndarray, target: int = 64) -> np.ndarray:
    """A uint8 (H, W, C) image upscaled by an integer factor (nearest) to about ``target`` pixels;
    gray images lose their channel axis (``st.image`` wants (H, W) for those)."""
    k = max(1, target // max(image.shape[0], image.shape[1]))
    big = image.repeat(k, axis=0).repeat(k, axis=1)
    return big[..., 0] if big.ndim == 3 and big.shape[-1] == 1 else big


def mask_image(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """A segmentation mask (H, W) of class ids as a gray uint8 image, classes spread over 0..255."""
    return (mask.astype(np.int64) * (255 // max(num_classes - 1, 1))).clip(0, 255).astype(np.uint8)


def sample_table(
    x: np.ndarray, y: np.ndarray, classes: tuple[str, ...], n: int = 20, features: list[str] | None = None
) -> pl.DataFrame:
    """The first ``n`` rows of tabular or sequence data, with the label (its class name where known)."""
    names = features or [f"x{i}" for i in range(x.shape[1])]
    frame = pl.DataFrame({name: x[:n, i] for i, name in enumerate(names)})
    labels = [classes[int(v)] for v in y[:n]] if classes else y[:n].tolist()
    return frame.with_columns(pl.Series("label", labels))


def split_table(y: np.ndarray, parts: dict[str, np.ndarray], classes: tuple[str, ...]) -> pl.DataFrame:
    """Per class: samples in train, val and test, and the class total (last row: all classes)."""
    counts = {p: np.bincount(y[parts[p]], minlength=len(classes)) for p in PARTS}
    rows = [{"class": c, **{p: int(counts[p][i]) for p in PARTS}} for i, c in enumerate(classes)]
    rows.append({"class": "all", **{p: len(parts[p]) for p in PARTS}})
    return pl.DataFrame(rows).with_columns(total=pl.sum_horizontal(*PARTS)).select(SPLIT_COLUMNS)


def step_params(defaults: dict, values: dict, required: set[str]) -> dict:
    """The parameters to store: required ones, and the others where they differ from the default."""
    return {k: v for k, v in values.items() if v is not None and (k in required or v != defaults.get(k))}


def op_label(op: dict) -> str:
    """``RandomRotation(degrees=30)``."""
    return f"{op['type']}(" + ", ".join(f"{k}={json.dumps(v)}" for k, v in op.get("params", {}).items()) + ")"


def move(ops: list, i: int, delta: int) -> list:
    """``ops`` with item ``i`` moved by ``delta`` places (clamped to the ends)."""
    j = min(max(i + delta, 0), len(ops) - 1)
    out = list(ops)
    out.insert(j, out.pop(i))
    return out


def remove(ops: list, i: int) -> list:
    return [op for k, op in enumerate(ops) if k != i]


def upload_filename(name: str) -> str:
    """The uploaded file's own name without any folder part (it is written into a fresh temp folder)."""
    base = Path(str(name).replace("\\", "/")).name
    return base if base not in ("", ".", "..") and not base.startswith(".") else f"upload{Path(base).suffix}"


def register_upload(
    data: bytes,
    filename: str,
    name: str,
    storage: str,
    *,
    progress: Callable[[float, str], None] = lambda f, text: None,
    **read_options,
):
    """Check an upload's bytes and store them as a version of ``name``: ``(version, new)``.

    The engine reads and checks the whole file before anything is stored, and registration is
    atomic, so a refused upload (a ``DatasetError``) leaves the store as it was. ``new`` is False
    when the same content was already registered (that version is returned).
    """
    from neural_engine.data import registry
    from neural_engine.data.storage import open_storage
    from neural_engine.data.uploads import read_upload

    registry.check_name(name)
    store = open_storage(storage)
    known = {v.version for v in registry.versions(name, store)}
    with tempfile.TemporaryDirectory(prefix="neuralforge-upload-") as tmp:
        path = Path(tmp) / upload_filename(filename)
        progress(0.1, f"Received {path.name} ({len(data):,} bytes)")
        path.write_bytes(data)
        progress(0.3, f"Reading and checking {path.name}")
        ds = read_upload(path, name, **read_options)
    progress(0.7, f"Storing {len(ds):,} samples as a version of {name}")
    version = registry.register_dataset(ds, name, storage=store)
    progress(1.0, f"Registered {version.ref}")
    return version, version.version not in known
