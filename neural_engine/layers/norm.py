"""Normalisation: BatchNormalization, LayerNormalization, GroupNormalization,
InstanceNormalization.

Conventions (Keras', since the DSL is Keras-style): ``momentum`` is the running statistics' decay
(0.99 keeps 99% of the old value; torch's ``momentum`` is ``1 - momentum``), ``epsilon`` defaults
to 1e-3 (torch's default is 1e-5), and ``center``/``scale`` choose the learned shift and scale
(torch's ``affine`` when both agree; an ``nf.ChannelAffine`` after an affine-free norm otherwise).
"""

from __future__ import annotations

from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall, fmt_shape

EPSILON = Param(
    "epsilon",
    "float",
    1e-3,
    low=0,
    low_open=True,
    aliases=("eps",),
    doc="added to the variance (Keras' default 1e-3; torch's is 1e-5)",
)
CENTER = Param("center", "bool", True, doc="learn a shift (beta)")
SCALE = Param("scale", "bool", True, doc="learn a scale (gamma)")
CHANNEL_AXIS = Param("axis", "int", None, doc="the channel axis (default); other axes are not supported")


def _channel_axis(site: Site) -> int:
    """The channel count, after checking a given ``axis`` names the channel axis."""
    axis = site.params.get("axis")
    if axis is not None and site.axis(axis) != 0:
        site.fail(
            f"normalises the channel axis only; received axis={axis} for input {fmt_shape(site.user_x)}",
            hint="leave axis out, or Permute the axes first",
        )
    return site.channels()


def _affine_count(site: Site, n: int) -> int:
    return n * (site.params["center"] + site.params["scale"])


def _with_affine(site: Site, cls: str, kwargs: dict, n: int, dim: int = 1, key: str = "affine"):
    """``cls(**kwargs)`` with its own affine when center == scale, else an affine-free norm
    followed by the one learned vector torch's module cannot leave out."""
    center, scale = site.params["center"], site.params["scale"]
    if center == scale:
        return TorchCall(cls, {**kwargs, key: scale})
    return TorchCall(
        "nf.ChannelAffine",
        {
            "norm": TorchCall(cls, {**kwargs, key: False}),
            "channels": n,
            "scale": scale,
            "center": center,
            "dim": dim,
        },
    )


def _bn_torch(site: Site) -> TorchCall:
    c = _bn_channels(site)
    rank = max(len(site.x) - 1, 1)  # (C,) and (C, L) -> 1d, (C, H, W) -> 2d, …
    p = site.params
    return _with_affine(
        site,
        f"nn.BatchNorm{rank}d",
        {"num_features": c, "eps": p["epsilon"], "momentum": round(1 - p["momentum"], 12)},
        c,
    )


def _bn_channels(site: Site) -> int:
    site.need_rank(1, 2, 3, 4)
    return _channel_axis(site)


def _instance_channels(site: Site) -> int:
    site.need_rank(2, 3, 4)
    return site.channels()


def _instance_torch(site: Site) -> TorchCall:
    c = _instance_channels(site)
    return _with_affine(
        site,
        f"nn.InstanceNorm{len(site.x) - 1}d",
        {"num_features": c, "eps": site.params["epsilon"], "track_running_stats": False},
        c,
    )


def _groups(site: Site) -> int:
    site.need_rank(1, 2, 3, 4)
    c, g = _channel_axis(site), site.params["groups"]
    if g == 0:
        site.fail("groups must be a positive integer, or -1 for one group per channel; received 0")
    g = c if g == -1 else g
    if c % g:
        divisors = ", ".join(str(d) for d in range(1, c + 1) if c % d == 0)
        site.fail(
            f"groups must divide the channels ({c}); received groups={g}", hint=f"use one of {divisors}"
        )
    return g


def _group_torch(site: Site) -> TorchCall:
    c = site.channels()
    return _with_affine(
        site,
        "nn.GroupNorm",
        {"num_groups": _groups(site), "num_channels": c, "eps": site.params["epsilon"]},
        c,
    )


