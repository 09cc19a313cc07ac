"""Text → syntax tree (:mod:`neural_engine.dsl.syntax`) with lark, LALR(1).

Syntax errors become :class:`DSLSyntaxError` with line, column, what was expected and a hint
(:mod:`neural_engine.dsl.syntax_errors`).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedEOF, UnexpectedInput, VisitError

from neural_engine.dsl import syntax as S
from neural_engine.dsl.syntax_errors import syntax_error
from neural_engine.errors import DSLSyntaxError, Span

REQUIRED = object()
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


@cache
def _lark() -> Lark:
    grammar = resources.files("neural_engine.dsl").joinpath("grammar.lark").read_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=False,
        start=["start", "value"],
    )


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def _number(token: Token) -> int | float:
    text = str(token)
    if len(text) > 100:
        raise DSLSyntaxError(
            f"numbers must have at most 100 characters; received {len(text)}",
            span=Span(token.line, token.column),
        )
    return float(text) if any(c in text for c in ".eE") else int(text)


class _Build(Transformer):
    """Tree → syntax dataclasses. Methods are named after grammar rules."""

    def __init__(self, file: str | None, at: Span | None = None):
        super().__init__()
        self.file = file
        self.at = at  # every span, for text quoted inside a string (its own positions mean nothing)

    def _span(self, meta_or_token) -> Span:
        if self.at is not None:
            return self.at
        return Span(
            meta_or_token.line,
            meta_or_token.column,
            getattr(meta_or_token, "end_line", None),
            getattr(meta_or_token, "end_column", None),
            self.file,
        )

    # values ------------------------------------------------------------------------------
    def number(self, items):
        return _number(items[0])

    def string(self, items):
        return _unescape(items[0])

    def name(self, items):
        return S.Name(str(items[0]), self._span(items[0]))

    def var(self, items):
        return S.Var(str(items[0])[1:], self._span(items[0]))

    def _binop(op: str):
        @v_args(meta=True)
        def make(self, meta, items):
            return S.BinOp(op, items[0], items[1], self._span(meta))

        return make

    add, sub, mul, div = _binop("+"), _binop("-"), _binop("*"), _binop("/")

    @v_args(meta=True)
    def neg(self, meta, items):
        v = items[0]
        return -v if isinstance(v, int | float) and not isinstance(v, bool) else S.Neg(v, self._span(meta))

    def tuple(self, items):
        return tuple(items)

    def list(self, items):
        return S.ListExpr(tuple(items))

    def dict(self, items):
        return S.DictExpr(tuple(items))

    def pair(self, items):
        key = items[0]
        return (_unescape(key) if key.type == "STRING" else str(key), items[1], self._span(key))

    @v_args(meta=True)
    def call(self, meta, items):
        name, args = items[0], items[1] if len(items) > 1 else ((), ())
        return S.CallExpr(str(name), args[0], args[1], self._span(meta))

    def arguments(self, items):
        args = tuple(v for kind, v in items if kind == "arg")
        kwargs = tuple(v for kind, v in items if kind == "kw")
        return args, kwargs

    def argument(self, items):
        return ("arg", items[0])

    def keyword(self, items):
        return ("kw", (str(items[0]), items[1], self._span(items[0])))

    # layers ------------------------------------------------------------------------------
    @v_args(meta=True)
    def layer_call(self, meta, items):
        name = items[0]
        if len(items) == 1:
            bare = not _has_parens(meta, name)
            return S.CallExpr(str(name), (), (), self._span(name), bare=bare)
        args, kwargs = items[1]
        return S.CallExpr(str(name), args, kwargs, self._span(name))

    def body(self, items):
        return ("body", tuple(items))

    def repeat(self, items):
        return ("repeat", items[0])

    def device(self, items):
        return ("device", (_unescape(items[0]), self._span(items[0])))

    def sources(self, items):
        return ("sources", tuple(str(t) for t in items))

    @v_args(meta=True)
    def layer_item(self, meta, items):
        label = None
        if isinstance(items[0], Token):
            label, items = str(items[0]), items[1:]
        call, extras = items[0], dict(items[1:])
        return S.LayerItem(
            call,
            call.span or self._span(meta),
            label,
            extras.get("body"),
            extras.get("repeat"),
            extras.get("device"),
            extras.get("sources"),
        )

    @v_args(meta=True)
    def branch(self, meta, items):
        return S.Branch(str(items[0]), tuple(items[1:]), self._span(items[0]))

    # top level ---------------------------------------------------------------------------
    def macro_param(self, items):
        return (str(items[0]), items[1] if len(items) > 1 else REQUIRED)

    def macro_params(self, items):
        return tuple(items)

    @v_args(meta=True)
    def macro_def(self, meta, items):
        name = items[1]
        rest = items[2:]
        params = ()
        if rest and isinstance(rest[0], tuple):  # macro_params; layer items are dataclasses
            params, rest = rest[0], rest[1:]
        return S.MacroDef(str(name), params, tuple(rest), self._span(name))

    def _section(kind):
        @v_args(meta=True)
        def make(self, meta, items):
            values = tuple(i for i in items if not (isinstance(i, Token) and i.type != "NAME"))
            return S.Section(kind, values, self._span(items[0]))

        return make

    input_section = _section("input")
    layout_section = _section("layout")
    layers_section = _section("layers")
    loss_section = _section("loss")
    optimizer_section = _section("optimizer")
    metrics_section = _section("metrics")
    schedule_section = _section("lr_schedule")
    train_section = _section("train")
    execution_section = _section("execution")

    @v_args(meta=True)
    def network(self, meta, items):
        sections = tuple(i for i in items[2:] if isinstance(i, S.Section))
        end = Span(meta.end_line, meta.end_column, file=self.file)
        return S.NetworkDef(str(items[1]), sections, self._span(items[1]), end)

    def start(self, items):
        return S.Program(tuple(items))


def _has_parens(meta, name: Token) -> bool:
    return getattr(meta, "end_column", None) is not None and (meta.end_line, meta.end_column) != (
        name.end_line,
        name.end_column,
    )


def parse_syntax(text: str, file: str | None = None) -> S.Program:
    """Parse DSL text into its syntax tree; raise DSLSyntaxError with a location and a hint."""
    try:
        tree = _lark().parse(text, start="start")
    except UnexpectedInput as err:
        raise syntax_error(err, text, file) from None
    try:
        return _Build(file).transform(tree)
    except VisitError as err:  # an error raised inside a rule method
        if isinstance(err.orig_exc, DSLSyntaxError):
            err.orig_exc.span = Span(err.orig_exc.span.line, err.orig_exc.span.column, file=file)
            raise err.orig_exc from None
        raise err.orig_exc from None


def parse_value(text: str, at: Span) -> object:
    """A value written inside a string (``optimizer: "Adam(learning_rate=1e-3)"``), as if unquoted;
    its spans, and its errors', are ``at`` (the string's place in the file).

    >>> parse_value("Adam(learning_rate=1e-3)", Span(1, 1)).kwargs[0][:2]
    ('learning_rate', 0.001)
    """
    try:
        tree = _lark().parse(text, start="value")
    except UnexpectedInput as err:
        token = getattr(err, "token", None)
        ended = isinstance(err, UnexpectedEOF) or getattr(token, "type", None) == "$END"
        near = " (it ends early)" if ended else f" at {text[err.pos_in_stream : err.pos_in_stream + 10]!r}"
        raise DSLSyntaxError(
            f'a quoted value must read as DSL, e.g. "Adam(learning_rate=1e-3)"; received '
            f"{text!r}, which does not parse{near}",
            span=at,
            hint="check its parentheses and commas, or write it without quotes",
        ) from None
    try:
        return _Build(at.file, at).transform(tree)
    except VisitError as err:
        raise err.orig_exc from None
