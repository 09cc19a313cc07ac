"""Syntax tree → Graph IR: macro expansion, repetition, labels and ``<-`` sources, branches,
container bodies, wrappers, device hints and parameters checked against the registry.

Node ids are the user's label, or ``<type>_<n>`` (the first free number for that layer type, in
file order); the printer predicts the same ids, so text → graph → text → graph is stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neural_engine import layers
from neural_engine.checks import DEVICE, DEVICES_TEXT
from neural_engine.dsl import sections as sec
from neural_engine.dsl import syntax as S
from neural_engine.dsl.parser import REQUIRED
from neural_engine.dsl.values import HPO_NAMES, evaluate, show
from neural_engine.errors import NeuralForgeError, Span, ValidationError, did_you_mean
from neural_engine.ir import HPO, Edge, Graph, Node, Origin, searched
from neural_engine.layers.base import fmt_shape
from neural_engine.shapes import channels_first_hint, looks_channels_first

MAX_NODES = 20_000  # per network, after macro expansion and repetition (keeps a parse < 1 s)
MAX_REPEAT = 10_000


@dataclass(frozen=True)
class DSLWarning:
    message: str
    span: Span | None = None

    def __str__(self) -> str:
        return f"{self.span}: warning: {self.message}" if self.span else f"warning: {self.message}"


class IdAllocator:
    """``<type>_<n>`` ids, first free n per type; labels claim their own name."""

    def __init__(self, taken=()):
        self.taken = set(taken)
        self.counts: dict[str, int] = {}

    def next(self, type_name: str) -> str:
        self._count()
        key = type_name.lower()
        n = self.counts.get(key, 0)
        while True:
            n += 1
            candidate = f"{key}_{n}"
            if candidate not in self.taken:
                self.counts[key] = n
                self.taken.add(candidate)
                return candidate

    def _count(self) -> None:
        self.made = getattr(self, "made", 0) + 1
        if self.made > MAX_NODES:
            raise ValidationError(
                f"a network may have at most {MAX_NODES:,} layers after macro expansion "
                "and repetition; received more",
                hint="check repetition counts and macros",
            )

    def claim(self, label: str, span: Span) -> str:
        self._count()
        if label in self.taken:
            raise ValidationError(
                f"label {label!r} must name one layer; received it twice", span=span, hint="pick another name"
            )
        self.taken.add(label)
        return label


@dataclass
class _Net:
    """Mutable state while one network is built."""

    ids: IdAllocator
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    alias: dict[str, str] = field(default_factory=dict)  # branch/macro label -> node id
    prev: str | None = None
    pending: list[str] | None = None  # sources for the next layer (macro `<-`)


class Lowering:
    def __init__(self, macros: dict[str, S.MacroDef], warnings: list[DSLWarning]):
        self.macros = macros
        self.warnings = warnings

    # networks ----------------------------------------------------------------------------
    def network(self, net: S.NetworkDef) -> Graph:
        found: dict[str, S.Section] = {}
        for section in net.sections:
            if section.kind in found:
                self.warnings.append(
                    DSLWarning(f"{section.kind} is given twice; the later one is used", section.span)
                )
            found[section.kind] = section
        for required in ("input", "layers"):
            if required not in found:
                raise ValidationError(
                    f"network {net.name} needs an `{required}:` section; received none",
                    span=net.span,
                    hint="e.g. input: (28, 28, 1)  layers: Dense(10)",
                )
        inputs = sec.parse_inputs(found["input"])
        layout = sec.parse_layout(found["layout"]) if "layout" in found else "channels_last"
        layers_section = found["layers"]
        if not layers_section.values:
            raise ValidationError(
                f"network {net.name} needs at least one layer in `layers:`; received none",
                span=layers_section.span,
                hint="e.g. layers: Flatten() Dense(10)",
            )
        state = _Net(IdAllocator(inputs), labels=set(inputs), prev=next(iter(inputs)))
        self.items(state, layers_section.values, {}, ())
        self._all_inputs_used(state, inputs, found["input"].span)
        if "layout" not in found:
            self._channels_first_warning(state, inputs, found["input"].span)
        return Graph(net.name, inputs, tuple(state.nodes), tuple(state.edges), layout, self.training(found))

    def _all_inputs_used(self, state: _Net, inputs: dict, span: Span) -> None:
        read = {e.source for e in state.edges}
        for name in inputs:
            if name not in read:
                others = [n for n in inputs if n != name]
                raise ValidationError(
                    f"every input must feed a layer; received input {name!r}, which nothing reads",
                    span=span,
                    hint=f"start a branch `{name}: {{ … }}`, take it with `<- {name}` (e.g. "
                    f"Concatenate() <- [{others[0] if others else 'x'}, {name}]), or remove it",
                )

    def _channels_first_warning(self, state: _Net, inputs: dict, span: Span) -> None:
        """``input: (1, 28, 28)`` before a Conv2D: a channels-first habit in a channels_last network."""
        firsts = {e.source: e.target for e in reversed(state.edges)}
        by_id = {n.id: n for n in state.nodes}
        for name, shape in inputs.items():
            node = by_id.get(firsts.get(name))
            if node is not None and layers.get(node.type).order == "channels" and looks_channels_first(shape):
                self.warnings.append(
                    DSLWarning(
                        f"input {name!r} {fmt_shape(shape)} reads as channels-last, "
                        f"so {node.type} sees {shape[-1]} channels; " + channels_first_hint(shape),
                        span,
                    )
                )

    def training(self, found: dict[str, S.Section]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "loss" in found:
            out["loss"] = sec.parse_loss(found["loss"])
        if "optimizer" in found:
            out["optimizer"] = sec.parse_optimizer(found["optimizer"])
        if "metrics" in found:
            out["metrics"] = sec.parse_metrics(found["metrics"])
        if "lr_schedule" in found:
            out["lr_schedule"] = sec.parse_schedule(found["lr_schedule"])
        if "train" in found:
            out.update(sec.parse_settings(found["train"], sec.TRAIN_KEYS, "train"))
        if "execution" in found:
            out["execution"] = sec.parse_settings(found["execution"], sec.EXECUTION_KEYS, "execution")
        return out

    # layer items -------------------------------------------------------------------------
    def items(self, state: _Net, items, env: dict, chain: tuple[str, ...]) -> None:
        ends: list[tuple[str, str]] = []  # (branch name, its last node) of the branches just closed
        for item in items:
            if isinstance(item, S.Branch):
                self.branch(state, item, env, chain)
                ends.append((item.name, state.prev))
                continue
            if len(ends) > 1:
                self._after_branches(state, item, ends)
            ends = []
            self.item(state, item, env, chain)

    def _after_branches(self, state: _Net, item: S.LayerItem, ends: list[tuple[str, str]]) -> None:
        """The old multi-input form: a merge layer right after branches, with no inputs of its own,
        merges them all (in order); any other layer takes the last and the others are left alone."""
        if item.sources or state.pending or item.call.name in self.macros:
            return
        spec = self.spec(item.call.name, item.call.span)
        own = [a for a in item.call.args if isinstance(a, S.Name) and a.name in state.labels]
        if spec.arity[0] >= 2 and not own:
            state.pending = [node for _, node in ends]
            return
        names = ", ".join(name for name, _ in ends)
        self.warnings.append(
            DSLWarning(
                f"the branches {names} end here and {spec.name} reads only the last "
                f"({ends[-1][0]}); merge them first, e.g. Concatenate()",
                item.span,
            )
        )

    def branch(self, state: _Net, br: S.Branch, env: dict, chain) -> None:
        """``name: { items }``: a chain that starts from input/label ``name`` and takes its label."""
        if not br.items:
            raise ValidationError(
                f"branch {br.name} needs at least one layer; received an empty block",
                span=br.span,
                hint=f"e.g. {br.name}: {{ Dense(16) }}, or remove it",
            )
        state.prev = self._resolve(state, br.name, br.span)
        self.items(state, br.items, env, chain)
        state.alias[br.name] = state.prev  # the branch's output now answers to its name

    def item(self, state: _Net, item: S.LayerItem, env: dict, chain) -> None:
        times = self._repeat(item, env)
        for i in range(times):
            sources = item.sources if i == 0 else None
            label = item.label if i == times - 1 else None
            macro = self.macros.get(item.call.name)
            if macro is not None:
                self.expand(state, macro, item, env, chain, sources, label)
            else:
                self.layer(state, item, env, chain, sources, label)

    def _repeat(self, item: S.LayerItem, env: dict) -> int:
        if item.repeat is None:
            return 1
        n = evaluate(item.repeat, env, item.span)
        if (
            isinstance(n, bool)
            or not isinstance(n, int | float)
            or not float(n).is_integer()
            or not 1 <= n <= MAX_REPEAT
        ):
            raise ValidationError(
                f"repetition `* N` needs a positive integer up to {MAX_REPEAT:,}; received {show(n)}",
                span=item.span,
                hint="a search value cannot set a repetition count; write one network per depth"
                if isinstance(n, HPO)
                else None,
            )
        return int(n)

    def layer(self, state: _Net, item: S.LayerItem, env: dict, chain, sources, label) -> None:
        call = item.call
        spec = self.spec(call.name, call.span)
        extra_sources, call = self._merge_shorthand(state, spec, call)
        node = self.node(state.ids, spec, call, env, chain, label, item)
        if item.body is not None and spec.container != "chain":
            self.warnings.append(
                DSLWarning(f"the block after {spec.name} runs after it, in order", item.span)
            )
        if sources:
            srcs = [self._resolve(state, s, item.span) for s in sources]
        else:
            srcs, state.pending = state.pending or [state.prev], None
        srcs += extra_sources
        for slot, src in enumerate(srcs):
            state.edges.append(
                Edge(f"e_{src}_{node.id}_{slot}", src, node.id, str(slot) if len(srcs) > 1 else None)
            )
        state.nodes.append(node)
        state.prev = node.id
        state.labels.add(node.id)  # a label is the node's id; generated ids can be named too
        if item.body is not None and spec.container != "chain":
            self.items(state, item.body, env, chain)

    def node(
        self,
        ids: IdAllocator,
        spec,
        call: S.CallExpr,
        env: dict,
        chain,
        label=None,
        item: S.LayerItem | None = None,
    ) -> Node:
        """A node for ``call`` (not yet connected): parameters, body, device, id, origin."""
        args = list(call.args)
        body: tuple[Node, ...] = ()
        if spec.container == "wrapper":
            if not args or not isinstance(args[0], S.CallExpr):
                raise ValidationError(
                    f"{spec.name} wraps a layer, e.g. {spec.name}(LSTM(64)); received "
                    f"{len(args)} positional arguments",
                    span=call.span,
                )
            inner = args.pop(0)
            body = (self.node(ids, self.spec(inner.name, inner.span), inner, env, chain),)
        elif spec.container == "chain" and item is not None and item.body is not None:
            body = tuple(self._body(ids, item.body, env, chain))
        params = self.params(spec, call, args, env)
        device = None
        if item is not None and item.device is not None:
            device, span = item.device
            if not DEVICE.match(device):
                raise ValidationError(
                    f'device must be one of {DEVICES_TEXT}; received "{device}"',
                    span=span,
                    hint='e.g. @ "cuda:0"',
                )
        node_id = ids.claim(label, call.span) if label else ids.next(spec.name)
        return Node(node_id, spec.name, params, device=device, origin=Origin(call.span, chain), body=body)

    def _body(self, ids: IdAllocator, items, env: dict, chain) -> list[Node]:
        out: list[Node] = []
        for item in items:
            if isinstance(item, S.Branch) or item.sources:
                raise ValidationError(
                    "a container body is a chain: `<-` and branches are not allowed inside",
                    span=item.span,
                    hint="use labels and `<-` outside the container",
                )
            for i in range(self._repeat(item, env)):
                macro = self.macros.get(item.call.name)
                if macro is not None:
                    menv, mchain = self._bind(macro, item.call, env, chain)
                    out += self._body(ids, macro.items, menv, mchain)
                else:
                    label = item.label if i == 0 else None
                    spec = self.spec(item.call.name, item.call.span)
                    out.append(self.node(ids, spec, item.call, env, chain, label, item))
        return out

    def params(self, spec, call: S.CallExpr, args: list, env: dict) -> dict[str, Any]:
        """Positional and named arguments → canonical parameter names and checked values.

        Only what the user wrote is kept (no defaults), with registry-coerced values (1e3 → 1000);
        HPO values stay HPO values (checked through their default). Positional arguments follow
        the layer's order (:meth:`LayerSpec.positional`: Neural DSL's where it has one, else Keras')."""
        values = [evaluate(a, env, call.span) for a in args]
        order = spec.positional(values)
        if len(values) > len(order):
            names = ", ".join(p.name for p in order) or "no parameters"
            raise ValidationError(
                f"{spec.name} takes at most {len(order)} positional arguments "
                f"({names}); received {len(values)}",
                span=call.span,
                hint=f"write the rest as name=value; positional order: {spec.positional_text()}"
                if order
                else None,
            )
        raw = {p.name: v for p, v in zip(order, values)}
        for key, value, span in call.kwargs:
            try:
                p = spec.keyword(key, raw)
            except NeuralForgeError as err:
                err.span = span
                raise
            raw[p.name] = evaluate(value, env, span)
        try:
            checked = spec.validate(raw)
        except NeuralForgeError as err:
            err.span = err.span or call.span
            raise
        return {k: v if searched(v) else checked[k] for k, v in raw.items()}

    # macros -----------------------------------------------------------------------------
    def expand(self, state: _Net, macro: S.MacroDef, item: S.LayerItem, env, chain, sources, label) -> None:
        menv, mchain = self._bind(macro, item.call, env, chain)
        if sources:
            state.pending = [self._resolve(state, s, item.span) for s in sources]
        self.items(state, macro.items, menv, mchain)
        if label:  # the macro's last node answers to the label
            state.labels.add(label)
            state.alias[label] = state.prev

    def _bind(self, macro: S.MacroDef, call: S.CallExpr, env: dict, chain) -> tuple[dict, tuple]:
        site = f"{macro.name}@{call.span.line}:{call.span.column}"
        if any(c.split("@")[0] == macro.name for c in chain):
            path = " → ".join([c.split("@")[0] for c in chain] + [macro.name])
            raise ValidationError(
                f"macro {macro.name} must not call itself; received the cycle {path}",
                span=call.span,
                hint="macros expand before inference and cannot recurse",
            )
        names = [p for p, _ in macro.params]
        if len(call.args) > len(names):
            raise ValidationError(
                f"macro {macro.name} takes {len(names)} arguments ({', '.join(names) or 'none'});"
                f" received {len(call.args)}",
                span=call.span,
            )
        bound = {n: evaluate(a, env, call.span) for n, a in zip(names, call.args)}
        for key, value, span in call.kwargs:
            if key not in names:
                raise ValidationError(
                    f"macro {macro.name} has no parameter {key!r}",
                    span=span,
                    hint=did_you_mean(key, names) or f"it takes: {', '.join(names) or 'none'}",
                )
            bound[key] = evaluate(value, env, span)
        for name, default in macro.params:
            if name not in bound:
                if default is REQUIRED:
                    raise ValidationError(
                        f"macro {macro.name} needs {name!r}; received no value",
                        span=call.span,
                        hint=f"e.g. {macro.name}({name}=…)",
                    )
                bound[name] = evaluate(default, bound, macro.span)
        return bound, (*chain, site)

    # names ------------------------------------------------------------------------------
    def spec(self, name: str, span: Span):
        if name.lower() in HPO_NAMES:
            raise ValidationError(
                f"a layer goes here; received the search value {name}(…): a search value "
                "cannot choose between layers",
                span=span,
                hint="search a layer's parameters instead, e.g. Dense(HPO(choice(64, 128))), "
                "or write one network per alternative (a file may hold several)",
            )
        if name.lower() == "lambda":
            raise ValidationError(
                "Lambda layers are refused: NeuralForge never evaluates user code",
                span=span,
                hint="write the computation with registry layers, or a macro",
            )
        try:
            return layers.get(name)
        except ValidationError as err:
            names = [k for s in layers.REGISTRY.values() for k in (s.name, *s.aliases)] + list(self.macros)
            err.span = span
            err.hint = did_you_mean(name, names) or err.hint
            raise

    def _merge_shorthand(self, state: _Net, spec, call: S.CallExpr):
        """``Add(skip)`` = ``Add() <- [previous, skip]``: leading bare names that are labels."""
        if spec.arity[0] < 2:
            return [], call
        extra = []
        args = list(call.args)
        while args and isinstance(args[0], S.Name) and args[0].name in state.labels:
            extra.append(self._resolve(state, args.pop(0).name, call.span))
        return extra, S.CallExpr(call.name, tuple(args), call.kwargs, call.span, call.bare)

    def _known_source(self, state: _Net, name: str, span: Span) -> None:
        if name not in state.labels:
            raise ValidationError(
                f"unknown input or label {name!r}",
                span=span,
                hint=did_you_mean(name, state.labels)
                or f"known: {', '.join(sorted(state.labels)) or 'none'}",
            )

    def _resolve(self, state: _Net, name: str, span: Span) -> str:
        self._known_source(state, name, span)
        return state.alias.get(name, name)
