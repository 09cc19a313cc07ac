"""The Neural DSL parser: every spelling in shared/DSL.md, and errors with line and column."""

from __future__ import annotations

import re

import pytest

from neural_engine.dsl import parse, parse_file
from neural_engine.errors import DSLSyntaxError, ShapeError, ValidationError
from neural_engine.ir import HPO, Call
from neural_engine.shapes import propagate


def net(layers: str, input_: str = "(28, 28, 1)", extra: str = "") -> str:
    return f"network N {{\n  input: {input_}\n  layers:\n    {layers}\n{extra}}}\n"


def params_of(layers: str, input_: str = "(28, 28, 1)", i: int = 0) -> dict:
    return parse(net(layers, input_)).nodes[i].params


# rows from the issue: (layer text, expected params of the first node)
PARAM_ROWS = [
    ("Dense(1e3)", {"units": 1000}),
    ("Dropout(1e-2)", {"rate": 0.01}),
    ('MaxPooling2D((3, 3), 2, "valid")', {"pool_size": (3, 3), "strides": 2, "padding": "valid"}),
    (
        "LSTM(128, return_sequences=true, dropout=0.2)",
        {"units": 128, "return_sequences": True, "dropout": 0.2},
    ),
    ("MultiHeadAttention(num_heads=8, key_dim=64)", {"num_heads": 8, "key_dim": 64}),
    ("Embedding(input_dim=10000, output_dim=128)", {"input_dim": 10000, "output_dim": 128}),
    ("Dense(HPO(choice(128, 256)))", {"units": HPO("choice", (128, 256))}),
    ("Dense(units=HPO(range(32, 256, step=32)))", {"units": HPO("range", low=32, high=256, step=32)}),
    ("Dense(choice(64, 128))", {"units": HPO("choice", (64, 128))}),
    ("Dropout(HPO(range(min=0.1, max=0.5, step=0.1)))", {"rate": HPO("range", low=0.1, high=0.5, step=0.1)}),
    ("Dense(256.0)", {"units": 256}),
    ("Conv2D(filters: 64, kernel_size: 3)", {"filters": 64, "kernel_size": 3}),
    (
        'Conv2D(filters=64, kernel_size=(3,3), strides=2, padding="same")',
        {"filters": 64, "kernel_size": (3, 3), "strides": 2, "padding": "same"},
    ),
    ("Dense(64, relu)", {"units": 64, "activation": "relu"}),
    ("Dense(64, 'swish')", {"units": 64, "activation": "silu"}),
    ("Reshape((784,))", {"target_shape": (784,)}),
    ("Reshape((784))", {"target_shape": (784,)}),
    ("LeakyReLU(alpha=0.1)", {"negative_slope": 0.1}),
]


@pytest.mark.parametrize("text,expected", PARAM_ROWS, ids=[r[0] for r in PARAM_ROWS])
def test_parameters(text, expected):
    shape = (
        "(10, 32)"
        if text.startswith(("LSTM", "MultiHead"))
        else "(100,)"
        if "Embedding" in text
        else "(28, 28, 1)"
    )
    assert params_of(text, shape) == expected


def test_names_match_case_insensitively_and_print_canonically():
    g = parse(net("maxpooling2d(2) conv2d(4, 3) linear(5)"))
    assert [n.type for n in g.nodes] == ["MaxPooling2D", "Conv2D", "Dense"]


def test_comments_everywhere_and_any_section_order():
    text = """
    // a file
    network N { # trailing
      layers: /* inline */ Dense(4)   // after
      loss: mse
      input: (8,)
      optimizer: "Adam" { learning_rate: 0.01 }
    }
    """
    g = parse(text)
    assert g.inputs == {"input": (8,)} and g.training["loss"] == "mse"
    assert g.training["optimizer"] == Call("Adam", (), {"learning_rate": 0.01})


