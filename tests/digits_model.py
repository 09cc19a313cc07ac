"""A small CNN trained on the digits in-process (about a second), shared by the export and
serving tests: the real model they export, quantize, prune and serve."""

from __future__ import annotations

from functools import lru_cache

import torch

from neural_engine.build import build
from neural_engine.data import make_loaders
from neural_engine.templates import template


def digits_graph():
    return template("mnist_cnn", input_shape=(8, 8, 1))


@lru_cache(maxsize=4)
def trained_state(seed: int = 0, epochs: int = 3) -> dict:
    """The training build's state dict (``logits=True``), as ``checkpoints/best.pt`` holds it."""
    torch.manual_seed(seed)
    model = build(digits_graph(), logits=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = make_loaders("digits", batch_size=32, seed=seed)["train"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: 2 threads on a busy 2-core machine are many times slower
    try:
        for _ in range(epochs):
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return {k: v.clone() for k, v in model.eval().state_dict().items()}


def digits_test_samples(n: int = 64):
    """``n`` samples of the digits test split: (inputs (n, 1, 8, 8), labels)."""
    x, y = next(iter(make_loaders("digits", batch_size=n)["test"]))
    return x, y
