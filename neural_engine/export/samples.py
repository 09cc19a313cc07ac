"""Inputs for validation and calibration: real data where there is a dataset, else random
inputs of the right shape (index inputs get integers below the embedding size).

Validation uses the dataset's test split; calibration (INT8 static) uses the training split, so
the numbers reported are measured on data the calibration never saw.

>>> from neural_engine.shapes import propagate
>>> from neural_engine.templates import template
>>> s = validation_samples(propagate(template("mnist_cnn", input_shape=(8, 8, 1))), "digits", n=100)
>>> len(s), tuple(s.inputs[0].shape[1:]), s.labels is not None, s.source
(100, (1, 8, 8), True, 'digits test split (100 of 269 samples)')
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from neural_engine.errors import ExportError


@dataclass(frozen=True)
class Samples:
    """One tensor per network input (batch first), and the labels when they come from a dataset."""

    inputs: tuple[torch.Tensor, ...]
    labels: torch.Tensor | None
    source: str

    def __len__(self) -> int:
        return int(self.inputs[0].shape[0])

    def batches(self, size: int) -> Iterator[tuple[torch.Tensor, ...]]:
        for start in range(0, len(self), size):
            yield tuple(x[start : start + size] for x in self.inputs)

    def repeat_to(self, batch: int) -> tuple[torch.Tensor, ...]:
        """A batch of exactly ``batch`` samples (cycled when there are fewer), for latency runs."""
        index = torch.arange(batch) % len(self)
        return tuple(x[index] for x in self.inputs)

    @property
    def random(self) -> bool:
        return self.labels is None and self.source.startswith("random")


def _expected(analysis) -> list[tuple[int, ...]]:
    from neural_engine.build import example_inputs

    return [tuple(x.shape[1:]) for x in example_inputs(analysis, batch=1)]


def _parts(analysis, dataset, split, part: str, n: int, batch_size: int, seed: int):
    """Up to ``n`` (inputs, labels) of ``part``, checked against the network's input shape."""
    from neural_engine.data import make_loaders

    if len(analysis.graph.inputs) != 1:
        raise ExportError(
            f"validating on a dataset needs a network with one input; received {len(analysis.graph.inputs)}",
            hint="leave out --dataset to use random inputs",
        )
    loader = make_loaders(dataset, split, batch_size=batch_size, seed=seed)[part]
    xs, ys, total = [], [], len(loader.dataset)
    for x, y in loader:
        xs.append(x)
        ys.append(y)
        if sum(len(b) for b in xs) >= n:
            break
    x, y = torch.cat(xs)[:n], torch.cat(ys)[:n]
    (expected,) = _expected(analysis)
    if tuple(x.shape[1:]) != expected:
        raise ExportError(
            f"the network takes samples of shape {expected}; dataset {dataset} gives {tuple(x.shape[1:])}",
            hint="export with the dataset the network was built for",
        )
    if x.dtype.is_floating_point != _float_input(analysis):
        x = x.float() if _float_input(analysis) else x.long()
    return x, y, total


def _float_input(analysis) -> bool:
    from neural_engine.build import example_inputs

    return example_inputs(analysis, batch=1)[0].dtype.is_floating_point


def validation_samples(analysis, dataset=None, split=None, n: int = 100, seed: int = 0) -> Samples:
    """``n`` samples of the test split of ``dataset`` (all of it if smaller), else ``n`` random inputs."""
    if n < 1:
        raise ExportError(f"validation needs at least one sample; received n={n}")
    if dataset is None:
        from neural_engine.build import example_inputs

        gen = torch.Generator().manual_seed(seed)
        return Samples(
            tuple(example_inputs(analysis, batch=n, generator=gen)), None, "random inputs (no dataset)"
        )
    x, y, total = _parts(analysis, dataset, split, "test", n, 256, seed)
    name = dataset if isinstance(dataset, str) else getattr(dataset, "name", "dataset")
    return Samples((x,), y, f"{name} test split ({len(x)} of {total} samples)")


def calibration_batches(
    analysis, dataset=None, split=None, batches: int = 8, batch_size: int = 16, seed: int = 0
) -> list[tuple[torch.Tensor, ...]]:
    """Batches of the training split for INT8 static calibration (random inputs without a dataset)."""
    n = batches * batch_size
    if dataset is None:
        samples = validation_samples(analysis, None, n=n, seed=seed + 1)
    else:
        x, y, _ = _parts(analysis, dataset, split, "train", n, 256, seed)
        samples = Samples((x,), y, "train split")
    return list(samples.batches(batch_size))
