"""Merge layers: element-wise (Add, Subtract, …), Concatenate and Dot. Two or more inputs."""

from __future__ import annotations

from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall, fmt_shape, numel

MERGE_HINT = "merged tensors must have one shape; add a projection (e.g. a 1x1 Conv2D or Dense) first"


def _same_shapes(site: Site):
    first = site.inputs[0]
    if None not in first and all(other == first for other in site.inputs[1:]):
        return first
    for other in site.inputs[1:]:
        if len(other) != len(first) or any(a != b and None not in (a, b) for a, b in zip(first, other)):
            shapes = ", ".join(fmt_shape(s) for s in site.user_inputs)
            site.fail(f"expected inputs of one shape; received {shapes}", MERGE_HINT, shape=True)
    return tuple(next((d for d in dims if d is not None), None) for dims in zip(*site.inputs))


def _elementwise(name: str, op: str, arity=(2, None), doc="") -> LayerSpec:
    return LayerSpec(
        name,
        "merge",
        (),
        infer=_same_shapes,
        arity=arity,
        doc=doc,
        mask="merge",  # Keras: the inputs' masks combined, none if one input has none
        torch=lambda s: TorchCall("nf.Merge", {"op": op}),
    )


def _concat_axis(site: Site) -> int:
    return site.axis(site.params["axis"])


def _concat_infer(site: Site):
    ranks = {len(s) for s in site.inputs}
    if len(ranks) != 1:
        site.fail(
            "expected inputs of one rank; received " + ", ".join(fmt_shape(s) for s in site.user_inputs),
            shape=True,
        )
    axis = _concat_axis(site)
    out = list(site.inputs[0])
    for other in site.inputs[1:]:
        for i, (a, b) in enumerate(zip(out, other)):
            if i != axis and a is not None and b is not None and a != b:
                site.fail(
                    "inputs must match on every axis but the concatenation axis; received "
                    + ", ".join(fmt_shape(s) for s in site.user_inputs),
                    shape=True,
                    hint="resize one branch (pooling, UpSampling, Cropping) before concatenating",
                )
        out[axis] = None if out[axis] is None or other[axis] is None else out[axis] + other[axis]
    return tuple(out)


def _dot_axes(site: Site) -> tuple[int, int]:
    axes = site.params["axes"]
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    axes = axes * 2 if len(axes) == 1 else axes
    if len(axes) != 2:
        site.fail(f"axes must be an int or a pair; received {site.params['axes']}")
    return tuple(site.axis(a, len(s)) + 1 for a, s in zip(axes, site.inputs))


def _dot_infer(site: Site):
    a, b = site.inputs
    if len(a) != len(b) or len(a) not in (1, 2):
        site.fail(
            f"expected two inputs of rank 1 or 2 (batch excluded); received {fmt_shape(a)}, {fmt_shape(b)}",
            shape=True,
        )
    ia, ib = _dot_axes(site)
    if a[ia - 1] is not None and b[ib - 1] is not None and a[ia - 1] != b[ib - 1]:
        site.fail(f"the dotted axes must have one size; received {a[ia - 1]} and {b[ib - 1]}", shape=True)
    if len(a) == 1:
        return (1,)
    return (a[2 - ia], b[2 - ib])


SPECS = (
    _elementwise("Add", "add", doc="Sum of the inputs."),
    _elementwise("Subtract", "subtract", arity=(2, 2), doc="First input minus the second."),
    _elementwise("Multiply", "multiply", doc="Element-wise product."),
    _elementwise("Average", "average", doc="Element-wise mean."),
    _elementwise("Maximum", "maximum", doc="Element-wise maximum."),
    _elementwise("Minimum", "minimum", doc="Element-wise minimum."),
    LayerSpec(
        "Concatenate",
        "merge",
        (Param("axis", "int", -1, doc="axis in your notation"),),
        infer=_concat_infer,
        arity=(2, None),
        mask=lambda s: "merge" if _concat_axis(s) == len(s.x) - 1 else "drop",  # features: as Keras
        doc="Joins inputs along an axis (default: channels).",
        torch=lambda s: TorchCall("nf.Concatenate", {"dim": _concat_axis(s) + 1}),
    ),
    LayerSpec(
        "Dot",
        "merge",
        (
            Param("axes", "ints", -1, doc="axis of each input to contract"),
            Param("normalize", "bool", False, doc="cosine similarity"),
        ),
        infer=_dot_infer,
        arity=(2, 2),
        order="features",
        flops=lambda s: 2 * numel(s.output) * s.inputs[0][_dot_axes(s)[0] - 1],
        torch=lambda s: TorchCall("nf.Dot", {"axes": _dot_axes(s), "normalize": s.params["normalize"]}),
        doc="Dot product of two inputs along the given axes.",
    ),
)
