"""The one layer registry. Every layer type is one :class:`LayerSpec`, registered once.

Parser checks, shape inference, FLOPs, the builder, codegen and the canvas palette all read it.

>>> get("linear").name
'Dense'
"""

from __future__ import annotations

from neural_engine.errors import ValidationError, did_you_mean
from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall

REGISTRY: dict[str, LayerSpec] = {}
_LOOKUP: dict[str, LayerSpec] = {}


def register(*specs: LayerSpec) -> None:
    """Add specs; a name or alias already taken (case-insensitively) is a programming error."""
    for spec in specs:
        for key in (spec.name, *spec.aliases):
            if key.lower() in _LOOKUP:
                raise ValueError(f"layer name {key!r} is registered twice")
            _LOOKUP[key.lower()] = spec
        REGISTRY[spec.name] = spec


def get(name: str, node: str | None = None) -> LayerSpec:
    """The spec for a layer name or alias, case-insensitively; unknown names suggest the closest."""
    spec = REGISTRY.get(name) or _LOOKUP.get(name.lower())
    if spec is None:
        names = [k for s in REGISTRY.values() for k in (s.name, *s.aliases)]
        raise ValidationError(
            f'unknown layer type "{name}"',
            node=node,
            hint=did_you_mean(name, names) or "run `neuralforge layers` for the list",
        )
    return spec


def families() -> dict[str, list[LayerSpec]]:
    out: dict[str, list[LayerSpec]] = {}
    for spec in REGISTRY.values():
        out.setdefault(spec.family, []).append(spec)
    return out


def _load() -> None:
    from neural_engine.layers import (
        activations,
        attention,
        containers,
        conv,
        core,
        merge,
        norm,
        pooling,
        recurrent,
        regularization,
        spatial,
    )

    for module in (
        core,
        activations,
        conv,
        pooling,
        norm,
        recurrent,
        attention,
        merge,
        spatial,
        regularization,
        containers,
    ):
        register(*module.SPECS)


_load()

__all__ = ["REGISTRY", "LayerSpec", "Param", "Site", "TorchCall", "families", "get", "register"]
