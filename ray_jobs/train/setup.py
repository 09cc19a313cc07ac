"""Before training: load the network and the dataset, check the configuration against them and
the cluster, and open the MLflow run with everything needed to reproduce it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import weakref
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from neural_engine.data import load
from neural_engine.dsl import parse_file, print_dsl
from neural_engine.errors import ValidationError
from neural_engine.ir import Graph
from neural_engine.report import report, training_memory
from neural_engine.search import defaults_text
from neural_engine.settings import absolute_storage, apply_s3_endpoint, settings
from neural_engine.shapes import propagate
from ray_jobs.config import Hyper, TrainConfig, resolve, split_ratios
from ray_jobs.tracking import client as tracking_client
from ray_jobs.tracking import experiment_id

DEFAULT_LOSS = {
    "classification": "sparse_categorical_crossentropy",
    "segmentation": "sparse_categorical_crossentropy",
    "regression": "mse",
}


@dataclass(frozen=True)
class Prepared:
    config: TrainConfig
    graph: Graph
    hyper: Hyper
    dataset: object  # neural_engine.data.Dataset
    run_id: str
    tracking_uri: str
    loop_config: dict


def load_network(config: TrainConfig, dataset) -> tuple[Graph, str | None]:
    """The graph to train and its DSL text (if it came from DSL). Templates take the dataset's
    input shape and classes."""

    if config.template:
        from neural_engine.templates import template

        options = {"input_shape": dataset.input_shape}
        if dataset.task == "classification":
            options["classes"] = dataset.num_classes
        graph = template(config.template, **options)
        return graph, print_dsl(graph)
    if config.project:
        from neural_engine.projects import load_project_ref

        graph = load_project_ref(config.project).graph
        return graph, print_dsl(graph)
    if config.graph:
        try:
            graph = Graph.from_json(json.loads(Path(config.graph).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ValidationError(
                f"--graph must be a readable graph JSON file; received {config.graph} ({e})"
            ) from None
        return graph, print_dsl(graph)
    try:
        text = Path(config.dsl).read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"--dsl must be a readable file; received {config.dsl} ({e})") from None
    return parse_file(text, config.dsl).pick(config.network), text


def check_fit(graph: Graph, analysis, dataset) -> None:
    """The network's input and output must match the dataset."""
    (name, shape), *rest = graph.inputs.items()
    if rest:
        raise ValidationError(f"training takes networks with one input; received {len(graph.inputs)}")
    if tuple(shape) != tuple(dataset.input_shape):
        raise ValidationError(
            f"the network's input {name} {tuple(shape)} must match dataset {dataset.name}'s "
            f"samples {tuple(dataset.input_shape)}",
            hint=f"set input: {tuple(dataset.input_shape)} in the DSL",
        )
    out = analysis.nodes[analysis.outputs[0]].output.user
    if dataset.task == "classification" and out[-1] != dataset.num_classes:
        raise ValidationError(
            f"the network's output {out} must end in the {dataset.num_classes} classes of {dataset.name}",
            hint=f'use Output({dataset.num_classes}, "softmax")',
        )


def check_resources(config: TrainConfig, analysis, hyper: Hyper) -> None:
    """A GPU where none exists, or a batch whose training memory exceeds the device: refused."""
    import psutil
    import torch

    if config.gpu and not _cluster_gpus() and not torch.cuda.is_available():
        raise ValidationError(
            "--gpu needs a GPU; received a cluster with none",
            hint="leave out --gpu to train on CPUs, or add GPU workers (cluster.yaml)",
        )
    memory = training_memory(analysis, hyper.batch_size, "float32", hyper.optimizer)
    if config.gpu and torch.cuda.is_available():
        available, where = torch.cuda.get_device_properties(0).total_memory, "the GPU"
    else:
        available, where = psutil.virtual_memory().available, "this machine's free memory"
    if memory.total > available:
        raise ValidationError(
            f"--batch-size {hyper.batch_size} needs about {memory.total / 2**30:.1f} GiB to "
            f"train; {where} has {available / 2**30:.1f} GiB",
            hint="use a smaller --batch-size or --accumulation-steps",
        )


def _cluster_gpus() -> float:
    import ray

    return ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0


def plan(config: TrainConfig, graph: Graph, dataset):
    """Shapes, fit to the dataset and hyperparameters of ``graph``: (analysis, hyper). Raises the
    shape or validation error of a network that cannot train on ``dataset``."""

    analysis = propagate(graph)
    check_fit(graph, analysis, dataset)
    return analysis, resolve(config, graph, DEFAULT_LOSS[dataset.task])


