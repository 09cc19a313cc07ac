"""Canvas: the graph as boxes and arrows (streamlit-flow) and as DSL text — two views of one graph.

Edits on either side update the graph; shapes, parameters and FLOPs are re-checked at once
(cached pure engine calls); the node an error stops at turns red with the message.
"""

from __future__ import annotations

import json

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit_flow import streamlit_flow
from streamlit_flow.layouts import ManualLayout

from app import cache, state
from app.canvas_view import apply_canvas, flow_state, structure
from app.widgets import param_inputs
from neural_engine import layers
from neural_engine.errors import NeuralForgeError
from neural_engine.report import human, human_bytes
from neural_engine.templates import TEMPLATES

ALL_FAMILIES = "all families"


def current_graph() -> dict:
    if state.get(state.GRAPH) is None:
        state.put(state.GRAPH, cache.template_json("mnist_cnn"))
    return state.get(state.GRAPH)


def set_graph(graph: dict) -> None:
    """Replace the graph from outside the canvas: the canvas state is rebuilt once."""
    state.put(state.GRAPH, graph)
    state.put(state.FLOW, None)
    state.put(state.DSL, None)


def analysis_of(graph: dict) -> dict:
    return cache.analyse(json.dumps(graph, sort_keys=True))


def template_ui() -> None:
    cols = st.columns([3, 1])
    name = cols[0].selectbox("Template", list(TEMPLATES), format_func=lambda n: f"{n} — {TEMPLATES[n].doc}")
    if cols[1].button("Open template", width="stretch", key="open_template"):
        set_graph(cache.template_json(name))
        state.flash("success", f"Opened {name}.")


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
    graph = current_graph()
    analysis = analysis_of(graph)
    totals_ui(analysis)
    if state.get(state.FLOW) is None:
        # A graph replaced from outside the canvas (template, version, DSL, palette, a structural
        # edit) gets a new component instance: the old one's last value, or an event it sends while
        # switching, describes the old graph and must never be applied to the new one.
        state.put(state.FLOW, flow_state(graph, analysis))
        state.put(state.FLOW_VERSION, state.get(state.FLOW_VERSION, 0) + 1)
    shown = state.get(state.FLOW)
    new = streamlit_flow(f"canvas_{state.get(state.FLOW_VERSION)}", shown, height=560, fit_view=True,
                         show_minimap=False, allow_new_edges=True, get_node_on_click=True,
                         enable_node_menu=True, enable_edge_menu=True, layout=ManualLayout(),
                         hide_watermark=True)
    edited = apply_canvas(graph, new)
    state.put(state.FLOW, new)
    if structure(edited) != structure(graph):
        set_graph(edited)  # shapes change: relabel once
        rerun_fragment()
    state.put(state.GRAPH, edited)  # positions only
    palette_ui(edited, new.selected_id)


def rerun_fragment() -> None:
    """Rerun just the canvas when this is a fragment rerun (a canvas event), else the page."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def palette_ui(graph: dict, selected: str | None) -> None:
    """Add a layer after the selected node (or the last), and edit the selected node's parameters."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Add a layer**")
        fams = layers.families()
        family = st.selectbox("Family", [ALL_FAMILIES, *sorted(fams)], key="palette_family")
        names = sorted(s.name for f in fams.values() for s in f) if family == ALL_FAMILIES \
            else [s.name for s in fams[family]]
        spec = st.selectbox("Layer", names, key="palette_layer", help="type to search")
        values = param_inputs(layers.get(spec), {}, key=f"new_{spec}", required_only=True)
        if st.button("Add layer", key="add_layer") and values is not None:
            set_graph(add_node(graph, spec, values, after=selected))
            st.rerun()
    with right:
        node = next((n for n in graph["nodes"] if n["id"] == selected), None)
        if node is None:
            st.caption("Click a layer on the canvas to edit its parameters.")
            return
        st.markdown(f"**{node['type']} · {node['id']}**")
        values = param_inputs(layers.get(node["type"]), node["params"], key=f"edit_{node['id']}")
        if st.button("Apply parameters", key="apply_params") and values is not None:
            node_params = {k: v for k, v in values.items()}
            set_graph({**graph, "nodes": [{**n, "params": node_params} if n["id"] == node["id"] else n
                                          for n in graph["nodes"]]})
            st.rerun()


