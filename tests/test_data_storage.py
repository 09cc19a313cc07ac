"""Storage: a local directory and a real S3 server (moto, loopback) behind one interface."""

from __future__ import annotations

import pytest

from neural_engine.data.storage import LocalStorage, S3Storage, open_storage
from neural_engine.errors import DatasetError
from neural_engine.settings import Settings
from tests.conftest import free_port, s3_environment


def exercise(store) -> None:
    """Upload, list, read back, overwrite, fetch, delete: the same for every backend."""
    store.write("datasets/a/one.bin", b"\x00\x01")
    store.write("datasets/a/sub/two.json", b"{}")
    store.write("datasets/b/three.txt", b"3")
    assert store.list("datasets/a/") == ["datasets/a/one.bin", "datasets/a/sub/two.json"]
    assert store.sizes("datasets/b/") == {"datasets/b/three.txt": 1}
    assert store.read("datasets/a/one.bin") == b"\x00\x01"
    store.write("datasets/a/one.bin", b"new")
    assert store.read("datasets/a/one.bin") == b"new" and store.exists("datasets/a/one.bin")
    assert not store.exists("datasets/a/one")  # a prefix of a key is not a key
    assert store.delete("datasets/a/") == 2
    assert store.list("datasets/") == ["datasets/b/three.txt"]
    with pytest.raises(DatasetError, match="must exist"):
        store.read("datasets/a/one.bin")
    store.write("datasets/b/three.txt.bak", b"3")
    assert store.delete("datasets/b/three.txt") == 1 and store.list() == ["datasets/b/three.txt.bak"]
    assert store.delete("datasets/") == 1 and store.list() == []
    assert store.create("once/v1.json", b"first") and not store.create("once/v1.json", b"second")
    assert store.read("once/v1.json") == b"first" and store.list() == ["once/v1.json"]
    assert store.delete("once/") == 1


def test_local_storage(tmp_path):
    store = open_storage(str(tmp_path / "store"))
    assert isinstance(store, LocalStorage)
    exercise(store)
    store.write("x/y.bin", b"data")
    got = store.fetch("x/y.bin", tmp_path / "copy" / "y.bin")
    assert got.read_bytes() == b"data"
    assert not [p for p in (tmp_path / "store").rglob("*") if p.name.endswith(".tmp")]


def test_local_write_is_atomic(tmp_path, monkeypatch):
    store = LocalStorage(tmp_path)
    store.write("k.bin", b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("neural_engine.data.storage.os.replace", broken_replace)
    with pytest.raises(OSError):
        store.write("k.bin", b"new")
    assert store.read("k.bin") == b"old" and [p.name for p in tmp_path.iterdir()] == ["k.bin"]


@pytest.mark.parametrize("key", ["../escape", "/abs/key", "a/../../b", "a\\b", ""])
def test_keys_stay_inside_the_store(tmp_path, key):
    with pytest.raises(DatasetError, match="relative path"):
        LocalStorage(tmp_path).write(key, b"")


def test_storage_uri_must_be_a_directory_or_s3():
    with pytest.raises(DatasetError, match="local directory or s3://"):
        open_storage("gs://bucket/x")
    with pytest.raises(DatasetError, match="name a bucket"):
        open_storage("s3:///prefix")


def test_default_storage_is_the_home(nf_home):
    assert open_storage().uri == str(nf_home)


def test_s3_storage_round_trip(s3, tmp_path):
    store = open_storage(s3.uri)  # endpoint from NEURALFORGE_S3_ENDPOINT_URL
    assert isinstance(store, S3Storage) and store.endpoint_url == s3.endpoint
    exercise(store)
    store.write("big/blob.bin", bytes(range(256)) * 4096)
    assert store.fetch("big/blob.bin", tmp_path / "blob.bin").read_bytes() == bytes(range(256)) * 4096
    # the prefix keeps this store's keys apart from the rest of the bucket
    listed = s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["store/big/blob.bin"]


def test_s3_missing_bucket_is_a_clear_error(s3):
    store = S3Storage(f"s3://{s3.bucket}-missing/p", endpoint_url=s3.endpoint)
    with pytest.raises(DatasetError, match="NoSuchBucket") as err:
        store.write("a.bin", b"1")
    assert err.value.hint and "bucket" in err.value.hint


def test_s3_server_down_is_a_clear_error(monkeypatch, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s3_environment(monkeypatch, dead, tmp_path)
    store = open_storage("s3://bucket/prefix", Settings.from_env())
    for call in (
        lambda: store.write("a", b"1"),
        lambda: store.read("a"),
        lambda: store.list(""),
        lambda: store.delete("a/"),
        lambda: store.fetch("a", tmp_path / "a"),
    ):
        with pytest.raises(DatasetError, match="could not connect") as err:
            call()
        assert err.value.__cause__ is None and err.value.__suppress_context__  # no botocore traceback
        assert "S3 server" in err.value.hint
    assert not (tmp_path / "a").exists()
