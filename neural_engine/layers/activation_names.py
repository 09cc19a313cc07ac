"""Activation names: the table every layer's ``activation=`` parameter, the ``Activation`` layer
and the activation layer specs read, and the check that turns a user's spelling into a name.
Below :mod:`neural_engine.layers.base` (which checks parameters with it); the layer specs and
the torch calls are in :mod:`neural_engine.layers.activations`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neural_engine.errors import ValidationError, did_you_mean

if TYPE_CHECKING:
    from neural_engine.layers.base import LayerSpec, Param

# name -> (torch class, fixed kwargs). ``softmax``/``log_softmax`` also get ``dim``.
ACTIVATIONS: dict[str, tuple[str, dict]] = {
    "relu": ("nn.ReLU", {}),
    "relu6": ("nn.ReLU6", {}),
    "sigmoid": ("nn.Sigmoid", {}),
    "tanh": ("nn.Tanh", {}),
    "softmax": ("nn.Softmax", {}),
    "log_softmax": ("nn.LogSoftmax", {}),
    "gelu": ("nn.GELU", {}),
    "elu": ("nn.ELU", {}),
    "selu": ("nn.SELU", {}),
    "silu": ("nn.SiLU", {}),
    "mish": ("nn.Mish", {}),
    "leaky_relu": ("nn.LeakyReLU", {}),
    "softplus": ("nn.Softplus", {}),
    "softsign": ("nn.Softsign", {}),
    "hard_sigmoid": ("nn.Hardsigmoid", {}),
    "hard_swish": ("nn.Hardswish", {}),
}
ALIASES = {
    "swish": "silu",
    "leakyrelu": "leaky_relu",
    "hardsigmoid": "hard_sigmoid",
    "hardswish": "hard_swish",
    "logsoftmax": "log_softmax",
}
NO_ACTIVATION = ("linear", "none", "identity")


def canonical_activation(spec: LayerSpec, p: Param, value, node_id: str | None) -> str | None:
    """The canonical activation name, None for linear; unknown names suggest the closest."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(
            f"{spec.name} {p.name} must be an activation name; received {value!r}", node=node_id
        )
    name = value.lower()
    if name in NO_ACTIVATION:
        return None
    name = ALIASES.get(name, name)
    if name not in ACTIVATIONS:
        names = [*ACTIVATIONS, *ALIASES, "linear"]
        padding = name in ("same", "valid") and any(q.name == "padding" for q in spec.params)
        raise ValidationError(
            f'{spec.name} {p.name} must be a known activation; received "{value}"',
            node=node_id,
            hint=f'padding is named: padding="{name}" (a string after the kernel size is the activation)'
            if padding
            else did_you_mean(value, names) or "known: " + ", ".join(sorted(names)),
        )
    return name