def prepare(config: TrainConfig, *, tags: dict[str, str] | None = None) -> Prepared:

    apply_s3_endpoint()  # the run's artifacts go to the storage's S3 endpoint, also when used as a library
    dataset = load(config.dataset)
    graph, dsl_text = load_network(config, dataset)
    analysis, hyper = plan(config, graph, dataset)
    if searched := defaults_text(graph):
        print(
            "note: the network has search values; training uses each one's default (`neuralforge tune` "
            "searches them):\n  " + "\n  ".join(searched),
            file=sys.stderr,
        )
    check_resources(config, analysis, hyper)
    s = settings()
    s.home.mkdir(parents=True, exist_ok=True)
    run_id = _open_run(config, graph, dsl_text, analysis, hyper, dataset, tags or {})
    return Prepared(
        config,
        graph,
        hyper,
        dataset,
        run_id,
        s.mlflow_uri,
        loop_config(config, graph, hyper, dataset, run_id),
    )


def loop_config(
    config: TrainConfig, graph: Graph, hyper: Hyper, dataset, run_id: str | None, threads: int | None = None
) -> dict:
    """What every worker needs (a plain dict): see :mod:`ray_jobs.train.loop`."""
    split = None
    if config.split:
        from neural_engine.data import SplitSpec

        split = SplitSpec(
            tuple(r / 100 for r in split_ratios(config.split)),
            stratify=dataset.task == "classification",
            seed=hyper.seed,
        )
    return {
        "graph": graph.to_json(),
        "dataset": config.dataset,
        "split": split,
        "pipeline": _pipeline(config),
        "task": dataset.task,
        "hyper": asdict(hyper),
        "lr_schedule": hyper.lr_schedule,
        "seed": hyper.seed,
        "smoke_test": config.smoke_test,
        "run_id": run_id,
        "gpu": config.gpu,
        "compile": config.compile,
        "data_placement": config.data_placement or graph.training.get("data_placement") or "auto",
        "tracking_uri": settings().mlflow_uri,
        "threads": threads or max(1, (os.cpu_count() or 1) // config.workers),
    }


def _pipeline(config: TrainConfig):
    """The augmentation as the workers take it: a file's operations read here, in the driver (a
    worker runs in another folder, where a relative path would be lost)."""
    if isinstance(config.pipeline, str):
        from neural_engine.data.augment import Pipeline

        return Pipeline.load(config.pipeline).to_json()
    return config.pipeline


def run_params(config: TrainConfig, hyper: Hyper, dataset, analysis=None) -> dict:
    """The MLflow parameters of a run: every hyperparameter, the scaling, the data."""
    params = {
        **{f"train.{k}": v for k, v in asdict(hyper).items() if k not in ("optimizer_kwargs", "extra")},
        **{f"optimizer.{k}": v for k, v in hyper.optimizer_kwargs.items()},
        "workers": config.workers,
        "gpu": config.gpu,
        "compile": config.compile,
        "data_placement": config.data_placement or "auto",
        "dataset": dataset.name,
        "dataset_version": dataset.version or fingerprint(dataset)[:16],
        "split": config.split or json.dumps(dataset.split or "default"),
        "augmentation": _capped(augmentation_json(config, dataset) or "none"),
        "smoke_test": config.smoke_test,
    }
    if analysis is not None:
        params["params"] = sum(i.params for i in analysis.nodes.values())
    return params


def setup_files(config: TrainConfig, graph: Graph, dsl_text: str | None, dataset) -> dict[str, str]:
    """``setup/`` artifacts that rebuild the run (``neuralforge reproduce``): the graph, its DSL,
    and the configuration with the dataset pinned to its version."""
    pinned = f"{dataset.name}@{dataset.version}" if dataset.version else config.dataset
    files = {
        "graph.json": json.dumps(graph.to_json(), indent=1),
        "network.neural": dsl_text or "",
        "config.json": json.dumps(
            {**config.to_dict(), "dataset_pinned": pinned, "dataset_fingerprint": fingerprint(dataset)},
            indent=1,
        ),
    }
    pipeline = augmentation_json(config, dataset)
    if pipeline:
        files["augmentation.json"] = pipeline
    return files


def augmentation_json(config: TrainConfig, dataset) -> str | None:
    """The augmentation training applies, exactly (the file's, else the dataset version's), as JSON."""
    from neural_engine.data.loaders import resolve_pipeline

    pipe = resolve_pipeline(dataset, config.pipeline)
    return json.dumps(pipe.to_json(), sort_keys=True) if pipe else None


def _capped(text: str, limit: int = 6000) -> str:
    """An MLflow parameter value (at most 6,000 characters; the whole text is in setup/)."""
    return text if len(text) <= limit else text[: limit - 40] + " … (full: setup/augmentation.json)"


_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fingerprint(dataset) -> str:
    """The dataset's content hash, computed once per loaded dataset (a sweep asks for every trial)."""
    if dataset not in _FINGERPRINTS:
        _FINGERPRINTS[dataset] = dataset.fingerprint()
    return _FINGERPRINTS[dataset]


def log_files(client, run_id: str, files: dict[str, str], where: str = "setup") -> None:

    with tempfile.TemporaryDirectory() as d:
        for fname, text in files.items():
            Path(d, fname).write_text(text)
        client.log_artifacts(run_id, d, where)


def _open_run(config, graph, dsl_text, analysis, hyper, dataset, tags) -> str:
    from mlflow.entities import Param

    from neural_engine.codegen import generate_pytorch

    s = settings()
    client = tracking_client(s.mlflow_uri)
    exp = experiment_id(s.mlflow_uri, config.experiment, _artifact_root(s))
    name = config.run_name or f"{graph.name}-{dataset.name}-{datetime.now():%Y%m%d-%H%M%S}"
    run = client.create_run(exp, run_name=name, tags={**_tags(config, graph), **tags})
    params = run_params(config, hyper, dataset, analysis)
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    files = {
        **setup_files(config, graph, dsl_text, dataset),
        "model.py": generate_pytorch(graph),
        "summary.txt": report(analysis).table(),
        "summary.json": json.dumps(report(analysis).to_json(), default=str),
        "environment.json": json.dumps(environment(), indent=1),
        "seeds.json": json.dumps({"seed": hyper.seed, "per_worker": "seed + rank"}),
    }
    log_files(client, run.info.run_id, files)
    return run.info.run_id


def _artifact_root(s) -> str:
    return under_storage(s, "mlartifacts")


def under_storage(s, what: str) -> str:
    """``<storage>/<what>``: a URI on remote storage, else an absolute local path."""

    storage = absolute_storage(s.storage)
    return f"{storage.rstrip('/')}/{what}" if "://" in storage else str(Path(storage, what))


def ray_storage(what: str) -> dict:
    """``RunConfig`` arguments that put Ray's checkpoints under ``<storage>/<what>``. On S3 with an
    endpoint (MinIO, another S3), Ray gets a pyarrow filesystem for it (its own would go to AWS);
    the filesystem travels to every worker with the run's configuration.

    >>> ray_storage("checkpoints")["storage_path"].endswith("/checkpoints")
    True
    """
    s = settings()
    path = under_storage(s, what)
    if not (path.startswith("s3://") and s.s3_endpoint_url):
        return {"storage_path": path}

    import pyarrow.fs

    endpoint = urlparse(s.s3_endpoint_url)
    fs = pyarrow.fs.S3FileSystem(
        endpoint_override=endpoint.netloc + endpoint.path.rstrip("/"),
        scheme=endpoint.scheme or "https",
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    return {"storage_path": path.removeprefix("s3://"), "storage_filesystem": fs}


def user() -> str:
    return settings().user


def _tags(config: TrainConfig, graph: Graph) -> dict[str, str]:
    import psutil

    tags = {
        "neuralforge.network": graph.name,
        "neuralforge.user": user(),
        "mlflow.user": user(),
        "neuralforge.process_start": f"{psutil.Process().create_time():.3f}",  # for time estimates
        "neuralforge.source": (
            (config.template and f"template:{config.template}")
            or (config.project and f"project:{config.project}")
            or config.dsl
            or config.graph
        ),
    }
    if config.template:
        tags["neuralforge.template"] = config.template
    if config.project:
        tags["neuralforge.project"] = config.project
    if job := ray_job_id():
        tags["neuralforge.job_id"] = job
    if config.dsl:
        tags["neuralforge.dsl_file"] = str(Path(config.dsl).absolute())
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def ray_job_id(environ=os.environ) -> str | None:
    """The Ray job this driver runs in: ``NEURALFORGE_JOB_ID`` (set by ``ray_jobs.cluster.submit``), else the
    submission id Ray's job supervisor gives every job's driver (``ray job submit`` included).

    >>> ray_job_id({"RAY_JOB_CONFIG_JSON_ENV_VAR": '{"metadata": {"job_submission_id": "raysubmit_1"}}'})
    'raysubmit_1'
    >>> ray_job_id({}) is None
    True
    """
    if environ.get("NEURALFORGE_JOB_ID"):
        return environ["NEURALFORGE_JOB_ID"]
    try:
        config = json.loads(environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
    except ValueError:
        return None
    return (config.get("metadata") or {}).get("job_submission_id") or None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], check=False, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict:
    """Package versions, torch/CUDA and hardware: what reproducing the run needs."""
    from importlib import metadata

    import torch

    packages = {}
    for name in ("neuralforge", "torch", "torchvision", "numpy", "ray", "mlflow", "lark", "polars"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpus": os.cpu_count(),
    }
