"""Graph → ``torch.nn.Module``, directly from the registry's TorchCalls (no exec, no eval).

The module holds one submodule per node (``module.layers[node_id]``) and runs them in the
analysis' topological order, applying the same layout adapters the shape report used.

Layout rule: a ``channels_last`` network's module takes and returns spatial tensors
channels-first — (N, C, H, W), as torchvision delivers images — and rank-1/2 tensors
(features; steps × features) as written. A ``channels_first`` network's module takes exactly
the shapes written in the DSL. Device hints on nodes are kept in the IR and ignored here.

>>> from neural_engine.templates import template
>>> import torch
>>> model = build(template("mnist_cnn"))
>>> model(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import re

import torch
from torch import nn

from neural_engine.errors import ValidationError
from neural_engine.ir import Graph
from neural_engine.layers import get
from neural_engine.layers.activations import activation_call
from neural_engine.layers.base import BODY, TorchCall
from neural_engine.modules import NF_MODULES
from neural_engine.shapes import Analysis, Chain, NodeInfo, propagate

# positive dims: the TorchScript ONNX exporter writes movedim(-1, 1) as an invalid negative Transpose perm
_MOVE = {
    "to_cf": lambda x: x.movedim(x.dim() - 1, 1),
    "to_cl": lambda x: x.movedim(1, x.dim() - 1),
    None: lambda x: x,
}


def instantiate(call: TorchCall, body: nn.Module | None = None) -> nn.Module:
    """Construct the module a TorchCall names; nested calls first, ``BODY`` becomes ``body``."""
    if call is BODY or call == BODY:
        return body
    prefix, _, name = call.cls.partition(".")
    cls = getattr(nn, name) if prefix == "nn" else NF_MODULES[name] if prefix == "nf" else None
    if cls is None:
        raise ValueError(f"unknown module class {call.cls!r}")
    kwargs = {k: instantiate(v, body) if isinstance(v, TorchCall) else v for k, v in call.kwargs.items()}
    return cls(**kwargs)


def node_calls(info: NodeInfo, *, logits: bool = False) -> list[TorchCall]:
    """The TorchCalls for one node: the layer, then its activation if it has one.

    ``logits=True`` leaves out the activation of heads (:attr:`LayerSpec.head`: Output), which the
    loss applies.
    """
    calls = [info.spec.torch(info.site)]
    act = info.site.params.get("activation") if info.spec.activation_param else None
    if act and not (logits and info.spec.head):
        calls.append(activation_call(act, info.site, out_cf=info.output.cf))
    return calls


def node_module(info: NodeInfo, *, logits: bool = False) -> nn.Module:
    body = _chain_module(info.body) if info.body is not None else None
    mods = [instantiate(c, body) for c in node_calls(info, logits=logits)]
    return mods[0] if len(mods) == 1 else nn.Sequential(*mods)


def _key(node_id: str) -> str:
    """A ModuleDict key for a node id (no dots, not an attribute of a ModuleDict such as
    ``training`` or ``keys``, which ``add_module`` refuses)."""
    key = re.sub(r"\W", "_", node_id)
    return key if key.isidentifier() and not hasattr(_MODULE_DICT, key) else f"n_{key}"


_MODULE_DICT = nn.ModuleDict()


class GraphModule(nn.Module):
    """Runs ``layers`` in order; each step: (node id, source ids, adapters).

    ``masks`` (node id -> :class:`~neural_engine.masks.MaskStep`) carries padding masks beside the
    tensors: (N, steps), True at padded steps, handed to the modules that read them by keyword.
    """

    def __init__(
        self, input_names, steps, outputs, modules: dict[str, nn.Module], out_adapter=None, masks=None
    ):
        super().__init__()
        self.input_names = list(input_names)
        self.steps = [
            (_key(n), [s if s in self.input_names else _key(s) for s in srcs], list(ads))
            for n, srcs, ads in steps
        ]
        self.outputs = [_key(o) for o in outputs]
        self.out_adapter = out_adapter
        masks = masks or {}
        self.masks = [_mask_step(masks.get(n), self.input_names) for n, _, _ in steps]
        self.layers = nn.ModuleDict({_key(k): m for k, m in modules.items()})
        if len(self.layers) != len(modules):
            raise ValidationError(
                "node ids must map to distinct module names; received " + ", ".join(sorted(modules)),
                hint="rename the nodes",
            )

    def forward(self, *args, **kwargs):
        if len(args) + len(kwargs) != len(self.input_names):
            raise TypeError(f"expected inputs {self.input_names}; received {len(args) + len(kwargs)} tensors")
        env = dict(zip(self.input_names, args), **kwargs)
        pads = {}  # node -> its output's padding mask (N, steps), True at padded steps
        for (key, srcs, adapters), (reads, make, combine) in zip(self.steps, self.masks):
            xs = (_MOVE[a](env[s]) for s, a in zip(srcs, adapters))
            env[key] = self.layers[key](*xs, **{k: pads[s] for k, s in reads})
            if make:
                pads[key] = env[srcs[0]] == 0
            elif combine:
                pads[key] = pads[combine[0]]
                for s in combine[1:]:  # padded where every input is
                    pads[key] = pads[key] & pads[s]
        outs = [_MOVE[self.out_adapter](env[o]) for o in self.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)


def _mask_step(step, inputs) -> tuple[list, bool, list]:
    """A MaskStep with module keys: (reads [(keyword, key)], make, combine [keys])."""
    if step is None:
        return [], False, []

    def key(s):
        return s if s in inputs else _key(s)

    return [(k, key(s)) for k, s in step.reads], step.make, [key(s) for s in step.combine]


def _chain_module(chain: Chain) -> GraphModule:
    steps, prev = [], "x"
    for info in chain.infos:
        steps.append((info.node.id, [prev], info.adapters))
        prev = info.node.id
    modules = {info.node.id: node_module(info) for info in chain.infos}
    return GraphModule(["x"], steps, [prev], modules, chain.out_adapter)


def build(graph: Graph | Analysis, *, logits: bool = False) -> GraphModule:
    """Build the torch module for ``graph`` (or its analysis). Inputs are positional in the
    order of ``graph.inputs`` or by name; several outputs come back as a tuple."""
    analysis = graph if isinstance(graph, Analysis) else propagate(graph)
    steps = [(nid, info.sources, info.adapters) for nid, info in analysis.nodes.items()]
    modules = {nid: node_module(info, logits=logits) for nid, info in analysis.nodes.items()}
    return GraphModule(analysis.graph.inputs, steps, analysis.outputs, modules, masks=analysis.masks)


def prefers_channels_last(graph: Graph) -> bool:
    """Whether the built module runs faster with ``torch.channels_last`` tensors on a GPU: some
    layer, container bodies included, declares ``memory_format="channels_last"`` (2D
    convolutions, depthwise and separable ones too). Convert only 4D tensors.

    >>> from neural_engine.ir import GraphBuilder
    >>> g = GraphBuilder("Net", {"x": (8, 8, 3)})
    >>> _ = g.add("DepthwiseConv2D", g.input("x"), kernel_size=3)
    >>> prefers_channels_last(g.build())
    True
    >>> from neural_engine.templates import template
    >>> prefers_channels_last(template("mnist_cnn")), prefers_channels_last(template("lstm_classifier"))
    (True, False)
    """

    def wants(nodes) -> bool:
        return any(get(n.type, n.id).memory_format == "channels_last" or wants(n.body) for n in nodes)

    return wants(graph.nodes)


def example_inputs(analysis: Analysis, batch: int = 2, generator: torch.Generator | None = None):
    """Random tensors the built module accepts (unknown dims become 8; index inputs are ints)."""
    xs = []
    for name, t in analysis.inputs.items():
        shape = (batch, *(d or 8 for d in t.shape))
        consumers = [i for i in analysis.nodes.values() if name in i.sources]
        if any(i.spec.input_dtype == "long" for i in consumers):
            high = min(i.site.params.get("input_dim", 2) for i in consumers if i.spec.input_dtype == "long")
            xs.append(torch.randint(0, high, shape, generator=generator))
        else:
            xs.append(torch.randn(shape, generator=generator))
    return xs
