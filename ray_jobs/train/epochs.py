"""Each finished epoch, from Ray Train to the driver while training runs: the per-epoch lines of
``neuralforge train`` (and of a training job's log).

The workers' reports reach Ray Train's controller, an actor that Ray places on the driver's node;
there :class:`EpochFile` (a Ray Train ``UserCallback``) appends rank 0's metrics of every report
to a file as one JSON line. :class:`EpochStream`, in the driver, follows that file from a thread
and hands each epoch to its callback as it arrives, then reads what is left once ``fit()`` returns.
Only the driver's node is involved, so this works the same on an embedded Ray, with
``RAY_ADDRESS`` and inside ``ray job submit``; epochs resumed after a worker failure are reported
once, as the loop sends them once.

>>> import tempfile, pathlib
>>> seen = []
>>> with EpochStream(seen.append) as stream:
...     stream.callback().after_report(None, [{"epoch": 0, "val_loss": 0.5}, {"epoch": 0}], None)
>>> seen
[{'epoch': 0, 'val_loss': 0.5}]
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from ray.train import UserCallback

POLL_S = 0.2  # how often the driver looks for new epochs


class EpochFile(UserCallback):
    """Ray Train callback (in the controller): rank 0's metrics of each report, a JSON line each."""

    def __init__(self, path: str):
        self.path = path

    def after_report(self, run_context, metrics: list[dict], checkpoint) -> None:
        if metrics:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(metrics[0]) + "\n")


class EpochStream:
    """Follows an :class:`EpochFile` in the driver; ``on_epoch(metrics)`` for each epoch, in order,
    from a background thread (and the last ones from the thread that leaves the ``with``)."""

    def __init__(self, on_epoch: Callable[[dict], None]):
        self.on_epoch = on_epoch
        fd, self.path = tempfile.mkstemp(prefix="nf-epochs-", suffix=".jsonl")
        os.close(fd)
        self._offset, self._lock = 0, threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="nf-epochs", daemon=True)

    def callback(self) -> EpochFile:
        return EpochFile(self.path)

    def __enter__(self) -> EpochStream:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._read()
        Path(self.path).unlink(missing_ok=True)

    def _follow(self) -> None:
        while not self._stop.wait(POLL_S):
            self._read()

    def _read(self) -> None:
        """Hand over every complete line written since the last read."""
        with self._lock, open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
            self._offset += end
        for line in data[:end].decode("utf-8").splitlines():
            if line.strip():
                self.on_epoch(json.loads(line))
