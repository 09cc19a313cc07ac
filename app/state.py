"""Every ``st.session_state`` key the app uses, in one place, with typed accessors."""

from __future__ import annotations

from typing import Any

import streamlit as st

GRAPH = "graph_json"          # the graph being edited, as its JSON dict (the canvas's format)
FLOW = "flow_state"           # the streamlit-flow state shown on the canvas (kept, never rebuilt per run)
FLOW_VERSION = "flow_version"  # bumped whenever FLOW is rebuilt: the canvas component's key (a new instance)
DSL = "dsl_text"              # the DSL editor's text
MESSAGE = "message"           # a one-shot message: (kind, text)
PROJECT = "project"           # the architecture project the canvas graph belongs to (saved versions)
VERSION = "version"           # the version number the canvas graph was loaded from or saved as (the next save's parent)
WATCHED_JOB = "watched_job"   # the Ray job the Train page shows (jobs themselves live in Ray)
DATASET = "dataset_ref"       # Datasets page: the dataset shown, "digits" or "name@<version id>"
DATASETS_TAB = "datasets_tab"  # Datasets page: the open tab (st.tabs key; only the open tab runs)
PIPELINE = "augment_pipeline"  # Datasets page: the augmentation builder's operations (a JSON list)
RUNS_TABLE = "runs_table"     # Experiments page: the runs table's selection (st.dataframe key)
RUNS_SHOWN = "runs_shown"     # Experiments page: run ids of the table's rows last shown (keeps the selection)
RUNS_TAB = "runs_tab"         # Experiments page: the open tab (st.tabs key; only the open tab runs)
EXPORT_RESULT = "export_result"  # Export page: the last export (report JSON, Markdown, folder, source)


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
