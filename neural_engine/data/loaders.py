"""PyTorch DataLoaders for training: train/val/test, images as float NCHW tensors.

| kind | inputs | targets |
|---|---|---|
| image | float32 (B, C, H, W) in [0, 1] (or normalised by the pipeline) | int64 (B,) / masks int64 (B, H, W) |
| tabular | float32 (B, F) | int64 (B,) / float32 (B,) |
| sequence | int64 tokens (B, T) | int64 (B,) |

The augmentation pipeline's random operations run on the training split only; validation and
test get its deterministic ones (Resize, Grayscale, Normalize). Training batches are shuffled
by a generator seeded with ``seed``.

>>> loaders = make_loaders("digits", batch_size=32)
>>> x, y = next(iter(loaders["train"]))
>>> tuple(x.shape), x.dtype, y.dtype
((32, 1, 8, 8), torch.float32, torch.int64)
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from neural_engine.data.augment import Pipeline
from neural_engine.data.dataset import Dataset
from neural_engine.data.splits import PARTS, SplitSpec, split_indices
from neural_engine.errors import DatasetError


class ArrayDataset(torch.utils.data.Dataset):
    """One part of a ``Dataset`` as torch samples; ``transform`` is a compiled pipeline or None."""

    def __init__(self, ds: Dataset, indices: np.ndarray, transform=None):
        self.kind, self.task, self.transform = ds.kind, ds.task, transform
        x = torch.from_numpy(np.ascontiguousarray(ds.x[indices]))
        if ds.kind == "image":
            x = x.permute(0, 3, 1, 2).contiguous()  # (N, C, H, W) uint8
            if transform is None:
                x = x.float().div_(255)  # converted once: no per-sample work without a pipeline
        self.x = x
        y = torch.from_numpy(np.ascontiguousarray(ds.y[indices]))
        self.y = y.float() if ds.task == "regression" else y.long()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        x, y = self.x[i], self.y[i]
        if self.transform is None:
            return x, y
        from torchvision import tv_tensors

        if self.task == "segmentation":
            x, y = self.transform(tv_tensors.Image(x), tv_tensors.Mask(y))
            return x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor)
        return self.transform(tv_tensors.Image(x)).as_subclass(torch.Tensor), y


def resolve_split(ds: Dataset, split) -> dict[str, np.ndarray]:
    """Index arrays for train/val/test: given, the version's stored split, or the default 70/15/15."""
    if isinstance(split, dict):
        missing = [p for p in PARTS if p not in split]
        if missing:
            raise DatasetError(
                f"a split given as indices needs the keys {', '.join(PARTS)}; missing {', '.join(missing)}"
            )
        return {p: np.asarray(split[p], dtype=np.int64) for p in PARTS}
    if split is None and "split_indices" in ds.extra:
        return ds.extra["split_indices"]
    if split is None:
        split = SplitSpec(stratify=ds.task == "classification")
    if not isinstance(split, SplitSpec):
        raise DatasetError(
            f"split must be a SplitSpec, a dict of index arrays or None; received {type(split).__name__}"
        )
    return split_indices(ds.y, split, ds.official_test)


def resolve_pipeline(ds: Dataset, pipeline) -> Pipeline | None:
    if pipeline is None:
        pipeline = ds.pipeline
    if pipeline is None:
        return None
    if isinstance(pipeline, str) or hasattr(pipeline, "read_text"):
        pipeline = Pipeline.load(pipeline)
    pipeline = Pipeline.from_json(pipeline)
    if ds.kind != "image" and pipeline.ops:
        raise DatasetError(f"augmentation pipelines apply to image datasets; {ds.name} is {ds.kind}")
    return pipeline if pipeline.ops else None


def make_loaders(
    dataset: Dataset | str,
    split=None,
    batch_size: int = 64,
    pipeline=None,
    num_workers: int = 0,
    *,
    seed: int = 0,
    storage=None,
    pin_memory: bool = False,
) -> dict[str, DataLoader]:
    """``{"train", "val", "test"}`` DataLoaders.

    ``dataset``: a ``Dataset`` or a name (``digits``, ``pets@v2``; registered ones from ``storage``).
    ``split``: a ``SplitSpec``, a dict of index arrays, or None (the version's split, else 70/15/15,
    stratified for classification). ``pipeline``: a ``Pipeline``, its JSON list, a JSON file path,
    or None (the version's pipeline, if any); ``[]`` turns a stored pipeline off. With
    ``num_workers``, the workers persist across epochs and prefetch 4 batches each; ``pin_memory``
    (for a GPU) lets the copies to the device overlap compute.
    """
    if isinstance(dataset, str):
        from neural_engine.data.registry import load

        dataset = load(dataset, storage=storage)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DatasetError(f"batch_size must be a positive integer; received {batch_size!r}")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise DatasetError(f"num_workers must be a non-negative integer; received {num_workers!r}")
    parts = resolve_split(dataset, split)
    pipe = resolve_pipeline(dataset, pipeline)
    transforms = {p: None if pipe is None else pipe.compile(train=p == "train") for p in PARTS}
    if pipe is not None:
        check_same_shape(dataset, transforms)
    out = {}
    for p in PARTS:
        generator = torch.Generator().manual_seed(seed)
        out[p] = DataLoader(
            ArrayDataset(dataset, parts[p], transforms[p]),
            batch_size=batch_size,
            shuffle=p == "train",
            generator=generator,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            prefetch_factor=4 if num_workers else None,
            pin_memory=pin_memory,
        )
    return out


def check_same_shape(ds: Dataset, transforms) -> None:
    """Training and evaluation images must come out the same size, or the model sees two shapes."""
    sample = torch.from_numpy(ds.x[0]).permute(2, 0, 1)
    shapes = {p: tuple(t(sample).shape) for p, t in transforms.items() if p in ("train", "test")}
    if shapes["train"] != shapes["test"]:
        raise DatasetError(
            f"the pipeline must give training and evaluation images one shape; training gets "
            f"{shapes['train']}, evaluation {shapes['test']} (C, H, W)",
            hint="add a Resize to the pipeline so both come out at the training size",
        )
