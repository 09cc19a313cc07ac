"""What a Keras layer in the generated file is, shared by the table that maps registry layers to
Keras layers (:mod:`neural_engine.codegen.keras`) and the writer that prints them
(:mod:`neural_engine.codegen.keras_writer`): imports flow table → writer → here, never back.

>>> K("layers.Dense", {"units": 10})
K(cls='layers.Dense', kwargs={'units': 10}, call='one')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neural_engine.codegen.keras_helpers import NEEDS
from neural_engine.shapes import NodeInfo


@dataclass(frozen=True)
class K:
    """One Keras layer: ``cls(**kwargs)``, called on the node's inputs as ``call`` says:
    "one" (a tensor), "list" (merges), "args" (positional), "self" (attention on one input)."""

    cls: str
    kwargs: dict = field(default_factory=dict)
    call: str = "one"


@dataclass(frozen=True)
class Body:
    """A container: its body is written inline; ``residual`` adds the input back."""

    residual: bool


@dataclass
class Ctx:
    """What a table entry sees: the analysed node and the graph's data_format."""

    info: NodeInfo
    data_format: str
    helpers: set = field(default_factory=set)

    @property
    def p(self) -> dict:
        return self.info.site.params

    @property
    def rank(self) -> int:  # the layer's spatial rank (LayerSpec.spatial_rank): Conv2D -> 2
        return self.info.spec.spatial_rank

    @property
    def user_in(self) -> tuple:
        return self.info.site.user_x

    def channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" and len(self.user_in) >= 2 else -1

    def helper(self, name: str) -> str:
        self.helpers.update((name, *NEEDS.get(name, ())))
        return name


class Code(str):
    """A name in the generated file (a helper function), written as is rather than as a string."""
