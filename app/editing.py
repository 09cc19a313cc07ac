"""The graph being edited: the one truth the canvas and the DSL text are drawn from.

Every change goes through ``commit`` (recorded for undo, the revision bumped, the canvas redrawn);
moving a node only updates its position (``move``). A page that opens a graph (a template, a
version, a sweep's best network) commits it like any edit, so it can be undone.
"""

from __future__ import annotations

from app import cache, state
from app.canvas_view import has_positions, with_layout
from app.history import History

PARAM_WIDGETS = "edit_"  # key prefix of the parameter editor's widgets


def current() -> dict:
    if state.get(state.GRAPH) is None:
        state.put(state.GRAPH, with_layout(cache.template_json("mnist_cnn")))
        state.put(state.ORIGIN, "mnist_cnn")
    return state.get(state.GRAPH)


def revision() -> int:
    return state.get(state.REVISION, 0)


def history() -> History:
    if state.get(state.HISTORY) is None:
        state.put(state.HISTORY, History())
    return state.get(state.HISTORY)


def commit(graph: dict, label: str, *, origin: str | None = None, from_params: bool = False) -> None:
    """Make ``graph`` the graph (laid out if it has no positions), undoably, as the change ``label``."""
    history().record(current(), label)
    _replace(graph, origin, keep_param_widgets=from_params)


def move(graph: dict) -> None:
    """Node positions changed on the canvas: nothing else did, nothing is redrawn."""
    state.put(state.GRAPH, graph)


def undo() -> str | None:
    """Go back one change; its label, or None when there is nothing to undo."""
    return _step(history().undo(current()))


def redo() -> str | None:
    """Make the last undone change again; its label, or None when there is none."""
    return _step(history().redo(current()))


def _step(step: tuple[dict, str] | None) -> str | None:
    if step is None:
        return None
    _replace(step[0], None)
    return step[1]


def _replace(graph: dict, origin: str | None, keep_param_widgets: bool = False) -> None:
    state.clear_flash()  # the last action's message is about the graph before
    state.put(state.GRAPH, graph if has_positions(graph) else with_layout(graph))
    state.put(state.REVISION, revision() + 1)
    state.put(state.ORIGIN, origin)
    state.put(state.FLOW, None)  # a new canvas instance, drawn from the new graph
    if state.get(state.SELECTED) not in {n["id"] for n in graph["nodes"]} | set(graph["inputs"]):
        state.put(state.SELECTED, None)
    if not keep_param_widgets:  # the editor shows the new graph's values, not what was typed before
        state.forget(PARAM_WIDGETS)
