"""Shape propagation over a graph's topological order (pure Python, no torch).

Tensors are tracked in the engine's internal order — PyTorch's, channels-first for spatial
tensors — with a flag ``cf`` saying the user's notation (``channels_last``) puts the channel
axis last instead. Layers declare the arrangement they need (:attr:`LayerSpec.order`):

- ``channels``: convolutions, pooling, normalisation over channels: the input is moved to
  channels-first (``to_cf``) if it is not;
- ``features``: Dense, recurrent and attention layers, Reshape: the input is moved back to the
  user's order (``to_cl``) if it is channels-first;
- ``any``: element-wise layers keep whatever comes in (merges align to their first input).

Network inputs of rank >= 3 in a ``channels_last`` graph arrive channels-first (NCHW/NCDHW, as
torchvision delivers images); rank 1 and 2 inputs arrive as written. The builder applies the
same adapters, so the module and the report always agree.

>>> from neural_engine.ir import GraphBuilder
>>> g = GraphBuilder("Tiny", {"x": (28, 28, 1)})
>>> _ = g.add("Conv2D", "x", filters=8, kernel_size=3)
>>> propagate(g.build()).nodes["conv2d_1"].output.user
(26, 26, 8)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neural_engine import layers
from neural_engine.checks import check_graph
from neural_engine.errors import NeuralForgeError, ShapeError
from neural_engine.ir import Graph, Layout, Node, Shape
from neural_engine.layers.base import LayerSpec, Site, fmt_shape, numel
from neural_engine.masks import MaskStep, mask_steps


@dataclass(slots=True)  # analysis record: read-only by convention (frozen costs ~1 us/node)
class Tensor:
    shape: Shape  # internal order, batch excluded
    cf: bool = False  # channels-first internally, channels-last in the user's notation

    @property
    def user(self) -> Shape:
        """The shape in the user's notation."""
        return (*self.shape[1:], self.shape[0]) if self.cf else self.shape


def to_cf(t: Tensor) -> Tensor:
    return Tensor((t.shape[-1], *t.shape[:-1]), True)


def to_cl(t: Tensor) -> Tensor:
    return Tensor(t.user, False)


ADAPT = {"to_cf": to_cf, "to_cl": to_cl}


@dataclass(slots=True)  # analysis record: read-only by convention (frozen costs ~1 us/node)
class Chain:
    """An analysed body of layers (containers, wrappers): a chain from one input tensor."""

    input: Tensor
    infos: tuple[NodeInfo, ...]
    output: Tensor
    out_adapter: str | None  # brings the last layer's output to the arrangement asked for


@dataclass(slots=True)  # analysis record: read-only by convention (frozen costs ~1 us/node)
class NodeInfo:
    node: Node
    site: Site  # params validated, inputs adapted, output set
    sources: tuple[str, ...]  # predecessor ids (or input names), in slot order
    adapters: tuple[str | None, ...]  # per input: None, "to_cf" or "to_cl"
    output: Tensor
    params: int  # trainable parameters (torch ``parameters()``)
    non_trainable: int  # persistent float buffers (BatchNorm running stats)
    flops: int  # counted as torch.utils.flop_counter counts them
    elements: int  # values in one sample's output (unknown dims count 1)
    body: Chain | None = None

    @property
    def spec(self) -> LayerSpec:
        return self.site.spec


@dataclass(frozen=True)
class Analysis:
    graph: Graph
    inputs: dict[str, Tensor]
    nodes: dict[str, NodeInfo]  # in topological order
    outputs: tuple[str, ...]  # nodes nothing consumes
    masks: dict[str, MaskStep] = field(default_factory=dict)  # per node: padding masks (masks.py)


def input_tensor(shape: Shape, layout: Layout) -> Tensor:
    t = Tensor(tuple(shape))
    return to_cf(t) if layout == "channels_last" and len(shape) >= 3 else t


def propagate(graph: Graph) -> Analysis:
    """Check ``graph`` and infer every node's output shape, parameters and FLOPs.

    Raises the first ValidationError/ShapeError met, tagged with the node id and source span.
    """
    order = check_graph(graph)
    env = {name: input_tensor(shape, graph.layout) for name, shape in graph.inputs.items()}
    infos: dict[str, NodeInfo] = {}
    nodes, sources_of, layout = graph._nodes_by_id, graph._sources, graph.layout
    for node_id in order:
        sources = sources_of[node_id]
        try:
            info = analyse_node(nodes[node_id], [env[s] for s in sources], layout, sources)
        except ShapeError as err:
            _hint_layout(err, graph, nodes[node_id], sources)
            raise
        infos[node_id] = info
        env[node_id] = info.output
    consumed = {e.source for e in graph.edges}
    outputs = tuple(i for i in order if i not in consumed)
    masks = mask_steps(infos, graph)
    return Analysis(graph, {k: env[k] for k in graph.inputs}, infos, outputs, masks)


def looks_channels_first(shape: Shape) -> bool:
    """An image shape written channels-first: a few channels first, a larger size last.

    >>> looks_channels_first((1, 28, 28)), looks_channels_first((28, 28, 1)), looks_channels_first((3, 8))
    (True, False, False)
    """
    return (
        len(shape) in (3, 4)
        and isinstance(shape[0], int)
        and isinstance(shape[-1], int)
        and shape[0] <= 4 < shape[-1]
    )


