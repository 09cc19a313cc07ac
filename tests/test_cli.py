"""The console script: one dict of subcommands, documented in docs/cli.md, errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neural_engine.cli import main
from neural_engine.templates import template
from ray_jobs.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def test_summary_template_json(capsys):
    assert main(["summary", "--template", "resnet18", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"] == 11_689_512 and d["inputs"] == {"image": [224, 224, 3]}


def test_summary_of_a_graph_file(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(template("mnist_cnn").to_json()))
    assert main(["summary", str(path), "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "conv2d_1 (Conv2D)" in out and "(26, 26, 32)" in out and "batch 8" in out


def test_summary_template_options(capsys):
    assert (
        main(["summary", "--template", "mnist_cnn", "--classes", "3", "--input-shape", "32,32,3", "--json"])
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["nodes"][-1]["output_shape"] == [3] and d["inputs"]["image"] == [32, 32, 3]


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "missing.json")]) == 1
    assert "must exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "inputs": {"x": [4]},
                "nodes": [{"id": "a", "type": "Dens", "params": {}}],
                "edges": [{"source": "x", "target": "a"}],
            }
        )
    )
    assert main(["summary", str(bad)]) == 1
    err = capsys.readouterr().err
    assert 'unknown layer type "Dens"' in err and 'Did you mean "Dense"?' in err and "Traceback" not in err
    assert main(["summary", "--template", "mnist_cnn", "--input-shape", "a,b"]) == 1


def test_layers_table_lists_the_registry(capsys):
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    assert "Conv2D" in out and "MultiHeadAttention" in out
    assert int(re.search(r"(\d+) layer types", out).group(1)) >= 45
    assert (
        "positional: filters, kernel_size, activation (Neural DSL); when the third is not a string: "
        "filters, kernel_size, strides, padding, … (Keras)" in out
    )
    assert main(["layers", "--json", "--family", "convolution"]) == 0
    rows = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert {"Conv1D", "Conv2D", "Conv3D", "SeparableConv2D"} <= set(rows)
    assert rows["Conv2D"]["positional"] == ["filters", "kernel_size", "activation"]
    assert rows["Conv2D"]["keras_positional"][:4] == ["filters", "kernel_size", "strides", "padding"]
    assert rows["DepthwiseConv2D"]["positional"] == ["kernel_size", "activation"]


def test_cli_doc_documents_every_command():
    doc = (ROOT / "docs" / "cli.md").read_text()
    documented = set(re.findall(r"^\| `neuralforge (\w+)", doc, re.M))
    assert documented == set(COMMANDS)


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "neuralforge"
    out = subprocess.run([str(script), "templates"], capture_output=True, text=True, check=True).stdout
    assert "resnet18" in out


MNIST = """
define ConvBlock(f) { Conv2D($f, 3, activation="relu") MaxPooling2D(2) }
network MnistCNN {
  input: (28, 28, 1)
  layers:
    ConvBlock(32)
    ConvBlock(64)
    Flatten()
    Dense(128, "relu")
    Output(10, "softmax")
  loss: "sparse_categorical_crossentropy"
  optimizer: Adam(learning_rate=1e-3)
}
network Tiny { input: (4,) layers: Dense(2) }
"""


def write(tmp_path, text, name="net.neural"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_check_reports_every_network(tmp_path, capsys):
    assert main(["check", write(tmp_path, MNIST)]) == 0
    out = capsys.readouterr().out
    assert "MnistCNN: ok" in out and "Tiny: ok" in out


def test_check_and_templates_json(tmp_path, capsys):
    path = write(tmp_path, MNIST)
    assert main(["check", path, "--json"]) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["ok"] is True and d["file"] == path and err == ""
    assert [(n["network"], n["layers"], n["params"]) for n in d["networks"]] == [
        ("MnistCNN", 7, 225_034),
        ("Tiny", 1, 10),
    ]
    assert main(["check", write(tmp_path, SEARCHED, "s.neural"), "--json"]) == 0
    (searched,) = json.loads(capsys.readouterr().out)["networks"]
    assert "train.batch_size = 16 (the first of HPO(choice(16, 32)))" in searched["search_values"]
    assert main(["templates", "--json"]) == 0
    rows = {t["name"]: t["doc"] for t in json.loads(capsys.readouterr().out)}
    assert {"resnet18", "mnist_cnn", "unet"} <= set(rows) and all(rows.values())


def test_errors_with_json_are_a_json_document_on_stdout(tmp_path, capsys):
    path = write(tmp_path, MNIST.replace("Dense(128", "Dense(0"))
    assert main(["check", path, "--json"]) == 1
    out, err = capsys.readouterr()
    (error,) = json.loads(out).values()
    assert set(error) == {"type", "message", "node", "file", "line", "column", "hint"}
    assert (error["type"], error["message"], error["file"], error["line"], error["column"]) == (
        "ValidationError",
        "Dense units must be in [1, inf); received 0",
        path,
        9,
        5,
    )
    assert f"{path}:9:5: Dense units must be in [1, inf); received 0" in err  # the report stays on stderr
    assert main(["summary", str(tmp_path / "missing.json"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["message"].startswith("the file must exist")


def test_check_fails_with_a_located_report(tmp_path, capsys):
    path = write(tmp_path, MNIST.replace("Dense(128", "Dense(0"))
    assert main(["check", path]) == 1
    err = capsys.readouterr().err
    assert f"{path}:9:5: Dense units must be in [1, inf); received 0" in err
    assert '    Dense(0, "relu")\n        ^' in err and "Traceback" not in err


def test_summary_of_a_dsl_file_picks_the_network(tmp_path, capsys):
    path = write(tmp_path, MNIST)
    assert main(["summary", path, "--network", "MnistCNN", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["name"] == "MnistCNN" and d["nodes"][-1]["output_shape"] == [10]
    assert main(["summary", path]) == 0
    assert 'Model: "Tiny"' in capsys.readouterr().out


def test_fmt_prints_checks_and_writes(tmp_path, capsys):
    path = write(tmp_path, MNIST)
    assert main(["fmt", path]) == 0
    canonical = capsys.readouterr().out
    assert 'Conv2D(32, 3, "relu")' in canonical and "define" not in canonical
    assert main(["fmt", "--check", path]) == 1
    assert main(["fmt", "--write", path]) == 0
    assert main(["fmt", "--check", path]) == 0
    assert Path(path).read_text() == canonical


def test_codegen_writes_pytorch_and_keras(tmp_path, capsys):
    path = write(tmp_path, MNIST)
    out = tmp_path / "model.py"
    assert main(["codegen", path, "--network", "MnistCNN", "-o", str(out)]) == 0
    source = out.read_text()
    assert "class MnistCNN(nn.Module):" in source and "def forward(self, input" in source
    assert main(["codegen", "--template", "mnist_cnn", "--target", "keras"]) == 0
    assert "keras.Model(" in capsys.readouterr().out


def test_the_data_home_does_not_follow_the_current_folder(tmp_path):
    """With no NEURALFORGE_HOME, every folder sees the same home: ~/.neuralforge."""
    env = {k: v for k, v in os.environ.items() if k not in ("NEURALFORGE_HOME", "RAY_ADDRESS")}
    env["HOME"] = str(tmp_path)
    said = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        out = subprocess.run(
            [sys.executable, "-m", "ray_jobs.cli", "cluster", "status"],
            cwd=tmp_path / folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 1 and not out.stderr, out.stderr[-2000:]  # 1: no cluster there
        said.append(out.stdout.strip())
    assert said[0] == said[1] == f"no cluster started from {tmp_path / '.neuralforge'}"
    assert not (tmp_path / "a" / ".neuralforge").exists() and not (tmp_path / "b" / ".neuralforge").exists()


SEARCHED = """network Searched {
  input: (28, 28, 1)
  layers:
    Conv2D(HPO(choice(8, 16)), 3, activation="relu")
    Flatten()
    Dense(HPO(range(32, 64, step=32)), "relu")
    Output(10, "softmax")
  loss: "sparse_categorical_crossentropy"
  optimizer: Adam(learning_rate=HPO(log_range(1e-4, 1e-2)))
  lr_schedule: StepDecay(HPO(choice(5, 10)), 0.5)
  train { epochs: HPO(choice(2, 4)), batch_size: HPO(choice(16, 32)), validation_split: HPO(range(0.1, 0.3)) }
}
"""
# (command, what its standard output says): every command takes search values, at their defaults
SEARCHED_ROWS = [
    (["check"], "ok (4 layers, 173,498 params; 7 search values, checked at their defaults)"),
    (["summary"], "train.batch_size = 16 (the first of HPO(choice(16, 32)))"),
    (["summary", "--json"], '"default": 16'),
    (["codegen"], "#   conv2d_1.filters = 8 (the first of HPO(choice(8, 16)))"),
    (["codegen", "--with-training"], "train(model, random_loader(), epochs=2)"),
    (["codegen", "--target", "keras"], "# search values, written at their defaults"),
    (["fmt"], "batch_size: HPO(choice(16, 32))"),
]


@pytest.mark.parametrize("argv,says", SEARCHED_ROWS, ids=[" ".join(r[0]) for r in SEARCHED_ROWS])
def test_every_command_takes_search_values_at_their_defaults(tmp_path, capsys, argv, says):
    path = tmp_path / "searched.neural"
    path.write_text(SEARCHED)
    assert main([*argv, str(path)]) == 0
    assert says in capsys.readouterr().out


def test_summary_json_lists_search_values_with_their_defaults(tmp_path, capsys):
    path = tmp_path / "searched.neural"
    path.write_text(SEARCHED)
    assert main(["summary", "--json", str(path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["memory"]["batch_size"] == 16 and d["nodes"][0]["output_shape"] == [26, 26, 8]
    assert d["search_values"]["train.batch_size"] == {"hpo": "choice", "values": [16, 32], "default": 16}
    assert d["search_values"]["train.optimizer.learning_rate"]["default"] == 1e-4


def test_version_and_a_closed_pipe_are_quiet(tmp_path):
    script = Path(sys.executable).parent / "neuralforge"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(r"neuralforge \d+\.\d+\.\d+\S*\n", out), out
    # the reader is gone before the command writes (as `| head -1` once it has its line)
    proc = subprocess.Popen(
        [str(script), "summary", "--template", "resnet18"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(60) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
