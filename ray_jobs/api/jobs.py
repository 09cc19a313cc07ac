"""Training and sweep jobs for the API: Ray Jobs is the queue and the record.

A request becomes the same ``python -m ray_jobs.train|tune`` command the CLI runs: its options
are checked by ``TrainConfig``/``SweepConfig`` first, a DSL or graph is checked by the engine, and
files the command needs (``network.neural``, ``graph.json``, ``augment.json``) travel in the job's
working directory. What the API needs later rides in the job's own environment (kind, the MLflow
run name that links the job to its run, the webhook URL), so any API process can read it back from
Ray, also after a restart.

:class:`JobObserver` turns Ray's job status, the MLflow run's metrics and the job's log into
events (``status``, ``metrics``, ``log``, ``end``); the WebSocket stream and the webhooks are two
consumers of it.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass, fields, replace

from neural_engine.dsl import parse_file
from neural_engine.errors import NeuralForgeError, ValidationError
from neural_engine.ir import Graph
from neural_engine.settings import Settings
from neural_engine.shapes import propagate
from neural_engine.templates import template
from ray_jobs.cluster import submit
from ray_jobs.config import TrainConfig, to_flags
from ray_jobs.runs import usage
from ray_jobs.tracking import client
from ray_jobs.tune import SweepConfig

KIND_ENV, RUN_NAME_ENV, WEBHOOK_ENV = (
    "NEURALFORGE_API_KIND",
    "NEURALFORGE_API_RUN_NAME",
    "NEURALFORGE_WEBHOOK_URL",
)
EPOCH_METRICS = ("train_loss", "val_loss")


@dataclass(frozen=True)
class Submission:
    id: str
    kind: str  # "train" or "tune"
    command: list[str]
    files: dict[str, str]  # name -> text, the job's working directory
    run_name: str
    env: dict[str, str]


def _network_files(data: dict) -> tuple[dict[str, str], dict[str, str]]:
    """(TrainConfig source fields, files): DSL text and graph JSON checked by the engine first."""

    fields_, files = {}, {}
    if data.get("dsl") is not None:
        parse_file(data["dsl"], "network.neural").pick(data.get("network"))
        files["network.neural"] = data["dsl"]
        fields_.update(dsl="network.neural", network=data.get("network"))
    if data.get("graph") is not None:
        propagate(graph_from_json(data["graph"]))
        files["graph.json"] = json.dumps(data["graph"])
        fields_["graph"] = "graph.json"
    if data.get("template") is not None:
        template(data["template"])  # an unknown name fails here, with "did you mean"
        fields_["template"] = data["template"]
    if data.get("augment") is not None:
        files["augment.json"] = json.dumps(data["augment"])
        fields_["augment"] = "augment.json"
    return fields_, files


def graph_from_json(d) -> object:
    """``Graph.from_json`` with any malformed document refused as a ValidationError."""

    try:
        return Graph.from_json(d)
    except NeuralForgeError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as e:
        raise ValidationError(
            f"the graph must be graph JSON ({{name, inputs, nodes, edges}}); it is not "
            f"({type(e).__name__}: {e})"
        ) from None


def sweep_flags(s: SweepConfig) -> list[str]:
    """The ``ray_jobs.tune`` flags of ``s`` (defaults left out; ``--search`` repeated)."""
    out: list[str] = []
    for f in fields(SweepConfig):
        value = getattr(s, f.name)
        if value is None or value == f.default:
            continue
        flag = "--" + f.name.replace("_", "-")
        out += [x for v in value for x in (flag, v)] if isinstance(value, tuple) else [flag, str(value)]
    return out


def prepare(kind: str, request: dict, user: str) -> Submission:
    """The job for a ``TrainRequest``/``TuneRequest`` body (as a dict), checked before submitting."""
    job_id = f"nf-{kind}-{secrets.token_hex(6)}"
    source, files = _network_files(request)
    train_names = {f.name for f in fields(TrainConfig)} - {"dsl", "graph", "template", "network", "augment"}
    options = {k: v for k, v in request.items() if k in train_names and v is not None}
    sweep = None
    if kind == "tune":
        sweep_options = {
            f.name: request[f.name]
            for f in fields(SweepConfig)
            if request.get(f.name) is not None and f.name != "output"
        }
        sweep_options["search"] = tuple(sweep_options.get("search") or ())
        sweep = SweepConfig(**sweep_options)
        options.pop("workers", None)
    config = TrainConfig(**source, **options)
    label = config.template or config.project or "network"
    run_name = config.run_name or f"{label}-{job_id}"
    if any(c in run_name for c in "'\"`\\"):
        raise ValidationError(f"run_name must not hold quotes or backslashes; received {run_name!r}")
    config = replace(config, run_name=run_name)
    module = "ray_jobs.train" if kind == "train" else "ray_jobs.tune"
    command = ["python", "-m", module, *to_flags(config), *(sweep_flags(sweep) if sweep else [])]
    env = {KIND_ENV: kind, RUN_NAME_ENV: run_name, "NEURALFORGE_USER": user}
    if request.get("webhook_url"):
        env[WEBHOOK_ENV] = str(request["webhook_url"])
    return Submission(job_id, kind, command, files, run_name, env)


def launch(sub: Submission, s: Settings) -> str:
    """Submit to Ray (after the user's quota check); the job id."""

    usage.check_quota(sub.env["NEURALFORGE_USER"], s)
    working_dir = None
    if sub.files:
        working_dir = s.home / "api" / "jobs" / sub.id
        working_dir.mkdir(parents=True, exist_ok=True)
        for name, text in sub.files.items():
            (working_dir / name).write_text(text, encoding="utf-8")
    try:
        return submit.submit(sub.command, working_dir=working_dir, env_vars=sub.env, submission_id=sub.id)
    finally:
        if working_dir is not None:  # uploaded (or refused): the copy on the cluster is the job's
            shutil.rmtree(working_dir, ignore_errors=True)


# -- reading jobs back -----------------------------------------------------------------------------


def details(job_id: str):
    """Ray's ``JobDetails`` of ``job_id`` (with its runtime environment)."""
    c = submit.client()
    with submit._errors(c.get_address(), job_id):
        return c.get_job_info(job_id)


def job_env(d) -> dict[str, str]:
    return dict(((d.runtime_env or {}).get("env_vars")) or {})


def watched_jobs() -> list[tuple[str, str]]:
    """(job id, webhook URL) of the cluster's unfinished API jobs that carry a webhook."""
    c = submit.client()
    with submit._errors(c.get_address()):
        found = c.list_jobs()
    return [
        (d.submission_id, job_env(d)[WEBHOOK_ENV])
        for d in found
        if d.submission_id and WEBHOOK_ENV in job_env(d) and str(d.status) not in submit.TERMINAL
    ]


def find_run(tracking, job_id: str) -> str | None:
    """The MLflow run the job opened (training tags it with the job's id, ``neuralforge.job_id``;
    a sweep's parent run carries it, its trials do not)."""
    experiments = [e.experiment_id for e in tracking.search_experiments()]
    if not experiments:
        return None
    runs = tracking.search_runs(
        experiments,
        f"tags.`neuralforge.job_id` = '{job_id}'",
        order_by=["attributes.start_time ASC"],
        max_results=20,
    )
    return next((r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags), None)


class JobObserver:
    """Events of one job since the last :meth:`poll`, oldest first: ``status`` (a change),
    ``metrics`` (one per new step of the MLflow run), ``log`` (new output, if ``logs``), then
    ``end`` once the job has ended (after its last metrics)."""

    def __init__(self, job_id: str, s: Settings, *, logs: bool = False):

        self.job_id, self.logs = job_id, logs
        self.tracking, self.uri = client(s.mlflow_uri), s.mlflow_uri
        self.status: str | None = None
        self.job = None
        self.env: dict[str, str] = {}
        self.run_id: str | None = None
        self.latest: dict[str, float] = {}
        self.last_step: dict[str, int] = {}
        self.epochs: int | None = None
        self.log_offset = 0
        self.done = False

    def poll(self) -> list[dict]:
        d = details(self.job_id)
        self.job, self.env = submit.Job.from_details(d), job_env(d)
        events = []
        if self.job.status != self.status and not self.job.done:
            events.append(self._status())
        events += self._metrics()
        if self.logs:
            text = submit.logs(self.job_id)
            if len(text) > self.log_offset:
                events.append({"type": "log", "text": text[self.log_offset :]})
                self.log_offset = len(text)
        if self.job.done:
            if self.job.status != self.status:
                events.append(self._status())
            events.append(
                {
                    "type": "end",
                    "status": self.job.status,
                    "message": self.job.message,
                    "run_id": self.run_id,
                    "metrics": dict(self.latest),
                }
            )
            self.done = True
        return events

    def _status(self) -> dict:
        self.status = self.job.status
        return {"type": "status", "status": self.job.status, "message": self.job.message}

    def _metrics(self) -> list[dict]:
        from mlflow.exceptions import MlflowException

        from ray_jobs.api.errors import mlflow_error

        try:
            if self.run_id is None:
                self.run_id = find_run(self.tracking, self.job_id)
            if self.run_id is None:
                return []
            run = self.tracking.get_run(self.run_id)
            if run.data.metrics == self.latest:
                return []
            self.latest = dict(run.data.metrics)
            if self.epochs is None and run.data.params.get("train.epochs", "").isdigit():
                self.epochs = int(run.data.params["train.epochs"])
            new: dict[int, dict[str, float]] = {}
            for key in self.latest:
                for m in self.tracking.get_metric_history(self.run_id, key):
                    if m.step > self.last_step.get(key, -1):
                        new.setdefault(m.step, {})[key] = m.value
                self.last_step[key] = max([self.last_step.get(key, -1), *(s for s in new if key in new[s])])
        except MlflowException as e:
            raise mlflow_error(e, self.uri) from None
        return [{"type": "metrics", "step": step, "metrics": new[step]} for step in sorted(new)]

    def progress(self) -> dict | None:
        """Epochs done (the steps of the epoch metrics), of how many."""
        done = max((self.last_step.get(k, -1) for k in EPOCH_METRICS), default=-1) + 1
        if self.run_id is None:
            return None
        return {
            "epoch": done,
            "epochs": self.epochs,
            "fraction": min(1.0, done / self.epochs) if self.epochs else None,
        }


def view(observer: JobObserver) -> dict:
    """The ``JobOut`` fields of an observer that has polled once."""
    job, env = observer.job, observer.env
    return {
        "id": job.id,
        "kind": env.get(KIND_ENV),
        "status": job.status,
        "message": job.message,
        "entrypoint": job.entrypoint,
        "user": env.get("NEURALFORGE_USER", job.user),
        "start_time": job.start_time,
        "end_time": job.end_time,
        "run_id": observer.run_id,
        "run_name": env.get(RUN_NAME_ENV),
        "progress": observer.progress(),
        "metrics": observer.latest,
    }


def summary(job: submit.Job) -> dict:
    """The ``JobOut`` fields Ray's job list gives (no MLflow lookups)."""
    return {
        "id": job.id,
        "status": job.status,
        "message": job.message,
        "entrypoint": job.entrypoint,
        "user": job.user,
        "start_time": job.start_time,
        "end_time": job.end_time,
    }
