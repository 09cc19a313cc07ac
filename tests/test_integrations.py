"""Connectors (neuralforge.integrations): the contract suite against RayConnector on the session's
real local head (slow), a train job's MLflow result, credentials against the head; and, fast, the
credential files' permissions, the JobStatus table, the backoff, what a job spec becomes on Ray,
and the contract suite failing a deliberately broken connector."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from typing import ClassVar

import pytest

from neuralforge.integrations import (
    BaseConnector,
    ConnectorAuthError,
    ConnectorError,
    CredentialsError,
    JobInfo,
    JobNotFoundError,
    JobResult,
    JobSpec,
    JobStatus,
    ResourceConfig,
    RetryPolicy,
    TransientError,
    UnsupportedError,
    load_credentials,
    retry,
    save_credentials,
)
from neuralforge.integrations.contract import ConnectorContract
from neuralforge.integrations.ray import RayConnector, plan
from tests.conftest import serve_running, stop_serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- credentials ---------------------------------------------------------------------------------


def test_credentials_are_written_private_and_atomically(tmp_path):
    path = tmp_path / "creds" / "acme.json"
    old = os.umask(0)  # a permissive umask must not leak into the file
    try:
        save_credentials(path, {"token": "first"})
        save_credentials(path, {"token": "second", "address": "http://h:8265"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["acme.json"]  # no temporary file left
    assert load_credentials(path) == {"token": "second", "address": "http://h:8265"}
    with pytest.raises(CredentialsError, match="map names to strings"):
        save_credentials(path, {"port": 8265})


@pytest.mark.parametrize(
    "mode, who", [(0o644, "everyone"), (0o604, "everyone"), (0o640, "its group"), (0o620, "its group")]
)
def test_credentials_others_may_read_or_change_are_refused(tmp_path, mode, who):
    path = save_credentials(tmp_path / "acme.json", {"token": "s3cret"})
    path.chmod(mode)
    with pytest.raises(
        CredentialsError,
        match=f"must be private to its owner \\(mode 0600\\); it is {mode:04o}, so {who} may",
    ) as err:
        load_credentials(path)
    assert f"chmod 600 {path}" in err.value.hint and "s3cret" not in str(err.value)
    path.chmod(0o400)
    assert load_credentials(path) == {"token": "s3cret"}


def test_credentials_of_another_user_missing_or_malformed_are_refused(tmp_path, monkeypatch):
    path = save_credentials(tmp_path / "acme.json", {"token": "t"})
    with monkeypatch.context() as mp:
        mp.setattr(os, "getuid", lambda: os.stat(path).st_uid + 1)
        with pytest.raises(CredentialsError, match="must belong to this user"):
            load_credentials(path)
    with pytest.raises(CredentialsError, match="must exist at .*missing.json; there is none"):
        load_credentials(tmp_path / "missing.json")
    for text, message in (
        ("{not json", "must hold a JSON object; it does not"),
        (json.dumps(["t"]), "JSON object of strings; received list"),
    ):
        path.write_text(text)
        with pytest.raises(CredentialsError, match=message):
            load_credentials(path)


def test_ray_connector_takes_address_and_token_from_its_credentials_file(nf_home):
    from neuralforge.integrations.credentials import credentials_path

    path = save_credentials(credentials_path("ray"), {"address": "http://10.0.0.5:8265", "token": "tok-123"})
    assert path == nf_home / "credentials" / "ray.json"
    ray = RayConnector()
    assert (ray.address, ray.token) == ("http://10.0.0.5:8265", "tok-123")
    assert "tok-123" not in repr(ray)
    assert RayConnector("http://other:8265", token="given").token == "given"  # arguments win
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match="must be private"):
        RayConnector()


# ---- JobStatus -----------------------------------------------------------------------------------


def test_job_status_table_covers_every_ray_state_and_agrees_on_terminal(nf_home):
    from ray.job_submission import JobStatus as RayJobStatus

    assert set(RayConnector.states) == {s.value for s in RayJobStatus}
    for s in RayJobStatus:
        assert RayConnector.states[s.value].terminal == s.is_terminal(), s
    assert RayConnector().status_of(RayJobStatus.STOPPED) is JobStatus.STOPPED  # Ray's enum is a str
    with pytest.raises(
        ConnectorError,
        match="the ray job state must be one of PENDING, RUNNING, SUCCEEDED, "
        "FAILED, STOPPED; received 'DONE'",
    ):
        RayConnector().status_of("DONE")


# ---- backoff -------------------------------------------------------------------------------------


def _failing(errors: list[BaseException], result="ok"):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


@pytest.mark.parametrize(
    "policy, rand, delays",
    [
        (RetryPolicy(attempts=5, base_delay=0.5, factor=2, max_delay=3, jitter=0), 0.7, [0.5, 1.0, 2.0, 3.0]),
        (RetryPolicy(attempts=4, base_delay=1, factor=3, max_delay=100, jitter=0.5), 0.0, [1, 3, 9]),
        (RetryPolicy(attempts=4, base_delay=1, factor=3, max_delay=100, jitter=0.5), 1.0, [0.5, 1.5, 4.5]),
        (RetryPolicy(attempts=3, base_delay=2, factor=2, max_delay=10, jitter=1), 1.0, [0.0, 0.0]),
    ],
)
def test_backoff_grows_exponentially_up_to_the_cap_with_jitter(policy, rand, delays):
    fn, calls = _failing([TransientError("busy")] * (policy.attempts - 1))
    slept = []
    assert retry(fn, policy=policy, sleep=slept.append, rand=lambda: rand) == "ok"
    assert slept == pytest.approx(delays) and len(calls) == policy.attempts


def test_backoff_waits_at_least_retry_after_and_retries_only_transient_errors():
    slept = []
    fn, _ = _failing([TransientError("429 from the API", retry_after=7.5)])
    assert retry(fn, policy=RetryPolicy(base_delay=0.1), sleep=slept.append) == "ok" and slept == [7.5]
    for permanent in (ConnectorError("refused"), JobNotFoundError("gone"), KeyError("bug")):
        fn, calls = _failing([permanent])
        with pytest.raises(type(permanent)):
            retry(fn, sleep=slept.append)
        assert len(calls) == 1
    fn, calls = _failing([TransientError(f"down {i}") for i in range(9)])
    with pytest.raises(TransientError, match="down 2"):  # the last error, after 3 tries
        retry(fn, policy=RetryPolicy(attempts=3), sleep=lambda s: None)
    assert len(calls) == 3
    fn, calls = _failing([OSError("reset")])  # a custom classification
    assert retry(fn, is_transient=lambda e: isinstance(e, OSError), sleep=lambda s: None) == "ok"
    with pytest.raises(ValueError, match="RetryPolicy.jitter must be between 0 and 1; received 2"):
        RetryPolicy(jitter=2)


def test_an_unreachable_cluster_is_transient_and_retried(nf_home):
    ray = RayConnector(f"http://127.0.0.1:{_free_port()}", token="t")  # nothing listens there
    ray.retry_policy = RetryPolicy(attempts=3, base_delay=0.2, jitter=0)
    slept = []
    ray.sleep = slept.append
    with pytest.raises(TransientError, match="must be reachable at http://127.0.0.1:") as err:
        ray.list_jobs()
    assert "neuralforge cluster up" in err.value.hint and slept == [0.2, 0.4]


TRANSLATED = [  # (what Ray or requests raised, the connector error it becomes)
    (
        RuntimeError(
            "Request failed with status code 500: No available agent to submit job, please try again later."
        ),
        TransientError,
    ),
    (RuntimeError("Request failed with status code 503: Service Unavailable."), TransientError),
    (RuntimeError("Request failed with status code 500: Internal Server Error."), ConnectorError),
    (RuntimeError("Request failed with status code 404: Job raysubmit_x does not exist."), JobNotFoundError),
    (ConnectionError("Failed to connect to Ray at address: http://127.0.0.1:1."), TransientError),
    (ValueError("bad runtime_env"), ConnectorError),
]


@pytest.mark.parametrize("raised, becomes", TRANSLATED)
def test_ray_failures_become_transient_not_found_or_permanent_errors(nf_home, raised, becomes):
    ray = RayConnector("http://127.0.0.1:1", token="t")
    with pytest.raises(ConnectorError) as err, ray._translated(job_id="raysubmit_x"):
        raise raised
    assert type(err.value) is becomes and ray.is_transient(err.value) == (becomes is TransientError)


class _LostAnswerClient:
    """A job server whose first answer to a submission is lost on the way back."""

    def __init__(self):
        self.submitted = []

    def get_address(self):
        return "http://127.0.0.1:1"

    def submit_job(self, **kw):
        import requests

        self.submitted.append(kw)
        if len(self.submitted) == 1:
            raise requests.ConnectionError("connection reset")
        raise RuntimeError(
            f"Request failed with status code 500: Job with submission_id "
            f"{kw['submission_id']} already exists."
        )


def test_a_submission_retried_after_a_lost_answer_is_one_job(nf_home, monkeypatch):
    monkeypatch.delenv("NEURALFORGE_QUOTA_CPU_HOURS", raising=False)
    monkeypatch.delenv("NEURALFORGE_QUOTA_GPU_HOURS", raising=False)
    ray = RayConnector(token="t")
    ray.sleep, ray._client = (lambda s: None), _LostAnswerClient()
    job_id = ray.submit_job(JobSpec.command("echo hi", name="greeting"), ResourceConfig(env_vars={"A": "1"}))
    first, second = ray._client.submitted
    assert job_id == first["submission_id"] == second["submission_id"]
    assert first["metadata"] == {"user": first["metadata"]["user"], "kind": "command", "name": "greeting"}
    assert first["runtime_env"]["env_vars"]["NEURALFORGE_JOB_ID"] == job_id
    assert first["runtime_env"]["env_vars"]["A"] == "1" and "working_dir" not in first["runtime_env"]


# ---- what a job spec becomes on Ray --------------------------------------------------------------

PLANS = [  # (spec, resources, entrypoint, Ray options)
    (
        JobSpec.command(["python", "-c", "print('a b')"]),
        ResourceConfig(),
        "python -c 'print('\"'\"'a b'\"'\"')'",
        {},
    ),
    (
        JobSpec.command("nvidia-smi && python x.py"),
        ResourceConfig(cpus=2, gpus=0.5, memory_mb=512),
        "nvidia-smi && python x.py",
        {"entrypoint_num_cpus": 2, "entrypoint_num_gpus": 0.5, "entrypoint_memory": 512 * 2**20},
    ),
    (
        JobSpec.train(template="mnist_cnn", dataset="digits", smoke_test=True, seed=None),
        ResourceConfig(),
        "python -m ray_jobs.train --template mnist_cnn --dataset digits --smoke-test --workers 1",
        {},
    ),
    (
        JobSpec.train(dsl="net.neural", epochs=3),
        ResourceConfig(workers=4, gpus=1, cpus=1),
        "python -m ray_jobs.train --dsl net.neural --epochs 3 --workers 4 --gpu",
        {},
    ),
    (
        JobSpec.tune(
            template="mnist_cnn", search=["dense_1.units=choice(64, 128)", "train.epochs=2"], num_samples=4
        ),
        ResourceConfig(workers=2),
        (
            "python -m ray_jobs.tune --template mnist_cnn --search 'dense_1.units=choice(64, 128)' --search "
            "train.epochs=2 --num-samples 4 --workers-per-trial 2"
        ),
        {},
    ),
]


@pytest.mark.parametrize("spec, resources, entrypoint, options", PLANS)
def test_a_job_spec_becomes_an_entry_point_and_ray_options(spec, resources, entrypoint, options):
    submission = plan(spec, resources)
    assert submission.entrypoint == entrypoint and submission.options == options


REFUSED = [  # (spec, resources, message)
    (JobSpec.command("sleep 1"), ResourceConfig(workers=2), "workers must be 1 for a command job"),
    (JobSpec.train(template="mnist_cnn"), ResourceConfig(cpus=4), "cpus must be 1 \\(or unset\\)"),
    (JobSpec.train(template="mnist_cnn"), ResourceConfig(gpus=2), "gpus must be 0 or 1"),
    (JobSpec.tune(template="mnist_cnn"), ResourceConfig(memory_mb=100), "memory_mb must be unset"),
    (
        JobSpec.train(template="mnist_cnn", workers=2),
        ResourceConfig(),
        "must leave workers to ResourceConfig",
    ),
    (
        JobSpec.train(template="mnist_cnn", epoch=3),
        ResourceConfig(),
        "train job's args must be flags of ray_jobs.train; unrecognized arguments: --epoch 3",
    ),
    (
        JobSpec.train(template="mnist_cnn", epochs="three"),
        ResourceConfig(),
        "argument --epochs: invalid int value: 'three'",
    ),
    (JobSpec.train(epochs=3), ResourceConfig(), "exactly one of --dsl, --graph, --template"),
    (
        JobSpec.tune(template="mnist_cnn", search_method="grids"),
        ResourceConfig(),
        "argument --search-method: invalid choice: 'grids'",
    ),
]


@pytest.mark.parametrize("spec, resources, message", REFUSED)
def test_what_the_entry_point_or_ray_cannot_honour_is_refused_before_submission(spec, resources, message):
    with pytest.raises(ConnectorError, match=message):
        plan(spec, resources)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: JobSpec("evaluate"),
            "JobSpec.kind must be one of train, tune, command; received 'evaluate'",
        ),
        (
            lambda: JobSpec("command", {"a": 1}, entrypoint="x"),
            "a command job needs an `entrypoint` and no `args`",
        ),
        (lambda: JobSpec("train", entrypoint="x"), "a train or tune job needs `args` and no `entrypoint`"),
        (lambda: ResourceConfig(workers=0), "ResourceConfig.workers must be an integer >= 1; received 0"),
        (lambda: ResourceConfig(gpus=True), "ResourceConfig.gpus must be a number >= 0; received True"),
        (lambda: ResourceConfig(memory_mb=1.5), "ResourceConfig.memory_mb must be a positive integer"),
        (lambda: ResourceConfig(env_vars={"A": 1}), "ResourceConfig.env_vars must be a mapping of strings"),
    ],
)
def test_specs_and_resources_check_themselves(make, message):
    with pytest.raises(ConnectorError, match=re.escape(message)):
        make()


# ---- the contract suite fails a broken connector --------------------------------------------------


class _MemoryConnector(BaseConnector):
    """Jobs in a dict: each poll moves a job one state along its course. ``defects`` break one
    promise each; with none it keeps the contract (the control showing that each failure below
    comes from its defect, not from the harness)."""

    name = "memory"
    states: ClassVar = {
        "queued": JobStatus.PENDING,
        "running": JobStatus.RUNNING,
        "done": JobStatus.SUCCEEDED,
        "cancelled": JobStatus.STOPPED,
    }

    def __init__(self, defects=()):
        self.defects, self.jobs, self.sleep = set(defects), {}, (lambda s: None)

    def _job(self, job_id):
        if job_id in self.jobs:
            return self.jobs[job_id]
        if "unknown_is_pending" in self.defects:
            return {"state": "queued", "course": [], "spec": None}
        raise JobNotFoundError(f"no job {job_id}")

    def authenticate(self):
        pass

    def submit_job(self, spec, resources=None):
        long = "sleep" in str(spec.entrypoint)
        course = (
            ["running"]
            if long
            else ["running", "queued", "done"]
            if "goes_back" in self.defects
            else ["running", "done"]
        )
        self.jobs[job_id := f"mem-{len(self.jobs)}"] = {"state": "queued", "course": course, "spec": spec}
        return job_id

    def get_job_status(self, job_id):
        job = self._job(job_id)
        if job["course"]:
            job["state"] = job["course"].pop(0) if len(job["course"]) > 1 else job["course"][0]
        return self.status_of(job["state"])

    def get_job_result(self, job_id):
        return JobResult(job_id, self.get_job_status(job_id))

    def cancel_job(self, job_id):
        job = self._job(job_id)
        if job["state"] in ("done", "cancelled"):
            return False
        if "cancel_ignored" not in self.defects:
            job["state"], job["course"] = "cancelled", []
        return True

    def list_jobs(self):
        forget = "list_forgets" in self.defects
        return [JobInfo(i, self.status_of(j["state"])) for i, j in self.jobs.items() if not forget]

    def get_logs(self, job_id, tail=None):
        spec = self._job(job_id)["spec"]
        return (
            "" if "no_logs" in self.defects else re.sub(r"print\('(.*)'\)", r"\1", " ".join(spec.entrypoint))
        )

    def is_transient(self, err):
        return "retries_everything" in self.defects or super().is_transient(err)


class _HalfFilesConnector(_MemoryConnector):
    def upload_file(self, local_path, key):  # claims files, but cannot give them back
        return f"memory://{key}"


_BROKEN = [  # (a connector breaking one promise, the contract test that must catch it)
    (lambda: _MemoryConnector({"unknown_is_pending"}), "test_unknown_job_ids_raise_not_found"),
    (lambda: _MemoryConnector({"goes_back"}), "test_status_only_moves_forward_to_succeeded"),
    (lambda: _MemoryConnector({"cancel_ignored"}), "test_cancel_a_long_job"),
    (lambda: _MemoryConnector({"list_forgets"}), "test_list_contains_the_job"),
    (lambda: _MemoryConnector({"no_logs"}), "test_logs_hold_the_job_output"),
    (lambda: _MemoryConnector({"retries_everything"}), "test_retry_retries_transient_errors_only"),
    (_HalfFilesConnector, "test_files_round_trip"),
]


def _run_contract_test(name, connector, monkeypatch, tmp_path):
    """One contract test called directly, its fixtures made as the suite makes them."""
    import inspect

    suite = ConnectorContract()
    suite.timeout = 0.5
    quick = (JobSpec.command(["print('contract output')"]), "contract output")
    made = {
        "connector": connector,
        "quick_job": quick,
        "monkeypatch": monkeypatch,
        "tmp_path": tmp_path,
        "long_job": JobSpec.command(["sleep 900"]),
        "model_source": None,
    }
    test = getattr(suite, name)
    wanted = list(inspect.signature(test).parameters)
    if "finished_job" in wanted:
        job_id, seen = connector.submit_job(quick[0]), []
        connector.wait(job_id, timeout=2, poll=0, on_status=seen.append)
        made["finished_job"] = (job_id, seen)
    test(**{k: made[k] for k in wanted})


def test_optional_capabilities_a_connector_lacks_raise_unsupported(monkeypatch, tmp_path):
    memory = _MemoryConnector()
    assert memory.capabilities() == frozenset() and _HalfFilesConnector.capabilities() == {"upload_file"}
    with pytest.raises(UnsupportedError, match="the memory connector must support deploy_model") as err:
        memory.deploy_model("model.onnx", "digits")
    assert isinstance(err.value, NotImplementedError) and "capabilities()" in err.value.hint
    _run_contract_test("test_capabilities_are_the_optional_methods_that_work", memory, monkeypatch, tmp_path)


@pytest.mark.parametrize("broken, name", _BROKEN)
def test_the_contract_suite_fails_a_connector_that_breaks_a_promise(broken, name, monkeypatch, tmp_path):
    _run_contract_test(name, _MemoryConnector(), monkeypatch, tmp_path)  # the control keeps it
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _run_contract_test(name, broken(), monkeypatch, tmp_path)


# ---- the contract against Ray (slow: the session's local head) -----------------------------------


@pytest.fixture(scope="module")
def train_job(ray_head_session) -> str:
    """A smoke-test training job, submitted before the contract suite (whose connector asks for it)
    so that its ~50 s of Ray Train start-up overlap the suite's tests."""
    with pytest.MonkeyPatch.context() as mp:
        ray_head_session.apply(mp)
        spec = JobSpec.train(name="digits smoke", template="mnist_cnn", dataset="digits", smoke_test=True)
        return RayConnector(ray_head_session.state.dashboard_url).submit_job(spec)


