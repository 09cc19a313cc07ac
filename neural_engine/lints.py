"""Lints: things that build and run but are probably not what the user wants, with a fix.

Errors (impossible shapes) are raised by inference; lints are warnings on a valid graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from neural_engine.layers.base import fmt_shape
from neural_engine.optim import CROSS_ENTROPY, call_name, canonical_loss
from neural_engine.shapes import Analysis, NodeInfo

GIB = 1 << 30
BIG_FLATTEN = 16_384  # features into a Dense after Flatten
BIG_DENSE_PARAMS = 10_000_000


@dataclass(frozen=True, slots=True)
class Lint:
    code: str
    node: str
    severity: str  # "warning" | "info"
    message: str
    hint: str | None = None


def lint(analysis: Analysis, *, batch_size: int = 32, dtype_bytes: int = 4) -> list[Lint]:
    """All lints for an analysed graph, in node order."""
    found: list[Lint] = []
    for check in (_huge_tensors, _dense_after_big_flatten, _bottleneck, _softmax_before_ce, _mask_not_passed):
        found += check(analysis, batch_size, dtype_bytes)
    order = {nid: i for i, nid in enumerate(analysis.nodes)}
    return sorted(found, key=lambda x: order.get(x.node, -1))


def _huge_tensors(a: Analysis, batch: int, b: int):
    limit = GIB / (batch * b)
    for nid, info in a.nodes.items():
        if info.elements > limit:
            size = info.elements * batch * b
            yield Lint(
                "huge-tensor",
                nid,
                "warning",
                f"output {fmt_shape(info.output.user)} takes {size / GIB:.1f} GiB at batch size {batch}",
                "downsample earlier (strides, pooling), use fewer channels or a smaller batch",
            )


def _feeders(a: Analysis, info: NodeInfo) -> list[NodeInfo]:
    return [a.nodes[s] for s in info.sources if s in a.nodes]


def _dense_after_big_flatten(a: Analysis, batch: int, b: int):
    for nid, info in a.nodes.items():
        if not info.spec.dense:
            continue
        for src in _feeders(a, info):
            features = info.site.x[-1] or 0
            if src.spec.flattens and (features > BIG_FLATTEN or info.params > BIG_DENSE_PARAMS):
                yield Lint(
                    "dense-after-flatten",
                    nid,
                    "warning",
                    f"{info.spec.name} after Flatten of {features:,} features has {info.params:,} parameters",
                    f"replace Flatten ({src.node.id}) with GlobalAveragePooling2D, or pool further first",
                )


def _width(info: NodeInfo) -> int | None:
    return info.output.user[-1] if info.output.user else None


def _bottleneck(a: Analysis, batch: int, b: int):
    """A hidden Dense less than half as wide as the outputs it feeds (feature vectors only:
    a 512-channel map before 1000 classes is normal, a Dense(4) before 10 classes is not)."""
    heads = [a.nodes[o] for o in a.outputs]
    widths = [w for w in (_width(h) for h in heads) if w]
    if not widths:
        return
    narrowest_out = min(widths)
    for nid, info in a.nodes.items():
        if len(info.output.shape) != 1 or "units" not in info.site.params or nid in a.outputs:
            continue
        w = info.output.shape[0]
        if w and 2 * w < narrowest_out:
            yield Lint(
                "bottleneck",
                nid,
                "warning",
                f"hidden width {w} is narrower than the {narrowest_out} outputs after it",
                "widen this layer to at least the number of outputs",
            )


def _softmax_before_ce(a: Analysis, batch: int, b: int):
    name = call_name(a.graph.training.get("loss"))
    if name is None or canonical_loss(name) not in CROSS_ENTROPY:
        return
    for nid in a.outputs:
        info = a.nodes[nid]
        params = info.site.params
        softmax = info.spec.applies_softmax or params.get("activation") == "softmax"
        if softmax and not info.spec.head:
            yield Lint(
                "softmax-before-cross-entropy",
                nid,
                "warning",
                f"{info.spec.name} applies softmax and the loss {name} applies it again",
                'end with Output(units, "softmax"): training then uses logits, inference the softmax',
            )


MASK_READERS = (
    "LSTM",
    "GRU",
    "SimpleRNN",
    "Bidirectional",
    "MultiHeadAttention",
    "TransformerEncoder",
    "TransformerDecoder",
)


def _mask_not_passed(a: Analysis, batch: int, b: int):
    """Keras' ``mask_zero`` makes later recurrent and attention layers skip padded steps; here it is
    padding_idx=0 only, so say so where such a layer reads the embedding (directly or downstream)."""
    readers: dict[str, list[str]] = {}
    for nid, info in a.nodes.items():
        for s in info.sources:
            readers.setdefault(s, []).append(nid)
    for nid, info in a.nodes.items():
        if not info.site.params.get("mask_zero"):  # an Embedding that marks id 0 as padding
            continue
        seen, todo = set(), list(readers.get(nid, ()))
        while todo:
            cur = todo.pop(0)
            if cur in seen:
                continue
            seen.add(cur)
            name = a.nodes[cur].spec.name
            if name in MASK_READERS:
                yield Lint(
                    "mask-not-passed",
                    nid,
                    "warning",
                    f"mask_zero=true keeps id 0's vector zero, but no mask reaches {name} ({cur}): "
                    "unlike Keras, it reads padded steps as ordinary steps",
                    "keep padding short (bucket sequences by length); NeuralForge passes no masks "
                    "between layers",
                )
                break
            todo += readers.get(cur, [])
