"""Canvas: the graph as boxes and arrows (streamlit-flow) and as DSL text — two views of one graph.

The graph in session state is the truth (``app.editing``); the canvas and the DSL text are drawn
from it after every change, on either side, and every change can be undone (Ctrl+Z). Shapes,
parameters and FLOPs are re-checked at once (cached pure engine calls); the node an error stops at
turns red with the message. Messages appear beside the action that produced them.
"""

from __future__ import annotations

import json

import streamlit as st

from app import cache, editing, flow_component, state
from app.canvas_view import (
    VIEW_H,
    apply_canvas,
    flow_state,
    insert_after,
    last_node,
    selected_of,
    set_params,
    structure,
)
from app.widgets import param_inputs
from neural_engine import layers
from neural_engine.errors import NeuralForgeError
from neural_engine.report import human, human_bytes
from neural_engine.templates import TEMPLATES

ALL_FAMILIES = "all families"
TABS = ["Canvas", "DSL", "Versions"]


def analysis_of(graph: dict) -> dict:
    return cache.analyse(json.dumps(graph, sort_keys=True))


def header_ui() -> None:
    """Open a template; undo and redo any change of the graph."""
    if state.get(state.PICKER_SYNCED) != editing.revision():  # the picker names what the canvas holds
        st.session_state[state.TEMPLATE_PICKER] = state.get(state.ORIGIN)
        state.put(state.PICKER_SYNCED, editing.revision())
    cols = st.columns([5, 2, 2, 2], vertical_alignment="bottom")
    name = cols[0].selectbox(
        "Template",
        list(TEMPLATES),
        index=None,
        key=state.TEMPLATE_PICKER,
        placeholder="(the canvas holds an edited network)",
        format_func=lambda n: f"{n} — {TEMPLATES[n].doc}",
    )
    if cols[1].button("Open template", width="stretch", key="open_template", disabled=name is None):
        editing.commit(cache.template_json(name), f"open template {name}", origin=name)
        state.flash("success", f"Opened {name}.", "header")
        st.rerun()
    if cols[2].button("Undo", width="stretch", key="undo", shortcut="Ctrl+Z", icon=":material/undo:"):
        label = editing.undo()
        state.flash(
            "info" if label else "warning", f"Undid: {label}." if label else "Nothing to undo.", "header"
        )
        st.rerun()
    if cols[3].button("Redo", width="stretch", key="redo", shortcut="Ctrl+Shift+Z", icon=":material/redo:"):
        label = editing.redo()
        state.flash(
            "info" if label else "warning", f"Redid: {label}." if label else "Nothing to redo.", "header"
        )
        st.rerun()
    state.show_flash("header")


def totals_ui(analysis: dict) -> None:
    if "error" in analysis:
        err = analysis["error"]
        where = f" (node `{err['node']}`)" if err.get("node") else ""
        st.error(f"{err['message']}{where}" + (f"\n\nHint: {err['hint']}" if err.get("hint") else ""))
        return
    r = analysis["report"]
    c = st.columns(4)
    c[0].metric("Parameters", f"{r['params']:,}")
    c[1].metric("FLOPs / sample", human(r["flops"]))
    c[2].metric("Training memory", human_bytes(r["memory"]["total"]))
    c[3].metric("Layers", len(r["nodes"]))
    for lint in r["lints"]:
        st.warning(f"`{lint['node']}`: {lint['message']}" + (f" — {lint['hint']}" if lint["hint"] else ""))


@st.fragment
def canvas_ui() -> None:
    graph = editing.current()
    analysis = analysis_of(graph)
    totals_ui(analysis)
    if state.get(state.FLOW) is None:
        # A changed graph gets a new component instance: the old one's last value, or an event it
        # sends while switching, describes the old graph and must never be applied to the new one.
        state.put(state.FLOW, flow_state(graph, analysis, state.get(state.SELECTED)))
        state.put(state.FLOW_VERSION, state.get(state.FLOW_VERSION, 0) + 1)
    shown = state.get(state.FLOW)
    st.caption(
        "Click a layer to edit it · drag from a handle to connect · Delete or Backspace removes the "
        "selection · Ctrl+Z undoes"
    )
    new = flow_component.canvas(f"canvas_{state.get(state.FLOW_VERSION)}", shown, height=VIEW_H)
    if new.timestamp != shown.timestamp:  # an event from the browser
        state.put(state.FLOW, new)
        if selected_of(new) != state.get(state.SELECTED):  # a click is an action: older messages go
            state.put(state.SELECTED, selected_of(new))
            state.clear_flash()
        edited = apply_canvas(graph, new)
        if structure(edited) != structure(graph):
            editing.commit(edited, change_label(graph, edited))
            rerun_fragment()
        editing.move(edited)
    palette_ui(editing.current(), state.get(state.SELECTED))


