"""The report: totals, the training-memory formula, and each lint firing (and not firing)."""

from __future__ import annotations

import json

import pytest

from neural_engine.ir import GraphBuilder
from neural_engine.report import report, training_memory
from neural_engine.shapes import propagate
from neural_engine.templates import TEMPLATES, template


def test_memory_estimate_follows_the_documented_formula():
    g = GraphBuilder("M", {"x": (10,)})
    g.chain("x", ("Dense", {"units": 20}), ("ReLU", {}), ("Dense", {"units": 5}))
    a = propagate(g.build())
    m = training_memory(a, batch_size=4, dtype="float32", optimizer_name="Adam")
    params = 10 * 20 + 20 + 20 * 5 + 5
    assert m.weights == params * 4 and m.gradients == params * 4
    assert m.optimizer_state == params * 4 * 2
    assert m.activations == 4 * (10 + 20 + 20 + 5) * 4
    assert m.total == m.weights + m.gradients + m.optimizer_state + m.activations
    sgd = training_memory(a, batch_size=4, dtype="float16", optimizer_name="sgd")
    assert sgd.optimizer_state == params * 4 and sgd.weights == params * 2


def test_report_totals_and_json():
    r = report(template("mnist_cnn"))
    assert r.params == sum(n.params for n in r.nodes)
    assert r.flops == sum(n.flops for n in r.nodes)
    d = json.loads(json.dumps(r.to_json()))
    assert d["memory"]["total"] == r.memory.total and d["memory"]["batch_size"] == 32
    assert d["nodes"][0]["output_shape"] == [26, 26, 32]
    assert "Params: 315,146 trainable" in r.table()


def codes(graph) -> set[str]:
    return {lint.code for lint in report(graph).lints}


def test_templates_are_lint_free():
    for name in TEMPLATES:
        assert codes(template(name)) == set(), name


def test_huge_tensor_lint():
    g = GraphBuilder("Big", {"x": (512, 512, 3)})
    g.add("Conv2D", "x", filters=256, kernel_size=3, padding="same")
    r = report(g.build(), batch_size=32)
    (lint,) = r.lints
    assert lint.code == "huge-tensor" and "GiB at batch size 32" in lint.message


EMBEDDING = ("Embedding", {"input_dim": 100, "output_dim": 16, "mask_zero": True})
CONV = ("Conv1D", {"filters": 16, "kernel_size": 1})
TWO_LAYERS = ("Bidirectional", {}, [("LSTM", {"units": 8, "num_layers": 2})])


@pytest.mark.parametrize(
    "between, reader, lints",
    [
        ([("Dropout", {"rate": 0.1}), ("LayerNormalization", {})], ("LSTM", {"units": 8}), []),
        ([("Dense", {"units": 16})], ("MultiHeadAttention", {"num_heads": 2}), []),
        ([CONV], ("LSTM", {"units": 8}), [("conv1d_1", "Conv1D (conv1d_1), so LSTM (lstm_1)")]),
        ([CONV, ("Dropout", {"rate": 0.1})], ("GRU", {"units": 8}), [("conv1d_1", "so GRU (gru_1)")]),
        ([], TWO_LAYERS, [("bidirectional_1", "Bidirectional (bidirectional_1), so Bidirectional")]),
        ([CONV], ("Dense", {"units": 8}), []),  # nothing after it skips padded steps
    ],
)
def test_mask_zero_lint_says_where_the_padding_mask_ends(between, reader, lints):
    g = GraphBuilder("Masked", {"ids": (20,)})
    x = g.add(EMBEDDING[0], "ids", **EMBEDDING[1])
    for layer in [*between, reader]:
        body = [g.node(t, **p) for t, p in layer[2]] if len(layer) == 3 else ()
        x = g.add(layer[0], x, body=body, **layer[1])
    found = [lint for lint in report(g.build()).lints if lint.code == "mask-not-passed"]
    assert [(lint.node, "padded steps") for lint in found] == [(n, "padded steps") for n, _ in lints]
    for lint, (_, text) in zip(found, lints):
        assert text in lint.message and "reads padded steps as ordinary steps" in lint.message


def test_dense_after_large_flatten_suggests_global_pooling():
    g = GraphBuilder("Flat", {"x": (64, 64, 32)})
    g.chain("x", ("Flatten", {}), ("Dense", {"units": 256}))
    (lint,) = report(g.build()).lints
    assert lint.code == "dense-after-flatten" and "GlobalAveragePooling2D" in lint.hint


def test_bottleneck_lint():
    g = GraphBuilder("Neck", {"x": (64,)})
    g.chain("x", ("Dense", {"units": 3}), ("Output", {"units": 10}))
    assert codes(g.build()) == {"bottleneck"}


def test_softmax_before_cross_entropy():
    g = GraphBuilder("Soft", {"x": (64,)})
    g.add("Dense", "x", units=10, activation="softmax")
    g.training = {"loss": "categorical_crossentropy"}
    assert codes(g.build()) == {"softmax-before-cross-entropy"}
    g2 = GraphBuilder("Soft", {"x": (64,)})
    g2.add("Output", "x", units=10, activation="softmax")
    g2.training = {"loss": "sparse_categorical_cross_entropy"}
    assert codes(g2.build()) == set()


def test_search_values_use_their_defaults_and_the_table_says_so():
    from neural_engine.dsl import parse

    g = parse(
        "network N { input: (8,) layers: Dense(HPO(choice(4, 8))) Output(2) "
        "train { batch_size: HPO(choice(16, 32)) } }"
    )
    r = report(g)
    assert r.memory.batch_size == 16 and r.nodes[0].output_shape == (4,)
    assert set(r.search_values) == {"dense_1.units", "train.batch_size"}
    assert "  train.batch_size = 16 (the first of HPO(choice(16, 32)))" in r.table().splitlines()
    assert report(g, batch_size=4).memory.batch_size == 4
