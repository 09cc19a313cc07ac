"""The graph IR: frozen dataclasses shared by the DSL, the canvas, the builder and the API.

Shapes exclude the batch dimension; ``None`` is an unknown dimension. The JSON form is the
canvas's and the API's format::

    {"name", "layout", "inputs": {"image": [28, 28, 1]},
     "nodes": [{"id", "type", "params", "position": {"x", "y"}, "label"?, "device"?, "origin"?,
                "body"?}],
     "edges": [{"id", "source", "target", "target_handle"?}], "training": {...}}

``body`` holds the chain of a container (``ResidualConnection``, ``Sequential``) or the one layer a
wrapper (``TimeDistributed``, ``Bidirectional``) wraps. Edge sources are node ids or input names.

>>> g = GraphBuilder("Tiny", {"x": (4,)})
>>> g.add("Dense", g.input("x"), units=2)
'dense_1'
>>> Graph.from_json(g.build().to_json()) == g.build()
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from neural_engine.errors import Span, ValidationError

Shape = tuple[int | None, ...]
Layout = Literal["channels_last", "channels_first"]
LAYOUTS = ("channels_last", "channels_first")


@dataclass(frozen=True)
class HPO:
    """A hyperparameter search value: ``choice``, ``range`` (optional ``step``) or ``log_range``.

    Shape inference uses ``default`` — the first choice or the lower bound.
    """

    kind: Literal["choice", "range", "log_range"]
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None

    @property
    def default(self):
        return self.values[0] if self.kind == "choice" else self.low

    def __repr__(self) -> str:  # as the DSL writes it: messages never show the dataclass
        if self.kind == "choice":
            return f"HPO(choice({', '.join(map(repr, self.values))}))"
        step = f", step={self.step!r}" if self.step is not None else ""
        return f"HPO({self.kind}({self.low!r}, {self.high!r}{step}))"

    def to_json(self) -> dict:
        if self.kind == "choice":
            return {"hpo": "choice", "values": [_to_json(v) for v in self.values]}
        out = {"hpo": self.kind, "low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        return out

    @staticmethod
    def from_json(d: dict) -> HPO:
        if d["hpo"] == "choice":
            return HPO("choice", tuple(_from_json(v) for v in d["values"]))
        return HPO(d["hpo"], low=d["low"], high=d["high"], step=d.get("step"))


def at_default(v):
    """``v`` with each search value in it at its default, inside tuples too: what shapes, builders
    and generated code use.

    >>> at_default((HPO("choice", (1, 3)), 3)), searched((HPO("choice", (1, 3)), 3)), searched((1, 3))
    ((1, 3), True, False)
    """
    if isinstance(v, HPO):
        return v.default
    if isinstance(v, tuple) and any(isinstance(x, HPO | tuple) for x in v):
        return tuple(at_default(x) for x in v)
    return v


def searched(v) -> bool:
    """Whether ``v`` is or holds a search value."""
    return isinstance(v, HPO) or (isinstance(v, tuple) and any(searched(x) for x in v))


@dataclass(frozen=True)
class Call:
    """A named call used as a value: an optimizer ``Adam(learning_rate=1e-3)``, a loss
    ``Huber(delta=1.0)``, a schedule ``ExponentialDecay(0.1, 1000, 0.96)``."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "args", tuple(_freeze(a) for a in self.args))
        object.__setattr__(self, "kwargs", {k: _freeze(v) for k, v in self.kwargs.items()})

    def __repr__(self) -> str:  # as the DSL writes it: ``Adam(learning_rate=0.001)``
        return f"{self.name}({', '.join([*map(repr, self.args), *(f'{k}={v!r}' for k, v in self.kwargs.items())])})"

    def to_json(self) -> dict:
        return {
            "call": self.name,
            "args": [_to_json(a) for a in self.args],
            "kwargs": {k: _to_json(v) for k, v in self.kwargs.items()},
        }

    @staticmethod
    def from_json(d: dict) -> Call:
        return Call(
            d["call"],
            tuple(_from_json(a) for a in d.get("args", ())),
            {k: _from_json(v) for k, v in (d.get("kwargs") or {}).items()},
        )


