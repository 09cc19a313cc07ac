"""``RayConnector``: NeuralForge jobs on Ray Jobs, models on Ray Serve, files in NeuralForge's storage.

    from neuralforge.integrations import JobSpec, ResourceConfig
    from neuralforge.integrations.ray import RayConnector

    ray = RayConnector("http://HEAD:8265", token="…")   # or RAY_ADDRESS / `neuralforge cluster up`
    ray.authenticate()
    job = ray.submit_job(JobSpec.train(template="mnist_cnn", dataset="digits"), ResourceConfig(workers=2))
    ray.wait(job)
    ray.get_job_result(job).metrics["test_accuracy"]

The cluster and token are found as ``neuralforge jobs`` finds them (``ray_jobs.cluster.submit``), unless
given here or in the credentials file (``<home>/credentials/ray.json``, mode 0600, written by
``save_credentials``). ``train``/``tune`` jobs run ``python -m ray_jobs.train|tune`` with their
flags checked here first; their MLflow run carries the tag ``neuralforge.job_id``, which is how
``get_job_result`` finds its run id and metrics. Deployments go through ``ray_jobs.serve``
(Serve's REST API); files through ``neural_engine.data.storage``; resource usage comes from the
dashboard (the state API's nodes, and the autoscaler's usage report).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from neural_engine.errors import NeuralForgeError
from neural_engine.settings import settings
from neuralforge.integrations.base import (
    RAY_STATES,
    BaseConnector,
    Endpoint,
    JobInfo,
    JobResult,
    JobSpec,
    JobStatus,
    ResourceConfig,
    ResourceUsage,
)
from neuralforge.integrations.credentials import credentials_path, load_credentials, save_credentials
from neuralforge.integrations.errors import (
    ConnectorAuthError,
    ConnectorError,
    CredentialsError,
    JobNotFoundError,
    NotFoundError,
    TransientError,
)
from ray_jobs.cluster import submit

MODULES = {"train": "ray_jobs.train", "tune": "ray_jobs.tune"}
WORKER_FLAGS = {"train": "--workers", "tune": "--workers-per-trial"}
JOB_TAG = "neuralforge.job_id"  # set on the MLflow run by ray_jobs.train.setup from NEURALFORGE_JOB_ID
log = logging.getLogger(__name__)


# -- what is submitted ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    entrypoint: str
    options: dict  # JobSubmissionClient.submit_job's entrypoint_num_cpus/_gpus/_memory


def plan(spec: JobSpec, resources: ResourceConfig) -> Submission:
    """The command and Ray options for ``spec`` on ``resources``; a ConnectorError for what Ray or
    the entry point cannot honour.

    >>> plan(JobSpec.command(["python", "-c", "print(1)"]), ResourceConfig(cpus=0.5)).options
    {'entrypoint_num_cpus': 0.5}
    >>> plan(JobSpec.train(template="mnist_cnn"), ResourceConfig(workers=2, gpus=1)).entrypoint
    'python -m ray_jobs.train --template mnist_cnn --workers 2 --gpu'
    """
    r = resources
    if spec.kind == "command":
        if r.workers != 1:
            raise ConnectorError(
                f"ResourceConfig.workers must be 1 for a command job (one process); received {r.workers}",
                hint="workers apply to train and tune jobs",
            )
        options = {
            "entrypoint_num_cpus": r.cpus,
            "entrypoint_num_gpus": r.gpus or None,
            "entrypoint_memory": r.memory_mb and r.memory_mb * 2**20,
        }
        return Submission(submit.entrypoint(spec.entrypoint), {k: v for k, v in options.items() if v})
    module = MODULES[spec.kind]
    owned = {"workers", "workers_per_trial", "gpu"} & set(spec.args)
    if owned:
        raise ConnectorError(
            f"a {spec.kind} job's args must leave {', '.join(sorted(owned))} to "
            f"ResourceConfig; received args {sorted(spec.args)}",
            hint="use ResourceConfig(workers=N, gpus=1)",
        )
    for name, ok, expected in (
        ("cpus", r.cpus in (None, 1), "1 (or unset): each worker gets one CPU"),
        ("gpus", r.gpus in (0, 1), "0 or 1: one GPU per worker, or none"),
        ("memory_mb", r.memory_mb is None, "unset: workers reserve no memory"),
    ):
        if not ok:
            raise ConnectorError(
                f"ResourceConfig.{name} must be {expected} for a {spec.kind} job on Ray "
                f"({module}); received {getattr(r, name)!r}"
            )
    flags = [*spec.flags(), WORKER_FLAGS[spec.kind], str(r.workers)] + (["--gpu"] if r.gpus else [])
    check_flags(spec.kind, flags)
    return Submission(submit.entrypoint(["python", "-m", module, *flags]), {})


def check_flags(kind: str, flags: list[str]) -> None:
    """Refuse flags the entry point would refuse, with its own parser and configuration checks."""
    from ray_jobs import config, tune

    # exact names only: a spec's "epoch" must not pass as an abbreviation of --epochs
    parser = argparse.ArgumentParser(prog=f"python -m {MODULES[kind]}", add_help=False, allow_abbrev=False)
    (config.add_arguments if kind == "train" else tune.add_sweep_arguments)(parser)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            ns = parser.parse_args(flags)
    except SystemExit:
        said = (err.getvalue().strip().splitlines() or ["refused"])[-1].removeprefix(
            f"{parser.prog}: error: "
        )
        raise ConnectorError(f"a {kind} job's args must be flags of {MODULES[kind]}; {said}") from None
    try:
        if kind == "train":
            config.from_args(ns)
        else:
            config.from_args(ns, workers=ns.workers_per_trial)
            tune.sweep_config(ns)
    except NeuralForgeError as e:
        raise ConnectorError(f"a {kind} job's args must be valid: {e.message}", hint=e.hint) from None


# -- the connector --------------------------------------------------------------------------------


class RayConnector(BaseConnector):
    name = "ray"
    states = RAY_STATES

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        credentials_file: str | Path | None = None,
        storage: str | None = None,
        serve_port: int = 8000,
        serve_timeout: float = 180,
    ):
        """``address``: the dashboard URL (default: the credentials file's, else as ``neuralforge
        jobs``); ``token``: the cluster's token (default: the credentials file's, else Ray's own
        loader); ``storage``: where files go (default: the settings' storage)."""
        path = Path(credentials_file) if credentials_file else credentials_path(self.name)
        creds = load_credentials(path) if credentials_file or path.exists() else {}
        self.address, self.token = address or creds.get("address"), token or creds.get("token")
        self.storage, self.serve_port, self.serve_timeout = storage, serve_port, serve_timeout
        self._client = None

    def __repr__(self) -> str:  # never the token
        return f"RayConnector(address={self.address!r})"

    # -- talking to the job server ----------------------------------------------------------------

    def _token(self) -> str | None:
        from ray_jobs import cluster

        return self.token or cluster.auth_token()

    def _where(self) -> str:
        return self._client.get_address() if self._client is not None else self.address or "the Ray cluster"

    def _jobs(self):
        """The JobSubmissionClient (made once; its constructor checks the address and the token)."""
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            address = submit.resolve_address(self.address)
            token = self._token()
            headers = {"Authorization": f"Bearer {token}"} if token else None
            # Ray lets RAY_ADDRESS override the address argument; the resolved address must win.
            saved = {
                k: os.environ.pop(k) for k in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS") if k in os.environ
            }
            try:
                self._client = JobSubmissionClient(address, headers=headers)
            finally:
                os.environ.update(saved)
        return self._client

    @contextlib.contextmanager
    def _translated(self, job_id: str | None = None) -> Iterator[None]:
        """Ray's and requests' exceptions as connector errors: transient, not found, auth, other."""
        import requests
        from ray.exceptions import AuthenticationError

        try:
            yield
        except ConnectorError:
            raise
        except AuthenticationError as e:
            refused = "failed" in str(e).split("\n", 1)[0]  # 403: a token was sent and is wrong
            raise ConnectorAuthError(
                f"the Ray cluster at {self._where()} requires its authentication token; "
                + ("the token sent was refused" if refused else "none was found"),
                hint=submit.FIX_TOKEN + ", or pass token= or a credentials file",
            ) from None
        except (ConnectionError, requests.ConnectionError, requests.Timeout) as e:
            raise TransientError(
                f"the Ray cluster must be reachable at {self._where()}; it is not ({type(e).__name__})",
                hint=submit.FIX_ADDRESS,
            ) from None
        except RuntimeError as e:
            text = str(e)
            if job_id is not None and ("404" in text or "does not exist" in text):
                raise JobNotFoundError(
                    f"the job must exist on the Ray cluster at {self._where()}; no job has the id {job_id!r}",
                    hint="list_jobs() shows the jobs",
                ) from None
            # 502-504, and the job head's 500 while no agent has registered yet (after a start, under load)
            busy = re.search(r"status code 50[234]\b", text) or "please try again later" in text
            kind = TransientError if busy else ConnectorError
            raise kind(f"the Ray job server at {self._where()} refused the request: {text[:1000]}") from None
        except (ValueError, TypeError) as e:
            raise ConnectorError(f"the job request must be valid; Ray refused it: {e}") from None
        except NeuralForgeError as e:  # no cluster, a bad working directory, a quota
            raise ConnectorError(e.message, hint=e.hint) from e

    def _request(self, fn, job_id: str | None = None):
        """``fn(client)``, translated and retried when transient."""

        def once():
            with self._translated(job_id):
                return fn(self._jobs())

        return self.call(once)

    # -- required ---------------------------------------------------------------------------------

    def authenticate(self) -> None:
        self._client = None  # a fresh client: its constructor asks the (authenticated) version route
        self._request(lambda c: None)

    def save_credentials(self, path: str | Path | None = None) -> Path:
        """Write this connector's address and token (mode 0600) where a later ``RayConnector()`` reads them."""
        token = self._token()
        if not token:
            raise CredentialsError(
                "saving credentials needs a token; none was given or found", hint=submit.FIX_TOKEN
            )
        address = submit.resolve_address(self.address)
        return save_credentials(path or credentials_path(self.name), {"address": address, "token": token})

    def submit_job(self, spec: JobSpec, resources: ResourceConfig | None = None) -> str:
        from ray_jobs.runs import usage

        r = resources or ResourceConfig()
        planned = plan(spec, r)
        with self._translated():
            usage.check_quota()
        # The id is chosen here, so a submission retried after a lost answer cannot run twice.
        job_id, tries = f"raysubmit_{secrets.token_hex(8)}", []

        def once(c) -> str:
            tries.append(1)
            env = submit.runtime_env(c.get_address(), job_id, r.working_dir, env_vars=r.env_vars)
            if r.pip:
                env["pip"] = list(r.pip)
            meta = {"user": settings().user, "kind": spec.kind, "name": spec.name}
            try:
                return c.submit_job(
                    entrypoint=planned.entrypoint,
                    runtime_env=env,
                    submission_id=job_id,
                    metadata=meta,
                    **planned.options,
                )
            except RuntimeError as e:
                if len(tries) > 1 and "already exists" in str(e):
                    return job_id  # an earlier try reached Ray
                raise

        return self._request(once)

    def get_job_status(self, job_id: str) -> JobStatus:
        return self.status_of(self._request(lambda c: c.get_job_info(job_id), job_id).status)

    def get_job_result(self, job_id: str) -> JobResult:
        info = self._request(lambda c: c.get_job_info(job_id), job_id)
        run_id, metrics, note = mlflow_run(job_id, settings().mlflow_uri)
        return JobResult(
            job_id,
            self.status_of(info.status),
            run_id,
            metrics,
            "; ".join(m for m in (info.message or "", note) if m),
        )

    def cancel_job(self, job_id: str) -> bool:
        return bool(self._request(lambda c: c.stop_job(job_id), job_id))

    def list_jobs(self) -> list[JobInfo]:
        infos = []
        for d in self._request(lambda c: c.list_jobs()):
            if not d.submission_id:  # drivers that attached with ray.init, not submitted jobs
                continue
            j = submit.Job.from_details(d)
            infos.append(
                JobInfo(
                    j.id,
                    self.status_of(j.status),
                    j.kind,
                    (d.metadata or {}).get("name", ""),
                    j.message,
                    j.start_time,
                    j.end_time,
                )
            )
        return sorted(infos, key=lambda j: j.start_time or 0)

    def get_logs(self, job_id: str, tail: int | None = None) -> str:
        text = self._request(lambda c: c.get_job_logs(job_id), job_id)
        return "".join(text.splitlines(keepends=True)[-tail:]) if tail else text

    # -- optional ---------------------------------------------------------------------------------

    def deploy_model(self, model: str, name: str, resources: ResourceConfig | None = None) -> Endpoint:
        """Deploy ``model`` (an MLflow run id or an ``.onnx`` file) with ``ray_jobs.serve``: ``workers``
        replicas of ``cpus`` each (default 1); served at ``/name``."""
        from ray_jobs import serve

        r = resources or ResourceConfig()
        if r.gpus or r.memory_mb or r.env_vars or r.pip or r.working_dir:
            raise ConnectorError(
                f"a Ray Serve deployment takes ResourceConfig.cpus and .workers (replicas) only; received {r}"
            )
        args = argparse.Namespace(
            source=str(model),
            name=name,
            replicas=r.workers,
            canary_share=None,
            cpus=1.0 if r.cpus is None else r.cpus,
            port=self.serve_port,
            timeout=self.serve_timeout,
        )
        with self._translated():
            s = serve.Serve(self.address, token=self._token())
            d = serve.describe(s, name, serve.deploy(s, args))
        return Endpoint(name, d["url"], d["stable"]["version"], d["stable"]["replicas"])

    def delete_endpoint(self, name: str) -> None:
        from ray_jobs import serve

        with self._translated():
            s = serve.Serve(self.address, token=self._token())
            apps = s.apps()
            if apps.pop(name, None) is None:
                raise NotFoundError(
                    f"the endpoint {name} must exist on {s.address}; deployed: {', '.join(apps) or 'none'}"
                )
            s.put(apps)
            s.wait_gone(name, self.serve_timeout)

    def _store(self):
        from neural_engine.data.storage import open_storage

        with self._translated():
            return open_storage(self.storage)

    def upload_file(self, local_path: str | Path, key: str) -> str:
        path, store = Path(local_path), self._store()
        if not path.is_file():
            raise ConnectorError(f"the file to upload must exist; received {path}")
        with self._translated():
            store.write(key, path.read_bytes())
        return f"{store.uri}/{key}"

    def download_file(self, key: str, local_path: str | Path) -> Path:
        store = self._store()
        with self._translated():
            if not store.exists(key):
                raise NotFoundError(f"{key} must exist in the storage {store.uri}; it does not")
            return store.fetch(key, Path(local_path))

    def get_resource_usage(self) -> ResourceUsage:
        def once():
            import requests

            with self._translated():
                address, token = submit.resolve_address(self.address), self._token()
                http = requests.Session()
                http.headers.update({"Authorization": f"Bearer {token}"} if token else {})
                nodes = _data(http, f"{address}/api/v0/nodes?detail=1")["result"]["result"]
                status = _data(http, f"{address}/api/cluster_status").get("clusterStatus") or {}
            usage = usage_of(nodes, (status.get("loadMetricsReport") or {}).get("usage") or {})
            if not usage.nodes:  # a cluster has at least its head: the dashboard has not caught up yet
                raise TransientError(
                    f"the Ray dashboard at {address} must list the cluster's nodes; it lists "
                    "none yet (seconds after a start)",
                    hint="try again in a few seconds",
                )
            return usage

        return self.call(once)


# -- reading results and usage --------------------------------------------------------------------


def _data(http, url: str) -> dict:
    """The ``data`` of one dashboard answer (errors raised as Ray's SDK raises them)."""
    from ray.exceptions import AuthenticationError

    r = http.get(url, timeout=15)
    if r.status_code in (401, 403):
        raise AuthenticationError("Authentication failed" if r.status_code == 403 else "Unauthorized")
    if r.status_code != 200:
        raise RuntimeError(f"Request failed with status code {r.status_code}: {r.text[:500]}")
    return r.json()["data"]


def _normal(resource: str) -> str:
    return re.sub(r"[^a-z0-9:]", "", resource.lower())  # the dashboard camel-cases usage keys


def usage_of(nodes: list[dict], usage: dict[str, list[float]]) -> ResourceUsage:
    """Totals of the live nodes (``node:…`` markers left out); used amounts from the usage report
    (``{name: [used, total]}``; empty until Ray's monitor has reported, seconds after the start).

    >>> u = usage_of([{"state": "ALIVE", "resources_total": {"CPU": 2.0, "object_store_memory": 1e8,
    ...                                                       "node:10.0.0.1": 1.0}}],
    ...              {"CPU": [0.5, 2.0], "objectStoreMemory": [0.0, 1e8]})
    >>> u.total, u.available["CPU"]
    ({'CPU': 2.0, 'object_store_memory': 100000000.0}, 1.5)
    """
    alive = [n for n in nodes if n.get("state") == "ALIVE"]
    total: dict[str, float] = {}
    for n in alive:
        for k, v in (n.get("resources_total") or {}).items():
            if not k.startswith("node:"):
                total[k] = total.get(k, 0.0) + v
    used_by = {_normal(k): v[0] for k, v in usage.items()}
    used = {k: used_by[_normal(k)] for k in total if _normal(k) in used_by}
    return ResourceUsage(total, used, len(alive))


def mlflow_run(job_id: str, tracking_uri: str) -> tuple[str | None, dict[str, float], str]:
    """(run id, latest metrics, note) of the top-level MLflow run tagged with ``job_id``; no run
    (and a note when the store could not be read) for jobs that logged none."""
    if "'" in job_id or (tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).exists()):
        return None, {}, ""  # no store yet: nothing logged (and no empty database made here)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri)
        experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
        runs = (
            client.search_runs(
                experiments,
                filter_string=f"tags.`{JOB_TAG}` = '{job_id}'",
                order_by=["attributes.start_time ASC"],
                max_results=100,
            )
            if experiments
            else []
        )
    except MlflowException as e:
        log.warning("MLflow at %s could not be read for job %s: %s", tracking_uri, job_id, e)
        return None, {}, f"the MLflow store {tracking_uri} could not be read ({str(e).splitlines()[0][:200]})"
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags] or runs
    return (top[0].info.run_id, dict(top[0].data.metrics), "") if top else (None, {}, "")
