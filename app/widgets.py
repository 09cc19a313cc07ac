"""Typed inputs for a layer's parameters, read from its registry spec (kind, default, range)."""

from __future__ import annotations

import streamlit as st

from neural_engine.errors import NeuralForgeError
from neural_engine.layers.activations import ACTIVATIONS
from neural_engine.layers.base import LayerSpec, Param


def _ints(text: str) -> int | tuple[int, ...]:
    parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
    values = tuple(int(float(p)) for p in parts)
    return values[0] if len(values) == 1 and "," not in text else values


def _widget(p: Param, value, key: str):
    """The value entered for ``p``; ``value`` itself while the input still shows it (showing a
    value must never change it: "linear" for no activation, "3" for 3)."""
    label = p.name + ("" if p.range_text() is None else f" {p.range_text()}")
    if p.kind == "bool":
        return st.checkbox(label, value=bool(value), key=key, help=p.doc or None)
    if p.kind == "activation":
        options = ["linear", *ACTIVATIONS]
        shown = value or "linear"
        choice = st.selectbox(label, options, index=options.index(shown), key=key, help=p.doc or None)
        return value if choice == shown and not p.required else choice
    if p.kind == "str" and p.choices:
        return st.selectbox(
            label, p.choices, index=p.choices.index(value) if value in p.choices else 0, key=key
        )
    text = "" if value is None else str(value)
    raw = st.text_input(label, value=text, key=key, help=p.doc or None)
    if raw == text:
        return value
    if raw.strip() == "":
        return None
    if p.kind == "int":
        return int(float(raw))
    if p.kind == "float":
        return float(raw)
    if p.kind in ("size", "ints") or (p.kind == "padding" and raw.strip("\"' ") not in ("valid", "same")):
        return _ints(raw)
    return raw.strip("\"' ")


def param_inputs(spec: LayerSpec, params: dict, *, key: str, required_only: bool = False) -> dict | None:
    """The values entered, checked by the spec (None, with the error shown, when they are wrong)."""
    out = {}
    for p in spec.params:
        if required_only and not p.required:
            continue
        current = params.get(p.name, None if p.required else p.default)
        try:
            value = _widget(p, current, f"{key}_{p.name}")
        except ValueError:
            st.error(f"{p.name} must be {p.kind}; received text that is not")
            return None
        if value is not None and (p.name in params or value != p.default or p.required):
            out[p.name] = value
    missing = [p.name for p in spec.params if p.required and p.name not in out]
    if required_only and missing:  # a new layer not filled in yet: say what it needs, no error
        st.caption(f"{spec.name} needs {', '.join(missing)}.")
        return None
    try:
        spec.validate(out)
    except NeuralForgeError as err:
        st.error(f"{err.message}" + (f" — {err.hint}" if err.hint else ""))
        return None
    return out


def augment_param_input(d, key: str):
    """An input for one augmentation parameter (``augment.ParamDoc``): numbers with their range,
    checkboxes, choices; lists and unions as JSON text (ValueError when it is not JSON)."""
    import json

    label = d.name + (" (required)" if d.required else "")
    if d.kind == "bool":
        return st.checkbox(label, value=bool(d.default), key=key, help=d.expects)
    if d.kind == "choice":
        return st.selectbox(label, d.choices, index=d.choices.index(d.default), key=key, help=d.expects)
    if d.kind in ("int", "number"):
        cast = int if d.kind == "int" else float
        small = d.lo is not None and d.hi is not None and d.hi - d.lo <= 1
        return st.number_input(
            label,
            None if d.lo is None else cast(d.lo),
            None if d.hi is None else cast(d.hi),
            None if d.default is None else cast(d.default),
            step=1 if d.kind == "int" else (0.05 if small else 1.0),
            key=key,
            help=d.expects,
        )
    text = st.text_input(
        label,
        value="" if d.default is None else json.dumps(d.default),
        key=key,
        placeholder=d.expects,
        help=f"JSON: {d.expects}",
    )
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(
            f'{d.name} must be JSON: a number, a list such as [8, 8], true/false or "text"; received {text!r}'
        ) from None
