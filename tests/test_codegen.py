"""Code generation: generated PyTorch equals the built module; generated Keras has the reported
parameters (apart from the listed conventions); names from the user never become code.

Generated files run only here, imported from a temp dir (STYLE point 8). Keras runs in one
subprocess with KERAS_BACKEND=torch, since Keras picks its backend once, at import.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from neural_engine import layers
from neural_engine.build import build, example_inputs
from neural_engine.codegen import TARGETS, generate_keras, generate_pytorch
from neural_engine.codegen.keras import KERAS, SAME_AS_KERAS, keras_param_difference
from neural_engine.codegen.names import Names, class_name, literal
from neural_engine.errors import ExportError
from neural_engine.ir import HPO, Graph, GraphBuilder
from neural_engine.report import report
from neural_engine.shapes import propagate
from neural_engine.templates import template
from tests.cases import all_cases
from tests.test_layers_oracle import single_layer_graph
from tests.test_templates import SMALL

CASES = all_cases()
KERAS_REFUSED = {c.id for c in CASES if c.params.get("padding_idx") is not None}  # no padding row in Keras


def load(source: str, directory, name: str):
    """Import generated source from a file (the only way generated code runs)."""
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _top(module) -> str:
    """The model class is the last class defined (bodies come first)."""
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and v.__module__ == module.__name__
        and issubclass(v, torch.nn.Module)
        and v.__name__ != "DiceLoss"
    ]
    return classes[-1].__name__


def assert_same_module(graph: Graph, tmp_path, name: str, logits: bool = False):
    analysis = propagate(graph)
    module = load(generate_pytorch(analysis), tmp_path, name)
    cls = getattr(module, _top(module))
    generated = cls(logits=True) if logits else cls()
    built = build(analysis, logits=logits)
    assert {k: v.shape for k, v in generated.state_dict().items()} == {
        k: v.shape for k, v in built.state_dict().items()
    }
    generated.load_state_dict(built.state_dict())
    generated.eval(), built.eval()
    inputs = example_inputs(analysis, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(generated(*inputs), built(*inputs))


# PyTorch ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SMALL))
def test_generated_pytorch_equals_built_template(name, tmp_path):
    torch.manual_seed(0)
    graph = template(name, **SMALL[name])
    assert_same_module(graph, tmp_path, name)
    if name == "mnist_cnn":  # the training form: an Output head without its softmax
        assert_same_module(graph, tmp_path, name + "_logits", logits=True)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_generated_pytorch_equals_built_layer(case, tmp_path):
    torch.manual_seed(0)
    assert_same_module(single_layer_graph(case), tmp_path, "case")


def test_generated_pytorch_reads_like_the_example():
    source = generate_pytorch(template("mnist_cnn"))
    assert "class MnistCNN(nn.Module):" in source
    assert "x = self.layers.conv2d_1(image)  # (N, 32, 26, 26)" in source
    assert "self.layers.conv2d_1 = nn.Sequential(nn.Conv2d(1, 32, (3, 3)), nn.ReLU())" in source
    ast.parse(source)


def test_layout_moves_are_explicit():
    g = GraphBuilder("Moves", {"x": (6, 6, 4)})
    g.add("Dense", g.add("Conv2D", "x", filters=4, kernel_size=1), units=3)
    source = generate_pytorch(g.build())
    assert "self.layers.dense_1(x.movedim(1, -1))  # (N, 6, 6, 3)" in source


def test_several_outputs_return_a_tuple(tmp_path):
    g = GraphBuilder("Two heads", {"x": (8,)})
    h = g.add("Dense", "x", units=4, activation="relu")
    g.add("Dense", h, units=2)
    g.add("Output", h, units=3, activation="softmax")
    source = generate_pytorch(g.build())
    assert "return dense_2, x" in source or "return dense_2, output_1" in source
    assert_same_module(g.build(), tmp_path, "two")


def test_float_infinities_are_valid_python():
    g = GraphBuilder("Pool", {"x": (7, 7, 2)})
    g.add("MaxPooling2D", "x", pool_size=2, strides=2, padding="same")  # pads with -inf
    source = generate_pytorch(g.build())
    assert 'value=float("-inf")' in source
    ast.parse(source)


# training section -------------------------------------------------------------------------------


def test_training_script_runs_one_step_for_mnist(tmp_path):
    torch.manual_seed(0)
    source = generate_pytorch(template("mnist_cnn", width=4), with_training=True)
    assert "nn.CrossEntropyLoss()" in source and "torch.optim.Adam(model.parameters(), lr=0.003)" in source
    assert "model = MnistCNN(logits=True)" in source and "epochs=15" in source
    module = load(source, tmp_path, "mnist_train")
    loss = module.train(module.MnistCNN(logits=True), module.random_loader(samples=4, batch_size=4), epochs=1)
    assert math.isfinite(loss)


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        ("sgd", "torch.optim.SGD(model.parameters())"),
        (
            {"name": "Adam", "params": {"learning_rate": 0.01, "beta_1": 0.8}},
            "torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.999))",
        ),
        (
            {"name": "RMSprop", "params": {"learning_rate": HPO("log_range", low=1e-4, high=1e-2)}},
            "torch.optim.RMSprop(model.parameters(), lr=0.0001)",
        ),
    ],
)
def test_optimizer_settings_map_to_torch(optimizer, expected):
    g = template("mnist_cnn")
    g = Graph(g.name, g.inputs, g.nodes, g.edges, g.layout, {"optimizer": optimizer, "loss": "mse"})
    source = generate_pytorch(g, with_training=True)
    assert expected in source and "nn.MSELoss()" in source


def test_bad_training_settings_are_refused_clearly():
    g = template("mnist_cnn")
    with_training = lambda t: generate_pytorch(
        Graph(g.name, g.inputs, g.nodes, g.edges, g.layout, t), with_training=True
    )
    with pytest.raises(ExportError, match="no argument 'warmup'"):
        with_training({"optimizer": {"name": "Adam", "params": {"warmup": 3}}})
    with pytest.raises(ExportError, match="loss must be one of .*; received .hinge2."):
        with_training({"loss": "hinge2"})
    with pytest.raises(ExportError, match="epochs must be a positive integer"):
        with_training({"epochs": 0})


# Keras ------------------------------------------------------------------------------------------

KERAS_SCRIPT = textwrap.dedent("""
    import importlib.util, json, os, sys
    os.environ["KERAS_BACKEND"] = "torch"
    import numpy as np
    results = {}
    for path in sorted(sys.argv[1:]):
        name = os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build_model()
        count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)
        results[name] = {"trainable": count(model.trainable_weights),
                         "non_trainable": count(model.non_trainable_weights),
                         "outputs": [list(o.shape[1:]) for o in model.outputs]}
    print(json.dumps(results))
