"""Running a ``ray_jobs`` module directly (``python -m ray_jobs.train …``): its arguments, its
command, and errors printed with their hint (exit 1) instead of a traceback.

``ray job stop`` (the dashboard's Stop) sends SIGTERM, then SIGKILL a few seconds later: SIGTERM
ends the command as Ctrl+C does (``stopped``), so a run it was recording ends KILLED in MLflow, not
RUNNING or FAILED."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable

from neural_engine.cli import report_error, wants_json
from neural_engine.errors import NeuralForgeError
from neural_engine.settings import apply_s3_endpoint


def module_main(
    prog: str, doc: str | None, add_arguments: Callable, run: Callable, argv: list[str] | None = None
) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=(doc or "").strip().splitlines()[0] if doc else None)
    add_arguments(ap)
    before = signal.getsignal(signal.SIGTERM)
    stop_on_sigterm()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        apply_s3_endpoint()  # before any client or Ray worker starts
        return run(ap.parse_args(argv))
    except NeuralForgeError as err:
        report_error(err, wants_json(argv))
        return 1
    finally:
        if before is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, before)


STOP = threading.Event()  # SIGTERM was received


def _stopped(signum, frame) -> None:
    STOP.set()
    raise KeyboardInterrupt(f"stopped (signal {signum})")


def stop_on_sigterm() -> None:
    """(Re)install the SIGTERM handler: ``ray.init`` installs its own, which exits with a code."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped)


def stopped(err: BaseException) -> bool:
    """Whether ``err`` ends a command that was stopped: Ctrl+C, or SIGTERM (``ray job stop``). Ray
    Train handles SIGINT during ``fit()`` itself ("gracefully aborting") and ends with SystemExit."""
    return isinstance(err, KeyboardInterrupt | SystemExit) or STOP.is_set()
