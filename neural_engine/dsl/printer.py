"""Graph → canonical DSL text.

Canonical means: one layer per line in topological order, each layer's positional convention
(Neural DSL's slots such as ``Conv2D(32, (3, 3), "relu")``, else the required parameters) and the
rest named, canonical layer names, macros expanded, and labels (``x = …``) and ``<-`` only where
the graph is not a straight line or an id is not the one the parser would give. Parsing the
output gives the same graph, and printing that again gives the same text.
"""

from __future__ import annotations

import re
from itertools import takewhile

from neural_engine import layers
from neural_engine.checks import check_graph
from neural_engine.dsl.lower import IdAllocator
from neural_engine.dsl.values import IDENT, value
from neural_engine.dsl.values import key_text as _key
from neural_engine.ir import Graph, Node

INDENT = "  "
TRAIN_ORDER = ("loss", "optimizer", "metrics", "lr_schedule")


def print_dsl(graph: Graph) -> str:
    """The canonical DSL text of ``graph``."""
    order = _print_order(graph, check_graph(graph))
    lines = [f"network {_ident(graph.name)} {{", f"{INDENT}input: {_inputs(graph)}"]
    if graph.layout != "channels_last":
        lines.append(f"{INDENT}layout: {graph.layout}")
    lines.append(f"{INDENT}layers:")
    lines += _layers(graph, order)
    lines += _training(graph.training)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _print_order(graph: Graph, topological: list[str]) -> list[str]:
    """The graph's own node order when it is a valid one (it keeps branches together, as
    written), else the checker's topological order."""
    seen = set(graph.inputs)
    for node in graph.nodes:
        if not all(s in seen for s in graph.predecessors(node.id)):
            return topological
        seen.add(node.id)
    return [n.id for n in graph.nodes]


def _inputs(graph: Graph) -> str:
    if list(graph.inputs) == ["input"]:
        return value(graph.inputs["input"])
    return "{" + ", ".join(f"{_ident(k)}: {value(v)}" for k, v in graph.inputs.items()) + "}"


def _layers(graph: Graph, order: list[str]) -> list[str]:
    nodes = [graph.node(i) for i in order]
    referenced = set()  # nodes some later layer takes as a named (not the previous) input
    prev = next(iter(graph.inputs))
    for node in nodes:
        sources = graph.predecessors(node.id)
        if sources != [prev]:
            referenced.update(s for s in sources if s != prev)
        prev = node.id
    ids = IdAllocator(graph.inputs)
    prev, out = next(iter(graph.inputs)), []
    for node in nodes:
        sources = graph.predecessors(node.id)
        merge = layers.get(node.type).arity[0] >= 2
        if merge and sources[0] == prev:  # Add(skip) is Add() <- [previous, skip]
            text = _node(node, ids, node.id in referenced, shorthand=sources[1:])
        else:
            text = _node(node, ids, label_needed=node.id in referenced)
            if sources != [prev]:
                text += " <- " + (sources[0] if len(sources) == 1 else "[" + ", ".join(sources) + "]")
        out.append(INDENT * 2 + text)
        prev = node.id
    return out


def _node(node: Node, ids: IdAllocator, label_needed: bool = False, shorthand=()) -> str:
    """``[id = ]Type(args)[ { body }][ @ "device"]``, claiming ids as the parser will."""
    spec = layers.get(node.type)
    predicted = ids.next(spec.name) if not label_needed else None
    if predicted != node.id:
        if predicted is not None:
            ids.taken.discard(predicted)
            ids.counts[spec.name.lower()] -= 1
        ids.claim(node.id, None)
    label = f"{node.id} = " if predicted != node.id else ""
    args = [*shorthand, *_args(spec, node.params)]
    body = ""
    if spec.container == "wrapper":
        inner = node.body[0]
        args.insert(0, _node(inner, ids).strip())
    elif spec.container == "chain":
        body = " { " + " ".join(_node(b, ids) for b in node.body) + " }"
    device = f" @ {value(node.device)}" if node.device else ""
    call = f"({', '.join(args)})" if args or not body else ""
    return f"{label}{spec.name}{call}{body}{device}"


def _args(spec, params: dict) -> list[str]:
    """The layer's positional convention, then name=value in spec order.

    Positional: Neural DSL's slots where the layer has them (``Conv2D(32, (3, 3), "relu")``,
    ``Dense(64, "relu")``), else the leading required parameters; each while given in order.
    """
    slots = spec.neural_order or [p.name for p in takewhile(lambda p: p.required, spec.params)]
    lead = []
    for name in slots:
        if name not in params:
            break
        lead.append(name)
    if [p.name for p in spec.positional([params[n] for n in lead])][: len(lead)] != lead:
        lead = [n for n in lead if spec.param(n).required]  # the value would read as Keras'
    out = [value(params[n]) for n in lead]
    return out + [
        f"{p.name}={value(params[p.name])}" for p in spec.params if p.name in params and p.name not in lead
    ]


def _training(training: dict) -> list[str]:
    lines = [
        f"{INDENT}{key}: {_list(training[key]) if key == 'metrics' else value(training[key])}"
        for key in TRAIN_ORDER
        if key in training
    ]
    settings = {k: v for k, v in training.items() if k not in TRAIN_ORDER and k != "execution"}
    if settings:
        lines.append(f"{INDENT}train {_block(settings)}")
    if "execution" in training:
        lines.append(f"{INDENT}execution {_block(training['execution'])}")
    return lines


def _list(items) -> str:
    return "[" + ", ".join(value(x) for x in items) + "]"


def _block(d: dict) -> str:
    return "{ " + ", ".join(f"{_key(k)}: {value(v)}" for k, v in d.items()) + " }"


def _ident(name: str) -> str:
    return name if IDENT.match(name) else re.sub(r"\W", "_", name) or "Network"