""")


def adversarial_graph(two_outputs: bool = True) -> Graph:
    """Names written to break out of identifiers, strings and comments."""
    evil = "__import__('os').system('echo pwned')"
    g = GraphBuilder("x'); __import__('os').system('x') #\n\"\"\"", {evil: (8,), "class": (8,)})
    a = g.add("Dense", evil, id="def", units=4, activation="relu")
    b = g.add("Dense", "class", id='a"b\nc = 1 # ü', units=4)
    c = g.add("Add", a, b, id="__init__")
    d = g.add("Dense", c, id="training", units=4)
    e = g.add("Dense", d, id="keys", units=4)
    body = [g.node("Dense", id="x", units=4, activation="relu"), g.node("Dense", id='"""', units=4)]
    e = g.add("ResidualConnection", e, id='res"""\n', body=body)
    g.add("Output", e, id=evil + "_out", units=2, activation="softmax")
    if two_outputs:
        g.add("Dense", c, id="日本", units=3)
    return g.build()


@pytest.fixture(scope="module")
def keras_results(tmp_path_factory):
    assert importlib.util.find_spec("keras") is not None, "keras comes with the dev extra"
    directory = tmp_path_factory.mktemp("keras")
    graphs = {f"t_{n}": template(n, **p) for n, p in SMALL.items()}
    graphs |= {f"c_{i}": single_layer_graph(c) for i, c in enumerate(CASES) if c.id not in KERAS_REFUSED}
    graphs["adversarial"] = adversarial_graph()
    for name, graph in graphs.items():
        (directory / f"{name}.py").write_text(generate_keras(graph))
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    run = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, *map(str, directory.glob("*.py"))],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=directory,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return graphs, json.loads(run.stdout.strip().splitlines()[-1])


def _check_keras(graph: Graph, result: dict):
    analysis, r = propagate(graph), report(graph)
    assert result["trainable"] == r.params - keras_param_difference(analysis)
    assert result["non_trainable"] == r.non_trainable  # BatchNorm's moving statistics
    assert [tuple(s) for s in result["outputs"]] == [analysis.nodes[o].output.user for o in analysis.outputs]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_keras_template_has_the_reported_parameters(name, keras_results):
    graphs, results = keras_results
    _check_keras(graphs[f"t_{name}"], results[f"t_{name}"])


def test_keras_single_layers_have_the_reported_parameters_and_shapes(keras_results):
    graphs, results = keras_results
    for name, graph in graphs.items():
        if name.startswith("c_"):
            _check_keras(graph, results[name])


