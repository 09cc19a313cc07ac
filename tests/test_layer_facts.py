"""Layer facts (``LayerSpec`` fields) are declared where each layer is defined, consistently across
the registry, and the stages that need them read the fields: channels_last detection, logits
heads, lints and Keras codegen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from neural_engine.build import build, prefers_channels_last
from neural_engine.codegen import generate_keras
from neural_engine.dsl import parse
from neural_engine.errors import ValidationError
from neural_engine.ir import GraphBuilder
from neural_engine.layers import REGISTRY, get
from neural_engine.report import report

SPECS = list(REGISTRY.values())
ROOT = Path(__file__).resolve().parents[1]


def net(layers: str, input_: str = "(16, 16, 3)") -> str:
    return f"network N {{\n  input: {input_}\n  layers:\n    {layers}\n}}\n"


# registry consistency ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_spatial_rank_matches_the_rank_in_the_name(spec):
    # a naming convention checked here, in the test, so that no stage has to parse names
    m = re.search(r"(\d)D(Transpose)?$", spec.name)
    assert spec.spatial_rank == (int(m.group(1)) if m else None)
    if spec.spatial_rank is not None:
        assert spec.order == "channels"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_each_fact_is_declared_by_the_layers_it_describes(spec):
    names = {p.name for p in spec.params}
    spatial_conv = spec.family == "convolution" and spec.spatial_rank == 2
    assert (spec.memory_format == "channels_last") == spatial_conv, "every 2D convolution, only those"
    assert spec.transposed == ("output_padding" in names)
    assert (spec.pooling is not None) == (spec.family == "pooling")
    if spec.dense:
        assert "units" in names and spec.order == "features"
    if spec.head:
        assert spec.dense and spec.activation_param


def test_one_head_one_flatten_one_softmax_layer():
    assert [s.name for s in SPECS if s.head] == ["Output"]
    assert [s.name for s in SPECS if s.flattens] == ["Flatten"]
    assert [s.name for s in SPECS if s.applies_softmax] == ["Softmax"]
    assert {s.name for s in SPECS if s.dense} == {"Dense", "Output"}


# the facts match what the built modules do ------------------------------------------------------


@pytest.mark.parametrize("spec", [s for s in SPECS if s.dense], ids=lambda s: s.name)
def test_only_heads_drop_their_activation_for_logits(spec):
    g = GraphBuilder("Head", {"x": (4,)})
    g.add(spec.name, "x", units=3, activation="softmax")
    x = torch.randn(5, 4)
    sums = build(g.build(), logits=True)(x).sum(-1)
    assert torch.allclose(sums, torch.ones(5)) != spec.head


@pytest.mark.parametrize("spec", [s for s in SPECS if s.applies_softmax], ids=lambda s: s.name)
def test_softmax_layers_output_probabilities(spec):
    g = GraphBuilder("Soft", {"x": (4,)})
    g.add(spec.name, "x")
    assert torch.allclose(build(g.build())(torch.randn(5, 4)).sum(-1), torch.ones(5))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.flattens], ids=lambda s: s.name)
def test_flattening_layers_give_one_feature_vector(spec):
    g = GraphBuilder("Flat", {"x": (3, 4, 5)})
    g.add(spec.name, "x")
    assert build(g.build())(torch.randn(2, 5, 3, 4)).shape == (2, 60)


# channels_last -------------------------------------------------------------------------------

CHANNELS_LAST_ROWS = [  # (layers, input, prefers channels_last)
    ("Conv2D(4, 3)", "(16, 16, 3)", True),
    ("Conv2DTranspose(4, 3)", "(16, 16, 3)", True),
    ("DepthwiseConv2D(3)", "(16, 16, 3)", True),
    ("SeparableConv2D(4, 3)", "(16, 16, 3)", True),
    ('ResidualConnection { DepthwiseConv2D(3, padding="same") }', "(16, 16, 3)", True),
    (
        'Sequential { BatchNormalization() ResidualConnection { Conv2D(3, 3, padding="same") } }',
        "(16, 16, 3)",
        True,
    ),
    ("TimeDistributed(Conv2D(4, 3))", "(5, 16, 16, 3)", True),
    ("MaxPooling2D(2) Flatten() Dense(4)", "(16, 16, 3)", False),
    ("Conv1D(4, 3)", "(16, 3)", False),  # 3D tensors: channels_last does not apply
    ("Conv3D(4, 3)", "(8, 8, 8, 3)", False),  # torch refuses channels_last for 5D weights
    ("LSTM(8) Output(2)", "(16, 3)", False),
]


@pytest.mark.parametrize(("layers", "input_", "expected"), CHANNELS_LAST_ROWS)
def test_prefers_channels_last(layers, input_, expected):
    assert prefers_channels_last(parse(net(layers, input_))) is expected


@pytest.mark.parametrize("layers", [r[0] for r in CHANNELS_LAST_ROWS if r[2] and r[1] == "(16, 16, 3)"])
def test_channels_last_networks_convert_and_compute_the_same(layers):
    model = build(parse(net(layers))).eval()
    x = torch.randn(2, 3, 16, 16)
    want = model(x)
    model = model.to(memory_format=torch.channels_last)
    got = model(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(got, want, atol=1e-5)


def test_conv3d_networks_cannot_go_channels_last():
    """Why Conv3D does not declare the preference: the conversion fails on its 5D weights."""
    with pytest.raises(RuntimeError, match="rank 4"):
        build(parse(net("Conv3D(4, 3)", "(8, 8, 8, 3)"))).to(memory_format=torch.channels_last)


# consumers ----------------------------------------------------------------------------------


def test_lints_read_the_facts():
    g = GraphBuilder("Flat", {"x": (64, 64, 32)})
    g.chain("x", ("Flatten", {}), ("Output", {"units": 256}))
    assert [lint.code for lint in report(g.build()).lints] == ["dense-after-flatten"]
    soft = GraphBuilder("Soft", {"x": (8,)})
    soft.chain("x", ("Dense", {"units": 4}), ("Softmax", {}))
    soft.training = {"loss": "categorical_crossentropy"}
    assert "softmax-before-cross-entropy" in {lint.code for lint in report(soft.build()).lints}


@pytest.mark.parametrize(
    ("layers", "input_", "expected"),
    [
        ("Conv2DTranspose(4, 3, padding=1)", "(8, 8, 3)", "layers.Cropping2D((1, 1)"),
        ("Conv1D(4, 3, padding=1)", "(8, 3)", "layers.ZeroPadding1D(1"),
        ("MaxPooling2D(3, 1, padding=1)", "(8, 8, 3)", 'value=float("-inf")'),
        ("AveragePooling3D(3, 1, padding=1)", "(8, 8, 8, 3)", "PaddedAveragePooling("),
        ("SimpleRNN(4, 'relu')", "(5, 3)", "activation='relu'"),
    ],
)
def test_keras_codegen_reads_rank_transpose_and_pooling_from_the_spec(layers, input_, expected):
    assert expected in generate_keras(parse(net(layers, input_)))


def test_keras_codegen_writes_no_activation_for_tanh_only_rnns():
    assert "activation" not in generate_keras(parse(net("LSTM(4)", "(5, 3)"))).split("def build_model")[1]


def test_keyword_is_the_one_check_for_parameter_names():
    conv = get("Conv2D")
    assert conv.keyword("stride").name == "strides"
    with pytest.raises(ValidationError, match="given twice"):
        conv.keyword("stride", {"strides"})
    with pytest.raises(ValidationError, match="no parameter 'unit'") as err:
        get("Dense").keyword("unit")
    assert "units" in err.value.hint


CONSUMERS = [
    "neural_engine/build.py",
    "neural_engine/lints.py",
    "neural_engine/dsl/lower.py",
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "neural_engine/codegen").glob("*.py"))),
]
NAME_TEST = re.compile(
    r"spec\.name\s*(==|!=|in\b|not in\b)|spec\.name\.(startswith|endswith)|re\.\w+\([^)]*spec\.name"
    r"|\"Transpose\" in|spec\._\w"
)


@pytest.mark.parametrize("path", CONSUMERS)
def test_consumers_test_no_layer_names(path):
    """A supplement to the behaviour tests above: no stage decides by a layer's name."""
    hits = [line.strip() for line in (ROOT / path).read_text().splitlines() if NAME_TEST.search(line)]
    assert hits == []