@pytest.mark.parametrize(
    "spelling,inputs",
    [
        ("(28, 28, 1)", {"input": (28, 28, 1)}),
        ("(None, 28, 28, 1)", {"input": (28, 28, 1)}),
        ("(784,)", {"input": (784,)}),
        ("shape(1, 28, 28)", {"input": (1, 28, 28)}),
        ("{image: (28, 28, 1), meta: (10,)}", {"image": (28, 28, 1), "meta": (10,)}),
        ("(10,), (20,)", {"input_0": (10,), "input_1": (20,)}),
    ],
)
def test_input_spellings(spelling, inputs):
    reads_all = " ".join(f"Dense(2) <- {name}" for name in inputs)  # every input must feed a layer
    assert parse(net(reads_all, spelling)).inputs == inputs


@pytest.mark.parametrize(
    "section,key,value",
    [
        ("optimizer: Adam(learning_rate=0.001)", "optimizer", Call("Adam", (), {"learning_rate": 0.001})),
        ('optimizer: "adam"', "optimizer", Call("Adam")),
        ("optimizer: Adam", "optimizer", Call("Adam")),
        ('loss: "categorical_crossentropy"', "loss", "categorical_crossentropy"),
        ("loss: categorical_cross_entropy", "loss", "categorical_crossentropy"),
        ("loss: Huber(delta=1.0)", "loss", Call("huber", (), {"delta": 1.0})),
        ('metrics: ["accuracy", "f1",]', "metrics", ("accuracy", "f1")),
        (
            "lr_schedule: StepDecay(step_size=10, gamma=0.1)",
            "lr_schedule",
            Call("StepDecay", (), {"step_size": 10, "gamma": 0.1}),
        ),
        ("train { epochs: 3 batch_size: 16 }", "epochs", 3),
        ("training: { epochs: 3, validation_split: 0.25 }", "validation_split", 0.25),
        ('execute { device: "cuda" }', "execution", {"device": "cuda"}),
        ('execution: { device: "auto", num_workers: 2 }', "execution", {"device": "auto", "num_workers": 2}),
    ],
)
def test_sections(section, key, value):
    assert parse(net("Dense(2)", "(8,)", extra=f"  {section}\n")).training[key] == value


def test_schedule_with_hpo_initial_rate():
    g = parse(
        net(
            "Dense(2)",
            "(8,)",
            extra="  optimizer: SGD(learning_rate=ExponentialDecay("
            "HPO(range(0.05, 0.2, step=0.05)), 1000, 0.96), momentum=0.9)\n",
        )
    )
    opt = g.training["optimizer"]
    schedule = opt.kwargs["learning_rate"]
    assert opt.name == "SGD" and opt.kwargs["momentum"] == 0.9
    assert schedule == Call("ExponentialDecay", (HPO("range", low=0.05, high=0.2, step=0.05), 1000, 0.96))


def test_layers_as_a_list_and_repetition_makes_independent_copies():
    g = parse(net('[Dense(64, "relu") * 3, Dense(2),]', "(8,)"))
    assert [n.id for n in g.nodes] == ["dense_1", "dense_2", "dense_3", "dense_4"]
    assert [(e.source, e.target) for e in g.edges][:2] == [("input", "dense_1"), ("dense_1", "dense_2")]


def test_device_hint_kept_and_bad_one_listed():
    assert parse(net('Conv2D(64, (3,3)) @ "cuda:0"')).nodes[0].device == "cuda:0"
    with pytest.raises(ValidationError, match="cpu, cuda, cuda:N, gpu, tpu, xla") as e:
        parse(net('Conv2D(64, (3,3)) @ "npu"'))
    assert (e.value.span.line, e.value.span.column) == (4, 25)


def test_residual_block_and_wrappers():
    g = parse(
        net(
            'ResidualConnection { Conv2D(1, 3, padding="same")  BatchNormalization() } '
            "Reshape((28, 28)) TimeDistributed(Dense(64)) Bidirectional(LSTM(8, return_sequences=true))"
        )
    )
    res, _, td, bi = g.nodes
    assert [b.type for b in res.body] == ["Conv2D", "BatchNormalization"]
    assert td.body[0].params == {"units": 64} and bi.body[0].type == "LSTM"
    a = propagate(g)
    assert a.nodes[bi.id].output.user == (28, 16)


