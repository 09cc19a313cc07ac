"""Convolution modules torch.nn lacks."""

from __future__ import annotations

from torch import nn

from neural_engine.modules import nf_module


@nf_module
class SeparableConv(nn.Module):
    """Depthwise convolution then a 1x1 pointwise convolution (Keras ``SeparableConv2D``)."""

    def __init__(self, depthwise: nn.Module, pointwise: nn.Module):
        super().__init__()
        self.depthwise, self.pointwise = depthwise, pointwise

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
