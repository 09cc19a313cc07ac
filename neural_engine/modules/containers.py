"""Container modules."""

from __future__ import annotations

from torch import nn

from neural_engine.modules import nf_module


@nf_module
class Residual(nn.Module):
    """``body(x) + x``."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x) + x
