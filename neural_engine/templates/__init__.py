"""Ready-made architectures as graph functions with parameters (classes, input shape, width).

>>> g = template("resnet18")
>>> g.inputs["image"], g.name
((224, 224, 3), 'ResNet18')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from neural_engine.errors import ValidationError, did_you_mean
from neural_engine.ir import Graph
from neural_engine.templates import mnist, resnet, sequence, unet


@dataclass(frozen=True)
class Template:
    name: str
    build: Callable[..., Graph]
    doc: str


TEMPLATES = {
    t.name: t
    for t in (
        Template("mnist_cnn", mnist.mnist_cnn, "Small CNN for 28x28 digits (two conv blocks)."),
        Template("resnet18", resnet.resnet18, "ResNet-18, ImageNet head (224x224x3, 1000 classes)."),
        Template(
            "resnet18_cifar", resnet.resnet18_cifar, "ResNet-18 with the CIFAR stem (32x32x3, 10 classes)."
        ),
        Template("unet", unet.unet, "U-Net: 4 levels, skip concatenations, per-pixel classes."),
        Template("lstm_classifier", sequence.lstm_classifier, "Embedding + 2-layer LSTM text classifier."),
        Template(
            "transformer_classifier",
            sequence.transformer_classifier,
            "Embedding + positional encoding + Transformer encoder, mean-pooled classifier.",
        ),
    )
}


def template(name: str, **params) -> Graph:
    """Build template ``name`` with optional ``classes``, ``input_shape``, ``width``."""
    t = TEMPLATES.get(name.lower().replace("-", "_"))
    if t is None:
        raise ValidationError(
            f'unknown template "{name}"; known: {", ".join(TEMPLATES)}', hint=did_you_mean(name, TEMPLATES)
        )
    return t.build(**params)
