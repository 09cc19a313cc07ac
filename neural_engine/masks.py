"""Padding masks: which tensors carry one, and which modules read it (pure Python, no torch).

``Embedding(mask_zero=true)`` starts a mask over the steps of its (steps, features) output —
True where the id is 0, torch's ``key_padding_mask`` convention — and each layer's
:attr:`~neural_engine.layers.base.LayerSpec.mask` rule says what happens to it next, as Keras'
``supports_masking``/``compute_mask`` do: per-step layers pass it on, recurrent, attention and
average-pooling layers read it, everything else ends it. The builder and the PyTorch code
generator both follow the :class:`MaskStep` computed here, so they cannot disagree.

>>> from neural_engine.dsl import parse
>>> from neural_engine.shapes import propagate
>>> a = propagate(parse('network N { input: (6,) layers: Embedding(9, 4, mask_zero=true) '
...                     'Dropout(0.1) LSTM(3) Output(2) }'))
>>> a.masks["dropout_1"].combine, a.masks["lstm_1"].reads, a.masks["lstm_1"].carried
(('embedding_1',), (('padding_mask', 'dropout_1'),), False)
"""

from __future__ import annotations

from dataclasses import dataclass

from neural_engine.errors import ValidationError


@dataclass(frozen=True, slots=True)
class MaskStep:
    """One node's part: the masks its module reads and the mask its output carries."""

    reads: tuple[tuple[str, str], ...] = ()  # (keyword, source id): that source's mask goes in
    make: bool = False  # the output's mask is ``ids == 0`` of the node's (only) input
    combine: tuple[str, ...] = ()  # else: padded where every one of these sources' masks is

    @property
    def carried(self) -> bool:
        """The node's output carries a mask."""
        return self.make or bool(self.combine)


NONE = MaskStep()


def mask_steps(nodes: dict, graph) -> dict[str, MaskStep]:
    """The :class:`MaskStep` of every node (``nodes``: id -> NodeInfo in topological order).

    Raises a located ValidationError where a layer needs a mask (``"need"``) and none reaches it.
    """
    steps: dict[str, MaskStep] = {}
    for nid, info in nodes.items():
        step = _step(info, [s for s in info.sources if s in steps and steps[s].carried])
        if step is None:
            _no_mask(info, graph)
        steps[nid] = step
    return steps


def _step(info, masked: list[str]) -> MaskStep | None:
    rule = info.spec.mask_rule(info.site)
    sources = info.sources
    if rule == "make":
        return MaskStep(make=True)
    if not masked:
        return None if rule == "need" else NONE
    if rule == "keep":
        return MaskStep(combine=(sources[0],)) if sources[0] in masked else NONE
    if rule == "merge":
        return MaskStep(combine=tuple(sources)) if len(masked) == len(sources) else NONE
    if rule in ("use", "need"):
        slots = [
            (kw, sources[slot]) for kw, slot in info.spec.mask_args if -len(sources) <= slot < len(sources)
        ]
        reads = tuple((kw, s) for kw, s in slots if s in masked)
        if rule == "need" and sources[0] not in masked:
            return None
        x, out = info.site.user_x, info.output.user
        keeps = sources[0] in masked and len(out) == len(x) and out[:1] == x[:1]
        return MaskStep(reads=reads, combine=(sources[0],) if keeps else ())
    return NONE


def _no_mask(info, graph) -> None:
    node = graph._nodes_by_id[info.node.id]
    err = ValidationError(
        f"{info.spec.name}: expected a padding mask from an Embedding(mask_zero=true) before it; "
        "received an input without one",
        node=info.node.id,
        hint="set mask_zero=true on the Embedding (layers between them must keep the mask: no "
        "Flatten, Reshape or convolution), or leave use_attention_mask out",
    )
    if node.origin is not None:
        err.span = node.origin.span
    raise err
