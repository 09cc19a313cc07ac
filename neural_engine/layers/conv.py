"""Convolutions, one rank-parameterised family: Conv{1,2,3}D, Conv{1,2,3}DTranspose,
DepthwiseConv2D, SeparableConv2D. Inputs are channels-first internally: (C, *spatial).

Positional arguments follow Neural DSL: ``Conv2D(32, (3, 3), "relu")`` is filters, kernel_size,
activation. A third argument that is not a string keeps Keras' meaning (``Conv2D(32, 3, 2)``: strides
2, then padding, …), so files written for either read as their authors meant.
"""

from __future__ import annotations

import math

from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall, expand, fmt_shape, rank_hint
from neural_engine.shape_math import (
    conv_out,
    conv_transpose_out,
    effective_kernel,
    same_pad,
    transpose_same_padding,
)

PADDING_HINT = 'use padding="same", a smaller kernel, or remove a pooling layer before it'
NEURAL_ORDER = ("filters", "kernel_size", "activation")


def conv_params(*, filters=True, depth_multiplier=False, transpose=False) -> tuple[Param, ...]:
    """Keras' positional order: (filters,) kernel_size, strides, padding, … (Neural DSL's is
    :data:`NEURAL_ORDER`)."""
    ps = (
        (Param("filters", "int", low=1, aliases=("out_channels",), doc="number of output channels"),)
        if filters
        else ()
    )
    ps += (
        Param("kernel_size", "size", low=1, aliases=("kernel",), doc="e.g. 3 or (3, 3)"),
        Param("strides", "size", 1, low=1, aliases=("stride",)),
        Param("padding", "padding", "valid", low=0, doc='"valid", "same", or an int per side'),
    )
    if transpose:
        ps += (Param("output_padding", "size", 0, low=0),)
    if depth_multiplier:
        ps += (Param("depth_multiplier", "int", 1, low=1),)
    ps += (Param("dilation_rate", "size", 1, low=1, aliases=("dilation",)),)
    if filters and not depth_multiplier and not transpose:
        ps += (Param("groups", "int", 1, low=1),)
    return ps + (
        Param("activation", "activation", None, doc='applied after the layer, e.g. "relu"'),
        Param("use_bias", "bool", True, aliases=("bias",)),
    )


class Conv:
    """Geometry of one conv layer at a site: channels, kernel, strides, padding, output."""

    def __init__(self, site: Site, rank: int, transpose: bool = False):
        site.need_rank(rank + 1)
        p = site.params
        self.site, self.rank, self.transpose = site, rank, transpose
        self.in_ch = site.channels()
        self.spatial = site.x[1:]
        self.kernel = expand(p["kernel_size"], rank, site, "kernel_size")
        self.strides = expand(p["strides"], rank, site, "strides")
        self.dilation = expand(p["dilation_rate"], rank, site, "dilation_rate")
        self.padding = (
            p["padding"] if isinstance(p["padding"], str) else expand(p["padding"], rank, site, "padding")
        )
        self.groups = p.get("groups", 1)
        dm = p.get("depth_multiplier")
        self.out_ch = self.in_ch * dm if dm else p["filters"]
        if self.in_ch % self.groups or self.out_ch % self.groups:
            site.fail(
                f"groups must divide the input channels ({self.in_ch}) and filters "
                f"({self.out_ch}); received groups={self.groups}"
            )

    def out_spatial(self) -> tuple:
        out = []
        for i, size in enumerate(self.spatial):
            pad = self.padding if isinstance(self.padding, str) else self.padding[i]
            if self.transpose:
                op = expand(self.site.params["output_padding"], self.rank, self.site, "output_padding")[i]
                out.append(
                    conv_transpose_out(size, self.kernel[i], self.strides[i], pad, op, self.dilation[i])
                )
                continue
            o = conv_out(size, self.kernel[i], self.strides[i], pad, self.dilation[i])
            if o is not None and o < 1:
                k = effective_kernel(self.kernel[i], self.dilation[i])
                self.site.fail(
                    f"kernel_size {self.kernel} does not fit the input {fmt_shape(self.site.user_x)}:"
                    f" spatial size {size} < effective kernel {k} on axis {i + 1}",
                    PADDING_HINT,
                    shape=True,
                )
            out.append(o)
        return tuple(out)

    def torch_padding(self):
        """torch kwargs for the padding, and the F.pad tuple for asymmetric "same" (or None)."""
        if self.padding == "valid":
            return {"padding": 0}, None
        if isinstance(self.padding, tuple):
            return {"padding": self.padding}, None
        if self.transpose:
            pads = [
                transpose_same_padding(k, s, d) for k, s, d in zip(self.kernel, self.strides, self.dilation)
            ]
            return {"padding": tuple(p for p, _ in pads), "output_padding": tuple(o for _, o in pads)}, None
        pairs = [
            same_pad(n, k, s, d) for n, k, s, d in zip(self.spatial, self.kernel, self.strides, self.dilation)
        ]
        if all(a == b for a, b in pairs):
            return {"padding": tuple(a for a, _ in pairs)}, None
        return {"padding": 0}, tuple(x for pair in reversed(pairs) for x in pair)


def _geometry(site: Site, rank: int, transpose: bool) -> Conv:
    """The site's Conv, made once: infer, param_count and flops all need it."""
    if site.memo is None:
        site.memo = Conv(site, rank, transpose)
    return site.memo


