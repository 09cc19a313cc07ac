"""Architecture versions in the store: numbering, parents, load, diff, races, bad names; local and S3."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from neural_engine.data.storage import open_storage
from neural_engine.dsl import parse
from neural_engine.errors import ValidationError
from neural_engine.projects import diff_versions, load_version, projects, save_version, versions
from neural_engine.templates import template

SMALL = "network N { input: (4,) layers: Dense(8) Output(2) }"


def exercise(store) -> None:
    g1, g2 = parse(SMALL), template("mnist_cnn")
    v1 = save_version("net", g1, " first ", storage=store, user="ada")
    v2 = save_version("net", g2, "cnn", parent=1, storage=store, user="bob")
    assert (v1.number, v1.parent, v1.message, v1.user) == (1, None, "first", "ada")
    assert (v2.number, v2.parent) == (2, 1)
    assert load_version("net", 1, storage=store).graph == g1
    assert load_version("net", storage=store).graph == g2  # latest
    assert [v.number for v in versions("net", storage=store)] == [1, 2]
    assert projects(store) == ["net"]
    d = diff_versions("net", 1, 2, storage=store)
    assert "conv2d_1" in {n["id"] for n in d.added} and "conv2d_1" not in {n["id"] for n in d.removed}
    assert diff_versions("net", 2, 2, storage=store).empty
    with pytest.raises(ValidationError, match="version 7 of 'net' must exist; versions are v1, v2"):
        load_version("net", 7, storage=store)
    with pytest.raises(ValidationError, match="parent version must exist"):
        save_version("net", g1, parent=9, storage=store)


def test_versions_on_local_disk(tmp_path):
    store = open_storage(str(tmp_path))
    exercise(store)
    assert (tmp_path / "projects" / "net" / "v2.json").is_file()


def test_versions_on_s3(s3):
    exercise(open_storage(s3.uri))


def test_concurrent_saves_never_overwrite(tmp_path):
    store = open_storage(str(tmp_path))
    g = parse(SMALL)
    with ThreadPoolExecutor(8) as pool:
        saved = list(pool.map(lambda i: save_version("race", g, f"m{i}", storage=store), range(16)))
    assert sorted(v.number for v in saved) == list(range(1, 17))
    assert sorted(v.message for v in versions("race", storage=store)) == sorted(f"m{i}" for i in range(16))


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", "x" * 65, "sp ace"])
def test_project_names_are_checked(tmp_path, name):
    with pytest.raises(ValidationError, match="project name must be"):
        save_version(name, parse(SMALL), storage=open_storage(str(tmp_path)))


def test_an_empty_project_says_to_save_first(tmp_path):
    with pytest.raises(ValidationError, match="must have a saved version"):
        load_version("nothing", storage=open_storage(str(tmp_path)))


def test_training_takes_a_saved_version(nf_home):
    from neural_engine.data import load
    from ray_jobs.config import TrainConfig
    from ray_jobs.train.setup import _tags, load_network

    g = template("mnist_cnn", input_shape=(8, 8, 1), classes=10)
    save_version("digits-cnn", g, "first")
    config = TrainConfig(project="digits-cnn@v1", dataset="digits")
    graph, dsl_text = load_network(config, load("digits"))
    assert graph == g and dsl_text.startswith("network")
    assert _tags(config, graph)["neuralforge.source"] == "project:digits-cnn@v1"
    with pytest.raises(ValidationError, match="version 2 of 'digits-cnn' must exist"):
        load_network(TrainConfig(project="digits-cnn@v2"), load("digits"))
