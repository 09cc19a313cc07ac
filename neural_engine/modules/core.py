"""Shape-only and merge modules."""

from __future__ import annotations

import torch
from torch import nn

from neural_engine.modules import nf_module


@nf_module
class Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


@nf_module
class Permute(nn.Module):
    """Keras-numbered permutation (1 = first non-batch axis)."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(0, *self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


_MERGES = {
    "add": lambda xs: torch.stack(xs).sum(0) if len(xs) > 2 else xs[0] + xs[1],
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: torch.stack(xs).prod(0),
    "average": lambda xs: torch.stack(xs).mean(0),
    "maximum": lambda xs: torch.stack(xs).amax(0),
    "minimum": lambda xs: torch.stack(xs).amin(0),
}


@nf_module
class Merge(nn.Module):
    """Element-wise merge of several tensors of one shape."""

    def __init__(self, op: str):
        super().__init__()
        self.op = op

    def forward(self, *xs):
        return _MERGES[self.op](list(xs))

    def extra_repr(self) -> str:
        return f"op={self.op!r}"


@nf_module
class Concatenate(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


@nf_module
class Dot(nn.Module):
    """Batched dot product over one axis of each input (Keras ``Dot``), as one ``bmm``.

    ``axes`` are torch dims (batch = 0) of inputs of rank 2 or 3.
    """

    def __init__(self, axes: tuple[int, int], normalize: bool = False):
        super().__init__()
        self.axes, self.normalize = tuple(axes), normalize

    def forward(self, a, b):
        if self.normalize:
            a = nn.functional.normalize(a, dim=self.axes[0])
            b = nn.functional.normalize(b, dim=self.axes[1])
        if a.dim() == 2:  # (N, d) · (N, d) -> (N, 1)
            return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).squeeze(1)
        a = a if self.axes[0] == 2 else a.transpose(1, 2)  # (N, L1, d)
        b = b if self.axes[1] == 1 else b.transpose(1, 2)  # (N, d, L2)
        return torch.bmm(a, b)

    def extra_repr(self) -> str:
        return f"axes={self.axes}, normalize={self.normalize}"


@nf_module
class Padded(nn.Module):
    """Zero padding (``pad`` as for ``F.pad``: last axis first) before a layer — how Keras'
    asymmetric "same" padding for strided layers is expressed in torch."""

    def __init__(self, pad: tuple[int, ...], layer: nn.Module, value: float = 0.0):
        super().__init__()
        self.pad, self.layer, self.value = tuple(pad), layer, value

    def forward(self, x):
        return self.layer(nn.functional.pad(x, self.pad, value=self.value))

    def extra_repr(self) -> str:
        return f"pad={self.pad}"
