"""Train/val/test splits by ratio: seeded, deterministic, optionally stratified.

Counts are rounded by largest remainder. Stratified: every class is split on its own, so each
class's count in each part is the floor or the ceiling of its ideal share (within one sample).
A dataset with an official test set (MNIST, CIFAR) keeps it as ``test``; the rest is divided
into train and val in the ratio train : val.

>>> spec = SplitSpec.parse("70,15,15", stratify=True, seed=1)
>>> parts = split_indices([0] * 10 + [1] * 10, spec)
>>> [len(parts[k]) for k in PARTS]
[14, 3, 3]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from neural_engine.errors import DatasetError

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitSpec:
    """Fractions of (train, val, test) adding up to 1; ``stratify`` keeps class shares; ``seed``."""

    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    stratify: bool = False
    seed: int = 0

    def __post_init__(self):
        r = tuple(float(v) for v in self.ratios)
        if len(r) != 3 or any(not np.isfinite(v) or v < 0 for v in r) or abs(sum(r) - 1) > 1e-6 or r[0] == 0:
            raise DatasetError(
                f"split ratios must be three non-negative fractions (train > 0) adding up to 1; "
                f"received {self.ratios}",
                hint="e.g. --ratios 70,15,15",
            )
        object.__setattr__(self, "ratios", r)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise DatasetError(f"a split seed must be a non-negative integer; received {self.seed!r}")

    @staticmethod
    def parse(text: str, stratify: bool = False, seed: int = 0) -> SplitSpec:
        """``"70,15,15"`` (percentages adding up to 100) or ``"0.8,0.1,0.1"`` (fractions adding up to 1)."""
        try:
            values = [float(v) for v in str(text).split(",")]
        except ValueError:
            raise DatasetError(
                f"--ratios must be three numbers separated by commas; received {text!r}",
                hint="e.g. --ratios 70,15,15",
            ) from None
        total = sum(values)
        if len(values) == 3 and abs(total - 100) < 1e-6:
            values = [v / 100 for v in values]
        elif len(values) != 3 or abs(total - 1) > 1e-6:
            raise DatasetError(
                f"--ratios must be three percentages adding up to 100 (or fractions adding up "
                f"to 1); received {text!r} (sum {total:g})",
                hint="e.g. --ratios 70,15,15",
            )
        return SplitSpec(tuple(values), stratify, seed)

    def to_json(self) -> dict:
        return {**asdict(self), "ratios": list(self.ratios)}

    @staticmethod
    def from_json(d: dict) -> SplitSpec:
        return SplitSpec(tuple(d["ratios"]), bool(d.get("stratify", False)), int(d.get("seed", 0)))


def largest_remainder(n: int, ratios) -> np.ndarray:
    """Integer counts adding up to ``n``, each the floor or ceiling of ``n * ratio``."""
    ideal = n * np.asarray(ratios, dtype=float)
    counts = np.floor(ideal).astype(int)
    order = np.argsort(-(ideal - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def stratified_counts(sizes, ratios) -> np.ndarray:
    """(classes, 3) counts: each the floor or ceiling of ``size * ratio``, totals near the global ideal.

    Every class rounds up in as many parts as its fractions add up to; the parts that round up are
    chosen by largest fraction, first where the global total still needs samples.
    """
    sizes, ratios = np.asarray(sizes), np.asarray(ratios, dtype=float)
    ideal = sizes[:, None] * ratios[None, :]
    counts = np.floor(ideal).astype(int)
    frac = ideal - counts
    left = sizes - counts.sum(1)  # units each class still places, one per part at most
    need = largest_remainder(int(sizes.sum()), ratios) - counts.sum(0)
    order = sorted(zip(*np.nonzero(frac > 1e-9)), key=lambda cs: -frac[cs])
    for respect_need in (True, False):
        for c, s in order:
            if left[c] > 0 and counts[c, s] == np.floor(ideal[c, s]) and (need[s] > 0 or not respect_need):
                counts[c, s] += 1
                left[c] -= 1
                need[s] -= 1
    return counts


def split_indices(labels, spec: SplitSpec = SplitSpec(), official_test=None) -> dict[str, np.ndarray]:
    """Sorted index arrays for train/val/test. ``labels`` are per-sample classes (any hashable ints)."""
    labels = np.asarray(labels)
    n = len(labels)
    if n == 0:
        raise DatasetError("a split needs at least one sample; received an empty dataset")
    rng = np.random.default_rng(spec.seed)
    if official_test is not None and len(official_test):
        test = np.sort(np.asarray(official_test))
        pool = np.setdiff1d(np.arange(n), test)
        r = spec.ratios[0] / (spec.ratios[0] + spec.ratios[1])
        sub = split_indices(labels[pool], SplitSpec((r, 1 - r, 0.0), spec.stratify, spec.seed))
        return {"train": pool[sub["train"]], "val": pool[sub["val"]], "test": test}
    if not spec.stratify:
        groups = [np.arange(n)]
        counts = largest_remainder(n, spec.ratios)[None]
    else:
        if labels.ndim != 1:
            raise DatasetError(
                f"stratification needs one class label per sample; received labels of shape {labels.shape}",
                hint="split segmentation or regression data without --stratify",
            )
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        counts = stratified_counts([len(g) for g in groups], spec.ratios)
    parts: list[list[np.ndarray]] = [[], [], []]
    for group, row in zip(groups, counts):
        perm = rng.permutation(group)
        for i, chunk in enumerate(np.split(perm, np.cumsum(row)[:-1])):
            parts[i].append(chunk)
    return {name: np.sort(np.concatenate(p)).astype(np.int64) for name, p in zip(PARTS, parts)}
