"""Explaining a syntax error: what was expected, and where the real cause is.

An unclosed ``{`` is named by what opened it (``network MnistCNN``, ``Dense``); when a ``}`` closed
an inner block at an outer block's indentation, the inner block is blamed, and a ``network`` or
section keyword met inside a block still open names that block.
"""

from __future__ import annotations

import bisect
import re

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from neural_engine.errors import DSLSyntaxError, Span

_KEYWORDS = {
    "network",
    "define",
    "macro",
    "input",
    "layout",
    "layers",
    "loss",
    "optimizer",
    "metrics",
    "lr_schedule",
    "train",
    "training",
    "execution",
    "execute",
}
_PRETTY = {
    "RPAR": ")",
    "LPAR": "(",
    "RBRACE": "}",
    "LBRACE": "{",
    "RSQB": "]",
    "LSQB": "[",
    "COMMA": ",",
    "COLON": ":",
    "EQUAL": "=",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "VAR": "a $variable",
    "STAR": "*",
    "AT": "@",
    "MINUS": "-",
    "PLUS": "+",
    "SLASH": "/",
    "__ANON_0": "<-",
    "$END": "the end of the file",
}


def _expected(names) -> str:
    pretty = sorted({_PRETTY.get(n, n.lower() if n.isupper() else n) for n in names})
    if len(pretty) > 8:
        pretty = pretty[:8] + ["…"]
    return ", ".join(f'"{p}"' if len(p) <= 2 else p for p in pretty)


def syntax_error(err: UnexpectedInput, text: str, file: str | None) -> DSLSyntaxError:
    r"""The :class:`DSLSyntaxError` for lark's ``err`` on ``text``, placed at its cause.

    >>> from neural_engine.dsl.parser import parse_syntax
    >>> try:
    ...     parse_syntax("network N {\n  input: (4,)\n  layers:\n    Dense(8) {\n      Dropout(0.1)\n}\n")
    ... except DSLSyntaxError as e:
    ...     print(e.span.line, e.span.column, e.message.split(";")[0])
    4 14 expected `}` to close `Dense` opened at line 4
    """
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        return _unclosed(text, file) or DSLSyntaxError(
            "the file ended early; expected " + _expected(getattr(err, "expected", ())),
            span=Span(*_end_position(text), file=file),
        )
    if (inside := _top_level_inside(text, err.pos_in_stream, file)) is not None:
        return inside
    span = Span(err.line, err.column, file=file)
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        hint = (
            "strings need quotes on both ends"
            if ch in "\"'"
            else "names are letters, digits and _; numbers like 1e-3"
            if ch
            else None
        )
        return DSLSyntaxError(
            f"unexpected character {ch!r}; expected {_expected(err.allowed)}", span=span, hint=hint
        )
    token = err.token
    expected = _expected(err.expected)
    hint = None
    if token.type == "RBRACE" or token.value == "}":
        hint = "a `}` closes a block that is not open here; check the braces above"
    elif "RPAR" in err.expected:
        hint = "check for a missing `)` or `,`"
    elif token.value in _KEYWORDS and (still := _still_open(text, err.pos_in_stream, token.value)):
        hint = still
    elif token.type == "NAME" and token.value in _KEYWORDS:
        hint = f"`{token.value}` is a section keyword; it cannot be used as a name here"
    return DSLSyntaxError(f"unexpected {token.value!r}; expected {expected}", span=span, hint=hint)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


_SCAN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*|//[^\n]*|/\*.*?\*/|[{}]', re.DOTALL)
_HEAD = re.compile(r"(network|define|macro)\s+([A-Za-z_]\w*)\s*(\([^{}]*\))?\s*$")
_NAME_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*:?\s*$")


