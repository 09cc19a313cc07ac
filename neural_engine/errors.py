"""One exception family for everything the engine refuses.

Every error says what was expected, then what was received, and where possible where (node id,
source span) and how to fix it (hint). ``str(err)`` is the one-line message; ``err.render(source)``
adds the source line with a caret.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A place in DSL source text (1-based line and column)."""

    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        return f"{self.file or '<dsl>'}:{self.line}:{self.column}"


class NeuralForgeError(Exception):
    """Base of every error the engine raises on bad user input."""

    def __init__(
        self, message: str, *, node: str | None = None, span: Span | None = None, hint: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.node = node
        self.span = span
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        node = f"[{self.node}] " if self.node and not self.span else ""
        return f"{where}{node}{self.message}"

    def render(self, source: str | None = None) -> str:
        """The full report: location, message, the source line with a caret, and the hint."""
        lines = [str(self)]
        if source is not None and self.span is not None:
            text = source.splitlines()
            if 0 < self.span.line <= len(text):
                lines += [f"    {text[self.span.line - 1]}", "    " + " " * (self.span.column - 1) + "^"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        span = self.span
        return {
            "error": type(self).__name__,
            "message": self.message,
            "node": self.node,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "hint": self.hint,
        }


class DSLSyntaxError(NeuralForgeError):
    """The text does not parse."""


class ValidationError(NeuralForgeError):
    """The graph or a parameter breaks a rule (unknown layer, bad value, cycle, arity)."""


class ShapeError(NeuralForgeError):
    """A tensor shape does not fit a layer."""


class DatasetError(NeuralForgeError):
    """A dataset is missing, corrupt or refused."""


class ExportError(NeuralForgeError):
    """An export failed or did not match PyTorch numerically."""


class ClusterError(NeuralForgeError):
    """The local Ray head (``neuralforge cluster``) could not be started, found or stopped."""


class TrackingServerError(NeuralForgeError):
    """The MLflow tracking server or its database (``neuralforge tracking``) could not be started,
    found or stopped."""


class CheckpointError(NeuralForgeError):
    """A weights or checkpoint file is unreadable, or refused: it holds more than tensors and plain data."""


class JobError(NeuralForgeError):
    """A Ray job request failed (no cluster, refused token, unknown job id), or its accounting."""


class QuotaExceededError(JobError):
    """A user's monthly device-hours are past the quota in the settings."""


def did_you_mean(name: str, candidates) -> str | None:
    """``'Did you mean "Conv2D"?'`` for the closest candidate (case-insensitive), or None."""
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f'Did you mean "{lowered[close[0]]}"?' if close else None
