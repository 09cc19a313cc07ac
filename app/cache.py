"""All caching: pure engine calls keyed by their JSON input (``st.cache_data``)."""

from __future__ import annotations

import json

import streamlit as st

from neural_engine.errors import NeuralForgeError


@st.cache_data(max_entries=256, show_spinner=False)
def analyse(graph_text: str) -> dict:
    """The report of a graph (JSON text) or the error that stops it: ``{"report"|"error": …}``."""
    from neural_engine.ir import Graph
    from neural_engine.report import report
    try:
        r = report(Graph.from_json(json.loads(graph_text)))
    except NeuralForgeError as err:
        return {"error": err.to_dict()}
    return {"report": r.to_json()}


@st.cache_data(max_entries=64, show_spinner=False)
def template_json(name: str) -> dict:
    from neural_engine.templates import template
    return template(name).to_json()


@st.cache_data(max_entries=64, show_spinner=False)
def dsl_of(graph_text: str) -> str:
    from neural_engine.dsl import print_dsl
    from neural_engine.ir import Graph
    return print_dsl(Graph.from_json(json.loads(graph_text)))


@st.cache_data(show_spinner=False)
def catalog() -> list[dict]:
    from neural_engine.data.catalog import ENTRIES
    return [{"name": e.name, "task": e.task, "input shape": str(e.input_shape), "classes": e.num_classes,
             "samples": e.samples, "source": e.source} for e in ENTRIES.values()]
