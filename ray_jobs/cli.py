"""The ``neuralforge`` command: the engine's subcommands plus the ones that need Ray or MLflow.

One dict (``COMMANDS``); imports of Ray and MLflow happen inside the commands that use them.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from neural_engine import cli as engine_cli
from neural_engine.errors import ValidationError
from neural_engine.settings import apply_s3_endpoint, settings
from ray_jobs.cluster import jobs as jobs_cli


def lazy(module: str, add: str = "add_arguments", run: str = "run"):
    """(add-arguments, run) for a subcommand whose module is imported only when it is used."""

    def add_args(parser) -> None:
        getattr(importlib.import_module(module), add)(parser)

    def command(args) -> int:
        return getattr(importlib.import_module(module), run)(args)

    return add_args, command


def _ui_args(p) -> None:
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument(
        "--no-cluster",
        action="store_true",
        help="do not start the local Ray head (Train and Sweeps then say what to start)",
    )


def cmd_ui(args) -> int:
    """Start the Streamlit dashboard on the embedded defaults (see neural_engine.settings): unless
    RAY_ADDRESS names a cluster, a local Ray head (``neuralforge cluster up``) that outlives the
    dashboard, so jobs survive its restarts; ``neuralforge cluster down`` stops it."""

    if not (args.no_cluster or settings().ray_address):
        from neural_engine.progress import Progress
        from ray_jobs import cluster

        print("starting the local Ray head (neuralforge cluster up)…", flush=True)
        state = cluster.up(progress=Progress())
        print(f"Ray dashboard: {state.dashboard_url}", flush=True)
    app = Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py"
    # One torch thread in the dashboard: it measures latencies and training steps, and several
    # threads on a loaded small machine are many times slower (FIELD_NOTES).
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    # Become Streamlit (exec): stopping this process stops the dashboard, no orphan is left behind.
    os.execve(
        sys.executable,
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app),
            "--server.address",
            args.host,
            "--server.port",
            str(args.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env,
    )


COMMANDS = {
    **engine_cli.COMMANDS,
    "train": (
        "train a network on Ray Train, tracked in MLflow",
        *lazy("ray_jobs.train", add="add_train_arguments"),
    ),
    "tune": (
        "sweep the network's HPO values with Ray Tune (ASHA, Optuna); records the best network (-o: also a file)",
        *lazy("ray_jobs.tune", add="add_sweep_arguments"),
    ),
    "evaluate": (
        "evaluate a run's best weights (metrics, tables, figures) into its MLflow run",
        *lazy("ray_jobs.runs.evaluate", add="add_args"),
    ),
    "runs": ("MLflow runs: list (filters), compare, tag, untag", *lazy("ray_jobs.runs", add="add_args")),
    "reproduce": (
        "train a run again from its recorded configuration, as a new run",
        *lazy("ray_jobs.runs.reproduce", add="add_args"),
    ),
    "ui": ("start the dashboard (Streamlit) on http://127.0.0.1:8501", _ui_args, cmd_ui),
    "export": (
        "export a run or network to ONNX/TorchScript, validated vs torch; quantize, prune, serving configs",
        *lazy("ray_jobs.serve.export"),
    ),
    "serve": (
        "Ray Serve deployments of an export: deploy, status, scale, canary, promote, rollback, delete",
        *lazy("ray_jobs.serve"),
    ),
    "api": ("the REST API (FastAPI): serve it, manage its keys", *lazy("ray_jobs.api.cli")),
    "tracking": (
        "an MLflow tracking server on PostgreSQL: up, down, status",
        *lazy("ray_jobs.cluster.tracking_server", add="add_args"),
    ),
    **jobs_cli.COMMANDS,  # jobs, cluster, usage
}


def main(argv: list[str] | None = None) -> int:

    try:
        apply_s3_endpoint()  # before any client or child process starts
    except ValidationError:
        pass  # a bad setting: the command that reads it says so
    return engine_cli.main(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
