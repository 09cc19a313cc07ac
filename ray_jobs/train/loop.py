"""The training loop each Ray Train worker runs: plain PyTorch plus ``prepare_model``,
``prepare_data_loader`` and ``ray.train.report``.

``config`` (a plain dict, sent to every worker) holds the graph JSON, the dataset spec, the
hyperparameters and the MLflow run. Checkpoints hold the last state and the best weights so far,
and the metrics of every finished epoch, so a restarted worker group resumes where it was.

The same epochs run in a Ray Tune trial (``ray_jobs.tune``): :func:`train_loop` binds the loop to
Ray Train, :func:`tune_trial_loop` to a one-worker Tune trial in its own process. Every session's
batches reach its device through one step, :func:`to_device` (Ray's loader wrapper only adds the
distributed sampler), so a Tune trial on a GPU trains like a Train worker.

Per epoch the loop reports what a user can act on: ``samples_per_s`` over the training pass only,
``data_wait_fraction`` (the share of the training pass spent waiting for the next batch; above
:data:`DATA_WAIT_HINT` it prints a hint naming the fix), and on GPUs peak memory and utilisation.
With ``compile`` the model goes through ``torch.compile``; the compilation (a warm-up step that
changes no weight) is the ``compile_seconds`` metric, not part of any epoch's time.
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neural_engine.build import build, prefers_channels_last
from neural_engine.checkpoints import load_checkpoint
from neural_engine.data.registry import load
from neural_engine.ir import Graph
from neural_engine.objectives import make_loss, make_scheduler

CHECKPOINT = "state.pt"
DATA_WAIT_HINT = 0.3  # above this share of a training pass spent waiting for data, say how to fix it


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
    report: Callable  # (metrics, checkpoint=None)
    checkpoint: object  # the checkpoint to resume from, or None
    make_checkpoint: Callable  # directory -> Checkpoint


def train_loop(config: dict) -> None:
    """The Ray Train worker function."""
    import ray.train
    import ray.train.torch as rt

    context = ray.train.get_context()

    def prepare_loader(loader):  # the distributed sampler; the device copy is to_device's
        return rt.prepare_data_loader(loader, move_to_device=False)

    run_epochs(
        config,
        Session(
            context.get_world_rank(),
            context.get_world_size(),
            rt.get_device(),
            rt.prepare_model,
            prepare_loader,
            ray.train.report,
            ray.train.get_checkpoint(),
            ray.train.Checkpoint.from_directory,
        ),
    )


def tune_trial_loop(config: dict) -> None:
    """The same epochs inside a Tune function trainable: one worker, no process group."""
    import ray.tune

    run_epochs(
        config,
        tune_session(config, ray.tune.report, ray.tune.get_checkpoint(), ray.tune.Checkpoint.from_directory),
    )


def tune_session(config: dict, report: Callable, checkpoint, make_checkpoint: Callable) -> Session:
    """A one-worker session on the trial's device (its GPU with ``gpu``, else the CPU)."""
    device = torch.device("cuda" if config.get("gpu") and torch.cuda.is_available() else "cpu")
    return Session(
        0, 1, device, lambda m: m.to(device), lambda loader: loader, report, checkpoint, make_checkpoint
    )


def to_device(batch, device: torch.device, channels_last: bool = False) -> list:
    """A batch on the session's device: the one placement step of every session. Copies are
    ``non_blocking`` (they overlap compute from pinned memory); 4-D float inputs of convolutional
    networks on a GPU are made channels_last, as the model is.

    >>> x, y = to_device((torch.zeros(2, 3, 4, 4), torch.zeros(2)), torch.device("cpu"), channels_last=True)
    >>> x.is_contiguous(memory_format=torch.channels_last), y.device.type
    (True, 'cpu')
    """
    out = []
    for t in batch:
        t = t.to(device, non_blocking=True)
        if channels_last and t.dim() == 4 and t.is_floating_point():
            t = t.contiguous(memory_format=torch.channels_last)
        out.append(t)
    return out