def add_node(graph: dict, type_: str, params: dict, after: str | None) -> dict:
    """``graph`` with a new ``type_`` node fed by ``after`` (default: the last node or input)."""
    ids = {n["id"] for n in graph["nodes"]} | set(graph["inputs"])
    n = 1
    while f"{type_.lower()}_{n}" in ids:
        n += 1
    node_id = f"{type_.lower()}_{n}"
    source = after or (graph["nodes"][-1]["id"] if graph["nodes"] else next(iter(graph["inputs"])))
    node = {"id": node_id, "type": type_, "params": params, "position": {"x": 0, "y": 0}}
    edge = {"id": f"e_{source}_{node_id}", "source": source, "target": node_id}
    return {**graph, "nodes": [*graph["nodes"], node], "edges": [*graph["edges"], edge]}


def dsl_ui() -> None:
    graph = current_graph()
    try:
        canonical = cache.dsl_of(json.dumps(graph, sort_keys=True))
    except NeuralForgeError as err:
        canonical = f"# the graph cannot be printed yet: {err}\n"
    text = st.text_area("DSL", value=state.get(state.DSL) or canonical, height=420, key="dsl_editor")
    if st.button("Apply DSL", key="apply_dsl"):
        from neural_engine.dsl import parse_file
        state.put(state.DSL, text)
        try:
            parsed = parse_file(text, "canvas.neural")
            graph_json = parsed.default.to_json()
        except NeuralForgeError as err:
            st.error(f"{err.message}")
            st.code(err.render(text), language="text")
            return
        set_graph(graph_json)
        for warning in parsed.warnings:
            st.warning(str(warning))
        state.flash("success", f"Network {parsed.default.name} applied to the canvas.")
        st.rerun()


def versions_ui() -> None:
    """Save the graph as a version of a project (message, parent), load any version, diff two."""
    from neural_engine.diff import diff_graphs
    from neural_engine.ir import Graph
    from neural_engine.projects import save_version
    graph = current_graph()
    c = st.columns([2, 3, 1])
    project = c[0].text_input("Project", state.get(state.PROJECT) or graph.get("name", "net").lower(),
                              key="project_name").strip()
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
        state.flash("success", f"Saved {v.ref}" + (f" (parent v{v.parent})" if v.parent else "") + ".")
        st.rerun()
    try:
        saved = cache.project_versions(project)
    except NeuralForgeError as err:
        st.error(err.message)
        return
    if not saved:
        st.caption(f"No versions of {project!r} yet.")
        return
    st.dataframe([{"version": f"v{v.number}", "parent": f"v{v.parent}" if v.parent else "", "message": v.message,
                   "user": v.user, "saved": v.label.rsplit(" · ", 1)[-1]} for v in reversed(saved)],
                 hide_index=True, width="stretch")
    numbers = [v.number for v in reversed(saved)]
    c = st.columns([2, 1])
    chosen = c[0].selectbox("Version", numbers, format_func=lambda n: f"v{n}", key="load_version")
    if c[1].button("Load version", width="stretch", key="load_version_button"):
        set_graph(next(v for v in saved if v.number == chosen).graph.to_json())
        state.put(state.PROJECT, project)
        state.put(state.VERSION, chosen)
        state.flash("success", f"Loaded {project}@v{chosen}.")
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
template_ui()
canvas_tab, dsl_tab, versions_tab = st.tabs(["Canvas", "DSL", "Versions"])
with canvas_tab:
    canvas_ui()
with dsl_tab:
    dsl_ui()
with versions_tab:
    versions_ui()
