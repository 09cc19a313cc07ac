"""Every ``st.session_state`` key the app uses, in one place, with typed accessors."""

from __future__ import annotations

from typing import Any

import streamlit as st

GRAPH = "graph_json"  # the graph being edited, as its JSON dict (the canvas's format): the truth
REVISION = "graph_revision"  # bumped by every change of GRAPH but a move: what a view was drawn from
HISTORY = "graph_history"  # app.history.History: undo/redo of the last 50 changes of GRAPH
ORIGIN = "graph_origin"  # the template GRAPH was opened from, until it is edited
FLOW = "flow_state"  # the streamlit-flow state shown on the canvas (kept, never rebuilt per run)
FLOW_VERSION = "flow_version"  # bumped whenever FLOW is rebuilt: the canvas component's key (a new instance)
SELECTED = "selected_node"  # the node selected on the canvas (the parameter editor's node)
DSL_EDITOR = "dsl_editor"  # the DSL text area (st.text_area key): the printed graph unless edited
DSL_DRAFT = "dsl_draft"  # an unapplied DSL edit: {"text", "base": the REVISION it was written against}
TEMPLATE_PICKER = "template_picker"  # Canvas: the template picker (st.selectbox key)
PICKER_SYNCED = (
    "template_picker_revision"  # the REVISION the picker was last set to name the graph's template
)
CANVAS_TAB = "canvas_tab"  # Canvas page: the open tab (st.tabs key)
MESSAGE = "message"  # the last action's message: (place, kind, text, page title)
PAGE = "page"  # the title of the page shown
PROJECT = "project"  # the architecture project the canvas graph belongs to (saved versions)
VERSION = (
    "version"  # the version number the canvas graph was loaded from or saved as (the next save's parent)
)
WATCHED_JOB = "watched_job"  # the Ray job the Train page shows (jobs themselves live in Ray)
DATASET = "dataset_ref"  # Datasets page: the dataset shown, "digits" or "name@<version id>"
DATASETS_TAB = "datasets_tab"  # Datasets page: the open tab (st.tabs key; only the open tab runs)
PIPELINE = "augment_pipeline"  # Datasets page: the augmentation builder's operations (a JSON list)
RUNS_TABLE = "runs_table"  # Experiments page: the runs table's selection (st.dataframe key)
RUNS_SHOWN = "runs_shown"  # Experiments page: run ids of the table's rows last shown (keeps the selection)
RUNS_TAB = "runs_tab"  # Experiments page: the open tab (st.tabs key; only the open tab runs)
EXPORT_RESULT = "export_result"  # Export page: the last export (report JSON, Markdown, folder, source)


def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def flash(kind: str, text: str, place: str = "page", page: str | None = None) -> None:
    """Say ``text`` on the next render of ``place`` on ``page`` (default: this page), where the action
    that produced it is (kind: success, info, warning, error). Another page drops it."""
    st.session_state[MESSAGE] = (place, kind, text, page or get(PAGE))


def show_flash(place: str = "page", *, until_next_action: bool = False) -> None:
    """Show the message for ``place`` once; or, inside a fragment that reruns by itself (the canvas
    reruns when its component mounts), ``until_next_action`` clears it (``clear_flash``)."""
    message = st.session_state.get(MESSAGE)
    if message and message[0] == place:
        if not until_next_action:
            del st.session_state[MESSAGE]
        getattr(st, message[1])(message[2])


def clear_flash(unless_page: str | None = None) -> None:
    message = st.session_state.get(MESSAGE)
    if message and message[3] != unless_page:
        del st.session_state[MESSAGE]


def forget(prefix: str) -> None:
    """Drop the widget state of every key starting with ``prefix`` (widgets start from their value)."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix)]:
        del st.session_state[key]
