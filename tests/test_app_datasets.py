"""The Datasets page in AppTest: statistics, chart and gallery from the engine; uploads of real
NPZ, CSV and ZIP files through the page's file uploader; refused uploads store nothing; the split
editor matches ``split_indices``; the augmentation builder's preview and its error messages."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app import datasets_view as view
from neural_engine.data.catalog import load_builtin
from neural_engine.data.registry import registered, versions
from neural_engine.data.splits import SplitSpec, split_indices

PAGE = str(Path(__file__).resolve().parents[1] / "app" / "app_pages" / "datasets.py")


@pytest.fixture
def page(tmp_path, monkeypatch):
    """The page, not yet run: ``run(page)`` opens the Overview, ``tab(page, name)`` another tab first."""
    monkeypatch.setenv("NEURALFORGE_HOME", str(tmp_path))
    return AppTest.from_file(PAGE, default_timeout=90)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tab(at: AppTest, name: str) -> AppTest:
    at.session_state["datasets_tab"] = name
    return run(at)


def by_label(widgets, label: str):
    hits = [w for w in widgets if w.label == label]
    assert len(hits) == 1, (label, [w.label for w in widgets])
    return hits[0]


def click(at: AppTest, label: str) -> AppTest:
    by_label(at.button, label).click()
    return run(at)


def stored_files(home: Path) -> dict[str, bytes]:
    return {
        p.relative_to(home).as_posix(): p.read_bytes()
        for p in home.rglob("*")
        if p.is_file() and "datasets" in p.parts
    }


def chart_rows(chart) -> dict:
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pydict()


def png(color: int, size=(6, 5)) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, color).save(buf, format="PNG")
    return buf.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def npz_of(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def upload(at: AppTest, filename: str, data: bytes, name: str, **texts) -> AppTest:
    tab(at, "Upload")
    at.file_uploader(key="datasets_upload").set_value((filename, data, "application/octet-stream"))
    run(at)
    by_label(at.text_input, "Dataset name").set_value(name)
    for label, value in texts.items():
        by_label(at.text_input, label).set_value(value)
    return click(at, "Check and register")


# ---- Overview ----


def test_digits_overview_shows_the_engines_statistics_chart_and_labelled_samples(page):
    from neural_engine.data.stats import describe

    stats = describe(load_builtin("digits"))
    run(page)
    assert not page.error
    metrics = {m.label: m.value for m in page.metric}
    assert metrics == {
        "Samples": "1,797",
        "Task": "classification",
        "Input shape": "(8, 8, 1)",
        "Classes": "10",
    }
    (chart,) = page.get("vega_lite_chart")
    rows = chart_rows(chart)
    assert dict(zip(rows["class"], rows["samples"])) == stats["class_distribution"]
    channel = page.dataframe[1].value  # [0] is the catalog
    assert (
        channel["mean"].tolist() == stats["channel_mean"] and channel["std"].tolist() == stats["channel_std"]
    )
    (gallery,) = page.image
    y = load_builtin("digits").y
    captions = gallery.captions
    assert len(captions) == 20 and {c.split(" · ")[1] for c in captions} == set("0123456789")
    for caption in captions:  # every picture is labelled with its own class
        index, label = caption.removeprefix("#").split(" · ")
        assert str(y[int(index)]) == label


def test_catalog_lists_builtins_and_a_missing_builtin_is_a_message_with_where_to_put_files(page):
    run(page)
    names = page.dataframe[0].value["name"].tolist()
    assert names[:3] == ["digits", "mnist", "fashion_mnist"]
    by_label(page.selectbox, "Dataset").set_value("mnist")
    run(page)
    assert any("MNIST" in e.value and "Hint:" in e.value for e in page.error), [e.value for e in page.error]
    assert not page.get("vega_lite_chart")


def test_imbalance_warning_from_the_engines_stats_is_shown(page, tmp_path):
    x = np.zeros((8, 4, 4), np.uint8)
    upload(page, "skewed.npz", npz_of(x=x, y=np.array([0] * 7 + [1])), "skewed")
    tab(page, "Overview")
    assert any('class imbalance: "0" has 7 samples, "1" only 1' in w.value for w in page.warning)


@pytest.mark.parametrize(
    "name, shown",
    [
        ("shapes_segmentation", "pixels"),  # pixel distribution; images and their masks
        ("sequence_classification", "samples"),  # class distribution; token rows
        ("regression", None),  # target mean/std; feature rows
    ],
)
def test_other_builtins_render_their_own_statistics_and_samples(page, name, shown):
    run(page)
    by_label(page.selectbox, "Dataset").set_value(name)
    run(page)
    assert not page.error, [e.value for e in page.error]
    charts = page.get("vega_lite_chart")
    assert (chart_rows(charts[0]).keys() == {"class", shown}) if shown else not charts
    if name == "shapes_segmentation":
        first, second = page.image[0].captions[:2]  # each image, then its mask
        assert first.endswith(" image") and second == first.replace(" image", " mask")
    else:
        rows = page.dataframe[-1].value
        assert len(rows) == 20 and rows.columns[-1] == "label"
    if name == "regression":
        assert any(m.value.startswith("**Target** mean") for m in page.markdown)


# ---- Upload ----


def test_npz_upload_registers_a_version_and_a_second_upload_makes_v2_with_its_parent(page, tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (12, 6, 6), dtype=np.uint8), np.arange(12) % 3
    upload(page, "toy.npz", npz_of(x=x, y=y), "toy")
    assert not page.error, [e.value for e in page.error]
    (v1,) = versions("toy", str(tmp_path))
    assert v1.stats["samples"] == 12 and v1.kind == "image" and v1.input_shape == [6, 6, 1]
    assert any(f"Registered toy v1 ({v1.version}): 12 samples" in s.value for s in page.success)
    assert page.session_state["dataset_ref"] == f"toy@{v1.version}"  # the page now shows the new version
    assert "toy" in page.dataframe[0].value["name"].tolist()

    upload(page, "toy.npz", npz_of(x=x[:9], y=y[:9]), "toy")
    first, v2 = versions("toy", str(tmp_path))
    assert first == v1 and v2.number == 2 and v2.parent == v1.version and v2.stats["samples"] == 9
    assert any(
        f"toy v2 ({v2.version})" in s.value and f"parent {v1.version}" in s.value for s in page.success
    )


def test_csv_upload_with_another_label_column(page, tmp_path):
    csv = "f1,f2,species\n" + "".join(f"{i},{i * 0.5},{'ab'[i % 2]}\n" for i in range(10))
    upload(page, "Iris Lite.csv", csv.encode(), "iris-lite", **{"Label column": "species"})
    assert not page.error, [e.value for e in page.error]
    (v,) = versions("iris-lite", str(tmp_path))
    assert (v.kind, v.task, v.classes, v.stats["samples"]) == ("tabular", "classification", ["a", "b"], 10)
    tab(page, "Overview")
    table = page.dataframe[-1].value  # the sample rows, with class names
    assert table.columns.tolist() == ["f1", "f2", "label"] and table["label"].tolist()[:2] == ["a", "b"]


def test_zip_of_pngs_upload_becomes_an_image_dataset(page, tmp_path):
    members = {
        f"pets/{cls}/{i}.png": png(40 * i + (100 if cls == "dog" else 0))
        for cls in ("cat", "dog")
        for i in range(3)
    }
    upload(page, "pets.zip", zip_of(members), "pets")
    assert not page.error, [e.value for e in page.error]
    (v,) = versions("pets", str(tmp_path))
    assert (v.classes, v.input_shape, v.stats["samples"]) == (["cat", "dog"], [5, 6, 1], 6)
    tab(page, "Overview")
    assert {c.split(" · ")[1] for c in page.image[0].captions} == {"cat", "dog"}


@pytest.mark.parametrize(
    "bad, expected",
    [
        (
            zip_of(
                {"cat/1.png": png(10), "cat/2.png": b"\x89PNG\r\n\x1a\nnot really", "dog/1.png": png(200)}
            ),
            "every image must decode; pets.zip has 1 corrupt: cat/2.png (",
        ),
        (zip_of({"cat/1.png": png(10), "dog/1.png": png(200)})[:-30], "pets.zip must be a ZIP archive"),
    ],
)
def test_a_corrupt_zip_is_an_error_and_stores_nothing(page, tmp_path, bad, expected):
    good = zip_of({"cat/1.png": png(10), "dog/1.png": png(200)})
    upload(page, "pets.zip", good, "pets")
    before = stored_files(tmp_path)
    assert [v.number for v in versions("pets", str(tmp_path))] == [1] and before

    upload(page, "pets.zip", bad, "pets")  # a new version of an existing dataset: refused
    assert any(expected in e.value for e in page.error), [e.value for e in page.error]
    if "decode" in expected:  # the engine's hint comes with its message
        assert any("Hint: fix or remove them" in e.value for e in page.error)
    assert stored_files(tmp_path) == before and [v.number for v in versions("pets", str(tmp_path))] == [1]
    upload(page, "pets.zip", bad, "fresh")  # a new dataset: refused, not half-registered
    assert any(expected in e.value for e in page.error)
    assert registered(str(tmp_path)) == ["pets"] and stored_files(tmp_path) == before
    assert not any("Registered" in s.value for s in page.success)


def test_skipping_corrupt_images_registers_the_rest_and_lists_them(page, tmp_path):
    tab(page, "Upload")
    bad = zip_of({"cat/1.png": png(10), "cat/2.png": b"broken", "dog/1.png": png(200)})
    page.file_uploader(key="datasets_upload").set_value(("pets.zip", bad, "application/zip"))
    run(page)
    by_label(page.radio, "Corrupt images").set_value("skip them")
    click(page, "Check and register")
    (v,) = versions("pets", str(tmp_path))
    assert v.stats["samples"] == 2 and v.stats["corrupt_files"][0].startswith("cat/2.png")
    assert any("Warning: 1 corrupt image(s) skipped" in s.value for s in page.success)
    tab(page, "Overview")
    assert any("cat/2.png" in c.value for c in page.code)


def test_a_bad_name_is_a_message_before_the_file_is_read(page, tmp_path):
    upload(page, "toy.npz", npz_of(x=np.zeros((2, 3)), y=np.array([0, 1])), "Digits!")
    assert any("a dataset name must be lowercase letters" in e.value for e in page.error)
    assert registered(str(tmp_path)) == []


# ---- Split ----


def test_split_editor_matches_the_engines_stratified_split_and_split_and_pipeline_save_as_versions(
    page, tmp_path
):
    click(run(page), "Register a copy")  # digits → my-digits v1, now shown
    (v1,) = versions("my-digits", str(tmp_path))
    assert page.session_state["dataset_ref"] == f"my-digits@{v1.version}"
    tab(page, "Split")
    for label, value in (("Train %", 60.0), ("Val %", 20.0), ("Test %", 20.0), ("Seed", 3)):
        by_label(page.number_input, label).set_value(value)
    by_label(page.checkbox, "Stratify").check()
    run(page)
    assert not page.error, [e.value for e in page.error]
    y = load_builtin("digits").y
    parts = split_indices(y, SplitSpec((0.6, 0.2, 0.2), stratify=True, seed=3))
    table = page.dataframe[-1].value
    for c in range(10):
        row = table[table["class"] == str(c)].iloc[0]
        for part in ("train", "val", "test"):
            assert row[part] == int((y[parts[part]] == c).sum())
            assert abs(row[part] - row["total"] * {"train": 0.6, "val": 0.2, "test": 0.2}[part]) < 1
    assert {m.label: m.value for m in page.metric} == {k: f"{len(v):,}" for k, v in parts.items()}

    click(page, "Save this split as a new version")
    v2 = versions("my-digits", str(tmp_path))[-1]
    assert v2.number == 2 and v2.split["counts"] == {k: len(v) for k, v in parts.items()}
    assert v2.split["stratify"] is True and v2.split["seed"] == 3
    assert page.session_state["dataset_ref"] == f"my-digits@{v2.version}"

    tab(page, "Augment")  # the pipeline goes on top of the split version
    add_step(page, "RandomRotation", **{"degrees (required)": "15"})
    click(page, "Save pipeline as a new version")
    v3 = versions("my-digits", str(tmp_path))[-1]
    assert (v3.number, v3.parent, v3.split) == (3, v2.version, v2.split)
    assert v3.pipeline == [{"type": "RandomRotation", "params": {"degrees": 15}}]
    assert any(f"my-digits v3 ({v3.version})" in m.value for m in page.success)


def test_split_ratios_that_do_not_add_up_are_a_message(page):
    tab(page, "Split")
    by_label(page.number_input, "Train %").set_value(90.0)
    run(page)
    assert any("must be three percentages adding up to 100" in e.value for e in page.error)


# ---- Augment ----


def add_step(at: AppTest, op: str, **texts) -> AppTest:
    by_label(at.selectbox, "Operation").set_value(op)
    run(at)
    for label, value in texts.items():
        by_label(at.text_input, label).set_value(value)
    return click(at, "Add step")


def test_augmentation_preview_changes_the_images_and_matches_the_engines_samples(page):
    from neural_engine.data.previews import preview

    tab(page, "Augment")
    by_label(page.selectbox, "Operation").set_value("RandomHorizontalFlip")
    run(page)
    by_label(page.number_input, "p").set_value(0.0)  # never flips: the control case
    click(page, "Add step")
    assert page.session_state["augment_pipeline"] == [{"type": "RandomHorizontalFlip", "params": {"p": 0.0}}]
    before, after = page.image
    assert len(before.value) == 8 and before.value == after.value  # same pixels, same media files

    page.button(key="augment_remove_0").click()
    run(page)
    add_step(page, "RandomRotation", **{"degrees (required)": "[40, 60]"})
    pipeline = [{"type": "RandomRotation", "params": {"degrees": [40, 60]}}]
    assert page.session_state["augment_pipeline"] == pipeline
    before, after = page.image
    engine = preview(load_builtin("digits"), pipeline, n=8, seed=0)
    assert [int(c.split(" · ")[0][1:]) for c in before.captions] == engine.indices
    assert all(b != a for b, a in zip(before.value, after.value))  # every sample rotated
    assert before.captions == after.captions


def test_builder_reorders_removes_and_round_trips_json(page):
    tab(page, "Augment")
    add_step(page, "RandomRotation", **{"degrees (required)": "10"})
    add_step(page, "Resize", **{"size (required)": "[16, 16]"})
    assert [op["type"] for op in page.session_state["augment_pipeline"]] == ["RandomRotation", "Resize"]
    page.button(key="augment_down_0").click()
    run(page)
    assert [op["type"] for op in page.session_state["augment_pipeline"]] == ["Resize", "RandomRotation"]
    page.button(key="augment_remove_1").click()
    run(page)
    assert page.session_state["augment_pipeline"] == [{"type": "Resize", "params": {"size": [16, 16]}}]
    assert len(page.image) == 2  # before and after rows of the preview
    doc = [
        {"type": "GaussianBlur", "params": {"kernel_size": 3}},
        {"type": "RandomErasing", "params": {"p": 1.0}},
    ]
    by_label(page.text_area, "Pipeline JSON").set_value(json.dumps(doc))
    click(page, "Apply JSON")
    assert page.session_state["augment_pipeline"] == doc


@pytest.mark.parametrize(
    "op, texts, expected",
    [
        (
            "RandomRotation",
            {"degrees (required)": "400"},
            "operation #1: RandomRotation.degrees must be a number in [0, 360] or [min, max]; received 400",
        ),
        ("RandomRotation", {"degrees (required)": "[1,"}, "degrees must be JSON"),
        ("Resize", {}, 'Resize needs the parameter "size"; received none'),
    ],
)
def test_a_bad_parameter_is_a_message_and_changes_nothing(page, op, texts, expected):
    tab(page, "Augment")
    add_step(page, op, **texts)
    assert any(expected in e.value for e in page.error), [e.value for e in page.error]
    assert "augment_pipeline" not in page.session_state


def test_bad_json_and_a_step_torchvision_refuses_are_messages(page):
    tab(page, "Augment")
    by_label(page.text_area, "Pipeline JSON").set_value('[{"type": "RandomFlip"}]')
    click(page, "Apply JSON")
    assert any('received "RandomFlip"' in e.value and "Did you mean" in e.value for e in page.error)
    add_step(page, "RandomCrop", **{"size (required)": "16"})  # valid JSON schema, too big for 8x8 digits
    assert any("it fails on sample" in e.value and "pad_if_needed" in e.value for e in page.error)
    assert not page.image


# ---- the page's helpers alone (app/datasets_view.py) ----


@pytest.mark.parametrize(
    "filename, name",
    [
        ("My Pets (2024).zip", "my-pets-2024"),
        ("digits.npz", "digits-upload"),
        ("___.csv", "upload"),
        ("a.b_c.npz", "a.b_c"),
    ],
)
def test_suggested_names_are_valid_registry_names(filename, name):
    from neural_engine.data.registry import check_name

    assert view.suggest_name(filename) == name and check_name(name) == name


@pytest.mark.parametrize(
    "given, written",
    [
        ("pets.zip", "pets.zip"),
        ("../../etc/x.zip", "x.zip"),
        ("C:\\Users\\me\\d.csv", "d.csv"),
        ("..", "upload"),
        (".hidden.npz", "upload.npz"),
    ],
)
def test_upload_file_names_lose_their_folders(given, written):
    assert view.upload_filename(given) == written


def test_gallery_indices_cover_every_class_round_robin_and_are_seeded():
    y = np.array([0] * 50 + [1] * 5 + [2] * 2)
    idx = view.gallery_indices(y, 7, seed=1)
    assert sorted(y[idx].tolist()) == [0, 0, 0, 1, 1, 2, 2] and len(set(idx)) == 7
    assert idx == view.gallery_indices(y, 7, seed=1) != view.gallery_indices(y, 7, seed=2)
    assert sorted(view.gallery_indices(y, 100)) == list(range(57))  # never more than there are


def test_enlarge_is_nearest_by_an_integer_factor_and_drops_the_gray_channel():
    img = np.arange(4, dtype=np.uint8).reshape(2, 2, 1)
    big = view.enlarge(img, target=8)
    assert big.shape == (8, 8) and big[:4, :4].tolist() == [[0] * 4] * 4 and big[4:, 4:].min() == 3
    assert view.enlarge(np.zeros((100, 50, 3), np.uint8)).shape == (100, 50, 3)


def test_split_table_counts_each_class_and_totals():
    y = np.array([0, 0, 1, 1, 1])
    parts = {"train": np.array([0, 2, 3]), "val": np.array([1]), "test": np.array([4])}
    table = view.split_table(y, parts, ("a", "b"))
    assert table.rows() == [("a", 1, 1, 0, 2), ("b", 2, 0, 1, 3), ("all", 3, 1, 1, 5)]


def test_catalog_table_adds_the_latest_version_of_each_registered_dataset():
    builtins = [
        {
            "name": "digits",
            "task": "classification",
            "input shape": "(8, 8, 1)",
            "classes": 10,
            "samples": 1797,
            "source": "sklearn",
        }
    ]
    v = {
        "number": 2,
        "version": "abc",
        "task": "regression",
        "input_shape": [3],
        "classes": [],
        "stats": {"samples": 9},
        "source": "upload r.csv",
    }
    table = view.catalog_table(builtins, {"r": [dict(v, number=1, stats={"samples": 5}), v]})
    assert table["name"].to_list() == ["digits", "r"]
    assert table.row(1) == ("r", "v2 · abc (2 in all)", "regression", "(3,)", 0, 9, "upload r.csv")


def test_step_params_keep_required_and_changed_values_only():
    defaults, values = (
        {"p": 0.5, "size": None, "mode": "constant"},
        {"p": 0.5, "size": [8, 8], "mode": "edge"},
    )
    assert view.step_params(defaults, values, {"size"}) == {"size": [8, 8], "mode": "edge"}
    assert view.step_params(defaults, {"p": 1.0, "size": None}, {"size"}) == {"p": 1.0}


def test_move_clamps_and_remove_drops_one():
    ops = ["a", "b", "c"]
    assert view.move(ops, 0, 1) == ["b", "a", "c"] and view.move(ops, 0, -1) == ops
    assert view.move(ops, 2, 5) == ops and view.remove(ops, 1) == ["a", "c"] and ops == ["a", "b", "c"]


def test_register_upload_reports_progress_and_a_refused_file_stores_nothing(tmp_path):
    from neural_engine.errors import DatasetError

    steps = []
    data = npz_of(x=np.zeros((4, 3), np.float32), y=np.array([0, 1, 0, 1]))
    v, new = view.register_upload(data, "t.npz", "t", str(tmp_path), progress=lambda f, s: steps.append(f))
    assert new and v.ref == f"t@{v.version}" and steps == [0.1, 0.3, 0.7, 1.0]
    assert view.register_upload(data, "again.npz", "t", str(tmp_path))[1] is False  # same content
    before = stored_files(tmp_path)
    with pytest.raises(DatasetError, match="x and y must have the same number of samples"):
        view.register_upload(npz_of(x=np.zeros((3, 2)), y=np.array([0, 1])), "bad.npz", "t", str(tmp_path))
    assert stored_files(tmp_path) == before and len(versions("t", str(tmp_path))) == 1
