"""Generated datasets that are real learnable tasks, identical for the same seed.

>>> a, b = regression(n=50, seed=3), regression(n=50, seed=3)
>>> bool((a.x == b.x).all() and (a.y == b.y).all()), a.input_shape
(True, (8,))
"""

from __future__ import annotations

import numpy as np

from neural_engine.data.dataset import Dataset
from neural_engine.errors import DatasetError

SHAPES = ("background", "circle", "square", "triangle")


def shapes_segmentation(n: int = 1000, size: int = 32, seed: int = 0) -> Dataset:
    """RGB images with 1-3 bright shapes on a dark noisy background; masks give each pixel's shape.

    The label of a pixel is decided by the geometry around it (round, square or pointed outline),
    not by colour: colours are drawn at random, so a network must look at shape. (N, size, size, 3)
    uint8 images, int64 masks (N, size, size) with 0 = background.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    x = np.empty((n, size, size, 3), np.uint8)
    y = np.zeros((n, size, size), np.int64)
    for i in range(n):
        img = rng.integers(0, 60, (size, size, 3)) + rng.integers(0, 30, 3)
        for _ in range(rng.integers(1, 4)):
            kind = int(rng.integers(1, len(SHAPES)))
            r = rng.uniform(size / 10, size / 5)
            cy, cx = rng.uniform(r, size - r, 2)
            inside = _shape_mask(kind, yy - cy, xx - cx, r)
            img[inside] = rng.integers(150, 256, 3)
            y[i][inside] = kind
        x[i] = img
    return Dataset(
        "shapes_segmentation",
        "segmentation",
        "image",
        x,
        y,
        classes=SHAPES,
        source=f"synthetic (seed {seed})",
    )


def _shape_mask(kind: int, dy: np.ndarray, dx: np.ndarray, r: float) -> np.ndarray:
    if kind == 1:
        return dx**2 + dy**2 <= r**2
    if kind == 2:
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)  # apex up


def sequence_classification(n: int = 2000, length: int = 32, vocab_size: int = 64, seed: int = 0) -> Dataset:
    """Token sequences labelled "positive" when they hold more marker tokens of group A than of B.

    Tokens 4-11 are group A, 12-19 group B, 20.. filler; 0 is reserved for padding. Each sequence
    holds 2-9 markers with no ties, so the label is a function of the content (counting): a bag of
    embeddings, an LSTM or a Transformer can learn it. int64 tokens (N, length); classes
    ("negative", "positive").
    """
    if vocab_size < 21 or length < 9:
        raise DatasetError(
            f"sequence_classification needs vocab_size >= 21 and length >= 9; received "
            f"vocab_size={vocab_size}, length={length}"
        )
    rng = np.random.default_rng(seed)
    x = rng.integers(20, vocab_size, (n, length))
    labels = rng.integers(0, 2, n)
    for i in range(n):
        total = int(rng.integers(2, 10))
        minority = int(rng.integers(0, (total + 1) // 2))  # strictly fewer than half: no ties
        a, b = (total - minority, minority) if labels[i] else (minority, total - minority)
        pos = rng.choice(length, total, replace=False)
        x[i, pos[:a]] = rng.integers(4, 12, a)
        x[i, pos[a:]] = rng.integers(12, 20, b)
    return Dataset(
        "sequence_classification",
        "classification",
        "sequence",
        x.astype(np.int64),
        labels.astype(np.int64),
        classes=("negative", "positive"),
        source=f"synthetic (seed {seed})",
        extra={"vocab_size": vocab_size},
    )


def regression(n: int = 1000, features: int = 8, noise: float = 0.1, seed: int = 0) -> Dataset:
    """y = x . w + 0.5 sin(2 x_0) + noise, x ~ N(0, 1): a smooth target a small MLP fits closely."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    w = rng.uniform(-1, 1, features)
    y = x @ w + 0.5 * np.sin(2 * x[:, 0]) + noise * rng.standard_normal(n)
    return Dataset(
        "regression", "regression", "tabular", x, y.astype(np.float32), source=f"synthetic (seed {seed})"
    )
