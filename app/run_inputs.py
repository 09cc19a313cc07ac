"""Inputs the Train and Sweeps pages share: the architecture picker (the Canvas's network, saved
versions, templates), the Ray banner, error messages."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from app import cache, editing, state
from neural_engine.errors import NeuralForgeError

TEMPLATE = "template:"
CANVAS = "canvas"


def error_message(err: NeuralForgeError) -> None:
    st.error(err.message + (f"\n\nHint: {err.hint}" if err.hint else ""))


def architecture_ui(key: str, dataset: str) -> tuple[str, str]:
    """The architecture picked: ("graph", a file of the Canvas's network), ("project", "name@vN") or
    ("template", name). The Canvas's network comes first (it is what the user is working on); the
    first choice offered is the first that fits ``dataset``, so the form never starts with an error."""
    refs = cache.architecture_refs()
    options = [CANVAS, *refs, *(TEMPLATE + t for t in cache.template_names())]
    if key not in st.session_state:
        st.session_state[key] = next((o for o in options if cache.fits(*_source(o), dataset)), options[0])
    name = editing.current().get("name", "network")
    choice = st.selectbox(
        "Architecture",
        options,
        key=key,
        format_func=lambda o: f"the Canvas's network ({name})" if o == CANVAS else o,
    )
    return _source(choice)


def _source(option: str) -> tuple[str, str]:
    if option == CANVAS:
        return "graph", canvas_file()
    return ("template", option.removeprefix(TEMPLATE)) if option.startswith(TEMPLATE) else ("project", option)


def canvas_file() -> str:
    """The Canvas's graph as a JSON file under the data home (named by its content), for checks."""
    from neural_engine.settings import settings

    text = json.dumps(editing.current(), sort_keys=True)
    path = settings().home / "canvas" / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return str(path)


def submittable(config):
    """``config`` as a cluster can run it: the Canvas's network is saved as an architecture version
    first (its project's latest version when that is the same network), so the run names it."""
    from dataclasses import replace
    from pathlib import Path

    from neural_engine.data.storage import open_storage
    from neural_engine.ir import Graph
    from neural_engine.projects import load_version, save_version, version_numbers

    if config.graph is None:
        return config
    graph = Graph.from_json(json.loads(Path(config.graph).read_text(encoding="utf-8")))
    project = state.get(state.PROJECT) or graph.name.lower()
    numbers = version_numbers(project, open_storage())
    latest = load_version(project, numbers[-1]) if numbers else None
    if latest is None or latest.graph != graph:
        latest = save_version(
            project,
            graph,
            "the Canvas's network, submitted from the dashboard",
            parent=numbers[-1] if numbers else None,
        )
        cache.architecture_refs.clear()
    return replace(config, graph=None, project=latest.ref)


def ray_address() -> str | None:
    """The cluster's address, or None with a banner saying what to start."""
    from ray_jobs.cluster import submit

    try:
        return submit.resolve_address()
    except NeuralForgeError as err:
        st.warning(
            f"Ray is not reachable: {err.message}.\n\nStart it with `neuralforge cluster up` "
            "(`make run` does), or set RAY_ADDRESS to a cluster's dashboard URL."
        )
        return None
