"""Datasets: catalog, uploads, storage (local or S3), versions, splits, augmentation, loaders.

Modules, in the order data flows through them:

- ``catalog`` (built-ins: ``digits``, torchvision's MNIST/Fashion-MNIST/CIFAR readers via
  ``readers``, generators in ``synthetic``) and ``uploads`` (ZIP via ``zipimages``, CSV, NPZ)
  produce a ``dataset.Dataset`` (numpy arrays);
- ``registry`` stores it in a ``storage.Storage`` as content-addressed versions with ``stats``;
- ``splits`` divides it, ``augment`` describes and compiles pipelines, ``previews`` shows them,
  ``loaders`` makes the PyTorch DataLoaders; ``cli`` is ``neuralforge datasets``.

The names below load their module on first use (scikit-learn, polars and boto3 are imported only
by the functions that need them).

>>> from neural_engine.data import load, make_loaders
>>> load("digits").input_shape
(8, 8, 1)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Dataset": "dataset",
    "ENTRIES": "catalog",
    "entry": "catalog",
    "load_builtin": "catalog",
    "read_upload": "uploads",
    "UploadLimits": "zipimages",
    "open_storage": "storage",
    "LocalStorage": "storage",
    "S3Storage": "storage",
    "register": "registry",
    "register_dataset": "registry",
    "derive": "registry",
    "load": "registry",
    "resolve": "registry",
    "versions": "registry",
    "registered": "registry",
    "delete": "registry",
    "Version": "registry",
    "SplitSpec": "splits",
    "split_indices": "splits",
    "Pipeline": "augment",
    "SCHEMA": "augment",
    "preview": "previews",
    "Preview": "previews",
    "make_loaders": "loaders",
    "describe": "stats",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"neural_engine.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'neural_engine.data' has no attribute {name!r}")
