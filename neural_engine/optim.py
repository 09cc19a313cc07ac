"""Optimizers and losses the engine knows: one table each, read by the DSL checks, the memory
estimate and training.

``state_slots`` is how many parameter-sized tensors the optimizer keeps (Adam: exp_avg and
exp_avg_sq).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptimizerInfo:
    name: str  # canonical spelling
    torch: str  # torch.optim class
    state_slots: int


OPTIMIZERS = {
    o.name.lower(): o
    for o in (
        OptimizerInfo("SGD", "SGD", 1),  # momentum buffer (0 without momentum)
        OptimizerInfo("Adam", "Adam", 2),
        OptimizerInfo("AdamW", "AdamW", 2),
        OptimizerInfo("RMSprop", "RMSprop", 1),
        OptimizerInfo("Adagrad", "Adagrad", 1),
        OptimizerInfo("Adadelta", "Adadelta", 2),
        OptimizerInfo("Adamax", "Adamax", 2),
        OptimizerInfo("Nadam", "NAdam", 2),
    )
}

# canonical loss name -> torch loss class (applied to logits where the name says cross-entropy)
LOSSES = {
    "mse": "MSELoss",
    "mae": "L1Loss",
    "huber": "HuberLoss",
    "binary_crossentropy": "BCEWithLogitsLoss",
    "categorical_crossentropy": "CrossEntropyLoss",
    "sparse_categorical_crossentropy": "CrossEntropyLoss",
    "dice": "DiceLoss",
    "bce_dice": "BCEDiceLoss",
}
LOSS_ALIASES = {
    name.replace("_crossentropy", "_cross_entropy"): name for name in LOSSES if "crossentropy" in name
} | {"mean_squared_error": "mse", "mean_absolute_error": "mae"}
CROSS_ENTROPY = {"categorical_crossentropy", "sparse_categorical_crossentropy"}


def canonical_loss(name: str) -> str | None:
    key = name.lower()
    key = LOSS_ALIASES.get(key, key)
    return key if key in LOSSES else None


def optimizer(name: str) -> OptimizerInfo | None:
    return OPTIMIZERS.get(name.lower())


def call_name(value) -> str | None:
    """The name in a training setting given as a string, a ``Call`` or ``{"name": …}``."""
    if isinstance(value, str):
        return value
    name = getattr(value, "name", None)
    if name is None and isinstance(value, dict):
        name = value.get("name")
    return name