def test_block_after_a_plain_layer_runs_after_it_with_a_warning():
    parsed = parse_file(net("Dense(8) { Dropout(0.1) Dense(4) }", "(8,)"))
    g = parsed.default
    assert [n.type for n in g.nodes] == ["Dense", "Dropout", "Dense"]
    assert any("runs after it" in w.message for w in parsed.warnings)


def test_graph_extension_labels_sources_merges_and_branches():
    text = net("""stem = Conv2D(8, 3, padding="same")
    Conv2D(8, 3, padding="same")
    Add(stem)
    skip = Conv2D(4, 1) <- stem
    Concatenate() <- [add_1, skip]""")
    g = parse(text)
    assert g.predecessors("add_1") == ["conv2d_1", "stem"] or g.predecessors("add_1") == ["conv2d_2", "stem"]
    assert g.predecessors("concatenate_1") == ["add_1", "skip"]
    assert propagate(g).nodes["concatenate_1"].output.user == (28, 28, 12)


def test_branches_from_named_inputs():
    text = net(
        """image: { Conv2D(4, 3) GlobalAveragePooling2D() }
    meta: { Dense(4) }
    Concatenate() <- [image, meta]
    Output(2, "softmax")""",
        "{image: (8, 8, 1), meta: (3,)}",
    )
    g = parse(text)
    assert g.predecessors("concatenate_1") == ["globalaveragepooling2d_1", "dense_1"]
    assert propagate(g).nodes["output_1"].output.user == (2,)


def test_macros_with_defaults_nesting_arithmetic_and_origin():
    text = """
    define ConvBN(filters, kernel_size=3) {
      Conv2D(filters=$filters, kernel_size=$kernel_size, padding="same", use_bias=false)
      BatchNormalization()
    }
    macro Stage(f) { ConvBN($f) ConvBN(filters=$f/4, kernel_size=1) }
    define Stem { Conv2D(32, 3) MaxPooling2D(2) }
    network N {
      input: (32, 32, 3)
      layers:
        Stem
        Stage(64) * 2
        Stem()
    }
    """
    g = parse(text)
    convs = [n for n in g.nodes if n.type == "Conv2D"]
    assert [c.params["filters"] for c in convs] == [32, 64, 16, 64, 16, 32]
    assert convs[1].origin.macros == ("Stage@12:9", "ConvBN@6:22")
    assert convs[2].params["kernel_size"] == 1