def _braces(text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Matched ``{``/``}`` pairs (positions) and the ``{`` never closed, outside strings and comments."""
    pairs, stack = [], []
    for m in _SCAN.finditer(text):
        if m.group() == "{":
            stack.append(m.start())
        elif m.group() == "}" and stack:
            pairs.append((stack.pop(), m.start()))
    return pairs, stack


_INDENT = re.compile(r"[ \t]*")


def _misplaced(text: str, pairs, after: int) -> int | None:
    """The last ``{`` after ``after`` whose ``}`` sits left of its own line's indentation: a brace
    the layout says was never closed (the ``}`` meant for an outer block closed it)."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def indent(pos: int) -> tuple[int, bool]:  # (the line's indentation, pos is its first non-blank)
        start = starts[bisect.bisect_right(starts, pos) - 1]
        width = _INDENT.match(text, start).end() - start
        return width, start + width == pos

    found = None
    for open_, close in pairs:
        if open_ > after and (found is None or open_ > found):
            close_indent, alone = indent(close)
            if alone and close_indent < indent(open_)[0]:
                found = open_
    return found


def _opener(text: str, pos: int) -> str:
    """What opened the ``{`` at ``pos``: ``network MnistCNN``, ``Dense``, ``image``, ``train``."""
    head = text[text.rfind("\n", 0, pos) + 1 : pos].rstrip()
    if m := _HEAD.search(head):
        return f"{m.group(1)} {m.group(2)}"
    if head.endswith(")"):  # a layer call: the name before its parentheses
        depth = 0
        for i in range(len(head) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(head[i], 0)
            if depth == 0:
                head = head[:i].rstrip()
                break
    m = _NAME_BEFORE.search(head)
    return m.group(1) if m else "block"


def _where(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _unclosed(text: str, file: str | None) -> DSLSyntaxError | None:
    """The ``{`` never closed, named by what opened it (``network MnistCNN``, ``Dense``). When a
    ``}`` closed an inner block at an outer block's indentation, the inner block is the culprit."""
    pairs, stack = _braces(text)
    if not stack:
        return None
    pos = _misplaced(text, pairs, stack[-1])
    note = ""
    if pos is not None:
        close = next(c for o, c in pairs if o == pos)
        note = f" (the `}}` at line {_where(text, close)[0]} closes it, by its indentation meant for an outer block)"
    else:
        pos = stack[-1]
    line, col = _where(text, pos)
    what = _opener(text, pos)
    return DSLSyntaxError(
        f"expected `}}` to close `{what}` opened at line {line}; received the end of the file{note}",
        span=Span(line, col, file=file),
        hint=f"add `}}` after the last item of `{what}`",
    )


_TOP = re.compile(r"^[ \t]*(network|define|macro)[ \t]+[A-Za-z_]\w*", re.MULTILINE)


def _top_level_inside(text: str, pos: int, file: str | None) -> DSLSyntaxError | None:
    """A ``network``/``define`` line met while a block is still open: that block's ``}`` is missing."""
    tops = list(_TOP.finditer(text, 0, pos))
    if not tops:
        return None
    stack: list[int] = []
    scan = _SCAN.finditer(text, 0, pos)
    token = next(scan, None)
    for m in tops:  # one walk over the braces, strings and comments before each keyword line
        while token is not None and token.end() <= m.start(1):
            if token.group() == "{":
                stack.append(token.start())
            elif token.group() == "}" and stack:
                stack.pop()
            token = next(scan, None)
        inside_text = token is not None and token.start() < m.start(1) < token.end()  # a comment, a string
        if stack and not inside_text:
            line, col = _where(text, stack[-1])
            what = _opener(text, stack[-1])
            return DSLSyntaxError(
                f"expected `}}` to close `{what}` opened at line {line}; received "
                f"`{m.group(1)}` at line {_where(text, m.start(1))[0]}",
                span=Span(line, col, file=file),
                hint=f"add `}}` after the last item of `{what}`",
            )
    return None


def _still_open(text: str, pos: int, keyword: str) -> str | None:
    """A hint naming the innermost block still open at ``pos``, where ``keyword`` was met: a
    section keyword belongs directly in a network, ``network``/``define`` at the top level."""
    _, stack = _braces(text[:pos])
    top = keyword in ("network", "define", "macro")
    if not stack or (not top and len(stack) == 1 and _opener(text, stack[0]).startswith("network ")):
        return None
    line, _ = _where(text, stack[-1])
    what = _opener(text, stack[-1])
    return f"the `{{` of `{what}` at line {line} is still open; close it with `}}` before this line"
