"""The non-layer sections of a network: input, layout, loss, optimizer, metrics, schedule,
train and execution — parsed into the graph's ``inputs``, ``layout`` and ``training`` dict.

``training`` holds ``loss`` (a name or a Call), ``optimizer`` (a Call), ``metrics`` (names),
``lr_schedule`` (a Call), the ``train { }`` settings at top level, and ``execution`` (a dict).
"""

from __future__ import annotations

from typing import Any

from neural_engine.dsl import syntax as S
from neural_engine.dsl.parser import parse_value
from neural_engine.dsl.values import evaluate, show
from neural_engine.errors import Span, ValidationError, did_you_mean
from neural_engine.ir import HPO, LAYOUTS, Call
from neural_engine.optim import LOSSES, OPTIMIZERS, canonical_loss

# train-block key -> (check, expected text); HPO values are checked through their default
TRAIN_KEYS: dict[str, tuple[Any, str]] = {
    "epochs": (lambda v: _int(v) and v > 0, "a positive integer"),
    "batch_size": (lambda v: _int(v) and v > 0, "a positive integer"),
    "validation_split": (lambda v: _num(v) and 0 < v < 1, "a number in (0, 1)"),
    "shuffle": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "gradient_clip": (lambda v: _num(v) and v > 0, "a positive number"),
    "mixed_precision": (lambda v: isinstance(v, bool), "true or false"),
    "accumulation_steps": (lambda v: _int(v) and v > 0, "a positive integer"),
    "warmup_epochs": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "early_stopping": (lambda v: _int(v) and v > 0, "a patience in epochs (positive integer)"),
    "search_method": (lambda v: v in ("random", "grid", "bayesian"), '"random", "grid" or "bayesian"'),
    "num_trials": (lambda v: _int(v) and v > 0, "a positive integer"),
    "data_placement": (lambda v: v in ("auto", "device", "workers"), '"auto", "device" or "workers"'),
}
EXECUTION_KEYS: dict[str, tuple[Any, str]] = {
    "device": (lambda v: v in ("cpu", "cuda", "gpu", "auto"), '"cpu", "cuda", "gpu" or "auto"'),
    "num_workers": (lambda v: _int(v) and v > 0, "a positive integer"),
    "use_gpu": (lambda v: isinstance(v, bool), "true or false"),
}


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def parse_inputs(section: S.Section) -> dict[str, tuple]:
    """``(28, 28, 1)``, ``(None, 28, 28, 1)``, ``shape(1, 28, 28)``, ``{a: (…), b: (…)}``, or
    several shapes (named input_0, input_1, …)."""
    values = [evaluate(v, {}, section.span) for v in section.values]
    if len(values) == 1 and isinstance(values[0], dict):
        named = values[0]
    elif len(values) == 1:
        named = {"input": values[0]}
    else:
        named = {f"input_{i}": v for i, v in enumerate(values)}
    return {name: _shape(name, v, section.span) for name, v in named.items()}


def _shape(name: str, v, span: Span) -> tuple:
    if isinstance(v, Call) and v.name.lower() == "shape" and not v.kwargs:
        v = v.args
    if _int(v):
        v = (v,)
    if not isinstance(v, tuple) or not v:
        raise ValidationError(
            f"input {name!r} must be a shape like (28, 28, 1); received {show(v)}", span=span
        )
    if v[0] is None and len(v) > 1:
        v = v[1:]  # a leading None is the batch
    if any(not _int(d) or d < 1 for d in v):
        raise ValidationError(
            f"input dimensions must be positive integers; received {show(v)} for {name!r}",
            span=span,
            hint="leave the batch out, e.g. input: (28, 28, 1)",
        )
    return v


def parse_layout(section: S.Section) -> str:
    v = evaluate(section.values[0], {}, section.span)
    if v not in LAYOUTS:
        raise ValidationError(
            f"layout must be channels_last or channels_first; received {show(v)}",
            span=section.span,
            hint=did_you_mean(str(v), LAYOUTS),
        )
    return v


