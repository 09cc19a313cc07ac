"""The module an export starts from: the network with its heads' activations, and its weights.

Training builds the network with ``logits=True`` (the loss applies the softmax), so an
``Output`` head with an activation is a bare ``Linear`` there and ``Sequential(Linear, Softmax)``
here; :func:`load_training_state` maps ``layers.out.weight`` to ``layers.out.0.weight``.

>>> import torch
>>> from neural_engine.build import build
>>> from neural_engine.templates import template
>>> g = template("mnist_cnn", input_shape=(8, 8, 1))
>>> model, random_weights = export_module(g, build(g, logits=True).state_dict())
>>> random_weights, round(model(torch.zeros(1, 1, 8, 8)).detach().sum().item(), 4)
(False, 1.0)
"""

from __future__ import annotations

import torch

from neural_engine.errors import ExportError
from neural_engine.ir import Graph


def export_module(graph: Graph, state: dict | None = None, *, seed: int = 0):
    """``(module in eval mode, random_weights)``; without ``state`` the weights are random (seeded)."""
    from neural_engine.build import build

    torch.manual_seed(seed)
    model = build(graph, logits=False)
    if state is not None:
        load_training_state(model, state)
    return model.eval(), state is None


def load_training_state(model: torch.nn.Module, state: dict) -> None:
    """Load a state dict saved from the ``logits=True`` build into the full module."""
    target = model.state_dict()
    mapped = {}
    for key, value in state.items():
        if key not in target:
            head, sep, rest = key.partition(".")
            node, sep2, tail = rest.partition(".")
            alt = f"{head}.{node}.0.{tail}"
            key = alt if sep and sep2 and alt in target else key
        mapped[key] = value
    missing = sorted(set(target) - set(mapped))
    unexpected = sorted(set(mapped) - set(target))
    if missing or unexpected:
        raise ExportError(
            f"the checkpoint must hold this network's weights; missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}",
            hint="export with the graph the run was trained with (setup/graph.json)",
        )
    for key, value in mapped.items():
        if tuple(value.shape) != tuple(target[key].shape):
            raise ExportError(
                f"checkpoint tensor {key} must have shape {tuple(target[key].shape)}; "
                f"received {tuple(value.shape)}"
            )
    model.load_state_dict(mapped)
