"""The graph on the canvas: Graph JSON + its analysis → streamlit-flow nodes and edges, the canvas's
edits → Graph JSON, and the layout. Pure functions (no Streamlit calls), tested alone.

streamlit-flow 1.6 keeps only ``data`` for custom fields, has one handle per side, and shares one
``style`` dict between nodes unless given one: every node gets its own ``style``.

Layout: grandalf's Sugiyama layering (layers, crossing reduction, coordinates, long edges kept
apart by dummy vertices) of the whole DAG, top to bottom; a long graph is then cut into columns
of consecutive layers, read like a newspaper, so that it fits a wide canvas at a readable zoom.
"""

from __future__ import annotations

import html
import math

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from neural_engine.layers.base import fmt_shape

FONT_PX = 14
NODE_W, NODE_H = 220, 72  # a node's box (two lines of text, three with a long type and id)
X_GAP, Y_GAP, COLUMN_GAP = 40, 36, 70  # Y_GAP leaves room for the shape label of an edge
VIEW_W, VIEW_H = 1050, 720  # the canvas the columns are fitted to (a 1500-px window)
NODE = {"width": NODE_W, "fontSize": FONT_PX, "lineHeight": 1.3, "padding": 6, "borderRadius": 6}
INVALID = {"background": "#ffe4e4", "border": "2px solid #d33"}
INPUT = {"background": "#eef6ff"}
LABEL_BG = {"fill": "#ffffff", "fillOpacity": 0.9}


class _Box:  # grandalf reads a vertex's size from ``view.w``/``view.h`` and writes ``view.xy``
    w, h = NODE_W, NODE_H
    xy = (0.0, 0.0)


def layout(graph: dict) -> dict[str, tuple[float, float]]:
    """Top-left positions of every input and node: a layered (Sugiyama) layout in columns.

    >>> pos = layout({"inputs": {"x": [4]}, "nodes": [{"id": "a"}, {"id": "b"}],
    ...               "edges": [{"source": "x", "target": "a"}, {"source": "a", "target": "b"}]})
    >>> pos["x"][1] < pos["a"][1] < pos["b"][1]
    True
    """
    ids = [*graph["inputs"], *(n["id"] for n in graph["nodes"])]
    vertices = {i: Vertex(i) for i in ids}
    for v in vertices.values():
        v.view = _Box()
    edges = [
        Edge(vertices[e["source"]], vertices[e["target"]])
        for e in graph["edges"]
        if e["source"] in vertices and e["target"] in vertices
    ]
    g = Graph(list(vertices.values()), edges)
    centres: dict[str, tuple[float, float]] = {}
    offset = 0.0
    for component in g.C:  # unconnected parts side by side
        sug = SugiyamaLayout(component)
        sug.xspace, sug.yspace = X_GAP, Y_GAP
        sug.init_all()
        sug.draw()
        xs = [v.view.xy[0] for v in component.sV]
        for v in component.sV:
            centres[v.data] = (v.view.xy[0] - min(xs) + offset, v.view.xy[1])
        offset += max(xs) - min(xs) + NODE_W + COLUMN_GAP
    return _columns(centres)


