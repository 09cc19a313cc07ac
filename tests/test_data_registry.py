"""Registration: metadata, content-hash versions, lineage, atomicity; local disk and S3."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neural_engine.data import registry
from neural_engine.data.splits import SplitSpec
from neural_engine.data.storage import LocalStorage, open_storage
from neural_engine.data.synthetic import regression
from neural_engine.errors import DatasetError
from tests.conftest import free_port, s3_environment
from tests.test_data_uploads import good_members, make_zip, png

FLIP = [{"type": "RandomHorizontalFlip", "params": {"p": 0.5}}]


@pytest.fixture
def store(tmp_path):
    return LocalStorage(tmp_path / "store")


@pytest.fixture
def pets(tmp_path):
    members = good_members(4, 4) | {"dog/broken.png": b"\x89PNG\r\n nope", "dog/wide.png": png(size=(8, 4))}
    return make_zip(tmp_path / "pets.zip", members)


def test_register_records_the_metadata(pets, store):
    v = registry.register(pets, "pets", storage=store, on_corrupt="skip")
    s = v.stats
    assert (v.number, v.parent, v.task, v.kind, v.classes) == (
        1,
        None,
        "classification",
        "image",
        ["cat", "dog"],
    )
    assert s["samples"] == 9 and s["class_distribution"] == {"cat": 4, "dog": 5}
    assert s["image_sizes"] == {"4x6": 8, "4x8": 1} and v.input_shape == [4, 6, 3]
    assert len(s["corrupt_files"]) == 1 and s["corrupt_files"][0].startswith("dog/broken.png")
    ds = registry.load("pets", storage=store)
    x = ds.x.reshape(-1, 3) / 255
    assert np.allclose(s["channel_mean"], x.mean(0), atol=1e-6) and np.allclose(
        s["channel_std"], x.std(0), atol=1e-6
    )
    assert ds.version == v.version and len(v.version) == 12
    manifest = json.loads(store.read("datasets/pets/versions/v1.json"))
    assert manifest["stats"] == s and manifest["data"] == ds.fingerprint()


def test_class_imbalance_is_warned(tmp_path, store):
    v = registry.register(make_zip(tmp_path / "u.zip", good_members(9, 2)), "unbalanced", storage=store)
    assert v.stats["warnings"] == ['class imbalance: "cat" has 9 samples, "dog" only 2 (4.5x; warns from 3x)']


def test_same_content_same_version_new_content_new_version(tmp_path, pets, store):
    v1 = registry.register(pets, "pets", storage=store, on_corrupt="skip")
    assert registry.register(pets, "pets", storage=store, on_corrupt="skip") == v1
    v2 = registry.register(make_zip(tmp_path / "more.zip", good_members(5, 4)), "pets", storage=store)
    assert v2.version != v1.version and (v2.number, v2.parent) == (2, v1.version)
    assert [v.number for v in registry.versions("pets", store)] == [1, 2]
    assert registry.resolve("pets", store) == v2 and registry.resolve("pets@v1", store) == v1
    assert registry.resolve(f"pets@{v1.version[:6]}", store) == v1
    assert registry.registered(store) == ["pets"]


def test_a_changed_split_or_pipeline_is_a_new_version_with_lineage(pets, store):
    v1 = registry.register(pets, "pets", storage=store, on_corrupt="skip")
    spec = SplitSpec((0.5, 0.25, 0.25), stratify=True, seed=3)
    v2 = registry.derive("pets", split=spec, storage=store)
    assert (
        v2.parent == v1.version
        and v2.data == v1.data
        and v2.split["counts"] == {"train": 5, "val": 2, "test": 2}
    )
    assert registry.derive("pets", split=spec, storage=store) == v2  # same split: same version
    v3 = registry.derive("pets", pipeline=FLIP, storage=store)
    assert (v3.parent, v3.split, v3.pipeline) == (v2.version, v2.split, FLIP)
    v4 = registry.derive("pets", split=SplitSpec(seed=4), storage=store)
    assert (
        v4.pipeline == FLIP
        and v4.split["seed"] == 4
        and len({v1.version, v2.version, v3.version, v4.version}) == 4
    )
    ds = registry.load(f"pets@{v3.version}", storage=store)
    assert ds.pipeline == FLIP and sum(len(i) for i in ds.extra["split_indices"].values()) == 9
    assert len(store.list("datasets/pets/blobs/")) == 3  # one data blob, two split blobs: data never copied


def test_pipeline_is_checked_before_a_version_is_made(pets, store):
    registry.register(pets, "pets", storage=store, on_corrupt="skip")
    with pytest.raises(DatasetError, match="operation #1: the operation type must be one of"):
        registry.derive("pets", pipeline=[{"type": "Flip"}], storage=store)
    assert len(registry.versions("pets", store)) == 1


def test_bad_upload_leaves_nothing(tmp_path, store):
    bad = make_zip(tmp_path / "bad.zip", good_members() | {"../evil.png": png()})
    with pytest.raises(DatasetError, match="zip-slip"):
        registry.register(bad, "pets", storage=store)
    assert store.list() == []


def test_failed_write_leaves_nothing(pets, store, monkeypatch):
    real = LocalStorage.create

    def fail_on_manifest(self, key, data):
        if "/versions/" in key:
            raise OSError("disk full")
        return real(self, key, data)

    monkeypatch.setattr(LocalStorage, "create", fail_on_manifest)
    with pytest.raises(OSError):
        registry.register(pets, "pets", storage=store, on_corrupt="skip")
    assert store.list() == [] and registry.registered(store) == []


def test_a_manifest_created_while_the_store_failed_to_answer_is_withdrawn(store, monkeypatch):
    real = LocalStorage.create

    def took_but_raised(self, key, data):
        real(self, key, data)
        raise OSError("connection reset")

    monkeypatch.setattr(LocalStorage, "create", took_but_raised)
    with pytest.raises(OSError, match="connection reset"):
        registry.register_dataset(regression(n=20), "toy", storage=store)
    assert store.list() == []


def test_an_overtaken_registration_takes_the_next_number_or_returns_the_same_content(store, monkeypatch):
    real, rival = LocalStorage.create, []

    def overtaken(self, key, data):  # another process registers `rival` just before this manifest
        if "/versions/" in key and rival:
            registry.register_dataset(rival.pop(), "toy", storage=store)
        return real(self, key, data)

    monkeypatch.setattr(LocalStorage, "create", overtaken)
    rival.append(regression(n=20, seed=1))
    mine = registry.register_dataset(regression(n=20, seed=0), "toy", storage=store)
    first = registry.resolve("toy@v1", store)
    assert (mine.number, mine.parent) == (2, first.version) and first.source == "synthetic (seed 1)"
    rival.append(regression(n=20, seed=2))
    same = registry.register_dataset(regression(n=20, seed=2), "toy", storage=store)
    assert same == registry.resolve("toy@v3", store) and len(registry.versions("toy", store)) == 3
    assert len(store.list("datasets/toy/blobs/")) == 3  # the overtaken copy of seed 2 was deleted
    assert registry.load("toy@v3", storage=store).source == "synthetic (seed 2)"


def test_versions_in_the_layout_before_numbered_manifests_still_load(store):
    v1 = registry.register_dataset(regression(n=20), "toy", storage=store)
    doc = json.loads(store.read("datasets/toy/versions/v1.json"))
    store.write(f"datasets/toy/blobs/{v1.data}.npz", store.read(v1.data_key()))
    store.delete(v1.data_key())
    store.delete("datasets/toy/versions/v1.json")
    del doc["data_file"], doc["split_file"]  # as older releases wrote it
    store.write(f"datasets/toy/versions/{v1.version}.json", json.dumps(doc).encode())
    assert len(registry.load("toy", storage=store)) == 20
    v2 = registry.derive("toy", split=SplitSpec(seed=1), storage=store)
    assert (v2.number, v2.parent) == (2, v1.version)
    assert registry.load("toy@v2", storage=store).extra["split_indices"]


def test_names_and_refs_are_checked(pets, store):
    with pytest.raises(DatasetError, match="must not take a built-in name"):
        registry.register(pets, "digits", storage=store)
    with pytest.raises(DatasetError, match="lowercase letters"):
        registry.register(pets, "My Pets", storage=store)
    with pytest.raises(DatasetError, match='"pest" must be a built-in or registered dataset'):
        registry.load("pest", storage=store)
    registry.register(pets, "pets", storage=store, on_corrupt="skip")
    with pytest.raises(DatasetError, match="must name one version"):
        registry.resolve("pets@v9", store)
    with pytest.raises(DatasetError, match="only registered datasets have versions"):
        registry.derive("digits", split=SplitSpec(), storage=store)


def test_builtins_load_through_the_registry(store):
    assert registry.load("digits", storage=store).input_shape == (8, 8, 1)
    with pytest.raises(DatasetError, match="options apply to built-in datasets only"):
        registry.load("pets", storage=store, n=3)


def test_register_on_s3_list_load_delete(s3, pets):
    v = registry.register(pets, "pets", storage=s3.uri, on_corrupt="skip")
    assert registry.registered(s3.uri) == ["pets"]
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert "store/datasets/pets/versions/v1.json" in keys and len(keys) == 2
    ds = registry.load("pets", storage=s3.uri)
    assert len(ds) == 9 and ds.version == v.version
    v2 = registry.derive("pets", split=SplitSpec(stratify=True), storage=s3.uri)
    assert (
        registry.load("pets", storage=s3.uri).extra["split_indices"]["train"].size
        == v2.split["counts"]["train"]
    )
    assert registry.delete("pets", s3.uri) == 4 and registry.registered(s3.uri) == []


def test_register_with_s3_down_is_a_clear_error(pets, monkeypatch, tmp_path):
    s3_environment(monkeypatch, f"http://127.0.0.1:{free_port()}", tmp_path)
    with pytest.raises(DatasetError, match="could not connect"):
        registry.register(pets, "pets", storage="s3://bucket/p", on_corrupt="skip")


def test_s3_failure_mid_registration_leaves_nothing(s3, pets, monkeypatch):
    from neural_engine.data.storage import S3Storage

    real = S3Storage.create

    def fail_on_manifest(self, key, data):
        if "/versions/" in key:
            raise DatasetError("creating: S3 went away")
        return real(self, key, data)

    monkeypatch.setattr(S3Storage, "create", fail_on_manifest)
    with pytest.raises(DatasetError, match="S3 went away"):
        registry.register(pets, "pets", storage=s3.uri, on_corrupt="skip")
    assert open_storage(s3.uri).list() == []