@pytest.mark.slow
class TestRayConnector(ConnectorContract):
    timeout = 120

    @pytest.fixture(scope="class")
    @classmethod
    def connector(cls, ray_head_session, train_job):
        from ray_jobs import serve

        with pytest.MonkeyPatch.context() as mp:  # the head's environment, for the whole class
            ray_head_session.apply(mp)
            url = ray_head_session.state.dashboard_url
            serving = serve_running(serve.Serve(url))
            yield RayConnector(url, serve_port=_free_port())
            if not serving:
                stop_serve(serve.Serve(url))  # as found: later tests start Serve on their own port

    @pytest.fixture(scope="class")
    @classmethod
    def model_source(cls, tmp_path_factory):
        """The digits CNN (trained in-process for an epoch) exported to ONNX."""
        from neural_engine.export.pipeline import ExportSpec, run_export
        from tests.digits_model import digits_graph, trained_state

        spec = ExportSpec(serving=False, samples=16)
        out = tmp_path_factory.mktemp("digits-onnx")
        return str(run_export(digits_graph(), trained_state(epochs=1), spec, out, dataset="digits").files[0])

    def check_endpoint(self, endpoint):
        """Real requests: the predictions equal torch's."""
        import requests
        import torch

        from neural_engine.export.weights import export_module
        from tests.digits_model import digits_graph, digits_test_samples, trained_state

        x, _ = digits_test_samples(16)
        model, _ = export_module(digits_graph(), trained_state(epochs=1))
        with torch.inference_mode():
            expected = model(x).argmax(1).tolist()
        http = requests.Session()
        http.trust_env = False  # loopback: no proxies
        answer = http.post(endpoint.url, json={"inputs": x.tolist()}, timeout=30).json()
        assert answer["predictions"] == expected and answer["version"] == endpoint.version


