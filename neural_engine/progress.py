"""What a long command tells its user while it works, and what it hands back: one helper for every
``neuralforge`` command.

Human progress goes to standard error, results to standard output, so ``neuralforge train … >
out.txt`` keeps the result alone and ``--json`` output is one JSON document that a script can read:

- :meth:`Progress.line` — a plain line (a phase, a finished epoch, a finished trial), always written
  and flushed: it reads the same on a terminal, in a pipe and in a Ray job's log.
- :meth:`Progress.phase` — a step of unknown length: a line when it starts, one with its time when
  it ends (a live timer on a terminal).
- :meth:`Progress.bar` — a tqdm bar where a person watches (standard output and error are
  terminals and ``--json`` is off); elsewhere only a closing line with the count and the time.
- :meth:`Progress.waiting` — a wait on something outside (a job, replicas, a head): each new state
  is a line; on a terminal a live timer too.
- :func:`epoch_line` — the line of a finished training epoch.
- :func:`emit` and :func:`json_stdout` — with ``--json`` the command's one JSON document; inside
  ``json_stdout()`` anything else printed (Ray's forwarded worker output, a library's chatter) goes
  to standard error. :func:`error_json` is the document of a refused command (exit 1).

Library code takes a ``progress`` argument defaulting to :data:`SILENT`, so the API server and the
dashboard, which call the same functions, print nothing.

>>> import io
>>> err = io.StringIO()
>>> p = Progress(stream=err)
>>> with p.bar("reading images", total=3, unit="file") as bar:
...     bar.update(3)
>>> err.getvalue().startswith("reading images: 3 files in ")
True
>>> epoch_line(1, 6, {"train_loss": 0.41, "val_loss": 0.38, "val_accuracy": 0.912, "samples_per_s": 1234.5})
'epoch 2/6  train_loss 0.4100  val_loss 0.3800  val_accuracy 0.9120  1,234 samples/s'
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

_JSON_OUT: list[IO[str]] = []  # the real standard output while json_stdout() is active


class Progress:
    """Progress lines and bars on ``stream`` (default: standard error at the time of writing).

    ``interactive``: draw live bars (default: both standard output and error are terminals and
    ``json`` is off). ``enabled=False`` writes nothing (:data:`SILENT`)."""

    def __init__(
        self,
        *,
        json: bool = False,
        stream: IO[str] | None = None,
        interactive: bool | None = None,
        enabled: bool = True,
    ):
        self.enabled = enabled
        self._stream = stream
        if interactive is None:
            interactive = enabled and not json and _isatty(sys.stdout) and _isatty(self.stream)
        self.interactive = enabled and interactive

    @property
    def stream(self) -> IO[str]:
        return self._stream or sys.stderr

    def line(self, text: str) -> None:
        """One plain line, flushed at once."""
        if self.enabled:
            print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def phase(self, what: str) -> Iterator[None]:
        """A step of unknown length: ``"<what>…"`` when it starts, ``"<what>: done in <t> s"``
        (or ``failed after``) when it ends; on a terminal a live timer meanwhile."""
        self.line(f"{what}…")
        started, timer = time.monotonic(), None
        if self.interactive:
            from tqdm import tqdm

            timer = tqdm(desc=what, bar_format="{desc} {elapsed}", file=self.stream, leave=False)
        outcome = "failed after"
        try:
            yield
            outcome = "done in"
        finally:
            if timer is not None:
                timer.close()
            self.line(f"{what}: {outcome} {time.monotonic() - started:.1f} s")

    @contextlib.contextmanager
    def bar(self, what: str, total: int | None = None, unit: str = "item", bytes: bool = False):
        """A bar over ``total`` units; ``update(n)`` on what it yields (``set_total`` if known
        later). At the end: ``"<what>: <n> <unit>s in <t> s"`` (bytes: ``"… 12.3 MB in …"``)."""
        bar = Bar(self, what, total, unit, bytes)
        try:
            yield bar
        finally:
            bar.close()

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[Wait]:
        """A wait; call ``state(text)`` on what it yields at every poll (a line when it changes)."""
        w = Wait(self, what)
        try:
            yield w
        finally:
            w.close()


class Bar:
    """The object :meth:`Progress.bar` yields."""

    def __init__(self, progress: Progress, what: str, total: int | None, unit: str, bytes: bool):
        self.progress, self.what, self.total, self.unit, self.bytes = progress, what, total, unit, bytes
        self.n, self.started = 0, time.monotonic()
        self._tqdm = None
        if progress.interactive:
            from tqdm import tqdm

            self._tqdm = tqdm(
                total=total,
                desc=what,
                unit="B" if bytes else unit,
                unit_scale=bytes,
                file=progress.stream,
                leave=False,
                dynamic_ncols=True,
            )

    def set_total(self, total: int) -> None:
        self.total = total
        if self._tqdm is not None:
            self._tqdm.total = total
            self._tqdm.refresh()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._tqdm is not None:
            self._tqdm.update(n)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        seconds = time.monotonic() - self.started
        count = _size(self.n) if self.bytes else f"{self.n:,} {self.unit}{'' if self.n == 1 else 's'}"
        self.progress.line(f"{self.what}: {count} in {seconds:.1f} s")


SILENT = Progress(enabled=False)


class Wait:
    """The object :meth:`Progress.waiting` yields."""

    def __init__(self, progress: Progress, what: str):
        self.progress, self.what = progress, what
        self.last: str | None = None
        self.started = time.monotonic()
        self._tqdm = None
        if progress.interactive:
            from tqdm import tqdm

            self._tqdm = tqdm(
                desc=what, bar_format="{desc} {elapsed}{postfix}", file=progress.stream, leave=False
            )

    def state(self, text: str) -> None:
        """The state now; a line when it differs from the last one."""
        if text != self.last:
            self.last = text
            if self._tqdm is not None:
                self._tqdm.clear()
            self.progress.line(f"{self.what}: {text}")
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()


def epoch_line(epoch: int, epochs: int | None, metrics: dict[str, Any]) -> str:
    """The line of a finished epoch (``epoch`` counts from 0, as MLflow steps do): the training
    loss, every validation metric, throughput and time (``epoch_seconds``) when reported."""
    parts = [f"epoch {epoch + 1}/{epochs}" if epochs else f"epoch {epoch + 1}"]
    others = sorted(k for k in metrics if k.startswith("val_") and k != "val_loss")
    for key in ["train_loss", "val_loss", *others]:
        value = metrics.get(key)
        if isinstance(value, int | float):
            parts.append(f"{key} {value:.4f}")
    if isinstance(metrics.get("samples_per_s"), int | float):
        parts.append(f"{metrics['samples_per_s']:,.0f} samples/s")
    if isinstance(metrics.get("epoch_seconds"), int | float):
        parts.append(f"{metrics['epoch_seconds']:.1f} s")
    return "  ".join(parts)


# ---- --json ----------------------------------------------------------------------------------


def emit(data: Any) -> None:
    """Write ``data`` as the command's JSON document to the real standard output (NaN and
    infinities as null, which strict JSON readers accept)."""
    out = _JSON_OUT[-1] if _JSON_OUT else sys.stdout
    out.write(json.dumps(_finite(data), indent=2, default=str) + "\n")
    out.flush()


@contextlib.contextmanager
def json_stdout(enabled: bool = True) -> Iterator[None]:
    """While active, ``sys.stdout`` is standard error; :func:`emit` still writes to the real
    standard output. No-op when not ``enabled`` (a command without ``--json``)."""
    if not enabled:
        yield
        return
    _JSON_OUT.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _JSON_OUT.pop()


def error_json(err: Exception) -> dict:
    """The ``--json`` document of a refused command: ``{"error": {"type", "message", "hint", …}}``.

    >>> from neural_engine.errors import ValidationError
    >>> error_json(ValidationError("--epochs must be positive; received 0", hint="try 10"))["error"]["hint"]
    'try 10'
    """
    to_dict = getattr(err, "to_dict", None)
    if to_dict is None:
        return {"error": {"type": type(err).__name__, "message": str(err)}}
    d = dict(to_dict())
    d["type"] = d.pop("error")
    span = getattr(err, "span", None)
    d["file"] = span.file if span is not None else None
    return {"error": d}


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _size(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            break
    return f"{n:.1f} {unit}"
