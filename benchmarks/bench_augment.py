"""Batched augmentation vs. per-sample transforms.v2: CIFAR crop + flip on (512, 3, 32, 32) uint8 batches.

The baseline, measured in the same run, is what the *workers* input path does: the compiled v2 pipeline
on one image at a time, stacked into a batch, in this process (``--workers N``: in a real DataLoader
with N worker processes). The batched side takes the same uint8 batches (held on the device: CUDA when
available, else the CPU) and augments each with its own random parameters in one call. Prints the
images per second of each and the ratio (target on a GPU: the device path is no longer the bottleneck,
issue #15).

    python -m benchmarks.bench_augment [--batches 20] [--batch-size 512] [--workers 0] [--cpu]
        [--runs 3] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from neural_engine.data.augment import Pipeline
from neural_engine.data.batched import batched_pipeline

PIPELINE = Pipeline.from_json(
    [
        {"type": "RandomCrop", "params": {"size": 32, "padding": 4}},
        {"type": "RandomHorizontalFlip", "params": {"p": 0.5}},
    ]
)


class PerSample(torch.utils.data.Dataset):
    """As ``loaders.ArrayDataset``: one uint8 image through the compiled v2 pipeline per item."""

    def __init__(self, x: torch.Tensor):
        self.x, self.transform = x, PIPELINE.compile()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(self.x[i])


def best_of(fn, runs: int) -> float:
    """Fewest seconds of ``runs`` calls (after one warm-up): the least disturbed by a shared machine."""
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def per_sample_v2(x: torch.Tensor, batch_size: int, workers: int):
    """One pass over ``x`` in batches with per-sample v2 (the baseline)."""
    if workers:
        loader = torch.utils.data.DataLoader(
            PerSample(x),
            batch_size=batch_size,
            num_workers=workers,
            persistent_workers=True,
            prefetch_factor=4,
        )
        return lambda: [None for _ in loader]
    data = PerSample(x)
    return lambda: [
        torch.stack([data[i] for i in range(b, min(b + batch_size, len(x)))])
        for b in range(0, len(x), batch_size)
    ]


def batched(x: torch.Tensor, batch_size: int):
    """One pass over ``x`` (already on its device), one batched call per batch."""
    run, g = batched_pipeline(PIPELINE), torch.Generator(x.device).manual_seed(0)

    def epoch():
        for b in range(0, len(x), batch_size):
            run(x[b : b + batch_size], g)
        if x.is_cuda:
            torch.cuda.synchronize()

    return epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes for the baseline")
    ap.add_argument("--cpu", action="store_true", help="run the batched side on the CPU even with CUDA")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.batches * args.batch_size
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    base = best_of(per_sample_v2(x, args.batch_size, args.workers), args.runs)
    ours = best_of(batched(x.to(device), args.batch_size), args.runs)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    result = {
        "device": where,
        "images": n,
        "batch_size": args.batch_size,
        "baseline_workers": args.workers,
        "per_sample_v2_img_s": round(n / base),
        "batched_img_s": round(n / ours),
        "speedup_vs_per_sample": round(base / ours, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"RandomCrop(32, padding=4) + RandomHorizontalFlip, {n} uint8 images in batches of {args.batch_size}"
    )
    print(f"per-sample v2 ({args.workers or 'no'} workers)   {n / base:12,.0f} img/s  (baseline, same run)")
    print(f"batched on {where:<20} {n / ours:12,.0f} img/s")
    print(f"speed-up vs per-sample v2        {base / ours:12.1f}x")


if __name__ == "__main__":
    main()
