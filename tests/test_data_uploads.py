"""Uploads: good ZIP/CSV/NPZ files read right; every bad input is a DatasetError that says why."""

from __future__ import annotations

import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from neural_engine.data.uploads import read_upload
from neural_engine.data.zipimages import UploadLimits
from neural_engine.errors import DatasetError

LIMITS = UploadLimits(max_bytes=50 << 20, max_uncompressed_bytes=200 << 20)


def png(color=(200, 10, 10), size=(6, 4), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else color[0]).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(path, members: dict, symlinks=(), dirs=()) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for d in dirs:
            zf.writestr(zipfile.ZipInfo(d.rstrip("/") + "/"), b"")
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    return str(path)


def good_members(n_cat=3, n_dog=2) -> dict:
    members = {f"cat/{i}.png": png((200, 10 * i, 10)) for i in range(n_cat)}
    members |= {f"dog/{i}.png": png((10, 10, 200 - i)) for i in range(n_dog)}
    return members


def read(path, **kw):
    return read_upload(path, "up", limits=kw.pop("limits", LIMITS), **kw)


# ---- good uploads ----


def test_zip_of_class_folders(tmp_path):
    members = good_members() | {
        "dog/big.png": png(size=(12, 8)),
        "__MACOSX/._x": b"junk",
        "cat/.DS_Store": b"x",
    }
    ds = read(make_zip(tmp_path / "pets.zip", members))
    assert ds.classes == ("cat", "dog") and ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.x.shape == (6, 4, 6, 3) and ds.input_shape == (4, 6, 3)  # resized to the most common 4x6
    assert ds.extra["image_sizes"] == {"4x6": 5, "8x12": 1} and ds.extra["corrupt_files"] == []
    assert tuple(ds.x[0, 0, 0]) == (200, 0, 10)


def test_zip_with_a_wrapping_folder_and_gray_images(tmp_path):
    members = {f"pets/{c}/{i}.png": png((40 * i,), mode="L") for c in ("a", "b") for i in range(2)}
    ds = read(make_zip(tmp_path / "p.zip", members), image_size=(3, 5))
    assert ds.classes == ("a", "b") and ds.x.shape == (4, 3, 5, 1)


def test_csv_with_text_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("f1,f2,species\n1,2.5,setosa\n3,4,virginica\n5,6,setosa\n")
    ds = read(path, label_column="species")
    assert ds.kind == "tabular" and ds.task == "classification" and ds.classes == ("setosa", "virginica")
    assert (
        ds.x.dtype == np.float32
        and ds.x.tolist() == [[1, 2.5], [3, 4], [5, 6]]
        and ds.y.tolist() == [0, 1, 0]
    )
    assert ds.extra["features"] == ["f1", "f2"]
    from neural_engine.data.stats import describe

    assert describe(ds)["features"] == ["f1", "f2"]  # registration records the names with the version


def test_csv_with_float_labels_is_regression(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,label\n1,0.5\n2,1.5\n")
    ds = read(path)
    assert ds.task == "regression" and ds.y.dtype == np.float32 and ds.classes == ()


def test_npz_images_channels_first_floats(tmp_path):
    path = tmp_path / "i.npz"
    np.savez(
        path,
        x=np.full((4, 3, 5, 5), 0.5, np.float32),
        y=np.array([2, 7, 2, 7]),
        classes=np.array(["two", "seven"]),
    )
    ds = read(path)
    assert (
        ds.kind == "image"
        and ds.x.shape == (4, 5, 5, 3)
        and ds.x.dtype == np.uint8
        and ds.x[0, 0, 0, 0] == 128
    )
    assert ds.y.tolist() == [0, 1, 0, 1] and ds.classes == ("two", "seven")


def test_npz_segmentation_masks(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=np.zeros((2, 8, 8), np.uint8), y=np.ones((2, 8, 8), np.int32))
    ds = read(path)
    assert ds.task == "segmentation" and ds.x.shape == (2, 8, 8, 1) and ds.classes == ("0", "1")


# ---- bad uploads: ZIP ----


def test_zip_slip_is_refused(tmp_path):
    path = make_zip(tmp_path / "z.zip", good_members() | {"cat/../../evil.png": png()})
    with pytest.raises(DatasetError, match=r"zip-slip.*evil\.png|evil\.png.*zip-slip"):
        read(path)


@pytest.mark.parametrize("name", ["/etc/cat/x.png", "C:/cat/x.png", "\\\\server\\cat\\x.png"])
def test_absolute_paths_are_refused(tmp_path, name):
    path = make_zip(tmp_path / "z.zip", good_members() | {name: png()})
    with pytest.raises(DatasetError, match="relative paths"):
        read(path)


def test_symlinks_are_refused(tmp_path):
    path = make_zip(
        tmp_path / "z.zip", good_members() | {"cat/link.png": b"/etc/passwd"}, symlinks={"cat/link.png"}
    )
    with pytest.raises(DatasetError, match="symlink 'cat/link.png'"):
        read(path)


def test_zip_bomb_by_ratio_is_refused(tmp_path):
    path = make_zip(tmp_path / "z.zip", good_members() | {"cat/zeros.png": bytes(8 << 20)})
    with pytest.raises(DatasetError, match="compress at most 200:1.*zip bomb"):
        read(path)


def test_zip_bomb_by_total_size_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    members = good_members() | {f"cat/noise{i}.png": rng.bytes(300_000) for i in range(4)}  # incompressible
    path = make_zip(tmp_path / "z.zip", members)
    with pytest.raises(DatasetError, match="at most 1.0 MiB uncompressed"):
        read(path, limits=UploadLimits(max_bytes=50 << 20, max_uncompressed_bytes=1 << 20))


def test_non_image_files_are_refused_by_name(tmp_path):
    path = make_zip(tmp_path / "z.zip", good_members() | {"dog/notes.txt": b"hello"})
    with pytest.raises(DatasetError, match="only images.*dog/notes.txt"):
        read(path)


def test_corrupt_images_are_rejected_by_name(tmp_path):
    members = good_members() | {"cat/broken.png": png()[:40], "dog/fake.jpg": b"not a jpeg"}
    with pytest.raises(DatasetError, match="2 corrupt: cat/broken.png .*dog/fake.jpg") as err:
        read(make_zip(tmp_path / "z.zip", members))
    assert "skip" in err.value.hint


def test_corrupt_images_can_be_skipped_and_are_reported(tmp_path):
    members = good_members() | {"cat/broken.png": png()[:40]}
    ds = read(make_zip(tmp_path / "z.zip", members), on_corrupt="skip")
    assert (
        len(ds) == 5
        and len(ds.extra["corrupt_files"]) == 1
        and ds.extra["corrupt_files"][0].startswith("cat/broken.png")
    )


def test_empty_class_folders_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="empty classes: bird"):
        read(make_zip(tmp_path / "z.zip", good_members(), dirs=["bird/"]))