def _unquoted(section: S.Section):
    """The section's value; a quoted call (``"Adam(learning_rate=1e-3)"``) reads as the call."""
    v = section.values[0]
    if isinstance(v, str) and "(" in v:
        v = parse_value(v, section.span)
    return v


def _one(v, what: str, example: str, span: Span) -> None:
    if isinstance(v, HPO):
        raise ValidationError(
            f"{what} must be one {what}, e.g. {example}; received the search value {show(v)}: "
            f"a search value cannot choose the {what}",
            span=span,
            hint=f"search its arguments instead, e.g. {example}, or write one network per {what}",
        )


def parse_loss(section: S.Section):
    v = evaluate(_unquoted(section), {}, section.span)
    _one(v, "loss", "Huber(delta=HPO(choice(0.5, 1.0)))", section.span)
    name = v.name if isinstance(v, Call) else v
    canonical = canonical_loss(name) if isinstance(name, str) else None
    if canonical is None:
        raise ValidationError(
            f"loss must be a known loss; received {show(name)}",
            span=section.span,
            hint=did_you_mean(str(name), LOSSES) or "known: " + ", ".join(LOSSES),
        )
    return Call(canonical, v.args, v.kwargs) if isinstance(v, Call) else canonical


def parse_optimizer(section: S.Section) -> Call:
    """``Adam(learning_rate=1e-3)``, ``"Adam"``, ``Adam``, ``"Adam" { learning_rate: 1e-3 }``,
    ``"Adam(learning_rate=1e-3)"``."""
    v = evaluate(_unquoted(section), {}, section.span)
    _one(v, "optimizer", "Adam(learning_rate=HPO(log_range(1e-4, 1e-2)))", section.span)
    extra = evaluate(section.values[1], {}, section.span) if len(section.values) > 1 else {}
    call = v if isinstance(v, Call) else Call(v) if isinstance(v, str) else None
    info = OPTIMIZERS.get(call.name.lower()) if call else None
    if info is None:
        raise ValidationError(
            f"optimizer must be a known optimizer; received {show(v)}",
            span=section.span,
            hint=did_you_mean(str(getattr(v, "name", v)), [o.name for o in OPTIMIZERS.values()])
            or "known: " + ", ".join(o.name for o in OPTIMIZERS.values()),
        )
    kwargs = {**call.kwargs, **extra}
    lr = kwargs.get("learning_rate", kwargs.get("lr"))
    lr = lr.default if isinstance(lr, HPO) else lr
    if lr is not None and not isinstance(lr, Call) and (not _num(lr) or lr <= 0):
        raise ValidationError(
            f"{info.name} learning_rate must be a positive number; received {show(lr)}",
            span=section.span,
            hint="e.g. learning_rate=1e-3",
        )
    return Call(info.name, call.args, kwargs)


def parse_metrics(section: S.Section) -> tuple[str, ...]:
    v = evaluate(section.values[0], {}, section.span)
    items = v if isinstance(v, tuple) else (v,)
    if not all(isinstance(m, str) for m in items):
        raise ValidationError(
            f'metrics must be names like ["accuracy"]; received {show(v)}', span=section.span
        )
    return tuple(items)


def parse_schedule(section: S.Section) -> Call:
    v = evaluate(section.values[0], {}, section.span)
    if not isinstance(v, Call):
        raise ValidationError(
            f"lr_schedule must be a call like StepDecay(step_size=10, gamma=0.1); received {show(v)}",
            span=section.span,
        )
    return v


def parse_settings(section: S.Section, keys: dict[str, tuple[Any, str]], what: str) -> dict[str, Any]:
    """A ``train { … }`` or ``execution { … }`` block, each key checked with its span."""
    block = section.values[0]
    out = {}
    for key, value, span in block.pairs:
        if key not in keys:
            raise ValidationError(
                f"{what} has no setting {key!r}",
                span=span,
                hint=did_you_mean(key, keys) or f"{what} settings: {', '.join(keys)}",
            )
        v = evaluate(value, {}, span)
        check, expected = keys[key]
        probe = v.default if isinstance(v, HPO) else v
        if not check(probe):
            raise ValidationError(f"{key} must be {expected}; received {show(v)}", span=span)
        out[key] = v
    return out
