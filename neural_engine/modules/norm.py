"""Normalisation modules torch.nn lacks."""

from __future__ import annotations

import torch
from torch import nn

from neural_engine.modules import nf_module


@nf_module
class ChannelAffine(nn.Module):
    """An affine-free norm followed by a learned scale and/or shift along ``dim`` — Keras'
    ``center`` without ``scale`` (or the reverse), which torch's ``affine`` cannot express."""

    def __init__(self, norm: nn.Module, channels: int, scale: bool = True, center: bool = True, dim: int = 1):
        super().__init__()
        self.norm, self.dim = norm, dim
        self.weight = nn.Parameter(torch.ones(channels)) if scale else None
        self.bias = nn.Parameter(torch.zeros(channels)) if center else None

    def forward(self, x):
        x = self.norm(x)
        view = [1] * x.dim()
        view[self.dim] = -1  # (1, C, 1, 1) for dim=1; (1, …, C) for dim=-1
        if self.weight is not None:
            x = x * self.weight.view(view)
        if self.bias is not None:
            x = x + self.bias.view(view)
        return x

    def extra_repr(self) -> str:
        return f"scale={self.weight is not None}, center={self.bias is not None}, dim={self.dim}"
