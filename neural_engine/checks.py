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

DEVICE = re.compile(r"^(cpu|gpu|tpu|xla|cuda(:\d+)?)$")
DEVICES_TEXT = "cpu, cuda, cuda:N, gpu, tpu, xla"


def check_node(node: Node) -> None:
    """Type known, device hint valid, body present exactly for containers; recursive."""
    spec = layers.get(node.type, node.id)
    if node.device is not None and not DEVICE.match(node.device):
        raise ValidationError(f'device must be one of {DEVICES_TEXT}; received "{node.device}"',
                              node=node.id, span=node.origin.span if node.origin else None)
    if spec.container is None and node.body:
        raise ValidationError(f"{spec.name} takes no body of layers; received {len(node.body)}",
                              node=node.id, hint="only ResidualConnection, Sequential and wrappers do")
    if spec.container == "wrapper" and len(node.body) != 1:
        raise ValidationError(f"{spec.name} wraps exactly one layer; received {len(node.body)}",
                              node=node.id, hint=f"write {spec.name}(LSTM(64))")
    if spec.container == "chain" and not node.body:
        raise ValidationError(f"{spec.name} needs a body of layers; received none", node=node.id,
                              hint=f"write {spec.name} {{ Conv2D(64, 3, padding=\"same\") }}")
    for child in node.body:
        check_node(child)


def check_graph(graph: Graph) -> list[str]:
    """Validate ``graph``'s structure; return node ids in topological order."""
    if not graph.inputs:
        raise ValidationError("a network needs at least one input; received none",
                              hint="declare one, e.g. input: (28, 28, 1)")
    for name, shape in graph.inputs.items():
        if any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1) for d in shape):
            raise ValidationError(f"input dimensions must be positive integers; received {shape} for {name!r}",
                                  node=name)
    ids = [n.id for n in graph.nodes]
    seen: set[str] = set()
    for node in graph.nodes:
        if not node.id or node.id in seen or node.id in graph.inputs:
            raise ValidationError(f"node ids must be unique, non-empty and differ from input names; "
                                  f"received {node.id!r} twice", node=node.id)
        seen.add(node.id)
        check_node(node)
    ends = seen | set(graph.inputs)
    for e in graph.edges:
        if e.source not in ends:
            raise ValidationError(f"edge {e.id} starts at unknown node {e.source!r}", node=e.target)
        if e.target not in seen:
            raise ValidationError(f"edge {e.id} ends at unknown node {e.target!r}", node=e.source)
    order = _topological(graph, ids)
    _check_reachable(graph, order)
    for node in graph.nodes:
        _check_arity(graph, node)
    return order


def _check_arity(graph: Graph, node: Node) -> None:
    spec = layers.get(node.type, node.id)
    n = len(graph.predecessors(node.id))
    low, high = spec.arity
    if n < low or (high is not None and n > high):
        want = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
        hint = (f"connect {want} inputs, e.g. {spec.name}() <- [a, b]" if low > 1
                else "merge the inputs first (Add, Concatenate)" if n > 1 else "connect an input to it")
        raise ValidationError(f"{spec.name} takes {want} input{'s' if low != 1 or high != 1 else ''};"
                              f" received {n}", node=node.id, span=node.origin.span if node.origin else None,
                              hint=hint)


def _topological(graph: Graph, ids: list[str]) -> list[str]:
    indegree = {i: 0 for i in ids}
    succ: dict[str, list[str]] = {i: [] for i in [*graph.inputs, *ids]}
    for e in graph.edges:
        indegree[e.target] += 1
        succ[e.source].append(e.target)
    ready = deque(i for i in ids if indegree[i] == 0)
    for name in graph.inputs:
        for t in succ[name]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    order = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for t in succ[i]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    if len(order) < len(ids):
        stuck = [i for i in ids if indegree[i] > 0]
        raise ValidationError(f"the graph must be acyclic; received a cycle through {', '.join(stuck)}",
                              node=stuck[0], hint="remove one of the edges that loop back")
    return order


def _check_reachable(graph: Graph, order: list[str]) -> None:
    reached = set(graph.inputs)
    for i in order:
        preds = graph.predecessors(i)
        if preds and all(p in reached for p in preds):
            reached.add(i)
    for i in order:
        if i not in reached:
            raise ValidationError("every layer must be reachable from an input; received a layer "
                                  "with no path from any input", node=i,
                                  hint="connect it to an input or a previous layer, or delete it")
