"""What the batched operations share: per-sample random draws, crops, padding, constants on the device."""

from __future__ import annotations

import functools

import torch
from torchvision.transforms.v2 import functional as F


def _uniform(n, lo, hi, device, g, dtype=torch.float32):
    return torch.empty(n, device=device, dtype=dtype).uniform_(lo, hi, generator=g)


def _offsets(n, span, device, g):
    """Per-sample integers uniform in [0, span) for a (n,) int64 ``span``: ``randint`` with a tensor bound."""
    u = torch.rand(span.shape, device=device, dtype=torch.float64, generator=g)
    return torch.minimum((u * span).long(), span - 1)


def _first_fit(ok, *values):
    """Per row of the (B, tries) ``ok``, each of ``values`` at the first accepted try; and whether any was."""
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)  # argmax returns the first maximum
    return ok.any(dim=1), *(v.gather(1, first).squeeze(1) for v in values)


def _crop(x, top, left, h, w):
    """Per-sample windows of a (B, ..., H, W) tensor at (B,) ``top``/``left``: (B, ..., h, w)."""
    windows = x.unfold(-2, h, 1).unfold(-2, w, 1).movedim((-4, -3), (1, 2))  # (B, H-h+1, W-w+1, ..., h, w)
    return windows[torch.arange(x.shape[0], device=x.device), top, left]


def _to_dtype_of(out, like):
    """v2's return to an integer image (or mask): round, then cast; floats stay as they are."""
    return out if like.is_floating_point() else out.round_().to(like.dtype)


def _b4(v):
    return v.view(-1, 1, 1, 1)


@functools.lru_cache(maxsize=64)
def _const(values: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small constant on the device, copied there once: ``torch.tensor(..., device=cuda)`` per batch
    would wait for the GPU every time (a host sync)."""
    return torch.tensor(values, dtype=dtype, device=device)


def _pad(x, padding, fill, mode):
    """v2's ``F.pad`` of a (B, ..., H, W) batch (``padding`` left, top, right, bottom), with its
    ``symmetric`` indices computed on the device instead of copied from a Python list."""
    if mode != "symmetric":
        return F.pad(x, padding=padding, fill=fill, padding_mode=mode)
    left, top, right, bottom = padding

    def mirror(n, before, after):  # i < 0 -> -i - 1, i >= n -> 2n - 1 - i
        i = torch.arange(-before, n + after, device=x.device)
        return torch.where(i < 0, -i - 1, torch.where(i >= n, 2 * n - 1 - i, i))

    x = x.index_select(-2, mirror(x.shape[-2], top, bottom))
    return x.index_select(-1, mirror(x.shape[-1], left, right))
