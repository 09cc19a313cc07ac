"""The torchvision readers on small files in the real formats, from a directory and from S3.

MNIST/Fashion-MNIST: IDX files (big-endian header, uint8 payload), raw or gzipped, under
``<root>/MNIST/raw``. CIFAR: pickled batches (``data`` uint8 (N, 3072), ``labels``) under
``cifar-10-batches-py``, or the tar.gz archive. Nothing here fakes a reader.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile

import numpy as np
import pytest

from neural_engine.data.catalog import CIFAR10, load_builtin
from neural_engine.data.storage import open_storage
from neural_engine.errors import DatasetError

RNG = np.random.default_rng(0)
MNIST_TRAIN = (RNG.integers(0, 256, (12, 28, 28), dtype=np.uint8), RNG.integers(0, 10, 12).astype(np.uint8))
MNIST_TEST = (RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8), RNG.integers(0, 10, 5).astype(np.uint8))


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX: zero, zero, type 0x08 (ubyte), rank; then each dimension as big-endian int32; then the data."""
    return (
        struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.tobytes()
    )


def write_mnist(root, folder="MNIST", gz=True) -> None:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, (images, labels) in (("train", MNIST_TRAIN), ("t10k", MNIST_TEST)):
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(arr)))
            else:
                (raw / name).write_bytes(idx_bytes(arr))


def cifar_batches(n_per_batch=4, classes=10, label_key="labels"):
    rng = np.random.default_rng(1)
    return [
        {
            "data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
            label_key: rng.integers(0, classes, n_per_batch).tolist(),
        }
        for _ in range(6)
    ]


def write_cifar10(root, batches) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, batch in zip([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], batches):
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CIFAR10)}))


def expected_cifar(batches):
    x = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.concatenate([b["labels"] for b in batches])


def check_mnist(ds) -> None:
    x = np.concatenate([MNIST_TRAIN[0], MNIST_TEST[0]])[..., None]
    assert ds.x.shape == (17, 28, 28, 1) and ds.x.dtype == np.uint8
    assert np.array_equal(ds.x, x)
    assert np.array_equal(ds.y, np.concatenate([MNIST_TRAIN[1], MNIST_TEST[1]]))
    assert ds.official_test.tolist() == list(range(12, 17)) and ds.num_classes == 10


def test_mnist_from_gzipped_idx_files(tmp_path, nf_home):
    write_mnist(tmp_path)
    check_mnist(load_builtin("mnist", root=tmp_path))


def test_fashion_mnist_from_raw_idx_files(tmp_path, nf_home):
    write_mnist(tmp_path, folder="FashionMNIST", gz=False)
    ds = load_builtin("fashion_mnist", root=str(tmp_path))
    assert ds.classes[0] == "T-shirt/top" and len(ds) == 17


def test_mnist_from_s3(s3, tmp_path):
    write_mnist(tmp_path / "local")
    store = open_storage(s3.uri)
    for f in (tmp_path / "local").rglob("*.gz"):
        store.write(f.relative_to(tmp_path / "local").as_posix(), f.read_bytes())
    store.write("MNIST/raw/README.txt", b"not needed: not downloaded")
    check_mnist(load_builtin("mnist", root=s3.uri))
    cache = next((tmp_path / "home" / "cache" / "s3").rglob("raw"))
    assert not (cache / "README.txt").exists()
    check_mnist(load_builtin("mnist", root=s3.uri))  # the second load reads the cache


def test_cifar10_pickle_batches(tmp_path, nf_home):
    batches = cifar_batches()
    write_cifar10(tmp_path, batches)
    ds = load_builtin("cifar10", root=tmp_path, verify=False)
    x, y = expected_cifar(batches)
    assert ds.input_shape == (32, 32, 3) and np.array_equal(ds.x, x) and np.array_equal(ds.y, y)
    assert ds.classes == CIFAR10 and ds.official_test.tolist() == list(range(20, 24))


def test_cifar10_checks_the_official_md5_by_default(tmp_path, nf_home):
    write_cifar10(tmp_path, cifar_batches())
    with pytest.raises(DatasetError, match="torchvision refused them") as err:
        load_builtin("cifar10", root=tmp_path)
    assert "verify=False" in err.value.hint


def test_cifar10_from_the_tar_archive(tmp_path, nf_home):
    batches = cifar_batches()
    write_cifar10(tmp_path / "src", batches)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    ds = load_builtin("cifar10", root=tmp_path, verify=False)
    assert np.array_equal(ds.x, expected_cifar(batches)[0])


def test_cifar10_from_s3(s3, tmp_path):
    batches = cifar_batches()
    write_cifar10(tmp_path / "local", batches)
    store = open_storage(s3.uri + "/mirror")
    for f in (tmp_path / "local" / "cifar-10-batches-py").iterdir():
        store.write(f"cifar-10-batches-py/{f.name}", f.read_bytes())
    ds = load_builtin("cifar10", root=f"{s3.uri}/mirror", verify=False)
    assert np.array_equal(ds.x, expected_cifar(batches)[0])


def test_cifar100_fine_labels(tmp_path, nf_home):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    batches = cifar_batches(6, 100, "fine_labels")
    (folder / "train").write_bytes(pickle.dumps(batches[0]))
    (folder / "test").write_bytes(pickle.dumps(batches[1]))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    ds = load_builtin("cifar100", root=tmp_path, verify=False)
    assert (
        len(ds) == 12
        and ds.num_classes == 100
        and ds.y.tolist() == batches[0]["fine_labels"] + batches[1]["fine_labels"]
    )


def test_missing_files_say_where_to_put_them(tmp_path, nf_home):
    with pytest.raises(DatasetError) as err:
        load_builtin("mnist", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "train-images-idx3-ubyte" in msg and "missing" in msg
    assert "download" in err.value.hint and "s3://" in err.value.hint
    with pytest.raises(DatasetError, match=str(nf_home / "datasets" / "raw")):
        load_builtin("cifar10")  # default root: <home>/datasets/raw


def test_corrupt_idx_file_is_a_dataset_error(tmp_path, nf_home):
    write_mnist(tmp_path, gz=False)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DatasetError, match="standard format|refused"):
        load_builtin("mnist", root=tmp_path)


def test_s3_root_with_the_server_down(monkeypatch, tmp_path):
    from tests.conftest import free_port, s3_environment

    s3_environment(monkeypatch, f"http://127.0.0.1:{free_port()}", tmp_path)
    with pytest.raises(DatasetError, match="could not connect"):
        load_builtin("mnist", root="s3://bucket/mnist")


def test_s3_root_without_the_files_names_the_s3_place(s3):
    with pytest.raises(DatasetError, match=f"needs its files in {s3.uri}/cifar-10-batches-py: .*missing"):
        load_builtin("cifar10", root=s3.uri, verify=False)
