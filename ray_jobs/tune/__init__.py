"""Sweep a network's search values with Ray Tune, tracked in MLflow.

    python -m ray_jobs.tune --dsl net.neural --dataset digits --num-samples 8
    neuralforge tune --template mnist_cnn --dataset digits --search dense_1.units="choice(64, 128)" \\
        --search train.optimizer.learning_rate="log_range(1e-4, 1e-2)" --epochs 4

The search space is every ``HPO(...)`` of the network (layer parameters, optimizer arguments,
schedule arguments, ``train`` values; paths as in :mod:`neural_engine.search`), mapped as the DSL
says: choice → ``tune.choice`` (``tune.grid_search`` for ``--search-method grid``), range with a
step → ``tune.qrandint``/``tune.quniform``, range → ``tune.randint``/``tune.uniform``, log_range →
``tune.loguniform``. ``--search PATH=VALUE`` adds or replaces a search value (or fixes a value);
training flags (``--epochs``, ``--learning-rate``, …) fix what they name.

Trials run the training loop of ``ray_jobs.train.loop`` in a Tune function trainable, one worker per
trial (``--workers-per-trial N`` runs a TorchTrainer per trial, reporting through Ray Train's
``TuneReportCallback``). Each trial first substitutes its values into the graph and checks the
shapes: an invalid sample ends as an errored trial carrying the shape error. ASHA stops weak
trials early; Optuna proposes values (``bayesian``), or random / grid search. MLflow records one
parent run and a child run per trial (:mod:`ray_jobs.tune.tracking`); the winner is evaluated on
the test split, and its network, every search value resolved, is written as ``best.neural``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from neural_engine.data import load
from neural_engine.errors import NeuralForgeError, ValidationError
from neural_engine.ir import HPO, Call, Graph
from neural_engine.objectives import named, plain
from neural_engine.progress import SILENT, Progress, emit, json_stdout
from neural_engine.search import dsl_value, parse_search_value, sampled, search_values, substitute
from neural_engine.settings import apply_s3_endpoint
from ray_jobs.config import TrainConfig, add_arguments, from_args
from ray_jobs.entry import module_main, stop_on_sigterm, stopped
from ray_jobs.train import connect_ray
from ray_jobs.train.setup import load_network, loop_config, plan, ray_storage

if TYPE_CHECKING:
    from ray_jobs.tune.tracking import SweepResult

METHODS = ("bayesian", "random", "grid")
TRAIN_FLAGS = (
    "epochs",
    "batch_size",
    "gradient_clip",
    "accumulation_steps",
    "warmup_epochs",
    "early_stopping",
    "seed",
)


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SweepConfig:
    num_samples: int | None = _f(
        None, "trials to run; with grid, repeats of the grid (DSL train.num_trials, else 10; grid: 1)"
    )
    search_method: str | None = _f(
        None, "bayesian (Optuna), random or grid (DSL train.search_method, else bayesian)"
    )
    search: tuple[str, ...] = _f(
        (),
        "PATH=VALUE: add, replace or fix a search value, e.g. dense_1.units='choice(64, 128)' (repeatable)",
    )
    metric: str = _f("val_loss", "the metric the search optimises")
    mode: str | None = _f(None, "min or max (default: max for accuracies, else min)")
    max_concurrent: int | None = _f(None, "trials at once (default: as many as the CPUs/GPUs hold)")
    workers_per_trial: int = _f(1, "Ray Train workers per trial; above 1 each trial runs a TorchTrainer")
    grace_period: int = _f(1, "ASHA: epochs every trial runs before it may be stopped")
    reduction_factor: int = _f(2, "ASHA: keep the best 1/N at each rung")
    output: str | None = _f(
        None,
        "also write the winning network as DSL to this file (it is always "
        "recorded on the sweep's MLflow run as sweep/best.neural)",
    )

    def __post_init__(self):
        if self.search_method is not None and self.search_method not in METHODS:
            raise ValidationError(
                f"--search-method must be one of {', '.join(METHODS)}; received {self.search_method!r}"
            )
        if self.mode is not None and self.mode not in ("min", "max"):
            raise ValidationError(f"--mode must be min or max; received {self.mode!r}")
        for name in (
            "num_samples",
            "max_concurrent",
            "workers_per_trial",
            "grace_period",
            "reduction_factor",
        ):
            v, least = getattr(self, name), 2 if name == "reduction_factor" else 1
            if v is not None and (not isinstance(v, int) or v < least):
                flag = "--" + name.replace("_", "-")
                raise ValidationError(f"{flag} must be an integer >= {least}; received {v!r}")

    @property
    def goal(self) -> str:
        return self.mode or ("max" if "acc" in self.metric or "r2" in self.metric else "min")

    def overrides(self) -> dict[str, Any]:
        """``--search`` values by path."""
        out = {}
        for item in self.search:
            path, sep, text = item.partition("=")
            if not sep or not path.strip():
                raise ValidationError(
                    f"--search must be PATH=VALUE, e.g. dense_1.units='choice(64, 128)'; received {item!r}"
                )
            out[path.strip()] = parse_search_value(text)
        return out


# ---- the search space ---------------------------------------------------------------------


def pin_flags(graph: Graph, config: TrainConfig) -> Graph:
    """``graph`` with the training flags written into its training section, so a flag fixes the
    value it names (``--epochs 3`` replaces ``epochs: HPO(...)``) and ``best.neural`` says what ran."""

    t = dict(graph.training)
    t.update({k: getattr(config, k) for k in TRAIN_FLAGS if getattr(config, k) is not None})
    if config.loss:
        t["loss"] = config.loss
    opt = {
        k: v
        for k, v in (("learning_rate", config.learning_rate), ("weight_decay", config.weight_decay))
        if v is not None
    }
    if config.optimizer:
        t["optimizer"] = Call(config.optimizer, kwargs=opt)
    elif opt:
        name, args, kwargs = named(t.get("optimizer", "Adam"), "optimizer")
        if args and "learning_rate" not in opt:
            kwargs["learning_rate"] = args[0]
        kwargs = {k: v for k, v in kwargs.items() if not (k == "lr" and "learning_rate" in opt)}
        t["optimizer"] = Call(name, (), {**kwargs, **opt})
    return replace(graph, training=t)


def split_space(graph: Graph, overrides: dict[str, Any]) -> tuple[dict[str, HPO], dict[str, Any]]:
    """(search values, fixed values) by path: the graph's, then ``--search``'s."""
    values: dict[str, Any] = {**search_values(graph), **overrides}
    substitute(graph, values)  # refuses unknown paths before anything starts
    space = {p: v for p, v in values.items() if isinstance(v, HPO)}
    return space, {p: v for p, v in values.items() if not isinstance(v, HPO)}


def tune_domain(h: HPO, method: str):
    """The Ray Tune domain of a search value (``../shared/DSL.md`` §6)."""
    from ray import tune

    if h.kind == "choice":
        return tune.grid_search(list(h.values)) if method == "grid" else tune.choice(list(h.values))
    if h.kind == "log_range":
        return tune.loguniform(h.low, h.high)
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (h.low, h.high, h.step or 1))
    if h.step is not None:
        if method == "grid":
            n = math.floor((h.high - h.low) / h.step + 1e-9) + 1
            return tune.grid_search([dsl_value(h.low + i * h.step, h) for i in range(n)])
        return tune.qrandint(h.low, h.high, h.step) if ints else tune.quniform(h.low, h.high, h.step)
    return tune.randint(h.low, h.high + 1) if ints else tune.uniform(h.low, h.high)


def max_epochs(space: dict[str, HPO], graph: Graph, config: TrainConfig) -> int:
    if config.smoke_test:
        return 1
    h = space.get("train.epochs")
    if h is not None:
        return int(max(h.values) if h.kind == "choice" else h.high)

    return int(plain(graph.training.get("epochs", 10), "epochs"))


# ---- one trial (runs in a Tune actor) -----------------------------------------------------


def run_trial(trial_config: dict, base: dict) -> None:
    """Substitute the sampled values, check shapes and fit to the data, then train."""

    config = TrainConfig(**base["config"])
    space = {p: HPO.from_json(h) for p, h in base["space"].items()}
    graph = substitute(Graph.from_json(base["graph"]), {**base["fixed"], **sampled(space, trial_config)})
    dataset = load(config.dataset)
    _, hyper = plan(config, graph, dataset)  # a shape error ends this trial, not the sweep
    loop = loop_config(config, graph, hyper, dataset, None, threads=base["threads"])
    if config.workers > 1:
        _train_on_workers(loop, config)
    else:
        from ray_jobs.train.loop import tune_trial_loop

        tune_trial_loop(loop)


def _train_on_workers(loop: dict, config: TrainConfig) -> None:
    """Ray's Tune-over-Train pattern: a TorchTrainer per trial reporting to Tune."""
    import ray.train
    import ray.tune
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from ray_jobs.train.loop import train_loop

    trainer = TorchTrainer(
        train_loop,
        train_loop_config=loop,
        scaling_config=ray.train.ScalingConfig(num_workers=config.workers, use_gpu=config.gpu),
        run_config=ray.train.RunConfig(
            name=f"trial-{ray.tune.get_context().get_trial_id()}",
            **ray_storage("tune-train"),
            callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error


# ---- the sweep (driver) -------------------------------------------------------------------


def sweep(config: TrainConfig, s: SweepConfig, progress: Progress = SILENT) -> SweepResult:
    """Run the sweep; returns the parent run, the best trial's run and where best.neural went.
    ``progress``: a line when it starts and one per finished trial."""
    # checkpoints are kept to one per trial, which makes Tune snapshot often: cheap on local disk
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

    apply_s3_endpoint()  # the sweep's artifacts go to the storage's S3 endpoint, also when used as a library
    config = replace(config, workers=s.workers_per_trial)
    dataset = load(config.dataset)
    graph = pin_flags(load_network(config, dataset)[0], config)
    space, fixed = split_space(graph, s.overrides())
    if not space:
        raise ValidationError(
            "a sweep needs search values; received a network with none",
            hint="mark values with HPO(choice(...)) in the DSL, or add --search "
            "PATH='choice(...)' (e.g. train.batch_size)",
        )
    method = s.search_method or graph.training.get("search_method") or "bayesian"
    if method == "bayesian" and any(h.kind == "choice" and len(h.values) == 1 for h in space.values()):
        method = "random"  # Optuna refuses one-value categoricals
    samples = s.num_samples or graph.training.get("num_trials") or (1 if method == "grid" else 10)
    from ray_jobs.tune.tracking import SweepLogger, SweepTracker, finish_sweep, open_sweep

    parent = open_sweep(config, s, space, fixed, method, samples)
    progress.line(
        f"sweeping {len(space)} search values of {graph.name} ({method}, {samples} "
        f"{'repeats of the grid' if method == 'grid' else 'trials'}, {s.goal} {s.metric}), "
        f"run {parent.run_id}"
    )
    started = time.time()
    try:
        tracker = SweepTracker(parent, graph, space, fixed, s.metric, s.goal)
        results, concurrency = _fit(
            config,
            s,
            graph,
            space,
            fixed,
            method,
            samples,
            parent,
            SweepLogger(tracker, progress, trial_count(samples, space, method)),
        )
        with progress.phase("evaluating the best trial on the test split"):
            return finish_sweep(
                parent,
                tracker,
                results,
                s,
                seconds=time.time() - started,
                concurrency=concurrency,
                dataset=dataset,
            )
    except BaseException as err:
        parent.fail(err)
        if isinstance(err, NeuralForgeError) or stopped(err):
            raise
        raise NeuralForgeError(
            f"the sweep failed: {type(err).__name__}: {err}",
            hint="see the Ray logs above; the MLflow run is marked FAILED",
        ) from err


def _fit(config, s, graph, space, fixed, method, samples, parent, logger):
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    connect_ray()
    stop_on_sigterm()  # after ray.init, which replaced the handler
    concurrency = _concurrency(s, config, samples, space, method)
    cpus = ray.cluster_resources().get("CPU", 1)
    base = {
        "config": {**config.to_dict(), "dataset": parent.dataset_pinned},
        "graph": graph.to_json(),
        "space": {p: h.to_json() for p, h in space.items()},
        "fixed": fixed,
        "threads": max(1, int(cpus // concurrency)),
    }
    # a TorchTrainer's workers hold the CPUs; the trial's own driver needs next to none
    resources = (
        {"cpu": 1, "gpu": 1 if config.gpu else 0} if config.workers == 1 else {"cpu": 0, "memory": 2**20}
    )  # Tune refuses an empty bundle; a MiB of memory is next to none
    trainable = tune.with_resources(tune.with_parameters(run_trial, base=base), resources)
    tuner = tune.Tuner(
        trainable,
        param_space={p: tune_domain(h, method) for p, h in space.items()},
        tune_config=tune.TuneConfig(
            metric=s.metric,
            mode=s.goal,
            num_samples=samples,
            max_concurrent_trials=concurrency if method == "bayesian" else None,
            search_alg=_search_alg(method, config, concurrency),
            scheduler=ASHAScheduler(
                max_t=max_epochs(space, graph, config),
                grace_period=s.grace_period,
                reduction_factor=s.reduction_factor,
            ),
        ),
        run_config=tune.RunConfig(
            name=parent.run_id,
            **ray_storage("tune"),
            callbacks=[logger],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=0),
            verbose=1,
        ),
    )
    return tuner.fit(), concurrency


def _search_alg(method: str, config: TrainConfig, concurrency: int):
    """Optuna's TPE (Tune wraps it in a ConcurrencyLimiter), else Tune's random/grid generator."""
    seed = config.seed or 0
    if method == "bayesian":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=seed)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed, max_concurrent=concurrency)


def _concurrency(s: SweepConfig, config: TrainConfig, samples: int, space: dict, method: str) -> int:
    """Trials at once: what the cluster's CPUs (or GPUs) hold, at most the number of trials."""
    import ray

    if s.max_concurrent:
        return s.max_concurrent
    res = ray.cluster_resources()
    have = res.get("GPU", 0) if config.gpu else res.get("CPU", 1)
    return max(1, min(int(have // config.workers), trial_count(samples, space, method)))


def trial_count(samples: int, space: dict, method: str) -> int:
    """Trials the sweep runs: ``samples``; with grid search, repeats of the whole grid."""
    total = samples
    if method == "grid":
        for h in space.values():
            if h.kind == "choice" or h.step is not None:
                total *= max(1, len(tune_domain(h, "grid")["grid_search"]))
    return total


# ---- command line -------------------------------------------------------------------------


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, skip=("workers",))
    for f in fields(SweepConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "search":
            parser.add_argument(
                flag, action="append", default=[], metavar="PATH=VALUE", help=f.metadata["help"]
            )
            continue
        kind = int if f.type in ("int | None", "int") else str
        extra = {"search_method": {"choices": METHODS}, "mode": {"choices": ("min", "max")}}.get(f.name, {})
        flags = ("-o", flag) if f.name == "output" else (flag,)
        parser.add_argument(
            *flags,
            type=kind,
            default=None if f.default is MISSING else f.default,
            help=f.metadata["help"],
            **extra,
        )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the sweep as JSON (parent and best run, best values, trials); progress stays on stderr",
    )


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    values = {f.name: getattr(args, f.name) for f in fields(SweepConfig)}
    return SweepConfig(**{**values, "search": tuple(values["search"] or ())})


def run(args: argparse.Namespace) -> int:
    """The ``neuralforge tune`` command: a line per finished trial on standard error, the sweep on
    standard output."""
    from ray_jobs.tune.tracking import values_text

    s = sweep_config(args)
    with json_stdout(args.json):
        out = sweep(from_args(args, workers=args.workers_per_trial), s, Progress(json=args.json))
    if args.json:
        emit(sweep_report(out, s))
        return 0
    for row in out.trials:
        values = {k[4:]: v for k, v in row.items() if k.startswith("hpo.")}
        print(f"  {row['trial']}: {row['status']:<13} {row.get('error') or values_text(values)}")
    print(f"best trial: MLflow run {out.best_run_id} ({values_text(out.best_values)})")
    print(f"sweep: MLflow run {out.parent_run_id} finished; best network: {out.best_path}")
    return 0


def sweep_report(out: SweepResult, s: SweepConfig) -> dict:
    """``--json`` of a finished sweep."""
    return {
        "parent_run_id": out.parent_run_id,
        "status": "FINISHED",
        "metric": s.metric,
        "mode": s.goal,
        "best_run_id": out.best_run_id,
        "best_values": out.best_values,
        "best_value": out.metrics.get(f"best_{s.metric}"),
        "best_network": out.best_path,
        "metrics": out.metrics,
        "trials": out.trials,
    }


def main(argv: list[str] | None = None) -> int:
    return module_main("python -m ray_jobs.tune", __doc__, add_sweep_arguments, run, argv)
