"""The training configuration: one dataclass, validated before anything starts.

Values come from, in order: the defaults below, the network's DSL (``train { }``, ``optimizer``,
``loss``, ``lr_schedule``), then command-line flags. Each field's ``help`` is its flag's help;
errors name the flag (or the DSL line, which the parser already checked).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from neural_engine.errors import ValidationError
from neural_engine.ir import Graph
from neural_engine.objectives import loss_spec, optimizer_spec, plain


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class TrainConfig:
    # what to train
    dsl: str | None = _f(None, "a DSL file holding the network")
    network: str | None = _f(None, "which network of the DSL file (default: the last)")
    graph: str | None = _f(None, "a graph JSON file")
    template: str | None = _f(None, "a built-in template, e.g. mnist_cnn")
    project: str | None = _f(None, "a saved architecture version, NAME@vN (NAME alone: the latest)")
    # data
    dataset: str = _f("digits", "dataset name (built-in or registered, e.g. pets@v2)")
    split: str | None = _f(None, "train,val,test percentages, e.g. 70,15,15 (default: the dataset's)")
    augment: str | None = _f(
        None,
        "augmentation pipeline JSON file for the training split, or none to turn off "
        "the dataset version's own pipeline (default: the version's)",
    )
    # hyperparameters (default: the DSL's)
    epochs: int | None = _f(None, "epochs (DSL train.epochs, else 10)")
    batch_size: int | None = _f(None, "batch size per worker (DSL train.batch_size, else 32)")
    learning_rate: float | None = _f(None, "learning rate (DSL optimizer learning_rate, else 1e-3)")
    optimizer: str | None = _f(None, "optimizer name, e.g. AdamW (DSL optimizer, else Adam)")
    loss: str | None = _f(None, "loss name (DSL loss, else from the task)")
    weight_decay: float | None = _f(None, "weight decay")
    gradient_clip: float | None = _f(None, "clip the gradient norm to this (DSL train.gradient_clip)")
    accumulation_steps: int | None = _f(None, "batches per optimizer step (DSL train.accumulation_steps)")
    warmup_epochs: int | None = _f(None, "linear warm-up epochs before the cosine decay")
    early_stopping: int | None = _f(None, "stop after this many epochs without validation improvement")
    seed: int | None = _f(None, "seed for Python, NumPy and torch (DSL train.seed, else 0)")
    # compute and tracking
    workers: int = _f(1, "Ray Train workers")
    gpu: bool = _f(False, "one GPU per worker (refused where the cluster has none)")
    data_placement: str | None = _f(
        None,
        "auto, device (the training data held on the device, augmented there in "
        "batches) or workers (DataLoader workers) (DSL train.data_placement, "
        "else auto)",
    )
    compile: bool = _f(
        False,
        "torch.compile the model (its compilation is the compile_seconds metric, "
        "not part of an epoch's time)",
    )
    experiment: str = _f("neuralforge", "MLflow experiment")
    run_name: str | None = _f(None, "MLflow run name (default: network-dataset-time)")
    keep_checkpoints: int = _f(2, "how many of the latest checkpoints to keep (plus the best)")
    max_failures: int = _f(2, "worker failures to recover from (resuming from the last checkpoint)")
    smoke_test: bool = _f(False, "a tiny run: 1 epoch on a few batches")

    @property
    def pipeline(self):
        """What the loaders take: None (the dataset version's pipeline), [] (none), or the JSON file."""
        return [] if self.augment == "none" else self.augment

    def __post_init__(self):
        sources = [k for k in ("dsl", "graph", "template", "project") if getattr(self, k)]
        if len(sources) != 1:
            raise ValidationError(
                "give exactly one of --dsl, --graph, --template or --project; received "
                + (", ".join(f"--{s}" for s in sources) or "none")
            )
        positive = {
            "epochs": int,
            "batch_size": int,
            "accumulation_steps": int,
            "workers": int,
            "keep_checkpoints": int,
            "early_stopping": int,
        }
        for name, kind in positive.items():
            _check(
                name,
                getattr(self, name),
                lambda v, kind=kind: isinstance(v, kind) and v > 0,
                "a positive integer",
            )
        _check("learning_rate", self.learning_rate, lambda v: _number(v) and v > 0, "a positive number")
        _check("gradient_clip", self.gradient_clip, lambda v: _number(v) and v > 0, "a positive number")
        _check("weight_decay", self.weight_decay, lambda v: _number(v) and v >= 0, "a non-negative number")
        _check(
            "data_placement",
            self.data_placement,
            lambda v: v in ("auto", "device", "workers"),
            "auto, device or workers",
        )
        for name in ("warmup_epochs", "seed", "max_failures"):
            _check(
                name, getattr(self, name), lambda v: isinstance(v, int) and v >= 0, "a non-negative integer"
            )
        for flag, spec in (("loss", loss_spec), ("optimizer", optimizer_spec)):
            if getattr(self, flag) is not None:
                try:
                    spec(getattr(self, flag))
                except ValidationError as err:
                    raise ValidationError(f"--{flag}: {err.message}", hint=err.hint) from None
        if self.split is not None:
            split_ratios(self.split)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check(name: str, value, ok, expected: str) -> None:
    if value is not None and not ok(value):
        raise ValidationError(f"--{name.replace('_', '-')} must be {expected}; received {value!r}")


def split_ratios(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 100) > 1e-6:
        raise ValidationError(
            f"--split must be three percentages adding to 100, e.g. 70,15,15; received {text!r}"
        )
    return parts


def add_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per field, its help from the field (``--batch-size``, ``--gpu``, …), but ``skip``."""
    for f in fields(TrainConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        kind = {"int | None": int, "int": int, "float | None": float}.get(f.type, str)
        default = None if f.default is MISSING else f.default
        parser.add_argument(flag, type=kind, default=default, help=f.metadata["help"])


def to_flags(config: TrainConfig) -> list[str]:
    """The flags that give ``config`` back (fields left at their defaults are left out).

    >>> to_flags(TrainConfig(template="mnist_cnn", epochs=3, smoke_test=True))
    ['--template', 'mnist_cnn', '--epochs', '3', '--smoke-test']
    """
    out: list[str] = []
    for f in fields(TrainConfig):
        value = getattr(config, f.name)
        if value is None or value == f.default:
            continue
        flag = "--" + f.name.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def from_args(args: argparse.Namespace, **given) -> TrainConfig:
    """The configuration of parsed flags; ``given`` fields replace (or stand in for skipped) flags."""
    return TrainConfig(
        **{f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name not in given}, **given
    )


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters the loop runs with: DSL values with the flags applied."""

    epochs: int
    batch_size: int
    optimizer: str
    optimizer_kwargs: dict
    loss: Any
    gradient_clip: float | None
    accumulation_steps: int
    warmup_epochs: int
    early_stopping: int | None
    seed: int
    lr_schedule: Any = None
    extra: dict = field(default_factory=dict)


def resolve(config: TrainConfig, graph: Graph, default_loss: str) -> Hyper:
    """Merge the DSL's training section under the flags; search values give their default."""
    t = graph.training
    value = lambda key, flag, default: flag if flag is not None else plain(t.get(key, default), key)
    opt_setting = config.optimizer or t.get("optimizer") or "Adam"
    cls, kwargs = optimizer_spec(
        opt_setting, learning_rate=config.learning_rate, weight_decay=config.weight_decay
    )
    kwargs.setdefault("lr", 1e-3)
    hyper = Hyper(
        epochs=value("epochs", config.epochs, 10),
        batch_size=value("batch_size", config.batch_size, 32),
        optimizer=cls,
        optimizer_kwargs=kwargs,
        loss=config.loss or t.get("loss") or default_loss,
        gradient_clip=value("gradient_clip", config.gradient_clip, None),
        accumulation_steps=value("accumulation_steps", config.accumulation_steps, 1),
        warmup_epochs=value("warmup_epochs", config.warmup_epochs, 0),
        early_stopping=value("early_stopping", config.early_stopping, None),
        seed=value("seed", config.seed, 0),
        lr_schedule=t.get("lr_schedule"),
    )
    loss_spec(hyper.loss)
    if config.smoke_test:
        hyper = Hyper(**{**asdict(hyper), "epochs": 1})
    return hyper


def cpus_available() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