def change_label(before: dict, after: dict) -> str:
    """What a canvas edit did, for undo: "delete dense_1", "connect a → b", …"""
    ids = {n["id"] for n in before["nodes"]} - {n["id"] for n in after["nodes"]}
    pairs = lambda g: {(e["source"], e["target"]) for e in g["edges"]}
    if ids:
        return "delete " + ", ".join(sorted(ids))
    added, removed = pairs(after) - pairs(before), pairs(before) - pairs(after)
    parts = [f"connect {s} → {t}" for s, t in sorted(added)] + [
        f"delete edge {s} → {t}" for s, t in sorted(removed)
    ]
    return "; ".join(parts) or "edit the canvas"


def rerun_fragment() -> None:
    """Rerun just the canvas when this is a fragment rerun (a canvas event), else the page."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def palette_ui(graph: dict, selected: str | None) -> None:
    left, right = st.columns(2)
    with left:
        add_layer_ui(graph, selected)
    with right:
        params_ui(graph, selected)


def add_layer_ui(graph: dict, selected: str | None) -> None:
    """A new layer inserted after the selected node (or the last one): A → new → B."""
    st.markdown("**Add a layer**")
    fams = layers.families()
    family = st.selectbox("Family", [ALL_FAMILIES, *sorted(fams)], key="palette_family")
    names = (
        sorted(s.name for f in fams.values() for s in f)
        if family == ALL_FAMILIES
        else [s.name for s in fams[family]]
    )
    spec = st.selectbox("Layer", names, key="palette_layer", help="type to search")
    values = param_inputs(layers.get(spec), {}, key=f"new_{spec}", required_only=True)
    after = selected or last_node(graph)
    targets = [e["target"] for e in graph["edges"] if e["source"] == after]
    branch = st.checkbox(
        "As a new branch",
        key="palette_branch",
        help="keep the edges leaving the node; the new layer is an extra output of it",
    )
    where = f"`{after}` → new" + ("" if branch or not targets else f" → `{', '.join(targets)}`")
    st.caption(f"Inserts {where}" + (" (click a layer to insert elsewhere)" if not selected else ""))
    if st.button("Add layer", key="add_layer") and values is not None:
        edited = insert_after(graph, spec, values, after, branch=branch)
        new_node = next(n["id"] for n in edited["nodes"] if n["id"] not in {m["id"] for m in graph["nodes"]})
        editing.commit(edited, f"add {new_node} after {after}")
        state.put(state.SELECTED, new_node)
        state.flash("success", f"Added {new_node} after {after}.", "palette")
        rerun_fragment()
    state.show_flash("palette", until_next_action=True)


def params_ui(graph: dict, selected: str | None) -> None:
    """The selected layer's parameters; a change is applied as soon as the field is left (Tab,
    Enter or a click elsewhere), checked by the layer's spec first."""
    node = next((n for n in graph["nodes"] if n["id"] == selected), None)
    if node is None:
        st.caption("Click a layer on the canvas to edit its parameters.")
        return
    st.markdown(f"**{node['type']} · {node['id']}**")
    values = param_inputs(
        layers.get(node["type"]), node["params"], key=f"{editing.PARAM_WIDGETS}{node['id']}"
    )
    if values is not None and json.loads(json.dumps(values)) != node["params"]:
        editing.commit(set_params(graph, node["id"], values), f"edit {node['id']}", from_params=True)
        rerun_fragment()


def dsl_ui() -> None:
    """The graph printed as DSL, unless the user has an unapplied edit (kept, and said so)."""
    graph = editing.current()
    try:
        canonical = cache.dsl_of(json.dumps(graph, sort_keys=True))
    except NeuralForgeError as err:
        canonical = f"# the graph cannot be printed yet: {err}\n"
    draft = state.get(state.DSL_DRAFT)
    st.session_state[state.DSL_EDITOR] = draft["text"] if draft else canonical
    state.show_flash("dsl")
    st.text_area(
        "DSL", key=state.DSL_EDITOR, height=420, on_change=_dsl_edited, args=(canonical, editing.revision())
    )
    if draft is None:
        apply = st.button("Apply DSL", key="apply_dsl")
    else:
        stale = draft["base"] != editing.revision()
        if stale:
            st.warning(
                "This text was written against an earlier graph, which has changed since "
                "(on the canvas, by undo, or by opening another network). Applying it replaces the "
                "current graph with the text's network."
            )
        else:
            st.info("Unapplied edit: Apply DSL puts it on the canvas; Discard shows the current graph again.")
        c = st.columns([1, 1, 3])
        apply = c[0].button(
            "Apply anyway" if stale else "Apply DSL",
            key="apply_dsl",
            type="primary" if stale else "secondary",
        )
        if c[1].button("Discard my edit", key="discard_dsl"):
            state.put(state.DSL_DRAFT, None)
            st.rerun()
    if apply:
        apply_dsl(st.session_state[state.DSL_EDITOR])
    analysis = analysis_of(graph)
    if "error" in analysis:  # the applied graph's check, here too: the user need not switch tabs
        totals_ui(analysis)


