"""Spatial resizing modules torch.nn lacks."""

from __future__ import annotations

from torch import nn

from neural_engine.modules import nf_module


@nf_module
class Crop(nn.Module):
    """Removes (before, after) positions per spatial axis of (N, C, *spatial) — Keras' Cropping."""

    def __init__(self, cropping: tuple[tuple[int, int], ...]):
        super().__init__()
        self.cropping = tuple(tuple(pair) for pair in cropping)

    def forward(self, x):
        spatial = x.shape[2:]
        keep = tuple(slice(a, n - b) for n, (a, b) in zip(spatial, self.cropping))
        return x[(slice(None), slice(None), *keep)]

    def extra_repr(self) -> str:
        return f"cropping={self.cropping}"
