"""Pure shape arithmetic: output sizes of convolutions and pools, and their "same" padding.

Small functions of integers, tested alone. ``None`` (unknown size) passes through.

>>> conv_out(28, kernel=3, stride=1, padding=0)
26
>>> conv_out(28, kernel=3, stride=2, padding="same")
14
>>> same_pad(28, kernel=3, stride=2)
(0, 1)
"""

from __future__ import annotations

import math


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    return dilation * (kernel - 1) + 1


def same_pad(size: int | None, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow "same" padding (before, after): the output is ceil(size / stride),
    any odd pixel goes after. Unknown sizes assume the stride divides them."""
    k = effective_kernel(kernel, dilation)
    if size is None:
        total = max(k - stride, 0)
    else:
        total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv_out(
    size: int | None, kernel: int, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> int | None:
    """Output size of a convolution or pool along one axis (``padding``: int, "valid", "same")."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    pad = 0 if padding == "valid" else 2 * padding
    return (size + pad - effective_kernel(kernel, dilation)) // stride + 1


def pool_out(
    size: int | None, kernel: int, stride: int, padding: int | str = 0, ceil_mode: bool = False
) -> int | None:
    if size is None or padding == "same" or not ceil_mode:
        return conv_out(size, kernel, stride, padding)
    return math.ceil((size + 2 * padding - kernel) / stride) + 1


def conv_transpose_out(
    size: int | None,
    kernel: int,
    stride: int = 1,
    padding: int | str = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int | None:
    """Output size of a transposed convolution (Keras: "same" gives size * stride)."""
    if size is None:
        return None
    if padding == "same":
        return size * stride + output_padding
    pad = 0 if padding == "valid" else padding
    return (size - 1) * stride - 2 * pad + effective_kernel(kernel, dilation) + output_padding


def transpose_same_padding(kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """torch (padding, output_padding) making ConvTranspose output ``size * stride``,
    or raise ValueError when torch cannot express it (output_padding must be < stride or dilation)."""
    total = effective_kernel(kernel, dilation) - stride
    pad = max(math.ceil(total / 2), 0)
    out_pad = 2 * pad - total
    if out_pad >= max(stride, dilation):
        raise ValueError(f"kernel {kernel} with stride {stride}")
    return pad, out_pad


def broadcast(a: tuple, b: tuple) -> tuple | None:
    """NumPy broadcasting of two shapes, or None when they do not broadcast."""
    out = []
    for x, y in zip(reversed((1,) * (len(b) - len(a)) + a), reversed((1,) * (len(a) - len(b)) + b)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif x is None or y is None:
            out.append(x if y is None else y)
        else:
            return None
    return tuple(reversed(out))
