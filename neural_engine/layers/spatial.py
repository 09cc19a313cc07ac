"""Resizing spatial tensors, one rank-parameterised family per kind: UpSampling{1,2,3}D,
ZeroPadding{1,2,3}D and Cropping{1,2,3}D. Inputs are channels-first internally: (C, *spatial)."""

from __future__ import annotations

from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall, expand, fmt_shape, rank_hint

PAIRS_DOC = "an int (every side), one int per axis (both sides), or a (before, after) pair per axis"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def pairs(value, rank: int, site: Site, name: str) -> tuple[tuple[int, int], ...]:
    """Keras' padding/cropping forms as one (before, after) pair per spatial axis.

    >>> pairs(((1, 2), (3, 4)), 2, None, "padding")
    ((1, 2), (3, 4))
    """
    if _is_int(value):
        return ((value, value),) * rank
    items = tuple(value) if isinstance(value, tuple | list) else ()
    if rank == 1 and len(items) == 2 and all(map(_is_int, items)):
        return (items,)  # Keras' 1D form: (before, after)
    if len(items) == rank and all(map(_is_int, items)):
        return tuple((v, v) for v in items)
    if len(items) == rank and all(
        isinstance(v, tuple | list) and len(v) == 2 and all(map(_is_int, v)) for v in items
    ):
        return tuple(tuple(v) for v in items)
    site.fail(f"{name} must be {PAIRS_DOC} ({rank} axes), all >= 0; received {value!r}")


def _spatial(site: Site, rank: int) -> tuple:
    site.need_rank(rank + 1)
    return site.x[1:]


def _upsampling_infer(rank: int):
    def infer(site: Site):
        size = expand(site.params["size"], rank, site, "size")
        return (site.x[0], *(None if n is None else n * s for n, s in zip(_spatial(site, rank), size)))

    return infer


def _upsampling_torch(rank: int):
    def torch(site: Site) -> TorchCall:
        mode = site.params.get("interpolation", "nearest")
        kwargs = {"scale_factor": expand(site.params["size"], rank, site, "size"), "mode": mode}
        if mode != "nearest":
            kwargs["align_corners"] = False  # Keras/TF2 resize: half-pixel centres
        return TorchCall("nn.Upsample", kwargs)

    return torch


def _upsampling_spec(rank: int) -> LayerSpec:
    name = f"UpSampling{rank}D"
    params = (Param("size", "size", 2, low=1, aliases=("scale_factor",), doc="repeat factor per axis"),)
    if rank == 2:
        params += (
            Param(
                "interpolation",
                "str",
                "nearest",
                choices=("nearest", "bilinear", "bicubic"),
                aliases=("mode",),
            ),
        )
    return LayerSpec(
        name,
        "spatial",
        params,
        infer=_upsampling_infer(rank),
        torch=_upsampling_torch(rank),
        order="channels",
        aliases=(f"Upsample{rank}D",),
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        doc=f"Repeats each {rank}D position size times"
        + (" (or interpolates: bilinear, bicubic)." if rank == 2 else "."),
    )


def _pad_infer(rank: int):
    def infer(site: Site):
        pads = pairs(site.params["padding"], rank, site, "padding")
        grown = (None if n is None else n + a + b for n, (a, b) in zip(_spatial(site, rank), pads))
        return (site.x[0], *grown)

    return infer


def _fpad(pads) -> tuple[int, ...]:
    """F.pad order: last axis first, (before, after) each."""
    return tuple(x for pair in reversed(pads) for x in pair)


def _padding_spec(rank: int) -> LayerSpec:
    name = f"ZeroPadding{rank}D"
    return LayerSpec(
        name,
        "spatial",
        (Param("padding", "any", 1, doc=PAIRS_DOC),),
        infer=_pad_infer(rank),
        torch=lambda s: TorchCall(
            f"nn.ZeroPad{rank}d", {"padding": _fpad(pairs(s.params["padding"], rank, s, "padding"))}
        ),
        order="channels",
        aliases=(f"ZeroPad{rank}D",),
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        doc=f"Adds rows of zeros around a {rank}D input.",
    )


def _crop_infer(rank: int):
    def infer(site: Site):
        crops = pairs(site.params["cropping"], rank, site, "cropping")
        out = []
        for i, (n, (a, b)) in enumerate(zip(_spatial(site, rank), crops)):
            if n is not None and n - a - b < 1:
                site.fail(
                    f"cropping must leave at least 1 position on each axis; received cropping "
                    f"{(a, b)} of size {n} on axis {i + 1} (input {fmt_shape(site.user_x)})",
                    "crop less, or crop before a downsampling layer",
                    shape=True,
                )
            out.append(None if n is None else n - a - b)
        return (site.channels(), *out)

    return infer


def _cropping_spec(rank: int) -> LayerSpec:
    name = f"Cropping{rank}D"
    default = {1: (1, 1), 2: ((0, 0), (0, 0)), 3: ((1, 1), (1, 1), (1, 1))}[rank]  # Keras'
    return LayerSpec(
        name,
        "spatial",
        (Param("cropping", "any", default, aliases=("crop",), doc=PAIRS_DOC),),
        infer=_crop_infer(rank),
        order="channels",
        rank_hint=rank_hint(name, rank),
        spatial_rank=rank,
        torch=lambda s: TorchCall("nf.Crop", {"cropping": pairs(s.params["cropping"], rank, s, "cropping")}),
        doc=f"Removes positions at the edges of a {rank}D input.",
    )


SPECS = (
    *(_upsampling_spec(r) for r in (1, 2, 3)),
    *(_padding_spec(r) for r in (1, 2, 3)),
    *(_cropping_spec(r) for r in (1, 2, 3)),
)
