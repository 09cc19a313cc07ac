"""Pooling modules torch.nn lacks: global pooling to (N, C), and Keras' "same" average pooling."""

from __future__ import annotations

from torch import nn

from neural_engine.modules import nf_module


@nf_module
class GlobalPool(nn.Module):
    """An adaptive pool to size 1, flattened: (N, C, *spatial) -> (N, C).

    ``padding_mask`` (N, L), True at padded steps, makes an average over (N, C, L) one of the
    real steps only (Keras' masked GlobalAveragePooling1D; an all-padding row gives zeros where
    Keras divides 0 by 0)."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool

    def forward(self, x, padding_mask=None):
        if padding_mask is None:
            return self.pool(x).flatten(1)
        real = (~padding_mask).unsqueeze(1).to(x.dtype)  # (N, 1, L)
        return (x * real).sum(-1) / real.sum(-1).clamp(min=1)


@nf_module
class PaddedAvgPool(nn.Module):
    """Average pooling after an asymmetric zero pad (``pad`` as for ``F.pad``) that the average
    leaves out, as Keras' "same" padding does: sum over the window / count of real values."""

    def __init__(self, pad: tuple[int, ...], layer: nn.Module):
        super().__init__()
        self.pad, self.layer = tuple(pad), layer

    def forward(self, x):
        ones = x.new_ones((1, 1, *x.shape[2:]))  # (1, 1, *spatial): which positions are real
        pad = nn.functional.pad
        return self.layer(pad(x, self.pad)) / self.layer(pad(ones, self.pad))

    def extra_repr(self) -> str:
        return f"pad={self.pad}"