def _columns(centres: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Cut the layers into the number of columns that gives the largest zoom fitting VIEW_W × VIEW_H."""
    rows = sorted({round(y) for _, y in centres.values()})
    row_of = {y: i for i, y in enumerate(rows)}
    by_row: list[list[tuple[str, float]]] = [[] for _ in rows]
    for k, (x, y) in centres.items():
        by_row[row_of[round(y)]].append((k, x))
    row_h = NODE_H + Y_GAP

    def arrange(n_cols: int) -> tuple[float, dict]:
        per = math.ceil(len(rows) / n_cols)
        out, left = {}, 0.0
        for c in range(0, len(rows), per):  # a column: rows c .. c + per - 1
            members = [(k, x, r - c) for r in range(c, min(c + per, len(rows))) for k, x in by_row[r]]
            x0 = min(x for _, x, _ in members)
            for k, x, row in members:
                out[k] = (left + x - x0, row * row_h)
            left += max(x for _, x, _ in members) - x0 + NODE_W + COLUMN_GAP
        return min(VIEW_W / max(left - COLUMN_GAP, 1), VIEW_H / (per * row_h)), out

    _, best = max((arrange(c) for c in range(1, len(rows) + 1)), key=lambda zoom_out: zoom_out[0])
    return {k: (round(x + 20, 1), round(y + 20, 1)) for k, (x, y) in best.items()}  # (0, 0) means "unset"


def has_positions(graph: dict) -> bool:
    return all(
        (n.get("position") or {}).get("x") or (n.get("position") or {}).get("y") for n in graph["nodes"]
    )


def with_layout(graph: dict) -> dict:
    """``graph`` with every node at its layout position (inputs are placed when drawn)."""
    pos = layout(graph)
    return {
        **graph,
        "nodes": [{**n, "position": {"x": pos[n["id"]][0], "y": pos[n["id"]][1]}} for n in graph["nodes"]],
    }


def _content(title: str, detail: str, error: str | None = None, node_id: str | None = None) -> str:
    """A node's Markdown: the type in bold (its id smaller beside it), then the detail; user text
    is escaped (the component renders raw HTML)."""
    name = f"**{html.escape(title)}**" + (
        f' <span style="font-size:0.8em;color:#555">{html.escape(node_id)}</span>' if node_id else ""
    )
    text = f"{name}  \n{html.escape(detail)}"
    return text + (f"  \n⚠ {html.escape(error)}" if error else "")


def _input_positions(graph: dict) -> dict[str, tuple[float, float]]:
    """An input sits one row above its first consumer (inputs have no stored position)."""
    stored = {n["id"]: (n["position"]["x"], n["position"]["y"]) for n in graph["nodes"] if n.get("position")}
    auto = None
    out = {}
    for name in graph["inputs"]:
        first = next(
            (stored[e["target"]] for e in graph["edges"] if e["source"] == name and e["target"] in stored),
            None,
        )
        if first is None or first == (0.0, 0.0):
            auto = auto or layout(graph)
            out[name] = auto[name]
        else:
            out[name] = (first[0], first[1] - NODE_H - Y_GAP)
    return out


def flow_state(graph: dict, analysis: dict, selected: str | None = None) -> StreamlitFlowState:
    """Nodes labelled with their type and output shape, edges with the tensor shape they carry,
    the node an error stops at in red with the message; ``selected`` stays selected."""
    nodes_report = {n["id"]: n for n in analysis.get("report", {}).get("nodes", [])}
    partial = analysis.get("partial", {})  # with an error: the shapes not downstream of it
    error = analysis.get("error")
    bad = error["node"] if error else None
    if not has_positions(graph):
        graph = with_layout(graph)
    inputs_at = _input_positions(graph)
    nodes = []
    for name, shape in graph["inputs"].items():
        nodes.append(
            StreamlitFlowNode(
                name,
                inputs_at[name],
                {"content": _content(name, f"input {fmt_shape(shape)}"), "kind": "input"},
                node_type="input",
                style={**NODE, **INPUT},
                selectable=True,
                selected=name == selected,
            )
        )
    for n in graph["nodes"]:
        r = nodes_report.get(n["id"])
        detail = (
            f"{fmt_shape(tuple(r['output_shape']))} · {r['params']:,} params"
            if r
            else fmt_shape(tuple(partial[n["id"]]))
            if n["id"] in partial
            else "?"
        )
        message = error["message"] if n["id"] == bad else None
        style = {**NODE, **(INVALID if message else {})}
        if message:  # the message is part of the box (wider), never spilling under the next node
            style["width"] = NODE_W + 160
        nodes.append(
            StreamlitFlowNode(
                n["id"],
                (n["position"]["x"], n["position"]["y"]),
                {
                    "content": _content(n["type"], detail, message, node_id=n["id"]),
                    "kind": "layer",
                    "type": n["type"],
                },
                node_type="default",
                style=style,
                selectable=True,
                deletable=True,
                connectable=True,
                selected=n["id"] == selected,
                z_index=1 if message else 0,
            )
        )
    shapes = {n: fmt_shape(tuple(s)) for n, s in graph["inputs"].items()}
    shapes.update({k: fmt_shape(tuple(v)) for k, v in partial.items()})
    shapes.update({k: fmt_shape(tuple(v["output_shape"])) for k, v in nodes_report.items()})
    edges = [
        StreamlitFlowEdge(
            e["id"],
            e["source"],
            e["target"],
            label=shapes.get(e["source"], ""),
            label_show_bg=True,
            label_bg_style=dict(LABEL_BG),
            label_style={},
            deletable=True,
            focusable=True,
            animated=False,
            style={},
        )
        for e in graph["edges"]
    ]
    return StreamlitFlowState(nodes, edges)


def selected_of(state: StreamlitFlowState) -> str | None:
    """The node the user has selected on the canvas (clicked, or dragged), if any."""
    return next((n.id for n in state.nodes if n.selected), None) or state.selected_id


def apply_canvas(graph: dict, state: StreamlitFlowState) -> dict:
    """The graph after the canvas's edits: deleted nodes and edges go, new edges come (appended
    as the target's next input slot), positions are kept. A deleted layer with one input is
    bridged, as deleting a layer from a Keras ``Sequential`` would: its input feeds its consumers."""
    present = {n.id: n for n in state.nodes}
    nodes = []
    for n in graph["nodes"]:
        if n["id"] in present:
            p = present[n["id"]].position
            nodes.append({**n, "position": {"x": float(p["x"]), "y": float(p["y"])}})
    alive = set(graph["inputs"]) | {n["id"] for n in nodes}
    old = {e["id"]: e for e in graph["edges"]}
    edges = [
        old.get(e.id) or {"id": e.id, "source": e.source, "target": e.target}
        for e in state.edges
        if e.source in alive and e.target in alive and e.target not in graph["inputs"]
    ]
    linked = {(e["source"], e["target"]) for e in edges}
    edges += [e for e in _bridges(graph, alive) if (e["source"], e["target"]) not in linked]
    return {**graph, "nodes": nodes, "edges": _number_slots(edges)}


def _bridges(graph: dict, alive: set[str]) -> list[dict]:
    """Edges that keep a chain whole across deleted one-input layers (their input slot kept)."""
    into: dict[str, list[dict]] = {}
    for e in graph["edges"]:
        into.setdefault(e["target"], []).append(e)
    gone = {n["id"] for n in graph["nodes"]} - alive

    def source_of(node_id: str) -> str | None:  # back through a run of deleted layers
        while node_id in gone:
            if len(into.get(node_id, [])) != 1:
                return None
            node_id = into[node_id][0]["source"]
        return node_id

    out = []
    for e in graph["edges"]:
        source = source_of(e["source"]) if e["source"] in gone and e["target"] in alive else None
        if source is not None:
            out.append({**e, "id": f"e_{source}_{e['target']}", "source": source})
    return out


def _number_slots(edges: list[dict]) -> list[dict]:
    """Number the inputs of nodes that now have several (a new edge takes the next free slot)."""
    count: dict[str, int] = {}
    for e in edges:
        count[e["target"]] = count.get(e["target"], 0) + 1
    out = []
    for e in edges:
        if count[e["target"]] > 1 and "target_handle" not in e:
            taken = {x.get("target_handle") for x in out if x["target"] == e["target"]}
            e = {**e, "target_handle": str(next(i for i in range(len(edges)) if str(i) not in taken))}
        out.append(e)
    return out


def structure(graph: dict) -> tuple:
    """What decides the shapes: nodes with params, and edges (positions left out)."""
    return (
        tuple((n["id"], n["type"], repr(n["params"])) for n in graph["nodes"]),
        tuple(sorted((e["source"], e["target"], e.get("target_handle") or "") for e in graph["edges"])),
    )


def new_id(graph: dict, type_: str) -> str:
    ids = {n["id"] for n in graph["nodes"]} | set(graph["inputs"])
    n = 1
    while f"{type_.lower()}_{n}" in ids:
        n += 1
    return f"{type_.lower()}_{n}"


def last_node(graph: dict) -> str:
    """Where a new layer goes when none is selected: after the last layer (else the first input)."""
    return graph["nodes"][-1]["id"] if graph["nodes"] else next(iter(graph["inputs"]))


def insert_after(graph: dict, type_: str, params: dict, after: str, *, branch: bool = False) -> dict:
    """``graph`` with a new ``type_`` node after ``after``: the edges that left ``after`` now leave
    the new node (A → new → B), or, with ``branch``, the new node is an extra output of ``after``.
    The graph is laid out again.

    >>> g = {"inputs": {"x": [8]}, "nodes": [{"id": "a", "type": "Dense", "params": {}},
    ...      {"id": "b", "type": "Dense", "params": {}}], "edges": [{"id": "e1", "source": "x", "target": "a"},
    ...      {"id": "e2", "source": "a", "target": "b"}]}
    >>> [(e["source"], e["target"]) for e in insert_after(g, "ReLU", {}, "a")["edges"]]
    [('x', 'a'), ('relu_1', 'b'), ('a', 'relu_1')]
    """
    node_id = new_id(graph, type_)
    rewired = [
        e if branch or e["source"] != after else {**e, "id": f"e_{node_id}_{e['target']}", "source": node_id}
        for e in graph["edges"]
    ]
    order = [n["id"] for n in graph["nodes"]]
    at = order.index(after) + 1 if after in order else 0
    node = {"id": node_id, "type": type_, "params": params, "position": {"x": 0.0, "y": 0.0}}
    nodes = [*graph["nodes"][:at], node, *graph["nodes"][at:]]
    edge = {"id": f"e_{after}_{node_id}", "source": after, "target": node_id}
    return with_layout({**graph, "nodes": nodes, "edges": [*rewired, edge]})


def set_params(graph: dict, node_id: str, params: dict) -> dict:
    return {**graph, "nodes": [{**n, "params": params} if n["id"] == node_id else n for n in graph["nodes"]]}