def _conv_infer(rank, transpose=False):
    def infer(site: Site):
        c = _geometry(site, rank, transpose)
        return (c.out_ch, *c.out_spatial())

    return infer


def _conv_param_count(rank, transpose=False):
    def count(site: Site) -> int:
        c = _geometry(site, rank, transpose)
        bias = c.out_ch if site.params["use_bias"] else 0
        return c.out_ch * (c.in_ch // c.groups) * math.prod(c.kernel) + bias

    return count


def _conv_flops(rank, transpose=False):
    """As torch's flop counter: 2 * (output positions, or input positions when transposed)
    * kernel volume * C_out * C_in / groups."""

    def flops(site: Site) -> int:
        c = _geometry(site, rank, transpose)
        positions = math.prod(d or 1 for d in (c.spatial if transpose else site.output[1:]))
        return 2 * positions * math.prod(c.kernel) * c.out_ch * (c.in_ch // c.groups)

    return flops


def _conv_torch(rank, transpose=False):
    def torch(site: Site) -> TorchCall:
        c = _geometry(site, rank, transpose)
        pad_kwargs, pad = c.torch_padding()
        call = TorchCall(
            f"nn.Conv{'Transpose' if transpose else ''}{rank}d",
            {
                "in_channels": c.in_ch,
                "out_channels": c.out_ch,
                "kernel_size": c.kernel,
                "stride": c.strides,
                **pad_kwargs,
                "dilation": c.dilation,
                "groups": c.groups,
                "bias": site.params["use_bias"],
            },
        )
        if transpose and site.params["padding"] != "same":
            op = expand(site.params["output_padding"], rank, site, "output_padding")
            call.kwargs["output_padding"] = op
        return TorchCall("nf.Padded", {"pad": pad, "layer": call}) if pad else call

    return torch


def _conv_spec(rank: int, transpose=False) -> LayerSpec:
    name = f"Conv{rank}D{'Transpose' if transpose else ''}"
    return LayerSpec(
        name,
        "convolution",
        conv_params(transpose=transpose),
        infer=_conv_infer(rank, transpose),
        torch=_conv_torch(rank, transpose),
        param_count=_conv_param_count(rank, transpose),
        flops=_conv_flops(rank, transpose),
        order="channels",
        activation_param=True,
        neural_order=NEURAL_ORDER,
        aliases=(f"Convolution{rank}D",) if not transpose else (f"Deconvolution{rank}D",),
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        transposed=transpose,
        memory_format="channels_last" if rank == 2 else None,
        doc=f"{rank}D {'transposed ' if transpose else ''}convolution.",
    )


def _with_groups(site: Site) -> Site:
    from dataclasses import replace

    return replace(site, params={**site.params, "groups": site.x[0]})


def _separable(site: Site) -> tuple[int, int, int]:
    """(depthwise channels, pointwise out, kernel volume)."""
    c = Conv(_with_groups(_depthwise_site(site)), 2)
    return c.out_ch, site.params["filters"], math.prod(c.kernel)


def _depthwise_site(site: Site) -> Site:
    from dataclasses import replace

    return replace(
        site, params={k: v for k, v in site.params.items() if k != "filters"} | {"use_bias": False}
    )


def _separable_torch(site: Site) -> TorchCall:
    depthwise = _conv_torch(2)(_with_groups(_depthwise_site(site)))
    mid, out, _ = _separable(site)
    return TorchCall(
        "nf.SeparableConv",
        {
            "depthwise": depthwise,
            "pointwise": TorchCall(
                "nn.Conv2d",
                {"in_channels": mid, "out_channels": out, "kernel_size": 1, "bias": site.params["use_bias"]},
            ),
        },
    )


def _separable_flops(site: Site) -> int:
    mid, out, kvol = _separable(site)
    positions = math.prod(d or 1 for d in site.output[1:])
    return 2 * positions * kvol * mid + 2 * positions * mid * out


def _separable_params(site: Site) -> int:
    mid, out, kvol = _separable(site)
    return mid * kvol + mid * out + (out if site.params["use_bias"] else 0)


def _depthwise_only(fn):
    return lambda site: fn(2)(_with_groups(site))


SPECS = (
    *(_conv_spec(r) for r in (1, 2, 3)),
    *(_conv_spec(r, transpose=True) for r in (1, 2, 3)),
    LayerSpec(
        "DepthwiseConv2D",
        "convolution",
        conv_params(filters=False, depth_multiplier=True),
        infer=_depthwise_only(_conv_infer),
        torch=_depthwise_only(_conv_torch),
        param_count=_depthwise_only(_conv_param_count),
        flops=_depthwise_only(_conv_flops),
        order="channels",
        activation_param=True,
        neural_order=NEURAL_ORDER[1:],
        spatial_rank=2,
        memory_format="channels_last",
        doc="One filter (times depth_multiplier) per input channel.",
    ),
    LayerSpec(
        "SeparableConv2D",
        "convolution",
        conv_params(depth_multiplier=True),
        infer=lambda s: (s.params["filters"], *_conv_infer(2)(_with_groups(_depthwise_site(s)))[1:]),
        torch=_separable_torch,
        param_count=_separable_params,
        flops=_separable_flops,
        order="channels",
        activation_param=True,
        neural_order=NEURAL_ORDER,
        aliases=("SeparableConvolution2D",),
        spatial_rank=2,
        memory_format="channels_last",
        doc="Depthwise convolution followed by a 1x1 pointwise convolution.",
    ),
)
