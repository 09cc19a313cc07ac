"""All caching: pure engine calls keyed by their JSON input (``st.cache_data``)."""

from __future__ import annotations

import json

import streamlit as st

from neural_engine.errors import NeuralForgeError


@st.cache_data(max_entries=256, show_spinner=False)
def analyse(graph_text: str) -> dict:
    """The report of a graph (JSON text), or the error that stops it with the shapes still known
    (those not downstream of the error): ``{"report": …}`` or ``{"error": …, "partial": {id: shape}}``."""
    from neural_engine.ir import Graph
    from neural_engine.report import report
    from neural_engine.shapes import partial_shapes

    graph = None
    try:
        graph = Graph.from_json(json.loads(graph_text))
        r = report(graph)
    except NeuralForgeError as err:
        partial = partial_shapes(graph) if graph is not None else {}
        return {"error": err.to_dict(), "partial": {k: list(v) for k, v in partial.items()}}
    return {"report": r.to_json()}


@st.cache_data(max_entries=64, show_spinner=False)
def template_json(name: str) -> dict:
    from neural_engine.templates import template

    return template(name).to_json()


@st.cache_data(max_entries=64, show_spinner=False)
def dsl_of(graph_text: str) -> str:
    from neural_engine.dsl import print_dsl
    from neural_engine.ir import Graph

    return print_dsl(Graph.from_json(json.loads(graph_text)))


@st.cache_data(show_spinner=False)
def catalog() -> list[dict]:
    from neural_engine.data.catalog import ENTRIES

    return [
        {
            "name": e.name,
            "task": e.task,
            "input shape": str(e.input_shape),
            "classes": e.num_classes,
            "samples": e.samples,
            "source": e.source,
        }
        for e in ENTRIES.values()
    ]


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset…")
def dataset(ref: str, storage: str):
    """A loaded dataset, shared rather than copied (its arrays are only read). Registered refs name
    a version ("name@<id>"), so an entry never goes stale; a missing dataset raises (not cached)."""
    from neural_engine.data.registry import load

    return load(ref, storage=storage)


@st.cache_data(max_entries=16, show_spinner=False)
def dataset_stats(ref: str, storage: str) -> dict:
    from neural_engine.data.stats import describe

    return describe(dataset(ref, storage))


@st.cache_data(ttl=5, show_spinner=False)
def registered_versions(storage: str) -> dict[str, list[dict]]:
    """{name: [version JSON, oldest first]}; cleared by the page after it registers or derives."""
    from neural_engine.data.registry import registered, versions

    return {name: [v.to_json() for v in versions(name, storage)] for name in registered(storage)}


@st.cache_data(max_entries=32, show_spinner=False)
def split_parts(ref: str, storage: str, spec_text: str) -> dict:
    """``{"parts": {train|val|test: indices}}`` for a SplitSpec's JSON text, or ``{"error": …}``."""
    from neural_engine.data.splits import SplitSpec, split_indices

    ds = dataset(ref, storage)
    try:
        return {"parts": split_indices(ds.y, SplitSpec.from_json(json.loads(spec_text)), ds.official_test)}
    except NeuralForgeError as err:
        return {"error": err.to_dict()}


@st.cache_data(max_entries=32, show_spinner="Augmenting…")
def augment_preview(ref: str, storage: str, pipeline_text: str, n: int, seed: int) -> dict:
    """``{"indices", "originals", "augmented"}`` (uint8 HWC images) of ``previews.preview``, or ``{"error"}``."""
    from neural_engine.data.previews import preview

    try:
        pv = preview(dataset(ref, storage), json.loads(pipeline_text), n=n, seed=seed)
    except NeuralForgeError as err:
        return {"error": err.to_dict()}
    return {"indices": pv.indices, "originals": pv.originals, "augmented": pv.augmented}


# ---- tracking (MLflow): listings and histories are short-lived data (the client: mlflow_client) ----


@st.cache_data(ttl=5, show_spinner=False)
def tracking_problem(uri: str) -> str | None:
    """Why the tracking store at ``uri`` cannot be read, or None. A server gets one short request
    first: MLflow's own client retries for minutes before it gives up."""
    try:
        if uri.startswith(("http://", "https://")):
            import requests

            requests.get(f"{uri.rstrip('/')}/health", timeout=3).raise_for_status()
        mlflow_client(uri).search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 -- HTTP, SQL and MLflow errors alike become the page's banner
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        return f"{type(err).__name__}: {first}" if first else type(err).__name__
    return None


