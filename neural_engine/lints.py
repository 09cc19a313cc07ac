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


SEQUENCE_FAMILIES = ("recurrent", "attention")  # layers that skip padded steps when a mask reaches them


def _mask_not_passed(a: Analysis, batch: int, b: int):
    """The padding mask of ``Embedding(mask_zero=true)`` travels through per-step layers to the
    recurrent, attention and average-pooling layers that skip padded steps (:mod:`masks`); a
    layer that does not keep it (Flatten, Reshape, convolutions; a Bidirectional with
    num_layers > 1) ends it, as in Keras. Say so where a recurrent or attention layer at or after
    that point then reads padded steps as ordinary steps."""
    readers: dict[str, list[str]] = {}
    for nid, info in a.nodes.items():
        for s in info.sources:
            readers.setdefault(s, []).append(nid)
    masked = {nid for nid, m in a.masks.items() if m.carried}
    for nid, info in a.nodes.items():
        step = a.masks.get(nid)
        if nid in masked or not any(s in masked for s in info.sources) or (step and step.reads):
            continue  # the mask goes on, or never came, or this layer read it
        reader = _unmasked_sequence_layer(a, nid, readers, masked)
        if reader is not None:
            name = a.nodes[reader].spec.name
            yield Lint(
                "mask-not-passed",
                nid,
                "warning",
                f"the padding mask of mask_zero=true ends at {info.spec.name} ({nid}), so "
                f"{name} ({reader}) reads padded steps as ordinary steps",
                "keep only layers that pass the mask on (Dense, Dropout, activations, normalisation, "
                "PositionalEncoding, merges of masked tensors) before it; stack Bidirectional "
                "layers instead of num_layers",
            )


def _unmasked_sequence_layer(a: Analysis, start: str, readers: dict, masked: set) -> str | None:
    """The first recurrent or attention layer (or container of one) at or after ``start`` that
    no padding mask reaches."""
    seen, todo = set(), [start]
    while todo:
        cur = todo.pop(0)
        if cur in seen:
            continue
        seen.add(cur)
        info = a.nodes[cur]
        families = {info.spec.family} | {i.spec.family for i in (info.body.infos if info.body else ())}
        if families & set(SEQUENCE_FAMILIES) and (cur == start or not any(s in masked for s in info.sources)):
            return cur
        todo += readers.get(cur, [])
    return None