def test_a_class_left_empty_by_skipping_is_refused(tmp_path):
    members = good_members() | {"fish/bad.png": b"\x89PNG broken"}
    with pytest.raises(DatasetError, match="empty classes: fish .after skipping corrupt"):
        read(make_zip(tmp_path / "z.zip", members), on_corrupt="skip")


def test_files_outside_class_folders_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="outside them: loose.png"):
        read(make_zip(tmp_path / "z.zip", good_members() | {"loose.png": png()}))


def test_one_class_is_not_a_classification_upload(tmp_path):
    with pytest.raises(DatasetError, match="at least 2 class folders"):
        read(make_zip(tmp_path / "z.zip", {"cat/1.png": png()}))


def test_not_a_zip(tmp_path):
    path = tmp_path / "z.zip"
    path.write_bytes(b"PK not really")
    with pytest.raises(DatasetError, match="must be a ZIP archive"):
        read(path)


def test_images_over_the_pixel_limit_are_corrupt(tmp_path):
    members = good_members() | {"cat/huge.png": png(size=(300, 300))}
    limits = UploadLimits(max_bytes=50 << 20, max_uncompressed_bytes=200 << 20, max_image_pixels=10_000)
    with pytest.raises(DatasetError, match=r"cat/huge.png \(300x300 is over 10,000 pixels\)"):
        read(make_zip(tmp_path / "z.zip", members), limits=limits)


# ---- bad uploads: size, format, CSV, NPZ ----


def test_files_over_the_configured_size_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALFORGE_MAX_UPLOAD_MB", "0.001")  # 1,048 bytes
    path = tmp_path / "big.npz"
    np.savez(path, x=np.zeros((100, 4)), y=np.zeros(100))
    with pytest.raises(DatasetError, match="at most 1,048 bytes; big.npz is 4,[0-9]+ bytes") as err:
        read_upload(path, "big")
    assert "NEURALFORGE_MAX_UPLOAD_MB" in err.value.hint


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "x.txt").write_text("1,2")
    with pytest.raises(DatasetError, match="one of .zip, .csv, .npz; received x.txt"):
        read(tmp_path / "x.txt")
    with pytest.raises(DatasetError, match="existing file"):
        read(tmp_path / "missing.zip")
    with pytest.raises(DatasetError, match='on_corrupt must be "reject" or "skip"'):
        read(tmp_path / "x.txt", on_corrupt="ignore")


CSV_CASES = [  # (text, options, expected message)
    ("a,b\n1,2\n", {}, 'must have the label column "label"; its columns are a, b'),
    ("a,b\n1,2\n", {"label_column": "target"}, 'label column "target"'),
    ("a,label\n", {}, "at least one row"),
    ("label\n1\n2\n", {}, "feature columns besides"),
    ("name,label\nx,1\ny,0\n", {}, "must be numeric; in t.csv these are not: name"),
    ("a,label\n1,\n2,1\n", {}, "no missing values; t.csv has some in label"),
    ("", {}, "must be a CSV table"),
]


@pytest.mark.parametrize("text,options,message", CSV_CASES)
def test_bad_csv(tmp_path, text, options, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(path, **options)


NPZ_CASES = [  # (arrays, expected message)
    (
        {"x": np.zeros((5, 3)), "y": np.zeros(4)},
        r"same number of samples; n.npz has x of shape \(5, 3\) and y of shape \(4,\)",
    ),
    ({"x": np.zeros((5, 3))}, "arrays named x and y; n.npz holds x"),
    ({"x": np.zeros((0, 3)), "y": np.zeros(0)}, "at least one sample"),
    ({"x": np.array([[1.0, np.nan]]), "y": np.zeros(1)}, "finite numbers"),
    ({"x": np.full((2, 4, 4), 300.0), "y": np.zeros(2, int)}, r"uint8 \(0-255\) or floats in \[0, 1\]"),
    ({"x": np.zeros((2, 5, 5, 7)), "y": np.zeros(2, int)}, "1, 3 or 4 channels"),
    ({"x": np.zeros((2, 3)), "y": np.zeros((2, 2))}, r"one label per sample \(N,\)"),
    ({"x": np.zeros((2, 3)), "y": np.array([0, 1]), "classes": np.array(["a", "b", "c"])}, "names 3"),
    ({"x": np.array(["a", "b"]), "y": np.zeros(2)}, "numeric arrays"),
]


@pytest.mark.parametrize("arrays,message", NPZ_CASES)
def test_bad_npz(tmp_path, arrays, message):
    path = tmp_path / "n.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=message):
        read(path)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "n.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(DatasetError, match="no pickled objects"):
        read(path)
