"""The parsed DSL before meaning: small dataclasses the lark transformer builds.

Values are Python scalars, tuples and dicts, or the unevaluated forms below (macro variables,
arithmetic, calls); :mod:`neural_engine.dsl.lower` evaluates them and builds the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neural_engine.errors import Span


@dataclass(frozen=True)
class Var:
    name: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * /
    left: Any
    right: Any
    span: Span


@dataclass(frozen=True)
class Neg:
    value: Any
    span: Span


@dataclass(frozen=True)
class Name:
    """A bare identifier used as a value: ``mse``, ``relu``, a label, ``true``."""

    name: str
    span: Span


@dataclass(frozen=True)
class CallExpr:
    """``Name(args, key=value)`` — a layer, a macro use, an optimizer, HPO(...), a schedule."""

    name: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any, Span], ...] = ()
    span: Span | None = None
    bare: bool = False  # written without parentheses (``Stem``)


@dataclass(frozen=True)
class ListExpr:
    items: tuple


@dataclass(frozen=True)
class DictExpr:
    pairs: tuple[tuple[str, Any, Span], ...]  # (key, value, span of the key)


@dataclass(frozen=True)
class LayerItem:
    call: CallExpr
    span: Span
    label: str | None = None
    body: tuple | None = None  # items in ``{ … }`` after the call
    repeat: Any = None  # value after ``*``
    device: tuple[str, Span] | None = None
    sources: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Branch:
    name: str
    items: tuple
    span: Span


@dataclass(frozen=True)
class MacroDef:
    name: str
    params: tuple[tuple[str, Any], ...]  # (name, default or REQUIRED)
    items: tuple
    span: Span


@dataclass(frozen=True)
class Section:
    kind: str  # input, layout, layers, loss, …
    values: tuple
    span: Span


@dataclass(frozen=True)
class NetworkDef:
    name: str
    sections: tuple[Section, ...]
    span: Span
    end: Span | None = None


@dataclass(frozen=True)
class Program:
    items: tuple = field(default=())  # NetworkDef and MacroDef in file order