def test_keras_param_conventions_come_from_the_table():
    assert keras_param_difference(template("lstm_classifier", width=16)) == 2 * 4 * 16  # two LSTMs
    assert keras_param_difference(template("mnist_cnn")) == 0


def test_every_registry_layer_has_a_keras_mapping():
    missing = sorted(set(layers.REGISTRY) - set(KERAS) - SAME_AS_KERAS)
    assert not missing, f"layers without a Keras mapping: {missing}"


def test_unmapped_keras_layer_is_refused_by_name(monkeypatch):
    monkeypatch.delitem(KERAS, "GELU")
    g = GraphBuilder("G", {"x": (4,)})
    g.add("GELU", "x")
    with pytest.raises(ExportError, match="GELU has no Keras export") as e:
        generate_keras(g.build())
    assert e.value.node == "gelu_1"
    g = GraphBuilder("E", {"x": (4,)})
    g.add("Embedding", "x", input_dim=5, output_dim=2, padding_idx=0)
    with pytest.raises(ExportError, match="padding_idx"):
        generate_keras(g.build())


def test_keras_file_reads_like_keras():
    source = generate_keras(template("mnist_cnn"))
    assert "image = keras.Input(shape=(28, 28, 1), name='image')" in source
    assert (
        "layers.Conv2D(32, 3, data_format=DATA_FORMAT, activation='relu', name='conv2d_1')(image)" in source
    )
    assert "return keras.Model(image, x, name='MnistCNN')" in source


# security ---------------------------------------------------------------------------------------

ALLOWED_IMPORTS = {"torch", "keras", "math"}


def assert_only_builds_a_model(source: str):
    """Top level: docstring, imports of torch/keras/neural_engine.modules, classes, functions,
    DATA_FORMAT, the __main__ guard. No name anywhere is a dunder other than __init__/__name__."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= ALLOWED_IMPORTS
        elif isinstance(node, ast.ImportFrom):
            assert node.module in ("torch", "keras") or node.module.startswith("neural_engine.modules.")
        elif isinstance(node, ast.Assign):
            assert [t.id for t in node.targets] == ["DATA_FORMAT"]
        elif isinstance(node, ast.If):
            assert ast.unparse(node.test) == "__name__ == '__main__'"
        else:
            assert isinstance(node, ast.ClassDef | ast.FunctionDef | ast.Expr), ast.dump(node)
            if isinstance(node, ast.Expr):
                assert isinstance(node.value, ast.Constant)
    for node in ast.walk(tree):
        name = (
            node.id
            if isinstance(node, ast.Name)
            else node.attr
            if isinstance(node, ast.Attribute)
            else node.name
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
            else None
        )
        if name is not None:
            assert name.isascii() and (not name.startswith("__") or name in ("__init__", "__name__")), name
            assert name not in ("system", "os", "eval", "exec", "open", "getattr"), name


def test_adversarial_names_make_safe_pytorch(tmp_path):
    graph = adversarial_graph()
    assert_only_builds_a_model(generate_pytorch(graph))
    assert_only_builds_a_model(generate_pytorch(adversarial_graph(two_outputs=False), with_training=True))
    source = generate_pytorch(graph)
    assert "self.layers['n___init__']" not in source and "self.layers.n___init__" in source
    assert "self.layers['\\u65e5\\u672c']" in source  # ascii() of a unicode key
    assert_same_module(graph, tmp_path, "adversarial")


def test_adversarial_names_make_safe_keras(keras_results):
    graphs, results = keras_results
    assert_only_builds_a_model(generate_keras(graphs["adversarial"]))
    _check_keras(graphs["adversarial"], results["adversarial"])


def test_identifiers_are_rebuilt_not_trusted():
    names = Names(["x"])
    assert names.identifier("class") == "n_class"
    assert names.identifier("__import__('os')") == "import_os"
    assert names.identifier("x") == "x_2" and names.identifier("print") == "n_print"
    assert names.identifier("ünï") == "n" and names.identifier("9lives") == "n_9lives"
    assert class_name("none") == "NetNone" and class_name("") == "Net" and class_name("a b-c") == "ABC"


def test_literals_are_valid_python():
    values = [float("inf"), float("-inf"), (1,), ((0, 0), (1, 2)), None, True, "a'\"\n\u2028", 1e-3, -0.0]
    for v in values:
        assert (
            ast.literal_eval(literal(v).replace('float("inf")', "1e999").replace('float("-inf")', "-1e999"))
            == v
        )
    assert literal(float("nan")) == 'float("nan")'
    with pytest.raises(ExportError, match="cannot write"):
        literal(object())


def test_targets():
    assert {"pytorch": generate_pytorch, "keras": generate_keras} == TARGETS
