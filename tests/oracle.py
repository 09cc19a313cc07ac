"""Run a built module the way torch's flop counter can see every matmul and convolution.

Fused CPU kernels hide their work from ``FlopCounterMode``: oneDNN's LSTM, the
scaled-dot-product-attention CPU kernel and ``nn.MultiheadAttention``'s inference fast path
count 0. The oracle runs with oneDNN off, the math SDPA backend and the fast path off, so torch
decomposes them into ``addmm``/``bmm`` it does count. The one place the counts are allowed to
differ is FLOP_EXCEPTIONS below.
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

# layer type -> why torch's count differs from the engine's (keep this list short and honest)
FLOP_EXCEPTIONS: dict[str, str] = {}


@contextlib.contextmanager
def countable():
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def run_counted(model: torch.nn.Module, inputs) -> tuple[object, int]:
    """(output, FLOPs torch counted) for one eval-mode forward pass."""
    model.eval()
    with countable(), FlopCounterMode(display=False) as counter:
        out = model(*inputs)
    return out, counter.get_total_flops()


def persistent_float_buffers(model: torch.nn.Module) -> int:
    """Elements of saved floating-point buffers (BatchNorm running stats), like Keras'
    non-trainable weights."""
    names = set(model.state_dict())
    return sum(b.numel() for n, b in model.named_buffers() if n in names and b.is_floating_point())
