"""Regularisation that acts only in training: SpatialDropout{1,2,3}D (whole channels),
GaussianNoise, GaussianDropout and AlphaDropout. Shapes pass through unchanged."""

from __future__ import annotations

from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall, rank_hint


def _rate(doc: str) -> Param:
    return Param("rate", "float", 0.5, low=0, high=1, high_open=True, aliases=("p",), doc=doc)


def _spatial_infer(rank: int):
    def infer(site: Site):
        site.need_rank(rank + 1)
        return site.x

    return infer


def _spatial_dropout(rank: int) -> LayerSpec:
    name = f"SpatialDropout{rank}D"
    return LayerSpec(
        name,
        "regularization",
        (_rate("fraction of channels dropped in training"),),
        infer=_spatial_infer(rank),
        order="channels",
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        mask="keep",  # like Dropout: the padding mask passes on (Keras supports_masking)
        torch=lambda s: TorchCall(f"nn.Dropout{rank}d", {"p": s.params["rate"]}),
        doc=f"Drops whole channels of a {rank}D input at random in training.",
    )


SPECS = (
    *(_spatial_dropout(r) for r in (1, 2, 3)),
    LayerSpec(
        "GaussianNoise",
        "regularization",
        (Param("stddev", "float", low=0, aliases=("std",), doc="standard deviation of the noise"),),
        infer=lambda s: s.x,
        torch=lambda s: TorchCall("nf.GaussianNoise", {"stddev": s.params["stddev"]}),
        mask="keep",
        doc="Adds zero-mean Gaussian noise in training.",
    ),
    LayerSpec(
        "GaussianDropout",
        "regularization",
        (_rate("drop probability the noise mimics"),),
        infer=lambda s: s.x,
        torch=lambda s: TorchCall("nf.GaussianDropout", {"rate": s.params["rate"]}),
        mask="keep",
        doc="Multiplies by Gaussian noise of mean 1 and variance rate / (1 - rate) in training.",
    ),
    LayerSpec(
        "AlphaDropout",
        "regularization",
        (_rate("fraction of units dropped in training"),),
        infer=lambda s: s.x,
        torch=lambda s: TorchCall("nn.AlphaDropout", {"p": s.params["rate"]}),
        mask="keep",
        doc="Dropout that keeps SELU's self-normalising mean and variance.",
    ),
)
