"""Bad inputs to pooling, normalisation, spatial and regularisation layers: each error says what
was expected and what was received, and is the right kind (ShapeError or ValidationError)."""

from __future__ import annotations

import pytest

from neural_engine.errors import ShapeError, ValidationError
from neural_engine.ir import GraphBuilder
from neural_engine.shapes import propagate


def analyse(layer: str, shape: tuple, layout: str = "channels_last", **params):
    g = GraphBuilder("Bad", {"x": shape}, layout=layout)
    g.add(layer, "x", id="layer", **params)
    return propagate(g.build())


ERRORS = [
    # (layer, params, input shape, error, fragments the message must hold)
    ("MaxPooling2D", {"pool_size": 5}, (3, 3, 4), ShapeError, ["pool_size (5, 5)", "(3, 3, 4)", "3 < 5"]),
    ("AveragePooling1D", {"pool_size": 8}, (6, 2), ShapeError, ["6 < 8"]),
    (
        "MaxPooling2D",
        {"pool_size": 3, "padding": 2},
        (8, 8, 1),
        ValidationError,
        ["at most half the pool_size", "received padding 2 with pool_size 3"],
    ),
    ("MaxPooling2D", {"pool_size": (2, 2, 2)}, (8, 8, 1), ValidationError, ["pool_size needs 1 or 2 values"]),
    ("MaxPooling2D", {}, (16,), ShapeError, ["rank-3", "rank 1"]),
    ("GlobalAveragePooling2D", {}, (10, 4), ShapeError, ["rank-3", "rank 2"]),
    ("AdaptiveAveragePooling2D", {}, (8, 8, 1), ValidationError, ["needs 'output_size'"]),
    (
        "GroupNormalization",
        {"groups": 3},
        (8, 8, 16),
        ValidationError,
        ["groups must divide the channels (16)", "received groups=3"],
    ),
    ("GroupNormalization", {"groups": 0}, (8, 8, 16), ValidationError, ["received 0"]),
    ("BatchNormalization", {}, (2, 2, 2, 2, 2), ShapeError, ["rank 5"]),
    ("BatchNormalization", {"axis": 1}, (8, 8, 3), ValidationError, ["channel axis only", "axis=1"]),
    ("BatchNormalization", {"momentum": 1.5}, (8,), ValidationError, ["must be in [0, 1]; received 1.5"]),
    ("LayerNormalization", {"axis": 1}, (10, 32), ValidationError, ["last axis only", "axis=1"]),
    ("LayerNormalization", {"epsilon": 0}, (10, 32), ValidationError, ["must be in (0, inf); received 0"]),
    ("InstanceNormalization", {}, (16,), ShapeError, ["rank-2 or 3 or 4", "rank 1"]),
    ("SpatialDropout2D", {"rate": 1.5}, (8, 8, 3), ValidationError, ["must be in [0, 1); received 1.5"]),
    ("AlphaDropout", {"rate": -0.1}, (8,), ValidationError, ["must be in [0, 1); received -0.1"]),
    ("SpatialDropout1D", {"rate": 0.1}, (8, 8, 3), ShapeError, ["rank-2"]),
    ("GaussianNoise", {}, (8,), ValidationError, ["needs 'stddev'"]),
    (
        "Cropping2D",
        {"cropping": ((3, 3), (0, 0))},
        (5, 5, 2),
        ShapeError,
        ["at least 1 position", "(3, 3) of size 5", "(5, 5, 2)"],
    ),
    (
        "ZeroPadding2D",
        {"padding": (1, 2, 3)},
        (5, 5, 2),
        ValidationError,
        ["(before, after) pair per axis", "received (1, 2, 3)"],
    ),
    ("ZeroPadding1D", {"padding": -1}, (5, 2), ValidationError, ["all >= 0", "received -1"]),
    (
        "UpSampling2D",
        {"interpolation": "area"},
        (5, 5, 2),
        ValidationError,
        ['one of "nearest", "bilinear", "bicubic"', "received 'area'"],
    ),
]


@pytest.mark.parametrize(
    "layer,params,shape,error,fragments", ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)]
)
def test_bad_input_is_refused(layer, params, shape, error, fragments):
    with pytest.raises(error) as info:
        analyse(layer, shape, **params)
    assert info.value.node == "layer"
    for fragment in fragments:
        assert fragment in info.value.message


def test_pool_too_large_hints_same_padding():
    with pytest.raises(ShapeError) as info:
        analyse("MaxPooling2D", (3, 3, 4), pool_size=5)
    assert 'padding="same"' in info.value.hint


def test_same_padding_fits_any_size():
    out = analyse("MaxPooling2D", (3, 3, 4), pool_size=5, strides=2, padding="same")
    assert out.nodes["layer"].output.user == (2, 2, 4)


def test_group_error_hints_divisors():
    with pytest.raises(ValidationError) as info:
        analyse("GroupNormalization", (8, 8, 12), groups=5)
    assert info.value.hint == "use one of 1, 2, 3, 4, 6, 12"


def test_crop_error_in_channels_first_notation():
    with pytest.raises(ShapeError, match=r"input \(2, 4, 5\)"):
        analyse("Cropping2D", (2, 4, 5), layout="channels_first", cropping=2)
