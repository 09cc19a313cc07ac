"""Structural checks of a Graph, run before shape inference.

Ids unique, edges between existing ends, known layer types, input counts (merges need two or
more), no cycles, every node reachable from an input. Returns the topological order.
"""

from __future__ import annotations

import re
from collections import deque

from neural_engine import layers
from neural_engine.errors import ValidationError
from neural_engine.ir import Graph, Node

DEVICE = re.compile(r"^(cpu|(cuda|gpu|tpu|xla)(:\d+)?)$")
DEVICES_TEXT = "cpu, cuda, cuda:N, gpu, tpu, xla (gpu, tpu and xla take :N too)"
NON_WORD = re.compile(r"\W")


def check_node(node: Node) -> layers.LayerSpec:
    """Type known, device hint valid, body present exactly for containers; recursive.
    Returns the spec."""
    spec = layers.get(node.type, node.id)
    if node.device is None and not node.body and spec.container is None:
        return spec  # the common case, nothing more to check
    if node.device is not None and not DEVICE.match(node.device):
        raise ValidationError(
            f'device must be one of {DEVICES_TEXT}; received "{node.device}"',
            node=node.id,
            span=node.origin.span if node.origin else None,
        )
    if spec.container is None and node.body:
        raise ValidationError(
            f"{spec.name} takes no body of layers; received {len(node.body)}",
            node=node.id,
            hint="only ResidualConnection, Sequential and wrappers do",
        )
    if spec.container == "wrapper" and len(node.body) != 1:
        raise ValidationError(
            f"{spec.name} wraps exactly one layer; received {len(node.body)}",
            node=node.id,
            hint=f"write {spec.name}(LSTM(64))",
        )
    if spec.container == "chain" and not node.body:
        raise ValidationError(
            f"{spec.name} needs a body of layers; received none",
            node=node.id,
            hint=f'write {spec.name} {{ Conv2D(64, 3, padding="same") }}',
        )
    for child in node.body:
        check_node(child)
    return spec


def check_graph(graph: Graph) -> list[str]:
    """Validate ``graph``'s structure; return node ids in topological order. Errors about a node
    carry its source span when it came from DSL text."""
    try:
        return _check_graph(graph)
    except ValidationError as err:
        if err.span is None and err.node is not None:
            err.span = _span_of(graph.nodes, err.node)
        raise


def _span_of(nodes, node_id: str):
    for node in nodes:
        if node.id == node_id:
            return node.origin.span if node.origin else None
        if node.body and (span := _span_of(node.body, node_id)) is not None:
            return span
    return None


def _check_graph(graph: Graph) -> list[str]:
    if not graph.inputs:
        raise ValidationError(
            "a network needs at least one input; received none", hint="declare one, e.g. input: (28, 28, 1)"
        )
    for name, shape in graph.inputs.items():
        if any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1) for d in shape):
            raise ValidationError(
                f"input dimensions must be positive integers; received {shape} for {name!r}", node=name
            )
    seen: set[str] = set()
    as_names: dict[str, str] = {}
    specs = {}
    for node in graph.nodes:
        if not node.id or node.id in seen or node.id in graph.inputs:
            raise ValidationError(
                f"node ids must be unique, non-empty and differ from input names; received {node.id!r} twice",
                node=node.id,
            )
        seen.add(node.id)
        name = NON_WORD.sub("_", node.id)
        if as_names.setdefault(name, node.id) != node.id:
            raise ValidationError(
                f"node ids must stay distinct as Python names; received {as_names[name]!r} "
                f"and {node.id!r}, both {name!r}",
                node=node.id,
                hint="rename one of them",
            )
        specs[node.id] = check_node(node)
    for e in graph.edges:
        if e.source not in seen and e.source not in graph.inputs:
            raise ValidationError(f"edge {e.id} starts at unknown node {e.source!r}", node=e.target)
        if e.target not in seen:
            raise ValidationError(f"edge {e.id} ends at unknown node {e.target!r}", node=e.source)
    order = _topological(graph)
    sources = graph._sources
    for node in graph.nodes:
        spec, n = specs[node.id], len(sources.get(node.id, ()))
        low, high = spec.arity
        if n < low or (high is not None and n > high):
            _arity_error(node, spec, n)
    return order


def _arity_error(node: Node, spec: layers.LayerSpec, n: int) -> None:
    low, high = spec.arity
    want = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
    hint = (
        f"connect {want} inputs, e.g. {spec.name}() <- [a, b]"
        if low > 1
        else "merge the inputs first (Add, Concatenate)"
        if n > 1
        else "connect an input to it"
    )
    raise ValidationError(
        f"{spec.name} takes {want} input{'s' if low != 1 or high != 1 else ''}; received {n}",
        node=node.id,
        span=node.origin.span if node.origin else None,
        hint=hint,
    )


def _topological(graph: Graph) -> list[str]:
    """Kahn's algorithm from the inputs: a node comes once all its sources have. Nodes never
    reached are unreachable from any input, or on a cycle."""
    order, indegree, succ = _kahn(graph)
    if len(order) < len(indegree):
        _explain_unordered(graph, set(indegree) - set(order), succ)
    return order


def reachable_order(graph: Graph) -> list[str]:
    """The nodes reachable from the inputs in a valid order, never raising (for partial analyses
    of a graph being edited; edges to unknown nodes are ignored)."""
    known = {n.id for n in graph.nodes} | set(graph.inputs)
    edges = [
        e for e in graph.edges if e.source in known and e.target in known and e.target not in graph.inputs
    ]
    return _kahn(graph, edges)[0]


def _kahn(graph: Graph, edges=None) -> tuple[list[str], dict[str, int], dict[str, list[str]]]:
    indegree = {n.id: 0 for n in graph.nodes}
    succ: dict[str, list[str]] = {}
    for e in graph.edges if edges is None else edges:
        indegree[e.target] += 1
        succ.setdefault(e.source, []).append(e.target)
    ready = deque(graph.inputs)
    order: list[str] = []
    while ready:
        for t in succ.get(ready.popleft(), ()):
            indegree[t] -= 1
            if indegree[t] == 0:
                order.append(t)
                ready.append(t)
    return order, indegree, succ


def _explain_unordered(graph: Graph, left: set[str], succ: dict[str, list[str]]):
    reachable, todo = set(), list(graph.inputs)
    while todo:
        for t in succ.get(todo.pop(), ()):
            if t not in reachable:
                reachable.add(t)
                todo.append(t)
    for node in graph.nodes:  # report the first, in the user's order
        if node.id in left and (node.id not in reachable or not graph.predecessors(node.id)):
            raise ValidationError(
                "every layer must be reachable from an input; received a layer with no path from any input",
                node=node.id,
                hint="connect it to an input or a previous layer, or delete it",
            )
    stuck = [n.id for n in graph.nodes if n.id in left]
    raise ValidationError(
        f"the graph must be acyclic; received a cycle through {', '.join(stuck)}",
        node=stuck[0],
        hint="remove one of the edges that loop back",
    )
