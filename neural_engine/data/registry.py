"""Registered datasets: content-addressed versions with metadata and lineage, in a ``Storage``.

Layout under the storage root::

    datasets/<name>/blobs/<sha256>-<token>.npz          the arrays (x, y, classes), once per content
    datasets/<name>/blobs/<split id>-<token>.split.npz  a split's train/val/test indices
    datasets/<name>/versions/v<N>.json                  one manifest per version, created last

A version id is the first 12 hex digits of SHA-256 over (data hash, split, pipeline): the same
content gives the same version, a new upload or a changed split or augmentation gives a new
one, whose ``parent`` is the dataset's latest version. A version exists once its manifest does;
if anything fails before that, the objects already written are deleted (atomic registration).

Several processes may register at once (see ``_commit``): the number is taken by creating the
manifest ``v<N>.json`` only if absent, and the files a registration writes carry a random token,
so they are its own until its manifest names them. Manifests of older releases
(``versions/<id>.json``, files without a token) are read as before.

>>> import tempfile
>>> from neural_engine.data.storage import open_storage
>>> tmp = tempfile.TemporaryDirectory()
>>> store = open_storage(tmp.name)
>>> from neural_engine.data.synthetic import regression
>>> v = register_dataset(regression(n=20), "toy", storage=store)
>>> v.number, v.parent, resolve("toy", store).version == v.version
(1, None, True)
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import numpy as np

from neural_engine.data import catalog
from neural_engine.data.augment import Pipeline
from neural_engine.data.dataset import Dataset
from neural_engine.data.splits import SplitSpec, split_indices
from neural_engine.data.stats import describe
from neural_engine.data.storage import Storage, open_storage
from neural_engine.errors import DatasetError, did_you_mean
from neural_engine.progress import SILENT, Progress

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
KEEP = object()  # derive(): leave the split or pipeline as the parent has it


@dataclass(frozen=True)
class Version:
    name: str
    version: str
    number: int
    parent: str | None
    created: str
    data: str  # SHA-256 of the arrays
    task: str
    kind: str
    classes: list
    input_shape: list
    stats: dict
    source: str = ""
    split: dict | None = None  # SplitSpec JSON + "counts"
    pipeline: list | None = None
    data_file: str | None = None  # the arrays' key under datasets/<name>/; None: blobs/<data>.npz
    split_file: str | None = None  # the split's key; None: blobs/<split id>.split.npz

    def data_key(self) -> str:
        return _prefix(self.name) + (self.data_file or f"blobs/{self.data}.npz")

    def split_key(self) -> str:
        legacy = f"blobs/{version_id(self.data, self.split, None)}.split.npz"
        return _prefix(self.name) + (self.split_file or legacy)

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def _prefix(name: str) -> str:
    return f"datasets/{name}/"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise DatasetError(
            f"a dataset name must be lowercase letters, digits, '_', '-' or '.' (at most 64, "
            f"starting with a letter or digit); received {name!r}"
        )
    if catalog.is_builtin(name):
        raise DatasetError(
            f'a registered dataset must not take a built-in name; received "{name}"',
            hint="choose another --name",
        )
    return name


def version_id(data: str, split: dict | None, pipeline: list | None) -> str:
    spec = {
        "data": data,
        "split": {k: split[k] for k in ("ratios", "stratify", "seed")} if split else None,
        "pipeline": pipeline,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def versions(name: str, storage: Storage | str | None = None) -> list[Version]:
    """Every version of ``name``, oldest first."""
    store = _store(storage)
    keys = [k for k in store.list(_prefix(name) + "versions/") if k.endswith(".json")]
    return sorted((Version(**json.loads(store.read(k))) for k in keys), key=lambda v: v.number)


def registered(storage: Storage | str | None = None) -> list[str]:
    """The names of the registered datasets."""
    keys = _store(storage).list("datasets/")
    return sorted({k.split("/")[1] for k in keys if "/versions/" in k and k.endswith(".json")})


def resolve(ref: str, storage: Storage | str | None = None) -> Version:
    """``name`` (latest), ``name@v3`` (by number) or ``name@ab12cd`` (a version id prefix)."""
    name, _, want = ref.partition("@")
    found = versions(name, storage)
    if not found:
        known = registered(storage)
        raise DatasetError(
            f'"{name}" must be a built-in or registered dataset; it is neither '
            f"(registered: {', '.join(known) or 'none'})",
            hint=did_you_mean(name, known + list(catalog.ENTRIES)) or "see `neuralforge datasets list`",
        )
    if not want:
        return found[-1]
    hits = [
        v
        for v in found
        if (want.startswith("v") and want[1:].isdigit() and v.number == int(want[1:]))
        or (len(want) >= 4 and v.version.startswith(want))
    ]
    if len(hits) != 1:
        raise DatasetError(
            f"{name}@{want} must name one version (v<N> or an id prefix of 4+ characters); "
            f"it matches {len(hits)}; versions: " + ", ".join(f"v{v.number} {v.version}" for v in found)
        )
    return hits[0]


def register(
    path, name: str, *, storage: Storage | str | None = None, progress: Progress = SILENT, **read_options
) -> Version:
    """Read and check an upload (see ``uploads.read_upload``), then store it as a new version;
    ``progress`` reports the reading (a bar over a ZIP's images) and the storing."""
    from neural_engine.data.uploads import read_upload

    check_name(name)
    store = _store(storage)  # a bad storage URI fails before the upload is read
    ds = read_upload(path, name, progress=progress, **read_options)
    progress.line(f"storing {name}: {len(ds.y):,} samples, {ds.x.nbytes / 1e6:.1f} MB before compression")
    return register_dataset(ds, name, storage=store)


def register_dataset(ds: Dataset, name: str, *, storage: Storage | str | None = None) -> Version:
    """Store arrays + metadata as a version of ``name``; the same content returns the existing version."""
    check_name(name)
    store = _store(storage)
    data = ds.fingerprint()
    vid = version_id(data, None, None)
    same = _find(versions(name, store), vid)
    if same is not None:
        return same
    blob = io.BytesIO()
    arrays = {"x": ds.x, "y": ds.y, "classes": np.array(ds.classes, dtype=str)}
    if ds.official_test is not None:
        arrays["official_test"] = ds.official_test
    np.savez_compressed(blob, **arrays)
    v = Version(
        name,
        vid,
        0,
        None,
        _now(),
        data,
        ds.task,
        ds.kind,
        list(ds.classes),
        list(ds.input_shape),
        describe(ds),
        ds.source,
        data_file=f"blobs/{data}-{_token()}.npz",
    )
    return _commit(store, v, {v.data_key(): blob.getvalue()})


def derive(
    ref: str, *, split: SplitSpec | None = KEEP, pipeline=KEEP, storage: Storage | str | None = None
) -> Version:
    """A new version of ``ref``'s data with another split and/or augmentation pipeline.

    ``split=None`` or ``pipeline=None`` removes it. Returns the existing version when one
    already has this content.
    """
    if catalog.is_builtin(ref.partition("@")[0]):
        raise DatasetError(
            f"only registered datasets have versions; received the built-in {ref!r}",
            hint="its splits are computed on load (make_loaders(split=...)); to version one, "
            "register a copy: register_dataset(load(name), 'my-name')",
        )
    store = _store(storage)
    base = resolve(ref, store)
    split_doc, split_file, files = base.split, base.split_file, {}
    if split is not KEEP:
        split_doc = split_file = None
        if split is not None:
            ds = load_version(base, store)
            parts = split_indices(ds.y, split, ds.official_test)
            split_doc = {**split.to_json(), "counts": {k: len(v) for k, v in parts.items()}}
            buf = io.BytesIO()
            np.savez_compressed(buf, **parts)
            split_file = f"blobs/{version_id(base.data, split_doc, None)}-{_token()}.split.npz"
            files[_prefix(base.name) + split_file] = buf.getvalue()
    pipe_doc = (
        base.pipeline
        if pipeline is KEEP
        else (Pipeline.from_json(pipeline).to_json() if pipeline is not None else None)
    )
    if pipe_doc is not None and base.kind != "image":
        raise DatasetError(f"augmentation pipelines apply to image datasets; {base.name} is {base.kind}")
    vid = version_id(base.data, split_doc, pipe_doc)
    same = _find(versions(base.name, store), vid)
    if same is not None:
        return same
    v = replace(
        base,
        version=vid,
        number=0,
        parent=None,
        created=_now(),
        split=split_doc,
        pipeline=pipe_doc,
        split_file=split_file,
    )
    return _commit(store, v, files)


def _commit(store: Storage, v: Version, files: dict[str, bytes]) -> Version:
    """Write ``files`` (this call's own: their keys carry a token), then take the next number by
    creating the manifest ``versions/v<N>.json`` if absent; ``v``'s number and parent are set here.

    Of two registrations racing for a number, the store's create lets one win; the other lists the
    versions again and takes the next. Files first, manifest last: a reader finds files only through
    a manifest, so it never sees one whose files are missing. If the same content was registered
    meanwhile, that version is returned and this call's files deleted; on any failure, what this call
    wrote is deleted too: its manifest (if the store failed to answer a create that took) first, and
    its files only when no manifest of this call's can be left naming them.
    """
    written, manifest = [], None
    try:
        for key, data in files.items():
            store.write(key, data)
            written.append(key)
        for _ in range(100):
            existing = versions(v.name, store)
            same = _find(existing, v.version)
            if same is not None:
                _delete(store, written)
                return same
            latest = existing[-1] if existing else None
            v = replace(
                v, number=latest.number + 1 if latest else 1, parent=latest.version if latest else None
            )
            manifest = (
                f"{_prefix(v.name)}versions/v{v.number}.json",
                json.dumps(v.to_json(), indent=2, sort_keys=True).encode(),
            )
            if store.create(*manifest):
                return v
        raise DatasetError(
            f"registering {v.name} must find a free version number; 100 concurrent "
            "registrations took the next ones",
            hint="try again",
        )
    except BaseException:
        if manifest is None or _withdrawn(store, *manifest):
            _delete(store, written)
        raise


def _find(found: list[Version], vid: str) -> Version | None:
    return next((v for v in found if v.version == vid), None)


def _withdrawn(store: Storage, key: str, data: bytes) -> bool:
    """Whether no manifest ``key`` with this call's ``data`` is left (deleting it if there is one);
    False when the store cannot tell."""
    try:
        if store.exists(key) and store.read(key) == data:
            store.delete(key)
        return True
    except (DatasetError, OSError):
        return False


def _delete(store: Storage, keys: list[str]) -> None:
    for key in reversed(keys):
        try:
            store.delete(key)
        except (DatasetError, OSError):  # the store is down: the file stays, named by no manifest
            continue


def load_version(v: Version, storage: Storage | str | None = None) -> Dataset:
    store = _store(storage)
    with np.load(io.BytesIO(store.read(v.data_key())), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    extra = {}
    if v.split:
        with np.load(io.BytesIO(store.read(v.split_key())), allow_pickle=False) as npz:
            extra["split_indices"] = {k: npz[k] for k in npz.files}
    return Dataset(
        v.name,
        v.task,
        v.kind,
        arrays["x"],
        arrays["y"],
        classes=tuple(str(c) for c in arrays["classes"]),
        official_test=arrays.get("official_test"),
        source=v.source,
        version=v.version,
        split=v.split,
        pipeline=v.pipeline,
        extra=extra,
    )


def load(ref: str, *, storage: Storage | str | None = None, **builtin_options) -> Dataset:
    """A built-in (``digits``; options such as ``root=``, ``n=``) or a registered ``name[@version]``."""
    if catalog.is_builtin(ref):
        return catalog.load_builtin(ref, **builtin_options)
    if builtin_options:
        raise DatasetError(
            f"options apply to built-in datasets only; received {', '.join(builtin_options)} for {ref!r}"
        )
    store = _store(storage)
    return load_version(resolve(ref, store), store)


def delete(name: str, storage: Storage | str | None = None) -> int:
    """Delete every version and blob of ``name``; returns the number of objects removed."""
    return _store(storage).delete(_prefix(check_name(name)))


def _store(storage) -> Storage:
    return storage if storage is not None and not isinstance(storage, str) else open_storage(storage)


def _token() -> str:
    """Makes a file's key this registration's own (see ``_commit``)."""
    return secrets.token_hex(4)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