@dataclass(frozen=True)
class Origin:
    """Where a node came from: its DSL span and the macro call chain that expanded it."""

    span: Span | None = None
    macros: tuple[str, ...] = ()

    def to_json(self) -> dict:
        s = self.span
        return {
            "line": s.line if s else None,
            "column": s.column if s else None,
            "file": s.file if s else None,
            "macros": list(self.macros),
        }

    @staticmethod
    def from_json(d: dict) -> Origin:
        span = Span(d["line"], d["column"], file=d.get("file")) if d.get("line") else None
        return Origin(span, tuple(d.get("macros", ())))


@dataclass(frozen=True)
class Position:
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    position: Position = field(default=Position(), compare=False)  # layout, not meaning
    label: str | None = None
    device: str | None = None
    origin: Origin | None = field(default=None, compare=False)  # where it was written
    body: tuple[Node, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "params", {k: _freeze(v) for k, v in self.params.items()})
        object.__setattr__(self, "body", tuple(self.body))

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "params": {k: _to_json(v) for k, v in self.params.items()},
            "position": {"x": self.position.x, "y": self.position.y},
        }
        for key in ("label", "device"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.origin is not None:
            out["origin"] = self.origin.to_json()
        if self.body:
            out["body"] = [n.to_json() for n in self.body]
        return out

    @staticmethod
    def from_json(d: dict) -> Node:
        _require(d, ("id", "type"), "node")
        pos = d.get("position") or {}
        return Node(
            id=str(d["id"]),
            type=str(d["type"]),
            params={k: _from_json(v) for k, v in (d.get("params") or {}).items()},
            position=Position(float(pos.get("x", 0)), float(pos.get("y", 0))),
            label=d.get("label"),
            device=d.get("device"),
            origin=Origin.from_json(d["origin"]) if d.get("origin") else None,
            body=tuple(Node.from_json(b) for b in d.get("body", ())),
        )


@dataclass(frozen=True)
class Edge:
    id: str = field(compare=False)  # a handle for the canvas; the ends are what count
    source: str
    target: str
    target_handle: str | None = None  # input slot ("0", "1", …) where order matters

    def to_json(self) -> dict:
        out = {"id": self.id, "source": self.source, "target": self.target}
        if self.target_handle is not None:
            out["target_handle"] = self.target_handle
        return out

    @staticmethod
    def from_json(d: dict) -> Edge:
        _require(d, ("source", "target"), "edge")
        handle = d.get("target_handle")
        return Edge(
            str(d.get("id") or f"{d['source']}->{d['target']}"),
            str(d["source"]),
            str(d["target"]),
            None if handle is None else str(handle),
        )


@dataclass(frozen=True, eq=False)
class Graph:
    name: str
    inputs: dict[str, Shape]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    layout: Layout = "channels_last"
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "inputs", {k: tuple(v) for k, v in self.inputs.items()})
        object.__setattr__(self, "training", {k: _freeze(v) for k, v in self.training.items()})
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "edges", tuple(self.edges))
        if self.layout not in LAYOUTS:
            raise ValidationError(f"layout must be one of {', '.join(LAYOUTS)}; received {self.layout!r}")

    def __eq__(self, other) -> bool:
        """Same name, inputs, nodes (in order), layout, training, and the same sources feeding
        each node in slot order (edge ids and edge order do not matter)."""
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.name, self.inputs, self.nodes, self.layout, self.training) == (
            other.name,
            other.inputs,
            other.nodes,
            other.layout,
            other.training,
        ) and self._sources == other._sources

    __hash__ = None

    def node(self, node_id: str) -> Node:
        return self._nodes_by_id[node_id]

    def predecessors(self, node_id: str) -> list[str]:
        """Sources feeding ``node_id`` in input-slot order (``target_handle``, then edge order)."""
        return list(self._sources.get(node_id, ()))

    @cached_property
    def _nodes_by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def _sources(self) -> dict[str, tuple[str, ...]]:
        into: dict[str, list[Edge]] = {}
        for e in self.edges:
            into.setdefault(e.target, []).append(e)
        return {t: tuple(e.source for e in sorted(es, key=_slot_key)) for t, es in into.items()}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "layout": self.layout,
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "training": {k: _to_json(v) for k, v in self.training.items()},
        }

    @staticmethod
    def from_json(d: dict) -> Graph:
        _require(d, ("inputs", "nodes"), "graph")
        inputs = d["inputs"]
        if isinstance(inputs, list):  # [{"name", "shape"}] is accepted too
            inputs = {i["name"]: i["shape"] for i in inputs}
        return Graph(
            name=str(d.get("name", "Network")),
            inputs={str(k): tuple(v) for k, v in inputs.items()},
            nodes=tuple(Node.from_json(n) for n in d["nodes"]),
            edges=tuple(Edge.from_json(e) for e in d.get("edges", ())),
            layout=d.get("layout", "channels_last"),
            training={k: _from_json(v) for k, v in (d.get("training") or {}).items()},
        )


def _slot_key(edge: Edge):
    h = edge.target_handle
    return (0, int(h)) if h is not None and h.isdigit() else (1, 0)


def _require(d, keys, what):
    if not isinstance(d, dict):
        raise ValidationError(f"a {what} must be a JSON object; received {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValidationError(f"a {what} needs the keys {', '.join(keys)}; missing {', '.join(missing)}")


def _freeze(v):
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return {k: _freeze(x) for k, x in v.items()}
    return v


def _to_json(v):
    if isinstance(v, HPO | Call):
        return v.to_json()
    if isinstance(v, tuple | list):
        return [_to_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _to_json(x) for k, x in v.items()}
    return v


def _from_json(v):
    if isinstance(v, dict) and "hpo" in v:
        return HPO.from_json(v)
    if isinstance(v, dict) and "call" in v:
        return Call.from_json(v)
    if isinstance(v, list):
        return tuple(_from_json(x) for x in v)
    if isinstance(v, dict):
        return {k: _from_json(x) for k, x in v.items()}
    return v


class GraphBuilder:
    """Builds a Graph in code (templates, tests). ``add`` returns the new node's id.

    Ids are ``<type>_<n>`` in lower case unless given; edges follow the call's input order.
    """

    def __init__(self, name: str, inputs: dict[str, Shape], layout: Layout = "channels_last"):
        self.name, self.inputs, self.layout = name, dict(inputs), layout
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.training: dict[str, Any] = {}
        self._counts: dict[str, int] = {}

    def input(self, name: str | None = None) -> str:
        return name if name is not None else next(iter(self.inputs))

    def node(self, type_: str, *, id: str | None = None, body=(), **params) -> Node:
        """A detached node (for container bodies and wrappers)."""
        if id is None:
            key = type_.lower()
            self._counts[key] = self._counts.get(key, 0) + 1
            id = f"{key}_{self._counts[key]}"
        return Node(id, type_, params, body=tuple(body))

    def add(self, type_: str, *sources: str, id: str | None = None, body=(), **params) -> str:
        n = self.node(type_, id=id, body=body, **params)
        self.nodes.append(n)
        for slot, src in enumerate(sources):
            handle = str(slot) if len(sources) > 1 else None
            self.edges.append(Edge(f"e_{src}_{n.id}_{slot}", src, n.id, handle))
        return n.id

    def chain(self, source: str, *layers: tuple[str, dict]) -> str:
        """Add ``layers`` (pairs of type and params) one after the other from ``source``."""
        for type_, params in layers:
            source = self.add(type_, source, **params)
        return source

    def build(self) -> Graph:
        return Graph(
            self.name, self.inputs, tuple(self.nodes), tuple(self.edges), self.layout, dict(self.training)
        )


def with_params(node: Node, **params) -> Node:
    """A copy of ``node`` with some parameters replaced."""
    return replace(node, params={**node.params, **params})
