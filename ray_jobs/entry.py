"""Running a ``ray_jobs`` module directly (``python -m ray_jobs.train …``): its arguments, its
command, and errors printed with their hint (exit 1) instead of a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from neural_engine.errors import NeuralForgeError


def module_main(prog: str, doc: str | None, add_arguments: Callable, run: Callable,
                argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=(doc or "").strip().splitlines()[0] if doc else None)
    add_arguments(ap)
    try:
        return run(ap.parse_args(argv))
    except NeuralForgeError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        return 1
