"""How training batches reach the device: held on the device, or through DataLoader workers.

- **device**: the training split as uint8 stays on the device (a GPU's memory, or this machine's
  for CPU training); each epoch is a seeded permutation there, and the augmentation pipeline runs
  batched on the device with per-sample random parameters (:mod:`neural_engine.data.batched`, the
  same semantics as transforms.v2). No worker process, no host copy per step.
- **workers**: the DataLoader, its workers taking the CPUs Ray gives this worker (one is left to
  the training process), pinned memory and ``non_blocking`` copies on a GPU, persistent workers,
  prefetching.

``auto`` (the default) holds the data on the device when the training split as uint8 takes at most
a share of the device's free memory (``NEURALFORGE_DEVICE_DATA_SHARE``, 0.5) and every augmentation
has a batched form; else
workers, with the reason printed. Under DDP each rank takes its own shard on both paths, with
``DistributedSampler``'s semantics (an epoch-seeded permutation shared by the ranks, padded to a
multiple of the world size, rank ``r`` taking every ``world``-th index from ``r``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from neural_engine.errors import ValidationError
from neural_engine.settings import settings

PLACEMENTS = ("auto", "device", "workers")
MAX_LOADER_WORKERS = 8


@dataclass(frozen=True)
class Placement:
    """Where the data lives for this run, and why (printed, and tagged on the MLflow run)."""

    path: str  # "device" or "workers"
    reason: str

    def describe(self) -> str:
        return f"data placement: {self.path} ({self.reason})"


def free_memory(device: torch.device) -> int:
    """Bytes free on ``device``: the GPU's, or this machine's available memory for the CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil
    except ModuleNotFoundError:  # a bare Python with torch only (the GPU benchmark's machine)
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return psutil.virtual_memory().available


def choose(requested: str, dataset, pipeline, train_count: int, device: torch.device) -> Placement:
    """The path of a run: ``requested`` (auto, device, workers) checked against the data.

    >>> from neural_engine.data import load
    >>> choose("workers", load("digits"), None, 1257, torch.device("cpu")).path
    'workers'
    >>> choose("auto", load("digits"), None, 1257, torch.device("cpu")).path
    'device'
    """

    if requested not in PLACEMENTS:
        raise ValidationError(
            f"the data placement must be one of {', '.join(PLACEMENTS)}; received {requested!r}"
        )
    if requested == "workers":
        return Placement("workers", "asked for")
    size = train_count * math.prod(dataset.x.shape[1:]) * dataset.x.dtype.itemsize
    reasons = []
    if dataset.kind == "image" and pipeline is not None:
        from neural_engine.data.batched import supported

        ok, why = supported(pipeline)
        if not ok:
            reasons.append(f"the augmentation has no batched form on the device: {why}")

    share, free = settings().device_data_share, free_memory(device)
    if size > share * free:
        reasons.append(
            f"the training split takes {size / 2**20:,.0f} MiB, more than {share:.0%} of the "
            f"{free / 2**20:,.0f} MiB free on {device.type} (NEURALFORGE_DEVICE_DATA_SHARE)"
        )
    if not reasons:
        return Placement(
            "device",
            f"{train_count:,} samples, {size / 2**20:,.1f} MiB on {device.type}"
            + (", augmentation batched there" if pipeline is not None else ""),
        )
    if requested == "device":
        raise ValidationError(
            f"--data-placement device needs the training data on the device; here {'; '.join(reasons)}",
            hint="use --data-placement auto or workers",
        )
    return Placement("workers", "; ".join(reasons))


def loader_workers() -> int:
    """DataLoader workers for this process: the CPUs Ray assigned it (else this machine's) but one."""
    cpus = None
    try:
        import ray

        if ray.is_initialized():
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # noqa: BLE001 - outside a Ray worker: the machine's CPUs
        cpus = None
    if not cpus:
        from ray_jobs.config import cpus_available

        cpus = cpus_available()
    return max(0, min(MAX_LOADER_WORKERS, int(cpus) - 1))


def shard(n: int, epoch: int, seed: int, rank: int, world: int, shuffle: bool) -> torch.Tensor:
    """This rank's indices of an epoch, as ``DistributedSampler`` gives them (CPU, int64).

    >>> shard(5, 0, 0, 0, 2, shuffle=False).tolist(), shard(5, 0, 0, 1, 2, shuffle=False).tolist()
    ([0, 2, 4], [1, 3, 0])
    """
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    else:
        order = torch.arange(n)
    total = math.ceil(n / world) * world
    if total > n:  # padded with the first indices again, so every rank takes as many
        order = torch.cat([order, order[: total - n]])
    return order[rank:total:world]


class DeviceLoader:
    """Batches of one split held on the device: ``(inputs, targets)`` already there, augmented.

    ``x`` is uint8 ``(N, C, H, W)`` (images) or the features as stored; ``augment`` is a
    :class:`~neural_engine.data.batched.BatchedPipeline` (images) or None. Call :meth:`set_epoch`
    before each epoch, as with ``DistributedSampler``.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        device: torch.device,
        *,
        augment=None,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        segmentation: bool = False,
    ):
        self.x, self.y = x.to(device), y.to(device)
        self.batch_size, self.device, self.augment = batch_size, device, augment
        self.shuffle, self.seed, self.rank, self.world = shuffle, seed, rank, world
        self.segmentation, self.epoch = segmentation, 0
        self.generator = torch.Generator(device).manual_seed(seed * 1000 + rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.generator.manual_seed((self.seed * 1000 + self.rank) * 100_003 + epoch)

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.y) / self.world) / self.batch_size)

    def __iter__(self):
        order = shard(len(self.y), self.epoch, self.seed, self.rank, self.world, self.shuffle).to(self.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            x, y = self.x[idx], self.y[idx]
            if self.augment is None:
                yield x, y
            elif self.segmentation:
                yield self.augment(x, self.generator, mask=y)
            else:
                yield self.augment(x, self.generator), y


def device_loaders(
    dataset, parts: dict, pipeline, batch_size: int, device: torch.device, *, seed: int, rank: int, world: int
) -> dict[str, DeviceLoader]:
    """``{"train", "val"}`` loaders held on ``device`` for ``dataset`` split by ``parts`` (index arrays)."""
    import numpy as np

    from neural_engine.data.batched import batched_pipeline

    out = {}
    for part, train in (("train", True), ("val", False)):
        x = torch.from_numpy(np.ascontiguousarray(dataset.x[parts[part]]))
        augment = None
        if dataset.kind == "image":
            x = x.permute(0, 3, 1, 2).contiguous()
            augment = batched_pipeline(pipeline, train=train)
        y = torch.from_numpy(np.ascontiguousarray(dataset.y[parts[part]]))
        y = y.float() if dataset.task == "regression" else y.long()
        out[part] = DeviceLoader(
            x,
            y,
            batch_size,
            device,
            augment=augment,
            shuffle=train,
            seed=seed,
            rank=rank,
            world=world,
            segmentation=dataset.task == "segmentation",
        )
    return out
