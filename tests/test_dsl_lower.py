"""Lowering layer calls: positional arguments follow Neural DSL's convention where it has one and
Keras' elsewhere; Keras and Neural DSL parameters are mapped to their torch meaning or refused with
a located reason — never "has no parameter" for a parameter the layer has in Keras."""

from __future__ import annotations

import pytest

from neural_engine.dsl import parse
from neural_engine.errors import NeuralForgeError
from neural_engine.ir import HPO
from neural_engine.shapes import propagate

IMAGE, SEQ, STEPS, IDS, VOLUME = "(16, 16, 4)", "(10, 32)", "(20, 4)", "(12,)", "(8, 8, 8, 2)"


def net(layer: str, input_: str) -> str:
    return f"network N {{\n  input: {input_}\n  layers:\n    {layer}\n}}\n"


# (layer as written, input, parameters it lowers to)
ROWS = [
    # Neural DSL: a string in a convolution's third slot is the activation (filters, kernel_size, activation)
    ('Conv2D(32, (3, 3), "relu")', IMAGE, {"filters": 32, "kernel_size": (3, 3), "activation": "relu"}),
    ("Conv2D(32, 3, relu)", IMAGE, {"filters": 32, "kernel_size": 3, "activation": "relu"}),
    (
        'Conv2D(32, 3, "relu", padding="same")',
        IMAGE,
        {"filters": 32, "kernel_size": 3, "activation": "relu", "padding": "same"},
    ),
    ('Conv1D(8, 3, "tanh")', STEPS, {"filters": 8, "kernel_size": 3, "activation": "tanh"}),
    ('Conv3D(4, 3, "relu")', VOLUME, {"filters": 4, "kernel_size": 3, "activation": "relu"}),
    ('Conv1DTranspose(8, 2, "relu")', STEPS, {"filters": 8, "kernel_size": 2, "activation": "relu"}),
    (
        'Conv2DTranspose(8, (2, 2), "relu")',
        IMAGE,
        {"filters": 8, "kernel_size": (2, 2), "activation": "relu"},
    ),
    ('Conv3DTranspose(4, 2, "relu")', VOLUME, {"filters": 4, "kernel_size": 2, "activation": "relu"}),
    ('SeparableConv2D(16, 3, "relu")', IMAGE, {"filters": 16, "kernel_size": 3, "activation": "relu"}),
    ('DepthwiseConv2D(3, "relu")', IMAGE, {"kernel_size": 3, "activation": "relu"}),
    (
        'Conv2D(32, 3, HPO(choice("relu", "tanh")))',
        IMAGE,
        {"filters": 32, "kernel_size": 3, "activation": HPO("choice", ("relu", "tanh"))},
    ),
    # a third value that is not a string keeps Keras' meaning: strides, then padding, …
    ("Conv2D(32, 3, 2)", IMAGE, {"filters": 32, "kernel_size": 3, "strides": 2}),
    (
        'Conv2D(32, 3, (2, 2), "same")',
        IMAGE,
        {"filters": 32, "kernel_size": 3, "strides": (2, 2), "padding": "same"},
    ),
    (
        "Conv2D(32, 3, HPO(choice(1, 2)))",
        IMAGE,
        {"filters": 32, "kernel_size": 3, "strides": HPO("choice", (1, 2))},
    ),
    ("DepthwiseConv2D(3, 2)", IMAGE, {"kernel_size": 3, "strides": 2}),
    # Dense / Output: units, activation (Neural DSL and Keras agree; use_bias follows in Keras' order)
    ('Dense(128, "relu")', "(64,)", {"units": 128, "activation": "relu"}),
    ('Dense(128, "relu", false)', "(64,)", {"units": 128, "activation": "relu", "use_bias": False}),
    ('Output(10, "softmax")', "(64,)", {"units": 10, "activation": "softmax"}),
    # Keras / Neural DSL parameters mapped to their torch meaning
    ("Embedding(1000, 64, mask_zero=true)", IDS, {"input_dim": 1000, "output_dim": 64, "mask_zero": True}),
    ('PositionalEncoding(100, encoding_type="learnable")', SEQ, {"max_len": 100, "kind": "learnable"}),
    ('MultiHeadAttention(4, mode="self")', SEQ, {"num_heads": 4, "mode": "self"}),
    ("TransformerEncoder(4, use_attention_mask=false)", SEQ, {"num_heads": 4, "use_attention_mask": False}),
    ("LSTM(32, recurrent_dropout=0.0)", SEQ, {"units": 32, "recurrent_dropout": 0.0}),
]


@pytest.mark.parametrize("text,input_,expected", ROWS, ids=[r[0] for r in ROWS])
def test_layer_call_lowers_to(text, input_, expected):
    g = parse(net(text, input_))
    assert g.nodes[0].params == expected
    propagate(g)  # and the network is valid


# (layer as written, input, the whole error: location and message); every one at the layer's call
REFUSED = [
    (
        'Conv2D(32, 3, "relu", "same")',
        IMAGE,
        "Conv2D takes at most 3 positional arguments (filters, kernel_size, activation); received 4",
    ),
    ('Conv2D(32, 3, "same")', IMAGE, 'Conv2D activation must be a known activation; received "same"'),
    (
        "LSTM(64, recurrent_dropout=0.2)",
        SEQ,
        (
            "LSTM recurrent_dropout must be 0: PyTorch's nn.LSTM (fused, cuDNN) has no dropout on the recurrent "
            "state; received 0.2"
        ),
    ),
    (
        "GRU(64, recurrent_dropout=0.2)",
        SEQ,
        (
            "GRU recurrent_dropout must be 0: PyTorch's nn.GRU (fused, cuDNN) has no dropout on the recurrent "
            "state; received 0.2"
        ),
    ),
    (
        "SimpleRNN(64, recurrent_dropout=0.2)",
        SEQ,
        (
            "SimpleRNN recurrent_dropout must be 0: PyTorch's nn.RNN (fused, cuDNN) has no dropout on the "
            "recurrent state; received 0.2"
        ),
    ),
    (
        "TransformerEncoder(4, use_attention_mask=true)",
        SEQ,
        (
            "TransformerEncoder: expected a padding mask from an Embedding(mask_zero=true) before it; "
            "received an input without one"
        ),
    ),
    (
        'MultiHeadAttention(4, mode="cross")',
        SEQ,
        'MultiHeadAttention: mode="cross" takes a query and a value (and a key); received 1 input',
    ),
    (
        "Embedding(1000, 64, 3, mask_zero=true)",
        IDS,
        "Embedding: mask_zero=true makes id 0 the padding; received padding_idx=3 too",
    ),
]

HINTS = {
    'Conv2D(32, 3, "relu", "same")': "write the rest as name=value; positional order: filters, kernel_size, "
    "activation (Neural DSL); when the third is not a string: filters, "
    "kernel_size, strides, padding, … (Keras)",
    'Conv2D(32, 3, "same")': 'padding is named: padding="same" (a string after the kernel size is the activation)',
    "LSTM(64, recurrent_dropout=0.2)": "for dropout between stacked layers use dropout=… with num_layers > 1; "
    "for dropout on the outputs add Dropout(…) after this layer",
}


@pytest.mark.parametrize("text,input_,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_layer_call_is_refused_with_a_located_reason(text, input_, message):
    with pytest.raises(NeuralForgeError) as err:
        propagate(parse(net(text, input_)))
    assert str(err.value) == f"<dsl>:4:5: {message}"
    assert "has no parameter" not in str(err.value)
    if text in HINTS:
        assert err.value.hint == HINTS[text]
