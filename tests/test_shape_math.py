"""Shape arithmetic, tested alone (rows of inputs and expected outputs)."""

import pytest

from neural_engine.shape_math import (
    broadcast,
    conv_out,
    conv_transpose_out,
    pool_out,
    same_pad,
    transpose_same_padding,
)


@pytest.mark.parametrize(
    "size,k,s,pad,d,out",
    [
        (28, 3, 1, 0, 1, 26),
        (28, 3, 1, "valid", 1, 26),
        (28, 3, 2, "same", 1, 14),
        (27, 3, 2, "same", 1, 14),
        (28, 5, 1, 2, 1, 28),
        (28, 3, 1, 0, 2, 24),
        (224, 7, 2, 3, 1, 112),
        (None, 3, 1, 0, 1, None),
        (2, 3, 1, 0, 1, 0),
    ],
)
def test_conv_out(size, k, s, pad, d, out):
    assert conv_out(size, k, s, pad, d) == out


@pytest.mark.parametrize(
    "size,k,s,d,pads",
    [
        (28, 3, 1, 1, (1, 1)),
        (28, 3, 2, 1, (0, 1)),
        (27, 3, 2, 1, (1, 1)),
        (10, 4, 1, 1, (1, 2)),
        (10, 3, 1, 2, (2, 2)),
        (5, 1, 2, 1, (0, 0)),
    ],
)
def test_same_pad(size, k, s, d, pads):
    assert same_pad(size, k, s, d) == pads


@pytest.mark.parametrize(
    "size,k,s,pad,op,out",
    [
        (6, 3, 1, "valid", 0, 8),
        (6, 3, 2, "same", 0, 12),
        (5, 2, 2, 0, 0, 10),
        (5, 3, 2, 0, 1, 12),
        (None, 3, 2, 0, 0, None),
    ],
)
def test_conv_transpose_out(size, k, s, pad, op, out):
    assert conv_transpose_out(size, k, s, pad, op) == out


def test_transpose_same_padding_reproduces_size_times_stride():
    for k in range(1, 6):
        for s in range(1, 4):
            try:
                p, op = transpose_same_padding(k, s)
            except ValueError:
                continue
            assert conv_transpose_out(7, k, s, p, op) == 7 * s


def test_pool_out_ceil_mode():
    assert pool_out(7, 2, 2) == 3 and pool_out(7, 2, 2, ceil_mode=True) == 4


@pytest.mark.parametrize(
    "a,b,out",
    [((3, 1), (1, 4), (3, 4)), ((4,), (2, 4), (2, 4)), ((3,), (4,), None), ((None, 4), (3, 4), (3, 4))],
)
def test_broadcast(a, b, out):
    assert broadcast(a, b) == out