def run_epochs(config: dict, session: Session) -> None:

    rank, world = session.rank, session.world
    torch.set_num_threads(config["threads"])
    seed_everything(config["seed"] + rank)
    h = config["hyper"]

    graph = Graph.from_json(config["graph"])
    model = build(graph, logits=True)
    device = session.device
    amp = _amp_dtype(device)
    channels_last = device.type == "cuda" and prefers_channels_last(graph)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = session.prepare_model(model)
    train_loader, val_loader = _loaders(config, session, h)
    max_batches = 3 if config["smoke_test"] else None

    optimizer = getattr(torch.optim, h["optimizer"])(model.parameters(), **h["optimizer_kwargs"])
    loss_fn = make_loss(h["loss"])
    steps = max(len(train_loader) // h["accumulation_steps"], 1)
    scheduler, per = make_scheduler(
        config["lr_schedule"],
        optimizer,
        epochs=h["epochs"],
        steps_per_epoch=steps,
        warmup_epochs=h["warmup_epochs"],
    )
    scaler = torch.amp.GradScaler(enabled=amp == torch.float16)
    state = _restore(session.checkpoint, model, optimizer, scheduler)

    logger = None
    if rank == 0 and config.get("run_id"):
        from ray_jobs.tracking import MetricLogger

        logger = MetricLogger(config["tracking_uri"], config["run_id"], skip_logged=("val_loss",))
        for epoch, metrics in enumerate(state["history"]):  # epochs a failed attempt may not have sent
            logger.log(metrics, step=epoch)

    classify = config["task"] == "classification"

    def place(batch):
        return to_device(batch, device, channels_last)

    compile_seconds = None
    if config.get("compile"):
        model, compile_seconds = _compiled(model, train_loader, loss_fn, place, amp)
    first = state["epoch"]
    for epoch in range(first, h["epochs"]):
        for loader in (train_loader, val_loader):
            _set_epoch(loader, epoch)
        start = time.perf_counter()
        train = _run(
            model,
            train_loader,
            loss_fn,
            place,
            amp,
            classify,
            max_batches,
            optimizer=optimizer,
            scaler=scaler,
            h=h,
            scheduler=scheduler if per == "step" else None,
        )
        if per == "epoch":
            scheduler.step()
        val = _run(model, val_loader, loss_fn, place, amp, classify, max_batches)
        seconds = time.perf_counter() - start
        metrics = {
            "train_loss": train.loss,
            "val_loss": val.loss,
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_seconds": seconds,
            "train_seconds": train.seconds,
            "samples_per_s": train.count * world / max(train.seconds, 1e-9),
            "data_wait_fraction": train.wait_fraction,
        }
        if compile_seconds is not None and epoch == first:
            metrics["compile_seconds"] = compile_seconds
        if rank == 0 and epoch == first and train.wait_fraction > DATA_WAIT_HINT:
            print(
                f"hint: {train.wait_fraction:.0%} of the training pass waited for data; "
                + (
                    "hold the data on the device (--data-placement device) or give the loader more CPUs"
                    if device.type == "cuda"
                    else "give the loader more CPUs (more workers per node)"
                ),
                flush=True,
            )
        if classify:
            metrics.update(train_accuracy=train.accuracy, val_accuracy=val.accuracy)
        if device.type == "cuda":
            metrics.update(_gpu_metrics(device))
        improved = val.loss < state["best"]
        if improved:
            state.update(best=val.loss, best_epoch=epoch, best_weights=_cpu_state(model))
        state["stale"] = 0 if improved else state["stale"] + 1
        state["history"].append(metrics)
        state["epoch"] = epoch + 1
        # the epoch travels with the report (driver lines, Tune); MLflow has it as the step
        _report(session, {**metrics, "epoch": epoch}, state, model, optimizer, scheduler)
        if logger is not None:
            logger.log(metrics, step=epoch)
        if h["early_stopping"] and state["stale"] >= h["early_stopping"]:
            break
    if logger is not None:
        logger.close()


def _loaders(config: dict, session: Session, h: dict):
    """The training and validation loaders on the run's data path (see :mod:`ray_jobs.train.data_path`)."""
    from neural_engine.data.loaders import make_loaders, resolve_pipeline, resolve_split
    from ray_jobs.train import data_path

    dataset = (
        load(config["dataset"]) if isinstance(config["dataset"], str) else config["dataset"]
    )  # or in memory
    parts = resolve_split(dataset, config["split"])
    pipeline = resolve_pipeline(dataset, config["pipeline"])
    placement = data_path.choose(
        config.get("data_placement") or "auto", dataset, pipeline, len(parts["train"]), session.device
    )
    if session.rank == 0:
        print(placement.describe(), flush=True)
        if config.get("run_id"):
            from mlflow.tracking import MlflowClient

            MlflowClient(config["tracking_uri"]).set_tag(
                config["run_id"], "neuralforge.data_placement", placement.path
            )
    if placement.path == "device":
        if pipeline is not None:
            from neural_engine.data.loaders import check_same_shape

            check_same_shape(dataset, {p: pipeline.compile(train=p == "train") for p in ("train", "test")})
        loaders = data_path.device_loaders(
            dataset,
            parts,
            pipeline,
            h["batch_size"],
            session.device,
            seed=h["seed"],
            rank=session.rank,
            world=session.world,
        )
        return loaders["train"], loaders["val"]
    loaders = make_loaders(
        dataset,
        parts,
        h["batch_size"],
        pipeline if pipeline is not None else [],
        num_workers=data_path.loader_workers(),
        seed=h["seed"],
        pin_memory=session.device.type == "cuda",
    )
    return session.prepare_loader(loaders["train"]), session.prepare_loader(loaders["val"])


def _set_epoch(loader, epoch: int) -> None:
    """A new shuffle per epoch: the device loader's, or the distributed sampler's (Ray adds one)."""
    target = loader if hasattr(loader, "set_epoch") else getattr(loader, "sampler", None)
    if hasattr(target, "set_epoch"):
        target.set_epoch(epoch)


def _gpu_metrics(device: torch.device) -> dict[str, float]:
    """Peak memory, and utilisation where NVML is available (``nvidia-ml-py``)."""
    out = {"gpu_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30}
    try:
        out["gpu_utilization"] = float(torch.cuda.utilization(device))
    except (ModuleNotFoundError, RuntimeError):  # no NVML (nvidia-ml-py) on this machine: memory only
        pass
    return out


def _amp_dtype(device: torch.device):
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass(frozen=True)
class Pass:
    """One pass over a loader: mean loss and accuracy and samples seen (summed over all workers),
    this worker's wall time and the share of it spent waiting for the next batch."""

    loss: float
    accuracy: float
    count: int
    seconds: float
    wait_fraction: float


def _run(
    model,
    loader,
    loss_fn,
    place,
    amp,
    classify,
    max_batches,
    *,
    optimizer=None,
    scaler=None,
    h=None,
    scheduler=None,
) -> Pass:
    """One pass: training when ``optimizer`` is given, else evaluation."""
    training = optimizer is not None
    model.train(training)
    device = next(model.parameters()).device
    totals = torch.zeros(3, device=device)  # loss sum, correct, count
    accumulate = h["accumulation_steps"] if training else 1
    start, waited = time.perf_counter(), 0.0
    batches = iter(loader)
    with torch.set_grad_enabled(training):
        for i in itertools.count():
            if max_batches is not None and i >= max_batches:
                break
            asked = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                break
            *inputs, target = place(batch)
            waited += time.perf_counter() - asked
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
    loss_sum, correct, count = totals.tolist()  # waits for the device: the pass's time is complete
    seconds = time.perf_counter() - start
    count = max(count, 1)
    return Pass(loss_sum / count, correct / count, int(count), seconds, waited / max(seconds, 1e-9))


def _compiled(model, loader, loss_fn, place, amp):
    """``torch.compile(model)`` and the seconds its compilation took: forward and backward passes on
    the first batch, in training and in evaluation mode, that change nothing (gradients dropped,
    buffers such as batch-norm statistics restored, the random state kept)."""
    compiled = torch.compile(model)
    inner = unwrapped(model)
    buffers = {k: v.detach().clone() for k, v in inner.named_buffers()}
    *inputs, target = place(next(iter(loader)))
    device = inputs[0].device
    start = time.perf_counter()
    # the whole batch, then one sample less: the second size makes the compiled graph's batch
    # dimension dynamic, so an epoch's smaller last batch does not compile again
    sizes = (slice(None), slice(0, max(1, len(target) - 1)))
    with (
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        torch.autocast(device.type, dtype=amp, enabled=amp is not None),
    ):
        for part in sizes:
            compiled.train()
            loss_fn(compiled(*(x[part] for x in inputs)), target[part]).backward()
            compiled.eval()
            with torch.no_grad():
                compiled(*(x[part] for x in inputs))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    compiled.zero_grad(set_to_none=True)
    with torch.no_grad():
        for k, v in inner.named_buffers():
            v.copy_(buffers[k])
    return compiled, seconds


def unwrapped(model):
    """The built module inside ``torch.compile``'s and DDP's wrappers (its state dict's keys are the
    builder's)."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def _cpu_state(model) -> dict:
    inner = unwrapped(model)
    return {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}


def _restore(checkpoint, model, optimizer, scheduler) -> dict:
    state = {
        "epoch": 0,
        "best": float("inf"),
        "best_epoch": -1,
        "stale": 0,
        "history": [],
        "best_weights": None,
    }
    if checkpoint is None:
        return state

    with checkpoint.as_directory() as d:
        saved = load_checkpoint(Path(d) / CHECKPOINT, what="the Ray Train checkpoint to resume from")
    unwrapped(model).load_state_dict(saved["model"])
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
        torch.save(
            {
                **state,
                "model": _cpu_state(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            },
            os.path.join(d, CHECKPOINT),
        )
        session.report(metrics, checkpoint=session.make_checkpoint(d))
