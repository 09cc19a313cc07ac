"""The one in-memory form every dataset takes: numpy arrays plus what they mean.

| kind | ``x`` | ``y`` (classification / segmentation / regression) |
|---|---|---|
| image | uint8 ``(N, H, W, C)`` | int64 ``(N,)`` / int64 masks ``(N, H, W)`` |
| tabular | float32 ``(N, F)`` | int64 ``(N,)`` / float32 ``(N,)`` |
| sequence | int64 tokens ``(N, T)`` (0 is padding) | int64 ``(N,)`` |

``input_shape`` is the IR's notation (channels last, no batch), so ``template("mnist_cnn",
input_shape=ds.input_shape)`` fits the data; the loaders deliver images as float NCHW tensors.

>>> import numpy as np
>>> ds = Dataset("toy", "classification", "image", np.zeros((4, 8, 8, 1), np.uint8),
...              np.array([0, 1, 0, 1]), classes=("a", "b"))
>>> ds.input_shape, ds.num_classes, len(ds)
((8, 8, 1), 2, 4)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from neural_engine.errors import DatasetError

TASKS = ("classification", "segmentation", "regression")
KINDS = ("image", "tabular", "sequence")


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    task: str
    kind: str
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...] = ()
    # indices of an official test set (MNIST's 10,000, CIFAR's test_batch): splits keep it as test
    official_test: np.ndarray | None = None
    source: str = ""
    version: str | None = None
    # the stored version's split ({"ratios", "stratify", "seed"}) and augmentation pipeline (JSON list)
    split: dict | None = None
    pipeline: list | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS or self.kind not in KINDS:
            raise DatasetError(
                f"a dataset's task must be one of {TASKS} and its kind one of {KINDS}; "
                f"received task={self.task!r}, kind={self.kind!r} for {self.name!r}"
            )
        if len(self.x) != len(self.y):
            raise DatasetError(
                f"x and y must have the same number of samples; received {len(self.x)} "
                f"and {len(self.y)} in {self.name!r}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def with_(self, **changes) -> Dataset:
        return replace(self, **changes)

    def fingerprint(self) -> str:
        """SHA-256 of the content: arrays (dtype, shape, bytes), classes, task, kind, official test."""
        return content_hash(self.x, self.y, self.classes, self.task, self.kind, self.official_test)


def content_hash(x: np.ndarray, y: np.ndarray, classes, task: str, kind: str, official_test=None) -> str:
    h = hashlib.sha256()
    for arr in (x, y) + ((official_test,) if official_test is not None else ()):
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    h.update(repr((tuple(classes), task, kind)).encode())
    return h.hexdigest()
