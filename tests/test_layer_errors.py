"""Bad inputs to core, activation, convolution, merge and container layers: the right error kind,
what was expected, what was received, the node, and a hint where a fix exists."""

from __future__ import annotations

import pytest

from neural_engine.errors import ShapeError, ValidationError
from neural_engine.ir import GraphBuilder
from neural_engine.shapes import propagate


def analyse(layer: str, *shapes: tuple, body=(), **params):
    names = ["x"] if len(shapes) == 1 else [f"x{i}" for i in range(len(shapes))]
    g = GraphBuilder("Bad", dict(zip(names, shapes)))
    g.add(layer, *names, id="layer", body=[g.node(t, **p) for t, p in body], **params)
    return propagate(g.build())


ERRORS = [
    # (layer, params, input shapes, body, error, fragments the message must hold)
    ("Dropout", {"rate": 1.5}, [(8,)], (), ValidationError, ["Dropout rate must be in [0, 1); received 1.5"]),
    ("Dense", {"units": 0}, [(8,)], (), ValidationError, ["Dense units must be in [1, inf); received 0"]),
    ("Dense", {"units": 12.5}, [(8,)], (), ValidationError, ["must be an integer; received 12.5"]),
    ("Dense", {}, [(8,)], (), ValidationError, ["Dense needs 'units'; received no value"]),
    ("Dense", {"unit": 3}, [(8,)], (), ValidationError, ["Dense has no parameter 'unit'"]),
    (
        "Embedding",
        {"input_dim": 10, "output_dim": 4, "mask_zero": True, "padding_idx": 3},
        [(5,)],
        (),
        ValidationError,
        ["Embedding: mask_zero=true makes id 0 the padding; received padding_idx=3 too"],
    ),
    (
        "Dense",
        {"units": 3, "activation": "rleu"},
        [(8,)],
        (),
        ValidationError,
        ['known activation; received "rleu"'],
    ),
    (
        "Conv2D",
        {"filters": 8, "kernel_size": 5},
        [(3, 3, 1)],
        (),
        ShapeError,
        ["kernel_size (5, 5) does not fit the input (3, 3, 1)", "spatial size 3 < effective kernel 5"],
    ),
    ("Conv2D", {"filters": 8, "kernel_size": 3}, [(28,)], (), ShapeError, ["rank-3", "(28,)"]),
    (
        "Conv2D",
        {"filters": 8, "kernel_size": 3, "groups": 3},
        [(8, 8, 4)],
        (),
        ValidationError,
        ["groups must divide the input channels (4)", "received groups=3"],
    ),
    (
        "Conv2D",
        {"filters": 8, "kernel_size": (3, 3, 3)},
        [(8, 8, 4)],
        (),
        ValidationError,
        ["kernel_size needs 1 or 2 values"],
    ),
    (
        "Conv2D",
        {"filters": 8, "kernel_size": 3, "padding": "full"},
        [(8, 8, 4)],
        (),
        ValidationError,
        ['"valid", "same"'],
    ),
    (
        "Reshape",
        {"target_shape": (5, 5)},
        [(32,)],
        (),
        ShapeError,
        ["cannot reshape (32,)", "(5, 5) (25 values)"],
    ),
    ("Permute", {"dims": (1, 1)}, [(4, 5)], (), ShapeError, ["permutation of 1..2"]),
    ("Softmax", {"axis": 0}, [(8,)], (), ValidationError, ["without 0 (the batch)"]),
    ("Add", {}, [(8,), (9,)], (), ShapeError, ["inputs of one shape; received (8,), (9,)"]),
    ("Add", {}, [(4, 4, 3), (4, 4, 5)], (), ShapeError, ["(4, 4, 3), (4, 4, 5)"]),
    ("Concatenate", {}, [(4, 4, 3), (5, 4, 3)], (), ShapeError, ["every axis but the concatenation axis"]),
    ("Concatenate", {}, [(4, 3), (4, 4, 3)], (), ShapeError, ["inputs of one rank"]),
    ("Dot", {"axes": 1}, [(8,), (6,)], (), ShapeError, ["one size; received 8 and 6"]),
    (
        "ResidualConnection",
        {},
        [(8, 8, 4)],
        (("Conv2D", {"filters": 6, "kernel_size": 3, "padding": "same"}),),
        ShapeError,
        ["keep the input's shape (8, 8, 4)", "received (8, 8, 6)"],
    ),
]


@pytest.mark.parametrize(
    "layer,params,shapes,body,error,fragments", ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)]
)
def test_error_says_expected_and_received(layer, params, shapes, body, error, fragments):
    with pytest.raises(error) as info:
        analyse(layer, *shapes, body=body, **params)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert info.value.node in ("layer", "conv2d_1")


def test_kernel_error_has_a_fix():
    with pytest.raises(ShapeError) as info:
        analyse("Conv2D", (3, 3, 1), filters=8, kernel_size=5)
    assert 'padding="same"' in info.value.hint


def test_unknown_parameter_suggests_the_closest():
    with pytest.raises(ValidationError) as info:
        analyse("Conv2D", (8, 8, 1), filters=8, kernal_size=3)
    assert info.value.hint == 'Did you mean "kernel_size"?'


def test_integral_floats_are_integers():
    a = analyse("Dense", (8,), units=1e3)
    assert a.nodes["layer"].output.user == (1000,)
