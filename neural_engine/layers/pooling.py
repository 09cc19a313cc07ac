"""Pooling, one rank-parameterised family per kind: {Max,Average}Pooling{1,2,3}D,
Global{Max,Average}Pooling{1,2,3}D and Adaptive{Max,Average}Pooling{1,2,3}D.
Inputs are channels-first internally: (C, *spatial).

Keras "same" padding gives ceil(size / strides); a symmetric padding goes to torch's ``padding``
kwarg, an asymmetric one (the odd pixel after) to an explicit pad in front of the pool — -inf for
max pooling, and for average pooling a pad that the average leaves out, as Keras does.
"""

from __future__ import annotations

from neural_engine.layers.base import (
    LayerSpec,
    MaskRule,
    Param,
    Site,
    TorchCall,
    expand,
    fmt_shape,
    rank_hint,
)
from neural_engine.shape_math import pool_out, same_pad

KINDS = {"max": ("Max", "Max"), "avg": ("Average", "Avg")}  # kind -> (Keras word, torch word)
POOLING = {"max": "max", "avg": "average"}  # kind -> LayerSpec.pooling
POOL_HINT = 'use padding="same", a smaller pool_size, or remove an earlier downsampling layer'


def pool_params() -> tuple[Param, ...]:
    """Keras' positional order: pool_size, strides, padding."""
    return (
        Param("pool_size", "size", 2, low=1, aliases=("kernel_size", "pool"), doc="e.g. 2 or (2, 2)"),
        Param("strides", "size", None, low=1, aliases=("stride",), doc="default: pool_size"),
        Param(
            "padding",
            "padding",
            "valid",
            low=0,
            doc='"valid", "same" (output ceil(size / strides)), or an int per side',
        ),
    )


class Pool:
    """Geometry of one pooling layer at a site: window, strides, padding, output."""

    def __init__(self, site: Site, rank: int):
        site.need_rank(rank + 1)
        p = site.params
        self.site, self.rank = site, rank
        self.spatial = site.x[1:]
        self.kernel = expand(p["pool_size"], rank, site, "pool_size")
        self.strides = self.kernel if p["strides"] is None else expand(p["strides"], rank, site, "strides")
        self.padding = (
            p["padding"] if isinstance(p["padding"], str) else expand(p["padding"], rank, site, "padding")
        )
        if isinstance(self.padding, tuple):
            self._check_padding()

    def _check_padding(self):
        for i, (pad, k) in enumerate(zip(self.padding, self.kernel)):
            if 2 * pad > k:
                self.site.fail(
                    f"padding must be at most half the pool_size on each axis (a torch "
                    f"limit); received padding {pad} with pool_size {k} on axis {i + 1}",
                    'use padding="same", or a ZeroPadding layer before the pool',
                )

    def out_spatial(self) -> tuple:
        out = []
        for i, size in enumerate(self.spatial):
            pad = self.padding if isinstance(self.padding, str) else self.padding[i]
            o = pool_out(size, self.kernel[i], self.strides[i], pad)
            if o is not None and o < 1:
                self.site.fail(
                    f"pool_size {self.kernel} does not fit the input "
                    f"{fmt_shape(self.site.user_x)}: spatial size {size} < "
                    f"{self.kernel[i]} on axis {i + 1}",
                    POOL_HINT,
                    shape=True,
                )
            out.append(o)
        return tuple(out)

    def torch_padding(self):
        """torch's ``padding`` kwarg, and the F.pad tuple for an asymmetric "same" (or None)."""
        if self.padding == "valid":
            return 0, None
        if isinstance(self.padding, tuple):
            return self.padding, None
        pairs = [same_pad(n, k, s) for n, k, s in zip(self.spatial, self.kernel, self.strides)]
        if all(a == b for a, b in pairs):
            return tuple(a for a, _ in pairs), None
        return 0, tuple(x for pair in reversed(pairs) for x in pair)

    def torch_call(self, kind: str) -> TorchCall:
        padding, pad = self.torch_padding()
        kwargs = {"kernel_size": self.kernel, "stride": self.strides, "padding": padding}
        if kind == "avg" and isinstance(padding, tuple) and any(padding):
            kwargs["count_include_pad"] = False  # Keras averages over the real values only
        call = TorchCall(f"nn.{KINDS[kind][1]}Pool{self.rank}d", kwargs)
        if pad is None:
            return call
        if kind == "max":
            return TorchCall("nf.Padded", {"pad": pad, "layer": call, "value": float("-inf")})
        return TorchCall("nf.PaddedAvgPool", {"pad": pad, "layer": call})