def test_macro_division_that_is_not_exact_fails_on_an_integer_parameter():
    text = "define D(u) { Dense($u/3) }\n" + net("D(10)", "(8,)")
    with pytest.raises(ValidationError, match="Dense units must be an integer; received 3.33"):
        parse(text)


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "define A { B } define B { A } " + net("A", "(8,)"),
            "must not call itself; received the cycle A → B → A",
        ),
        ("define A(x) { Dense($x) } " + net("A()", "(8,)"), "macro A needs 'x'"),
        ("define A(x) { Dense($y) } " + net("A(2)", "(8,)"), "unknown macro parameter $y"),
        ("define A(x) { Dense($x) } " + net("A(2, 3)", "(8,)"), "takes 1 arguments"),
    ],
)
def test_macro_errors(text, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        parse(text)


def test_macro_shadowing_a_layer_warns():
    parsed = parse_file("define Dense(u) { Linear($u) ReLU() } " + net("Dense(3)", "(8,)"))
    assert [n.type for n in parsed.default.nodes] == ["Dense", "ReLU"]
    assert any("shadows the built-in layer" in w.message for w in parsed.warnings)


def test_several_networks_the_last_is_the_default_and_duplicates_warn():
    text = (
        net("Dense(1)", "(4,)").replace("network N", "network A")
        + net("Dense(2)", "(4,)")
        + net("Dense(3)", "(4,)")
    )
    parsed = parse_file(text)
    assert list(parsed.graphs) == ["A", "N"] and parsed.default.nodes[0].params == {"units": 3}
    assert parse(text, network="A").nodes[0].params == {"units": 1}
    assert any("defined twice" in w.message for w in parsed.warnings)
    with pytest.raises(ValidationError, match="must be defined"):
        parse(text, network="B")


@pytest.mark.parametrize(
    "layers,input_,shape",
    [
        ('Conv2D(16, 3, strides=2, padding="same")', "(28, 28, 3)", (14, 14, 16)),
        ("Conv2D(64, (7,7), strides=2)", "(224, 224, 3)", (109, 109, 64)),
    ],
)
def test_shapes(layers, input_, shape):
    g = parse(net(layers, input_))
    assert propagate(g).nodes[g.nodes[0].id].output.user == shape


@pytest.mark.parametrize(
    "layers,input_,extra,error,line,col,fragment",
    [
        ("Dropout(1.5)", "(8,)", "", ValidationError, 4, 5, "Dropout rate must be in [0, 1); received 1.5"),
        ("Dense(0)", "(8,)", "", ValidationError, 4, 5, "Dense units must be in [1, inf); received 0"),
        ("Dense(2)", "(0, -1)", "", ValidationError, 2, 3, "input dimensions must be positive integers"),
        (
            "Dense(2)",
            "(8,)",
            "  train { validation_split: 1.5 }\n",
            ValidationError,
            5,
            11,
            "validation_split must be a number in (0, 1); received 1.5",
        ),
        (
            "Dense(2)",
            "(8,)",
            "  train { epochs: 0 }\n",
            ValidationError,
            5,
            11,
            "epochs must be a positive integer",
        ),
        (
            "Dense(2)",
            "(8,)",
            "  train { epoch: 3 }\n",
            ValidationError,
            5,
            11,
            "train has no setting 'epoch'",
        ),
        ("Dense(2)", "(8,)", "  loss: mse2\n", ValidationError, 5, 3, "loss must be a known loss"),
        (
            "Dense(2)",
            "(8,)",
            "  optimizer: Adamm(learning_rate=0.1)\n",
            ValidationError,
            5,
            3,
            "known optimizer",
        ),
        (
            "Dense(2)",
            "(8,)",
            "  optimizer: Adam(learning_rate=-1)\n",
            ValidationError,
            5,
            3,
            "positive number",
        ),
        ("Conv2D(64, (5, 5))", "(3, 3, 1)", "", ShapeError, 4, 5, "does not fit the input (3, 3, 1)"),
        ("Conv2d_(4, 3)", "(8, 8, 1)", "", ValidationError, 4, 5, 'unknown layer type "Conv2d_"'),
        ('Lambda("x * 2")', "(8,)", "", ValidationError, 4, 5, "never evaluates user code"),
        ("Dense(2, unit=3)", "(8,)", "", ValidationError, 4, 14, "Dense has no parameter 'unit'"),
        ("Dense(2, 3, 4, 5)", "(8,)", "", ValidationError, 4, 5, "takes at most 3 positional arguments"),
        ("Dense(2) <- nowhere", "(8,)", "", ValidationError, 4, 5, "unknown input or label 'nowhere'"),
        ("Dense(2) * 0", "(8,)", "", ValidationError, 4, 5, "positive integer up to 10,000; received 0"),
        ("Dense(HPO(range(5, 1)))", "(8,)", "", ValidationError, 4, 15, "end must be greater than its start"),
        (
            "Dense(HPO(log_range(0, 1)))",
            "(8,)",
            "",
            ValidationError,
            4,
            15,
            "log_range start must be positive",
        ),
        ('Dense(HPO(choice(1, "a")))', "(8,)", "", ValidationError, 4, 15, "values of one type"),
    ],
)
def test_errors_have_line_and_column(layers, input_, extra, error, line, col, fragment):
    with pytest.raises(error) as info:
        propagate(parse(net(layers, input_, extra)))
    assert fragment in str(info.value)
    assert (info.value.span.line, info.value.span.column) == (line, col)


def test_unknown_layer_suggestion_and_rendered_report():
    text = net("Conv2d_(4, 3)")
    with pytest.raises(ValidationError) as info:
        parse(text, file="mnist.neural")
    report = info.value.render(text)
    assert report.splitlines()[0].startswith("mnist.neural:4:5: ")
    assert report.splitlines()[2] == "        ^" and 'Did you mean "Conv2D"?' in report


def test_missing_closing_brace_names_the_network():
    text = "network MnistCNN {\n  input: (8,)\n  layers:\n    Dense(2)\n"
    with pytest.raises(DSLSyntaxError, match="close `network MnistCNN` opened at line 1") as info:
        parse(text)
    assert info.value.span.line == 1


def test_unclosed_inner_block_is_named():
    text = "network N {\n  input: (8,)\n  layers:\n    Sequential {\n      Dense(2)\n}\n"
    with pytest.raises(DSLSyntaxError, match="opened at line"):
        parse(text)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("network N { input: (8,) layers: Dense(2 }", "expected"),
        ("network N { input: (8,) layers: Dense(2) } }", "unexpected '}'"),
        ("network N { input: (8,) layers: Dense(2) ^ }", "unexpected character '^'"),
        ('network N { input: (8,) layers: Dense(2, "relu) }', "unexpected character"),
    ],
)
def test_syntax_errors(text, fragment):
    with pytest.raises(DSLSyntaxError) as info:
        parse(text)
    assert fragment in str(info.value) and info.value.span.line == 1


