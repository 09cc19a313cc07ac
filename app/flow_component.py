"""The canvas component: streamlit-flow's own frontend, with what its 1.6 API lacks.

streamlit-flow 1.6.1 lets React Flow delete the selected nodes and edges with Backspace, but applies
the removal in the browser only: Python hears of it with the next unrelated event, if any (a
deleted edge then comes back on the next push). Its Python API has no delete event and no
``deleteKeyCode``. And every mount echoes the nodes it was given back to Python, a rerun that
carries nothing new (positions come from Python: manual layout) but races the user's next click.
So the page serves a copy of the package's build in which React Flow's ``onNodesDelete`` and
``onEdgesDelete`` send the remaining graph back at once, Delete deletes as Backspace does, and the
two echoes are gone: the component speaks only for the user. The copy is made once per installed
build (keyed by the bundle's hash) and checked: a bundle without the expected code raises, naming
the supported version, rather than serving a canvas that silently loses deletions.

Everything else is streamlit-flow's: the same arguments, ``StreamlitFlowState`` in and out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import streamlit.components.v1 as components
import streamlit_flow
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.layouts import ManualLayout
from streamlit_flow.state import StreamlitFlowState

SUPPORTED = "streamlit-flow-component 1.6.1"

# Inside the component (minified names of streamlit-flow 1.6.1): ``i`` the nodes, ``s`` the edges,
# ``N(nodes, edges, selectedId)`` sends a value to Python. React Flow calls onNodesDelete and then
# onEdgesDelete (the removed nodes' edges included) for one key press: both land in one pending
# set, sent once, after the removal, as the graph minus what was removed.
ANCHOR = "N(n,s,null)},edges:s,onEdgesChange:u,"
HANDLERS = (
    'deleteKeyCode:["Backspace","Delete"],'
    "onNodesDelete:t=>nfDeleted(t,[],i,s,N),onEdgesDelete:t=>nfDeleted([],t,i,s,N),"
)
HELPER = """\
/* NeuralForge: report deletions to Python at once (see app/flow_component.py). */
var nfPending = null;
function nfDeleted(nodes, edges, allNodes, allEdges, send) {
  if (nfPending === null) {
    nfPending = {nodes: new Set(), edges: new Set()};
    setTimeout(function () {
      var gone = nfPending; nfPending = null;
      send(allNodes.filter(function (n) { return !gone.nodes.has(n.id); }),
           allEdges.filter(function (e) {
             return !gone.edges.has(e.id) && !gone.nodes.has(e.source) && !gone.nodes.has(e.target);
           }), null);
    }, 0);
  }
  nodes.forEach(function (n) { nfPending.nodes.add(n.id); });
  edges.forEach(function (e) { nfPending.edges.add(e.id); });
}
"""


# The echoes: after the initial layout, and after Python pushes nodes (both with manual layout).
ECHOES = {
    "a(t),c(n),r(!1),N(t,n,null),g(!0)": "a(t),c(n),r(!1),g(!0)",
    "h((new Date).getTime()),N(e.args.nodes,e.args.edges,null))": "h((new Date).getTime()))",
}
PATCHES = {ANCHOR: ANCHOR + HANDLERS, **ECHOES}
VERSION = "2"  # of these patches: a new one makes a new copy


def patched_build(source: Path, cache_root: Path) -> Path:
    """A copy of the build folder ``source`` with the patches above, under ``cache_root``."""
    (bundle,) = (source / "static" / "js").glob("main.*.js")
    text = bundle.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    target = cache_root / f"neuralforge-flow-{digest}-{VERSION}"
    if target.is_dir():
        return target
    if any(text.count(anchor) != 1 for anchor in PATCHES):
        raise RuntimeError(
            f"the installed streamlit-flow frontend is not the one the canvas supports "
            f"({SUPPORTED}); install it: pip install 'streamlit-flow-component==1.6.1'"
        )
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".flow-", dir=cache_root))
    shutil.copytree(source, work, dirs_exist_ok=True)
    patched = text
    for anchor, replacement in PATCHES.items():
        patched = patched.replace(anchor, replacement)
    patched = HELPER + patched
    (work / bundle.relative_to(source)).write_text(patched, encoding="utf-8")
    try:
        os.rename(work, target)  # another process may have won the race: its copy is the same
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return target


@cache
def _component():
    build = Path(streamlit_flow.__file__).parent / "frontend" / "build"
    root = Path(tempfile.gettempdir()) / f"neuralforge-{os.getuid()}"
    return components.declare_component("streamlit_flow", path=str(patched_build(build, root)))


def canvas(
    key: str,
    state: StreamlitFlowState,
    *,
    height: int = 500,
    fit_view: bool = True,
    min_zoom: float = 0.1,
    allow_new_edges: bool = True,
    get_node_on_click: bool = True,
    enable_node_menu: bool = False,
    enable_edge_menu: bool = False,
) -> StreamlitFlowState:
    """streamlit-flow's ``streamlit_flow(key, state, …)`` on the patched frontend (manual layout:
    positions come from Python)."""
    value = _component()(
        nodes=[n.asdict() for n in state.nodes],
        edges=[e.asdict() for e in state.edges],
        height=height,
        showControls=True,
        fitView=fit_view,
        showMiniMap=False,
        style={},
        animateNewEdges=False,
        allowNewEdges=allow_new_edges,
        layoutOptions=ManualLayout().__to_dict__(),
        getNodeOnClick=get_node_on_click,
        getEdgeOnClick=False,
        panOnDrag=True,
        allowZoom=True,
        minZoom=min_zoom,
        enableNodeMenu=enable_node_menu,
        enablePaneMenu=False,
        enableEdgeMenu=enable_edge_menu,
        hideWatermark=True,
        key=key,
        timestamp=state.timestamp,
        component="streamlit_flow",
    )
    if value is None:
        return state
    return StreamlitFlowState(
        nodes=[StreamlitFlowNode.from_dict(n) for n in value["nodes"]],
        edges=[StreamlitFlowEdge.from_dict(e) for e in value["edges"]],
        selected_id=value["selectedId"],
        timestamp=value["timestamp"],
    )
