"""The two input paths of training: data held on the device (batched augmentation there) or
DataLoader workers; the choice, its reasons, and DDP shards with DistributedSampler's semantics."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DistributedSampler

from neural_engine.data import load
from neural_engine.data.augment import Pipeline
from neural_engine.errors import ValidationError
from ray_jobs.train import data_path

CPU = torch.device("cpu")
CROP_FLIP = Pipeline.from_json(
    [
        {"type": "RandomCrop", "params": {"size": 8, "padding": 1}},
        {"type": "RandomHorizontalFlip", "params": {}},
    ]
)


@pytest.mark.parametrize(
    "n,world,epoch,shuffle",
    [(10, 1, 0, True), (10, 3, 0, True), (10, 3, 2, True), (7, 4, 1, False), (1257, 2, 5, True)],
)
def test_shards_are_distributed_samplers(n, world, epoch, shuffle):
    for rank in range(world):
        sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=11)
        sampler.set_epoch(epoch)
        assert data_path.shard(n, epoch, 11, rank, world, shuffle).tolist() == list(sampler)


def test_auto_holds_the_data_on_the_device_when_it_fits_and_the_augmentation_batches():
    digits = load("digits")
    chosen = data_path.choose("auto", digits, CROP_FLIP, 1257, CPU)
    assert chosen.path == "device" and "augmentation batched there" in chosen.reason


def test_auto_falls_back_to_workers_saying_why(monkeypatch):
    digits = load("digits")
    monkeypatch.setattr(data_path, "free_memory", lambda device: 100_000)
    chosen = data_path.choose("auto", digits, None, 1257, CPU)
    assert chosen.path == "workers" and "more than 50% of the 0 MiB free on cpu" in chosen.reason
    with pytest.raises(
        ValidationError, match="--data-placement device needs the training data on the device"
    ):
        data_path.choose("device", digits, None, 1257, CPU)
    with pytest.raises(ValidationError, match="must be one of auto, device, workers; received 'gpu'"):
        data_path.choose("gpu", digits, None, 1257, CPU)
    monkeypatch.setenv("NEURALFORGE_DEVICE_DATA_SHARE", "1")  # 79 KiB of uint8 digits fit 98 KiB
    assert data_path.choose("auto", digits, None, 1257, CPU).path == "device"
    monkeypatch.setenv("NEURALFORGE_DEVICE_DATA_SHARE", "2")
    with pytest.raises(
        ValidationError, match=r"NEURALFORGE_DEVICE_DATA_SHARE must be a share .* in \(0, 1\]; received 2"
    ):
        data_path.choose("auto", digits, None, 1257, CPU)


def test_device_loaders_cover_every_sample_once_per_epoch_in_a_new_order_per_epoch():
    digits = load("digits")
    import numpy as np

    parts = {"train": np.arange(100), "val": np.arange(100, 130), "test": np.arange(130, 160)}
    seen, orders = [], []
    for rank in range(2):
        loaders = data_path.device_loaders(digits, parts, None, 16, CPU, seed=3, rank=rank, world=2)
        train = loaders["train"]
        batches = list(train)
        assert len(batches) == len(train) == 4 and batches[0][0].dtype == torch.float32
        assert batches[0][0].shape == (16, 1, 8, 8) and float(batches[0][0].max()) <= 1
        seen += [y for _, ys in batches for y in ys.tolist()]
        train.set_epoch(1)
        orders.append((batches[0][1].tolist(), next(iter(train))[1].tolist()))
    assert sorted(seen) == sorted(digits.y[:100].tolist())  # the two shards: every sample, once
    assert all(first != second for first, second in orders)


def test_device_loader_augments_each_sample_reproducibly():
    digits = load("digits")
    import numpy as np

    parts = {"train": np.arange(64), "val": np.arange(64, 80), "test": np.arange(80, 96)}
    a = data_path.device_loaders(digits, parts, CROP_FLIP, 64, CPU, seed=0, rank=0, world=1)["train"]
    b = data_path.device_loaders(digits, parts, CROP_FLIP, 64, CPU, seed=0, rank=0, world=1)["train"]
    (xa, ya), (xb, yb) = next(iter(a)), next(iter(b))
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    plain = data_path.device_loaders(digits, parts, None, 64, CPU, seed=0, rank=0, world=1)["train"]
    (xp, yp) = next(iter(plain))
    assert torch.equal(ya, yp) and not torch.equal(xa, xp)  # same samples, augmented
    changed = (xa != xp).flatten(1).any(1)
    assert 0.5 < changed.float().mean() <= 1  # per-sample crops and flips, not one for the batch


def test_loader_workers_leave_one_cpu_to_training():
    import os

    assert data_path.loader_workers() == max(
        0, min(data_path.MAX_LOADER_WORKERS, len(os.sched_getaffinity(0)) - 1)
    )
