"""Evaluating DSL values: macro variables, arithmetic, literals, HPO search values, calls."""

from __future__ import annotations

import math
import re
from typing import Any

from neural_engine.dsl import syntax as S
from neural_engine.errors import Span, ValidationError, did_you_mean
from neural_engine.ir import HPO, Call

LITERALS = {"true": True, "True": True, "false": False, "False": False, "None": None, "null": None}
HPO_NAMES = {"hpo", "choice", "range", "log_range"}
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def evaluate(v: Any, env: dict[str, Any], span: Span | None = None) -> Any:
    """The Python value of a syntax value; ``env`` binds macro parameters."""
    if isinstance(v, S.Var):
        if v.name not in env:
            known = ", ".join(f"${k}" for k in env) or "none"
            raise ValidationError(
                f"unknown macro parameter ${v.name}; known here: {known}",
                span=v.span,
                hint=did_you_mean(v.name, env) and did_you_mean(v.name, env).replace('"', '"$', 1),
            )
        return env[v.name]
    if isinstance(v, S.Name):
        return LITERALS.get(v.name, v.name)
    if isinstance(v, S.BinOp):
        return _arith(
            v.op, _number(evaluate(v.left, env), v.span), _number(evaluate(v.right, env), v.span), v.span
        )
    if isinstance(v, S.Neg):
        return -_number(evaluate(v.value, env), v.span)
    if isinstance(v, tuple):
        return tuple(evaluate(x, env, span) for x in v)
    if isinstance(v, S.ListExpr):
        return tuple(evaluate(x, env, span) for x in v.items)
    if isinstance(v, S.DictExpr):
        return {k: evaluate(x, env, s) for k, x, s in v.pairs}
    if isinstance(v, S.CallExpr):
        if v.name.lower() in HPO_NAMES:
            return hpo(v, env)
        return Call(
            v.name,
            tuple(evaluate(a, env, v.span) for a in v.args),
            {k: evaluate(x, env, s) for k, x, s in v.kwargs},
        )
    return v


def show(v) -> str:
    """A value as the DSL writes it, for messages: ``HPO(range(16, 64))``, never a dataclass repr.

    >>> show(HPO("range", low=16, high=64)), show((1, "a"))
    ('HPO(range(16, 64))', '(1, "a")')
    """
    try:
        return value(v)
    except (ValueError, TypeError):
        return repr(v)


def _number(v, span: Span):
    if isinstance(v, tuple) and len(v) == 1:  # ``($f + 1)`` is written like a 1-tuple
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValidationError(f"arithmetic needs numbers; received {v!r}", span=span)
    return v


def _arith(op: str, a, b, span: Span):
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise ValidationError(f"division needs a non-zero divisor; received {a} / 0", span=span)
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b  # exact integer division stays an integer
    return a / b


