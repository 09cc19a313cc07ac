"""The console script: one dict of subcommands, documented in the README, errors without tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from neural_engine.cli import COMMANDS, main
from neural_engine.templates import template

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
    assert main(["summary", "--template", "mnist_cnn", "--classes", "3", "--input-shape", "32,32,3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["nodes"][-1]["output_shape"] == [3] and d["inputs"]["image"] == [32, 32, 3]


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "missing.json")]) == 2
    assert "must exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"inputs": {"x": [4]}, "nodes": [{"id": "a", "type": "Dens", "params": {}}],
                               "edges": [{"source": "x", "target": "a"}]}))
    assert main(["summary", str(bad)]) == 2
    err = capsys.readouterr().err
    assert 'unknown layer type "Dens"' in err and 'Did you mean "Dense"?' in err and "Traceback" not in err
    assert main(["summary", "--template", "mnist_cnn", "--input-shape", "a,b"]) == 2


def test_layers_table_lists_the_registry(capsys):
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    assert "Conv2D" in out and "MultiHeadAttention" in out
    assert int(re.search(r"(\d+) layer types", out).group(1)) >= 45
    assert main(["layers", "--json", "--family", "convolution"]) == 0
    names = {d["name"] for d in json.loads(capsys.readouterr().out)}
    assert {"Conv1D", "Conv2D", "Conv3D", "SeparableConv2D"} <= names


def test_readme_documents_every_command():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `neuralforge (\w+)", readme, re.M))
    assert documented == set(COMMANDS)


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "neuralforge"
    out = subprocess.run([str(script), "templates"], capture_output=True, text=True, check=True).stdout
    assert "resnet18" in out