@st.cache_data(ttl=10, show_spinner=False)
def runs(
    uri: str,
    experiment: str | None = None,
    status: str | None = None,
    tags: tuple[str, ...] = (),
    params: tuple[str, ...] = (),
    expression: str = "",
) -> list:
    """``neuralforge runs list`` with these filters (``ray_jobs.runs.list_runs``), newest first."""
    from types import SimpleNamespace

    from ray_jobs.runs import list_runs

    return list_runs(
        SimpleNamespace(
            experiment=experiment,
            filter=expression or None,
            tag=list(tags),
            status=status,
            since=None,
            until=None,
            parent=None,
            max=500,
            param=list(params),
        )
    )


@st.cache_data(ttl=30, show_spinner=False)
def experiments(uri: str) -> list[str]:
    return sorted(e.name for e in mlflow_client(uri).search_experiments())


@st.cache_data(ttl=10, max_entries=512, show_spinner=False)
def metric_history(uri: str, run_id: str, metric: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in mlflow_client(uri).get_metric_history(run_id, metric)]


@st.cache_data(ttl=30, max_entries=64, show_spinner=False)
def compare_runs(uri: str, run_ids: tuple[str, ...]) -> dict:
    """``neuralforge runs compare``: hyperparameter diff, architecture diffs, final metrics."""
    from ray_jobs.runs import compare

    return compare(list(run_ids))


@st.cache_data(ttl=30, max_entries=256, show_spinner=False)
def artifact_paths(uri: str, run_id: str, folder: str) -> list[str]:
    return [a.path for a in mlflow_client(uri).list_artifacts(run_id, folder)]


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def artifact_bytes(uri: str, run_id: str, path: str) -> bytes:
    import tempfile
    from pathlib import Path

    from ray_jobs.runs.load import quiet_downloads

    quiet_downloads()
    with tempfile.TemporaryDirectory() as d:
        return Path(mlflow_client(uri).download_artifacts(run_id, path, d)).read_bytes()


# --- Train page: architectures, datasets, pre-flight, the MLflow run of a Ray job ---------------


@st.cache_resource(show_spinner=False)
def mlflow_client(uri: str):
    from ray_jobs.tracking import client

    return client(uri)


@st.cache_data(ttl=5, show_spinner=False)
def architecture_refs() -> list[str]:
    """``name@vN`` of every saved architecture version, newest project versions first."""
    from neural_engine.data.storage import open_storage
    from neural_engine.projects import projects, version_numbers

    store = open_storage()
    return [f"{p}@v{n}" for p in projects(store) for n in reversed(version_numbers(p, store))]


@st.cache_data(show_spinner=False)
def template_names() -> list[str]:
    from neural_engine.templates import TEMPLATES

    return list(TEMPLATES)


@st.cache_data(ttl=5, show_spinner=False)
def dataset_names() -> list[str]:
    from neural_engine.data.catalog import ENTRIES
    from neural_engine.data.registry import registered

    return [*ENTRIES, *(d for d in registered() if d not in ENTRIES)]


@st.cache_data(max_entries=256, show_spinner=False)
def fits(source: str, ref: str, dataset: str) -> bool:
    """Whether the architecture can train on ``dataset`` (shapes, classes): the form's first choice."""
    from ray_jobs.config import TrainConfig
    from ray_jobs.train.preflight import preflight

    try:
        preflight(TrainConfig(**{source: ref}, dataset=dataset), measure=False)
    except NeuralForgeError:
        return False
    return True


@st.cache_data(max_entries=64, show_spinner=False)
def architecture_graph(source: str, ref: str):
    """The graph of a saved version (``project``), a template (``template``) or a graph JSON file
    (``graph``: the Canvas's network, the file named by its content)."""
    if source == "template":
        from neural_engine.templates import template

        return template(ref)
    if source == "graph":
        from pathlib import Path

        from neural_engine.ir import Graph

        return Graph.from_json(json.loads(Path(ref).read_text(encoding="utf-8")))
    from neural_engine.projects import load_project_ref

    return load_project_ref(ref).graph


def preflight(config):
    """Shapes, fit and memory of ``config`` (cheap), with the step time measured once per network,
    dataset and batch size, and the fixed costs of this cluster's latest runs."""
    import dataclasses

    p = _checked(config)
    costs = fixed_costs()
    if costs is None:
        return p
    fixed, overhead, runs = costs
    return dataclasses.replace(
        p, fixed_seconds=fixed, epoch_overhead_seconds=overhead, costs_measured_on=runs
    )