def channels_first_hint(shape: Shape) -> str:
    """The fix for a channels-first input shape in a channels_last network."""
    moved = fmt_shape((*shape[1:], shape[0]))
    return f"for {shape[0]} channel{'s' if shape[0] != 1 else ''} write input: {moved}, or add layout: channels_first"


def _hint_layout(err: ShapeError, graph: Graph, node: Node, sources) -> None:
    """A shape error on a network input that looks channels-first names that as the likely cause."""
    spec = layers.get(node.type)
    if graph.layout != "channels_last" or spec.order != "channels":
        return
    for s in sources:
        shape = graph.inputs.get(s)
        if shape is not None and looks_channels_first(shape):
            err.hint = (
                f"input {s!r} {fmt_shape(shape)} looks channels-first (C, H, W) but this network is "
                f"channels_last (H, W, C); {channels_first_hint(shape)}"
            )
            return


def partial_shapes(graph: Graph) -> dict[str, Shape]:
    """Output shapes (user notation) of every node that does not depend on a failing one: what an
    editor can still label while the graph has an error.

    >>> from neural_engine.dsl import parse
    >>> g = parse('network N { input: (4,) layers: Dense(8) Conv2D(4, 3) Output(2) }')
    >>> partial_shapes(g)
    {'input': (4,), 'dense_1': (8,)}
    >>> partial_shapes(parse('network N { input: (4,) layers: a = Dense(8) b = Dense(3) <- [input, a] Output(2) }'))
    {'input': (4,), 'a': (8,)}
    """
    from neural_engine import layers
    from neural_engine.checks import reachable_order
    from neural_engine.errors import NeuralForgeError

    env: dict[str, Tensor] = {}
    for name, shape in graph.inputs.items():
        if all((isinstance(d, int) and not isinstance(d, bool) and d > 0) or d is None for d in shape):
            env[name] = input_tensor(shape, graph.layout)
    nodes, sources_of, layout = graph._nodes_by_id, graph._sources, graph.layout
    for node_id in reachable_order(graph):
        sources = sources_of.get(node_id, ())
        try:
            low, high = layers.get(nodes[node_id].type).arity
        except NeuralForgeError:
            continue  # an unknown layer type
        if all(s in env for s in sources) and low <= len(sources) and (high is None or len(sources) <= high):
            try:
                env[node_id] = analyse_node(nodes[node_id], [env[s] for s in sources], layout, sources).output
            except NeuralForgeError:
                pass  # this node and everything fed by it stay unlabelled
    return {k: tuple(t.user) for k, t in env.items()}


_NONE = (None,)


def _adapter(want: str, t: Tensor) -> str | None:
    if want == "channels":
        return "to_cf" if not t.cf and len(t.shape) >= 2 else None
    return "to_cl" if t.cf else None


def _adapters(spec: LayerSpec, ins: list[Tensor], layout: Layout) -> tuple[str | None, ...]:
    """Per input: the move that gives the layer the arrangement it asks for (or None)."""
    order = spec.order
    if layout == "channels_first":
        return _NONE * len(ins)
    if order != "any":
        return (_adapter(order, ins[0]),) if len(ins) == 1 else tuple(_adapter(order, t) for t in ins)
    # element-wise: keep the first input's arrangement, align the others to it
    want = "channels" if ins[0].cf else "features"
    return (None, *(_adapter(want, t) if len(t.shape) >= 2 else None for t in ins[1:]))


def analyse_node(node: Node, ins: list[Tensor], layout: Layout, sources: tuple[str, ...] = ()) -> NodeInfo:
    """Validate one node's parameters and infer its output from its input tensors."""
    spec = layers.get(node.type, node.id)
    try:
        params = spec.validate(node.params, node.id)
        adapters = _adapters(spec, ins, layout)
        if adapters != _NONE and any(adapters):
            ins = [ADAPT[a](t) if a else t for a, t in zip(adapters, ins)]
        shapes = (ins[0].shape,) if len(ins) == 1 else tuple(t.shape for t in ins)
        site = Site(spec, node.id, params, shapes, ins[0].cf)
        if spec.container:
            shape, cf, out_cf = spec.body_input(site)
            site.body = analyse_chain(node.body, Tensor(tuple(shape), cf), out_cf, layout)
        out = site.output = tuple(spec.infer(site))
        cf = ins[0].cf and spec.order != "features" and len(out) >= 2
        return NodeInfo(
            node,
            site,
            sources,
            adapters,
            Tensor(out, cf),
            spec.param_count(site),
            spec.non_trainable(site),
            spec.flops(site),
            numel(out),
            site.body,
        )
    except NeuralForgeError as err:
        if err.node is None:
            err.node = node.id
        if err.span is None and node.origin is not None:
            err.span = node.origin.span
            if node.origin.macros:
                calls = " ← ".join(m.replace("@", " called at ") for m in reversed(node.origin.macros))
                err.message += f" (in macro {calls})"
        raise


def analyse_chain(nodes: tuple[Node, ...], start: Tensor, out_cf: bool, layout: Layout) -> Chain:
    """Analyse a body: each node feeds the next; the end is brought to ``out_cf``."""
    t, infos = start, []
    for node in nodes:
        info = analyse_node(node, [t], layout)
        infos.append(info)
        t = info.output
    adapter = None
    if layout == "channels_last" and len(t.shape) >= 2 and t.cf != out_cf:
        adapter = "to_cf" if out_cf else "to_cl"
        t = ADAPT[adapter](t)
    return Chain(start, tuple(infos), t, adapter)