def hpo(call: S.CallExpr, env: dict) -> HPO:
    """``HPO(choice(…))``, ``choice(…)``, ``range(lo, hi, step=…)``, ``log_range(lo, hi)``."""
    name = call.name.lower()
    if name == "hpo":
        if len(call.args) != 1 or call.kwargs or not isinstance(call.args[0], S.CallExpr):
            raise ValidationError(
                "HPO takes one search value: choice(…), range(…) or log_range(…); "
                f"received {len(call.args) + len(call.kwargs)} arguments",
                span=call.span,
            )
        inner = call.args[0]
        if inner.name.lower() not in HPO_NAMES:
            raise ValidationError(
                f"HPO takes choice, range or log_range; received {inner.name}",
                span=inner.span,
                hint=did_you_mean(inner.name, ["choice", "range", "log_range"]),
            )
        return hpo(inner, env)  # HPO(HPO(choice(…))) is the same search value
    _no_nesting(call)
    args = [evaluate(a, env, call.span) for a in call.args]
    kwargs = {k: evaluate(x, env, s) for k, x, s in call.kwargs}
    for v in (*args, *kwargs.values()):
        if isinstance(v, HPO):  # through a macro parameter
            raise _nested(call, v, call.span)
    if name == "choice":
        values = tuple(args[0]) if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
        _no_layers(call, values)
        kinds = {_kind(v) for v in values}
        if not values or len(kinds) > 1:
            raise ValidationError(
                f"choice needs one or more values of one type; received "
                f"{', '.join(map(show, values)) or 'none'}",
                span=call.span,
            )
        return HPO("choice", values)
    low = kwargs.pop("low", kwargs.pop("min", args[0] if args else None))
    high = kwargs.pop("high", kwargs.pop("max", args[1] if len(args) > 1 else None))
    step = kwargs.pop("step", args[2] if len(args) > 2 else None)
    if kwargs or len(args) > 3:
        raise ValidationError(
            f"{call.name} takes (low, high, step=…); received extra "
            f"{', '.join(kwargs) or 'positional arguments'}",
            span=call.span,
        )
    for what, v in (("start", low), ("end", high)):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValidationError(f"{call.name} {what} must be a number; received {show(v)}", span=call.span)
    if high <= low:
        raise ValidationError(
            f"{call.name} end must be greater than its start; received {low} to {high}", span=call.span
        )
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or step <= 0):
        raise ValidationError(
            f"{call.name} step must be a positive number; received {show(step)}", span=call.span
        )
    if name == "log_range":
        if low <= 0:
            raise ValidationError(
                f"log_range start must be positive; received {low}",
                span=call.span,
                hint="a log scale cannot reach 0; start at e.g. 1e-5",
            )
        return HPO("log_range", low=low, high=high)
    return HPO("range", low=low, high=high, step=step)


def _no_nesting(call: S.CallExpr) -> None:
    """A search value inside another one (``choice(HPO(range(16, 64)), 128)``) is refused where written."""
    for a in (*call.args, *(x for _, x, _ in call.kwargs)):
        for inner in a if isinstance(a, tuple) else (a,):
            if isinstance(inner, S.CallExpr) and inner.name.lower() in HPO_NAMES:
                raise _nested(call, f"{inner.name}(…)", inner.span)


def _nested(call: S.CallExpr, inner, span: Span) -> ValidationError:
    what = show(inner) if isinstance(inner, HPO) else inner
    return ValidationError(
        f"{call.name} takes plain values (numbers, strings, booleans, tuples); received "
        f"the search value {what} inside it: nested search values are not supported",
        span=span,
        hint="list every value in one search value, e.g. choice(16, 32, 64, 128), or use one range(16, 128)",
    )


def _no_layers(call: S.CallExpr, values: tuple) -> None:
    from neural_engine import layers

    found = [v for v in values if isinstance(v, Call) and v.name.lower() in layers._LOOKUP]
    if found:
        raise ValidationError(
            f"choice takes parameter values; received the layer {show(found[0])}: "
            "a search value cannot choose between layers",
            span=call.span,
            hint="search a layer's parameters instead, e.g. Dense(HPO(choice(64, 128))), "
            "or write one network per alternative (a file may hold several)",
        )


def _kind(v) -> str:
    return "number" if isinstance(v, int | float) and not isinstance(v, bool) else type(v).__name__


def value(v) -> str:
    """A value as DSL source (the printer's and the messages').

    >>> value({"a b": (1,), "c": True})
    '{"a b": (1,), c: true}'
    """
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            raise ValueError(f"the DSL has no literal for {v}")
        return repr(v)
    if isinstance(v, str):
        return (
            '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
        )
    if isinstance(v, tuple | list):
        inner = ", ".join(value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{key_text(k)}: {value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, HPO):
        if v.kind == "choice":
            return f"HPO(choice({', '.join(value(x) for x in v.values)}))"
        step = f", step={value(v.step)}" if v.step is not None else ""
        return f"HPO({v.kind}({value(v.low)}, {value(v.high)}{step}))"
    if isinstance(v, Call):
        args = [value(a) for a in v.args] + [f"{k}={value(x)}" for k, x in v.kwargs.items()]
        return f"{v.name}({', '.join(args)})"
    raise ValueError(f"cannot print {type(v).__name__} {v!r} as DSL")


def key_text(k: str) -> str:
    """A dict key as DSL source: bare when it is an identifier."""
    return k if IDENT.match(k) else value(k)
