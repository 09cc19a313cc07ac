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


COMMANDS = {
    **engine_cli.COMMANDS,
    "train": ("train a network on Ray Train, tracked in MLflow", _train_args, cmd_train),
    **jobs_cli.COMMANDS,  # jobs, cluster, usage
}


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
