"""The standard dataset files, read by torchvision's own readers from a directory or an S3 prefix.

A root holds the files in torchvision's layout (``MNIST/raw/train-images-idx3-ubyte[.gz]``,
``cifar-10-batches-py/data_batch_1``, or the ``cifar-10-python.tar.gz`` archive). An ``s3://``
root is mirrored to a local cache first (only the files this dataset needs; a file already
cached with the same size is kept), then torchvision reads the cache with ``download=False``.

CIFAR's reader checks every file's MD5 against the official release. ``verify=False`` keeps
torchvision's reader but checks only that the files exist — for subsets and re-packed batches
(the tests write tiny batches in the real pickle format).
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neural_engine.errors import DatasetError
from neural_engine.settings import Settings


@dataclass(frozen=True)
class Files:
    """Where a torchvision dataset keeps its files, relative to the root."""

    folder: str  # "MNIST/raw"
    names: tuple[str, ...]  # the files the reader opens
    gz: bool = False  # each may also come gzipped (name + ".gz")
    archive: str | None = None  # or one tar.gz holding ``folder``
    url: str = ""

    def missing(self, root: Path) -> list[str]:
        return [f"{self.folder}/{n}" for n in self.names if not (root / self.folder / n).is_file()]

    def wanted(self, key: str) -> bool:
        """Whether an object key (relative to the root) is one of these files."""
        names = set(self.names) | ({n + ".gz" for n in self.names} if self.gz else set())
        folder, _, name = key.rpartition("/")
        return (folder == self.folder and name in names) or key == self.archive


def resolve_root(root: str | Path | None, files: Files, settings: Settings) -> Path:
    """A local directory holding ``files`` ready for torchvision (S3 mirrored, archives unpacked)."""
    if root is None:
        root = settings.home / "datasets" / "raw"
    elif str(root).startswith("s3://"):
        root = mirror_s3(str(root), files, settings)
    root = Path(root).expanduser().absolute()
    unpack(root, files)
    return root


def mirror_s3(uri: str, files: Files, settings: Settings) -> Path:
    from neural_engine.data.storage import S3Storage

    store = S3Storage(uri, endpoint_url=settings.s3_endpoint_url)
    cache = settings.home / "cache" / "s3" / store.bucket / store.prefix
    found = store.sizes(f"{files.folder}/") | (store.sizes(files.archive) if files.archive else {})
    for key, size in found.items():
        dest = cache / key  # wanted() admits only the known file names: no key climbs out of the cache
        if files.wanted(key) and not (dest.is_file() and dest.stat().st_size == size):
            store.fetch(key, dest)
    return cache


def unpack(root: Path, files: Files) -> None:
    """Gunzip ``name.gz`` files and unpack the archive where the plain files are missing."""
    folder = root / files.folder
    if files.gz:
        for name in files.names:
            plain, packed = folder / name, folder / (name + ".gz")
            if not plain.is_file() and packed.is_file():
                tmp = plain.with_name(f".{name}.part")
                with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                tmp.replace(plain)
    if files.archive and files.missing(root) and (root / files.archive).is_file():
        try:
            with tarfile.open(root / files.archive) as tar:
                tar.extractall(root, filter="data")  # refuses absolute paths, '..' and links out
        except (tarfile.TarError, OSError) as e:
            raise DatasetError(
                f"{root / files.archive} must be the official tar.gz archive; it could not be unpacked ({e})"
            ) from None


def require(root: Path, files: Files, dataset: str, origin: str | None = None) -> None:
    """Raise a DatasetError naming the place and the files when any is missing (``origin``: an s3:// root)."""
    missing = files.missing(root)
    if missing:
        gz = " (or gzipped, .gz)" if files.gz else ""
        archive = f", or the archive {files.archive}" if files.archive else ""
        where = f"{origin.rstrip('/')}/{files.folder}" if origin else root / files.folder
        raise DatasetError(
            f"{dataset} needs its files in {where}: {', '.join(files.names)}{gz}{archive}; "
            f"missing: {', '.join(missing)}",
            hint=f"download them from {files.url} and put them under {root} (keep the folder "
            f"{files.folder}/), pass root=DIR or s3://bucket/prefix holding the same layout "
            f"(CLI --root), or download=True where the internet is reachable",
        )


def read_torchvision(cls, root: Path, download: bool) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """Train + test through torchvision's reader: uint8 images (N, H, W, C), labels, classes, n_train."""
    try:
        train, test = (
            cls(str(root), train=True, download=download),
            cls(str(root), train=False, download=download),
        )
    except RuntimeError as e:
        raise DatasetError(
            f"{cls.__name__} files in {root} must be intact; torchvision refused them ({e})",
            hint="the official files pass the MD5 check; pass verify=False (CLI "
            "--no-verify) for subsets or re-packed batches",
        ) from None
    except (ValueError, OSError, EOFError, KeyError, AssertionError) as e:
        raise DatasetError(
            f"{cls.__name__} files in {root} must be in the standard format; reading "
            f"failed with {type(e).__name__}: {e}"
        ) from None
    images = [np.asarray(d.data) for d in (train, test)]
    images = [a[..., None] if a.ndim == 3 else a for a in images]  # MNIST (N, 28, 28) -> (N, 28, 28, 1)
    labels = [np.asarray(d.targets, dtype=np.int64) for d in (train, test)]
    return np.concatenate(images), np.concatenate(labels), list(train.classes), len(labels[0])


def unverified(cls):
    """``cls`` with every MD5 set to None: torchvision's ``check_integrity`` then checks existence."""
    attrs = {
        "train_list": [[f, None] for f, _ in cls.train_list],
        "test_list": [[f, None] for f, _ in cls.test_list],
        "meta": {**cls.meta, "md5": None},
    }
    return type(f"{cls.__name__}Unverified", (cls,), attrs)
