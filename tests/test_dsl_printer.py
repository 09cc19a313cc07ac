"""Printer round trip: parse(print(g)) == g and printing is idempotent — for every template and
for random valid graphs (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neural_engine.dsl import parse, print_dsl
from neural_engine.ir import HPO, Call, Edge, Graph, GraphBuilder, Node
from neural_engine.shapes import propagate
from neural_engine.templates import TEMPLATES, template


def assert_round_trip(g: Graph) -> str:
    text = print_dsl(g)
    again = parse(text)
    assert again == g, text
    assert print_dsl(again) == text
    return text


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_round_trip(name):
    assert_round_trip(template(name))


def test_canonical_text_of_a_small_network():
    g = parse(
        "network T { input: (28, 28, 1) layers: conv2d(32, (3,3), activation=relu) "
        'maxpooling2d((2, 2)) Flatten() Dropout(.5) Output(10, "softmax") '
        'loss: sparse_categorical_crossentropy optimizer: adam metrics: ["accuracy"] }'
    )
    assert (
        print_dsl(g)
        == """network T {
  input: (28, 28, 1)
  layers:
    Conv2D(32, (3, 3), "relu")
    MaxPooling2D(pool_size=(2, 2))
    Flatten()
    Dropout(rate=0.5)
    Output(10, "softmax")
  loss: "sparse_categorical_crossentropy"
  optimizer: Adam()
  metrics: ["accuracy"]
}
"""
    )


# (layer as written, as printed): each layer keeps its positional convention — Neural DSL's slots
# where it has them (Conv*: filters, kernel_size, activation; Dense/Output: units, activation),
# else the required parameters; whatever a slot's value would not keep is named
PRINTED = [
    ('Conv2D(32, (3, 3), "relu")', 'Conv2D(32, (3, 3), "relu")'),
    (
        'Conv2D(filters=32, kernel_size=3, activation="relu", padding="same")',
        'Conv2D(32, 3, "relu", padding="same")',
    ),
    ("Conv2D(32, 3, 2)", "Conv2D(32, 3, strides=2)"),
    ('Conv2D(32, 3, 2, "same")', 'Conv2D(32, 3, strides=2, padding="same")'),
    ('Conv2D(32, 3, HPO(choice("relu", "tanh")))', 'Conv2D(32, 3, HPO(choice("relu", "tanh")))'),
    ('Conv1D(8, 5, "tanh")', 'Conv1D(8, 5, "tanh")'),
    ('Conv2DTranspose(8, 2, "relu", strides=2)', 'Conv2DTranspose(8, 2, "relu", strides=2)'),
    ('SeparableConv2D(16, 3, "relu")', 'SeparableConv2D(16, 3, "relu")'),
    ('DepthwiseConv2D(3, "relu")', 'DepthwiseConv2D(3, "relu")'),
    ("DepthwiseConv2D(3, 2)", "DepthwiseConv2D(3, strides=2)"),
    ('Dense(64, activation="relu", use_bias=false)', 'Dense(64, "relu", use_bias=false)'),
    ('Output(10, activation="softmax")', 'Output(10, "softmax")'),
    ("MaxPooling2D((2, 2), 2)", "MaxPooling2D(pool_size=(2, 2), strides=2)"),
]


@pytest.mark.parametrize("written,printed", PRINTED, ids=[w for w, _ in PRINTED])
def test_printing_keeps_each_layers_positional_convention(written, printed):
    g = parse(f"network P {{ input: (16, 16, 4) layers: {written} }}")
    text = assert_round_trip(g)
    assert text.splitlines()[3].strip() == printed


def test_strings_are_escaped():
    g = GraphBuilder("Odd", {"x": (8,)})
    g.add("Dense", "x", units=2)
    g.training = {"metrics": ('quote " back \\ slash\nnew line',)}
    assert_round_trip(g.build())


IDS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: (
        s
        not in {
            "network",
            "define",
            "macro",
            "input",
            "layout",
            "layers",
            "loss",
            "optimizer",
            "metrics",
            "lr_schedule",
            "train",
            "training",
            "execution",
            "execute",
            "true",
            "false",
            "null",
            "choice",
            "range",
            "log_range",
            "hpo",
        }
    )
)
WIDTH = 8
ACTIVATIONS = st.sampled_from([None, "relu", "tanh", "gelu", "sigmoid"])


@st.composite
def feature_layer(draw, ids):
    """One layer keeping a (WIDTH,) feature vector, with random parameters and spellings."""
    kind = draw(st.sampled_from(["Dense", "Dropout", "ReLU", "LayerNormalization", "Residual", "Sequential"]))
    node_id = draw(ids)
    device = draw(st.sampled_from([None, None, "cpu", "cuda:1"]))
    if kind == "Dense":
        units = draw(st.one_of(st.just(WIDTH), st.just(HPO("choice", (WIDTH, 2 * WIDTH)))))
        params = {"units": units}
        act = draw(ACTIVATIONS)
        if act:
            params["activation"] = act
        if draw(st.booleans()):
            params["use_bias"] = draw(st.booleans())
        return Node(node_id, "Dense", params, device=device)
    if kind == "Dropout":
        rate = draw(
            st.one_of(
                st.floats(0, 0.9, allow_nan=False).map(lambda r: round(r, 3)),
                st.just(HPO("range", low=0.1, high=0.5, step=0.1)),
            )
        )
        return Node(node_id, "Dropout", {"rate": rate}, device=device)
    if kind in ("ReLU", "LayerNormalization"):
        return Node(node_id, kind, {}, device=device)
    body = (Node(draw(ids), "Dense", {"units": WIDTH}),)
    return Node(node_id, "ResidualConnection" if kind == "Residual" else "Sequential", {}, body=body)


@st.composite
def graphs(draw):
    """Random valid graphs: a chain of feature layers with random skips into Add nodes."""
    ids = st.shared(st.just(None))  # placeholder so the strategy is built once per example
    del ids
    used: set[str] = {"x"}

    def fresh():
        return draw(IDS.filter(lambda s: s not in used).map(lambda s: (used.add(s), s)[1]))

    ids = st.builds(fresh)
    inputs = {"x": (WIDTH,)}
    if draw(st.booleans()):
        inputs["aux"] = (WIDTH,)
        used.add("aux")
    nodes, edges, outs = [], [], ["x"]
    for _i in range(draw(st.integers(1, 8))):
        if len(outs) > 1 and draw(st.integers(0, 3)) == 0:
            a, b = draw(st.sampled_from(outs)), outs[-1]
            node = Node(fresh(), "Add", {})
            sources = [b, a] if a != b else [b, "aux" if "aux" in inputs else "x"]
        else:
            node = draw(feature_layer(ids))
            sources = [outs[-1]]
        for slot, s in enumerate(sources):
            edges.append(Edge(f"e{len(edges)}", s, node.id, str(slot) if len(sources) > 1 else None))
        nodes.append(node)
        outs.append(node.id)
    training = {}
    if draw(st.booleans()):
        training["optimizer"] = Call(
            draw(st.sampled_from(["Adam", "SGD"])),
            (),
            {"learning_rate": draw(st.sampled_from([0.1, 1e-3, 2.5e-4]))},
        )
        training["loss"] = draw(st.sampled_from(["mse", "categorical_crossentropy"]))
        training["epochs"] = draw(st.integers(1, 50))
        training["metrics"] = ("accuracy",)
    if "aux" in inputs and not any(e.source == "aux" for e in edges):
        edges.append(Edge("eaux", "aux", "aux_add", "1"))
        edges.append(Edge("eaux0", nodes[-1].id, "aux_add", "0"))
        nodes.append(Node("aux_add", "Add", {}))
    return Graph("Random", inputs, tuple(nodes), tuple(edges), "channels_last", training)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_round_trip(g):
    propagate(g)  # the generator makes valid graphs only
    assert_round_trip(g)
