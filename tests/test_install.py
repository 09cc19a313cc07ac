"""What each install really brings: ``pip install neuralforge`` (lark only) checks, summarises and
formats networks; a command that needs an extra says which one to install."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NET = 'network N { input: (8, 8, 1) layers: Flatten() Dense(8, activation="relu") Output(10) }\n'


@pytest.fixture(scope="module")
def core_only(tmp_path_factory):
    """A fresh virtual environment with the project installed from this checkout, no extras."""
    venv = tmp_path_factory.mktemp("core-venv")
    source = tmp_path_factory.mktemp("source") / "neuralforge"  # the build writes build/ beside the sources
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv*", ".git", "build", "test-artifacts", "*.egg-info", "__pycache__", "node_modules"
        ),
    )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "neuralforge"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_core_install_checks_networks_without_torch(core_only, tmp_path):
    installed = subprocess.run(
        [str(core_only / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert not names & {"torch", "numpy", "ray", "mlflow", "streamlit", "httpx"}, names
    (tmp_path / "n.neural").write_text(NET)
    check = _run(core_only, "check", "n.neural", cwd=tmp_path)
    assert check.returncode == 0 and "ok (3 layers, 610 params)" in check.stdout, check.stderr
    summary = _run(core_only, "summary", "n.neural", "--json", cwd=tmp_path)
    assert summary.returncode == 0 and json.loads(summary.stdout)["params"] == 610, summary.stderr
    for args in (("fmt", "n.neural"), ("layers",), ("templates",)):
        r = _run(core_only, *args, cwd=tmp_path)
        assert r.returncode == 0 and r.stdout and "Traceback" not in r.stderr, (args, r.stderr)


@pytest.mark.slow
def test_a_command_needing_an_extra_names_it(core_only, tmp_path):
    (tmp_path / "n.neural").write_text(NET)
    for args, extra in (
        (("codegen", "n.neural"), "torch"),
        (("train", "--template", "mnist_cnn"), "ray"),
        (("datasets", "list"), "data"),
    ):
        r = _run(core_only, *args, cwd=tmp_path)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (args, r.stderr)
        assert f"install the {extra} extra: pip install 'neuralforge[{extra}]'" in r.stderr, (args, r.stderr)


def test_every_extra_the_cli_names_exists():
    from neural_engine.extras import EXTRAS

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(extras), set(EXTRAS.values()) - set(extras)


def test_what_each_extra_brings_is_what_pyproject_says():
    from neural_engine.cli import COMMANDS
    from neural_engine.extras import COMMAND_EXTRAS, INCLUDES
    from ray_jobs.cli import COMMANDS as ALL

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    brought = {
        name: {n.strip() for d in deps if d.startswith("neuralforge[") for n in d[12:-1].split(",")}
        for name, deps in extras.items()
    }
    assert {k: v for k, v in brought.items() if v} == INCLUDES
    assert set(COMMAND_EXTRAS.values()) <= set(extras)
    core = {"check", "summary", "fmt", "layers", "templates"}  # lark only
    assert set(ALL) - set(COMMAND_EXTRAS) == core and core <= set(COMMANDS)


@pytest.mark.slow
def test_the_client_extra_adds_httpx_and_websockets_only(core_only, tmp_path):
    source = next(core_only.parent.glob("source*/neuralforge"))  # the fixture's copy
    pip = subprocess.run(
        [str(core_only / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{source}[client]"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    installed = subprocess.run(
        [str(core_only / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert {"httpx", "websockets"} <= names and not names & {"torch", "numpy", "ray", "fastapi"}, names
    r = subprocess.run(
        [
            str(core_only / "bin" / "python"),
            "-c",
            "from neuralforge import Client; print(Client('http://127.0.0.1:9').__class__.__name__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.strip() == "Client", r.stderr
