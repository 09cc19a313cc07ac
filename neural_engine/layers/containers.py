"""Containers: a body of layers run as one node. ``ResidualConnection`` adds its input back."""

from __future__ import annotations

from neural_engine.layers.base import BODY, LayerSpec, MaskRule, Site, TorchCall, fmt_shape


def body_sum(attr: str):
    """Total of ``attr`` (params, non_trainable, flops) over a container's body."""
    return lambda site: sum(getattr(info, attr) for info in site.body.infos)


def body_mask(site: Site) -> MaskRule:
    """Keras runs the body's layers in turn: the padding mask passes on when each of them keeps it
    (no mask reaches a body, so a body layer that would read it ends it)."""
    return "keep" if all(i.spec.mask_rule(i.site) == "keep" for i in site.body.infos) else "drop"


def _chain_input(site: Site):
    return site.x, site.cf, site.cf


def _residual_infer(site: Site):
    out = site.body.output.shape
    if out != site.x:
        user = site.body.output.user
        site.fail(
            f"the body must keep the input's shape {fmt_shape(site.user_x)} to add it back; "
            f"received {fmt_shape(user)}",
            shape=True,
            hint='use padding="same" and keep the channel count, or add a projection with '
            "Add() <- [body, Conv2D(channels, 1) <- input]",
        )
    return out


def _container(name: str, infer, torch, doc: str, aliases=()) -> LayerSpec:
    return LayerSpec(
        name,
        "container",
        (),
        infer=infer,
        torch=torch,
        order="any",
        param_count=body_sum("params"),
        non_trainable=body_sum("non_trainable"),
        flops=body_sum("flops"),
        container="chain",
        body_input=_chain_input,
        mask=body_mask,
        aliases=aliases,
        doc=doc,
    )


SPECS = (
    _container(
        "ResidualConnection",
        _residual_infer,
        lambda s: TorchCall("nf.Residual", {"body": BODY}),
        aliases=("Residual",),
        doc="out = body(x) + x; the body must keep the shape.",
    ),
    _container(
        "Sequential",
        lambda s: s.body.output.shape,
        lambda s: BODY,
        aliases=("Block",),
        doc="Runs its body in order, as one node.",
    ),
)
