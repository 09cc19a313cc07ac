"""Where datasets live: one small key/value interface, a local directory or an S3 prefix.

Keys are ``/``-separated relative paths (``datasets/pets/versions/ab12.json``). Every write is
atomic per object (local: a temporary file renamed into place; S3: ``put_object``), and callers
that write several objects commit with a manifest written last (see ``registry``).

>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> s = open_storage(tmp.name)
>>> s.write("a/b.txt", b"hi"); s.read("a/b.txt"), s.list("a/")
(b'hi', ['a/b.txt'])
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from neural_engine.errors import DatasetError
from neural_engine.settings import Settings
from neural_engine.settings import settings as current_settings


class Storage(Protocol):
    uri: str

    def write(self, key: str, data: bytes) -> None: ...
    def create(self, key: str, data: bytes) -> bool: ...  # write only if absent; False if it exists
    def read(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def sizes(self, prefix: str = "") -> dict[str, int]: ...
    def delete(self, prefix: str) -> int: ...
    def fetch(self, key: str, dest: Path) -> Path: ...


def open_storage(uri: str | None = None, settings: Settings | None = None) -> Storage:
    """The storage for ``uri`` (a directory, ``file://DIR`` or ``s3://bucket/prefix``); default: settings."""
    settings = settings or current_settings()
    uri = str(uri or settings.storage)
    if uri.startswith("s3://"):
        return S3Storage(uri, endpoint_url=settings.s3_endpoint_url)
    if "://" in uri and not uri.startswith("file://"):
        raise DatasetError(
            f"a storage URI must be a local directory or s3://bucket/prefix; received {uri!r}",
            hint="e.g. --storage ./store or --storage s3://my-bucket/neuralforge",
        )
    return LocalStorage(uri.removeprefix("file://"))


def check_key(key: str) -> str:
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or ".." in parts or "\\" in key:
        raise DatasetError(f"a storage key must be a relative path without '..'; received {key!r}")
    return key


class LocalStorage:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def write(self, key: str, data: bytes) -> None:
        self._put(key, data, os.replace)

    def create(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if it does not exist (a hard link is atomic and exclusive)."""
        try:
            self._put(key, data, os.link)
        except FileExistsError:
            return False
        return True

    def _put(self, key: str, data: bytes, publish) -> None:
        """Write ``data`` to a temporary file beside ``key``, then ``publish(tmp, path)`` it."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            publish(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)  # gone already after os.replace

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise DatasetError(f"{key} must exist in {self.uri}; it does not") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        return sorted(self.sizes(prefix))

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Size in bytes of every key starting with ``prefix`` (temporary dot-files left out)."""
        if prefix:
            check_key(prefix)
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return {}
        files = ((p.relative_to(self.root).as_posix(), p) for p in base.rglob("*") if p.is_file())
        return {
            k: p.stat().st_size
            for k, p in files
            if k.startswith(prefix) and not k.rsplit("/", 1)[-1].startswith(".")
        }

    def delete(self, prefix: str) -> int:
        """Delete ``prefix`` (a key, or a folder when it ends with ``/``); returns objects removed."""
        keys = self.list(prefix) if prefix.endswith("/") else [k for k in self.list(prefix) if k == prefix]
        for k in keys:
            self._path(k).unlink(missing_ok=True)
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else None
        if folder is not None and folder.is_dir() and prefix.endswith("/"):
            shutil.rmtree(folder, ignore_errors=True)
        return len(keys)

    def fetch(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), dest)
        return dest


class S3Storage:
    """``s3://bucket/prefix`` through boto3; ``endpoint_url`` for S3-compatible stores (MinIO, moto)."""

    def __init__(self, uri: str, endpoint_url: str | None = None):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise DatasetError(f"an S3 URI must name a bucket, s3://bucket/prefix; received {uri!r}")
        self.uri, self.bucket, self.prefix = uri.rstrip("/"), bucket, prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                s3={"addressing_style": "path"} if self.endpoint_url else {},
            )
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=config)
        return self._client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn, *args, **kwargs):
        """Run one boto3 call; connection, credential and S3 errors become DatasetErrors."""
        import botocore.exceptions as bx

        try:
            return fn(*args, **kwargs)
        except bx.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "?")
            if code in ("404", "NoSuchKey"):
                raise DatasetError(f"{what}: the object must exist in {self.uri}; it does not") from None
            raise DatasetError(
                f"{what} in {self.uri} must succeed; S3 answered {code}: "
                f"{e.response.get('Error', {}).get('Message', '')}",
                hint="check the bucket exists and the credentials may use it",
            ) from None
        except bx.NoCredentialsError:
            raise DatasetError(
                f"{what} needs AWS credentials for {self.uri}; none were found",
                hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile",
            ) from None
        except (
            bx.EndpointConnectionError,
            bx.ConnectionClosedError,
            bx.ReadTimeoutError,
            bx.ConnectTimeoutError,
        ) as e:
            raise DatasetError(
                f"{what} needs a reachable S3 endpoint for {self.uri}; could not connect "
                f"to {self.endpoint_url or 'AWS'} ({type(e).__name__})",
                hint="start the S3 server or fix NEURALFORGE_S3_ENDPOINT_URL",
            ) from None

    def write(self, key: str, data: bytes) -> None:
        self._call(
            f"writing {key}", self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data
        )

    def create(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if it does not exist (S3 conditional write, ``If-None-Match: *``)."""
        return self._call(f"creating {key}", self._put_if_absent, key, data)

    def _put_if_absent(self, key: str, data: bytes) -> bool:
        import botocore.exceptions as bx

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except bx.ClientError as e:
            if e.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "412",
                "ConditionalRequestConflict",
            ):
                return False
            raise
        return True

    def read(self, key: str) -> bytes:
        obj = self._call(f"reading {key}", self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        return self._call(f"reading {key}", obj["Body"].read)

    def exists(self, key: str) -> bool:
        return key in self.list(key)

    def list(self, prefix: str = "") -> list[str]:
        return sorted(self.sizes(prefix))

    def sizes(self, prefix: str = "") -> dict[str, int]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
        return {
            o["Key"][strip:]: o["Size"]
            for page in self._call(f"listing {prefix or '/'}", list, pages)
            for o in page.get("Contents", [])
        }

    def delete(self, prefix: str) -> int:
        keys = self.list(prefix) if prefix.endswith("/") else [k for k in self.list(prefix) if k == prefix]
        for i in range(0, len(keys), 1000):
            chunk = [{"Key": self._key(k)} for k in keys[i : i + 1000]]
            self._call(
                f"deleting {prefix}",
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": chunk, "Quiet": True},
            )
        return len(keys)

    def fetch(self, key: str, dest: Path) -> Path:
        """Download ``key`` to ``dest`` (through a temporary file, so a cut transfer leaves nothing)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            self._call(f"downloading {key}", self.client.download_file, self.bucket, self._key(key), str(tmp))
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest
