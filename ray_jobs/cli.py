"""The ``neuralforge`` command: the engine's subcommands plus the ones that need Ray or MLflow.

One dict (``COMMANDS``); imports of Ray and MLflow happen inside the commands that use them.
"""

from __future__ import annotations

import sys

from neural_engine import cli as engine_cli
from ray_jobs import jobs_cli


def _train_args(p) -> None:
    from ray_jobs.config import add_arguments
    add_arguments(p)


def cmd_train(args) -> int:
    from ray_jobs.train import run
    return run(args)


def _ui_args(p) -> None:
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")


def cmd_ui(args) -> int:
    """Start the Streamlit dashboard (the engine's embedded defaults: see neural_engine.settings)."""
    import subprocess
    from pathlib import Path
    app = Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py"
    return subprocess.call([sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.host,
                            "--server.port", str(args.port), "--server.headless", "true",
                            "--browser.gatherUsageStats", "false"])


COMMANDS = {
    **engine_cli.COMMANDS,
    "train": ("train a network on Ray Train, tracked in MLflow", _train_args, cmd_train),
    "ui": ("start the dashboard (Streamlit) on http://127.0.0.1:8501", _ui_args, cmd_ui),
    **jobs_cli.COMMANDS,  # jobs, cluster, usage
}


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
