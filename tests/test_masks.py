"""Padding masks from ``Embedding(mask_zero=true)``: the built module skips padded steps as Keras
does (Keras 3 is the oracle, run once in a subprocess with the torch backend), padding never
changes a result, and the generated PyTorch source carries the same masks.

Batches are right-padded: id 0 after each sequence's last real id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from neural_engine.build import build
from neural_engine.dsl import parse
from neural_engine.errors import ValidationError
from neural_engine.shapes import propagate
from tests.test_codegen import assert_same_module

VOCAB, EMBED, STEPS = 12, 6, 7
LENGTHS = (7, 4, 1, 5)


def net(layers: str, steps: int = STEPS) -> str:
    return (
        f"network Masked {{ input: ({steps},) layers: Embedding({VOCAB}, {EMBED}, mask_zero=true) {layers} }}"
    )


def padded(lengths=LENGTHS, steps: int = STEPS, seed: int = 0) -> torch.Tensor:
    """Right-padded ids (N, steps): real ids 1..VOCAB-1, then zeros."""
    ids = torch.randint(1, VOCAB, (len(lengths), steps), generator=torch.Generator().manual_seed(seed))
    return ids * (torch.arange(steps) < torch.tensor(lengths)[:, None])


def model(layers: str, steps: int = STEPS):
    torch.manual_seed(0)
    return build(parse(net(layers, steps))).eval()


# Keras as the oracle ---------------------------------------------------------------------------

# (layers after the embedding, their Keras equivalents: (kind, *args) per node)
KERAS_ROWS = [
    ("LSTM(5)", [("LSTM", 5, False)]),
    ("LSTM(5, return_sequences=true)", [("LSTM", 5, True)]),
    ("GRU(5, return_sequences=true)", [("GRU", 5, True)]),
    ("GRU(5)", [("GRU", 5, False)]),
    ("Dense(4) SimpleRNN(5)", [("Dense", 4), ("SimpleRNN", 5, False)]),
    ("Bidirectional(LSTM(4, return_sequences=true))", [("Bidirectional", "LSTM", 4, True)]),
    ("Bidirectional(GRU(4))", [("Bidirectional", "GRU", 4, False)]),
    ("Dense(4) GlobalAveragePooling1D()", [("Dense", 4), ("GlobalAveragePooling1D",)]),
    ("MultiHeadAttention(2, key_dim=3)", [("MultiHeadAttention", 2, 3)]),
    (
        "LSTM(4, return_sequences=true) Dropout(0.2) GRU(3)",
        [("LSTM", 4, True), ("Dropout",), ("GRU", 3, False)],
    ),
]

KERAS_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import numpy as np
    from keras import layers

    def make(kind, *args):
        if kind == "Bidirectional":
            inner, units, seqs = args
            return layers.Bidirectional(getattr(layers, inner)(units, return_sequences=seqs))
        if kind in ("LSTM", "GRU", "SimpleRNN"):
            return getattr(layers, kind)(args[0], return_sequences=args[1])
        if kind == "MultiHeadAttention":
            return layers.MultiHeadAttention(args[0], args[1])
        if kind == "Dropout":
            return layers.Dropout(0.2)
        return getattr(layers, kind)(*args)

    rows, arrays = json.loads(sys.argv[1]), np.load(sys.argv[2])
    out = {}
    for i, row in enumerate(rows):
        ids = keras.Input((arrays[f"{i}/ids"].shape[1],), dtype="int32")
        embedding = layers.Embedding(row["vocab"], row["embed"], mask_zero=True)
        x, stack = embedding(ids), [embedding]
        for spec in row["layers"]:
            stack.append(make(*spec))
            x = stack[-1](x, x) if spec[0] == "MultiHeadAttention" else stack[-1](x)
        model = keras.Model(ids, x)
        for j, layer in enumerate(stack):
            n = sum(k.startswith(f"{i}/w/{j}/") for k in arrays.files)
            layer.set_weights([arrays[f"{i}/w/{j}/{k}"] for k in range(n)])
        y = model(arrays[f"{i}/ids"].astype("int32"), training=False)
        out[str(i)] = keras.ops.convert_to_numpy(y).tolist()
    print(json.dumps(out))
""")


