"""Training at the GPU's speed (issue #15), each number against a baseline measured in the same run.

On 50,000 synthetic CIFAR-shaped uint8 images, the engine-built CIFAR ResNet-18 (``resnet18_cifar``),
batch 512, bf16 autocast, channels_last, Adam:

1. **ceiling**: the images held on the GPU, no augmentation, no loop code: index, scale, step.
2. **the training loop** (``ray_jobs.train.loop.run_epochs``, the code every run uses, here without Ray or
   MLflow) on each data path (``device``: held on the GPU, augmentation batched there; ``workers``:
   DataLoader workers), without augmentation and with RandomCrop(32, padding 4) + horizontal flip,
   eager and ``--compile``: images/s and the ratio to the ceiling. Targets: the device path ≥ 0.85
   of the ceiling with and without augmentation; compiled ≥ 1.05× eager.
3. **builder vs torchvision**: a training step of the engine's ResNet-18 against torchvision's, 224²,
   batch 256. Target ≥ 0.97.

Without a GPU it prints "no GPU" and exits 0; ``--device cpu`` runs every measurement at a small
size on the CPU, to check the code paths (its numbers say nothing about a GPU).

    python -m benchmarks.bench_gpu [--images 50000] [--epochs 2] [--device cuda|cpu] [--skip-compile] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

import numpy as np
import torch

CROP_FLIP = [
    {"type": "RandomCrop", "params": {"size": 32, "padding": 4}},
    {"type": "RandomHorizontalFlip", "params": {"p": 0.5}},
]


def synthetic_cifar(n: int, seed: int = 0):
    from neural_engine.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.int64)
    return Dataset(
        "synthetic-cifar",
        "classification",
        "image",
        x,
        y,
        classes=tuple(str(i) for i in range(10)),
        source=f"synthetic (seed {seed})",
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _amp(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def ceiling(dataset, batch: int, epochs: int, device: torch.device) -> float:
    """Images/s of the bare step: uint8 images on the device, no augmentation, no loop code."""
    from neural_engine.build import build
    from neural_engine.templates import template

    torch.manual_seed(0)
    model = build(template("resnet18_cifar", classes=10), logits=True).to(
        device, memory_format=torch.channels_last
    )
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.from_numpy(dataset.x).to(device).permute(0, 3, 1, 2)
    y = torch.from_numpy(dataset.y).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch() -> int:
        seen = 0
        for i in range(0, len(y) - batch + 1, batch):
            xb = x[i : i + batch].float().div_(255).contiguous(memory_format=torch.channels_last)
            with _amp(device):
                loss = loss_fn(model(xb), y[i : i + batch])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            seen += batch
        return seen

    epoch()  # warm-up: cuDNN autotuning, allocator
    _sync(device)
    start, seen = time.perf_counter(), 0
    for _ in range(epochs):
        seen += epoch()
    _sync(device)
    return seen / (time.perf_counter() - start)


def loop_speed(
    dataset, batch: int, epochs: int, device: torch.device, placement: str, augment: bool, compiled: bool
) -> dict:
    """Images/s of ``run_epochs`` (training pass only; the first epoch is the warm-up)."""
    from neural_engine.data.augment import Pipeline
    from neural_engine.templates import template
    from ray_jobs.config import TrainConfig, resolve
    from ray_jobs.train import loop

    graph = template("resnet18_cifar", classes=10)
    config = TrainConfig(
        template="resnet18_cifar",
        epochs=epochs + 1,
        batch_size=batch,
        learning_rate=1e-3,
        data_placement=placement,
        compile=compiled,
    )
    hyper = resolve(config, graph, "sparse_categorical_crossentropy")
    n = len(dataset)
    split = {"train": np.arange(n), "val": np.arange(min(n, batch)), "test": np.arange(min(n, batch))}
    reports = []
    run = {
        "graph": graph.to_json(),
        "dataset": dataset,
        "split": split,
        "pipeline": Pipeline.from_json(CROP_FLIP) if augment else [],
        "task": "classification",
        "hyper": asdict(hyper),
        "lr_schedule": None,
        "seed": 0,
        "smoke_test": False,
        "run_id": None,
        "gpu": device.type == "cuda",
        "compile": compiled,
        "data_placement": placement,
        "tracking_uri": None,
        "threads": torch.get_num_threads(),
    }
    session = loop.Session(
        0,
        1,
        device,
        lambda m: m.to(device),
        lambda loader: loader,
        lambda metrics, checkpoint=None: reports.append(metrics),
        None,
        lambda d: None,
    )
    loop.run_epochs(run, session)
    steady = reports[1:] or reports
    return {
        "img_s": float(np.median([r["samples_per_s"] for r in steady])),
        "data_wait_fraction": float(np.median([r["data_wait_fraction"] for r in steady])),
        "compile_seconds": reports[0].get("compile_seconds"),
    }


def builder_ratio(device: torch.device, batch: int, steps: int, size: int) -> dict:
    """Training-step throughput of the engine's ResNet-18 over torchvision's (same shapes)."""
    import torchvision

    from neural_engine.build import build
    from neural_engine.templates import template

    models = {
        "engine": build(template("resnet18", input_shape=(size, size, 3)), logits=True),
        "torchvision": torchvision.models.resnet18(),
    }
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)
    out = {}
    for name, model in models.items():
        model = model.to(device, memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        for i in range(steps + 2):  # two warm-up steps
            if i == 2:
                _sync(device)
                start = time.perf_counter()
            with _amp(device):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        _sync(device)
        out[name] = batch * steps / (time.perf_counter() - start)
    return {**out, "ratio": out["engine"] / out["torchvision"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--images", type=int, help="default: 50000 on a GPU, 2048 on the CPU")
    ap.add_argument("--batch-size", type=int, help="default: 512 on a GPU, 128 on the CPU")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up epoch")
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no GPU: nothing measured (`--device cpu` checks the code paths on the CPU)")
        return 0
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    images, batch = args.images or (50_000 if gpu else 2048), args.batch_size or (512 if gpu else 128)
    name = torch.cuda.get_device_name(device) if gpu else "CPU"
    dataset = synthetic_cifar(images)
    results = {"device": name, "torch": torch.__version__, "images": images, "batch": batch}
    results["ceiling_img_s"] = top = ceiling(dataset, batch, args.epochs, device)
    rows = []
    for compiled in (False,) if args.skip_compile else (False, True):
        for placement in ("device", "workers"):
            for augment in (False, True):
                r = loop_speed(dataset, batch, args.epochs, device, placement, augment, compiled)
                rows.append(
                    {
                        "placement": placement,
                        "augment": augment,
                        "compiled": compiled,
                        **r,
                        "of_ceiling": r["img_s"] / top,
                    }
                )
    results["loop"] = rows
    results["builder"] = builder_ratio(device, 256 if gpu else 8, 20 if gpu else 2, 224 if gpu else 64)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{name} · torch {torch.__version__} · {images:,} images, batch {batch}")
    print(f"ceiling (device-resident, no augmentation, no loop code): {top:,.0f} img/s")
    print(f"{'path':8} {'augment':9} {'mode':9} {'img/s':>10} {'of ceiling':>11} {'data wait':>10}")
    for r in rows:
        print(
            f"{r['placement']:8} {'crop+flip' if r['augment'] else 'none':9} "
            f"{'compiled' if r['compiled'] else 'eager':9} {r['img_s']:10,.0f} {r['of_ceiling']:11.2f} "
            f"{r['data_wait_fraction']:10.2f}"
        )
    for r in rows:
        if r["compiled"]:
            eager = next(
                e
                for e in rows
                if not e["compiled"] and e["placement"] == r["placement"] and e["augment"] == r["augment"]
            )
            print(
                f"compiled vs eager, {r['placement']}, {'crop+flip' if r['augment'] else 'none'}: "
                f"{r['img_s'] / eager['img_s']:.2f}x (compile {r['compile_seconds']:.0f} s)"
            )
    b = results["builder"]
    print(
        f"builder vs torchvision ResNet-18: {b['engine']:,.0f} vs {b['torchvision']:,.0f} img/s, "
        f"ratio {b['ratio']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