def test_a_file_without_network_is_an_error():
    with pytest.raises(ValidationError, match="needs a `network Name"):
        parse("define A { Dense(2) }")


# Neural DSL as its users write it (issue 16): rows per point ------------------------------

TWO_BRANCHES = """image: { Conv2D(4, 3) GlobalAveragePooling2D() }
    meta: { Dense(4) }
    {merge}
    Output(2, "softmax")"""
TWO_INPUTS = "{image: (8, 8, 1), meta: (3,)}"

# (what, text, value read from the graph, expected)
ACCEPTED = [
    (
        "4: branches then a bare Concatenate merge them",
        net(TWO_BRANCHES.replace("{merge}", "Concatenate()"), TWO_INPUTS),
        lambda g: g.predecessors("concatenate_1"),
        ["globalaveragepooling2d_1", "dense_1"],
    ),
    (
        "4: a bare Add merges three branches in order",
        net("a: { Dense(4) } b: { Dense(4) } c: { Dense(4) } Add() Output(2)", "{a: (3,), b: (5,), c: (7,)}"),
        lambda g: g.predecessors("add_1"),
        ["dense_1", "dense_2", "dense_3"],
    ),
    (
        "4: a merge with its own sources keeps them",
        net(TWO_BRANCHES.replace("{merge}", "Concatenate() <- [meta, image]"), TWO_INPUTS),
        lambda g: g.predecessors("concatenate_1"),
        ["dense_1", "globalaveragepooling2d_1"],
    ),
    ("5: tpu:N like cuda:N", net('Dense(2) @ "tpu:1"', "(8,)"), lambda g: g.nodes[0].device, "tpu:1"),
    ("5: gpu:N too", net('Dense(2) @ "gpu:0"', "(8,)"), lambda g: g.nodes[0].device, "gpu:0"),
    (
        "5: a quoted optimizer call is the call",
        net("Dense(2)", "(8,)", '  optimizer: "Adam(learning_rate=0.001)"\n'),
        lambda g: g.training["optimizer"],
        Call("Adam", (), {"learning_rate": 0.001}),
    ),
    (
        "5: a quoted optimizer call with a search value",
        net(
            "Dense(2)", "(8,)", "  optimizer: 'SGD(learning_rate=HPO(log_range(1e-3, 1e-1)), momentum=0.9)'\n"
        ),
        lambda g: g.training["optimizer"],
        Call("SGD", (), {"learning_rate": HPO("log_range", low=1e-3, high=1e-1), "momentum": 0.9}),
    ),
    (
        "5: a quoted loss call is the call",
        net("Dense(2)", "(8,)", '  loss: "Huber(delta=2.0)"\n'),
        lambda g: g.training["loss"],
        Call("huber", (), {"delta": 2.0}),
    ),
    (
        "5: HPO(HPO(…)) is the inner search value",
        net("Dense(HPO(HPO(choice(8, 16))))", "(8,)"),
        lambda g: g.nodes[0].params["units"],
        HPO("choice", (8, 16)),
    ),
    (
        "2: a search value inside a tuple, inferred at its default",
        net("Conv2D(4, kernel_size=(HPO(choice(1, 3)), 3))", "(8, 8, 1)"),
        lambda g: (g.nodes[0].params["kernel_size"], propagate(g).nodes["conv2d_1"].output.user),
        ((HPO("choice", (1, 3)), 3), (8, 6, 4)),
    ),
]


