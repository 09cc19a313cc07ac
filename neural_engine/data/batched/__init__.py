"""Augmentation on a whole batch on its device, each image with its own random parameters.

The *device* input path keeps a training split as uint8 (N, C, H, W) on the accelerator; instead of
running ``Pipeline.compile()`` sample by sample in DataLoader workers, each batch goes through
``batched_pipeline(pipeline)``. It translates the compiled ``v2.Compose`` step by step (so the
parameters, their defaults and the float conversion point are v2's own), draws every sample's
parameters as tensors from a ``torch.Generator`` on the batch's device, and computes what v2 would
give each sample: same dtype at each step (uint8 until the ``ToDtype``, then float32), same rounding.

Bit for bit equal to v2 on CPU (tests/test_data_batched.py), but for two numerical differences:
``RandomResizedCrop`` resizes crops of different sizes in one batched matmul with the weights of torch's
antialiased bilinear kernel (within 1e-3 of v2's float kernel on a 0..255 scale, within one level of
its CPU uint8 kernel, see ``_aa_weights``), and ``ColorJitter``'s contrast on float images (after
``Normalize``) may differ by one float32 rounding (see ``_blend``). Segmentation masks (int64
(B, H, W)) follow the geometric operations with nearest sampling, as v2's ``tv_tensors.Mask`` does.
Only torch ops that run on CPU and CUDA (float64 included: not MPS); no host syncs per batch.

>>> import torch
>>> from neural_engine.data.augment import Pipeline
>>> p = Pipeline.from_json([{"type": "RandomCrop", "params": {"size": 32, "padding": 4}},
...                         {"type": "RandomHorizontalFlip"}])
>>> run = batched_pipeline(p)
>>> out = run(torch.zeros(8, 3, 32, 32, dtype=torch.uint8), torch.Generator().manual_seed(0))
>>> tuple(out.shape), out.dtype
((8, 3, 32, 32), torch.float32)
"""

from __future__ import annotations

import torch

from neural_engine.data.augment import Pipeline
from neural_engine.data.batched.geometry import Flip, RandomCrop, RandomResizedCrop, RandomRotation
from neural_engine.data.batched.pixels import (
    ColorJitter,
    GaussianBlur,
    Grayscale,
    Normalize,
    RandomErasing,
    Resize,
    ToDtype,
)
from neural_engine.errors import DatasetError

OPS = {  # v2 class name -> batched form: every operation of augment.SCHEMA, and the inserted ToDtype
    "RandomHorizontalFlip": lambda t: Flip(t, -1),
    "RandomVerticalFlip": lambda t: Flip(t, -2),
    "RandomCrop": RandomCrop,
    "RandomResizedCrop": RandomResizedCrop,
    "RandomRotation": RandomRotation,
    "ColorJitter": ColorJitter,
    "GaussianBlur": GaussianBlur,
    "RandomErasing": RandomErasing,
    "Grayscale": Grayscale,
    "Normalize": Normalize,
    "Resize": Resize,
    "ToDtype": ToDtype,
}


def _translate(pipeline: Pipeline, train: bool):
    """The batched steps of ``pipeline.compile(train)``, or the reason one has no batched form."""
    steps = []
    for t in Pipeline.from_json(pipeline).compile(train=train).transforms:
        name = type(t).__name__
        if name not in OPS:
            return None, f"{name} has no batched form (batched: {', '.join(sorted(OPS))})"
        step = OPS[name](t)
        why = step.why_not() if hasattr(step, "why_not") else None
        if why:
            return None, f"{name}: {why}"
        steps.append(step)
    return steps, ""


def supported(pipeline: Pipeline | list | None, train: bool = True) -> tuple[bool, str]:
    """Whether every step of ``pipeline`` has a batched form; if not, the reason to log with the fallback.

    >>> supported(Pipeline.from_json([{"type": "RandomRotation", "params": {"degrees": 10}}]))
    (True, '')
    """
    if pipeline is None:
        return True, ""
    steps, why = _translate(pipeline, train)
    return steps is not None, why


class BatchedPipeline:
    """``run(x, generator=None, mask=None)``: x uint8 (B, C, H, W) on any device; returns float32
    (B, C', H', W') (and the int64 (B, H', W') mask when one is given). ``generator`` lives on x's
    device; None draws from torch's default generator there. ``steps`` are the batched operations,
    each with ``draw(n, (C, H, W), device, generator) -> params`` and ``image(x, params)``."""

    def __init__(self, steps):
        self.steps = steps

    def __repr__(self) -> str:
        return f"BatchedPipeline({', '.join(type(s).__name__ for s in self.steps)})"

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator | None = None, mask: torch.Tensor | None = None
    ):
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise DatasetError(
                f"a batched pipeline needs a uint8 (B, C, H, W) batch; received {x.dtype} {tuple(x.shape)}",
                hint="hold the split as uint8 and index batches from it",
            )
        if mask is not None and (mask.ndim != 3 or mask.shape != (x.shape[0], *x.shape[-2:])):
            raise DatasetError(
                f"masks must be (B, H, W) like the images {tuple(x.shape)}; received {tuple(mask.shape)}"
            )
        with torch.autocast(x.device.type, enabled=False), torch.no_grad():
            for step in self.steps:
                q = step.draw(x.shape[0], tuple(x.shape[1:]), x.device, generator)
                if mask is not None and hasattr(step, "mask"):
                    mask = step.mask(mask, q)
                x = step.image(x, q)
        return x if mask is None else (x, mask)


def batched_pipeline(pipeline: Pipeline | list | None, train: bool = True) -> BatchedPipeline:
    """The batched form of ``pipeline.compile(train)`` (None: just the uint8 -> float32 conversion).

    Raises ``DatasetError`` with ``supported()``'s reason when a step has none: the caller falls back to
    DataLoader workers and logs it.
    """
    steps, why = _translate(pipeline if pipeline is not None else Pipeline(), train)
    if steps is None:
        raise DatasetError(
            f"the augmentation pipeline must have a batched form for device placement; {why}",
            hint="use --data-placement workers, or drop that operation",
        )
    return BatchedPipeline(steps)
