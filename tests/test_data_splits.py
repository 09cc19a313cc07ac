"""Splits: default 70/15/15, seeded and deterministic, stratified within one sample of ideal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neural_engine.data.splits import PARTS, SplitSpec, largest_remainder, split_indices, stratified_counts
from neural_engine.errors import DatasetError


def check_partition(parts, n):
    together = np.concatenate([parts[p] for p in PARTS])
    assert sorted(together.tolist()) == list(range(n))  # disjoint and complete


def test_default_is_70_15_15_and_deterministic():
    labels = np.arange(1000) % 7
    parts = split_indices(labels)
    assert [len(parts[p]) for p in PARTS] == [700, 150, 150]
    check_partition(parts, 1000)
    again = split_indices(labels)
    assert all(np.array_equal(parts[p], again[p]) for p in PARTS)
    other = split_indices(labels, SplitSpec(seed=1))
    assert not np.array_equal(parts["test"], other["test"])


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 80), min_size=1, max_size=8),
    weights=st.tuples(st.integers(1, 100), st.integers(0, 100), st.integers(0, 100)),
    seed=st.integers(0, 2**31),
)
def test_stratified_shares_within_one_sample_of_ideal(sizes, weights, seed):
    ratios = np.array(weights) / sum(weights)
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(sizes)), sizes))
    parts = split_indices(labels, SplitSpec(tuple(ratios), stratify=True, seed=seed))
    check_partition(parts, len(labels))
    for c, size in enumerate(sizes):
        for p, r in zip(PARTS, ratios):
            assert abs(int((labels[parts[p]] == c).sum()) - size * r) < 1, (c, p)


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 200), min_size=1, max_size=12),
    weights=st.tuples(st.integers(1, 100), st.integers(0, 100), st.integers(0, 100)),
)
def test_stratified_totals_stay_near_the_global_ideal(sizes, weights):
    ratios = np.array(weights) / sum(weights)
    counts = stratified_counts(sizes, ratios)
    assert (counts.sum(1) == sizes).all()
    assert (np.abs(counts.sum(0) - sum(sizes) * ratios) < len(sizes)).all()


def test_largest_remainder_rounds_to_floor_or_ceiling():
    assert largest_remainder(10, (0.7, 0.15, 0.15)).tolist() == [7, 2, 1]
    assert largest_remainder(1797, (0.7, 0.15, 0.15)).sum() == 1797


def test_official_test_set_is_kept():
    labels = np.arange(120) % 4
    parts = split_indices(
        labels, SplitSpec((0.8, 0.1, 0.1), stratify=True), official_test=np.arange(100, 120)
    )
    assert parts["test"].tolist() == list(range(100, 120))
    assert len(parts["train"]) == 89 and len(parts["val"]) == 11  # 100 in the ratio 80 : 10
    check_partition(parts, 120)


def test_parse_ratios():
    assert SplitSpec.parse("70,15,15").ratios == (0.7, 0.15, 0.15)
    assert SplitSpec.parse("0.8,0.1,0.1", stratify=True, seed=2) == SplitSpec((0.8, 0.1, 0.1), True, 2)
    spec = SplitSpec.parse("60,20,20", seed=9)
    assert SplitSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "text,message",
    [
        ("70,15", "three percentages adding up to 100"),
        ("70,20,20", r"\(sum 110\)"),
        ("a,b,c", "three numbers separated by commas"),
        ("0,50,50", r"train > 0"),
        ("-10,60,50", "non-negative"),
    ],
)
def test_bad_ratios(text, message):
    with pytest.raises(DatasetError, match=message):
        SplitSpec.parse(text)


def test_other_bad_inputs():
    with pytest.raises(DatasetError, match="non-negative integer"):
        SplitSpec(seed=-1)
    with pytest.raises(DatasetError, match="one class label per sample"):
        split_indices(np.zeros((4, 2, 2)), SplitSpec(stratify=True))
    with pytest.raises(DatasetError, match="at least one sample"):
        split_indices([])
    masks = split_indices(np.zeros((10, 2, 2)))  # segmentation masks split fine without stratification
    check_partition(masks, 10)
