"""Bad inputs to recurrent and attention layers: each error says what was expected and what came."""

from __future__ import annotations

import pytest

from neural_engine.errors import ShapeError, ValidationError
from neural_engine.ir import GraphBuilder
from neural_engine.shapes import propagate


def analyse(layer: str, *shapes, body=(), **params):
    names = [f"x{i}" for i in range(len(shapes))]
    g = GraphBuilder("Bad", dict(zip(names, shapes)))
    inner = [g.node(t, **p) for t, p in body]
    g.add(layer, *names, id="layer", body=inner, **params)
    return propagate(g.build())


@pytest.mark.parametrize(
    "layer, shapes, params, error, match",
    [
        (
            "MultiHeadAttention",
            [(10, 100)],
            {"num_heads": 8},
            ShapeError,
            "MultiHeadAttention: embed dim 100 is not divisible by num_heads 8",
        ),
        (
            "TransformerEncoder",
            [(10, 100)],
            {"num_heads": 8},
            ShapeError,
            "TransformerEncoder: embed dim 100 is not divisible by num_heads 8",
        ),
        (
            "TransformerDecoder",
            [(10, 30), (4, 30)],
            {"num_heads": 4},
            ShapeError,
            "embed dim 30 is not divisible by num_heads 4",
        ),
        (
            "TransformerDecoder",
            [(10, 32), (4, 16)],
            {"num_heads": 4},
            ShapeError,
            r"expected a memory with the target's embed dim 32; received \(4, 16\)",
        ),
        (
            "MultiHeadAttention",
            [(7, 16), (5, 16), (6, 16)],
            {"num_heads": 2},
            ShapeError,
            "expected key and value of one length",
        ),
        (
            "MultiHeadAttention",
            [(4, 4, 16)],
            {"num_heads": 2},
            ShapeError,
            r"expected a rank-2 query \(steps, features\).*received shape",
        ),
        (
            "MultiHeadAttention",
            [(4, 16)] * 4,
            {"num_heads": 2},
            ValidationError,
            "MultiHeadAttention takes 1 to 3 inputs; received 4",
        ),
        ("MultiHeadAttention", [(4, 16)], {}, ValidationError, "MultiHeadAttention needs 'num_heads'"),
        (
            "LSTM",
            [(4, 4, 3)],
            {"units": 8},
            ShapeError,
            r"LSTM: expected a rank-2 input.*received shape \(4, 4, 3\)",
        ),
        ("LSTM", [(4, 3)], {"units": 0}, ValidationError, r"LSTM units must be in \[1, inf\); received 0"),
        (
            "LSTM",
            [(4, 3)],
            {"units": 8, "activation": "relu"},
            ValidationError,
            'LSTM activation must be one of "tanh"; received',
        ),
        ("GRU", [(4, 3)], {"units": 8, "dropout": 1.0}, ValidationError, r"GRU dropout must be in \[0, 1\)"),
        # Keras parameters PyTorch cannot honour: refused with the reason, never "has no parameter"
        (
            "LSTM",
            [(4, 3)],
            {"units": 8, "recurrent_dropout": 0.2},
            ValidationError,
            (
                r"LSTM recurrent_dropout must be 0: PyTorch's nn.LSTM \(fused, cuDNN\) has no dropout on the "
                r"recurrent state; received 0.2"
            ),
        ),
        (
            "GRU",
            [(4, 3)],
            {"units": 8, "recurrent_dropout": 0.5},
            ValidationError,
            r"GRU recurrent_dropout must be 0: PyTorch's nn.GRU \(fused, cuDNN\) has no dropout",
        ),
        (
            "SimpleRNN",
            [(4, 3)],
            {"units": 8, "recurrent_dropout": 0.1},
            ValidationError,
            r"SimpleRNN recurrent_dropout must be 0: PyTorch's nn.RNN \(fused, cuDNN\) has no dropout",
        ),
        (
            "TransformerEncoder",
            [(6, 8)],
            {"num_heads": 2, "use_attention_mask": True},
            ValidationError,
            (
                r"TransformerEncoder: expected a padding mask from an Embedding\(mask_zero=true\) before it; "
                "received an input without one"
            ),
        ),
        (
            "MultiHeadAttention",
            [(6, 8)],
            {"num_heads": 2, "mode": "cross"},
            ValidationError,
            r'MultiHeadAttention: mode="cross" takes a query and a value \(and a key\); received 1 input',
        ),
        (
            "MultiHeadAttention",
            [(6, 8), (5, 8)],
            {"num_heads": 2, "mode": "self"},
            ValidationError,
            'MultiHeadAttention: mode="self" attends a sequence to itself and takes one input; received 2',
        ),
        (
            "MultiHeadAttention",
            [(6, 8)],
            {"num_heads": 2, "mode": "causal"},
            ValidationError,
            'MultiHeadAttention mode must be one of "auto", "self", "cross"',
        ),
        (
            "PositionalEncoding",
            [(600, 64)],
            {},
            ShapeError,
            r"expected at most max_len=512 steps; received \(600, 64\)",
        ),
        (
            "PositionalEncoding",
            [(6, 64)],
            {"kind": "rotary"},
            ValidationError,
            'PositionalEncoding kind must be one of "sinusoidal", "learnable"',
        ),
    ],
)
def test_bad_layer_input(layer, shapes, params, error, match):
    with pytest.raises(error, match=match):
        analyse(layer, *shapes, **params)


