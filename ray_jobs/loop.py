"""The training loop each Ray Train worker runs: plain PyTorch plus ``prepare_model``,
``prepare_data_loader`` and ``ray.train.report``.

``config`` (a plain dict, sent to every worker) holds the graph JSON, the dataset spec, the
hyperparameters and the MLflow run. Checkpoints hold the last state and the best weights so far,
and the metrics of every finished epoch, so a restarted worker group resumes where it was.

The same epochs run in a Ray Tune trial (``ray_jobs.tune``): :func:`train_loop` binds the loop to
Ray Train, :func:`tune_trial_loop` to a one-worker Tune trial in its own process.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CHECKPOINT = "state.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Session:
    """Where the loop runs: a Ray Train worker, or a Tune trial training in its own process."""

    rank: int
    world: int
    device: torch.device
    prepare_model: Callable
    prepare_loader: Callable
    report: Callable            # (metrics, checkpoint=None)
    checkpoint: object          # the checkpoint to resume from, or None
    make_checkpoint: Callable   # directory -> Checkpoint


def train_loop(config: dict) -> None:
    """The Ray Train worker function."""
    import ray.train
    import ray.train.torch as rt
    context = ray.train.get_context()
    run_epochs(config, Session(context.get_world_rank(), context.get_world_size(), rt.get_device(),
                               rt.prepare_model, rt.prepare_data_loader, ray.train.report,
                               ray.train.get_checkpoint(), ray.train.Checkpoint.from_directory))


def tune_trial_loop(config: dict) -> None:
    """The same epochs inside a Tune function trainable: one worker, no process group."""
    import ray.tune
    device = torch.device("cuda" if config.get("gpu") and torch.cuda.is_available() else "cpu")
    run_epochs(config, Session(0, 1, device, lambda m: m.to(device), lambda loader: loader, ray.tune.report,
                               ray.tune.get_checkpoint(), ray.tune.Checkpoint.from_directory))


def run_epochs(config: dict, session: Session) -> None:
    from neural_engine.build import build
    from neural_engine.data import make_loaders
    from neural_engine.ir import Graph
    from neural_engine.objectives import make_loss, make_scheduler

    rank, world = session.rank, session.world
    torch.set_num_threads(config["threads"])
    seed_everything(config["seed"] + rank)
    h = config["hyper"]

    graph = Graph.from_json(config["graph"])
    model = build(graph, logits=True)
    device = session.device
    amp = _amp_dtype(device)
    if device.type == "cuda" and any(n.type.startswith("Conv") for n in graph.nodes):
        model = model.to(memory_format=torch.channels_last)
    model = session.prepare_model(model)
    loaders = make_loaders(config["dataset"], config["split"], h["batch_size"], config["pipeline"],
                           seed=h["seed"])
    train_loader = session.prepare_loader(loaders["train"])
    val_loader = session.prepare_loader(loaders["val"])
    max_batches = 3 if config["smoke_test"] else None

    optimizer = getattr(torch.optim, h["optimizer"])(model.parameters(), **h["optimizer_kwargs"])
    loss_fn = make_loss(h["loss"])
    steps = max(len(train_loader) // h["accumulation_steps"], 1)
    scheduler, per = make_scheduler(config["lr_schedule"], optimizer, epochs=h["epochs"],
                                    steps_per_epoch=steps, warmup_epochs=h["warmup_epochs"])
    scaler = torch.amp.GradScaler(enabled=amp == torch.float16)
    state = _restore(session.checkpoint, model, optimizer, scheduler)

    logger = None
    if rank == 0 and config.get("run_id"):
        from ray_jobs.tracking import MetricLogger
        logger = MetricLogger(config["tracking_uri"], config["run_id"], skip_logged=("val_loss",))
        for epoch, metrics in enumerate(state["history"]):  # epochs a failed attempt may not have sent
            logger.log(metrics, step=epoch)

    classify = config["task"] == "classification"
    for epoch in range(state["epoch"], h["epochs"]):
        start = time.perf_counter()
        train_loss, train_acc, seen = _run(model, train_loader, loss_fn, device, amp, classify, max_batches,
                                           optimizer=optimizer, scaler=scaler, h=h,
                                           scheduler=scheduler if per == "step" else None)
        if per == "epoch":
            scheduler.step()
        val_loss, val_acc, _ = _run(model, val_loader, loss_fn, device, amp, classify, max_batches)
        seconds = time.perf_counter() - start
        metrics = {"train_loss": train_loss, "val_loss": val_loss, "lr": optimizer.param_groups[0]["lr"],
                   "epoch_seconds": seconds, "samples_per_s": seen * world / seconds}
        if classify:
            metrics.update(train_accuracy=train_acc, val_accuracy=val_acc)
        if device.type == "cuda":
            metrics.update(_gpu_metrics(device))
        improved = val_loss < state["best"]
        if improved:
            state.update(best=val_loss, best_epoch=epoch, best_weights=_cpu_state(model))
        state["stale"] = 0 if improved else state["stale"] + 1
        state["history"].append(metrics)
        state["epoch"] = epoch + 1
        _report(session, metrics, state, model, optimizer, scheduler)
        if logger is not None:
            logger.log(metrics, step=epoch)
        if h["early_stopping"] and state["stale"] >= h["early_stopping"]:
            break
    if logger is not None:
        logger.close()


def _gpu_metrics(device: torch.device) -> dict[str, float]:
    """Peak memory, and utilisation where NVML is available (``nvidia-ml-py``)."""
    out = {"gpu_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30}
    try:
        out["gpu_utilization"] = float(torch.cuda.utilization(device))
    except Exception:  # no NVML on this machine: memory only
        pass
    return out


def _amp_dtype(device: torch.device):
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _run(model, loader, loss_fn, device, amp, classify, max_batches, *, optimizer=None, scaler=None,
         h=None, scheduler=None):
    """One pass: training when ``optimizer`` is given, else evaluation. Returns the mean loss,
    accuracy (classification) and samples seen, summed over all workers."""
    training = optimizer is not None
    model.train(training)
    totals = torch.zeros(3, device=device)  # loss sum, correct, count
    accumulate = h["accumulation_steps"] if training else 1
    with torch.set_grad_enabled(training):
        for i, (*inputs, target) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                out = model(*inputs)
                loss = loss_fn(out, target)
            if training:
                scaler.scale(loss / accumulate).backward()
                if (i + 1) % accumulate == 0:
                    if h["gradient_clip"]:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), h["gradient_clip"])
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    if scheduler is not None:
                        scheduler.step()
            n = target.shape[0]
            totals[0] += loss.detach().float() * n
            totals[2] += n
            if classify:
                totals[1] += (out.argmax(1) == target).sum()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(totals)  # every rank decides on the same numbers
    loss_sum, correct, count = totals.tolist()
    count = max(count, 1)
    return loss_sum / count, correct / count, int(count)


def _cpu_state(model) -> dict:
    inner = getattr(model, "module", model)
    return {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}


def _restore(checkpoint, model, optimizer, scheduler) -> dict:
    state = {"epoch": 0, "best": float("inf"), "best_epoch": -1, "stale": 0, "history": [],
             "best_weights": None}
    if checkpoint is None:
        return state
    from neural_engine.checkpoints import load_checkpoint
    with checkpoint.as_directory() as d:
        saved = load_checkpoint(Path(d) / CHECKPOINT, what="the Ray Train checkpoint to resume from")
    getattr(model, "module", model).load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    state.update({k: saved[k] for k in state})
    return state


def _report(session: Session, metrics, state, model, optimizer, scheduler) -> None:
    """Every rank reports (a barrier); rank 0 attaches the checkpoint."""
    if session.rank != 0:
        session.report(metrics)
        return
    with tempfile.TemporaryDirectory() as d:
        torch.save({**state, "model": _cpu_state(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict()}, os.path.join(d, CHECKPOINT))
        session.report(metrics, checkpoint=session.make_checkpoint(d))