@pytest.mark.slow
def test_a_train_job_result_is_its_mlflow_run_and_metrics(ray_head, train_job):
    ray, job_id = RayConnector(ray_head.state.dashboard_url), train_job
    assert ray.wait(job_id, timeout=240) == JobStatus.SUCCEEDED, ray.get_logs(job_id)[-3000:]
    logs = ray.get_logs(job_id)
    assert ray.get_logs(job_id, tail=1) == logs.splitlines(keepends=True)[-1]
    logged = re.findall(r"MLflow run ([0-9a-f]{32}) finished", logs)[-1]  # what the job printed
    result = ray.get_job_result(job_id)
    assert result.run_id == logged and result.status == JobStatus.SUCCEEDED
    assert 0 <= result.metrics["test_accuracy"] <= 1 and result.metrics["device_hours"] > 0, result.metrics
    (info,) = [j for j in ray.list_jobs() if j.id == job_id]
    assert (info.kind, info.name, info.status) == ("train", "digits smoke", JobStatus.SUCCEEDED)


@pytest.mark.slow
def test_resource_usage_is_the_heads_and_counts_a_running_job(ray_head):
    import time

    ray = RayConnector(ray_head.state.dashboard_url)
    ray.retry_policy = RetryPolicy(attempts=30, base_delay=1, factor=1, jitter=0)  # a fresh head: nodes come
    usage = ray.get_resource_usage()  # seconds after its start
    assert usage.nodes == 1 and usage.total["CPU"] == ray_head.state.num_cpus
    assert usage.total["object_store_memory"] == ray_head.state.object_store_mb * 2**20
    assert usage.total["memory"] > 0 and not any(k.startswith("node:") for k in usage.total)
    job_id = ray.submit_job(JobSpec.command("sleep 600"), ResourceConfig(cpus=1))  # the head's only CPU
    try:
        deadline = time.monotonic() + 60
        while (usage := ray.get_resource_usage()).used.get("CPU") != 1:  # the monitor reports every few s
            assert time.monotonic() < deadline, (usage, ray.get_job_status(job_id))
            time.sleep(1)
        assert (
            usage.available["CPU"] == 0 and not ray.get_job_status(job_id).terminal
        )  # reserved from the start
    finally:
        ray.cancel_job(job_id)
        ray.wait(job_id, timeout=60)


@pytest.mark.slow
def test_credentials_against_the_head(ray_head, tmp_path, monkeypatch):
    url = ray_head.state.dashboard_url
    path = RayConnector(url).save_credentials(tmp_path / "ray.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "no-token"))  # Ray's loader finds nothing now
    with pytest.raises(ConnectorAuthError, match="requires its authentication token; none was found"):
        RayConnector(url).authenticate()
    RayConnector(credentials_file=path).authenticate()  # address and token from the file
    with pytest.raises(ConnectorAuthError, match="the token sent was refused"):
        RayConnector(url, token="not-the-token").authenticate()