def test_refused_keras_parameters_say_what_to_use_instead():
    with pytest.raises(ValidationError) as err:
        analyse("LSTM", (4, 3), units=8, recurrent_dropout=0.2)
    assert err.value.node == "layer"
    assert "dropout=… with num_layers > 1" in err.value.hint and "Dropout(…) after" in err.value.hint


def test_divisibility_error_has_a_hint():
    with pytest.raises(ShapeError) as err:
        analyse("MultiHeadAttention", (10, 100), num_heads=8)
    assert err.value.node == "layer" and "num_heads in [1, 2, 4, 5, 10]" in err.value.hint


def test_key_dim_lifts_the_divisibility_rule():
    info = analyse("MultiHeadAttention", (10, 100), num_heads=8, key_dim=16).nodes["layer"]
    assert info.output.user == (10, 100)


@pytest.mark.parametrize(
    "layer, shape, body, params, error, match",
    [
        (
            "Bidirectional",
            (10, 8),
            (("Dense", {"units": 4}),),
            {},
            ValidationError,
            "Bidirectional: wraps a recurrent layer .*; received Dense",
        ),
        (
            "Bidirectional",
            (10, 8),
            (("LSTM", {"units": 4}),),
            {"merge_mode": None},
            ValidationError,
            'merge_mode must be one of "concat", "sum", "mul", "ave"',
        ),
        (
            "Bidirectional",
            (10, 8),
            (("LSTM", {"units": 4}), ("GRU", {"units": 4})),
            {},
            ValidationError,
            "Bidirectional wraps exactly one layer; received 2",
        ),
        ("Bidirectional", (10,), (("LSTM", {"units": 4}),), {}, ShapeError, "LSTM: expected a rank-2 input"),
        (
            "TimeDistributed",
            (10,),
            (("Dense", {"units": 4}),),
            {},
            ShapeError,
            r"TimeDistributed: expected an input of rank 2 or more \(steps, ...\); received \(10,\)",
        ),
        (
            "TimeDistributed",
            (4, 8, 3),
            (("Conv2D", {"filters": 4, "kernel_size": 3}),),
            {},
            ShapeError,
            "Conv2D: expected a rank-3 input",
        ),
    ],
)
def test_bad_wrapper(layer, shape, body, params, error, match):
    with pytest.raises(error, match=match):
        analyse(layer, shape, body=body, **params)