def _rnn_weights(rnn: torch.nn.Module, kind: str, suffix: str = "") -> list[np.ndarray]:
    """torch's (W_ih, W_hh, b_ih, b_hh) as Keras' (kernel, recurrent_kernel, bias)."""
    w_ih, w_hh, b_ih, b_hh = (
        getattr(rnn, f"{n}_l0{suffix}").detach().numpy()
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    if kind == "GRU":  # torch's gates (r, z, n) are Keras' (z, r, h); Keras keeps both biases
        order = lambda a: np.concatenate([np.split(a, 3)[k] for k in (1, 0, 2)])
        return [order(w_ih).T, order(w_hh).T, np.stack([order(b_ih), order(b_hh)])]
    return [w_ih.T, w_hh.T, b_ih + b_hh]  # LSTM gates (i, f, g, o) are Keras' order too


def _keras_weights(module: torch.nn.Module, spec: tuple) -> list[np.ndarray]:
    kind = spec[0]
    if kind == "Embedding":
        return [module.weight.detach().numpy()]
    if kind == "Dense":
        return [module.weight.detach().numpy().T, module.bias.detach().numpy()]
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        return _rnn_weights(module.rnn, kind)
    if kind == "Bidirectional":
        return _rnn_weights(module.rnn, spec[1]) + _rnn_weights(module.rnn, spec[1], "_reverse")
    if kind == "MultiHeadAttention":
        h, kd = module.num_heads, module.key_dim
        out = []
        for lin in (module.query, module.key, module.value):
            out += [
                lin.weight.detach().numpy().T.reshape(-1, h, kd),
                lin.bias.detach().numpy().reshape(h, kd),
            ]
        return out + [
            module.output.weight.detach().numpy().T.reshape(h, kd, -1),
            module.output.bias.detach().numpy(),
        ]
    return []


@pytest.fixture(scope="module")
def keras_outputs(tmp_path_factory):
    """Every row's Keras output on the padded batch, from one Keras subprocess."""
    arrays, rows = {}, []
    for i, (layers, specs) in enumerate(KERAS_ROWS):
        m = model(layers)
        arrays[f"{i}/ids"] = padded().numpy()
        for j, spec in enumerate([("Embedding",), *specs]):
            for k, w in enumerate(_keras_weights(list(m.layers.values())[j], spec)):
                arrays[f"{i}/w/{j}/{k}"] = w
        rows.append({"vocab": VOCAB, "embed": EMBED, "layers": specs})
    path = tmp_path_factory.mktemp("keras_masks") / "weights.npz"
    np.savez(path, **arrays)
    run = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, json.dumps(rows), str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("i", range(len(KERAS_ROWS)), ids=[r[0] for r in KERAS_ROWS])
def test_masked_model_equals_keras_on_right_padded_batches(i, keras_outputs):
    layers = KERAS_ROWS[i][0]
    with torch.no_grad():
        ours = model(layers)(padded()).numpy()
    keras = np.asarray(keras_outputs[str(i)], dtype=np.float32)
    assert ours.shape == keras.shape
    if ours.ndim == 3 and "MultiHeadAttention" in layers:  # padded query rows differ: compare real steps
        real = (padded() != 0).numpy()
        ours, keras = ours[real], keras[real]
    np.testing.assert_allclose(ours, keras, atol=1e-5, rtol=0)


# padding never changes a result -----------------------------------------------------------------

INVARIANT = [
    "LSTM(5)",
    "GRU(5, return_sequences=true) GlobalAveragePooling1D()",
    "SimpleRNN(5, num_layers=2)",
    "Bidirectional(LSTM(4, return_sequences=true))",
    'Bidirectional(GRU(4), merge_mode="sum")',
    "Dense(8) GlobalAveragePooling1D()",
    "MultiHeadAttention(2) LayerNormalization()",
    "PositionalEncoding() TransformerEncoder(2, use_attention_mask=true, dropout=0.0)",
    "TransformerDecoder(2, dropout=0.0, causal=false)",
    "ResidualConnection { Dense(6) Dropout(0.1) } LSTM(3)",
    "a = Dense(6) b = Dense(6) <- embedding_1 Add() <- [a, b] GRU(3)",
    'TimeDistributed(Dense(4)) Activation("relu") GlobalAveragePooling1D()',
]


@pytest.mark.parametrize("layers", INVARIANT)
def test_padding_does_not_change_the_result(layers):
    """Each padded sequence gives what it gives alone, unpadded (at its real steps), and more
    padding at the end changes nothing."""
    ids = padded()
    m, longer = model(layers), model(layers, STEPS + 3)
    longer.load_state_dict(m.state_dict())
    with torch.no_grad():
        y = m(ids)
        y_longer = longer(torch.nn.functional.pad(ids, (0, 3)))
        for row, n in enumerate(LENGTHS):
            alone = model(layers, n)
            alone.load_state_dict(m.state_dict())
            expect = alone(ids[row : row + 1, :n])[0]
            got, got_longer = (y[row, :n], y_longer[row, :n]) if y.dim() == 3 else (y[row], y_longer[row])
            torch.testing.assert_close(got, expect, atol=1e-5, rtol=0)
            torch.testing.assert_close(got_longer, expect, atol=1e-5, rtol=0)


def test_masks_stop_where_keras_drops_them():
    a = propagate(parse(net("Dense(4) Conv1D(4, 1) LSTM(3, return_sequences=true) Flatten()")))
    carried = {nid for nid, m in a.masks.items() if m.carried}
    assert carried == {"embedding_1", "dense_1"}
    assert a.masks["lstm_1"].reads == ()  # the convolution ended it, as in Keras


def test_use_attention_mask_needs_a_masked_embedding():
    text = "network N { input: (7,) layers: Embedding(12, 6) TransformerEncoder(2, use_attention_mask=true) }"
    with pytest.raises(ValidationError) as err:
        propagate(parse(text))
    assert err.value.node == "transformerencoder_1" and err.value.span.line == 1
    assert "expected a padding mask from an Embedding(mask_zero=true)" in str(err.value)
    assert "mask_zero=true" in err.value.hint


# the generated PyTorch source carries the same masks -------------------------------------------

CODEGEN = [
    "Bidirectional(LSTM(4, return_sequences=true)) GlobalAveragePooling1D()",
    "a = Dense(6) b = Dense(6) <- embedding_1 Add() <- [a, b] MultiHeadAttention(2) GRU(3)",
    "TransformerEncoder(2, use_attention_mask=true) TransformerDecoder(2)",
]


@pytest.mark.parametrize("layers", CODEGEN)
def test_generated_pytorch_equals_built_masked_module(layers, tmp_path):
    torch.manual_seed(0)
    assert_same_module(parse(net(layers)), tmp_path, "masked")
