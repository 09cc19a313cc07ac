"""A ZIP of class-named image folders → a uint8 image dataset, refusing anything unsafe.

Checked before a byte is decompressed: absolute paths, ``..`` (zip-slip), symlinks, encrypted
members, total uncompressed size and per-member compression ratio (zip bombs). Then: files
outside a class folder, non-image files, empty classes, and images that fail to decode (corrupt:
reported by name, rejected or skipped by option). ``__MACOSX/`` and dot-files are ignored.

All images get one channel count (gray if every image is gray, else RGB) and one size (the most
common, or ``image_size``); the metadata keeps the original sizes.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from neural_engine.data.dataset import Dataset
from neural_engine.errors import DatasetError
from neural_engine.progress import SILENT, Progress

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
RATIO_MIN_BYTES = 1 << 20  # the ratio rule applies to members above 1 MiB (tiny files compress well)


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int  # the uploaded file (NEURALFORGE_MAX_UPLOAD_MB)
    max_uncompressed_bytes: int  # everything inside a ZIP together
    max_ratio: float = 200.0  # uncompressed / compressed, per member
    max_image_pixels: int = 40_000_000

    @staticmethod
    def from_settings(settings) -> UploadLimits:
        return UploadLimits(settings.max_upload_bytes, 4 * settings.max_upload_bytes)


def human(n: int) -> str:
    return f"{n:,} bytes" if n < 2**20 else f"{n / 2**20:,.1f} MiB"


def _names(items, n=5) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def safe_members(zf: zipfile.ZipFile, limits: UploadLimits, where: str) -> tuple[list, set[str]]:
    """(file members, folder names) after every safety rule; refuses the whole archive on any breach."""
    files, folders, total = [], set(), 0
    for info in zf.infolist():
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            raise DatasetError(
                f"ZIP members must have relative paths; {where} holds the absolute path {name!r}",
                hint="zip the class folders from inside their parent folder",
            )
        if ".." in parts:
            raise DatasetError(
                f"ZIP members must stay inside the archive; {where} holds {name!r}, which "
                f"climbs out with '..' (zip-slip)"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(
                f"ZIP members must be regular files; {where} holds the symlink {name!r}",
                hint="zip the files themselves (zip without --symlinks)",
            )
        if info.flag_bits & 0x1:
            raise DatasetError(f"ZIP members must not be encrypted; {where} holds the encrypted {name!r}")
        if parts and (parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)):
            continue
        if info.is_dir():
            folders.add(name.rstrip("/"))
            continue
        total += info.file_size
        if info.file_size > RATIO_MIN_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise DatasetError(
                f"ZIP members must compress at most {limits.max_ratio:g}:1; {name!r} in {where} "
                f"expands {info.file_size / max(info.compress_size, 1):,.0f}:1 (zip bomb?)"
            )
        if total > limits.max_uncompressed_bytes:
            raise DatasetError(
                f"a ZIP must hold at most {human(limits.max_uncompressed_bytes)} "
                f"uncompressed; {where} holds more (zip bomb?)",
                hint="raise NEURALFORGE_MAX_UPLOAD_MB (the limit is 4x it) or split the upload",
            )
        files.append((name, info))
    return files, folders


def class_layout(files, folders, where: str) -> tuple[dict[str, list], list[str]]:
    """{class: [(name, info)]} from ``class/file`` (one wrapping top folder allowed); all class names."""
    tops = {PurePosixPath(n).parts[0] for n, _ in files} | {PurePosixPath(f).parts[0] for f in folders}
    strip = 0
    if len(tops) == 1 and files and all(len(PurePosixPath(n).parts) >= 3 for n, _ in files):
        strip = 1  # "pets/cat/1.png": the archive of a folder that holds the class folders
    loose = [n for n, _ in files if len(PurePosixPath(n).parts) - strip < 2]
    if loose:
        raise DatasetError(
            f"images must sit in class folders (class/image.png); {where} has files outside "
            f"them: {_names(loose)}",
            hint="one folder per class, named after the class",
        )
    by_class: dict[str, list] = {}
    for name, info in files:
        by_class.setdefault(PurePosixPath(name).parts[strip], []).append((name, info))
    classes = set(by_class) | {
        PurePosixPath(f).parts[strip] for f in folders if len(PurePosixPath(f).parts) > strip
    }
    non_images = [n for n, _ in files if PurePosixPath(n).suffix.lower() not in IMAGE_EXTS]
    if non_images:
        raise DatasetError(
            f"class folders must hold only images ({', '.join(sorted(IMAGE_EXTS))}); {where} "
            f"holds {_names(non_images)}",
            hint="remove the other files from the archive",
        )
    return by_class, sorted(classes)


def decode(data: bytes, limits: UploadLimits):
    """A PIL image, fully decoded, in mode L or RGB; raises ValueError with the reason on any failure."""
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > limits.max_image_pixels:
            raise ValueError(f"{img.width}x{img.height} is over {limits.max_image_pixels:,} pixels")
        img.load()
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 -- PIL raises many types for broken files (OSError, SyntaxError, ...)
        raise ValueError(f"{type(e).__name__}: {e}") from None
    return img.convert("L") if img.mode in ("1", "L", "I", "I;16", "F") else img.convert("RGB")


def read_zip(
    path: Path,
    name: str,
    limits: UploadLimits,
    on_corrupt: str = "reject",
    image_size: tuple[int, int] | None = None,
    progress: Progress = SILENT,
) -> Dataset:
    """A checked image dataset from a ZIP of class folders; ``progress`` shows a bar over its images."""
    where = path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"{where} must be a ZIP archive; it cannot be opened ({e})") from None
    with zf:
        by_class, classes = class_layout(*safe_members(zf, limits, where), where)
        images, corrupt = [], []
        total = sum(len(members) for members in by_class.values())
        with progress.bar(f"reading {where}", total=total, unit="image") as bar:
            for label, cls in enumerate(classes):
                for member, info in sorted(by_class.get(cls, [])):
                    try:
                        with zf.open(info) as f:
                            data = f.read(info.file_size + 1)
                        if len(data) != info.file_size:
                            raise ValueError("its size differs from the archive's record")
                        images.append((decode(data, limits), label))
                    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as e:  # also zlib/CRC errors
                        corrupt.append(f"{member} ({e})")
                    bar.update()
    if corrupt and on_corrupt != "skip":
        raise DatasetError(
            f"every image must decode; {where} has {len(corrupt)} corrupt: {_names(corrupt)}",
            hint="fix or remove them, or register with on_corrupt='skip' (CLI --skip-corrupt)",
        )
    counts = Counter(label for _, label in images)
    empty = [c for i, c in enumerate(classes) if counts[i] == 0]
    if empty:
        raise DatasetError(
            f"every class folder must hold at least one image; {where} has empty classes: "
            f"{_names(empty)}" + (" (after skipping corrupt images)" if corrupt else "")
        )
    if len(classes) < 2:
        raise DatasetError(
            f"a classification upload needs at least 2 class folders; {where} has "
            f"{len(classes)}: {_names(classes)}"
        )
    return _stack(images, classes, name, where, image_size, corrupt)


def _stack(images, classes, name, where, image_size, corrupt) -> Dataset:
    from PIL import Image

    sizes = Counter((img.height, img.width) for img, _ in images)
    h, w = image_size or sizes.most_common(1)[0][0]
    mode = "L" if all(img.mode == "L" for img, _ in images) else "RGB"
    arrays = []
    for img, _ in images:
        img = img.convert(mode)
        if (img.height, img.width) != (h, w):
            img = img.resize((w, h), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(img, dtype=np.uint8).reshape(h, w, -1))
    return Dataset(
        name,
        "classification",
        "image",
        np.stack(arrays),
        np.array([lab for _, lab in images], np.int64),
        classes=tuple(classes),
        source=f"upload {where}",
        extra={
            "image_sizes": {f"{hh}x{ww}": n for (hh, ww), n in sorted(sizes.items())},
            "resized_to": [h, w],
            "corrupt_files": corrupt,
            "format": "zip",
        },
    )