def _dsl_edited(canonical: str, revision: int) -> None:
    text = st.session_state[state.DSL_EDITOR]
    state.put(state.DSL_DRAFT, None if text == canonical else {"text": text, "base": revision})


def apply_dsl(text: str) -> None:
    from neural_engine.dsl import parse_file

    try:
        parsed = parse_file(text, "canvas.neural")
        graph_json = parsed.default.to_json()
    except NeuralForgeError as err:  # the text stays as typed, the graph as it was
        st.error(err.message + (f"\n\nHint: {err.hint}" if err.hint else ""))
        st.code(err.render(text), language="text")
        return
    editing.commit(graph_json, f"apply DSL ({parsed.default.name})")
    state.put(state.DSL_DRAFT, None)
    warnings = "".join(f"\n\n⚠ {w}" for w in parsed.warnings)
    state.flash("success", f"Network {parsed.default.name} applied to the canvas.{warnings}", "dsl")
    st.rerun()


def versions_ui() -> None:
    """Save the graph as a version of a project (message, parent), load any version, diff two."""
    from neural_engine.diff import diff_graphs
    from neural_engine.ir import Graph
    from neural_engine.projects import save_version

    graph = editing.current()
    c = st.columns([2, 3, 1], vertical_alignment="bottom")
    project = (
        c[0]
        .text_input(
            "Project", state.get(state.PROJECT) or graph.get("name", "net").lower(), key="project_name"
        )
        .strip()
    )
    message = c[1].text_input("Message", key="version_message", placeholder="what changed")
    if c[2].button("Save version", width="stretch", key="save_version"):
        parent = state.get(state.VERSION) if state.get(state.PROJECT) == project else None
        try:
            v = save_version(project, Graph.from_json(graph), message, parent=parent)
        except NeuralForgeError as err:
            st.error(err.message + (f" — {err.hint}" if err.hint else ""))
            return
        state.put(state.PROJECT, project)
        state.put(state.VERSION, v.number)
        cache.architecture_refs.clear()
        cache.project_versions.clear()
        state.flash(
            "success", f"Saved {v.ref}" + (f" (parent v{v.parent})" if v.parent else "") + ".", "versions"
        )
        st.rerun()
    state.show_flash("versions")
    try:
        saved = cache.project_versions(project)
    except NeuralForgeError as err:
        st.error(err.message)
        return
    if not saved:
        st.caption(f"No versions of {project!r} yet.")
        return
    st.dataframe(
        [
            {
                "version": f"v{v.number}",
                "parent": f"v{v.parent}" if v.parent else "",
                "message": v.message,
                "user": v.user,
                "saved": v.label.rsplit(" · ", 1)[-1],
            }
            for v in reversed(saved)
        ],
        hide_index=True,
        width="stretch",
    )
    numbers = [v.number for v in reversed(saved)]
    c = st.columns([2, 1], vertical_alignment="bottom")
    chosen = c[0].selectbox("Version", numbers, format_func=lambda n: f"v{n}", key="load_version")
    if c[1].button("Load version", width="stretch", key="load_version_button"):
        editing.commit(
            next(v for v in saved if v.number == chosen).graph.to_json(), f"load {project}@v{chosen}"
        )
        state.put(state.PROJECT, project)
        state.put(state.VERSION, chosen)
        state.flash("success", f"Loaded {project}@v{chosen}.", "versions")
        st.rerun()
    if len(numbers) > 1:
        c = st.columns(2)
        a = c[0].selectbox("Diff from", numbers, index=1, format_func=lambda n: f"v{n}", key="diff_a")
        b = c[1].selectbox("to", numbers, index=0, format_func=lambda n: f"v{n}", key="diff_b")
        by_number = {v.number: v.graph for v in saved}
        lines = diff_graphs(by_number[a], by_number[b]).lines()
        st.code("\n".join(lines) or "(no differences)", language="diff")


st.title("Canvas")
state.show_flash()
header_ui()
tabs = st.tabs(TABS, key=state.CANVAS_TAB, on_change="rerun")
for tab, body in zip(tabs, (canvas_ui, dsl_ui, versions_ui)):
    with tab:
        if tab.open:
            body()