def _layer_features(site: Site) -> int:
    if not site.x:
        site.fail("expected an input with a feature axis; received a scalar", shape=True)
    axis = site.params["axis"]
    if site.axis(axis) != len(site.x) - 1:
        site.fail(
            f"normalises the last axis only; received axis={axis} for input {fmt_shape(site.x)}",
            hint="leave axis out, or Permute the axes first",
        )
    if site.x[-1] is None:
        site.fail(f"needs a known last dimension; received {fmt_shape(site.x)}", shape=True)
    return site.x[-1]


def _layer_torch(site: Site) -> TorchCall:
    f = _layer_features(site)
    return _with_affine(
        site,
        "nn.LayerNorm",
        {"normalized_shape": f, "eps": site.params["epsilon"]},
        f,
        dim=-1,
        key="elementwise_affine",
    )


def _infer_after(check):
    def infer(site: Site):
        check(site)
        return site.x

    return infer


SPECS = (
    LayerSpec(
        "BatchNormalization",
        "normalization",
        (
            CHANNEL_AXIS,
            Param(
                "momentum",
                "float",
                0.99,
                low=0,
                high=1,
                doc="Keras' sense: running = momentum * running + (1 - momentum) * batch",
            ),
            EPSILON,
            CENTER,
            SCALE,
        ),
        infer=_infer_after(_bn_channels),
        torch=_bn_torch,
        order="channels",
        param_count=lambda s: _affine_count(s, _channel_axis(s)),
        non_trainable=lambda s: 2 * _channel_axis(s),  # running mean and variance
        # per step in inference; training statistics count padded steps (Keras' leave them out)
        mask="keep",
        aliases=("BatchNorm", "BatchNorm1D", "BatchNorm2D", "BatchNorm3D"),
        rank_hint="BatchNormalization takes (features,), (steps, channels), (height, width, channels)"
        " or (depth, height, width, channels)",
        doc="Normalises each channel over the batch (and positions); running statistics in "
        "inference. momentum is Keras' (0.99), torch gets 1 - momentum; epsilon 1e-3.",
    ),
    LayerSpec(
        "LayerNormalization",
        "normalization",
        (
            Param("axis", "int", -1, doc="the last axis in your notation (the only one supported)"),
            EPSILON,
            CENTER,
            SCALE,
        ),
        infer=_infer_after(_layer_features),
        torch=_layer_torch,
        order="features",
        param_count=lambda s: _affine_count(s, _layer_features(s)),
        aliases=("LayerNorm",),
        mask="keep",  # per step: the padding mask passes on
        doc="Normalises each sample over its last axis (features); epsilon 1e-3 as in Keras.",
    ),
    LayerSpec(
        "GroupNormalization",
        "normalization",
        (
            Param(
                "groups",
                "int",
                32,
                low=-1,
                doc="channel groups; must divide the channels; -1: one per channel",
            ),
            CHANNEL_AXIS,
            EPSILON,
            CENTER,
            SCALE,
        ),
        infer=_infer_after(_groups),
        torch=_group_torch,
        order="channels",
        param_count=lambda s: _affine_count(s, s.channels()),
        aliases=("GroupNorm",),
        mask="keep",  # as Keras: statistics over positions count padded steps; the mask passes on
        doc="Normalises each sample over groups of channels (and positions); epsilon 1e-3.",
    ),
    LayerSpec(
        "InstanceNormalization",
        "normalization",
        (EPSILON, CENTER, SCALE),
        infer=_infer_after(_instance_channels),
        torch=_instance_torch,
        order="channels",
        param_count=lambda s: _affine_count(s, s.channels()),
        aliases=("InstanceNorm", "InstanceNorm1D", "InstanceNorm2D", "InstanceNorm3D"),
        mask="keep",  # like GroupNormalization
        rank_hint="InstanceNormalization takes (steps, channels), (height, width, channels) or "
        "(depth, height, width, channels)",
        doc="Normalises each sample and channel over its positions. Learned center/scale by "
        "default (Keras addons; torch's default is none); no running statistics.",
    ),
)
