"""The built-in datasets: one table of entries, each saying what it is and how to get its files.

>>> entry("digits").input_shape, entry("digits").samples
((8, 8, 1), 1797)
>>> ds = load_builtin("digits")
>>> ds.x.shape, ds.x.dtype.name, ds.classes[:3]
((1797, 8, 8, 1), 'uint8', ('0', '1', '2'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from neural_engine.data import readers, synthetic
from neural_engine.data.dataset import Dataset
from neural_engine.errors import DatasetError, did_you_mean
from neural_engine.settings import Settings
from neural_engine.settings import settings as current_settings

FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IDX = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    kind: str
    input_shape: tuple[int, ...]
    classes: tuple[str, ...] | int  # names, or only the count where the names come with the files
    samples: int
    source: str  # where it comes from, and its licence
    get: str  # how to get the files
    files: readers.Files | None = None

    @property
    def num_classes(self) -> int:
        return self.classes if isinstance(self.classes, int) else len(self.classes)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "classes": None if isinstance(self.classes, int) else list(self.classes),
            "samples": self.samples,
            "source": self.source,
            "get": self.get,
            "builtin": True,
            "files": None
            if self.files is None
            else {
                "folder": self.files.folder,
                "names": list(self.files.names),
                "gzipped_too": self.files.gz,
                "archive": self.files.archive,
                "from": self.files.url,
            },
        }


def _mnist_files(folder: str, url: str) -> readers.Files:
    return readers.Files(f"{folder}/raw", IDX, gz=True, url=url)


def _cifar_files(folder: str, names, archive: str) -> readers.Files:
    return readers.Files(
        folder, tuple(names), archive=archive, url="https://www.cs.toronto.edu/~kriz/cifar.html"
    )


_TORCHVISION_GET = (
    "torchvision's reader on the files listed under 'files', in that layout, from a directory "
    "(root=DIR, CLI --root) or an s3://bucket/prefix; or download=True where the internet is "
    "reachable"
)
ENTRIES = {
    e.name: e
    for e in (
        Entry(
            "digits",
            "classification",
            "image",
            (8, 8, 1),
            tuple("0123456789"),
            1797,
            "UCI ML hand-written digits (Alpaydin & Kaynak, 1998), shipped inside scikit-learn; CC BY 4.0",
            "offline: bundled with scikit-learn (sklearn.datasets.load_digits)",
        ),
        Entry(
            "mnist",
            "classification",
            "image",
            (28, 28, 1),
            tuple("0123456789"),
            70_000,
            "MNIST (LeCun, Cortes & Burges); CC BY-SA 3.0. Official test set: 10,000 images",
            _TORCHVISION_GET,
            _mnist_files("MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        ),
        Entry(
            "fashion_mnist",
            "classification",
            "image",
            (28, 28, 1),
            FASHION,
            70_000,
            "Fashion-MNIST (Xiao, Rasul & Vollgraf, Zalando Research, 2017); MIT licence. Official test: 10,000",
            _TORCHVISION_GET,
            _mnist_files("FashionMNIST", "https://github.com/zalandoresearch/fashion-mnist"),
        ),
        Entry(
            "cifar10",
            "classification",
            "image",
            (32, 32, 3),
            CIFAR10,
            60_000,
            "CIFAR-10 (Krizhevsky, 2009, 'Learning Multiple Layers of Features from Tiny Images'); no formal "
            "licence, cite the report. Official test set: 10,000 images",
            _TORCHVISION_GET,
            _cifar_files(
                "cifar-10-batches-py",
                [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"],
                "cifar-10-python.tar.gz",
            ),
        ),
        Entry(
            "cifar100",
            "classification",
            "image",
            (32, 32, 3),
            100,
            60_000,
            "CIFAR-100 (Krizhevsky, 2009); no formal licence, cite the report. Fine labels; official test: 10,000",
            _TORCHVISION_GET,
            _cifar_files("cifar-100-python", ["train", "test", "meta"], "cifar-100-python.tar.gz"),
        ),
        Entry(
            "shapes_segmentation",
            "segmentation",
            "image",
            (32, 32, 3),
            synthetic.SHAPES,
            1000,
            "synthetic, generated by NeuralForge (deterministic by seed); no licence needed",
            "generated: options n, size, seed",
        ),
        Entry(
            "sequence_classification",
            "classification",
            "sequence",
            (32,),
            ("negative", "positive"),
            2000,
            "synthetic, generated by NeuralForge (deterministic by seed); no licence needed",
            "generated: options n, length, vocab_size, seed",
        ),
        Entry(
            "regression",
            "regression",
            "tabular",
            (8,),
            (),
            1000,
            "synthetic, generated by NeuralForge (deterministic by seed); no licence needed",
            "generated: options n, features, noise, seed",
        ),
    )
}


def entry(name: str) -> Entry:
    e = ENTRIES.get(name.lower().replace("-", "_"))
    if e is None:
        raise DatasetError(
            f'a built-in dataset name must be one of {", ".join(ENTRIES)}; received "{name}"',
            hint=did_you_mean(name, ENTRIES),
        )
    return e


def is_builtin(name: str) -> bool:
    return name.lower().replace("-", "_") in ENTRIES


def load_builtin(
    name: str,
    *,
    root=None,
    download: bool = False,
    verify: bool = True,
    settings: Settings | None = None,
    **options,
) -> Dataset:
    """A built-in dataset as arrays. ``root``: a directory or ``s3://`` prefix with the standard files.

    Generators take their options (``n``, ``seed``, ...); torchvision datasets keep the official
    test set as ``official_test``. ``verify=False`` skips CIFAR's MD5 check (see ``readers``).
    """
    e = entry(name)
    loader = _LOADERS[e.name]
    if e.files is None:
        if root is not None or download:
            raise DatasetError(f"{e.name} needs no files; received root={root!r}, download={download}")
        return loader(**options)
    if options:
        raise DatasetError(f"{e.name} takes no options; received {', '.join(options)}")
    settings = settings or current_settings()
    path = readers.resolve_root(root, e.files, settings)
    if not download:
        readers.require(path, e.files, e.name, str(root) if str(root).startswith("s3://") else None)
    cls = loader(verify)
    x, y, classes, n_train = readers.read_torchvision(cls, path, download)
    return Dataset(
        e.name,
        e.task,
        e.kind,
        x,
        y,
        classes=tuple(str(c) for c in classes),
        official_test=np.arange(n_train, len(y)),
        source=f"{e.source} (read from {root or path})",
    )


def _digits(**options) -> Dataset:
    if options:
        raise DatasetError(f"digits takes no options; received {', '.join(options)}")
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255 / 16)).astype(np.uint8)[..., None]  # 0..16 -> 0..255, (N, 8, 8, 1)
    return Dataset(
        "digits",
        "classification",
        "image",
        x,
        d.target.astype(np.int64),
        classes=tuple(str(c) for c in d.target_names),
        source=ENTRIES["digits"].source,
    )


def _torchvision_class(attr: str, cifar: bool, verify: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, attr)
    return readers.unverified(cls) if cifar and not verify else cls


def _generator(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
    def load(**options):
        try:
            return fn(**options)
        except TypeError as e:  # an unknown option name
            raise DatasetError(f"{fn.__name__} options must be among its parameters; {e}") from None

    return load


_LOADERS: dict[str, Callable] = {
    "digits": _digits,
    "mnist": partial(_torchvision_class, "MNIST", False),
    "fashion_mnist": partial(_torchvision_class, "FashionMNIST", False),
    "cifar10": partial(_torchvision_class, "CIFAR10", True),
    "cifar100": partial(_torchvision_class, "CIFAR100", True),
    "shapes_segmentation": _generator(synthetic.shapes_segmentation),
    "sequence_classification": _generator(synthetic.sequence_classification),
    "regression": _generator(synthetic.regression),
}
