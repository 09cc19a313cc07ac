"""Graph -> source code: a readable PyTorch module (:func:`generate_pytorch`) and a Keras 3
functional model (:func:`generate_keras`). ``TARGETS`` maps a target name to its generator.

>>> from neural_engine.templates import template
>>> sorted(TARGETS), "keras.Model" in generate_keras(template("mnist_cnn"))
(['keras', 'pytorch'], True)
"""

from __future__ import annotations

from neural_engine.codegen.keras import generate_keras
from neural_engine.codegen.pytorch import generate_pytorch

TARGETS = {"pytorch": generate_pytorch, "keras": generate_keras}

__all__ = ["TARGETS", "generate_keras", "generate_pytorch"]
