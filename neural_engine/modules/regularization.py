"""Noise layers torch.nn lacks; like dropout they act only in training."""

from __future__ import annotations

import torch
from torch import nn

from neural_engine.modules import nf_module


@nf_module
class GaussianNoise(nn.Module):
    """Adds N(0, stddev²) noise in training (Keras ``GaussianNoise``)."""

    def __init__(self, stddev: float):
        super().__init__()
        self.stddev = stddev

    def forward(self, x):
        return x + torch.randn_like(x) * self.stddev if self.training and self.stddev else x

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"


@nf_module
class GaussianDropout(nn.Module):
    """Multiplies by N(1, rate / (1 - rate)) noise in training (Keras ``GaussianDropout``)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or not self.rate:
            return x
        std = (self.rate / (1 - self.rate)) ** 0.5
        return x * (1 + torch.randn_like(x) * std)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"
