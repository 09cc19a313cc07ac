"""Which pip extra brings which optional package, and which extra each command needs: the
hint a command gives when a package is missing (``install the ray extra: pip install …``)."""

from __future__ import annotations

# The extra that installs each optional package (pyproject.toml); the engine's core needs only lark.
EXTRAS = {
    "torch": "torch",
    "torchvision": "torch",
    "numpy": "data",
    "ray": "ray",
    "mlflow": "ray",
    "optuna": "ray",
    "psutil": "ray",
    "matplotlib": "ray",
    "onnx": "export",
    "onnxruntime": "export",
    "fastapi": "api",
    "uvicorn": "api",
    "jwt": "api",
    "limits": "api",
    "filelock": "api",
    "httpx": "client",
    "websockets": "client",
    "streamlit": "app",
    "streamlit_flow": "app",
    "grandalf": "app",
    "altair": "app",
    "authlib": "app",
    "polars": "data",
    "boto3": "data",
    "botocore": "data",
    "sklearn": "data",
    "PIL": "data",
    "psycopg2": "postgres",
    "tqdm": "data",  # the live bars (neural_engine.progress); also in ray
}

# The extra each command needs as a whole; a missing package it provides is reported as that extra
# (``train`` lacking numpy: install ``ray``, which brings numpy, not ``data`` and then ``ray``).
COMMAND_EXTRAS = {
    "codegen": "torch",
    "datasets": "data",
    "train": "ray",
    "tune": "ray",
    "evaluate": "ray",
    "runs": "ray",
    "reproduce": "ray",
    "usage": "ray",
    "jobs": "ray",
    "cluster": "ray",
    "serve": "ray",
    "tracking": "ray",
    "export": "export",
    "api": "api",
    "ui": "app",
}
# What each extra brings with it (pyproject.toml: ``ray = ["neuralforge[torch,data]", …]``).
INCLUDES = {
    "app": {"torch", "data"},
    "ray": {"torch", "data"},
    "export": {"torch"},
    "api": {"torch", "data", "client"},
    "all": {"torch", "client", "app", "ray", "export", "api", "data", "postgres"},
}


def extra_for(command: str, module: str) -> str | None:
    """The extra to install for ``command`` lacking ``module``: the command's own when it brings
    the module, else the module's.

    >>> extra_for("train", "numpy"), extra_for("codegen", "torch"), extra_for("export", "mlflow")
    ('ray', 'torch', 'ray')
    """
    needed = EXTRAS.get(module)
    own = COMMAND_EXTRAS.get(command)
    if needed is not None and own is not None and (needed == own or needed in INCLUDES.get(own, ())):
        return own
    return needed
