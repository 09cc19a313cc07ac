"""Before a run starts: will it fit, and about how long will it take?

The same checks training makes (shapes, fit to the dataset, hyperparameters, memory) plus a time
estimate from *measuring* this network: a few real forward+backward steps of the built module on
this machine's CPU, scaled to the run's steps, plus Ray's fixed start-up. It is an estimate for
one CPU worker like this machine; GPU workers are faster.

>>> from ray_jobs.config import TrainConfig
>>> p = preflight(TrainConfig(template="mnist_cnn", dataset="digits", epochs=2), measure=False)
>>> p.epochs, p.train_samples > 1000, p.memory_bytes < p.memory_available
(2, True, True)
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from dataclasses import dataclass

from neural_engine.data import load
from neural_engine.report import training_memory
from ray_jobs.config import TrainConfig
from ray_jobs.train.setup import load_network, plan

FIXED_SECONDS = 40.0  # measured here: process and Ray Train start-up, test evaluation, model logging
EPOCH_OVERHEAD_SECONDS = 0.5  # measured here: per-epoch report, checkpoint and MLflow logging (digits)
MEASURED_STEPS = 3
VALIDATION_FACTOR = 1.1  # a validation pass over 15% of the data, forward only, each epoch
RECENT_RUNS = 5  # runs whose timings give the fixed costs


@dataclass(frozen=True)
class Preflight:
    network: str
    params: int
    flops_per_sample: int
    batch_size: int
    epochs: int
    train_samples: int
    steps_per_epoch: int
    memory_bytes: int  # one training step (weights, gradients, optimizer state, activations)
    memory_available: int  # this machine's free memory
    step_seconds: float | None  # one measured training step at the run's batch size (None: not measured)
    fixed_seconds: float = FIXED_SECONDS  # what a run takes besides its epochs (start-up, finish)
    epoch_overhead_seconds: float = EPOCH_OVERHEAD_SECONDS  # per epoch, besides its steps
    costs_measured_on: int = 0  # how many recorded runs the two costs above come from (0: defaults)

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.memory_available

    @property
    def seconds(self) -> float | None:
        """Estimated wall time: the fixed costs + epochs x (steps x measured step (+ validation) + the
        per-epoch overhead)."""
        if self.step_seconds is None:
            return None
        per_epoch = self.steps_per_epoch * self.step_seconds * VALIDATION_FACTOR + self.epoch_overhead_seconds
        return self.fixed_seconds + self.epochs * per_epoch


def preflight(config: TrainConfig, *, measure: bool = True) -> Preflight:
    """Check ``config`` as training would (raising its errors) and estimate memory and time."""
    import psutil

    dataset = load(config.dataset)
    graph, _ = load_network(config, dataset)
    analysis, hyper = plan(config, graph, dataset)
    train_samples = int(len(dataset) * 0.7)  # the default 70/15/15 split
    if config.smoke_test:
        train_samples = min(train_samples, 4 * hyper.batch_size)
    memory = training_memory(analysis, hyper.batch_size, "float32", hyper.optimizer)
    return Preflight(
        network=graph.name,
        params=sum(i.params for i in analysis.nodes.values()),
        flops_per_sample=sum(i.flops for i in analysis.nodes.values()),
        batch_size=hyper.batch_size,
        epochs=hyper.epochs,
        train_samples=train_samples,
        steps_per_epoch=max(1, math.ceil(train_samples / hyper.batch_size)),
        memory_bytes=memory.total,
        memory_available=psutil.virtual_memory().available,
        step_seconds=measure_step(graph, hyper.batch_size, dataset) if measure else None,
    )


def step_seconds(config: TrainConfig) -> float:
    """One measured training step of ``config``'s network at its batch size (see :func:`measure_step`)."""

    dataset = load(config.dataset)
    graph, _ = load_network(config, dataset)
    _, hyper = plan(config, graph, dataset)
    return measure_step(graph, hyper.batch_size, dataset)


def fixed_costs(client, experiment_ids: list[str]) -> tuple[float, float, int] | None:
    """(fixed seconds, per-epoch overhead seconds, runs used): medians over the latest ended
    training runs of two epochs or more, as MLflow timed them. An epoch's overhead is what lies
    between two epochs besides the epoch's own time (``epoch_seconds``: report, checkpoint,
    logging); the fixed part is the rest of the run, from its process's start (tag
    ``neuralforge.process_start``) to its end: start-up, test evaluation, model logging. None
    when no such run has been recorded yet."""

    runs = (
        client.search_runs(
            experiment_ids,
            "attributes.status != 'RUNNING'",
            max_results=50,
            order_by=["attributes.start_time DESC"],
        )
        if experiment_ids
        else []
    )
    fixed, overheads = [], []
    for run in runs:
        if run.data.tags.get("neuralforge.kind") in ("sweep", "trial") or not run.info.end_time:
            continue  # Tune's start-up is another matter
        history = sorted(client.get_metric_history(run.info.run_id, "epoch_seconds"), key=lambda m: m.step)
        if len(history) < 2:
            continue
        intervals = [(b.timestamp - a.timestamp) / 1000 for a, b in itertools.pairwise(history)]
        overheads.append(statistics.median(max(0.0, i - b.value) for i, b in zip(intervals, history[1:])))
        started = float(run.data.tags.get("neuralforge.process_start", run.info.start_time / 1000))
        fixed.append(run.info.end_time / 1000 - started - len(history) * statistics.median(intervals))
        if len(fixed) == RECENT_RUNS:
            break
    if not fixed:
        return None
    return max(0.0, statistics.median(fixed)), statistics.median(overheads), len(fixed)


def measure_step(graph, batch_size: int, dataset) -> float:
    """Seconds of one optimizer step at ``batch_size``: the median of a few real steps (after one
    warm-up) on at most 32 samples, scaled linearly to the batch."""
    import torch

    from neural_engine.build import build

    model = build(graph)
    probe = min(batch_size, 32)
    x = torch.randn(probe, *_torch_shape(dataset.input_shape))
    y = torch.randint(0, max(dataset.num_classes, 1), (probe,)) if dataset.task == "classification" else None
    optimizer = torch.optim.Adam(model.parameters())
    times = []
    for _ in range(MEASURED_STEPS + 1):
        start = time.perf_counter()
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out, y) if y is not None else out.float().pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2] * batch_size / probe


def _torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Channels-last image shapes (H, W, C) as the loaders deliver them: (C, H, W)."""
    return (shape[-1], *shape[:-1]) if len(shape) == 3 else tuple(shape)
