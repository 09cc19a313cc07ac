"""The catalog: every entry documented; digits offline; generators learnable and seeded."""

from __future__ import annotations

import numpy as np
import pytest

from neural_engine.data import synthetic
from neural_engine.data.catalog import ENTRIES, entry, load_builtin
from neural_engine.errors import DatasetError

GENERATED = ("shapes_segmentation", "sequence_classification", "regression")


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_entry_says_what_it_is_and_how_to_get_it(name):
    e = ENTRIES[name]
    assert e.task in ("classification", "segmentation", "regression") and e.kind in (
        "image",
        "tabular",
        "sequence",
    )
    assert e.input_shape and e.samples > 0 and e.source and e.get
    assert (e.num_classes > 0) == (e.task != "regression")
    doc = e.to_json()
    assert doc["name"] == name and doc["builtin"] is True and (doc["files"] is None) == (e.files is None)


@pytest.mark.parametrize("name", ("digits",) + GENERATED)
def test_offline_entries_match_their_description(name):
    e, ds = entry(name), load_builtin(name)
    assert (
        ds.input_shape == e.input_shape and len(ds) == e.samples and ds.task == e.task and ds.kind == e.kind
    )
    if e.task != "regression":
        assert ds.num_classes == e.num_classes and set(np.unique(ds.y)) <= set(range(e.num_classes))


def test_digits_is_scikit_learns_real_data():
    from sklearn.datasets import load_digits

    ds, ref = load_builtin("digits"), load_digits()
    assert ds.x.dtype == np.uint8 and ds.x.max() == 255
    assert np.array_equal(ds.y, ref.target) and np.allclose(ds.x[..., 0] / 255 * 16, ref.images, atol=0.04)
    assert np.bincount(ds.y).min() >= 170  # ten classes, close to balanced


@pytest.mark.parametrize("name", GENERATED)
def test_generators_are_deterministic_by_seed(name):
    a, b, c = load_builtin(name, seed=5), load_builtin(name, seed=5), load_builtin(name, seed=6)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_sequence_labels_follow_from_the_content():
    ds = synthetic.sequence_classification(n=500, seed=2)
    group_a = ((ds.x >= 4) & (ds.x < 12)).sum(1)
    group_b = ((ds.x >= 12) & (ds.x < 20)).sum(1)
    assert np.array_equal(ds.y, (group_a > group_b).astype(np.int64))  # the rule, exactly
    assert (ds.x > 0).all() and ds.x.max() < 64 and 0.4 < ds.y.mean() < 0.6


def test_sequence_task_is_learnable_from_token_counts():
    from sklearn.linear_model import LogisticRegression

    train, test = (synthetic.sequence_classification(n=n, seed=s) for n, s in ((1500, 0), (500, 1)))
    bag = lambda ds: np.stack([np.bincount(row, minlength=64) for row in ds.x])
    model = LogisticRegression(max_iter=2000).fit(bag(train), train.y)
    assert model.score(bag(test), test.y) >= 0.95


def test_regression_target_is_mostly_explained_by_the_features():
    ds = synthetic.regression(n=2000, seed=0)
    design = np.c_[ds.x, np.sin(2 * ds.x[:, :1]), np.ones(len(ds))]
    coef, *_ = np.linalg.lstsq(design, ds.y, rcond=None)
    residual = ds.y - design @ coef
    assert residual.std() < 0.12 and ds.y.std() > 1  # noise 0.1 on a signal of std > 1


def test_segmentation_masks_mark_the_drawn_shapes():
    ds = synthetic.shapes_segmentation(n=60, seed=1)
    assert ds.y.shape == (60, 32, 32) and set(np.unique(ds.y)) == {0, 1, 2, 3}
    bright = ds.x.max(-1) >= 150
    assert np.array_equal(bright, ds.y > 0)  # shapes are bright, the background never is
    assert ds.classes == ("background", "circle", "square", "triangle")


def test_unknown_name_and_options_are_errors():
    with pytest.raises(DatasetError, match='received "mnst"') as err:
        entry("mnst")
    assert err.value.hint == 'Did you mean "mnist"?'
    with pytest.raises(DatasetError, match="takes no options"):
        load_builtin("digits", n=3)
    with pytest.raises(DatasetError, match="options must be among its parameters"):
        load_builtin("regression", colour="red")
    with pytest.raises(DatasetError, match="needs no files"):
        load_builtin("regression", root="/tmp")
    with pytest.raises(DatasetError, match="vocab_size >= 21"):
        load_builtin("sequence_classification", vocab_size=5)
