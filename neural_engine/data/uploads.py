"""Uploaded files → a checked ``Dataset``: a ZIP of class folders, a CSV table, or NPZ arrays.

Nothing here writes anywhere: a file is read and checked completely (size limit first), and
only a dataset that passes every rule goes on to be registered.

>>> import numpy as np, tempfile, pathlib
>>> tmp = tempfile.TemporaryDirectory()
>>> p = pathlib.Path(tmp.name) / "toy.npz"
>>> np.savez(p, x=np.zeros((4, 3), np.float32), y=np.array([0, 1, 0, 1]))
>>> ds = read_upload(p, "toy")
>>> ds.kind, ds.task, ds.classes
('tabular', 'classification', ('0', '1'))
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from neural_engine.data.dataset import Dataset
from neural_engine.data.zipimages import UploadLimits, human, read_zip
from neural_engine.errors import DatasetError
from neural_engine.progress import SILENT, Progress
from neural_engine.settings import Settings
from neural_engine.settings import settings as current_settings

FORMATS = (".zip", ".csv", ".npz")


def read_upload(
    path,
    name: str,
    *,
    label_column: str = "label",
    on_corrupt: str = "reject",
    image_size: tuple[int, int] | None = None,
    task: str | None = None,
    limits: UploadLimits | None = None,
    settings: Settings | None = None,
    progress: Progress = SILENT,
) -> Dataset:
    """Read and check an upload. ``on_corrupt``: "reject" (default) or "skip" corrupt images.

    ``task`` overrides the guess for CSV/NPZ labels (integers and text: classification, floats:
    regression). ``image_size`` (height, width) for ZIPs; default: the most common size.
    ``progress``: a bar over a ZIP's images, a line for a table.
    """
    path = Path(path)
    limits = limits or UploadLimits.from_settings(settings or current_settings())
    if on_corrupt not in ("reject", "skip"):
        raise DatasetError(f'on_corrupt must be "reject" or "skip"; received {on_corrupt!r}')
    if task not in (None, "classification", "regression"):
        raise DatasetError(f'task must be "classification" or "regression"; received {task!r}')
    if not path.is_file():
        raise DatasetError(f"the upload must be an existing file; received {path}")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DatasetError(
            f"an upload must be one of {', '.join(FORMATS)}; received {path.name}",
            hint="a ZIP of class-named image folders, a CSV with a label column, or NPZ with x and y",
        )
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise DatasetError(
            f"an upload must be at most {human(limits.max_bytes)}; {path.name} is {human(size)}",
            hint="raise NEURALFORGE_MAX_UPLOAD_MB",
        )
    if suffix == ".zip":
        return read_zip(path, name, limits, on_corrupt, image_size, progress)
    progress.line(f"reading {path.name} ({human(size)})")
    if suffix == ".csv":
        return read_csv(path, name, label_column, task)
    return read_npz(path, name, task)


def read_csv(path: Path, name: str, label_column: str = "label", task: str | None = None) -> Dataset:
    """Features (every column but the label; numeric, no missing values) and the label column."""
    import polars as pl

    try:
        df = pl.read_csv(path, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError, ValueError) as e:  # NoDataError, ComputeError, ...
        raise DatasetError(
            f"{path.name} must be a CSV table with a header row; reading failed "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    if label_column not in df.columns:
        raise DatasetError(
            f'{path.name} must have the label column "{label_column}"; its columns are '
            f"{', '.join(df.columns) or 'none'}",
            hint="name the label column with label_column= (CLI --label-column)",
        )
    if df.height == 0:
        raise DatasetError(f"{path.name} must hold at least one row; it has only a header")
    features = [c for c in df.columns if c != label_column]
    if not features:
        raise DatasetError(f"{path.name} must have feature columns besides {label_column!r}; it has none")
    bad = [c for c in features if not df.schema[c].is_numeric()]
    if bad:
        raise DatasetError(
            f"feature columns must be numeric; in {path.name} these are not: {', '.join(bad)}",
            hint="encode them as numbers or drop them before uploading",
        )
    nulls = [c for c in df.columns if df[c].null_count()]
    if nulls:
        raise DatasetError(
            f"a CSV upload must have no missing values; {path.name} has some in {', '.join(nulls)}"
        )
    x = df.select(features).to_numpy().astype(np.float32)
    labels = df[label_column]
    task = task or ("regression" if labels.dtype.is_float() else "classification")
    y, classes = _labels(labels.to_numpy(), task, path.name)
    return Dataset(
        name,
        task,
        "tabular",
        x,
        y,
        classes=classes,
        source=f"upload {path.name}",
        extra={"features": features, "label_column": label_column, "format": "csv"},
    )


def _labels(values: np.ndarray, task: str, where: str):
    if task == "regression":
        try:
            return values.astype(np.float32), ()
        except (TypeError, ValueError):
            raise DatasetError(
                f"regression labels must be numbers; {where} has {values.dtype} labels"
            ) from None
    uniques, y = np.unique(values, return_inverse=True)
    return y.astype(np.int64).reshape(-1), tuple(str(u) for u in uniques)


def read_npz(path: Path, name: str, task: str | None = None) -> Dataset:
    """``x`` and ``y`` arrays (optionally ``classes``). Images: (N, H, W), (N, H, W, C) or (N, C, H, W)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(
            f"{path.name} must be an NPZ archive of plain arrays (no pickled objects); reading failed ({e})"
        ) from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DatasetError(
            f"an NPZ upload must hold arrays named x and y; {path.name} holds "
            f"{', '.join(arrays) or 'nothing'}",
            hint="np.savez(path, x=features, y=labels)",
        )
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise DatasetError(
            f"x and y must have the same number of samples; {path.name} has x of shape "
            f"{x.shape} and y of shape {y.shape}"
        )
    if len(x) == 0:
        raise DatasetError(f"an NPZ upload must hold at least one sample; {path.name} holds none")
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number)):
        raise DatasetError(f"x and y must be numeric arrays; {path.name} has {x.dtype} and {y.dtype}")
    if not np.isfinite(x).all():
        raise DatasetError(f"x must hold finite numbers; {path.name} has NaN or infinity")
    kind = "tabular" if x.ndim == 2 else "image"
    x = x.astype(np.float32) if kind == "tabular" else _images(x, path.name)
    if y.ndim == 3 and kind == "image" and y.shape == x.shape[:3]:
        task, values = "segmentation", np.unique(y)
        classes = tuple(str(v) for v in range(int(values.max()) + 1))
        y = y.astype(np.int64)
    elif y.ndim == 1:
        task = task or ("regression" if np.issubdtype(y.dtype, np.floating) else "classification")
        y, classes = _labels(y, task, path.name)
    else:
        raise DatasetError(
            f"y must be one label per sample (N,) or a mask per image (N, H, W); {path.name} "
            f"has y of shape {y.shape} for x of shape {x.shape}"
        )
    if "classes" in arrays and task != "regression":
        names = [str(c) for c in arrays["classes"].reshape(-1)]
        if len(names) != len(classes):
            raise DatasetError(
                f"classes must name each of the {len(classes)} labels; {path.name} names {len(names)}"
            )
        classes = tuple(names)
    return Dataset(
        name, task, kind, x, y, classes=classes, source=f"upload {path.name}", extra={"format": "npz"}
    )


def _images(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 (N, H, W, C) from gray (N, H, W), NHWC or NCHW; floats must lie in [0, 1]."""
    if x.ndim == 3:
        x = x[..., None]
    elif x.ndim == 4 and x.shape[-1] not in (1, 3, 4) and x.shape[1] in (1, 3, 4):
        x = x.transpose(0, 2, 3, 1)
    elif x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DatasetError(
            f"image arrays must be (N, H, W), (N, H, W, C) or (N, C, H, W) with 1, 3 or 4 "
            f"channels; {where} has x of shape {x.shape}"
        )
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if np.issubdtype(x.dtype, np.floating) and x.min() >= 0 and x.max() <= 1:
        return np.round(x * 255).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer) and x.min() >= 0 and x.max() <= 255:
        return x.astype(np.uint8)
    raise DatasetError(
        f"image values must be uint8 (0-255) or floats in [0, 1]; {where} has {x.dtype} "
        f"values in [{x.min()}, {x.max()}]"
    )