@pytest.mark.parametrize("text,read,expected", [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED])
def test_accepted_spellings(text, read, expected):
    g = parse(text)
    propagate(g)
    assert read(g) == expected


# (what, text, error, line, column, part of the message, part of the hint or None)
LOCATED = [
    (
        "5: a search value choosing layers",
        net("Dense(4)\n    HPO(choice(Dense(128), Dropout(0.5)))", "(8,)"),
        ValidationError,
        5,
        5,
        "a search value cannot choose between layers",
        "Dense(HPO(choice(64, 128)))",
    ),
    (
        "5: a choice of layers as a parameter",
        net("Dense(HPO(choice(Dense(128), Dense(64))))", "(8,)"),
        ValidationError,
        4,
        15,
        "received the layer Dense(128)",
        "one network per alternative",
    ),
    (
        "5: a search value in a wrapper",
        net("TimeDistributed(choice(Dense(2), Dense(3)))", "(4, 8)"),
        ValidationError,
        4,
        21,
        "cannot choose between layers",
        None,
    ),
    (
        "5: nested search values",
        net("Dense(HPO(choice(HPO(range(16, 64)), 128)))", "(8,)"),
        ValidationError,
        4,
        22,
        "nested search values are not supported",
        "choice(16, 32, 64, 128)",
    ),
    (
        "5: a search value as a range bound",
        net("Dense(HPO(range(low=1, high=choice(8, 16))))", "(8,)"),
        ValidationError,
        4,
        33,
        "nested search values are not supported",
        None,
    ),
    (
        "5: a search value choosing the optimizer",
        net("Dense(2)", "(8,)", '  optimizer: HPO(choice("adam", "sgd"))\n'),
        ValidationError,
        5,
        3,
        "a search value cannot choose the optimizer",
        "Adam(learning_rate=HPO(log_range",
    ),
    (
        "5: a searched repetition count",
        net("Dense(4) * HPO(choice(2, 3))", "(8,)"),
        ValidationError,
        4,
        5,
        "received HPO(choice(2, 3))",
        "repetition count",
    ),
    (
        "5: a quoted optimizer call that does not parse",
        net("Dense(2)", "(8,)", '  optimizer: "Adam(learning_rate="\n'),
        DSLSyntaxError,
        5,
        3,
        "does not parse (it ends early)",
        "without quotes",
    ),
    (
        "6: an empty layers section",
        net("", "(8,)", '  loss: "mse"\n'),
        ValidationError,
        3,
        3,
        "needs at least one layer in `layers:`",
        "layers: Flatten() Dense(10)",
    ),
    (
        "6: an input nothing reads",
        net("Dense(2)", "{a: (8,), b: (4,)}"),
        ValidationError,
        2,
        3,
        "received input 'b', which nothing reads",
        "Concatenate() <- [a, b]",
    ),
    (
        "6: an empty macro",
        "define Nothing { }\n" + net("Nothing Dense(2)", "(8,)"),
        ValidationError,
        1,
        8,
        "macro Nothing needs at least one layer",
        "define Nothing { Dense(64) }",
    ),
    (
        "6: an empty branch",
        net("a: { } Dense(2)", "(8,)").replace("input: (8,)", "input: {a: (8,)}"),
        ValidationError,
        4,
        5,
        "branch a needs at least one layer",
        None,
    ),
    (
        "7: a residual connection without a body",
        net("Dense(8) ResidualConnection() Dense(2)", "(8,)"),
        ValidationError,
        4,
        14,
        "ResidualConnection needs a body of layers",
        "ResidualConnection { Conv2D",
    ),
    (
        "7: a residual connection with empty braces",
        net("Dense(8)\n    Residual { }", "(8,)"),
        ValidationError,
        5,
        5,
        "needs a body of layers",
        None,
    ),
    (
        "7: an unclosed block after a layer",
        "network N {\n  input: (16,)\n  layers:\n    Dense(8) {\n      Dropout(0.1)\n    Dense(4)\n}\n",
        DSLSyntaxError,
        4,
        14,
        "close `Dense` opened at line 4",
        "after the last item of `Dense`",
    ),
    (
        "7: an unclosed network on one line names the network, not input",
        "network N { input: (16,) layers: Dense(8) { Dropout(0.1) }",
        DSLSyntaxError,
        1,
        11,
        "close `network N`",
        None,
    ),
    (
        "7: a section keyword inside a block still open",
        'network N {\n  input: (16,)\n  layers:\n    Dense(8) {\n      Dropout(0.1)\n  loss: "mse"\n}\n',
        DSLSyntaxError,
        6,
        3,
        "unexpected 'loss'",
        "the `{` of `Dense` at line 4 is still open",
    ),
    (
        "7: a macro left open before a network",
        "define Block { Dense(2)\n" + net("Block", "(8,)"),
        DSLSyntaxError,
        1,
        14,
        "close `define Block` opened at line 1; received `network` at line 2",
        None,
    ),
    (
        "8: a channels-first input before a convolution",
        net("Conv2D(32, (3, 3))", "(1, 28, 28)"),
        ShapeError,
        4,
        5,
        "does not fit",
        "write input: (28, 28, 1), or add layout: channels_first",
    ),
    (
        "8: an Embedding given vectors",
        net("Embedding(input_dim=1000, output_dim=16) LSTM(8)", "(100, 300)"),
        ShapeError,
        4,
        5,
        "Embedding: takes token ids (steps,); received shape (100, 300)",
        "input: (steps,)",
    ),
]


