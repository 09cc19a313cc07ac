"""What changed between two graphs: nodes added, removed and changed (by node id), inputs and
the training section. Pure Python; ``neuralforge runs compare`` shows it for two runs.

>>> from neural_engine.dsl import parse
>>> a = parse('network N { input: (4,) layers: Dense(8) Dropout(0.5) Output(2) }')
>>> b = parse('network N { input: (4,) layers: Dense(16) Output(2) }')
>>> print("\\n".join(diff_graphs(a, b).lines()))
- dropout_1 (Dropout) rate=0.5
~ dense_1 (Dense): units 8 -> 16
~ output_1 (Output): inputs ['dropout_1'] -> ['dense_1']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neural_engine.ir import Graph, Node, _to_json


@dataclass(frozen=True)
class NodeChange:
    id: str
    type: str
    changes: dict[str, tuple[Any, Any]]  # what -> (before, after): params, "type", "inputs"


@dataclass(frozen=True)
class GraphDiff:
    added: list[dict] = field(default_factory=list)  # {"id", "type", "params"}
    removed: list[dict] = field(default_factory=list)
    changed: list[NodeChange] = field(default_factory=list)
    inputs: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    training: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.inputs or self.training)

    def to_json(self) -> dict:
        pair = lambda d: {k: {"before": _to_json(a), "after": _to_json(b)} for k, (a, b) in d.items()}
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": [{"id": c.id, "type": c.type, "changes": pair(c.changes)} for c in self.changed],
            "inputs": pair(self.inputs),
            "training": pair(self.training),
        }

    def lines(self) -> list[str]:
        """``+``/``-``/``~`` lines, readable in a terminal."""
        out = [f"+ {n['id']} ({n['type']}) {_params(n['params'])}".rstrip() for n in self.added]
        out += [f"- {n['id']} ({n['type']}) {_params(n['params'])}".rstrip() for n in self.removed]
        out += [
            f"~ {c.id} ({c.type}): "
            + ", ".join(f"{k} {_text(a)} -> {_text(b)}" for k, (a, b) in c.changes.items())
            for c in self.changed
        ]
        out += [f"~ input {k}: {_text(a)} -> {_text(b)}" for k, (a, b) in self.inputs.items()]
        out += [f"~ training {k}: {_text(a)} -> {_text(b)}" for k, (a, b) in self.training.items()]
        return out


def diff_graphs(a: Graph, b: Graph) -> GraphDiff:
    """Nodes of ``b`` not in ``a`` (added), of ``a`` not in ``b`` (removed), and those in both whose
    type, parameters or inputs differ (changed), matched by id; container bodies count as nodes."""
    na, nb = _flat(a), _flat(b)
    added = [_describe(n) for i, (n, _) in nb.items() if i not in na]
    removed = [_describe(n) for i, (n, _) in na.items() if i not in nb]
    changed = []
    for i, (node_a, inputs_a) in na.items():
        if i not in nb:
            continue
        node_b, inputs_b = nb[i]
        changes = {}
        if node_a.type != node_b.type:
            changes["type"] = (node_a.type, node_b.type)
        changes.update(_dict_diff(node_a.params, node_b.params))
        if inputs_a != inputs_b:
            changes["inputs"] = (inputs_a, inputs_b)
        if changes:
            changed.append(NodeChange(i, node_b.type, changes))
    return GraphDiff(
        added, removed, changed, _dict_diff(a.inputs, b.inputs), _dict_diff(a.training, b.training)
    )


def _flat(g: Graph) -> dict[str, tuple[Node, list[str]]]:
    out: dict[str, tuple[Node, list[str]]] = {}

    def walk(nodes, top: bool):
        for n in nodes:
            out[n.id] = (n, g.predecessors(n.id) if top else [])
            walk(n.body, False)

    walk(g.nodes, True)
    return out


def _dict_diff(a: dict, b: dict) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)}


def _describe(n: Node) -> dict:
    return {"id": n.id, "type": n.type, "params": {k: _to_json(v) for k, v in n.params.items()}}


def _text(v) -> str:
    return "(none)" if v is None else str(_to_json(v))


def _params(params: dict) -> str:
    return " ".join(f"{k}={_text(v)}" for k, v in params.items())