@st.cache_data(max_entries=64, show_spinner="Checking the run…")
def _checked(config):
    import dataclasses

    from ray_jobs.train.preflight import preflight as check

    p = check(config, measure=False)
    return dataclasses.replace(
        p,
        step_seconds=_step_seconds(
            config.project, config.template, config.graph, config.dataset, p.batch_size
        ),
    )


@st.cache_data(ttl=30, show_spinner=False)
def fixed_costs() -> tuple[float, float, int] | None:
    """Fixed and per-epoch costs as this cluster's latest runs measured them (None: no runs)."""
    from neural_engine.settings import settings
    from ray_jobs.train.preflight import fixed_costs as measured

    try:
        client = mlflow_client(settings().mlflow_uri)
        return measured(client, [e.experiment_id for e in client.search_experiments()])
    except Exception:  # noqa: BLE001 - MLflow unreachable: the page says so elsewhere; defaults here
        return None


@st.cache_data(max_entries=64, show_spinner="Measuring a few training steps…")
def _step_seconds(project, template, graph, dataset, batch_size) -> float:
    from ray_jobs.config import TrainConfig
    from ray_jobs.train.preflight import step_seconds

    return step_seconds(
        TrainConfig(project=project, template=template, graph=graph, dataset=dataset, batch_size=batch_size)
    )


@st.cache_data(ttl=2, show_spinner=False)
def run_of_job(job_id: str, done: bool) -> dict | None:
    """The MLflow run a Ray job recorded (tag ``neuralforge.job_id``): id, params, metric history, status."""
    from app.jobs_view import CURVES
    from neural_engine.settings import settings

    client = mlflow_client(settings().mlflow_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = (
        client.search_runs(experiments, f"tags.`neuralforge.job_id` = '{job_id}'", max_results=1)
        if experiments
        else []
    )
    if not runs:
        return None
    run = runs[0]
    history = {m: [(h.step, h.value) for h in client.get_metric_history(run.info.run_id, m)] for m in CURVES}
    return {"id": run.info.run_id, "params": run.data.params, "history": history, "status": run.info.status}


# --- Sweeps page: the search space, sweeps and trials from MLflow ---------------------------------


@st.cache_data(max_entries=64, show_spinner=False)
def search_space(source: str, ref: str) -> dict[str, str]:
    """Path → search value (as DSL text) of the architecture's HPO values."""
    from neural_engine.dsl.values import value as value_text
    from neural_engine.search import search_values

    return {path: value_text(hpo) for path, hpo in search_values(architecture_graph(source, ref)).items()}


@st.cache_data(ttl=3, show_spinner=False)
def sweeps() -> list[dict]:
    """Sweep parent runs, newest first: id, name, status, and whether ``best.neural`` is logged."""
    from neural_engine.settings import settings

    client = mlflow_client(settings().mlflow_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = (
        client.search_runs(
            experiments,
            "tags.`neuralforge.kind` = 'sweep'",
            max_results=200,
            order_by=["attributes.start_time DESC"],
        )
        if experiments
        else []
    )
    return [
        {
            "id": r.info.run_id,
            "name": r.info.run_name,
            "status": r.info.status,
            "best_dsl": "neuralforge.best_run" in r.data.tags,
        }
        for r in runs
    ]


@st.cache_data(ttl=3, show_spinner=False)
def trials(sweep_id: str) -> list[dict]:
    """One row per trial of a sweep: status, sampled values, latest validation metrics."""
    from neural_engine.settings import settings
    from ray_jobs.tune.tracking import STATUS_TAG

    client = mlflow_client(settings().mlflow_uri)
    parent = client.get_run(sweep_id)
    runs = client.search_runs(
        [parent.info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{sweep_id}'",
        max_results=1000,
        order_by=["attributes.start_time ASC"],
    )
    return [
        {
            "trial": r.info.run_name,
            "status": r.data.tags.get(STATUS_TAG, r.info.status.lower()),
            **{k: v for k, v in r.data.params.items() if k.startswith("hpo.")},
            "val_loss": r.data.metrics.get("val_loss"),
            "val_accuracy": r.data.metrics.get("val_accuracy"),
        }
        for r in runs
    ]


@st.cache_data(max_entries=32, show_spinner=False)
def artifact_text(run_id: str, path: str) -> str:
    import mlflow.artifacts

    from neural_engine.settings import settings

    mlflow.set_tracking_uri(settings().mlflow_uri)
    return mlflow.artifacts.load_text(f"runs:/{run_id}/{path}")


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def project_versions(project: str) -> list:
    """Every saved version of ``project`` (cleared when the Canvas saves one)."""
    from neural_engine.projects import versions

    return versions(project)