def _pool_spec(kind: str, rank: int) -> LayerSpec:
    word, short = KINDS[kind]
    name = f"{word}Pooling{rank}D"
    diff = (
        ""
        if kind == "max"
        else (' Padding never counts in the average (Keras\' "same"; torch count_include_pad=False).')
    )
    return LayerSpec(
        name,
        "pooling",
        pool_params(),
        order="channels",
        infer=lambda s: (s.channels(), *Pool(s, rank).out_spatial()),
        torch=lambda s: Pool(s, rank).torch_call(kind),
        aliases=(f"{short}Pool{rank}D",) + ((f"AveragePool{rank}D",) if kind == "avg" else ()),
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        pooling=POOLING[kind],
        doc=f"{rank}D {word.lower()} pooling over pool_size windows; strides default to pool_size.{diff}",
    )


def _global_infer(rank: int):
    def infer(site: Site):
        site.need_rank(rank + 1)
        c = site.channels()
        return (c, *(1,) * rank) if site.params["keepdims"] else (c,)

    return infer


def _global_torch(kind: str, rank: int):
    def torch(site: Site) -> TorchCall:
        pool = TorchCall(f"nn.Adaptive{KINDS[kind][1]}Pool{rank}d", {"output_size": 1})
        return pool if site.params["keepdims"] else TorchCall("nf.GlobalPool", {"pool": pool})

    return torch


def _masked_mean(site: Site) -> MaskRule:
    """The padding mask is over the steps: read it where the steps are the pooled axis (a
    channels_last network's (steps, features)) and the module is ``nf.GlobalPool``."""
    return "use" if site.cf and not site.params["keepdims"] else "drop"


def _global_spec(kind: str, rank: int) -> LayerSpec:
    word, short = KINDS[kind]
    name = f"Global{word}Pooling{rank}D"
    return LayerSpec(
        name,
        "pooling",
        (Param("keepdims", "bool", False, doc="keep the spatial axes with size 1"),),
        infer=_global_infer(rank),
        torch=_global_torch(kind, rank),
        order="channels",
        aliases=(f"Global{short}Pool{rank}D",) + ((f"GlobalAveragePool{rank}D",) if kind == "avg" else ()),
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        pooling=POOLING[kind],
        # Keras' GlobalAveragePooling1D averages the real steps; its max pooling ignores the mask
        mask=_masked_mean if kind == "avg" and rank == 1 else "drop",
        doc=f"{word} over all {rank}D positions: (…, channels) -> (channels,).",
    )


def _adaptive_infer(rank: int):
    def infer(site: Site):
        site.need_rank(rank + 1)
        return (site.channels(), *expand(site.params["output_size"], rank, site, "output_size"))

    return infer


def _adaptive_spec(kind: str, rank: int) -> LayerSpec:
    word, short = KINDS[kind]
    name = f"Adaptive{word}Pooling{rank}D"
    return LayerSpec(
        name,
        "pooling",
        (Param("output_size", "size", low=1, doc="spatial size of the output, e.g. 7 or (7, 7)"),),
        infer=_adaptive_infer(rank),
        order="channels",
        torch=lambda s: TorchCall(
            f"nn.Adaptive{short}Pool{rank}d",
            {"output_size": expand(s.params["output_size"], rank, s, "output_size")},
        ),
        aliases=(f"Adaptive{short}Pool{rank}D",),
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        pooling=POOLING[kind],
        doc=f"{word} pooling to a fixed {rank}D output_size, whatever the input size.",
    )


SPECS = (
    *(_pool_spec(kind, r) for kind in KINDS for r in (1, 2, 3)),
    *(_global_spec(kind, r) for kind in KINDS for r in (1, 2, 3)),
    *(_adaptive_spec(kind, r) for kind in KINDS for r in (1, 2, 3)),
)