@pytest.mark.parametrize(
    "text,error,line,col,message,hint", [r[1:] for r in LOCATED], ids=[r[0] for r in LOCATED]
)
def test_every_error_is_located(text, error, line, col, message, hint):
    with pytest.raises(error) as info:
        for g in parse_file(text, "f.neural").graphs.values():
            propagate(g)
    err = info.value
    assert message in err.message and "kind=" not in err.message  # never the dataclass repr
    assert (err.span.file, err.span.line, err.span.column) == ("f.neural", line, col)
    if hint:
        assert hint in err.hint


# (what, text, part of a warning)
WARNED = [
    (
        "8: a channels-first input a convolution still fits",
        net("Conv2D(8, 3)", "(3, 32, 32)"),
        "Conv2D sees 32 channels; for 3 channels write input: (32, 32, 3), or add layout: channels_first",
    ),
    (
        "4: branches followed by a layer that is not a merge",
        net(TWO_BRANCHES.replace("{merge}", "Dense(3)"), TWO_INPUTS),
        "the branches image, meta end here and Dense reads only the last (meta)",
    ),
]


@pytest.mark.parametrize("text,fragment", [r[1:] for r in WARNED], ids=[r[0] for r in WARNED])
def test_harmless_but_suspicious_is_a_warning(text, fragment):
    assert any(fragment in str(w) for w in parse_file(text).warnings)


def test_no_warning_when_the_layout_is_said():
    text = net("Conv2D(8, 3)", "(3, 32, 32)", "  layout: channels_first\n")
    assert not parse_file(text).warnings
