"""The graph on the canvas: Graph JSON + its analysis → streamlit-flow nodes and edges, and the
canvas's edits → Graph JSON. Pure functions (no Streamlit calls), tested alone.

streamlit-flow 1.6 keeps only ``data`` for custom fields, has one handle per side, and shares one
``style`` dict between nodes unless given one: every node gets its own ``style``.
"""

from __future__ import annotations

import html

from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from neural_engine.layers.base import fmt_shape

NODE = {"width": 190, "fontSize": 12, "padding": 6, "borderRadius": 6}
INVALID = {"background": "#ffe4e4", "border": "2px solid #d33"}
INPUT = {"background": "#eef6ff"}
X_STEP, Y_STEP = 230, 120


def layered_positions(graph: dict) -> dict[str, tuple[float, float]]:
    """Positions for nodes without one: rows by depth from the inputs, columns by order."""
    depth = {name: 0 for name in graph["inputs"]}
    sources: dict[str, list[str]] = {}
    for e in graph["edges"]:
        sources.setdefault(e["target"], []).append(e["source"])
    for node in graph["nodes"]:  # nodes come in a valid order from the engine and the DSL
        depth[node["id"]] = 1 + max((depth.get(s, 0) for s in sources.get(node["id"], [])), default=0)
    columns: dict[int, int] = {}
    out = {}
    for key in [*graph["inputs"], *(n["id"] for n in graph["nodes"])]:
        d = depth[key]
        out[key] = (columns.get(d, 0) * X_STEP, d * Y_STEP)
        columns[d] = columns.get(d, 0) + 1
    return out


def _content(title: str, detail: str, error: str | None = None) -> str:
    text = f"**{html.escape(title)}**  \n{html.escape(detail)}"
    return text + (f"  \n⚠ {html.escape(error)}" if error else "")


def flow_state(graph: dict, analysis: dict) -> StreamlitFlowState:
    """Nodes labelled with their type and output shape, edges with the tensor shape they carry,
    the node an error stops at in red with the message."""
    nodes_report = {n["id"]: n for n in analysis.get("report", {}).get("nodes", [])}
    partial = analysis.get("partial", {})  # with an error: the shapes not downstream of it
    error = analysis.get("error")
    bad = error["node"] if error else None
    auto = layered_positions(graph)
    nodes = []
    for name, shape in graph["inputs"].items():
        nodes.append(StreamlitFlowNode(name, auto[name], {"content": _content(name, f"input {fmt_shape(shape)}"),
                                                          "kind": "input"},
                                       node_type="input", style={**NODE, **INPUT}))
    for n in graph["nodes"]:
        r = nodes_report.get(n["id"])
        detail = (f"{fmt_shape(tuple(r['output_shape']))} · {r['params']:,} params" if r
                  else fmt_shape(tuple(partial[n["id"]])) if n["id"] in partial else "?")
        pos = n.get("position") or {}
        xy = (pos["x"], pos["y"]) if pos.get("x") or pos.get("y") else auto[n["id"]]
        message = error["message"] if n["id"] == bad else None
        style = {**NODE, **(INVALID if message else {})}
        nodes.append(StreamlitFlowNode(n["id"], xy, {"content": _content(f"{n['type']} · {n['id']}", detail, message),
                                                     "kind": "layer", "type": n["type"]},
                                       node_type="default", style=style))
    shapes = {n: fmt_shape(tuple(s)) for n, s in graph["inputs"].items()}
    shapes.update({k: fmt_shape(tuple(v)) for k, v in partial.items()})
    shapes.update({k: fmt_shape(tuple(v["output_shape"])) for k, v in nodes_report.items()})
    edges = [StreamlitFlowEdge(e["id"], e["source"], e["target"], label=shapes.get(e["source"], ""),
                               animated=False, style={}) for e in graph["edges"]]
    return StreamlitFlowState(nodes, edges)


def apply_canvas(graph: dict, state: StreamlitFlowState) -> dict:
    """The graph after the canvas's edits: deleted nodes and edges go, new edges come (appended
    as the target's next input slot), positions are kept."""
    present = {n.id: n for n in state.nodes}
    nodes = []
    for n in graph["nodes"]:
        if n["id"] in present:
            p = present[n["id"]].position
            nodes.append({**n, "position": {"x": float(p["x"]), "y": float(p["y"])}})
    alive = set(graph["inputs"]) | {n["id"] for n in nodes}
    old = {e["id"]: e for e in graph["edges"]}
    edges = []
    for e in state.edges:
        if e.source in alive and e.target in alive and e.target not in graph["inputs"]:
            edges.append(old.get(e.id) or {"id": e.id, "source": e.source, "target": e.target})
    slots: dict[str, int] = {}
    for e in edges:  # number the inputs of nodes that now have several
        slots[e["target"]] = slots.get(e["target"], 0) + 1
    for e in edges:
        if slots[e["target"]] > 1 and "target_handle" not in e:
            e["target_handle"] = str(sum(1 for x in edges if x["target"] == e["target"] and x is not e
                                         and "target_handle" in x))
    return {**graph, "nodes": nodes, "edges": edges}


def structure(graph: dict) -> tuple:
    """What decides the shapes: nodes with params, and edges (positions left out)."""
    return (tuple((n["id"], n["type"], repr(n["params"])) for n in graph["nodes"]),
            tuple(sorted((e["source"], e["target"], e.get("target_handle") or "") for e in graph["edges"])))
