"""Every ``st.session_state`` key the app uses, in one place, with typed accessors."""

from __future__ import annotations

from typing import Any

import streamlit as st

GRAPH = "graph_json"          # the graph being edited, as its JSON dict (the canvas's format)
FLOW = "flow_state"           # the streamlit-flow state shown on the canvas (kept, never rebuilt per run)
FLOW_VERSION = "flow_version"  # bumped when the graph changes outside the canvas; rebuilds FLOW
DSL = "dsl_text"              # the DSL editor's text
MESSAGE = "message"           # a one-shot message: (kind, text)


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def flash(kind: str, text: str) -> None:
    """Show ``text`` once on the next render (kind: success, info, warning, error)."""
    st.session_state[MESSAGE] = (kind, text)


def show_flash() -> None:
    message = st.session_state.pop(MESSAGE, None)
    if message:
        getattr(st, message[0])(message[1])
