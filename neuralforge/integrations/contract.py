"""The contract every connector keeps, as a pytest suite a connector's own tests inherit.

    # tests/test_my_connector.py
    import pytest
    from neuralforge.integrations.contract import ConnectorContract

    class TestMyConnector(ConnectorContract):
        @pytest.fixture(scope="class")
        @classmethod
        def connector(cls):
            return MyConnector(endpoint="https://…")

It submits real jobs, so it runs against a real (test) backend: one quick job (its status only
moves forward to SUCCEEDED; its result, listing and logs), one long job cancelled (STOPPED),
unknown ids (JobNotFoundError), every optional capability (works, or raises UnsupportedError),
and the retry helper's classification. Override ``quick_job`` (a spec and a line its logs must
show) and ``long_job`` where the backend cannot run ``python -c``; ``model_source`` (and
``check_endpoint``) where it deploys models; ``timeout`` for slow backends.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import ClassVar

import pytest

from neuralforge.integrations.base import BaseConnector, Endpoint, JobSpec, JobStatus, ResourceUsage
from neuralforge.integrations.errors import (
    ConnectorError,
    JobNotFoundError,
    NotFoundError,
    TransientError,
    UnsupportedError,
)

MARK = "neuralforge contract: quick job ran"
ORDER = {
    JobStatus.PENDING: 0,
    JobStatus.RUNNING: 1,
    JobStatus.SUCCEEDED: 2,
    JobStatus.FAILED: 2,
    JobStatus.STOPPED: 2,
}
UNKNOWN_JOB = "nf-contract-no-such-job"


def _unsupported(connector: BaseConnector, capability: str, *args) -> None:
    """Calling a capability the connector does not list must raise UnsupportedError naming it."""
    with pytest.raises(UnsupportedError) as err:
        getattr(connector, capability)(*args)
    assert err.value.capability == capability and connector.name in str(err.value), str(err.value)


def _wait(connector: BaseConnector, job_id: str, timeout: float, what: str, **kw) -> JobStatus:
    try:
        return connector.wait(job_id, timeout=timeout, **kw)
    except ConnectorError as e:
        pytest.fail(f"{what} must end within {timeout:g} s: {e}")


class ConnectorContract:
    """Inherit as ``Test<Name>Connector`` and override ``connector`` (a class-scoped fixture)."""

    timeout: ClassVar[float] = 180  # seconds a quick job may take to end, and a cancel to land

    # -- fixtures to override ---------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def connector(cls) -> BaseConnector:
        pytest.fail("override the `connector` fixture (scope='class') to return the connector under test")

    @pytest.fixture(scope="class")
    @classmethod
    def quick_job(cls) -> tuple[JobSpec, str]:
        """A job that succeeds in seconds, and a line its logs must contain."""
        return JobSpec.command(["python", "-c", f"print({MARK!r})"], name="contract-quick"), MARK

    @pytest.fixture(scope="class")
    @classmethod
    def long_job(cls) -> JobSpec:
        """A job that runs until cancelled."""
        return JobSpec.command(["python", "-c", "import time; time.sleep(900)"], name="contract-long")

    @pytest.fixture(scope="class")
    @classmethod
    def model_source(cls) -> str | None:
        """What ``deploy_model`` deploys (needed when the connector supports it)."""
        return None

    def check_endpoint(self, endpoint: Endpoint) -> None:
        """Call the deployed endpoint (override: the request format is the model's)."""

    # -- the quick job, run once for the tests that read it ---------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def finished_job(cls, connector, quick_job) -> tuple[str, list[JobStatus]]:
        """(job id, every status polled until the end)."""
        spec, _ = quick_job
        job_id = connector.submit_job(spec)
        seen: list[JobStatus] = []
        _wait(connector, job_id, cls.timeout, "the quick job", on_status=seen.append)
        return job_id, seen

    # -- the contract -----------------------------------------------------------------------------

    def test_authenticate(self, connector):
        connector.authenticate()

    def test_status_only_moves_forward_to_succeeded(self, connector, finished_job):
        job_id, seen = finished_job
        assert isinstance(job_id, str) and job_id, job_id
        assert all(isinstance(s, JobStatus) for s in seen), seen
        assert [ORDER[s] for s in seen] == sorted(ORDER[s] for s in seen), f"status went backwards: {seen}"
        assert seen[-1] == JobStatus.SUCCEEDED, (seen, connector.get_logs(job_id))
        assert connector.get_job_status(job_id) == JobStatus.SUCCEEDED  # and stays there

    def test_result_of_a_finished_job(self, connector, finished_job):
        job_id, _ = finished_job
        result = connector.get_job_result(job_id)
        assert result.job_id == job_id and result.status == JobStatus.SUCCEEDED, result
        assert all(isinstance(k, str) and isinstance(v, int | float) for k, v in result.metrics.items())

    def test_list_contains_the_job(self, connector, finished_job):
        job_id, _ = finished_job
        listed = {j.id: j for j in connector.list_jobs()}
        assert job_id in listed, f"{job_id} not in {sorted(listed)[:20]}"
        assert listed[job_id].status == JobStatus.SUCCEEDED, listed[job_id]

    def test_logs_hold_the_job_output(self, connector, finished_job, quick_job):
        job_id, _ = finished_job
        assert quick_job[1] in connector.get_logs(job_id), connector.get_logs(job_id)[-2000:]

    def test_cancel_a_long_job(self, connector, long_job):
        job_id = connector.submit_job(long_job)
        try:
            deadline = time.monotonic() + self.timeout
            while (status := connector.get_job_status(job_id)) != JobStatus.RUNNING:
                assert not status.terminal, f"the long job must run until cancelled; it ended {status}"
                assert time.monotonic() < deadline, f"the long job must start within {self.timeout:g} s"
                time.sleep(0.3)
            assert connector.cancel_job(job_id) is True
            final = _wait(connector, job_id, self.timeout, "a cancelled job")
            assert final == JobStatus.STOPPED, final
            assert connector.get_job_status(job_id) == JobStatus.STOPPED
            assert connector.cancel_job(job_id) is False  # already ended
        finally:
            if not connector.get_job_status(job_id).terminal:
                connector.cancel_job(job_id)

    def test_unknown_job_ids_raise_not_found(self, connector):
        for call in (
            connector.get_job_status,
            connector.get_job_result,
            connector.get_logs,
            connector.cancel_job,
        ):
            with pytest.raises(JobNotFoundError):
                call(UNKNOWN_JOB)

    def test_capabilities_are_the_optional_methods_that_work(self, connector):
        caps = connector.capabilities()
        assert caps <= set(BaseConnector.OPTIONAL), caps - set(BaseConnector.OPTIONAL)
        for capability in set(BaseConnector.OPTIONAL) - caps:
            args = {
                "deploy_model": ("m", "n"),
                "delete_endpoint": ("n",),
                "upload_file": ("f", "k"),
                "download_file": ("k", "f"),
                "get_resource_usage": (),
            }[capability]
            _unsupported(connector, capability, *args)

    def test_files_round_trip(self, connector, tmp_path):
        caps = connector.capabilities()
        if not {"upload_file", "download_file"} & caps:
            return  # declared unsupported; checked above
        assert {"upload_file", "download_file"} <= caps, "upload_file and download_file come together"
        key = f"contract/{uuid.uuid4().hex}/data.bin"
        data = bytes(range(256)) * 64
        (tmp_path / "up.bin").write_bytes(data)
        uri = connector.upload_file(tmp_path / "up.bin", key)
        assert isinstance(uri, str) and key in uri, uri
        assert connector.download_file(key, tmp_path / "down.bin").read_bytes() == data
        with pytest.raises(NotFoundError):
            connector.download_file(f"contract/{uuid.uuid4().hex}/missing.bin", tmp_path / "missing.bin")

    def test_resource_usage(self, connector):
        if "get_resource_usage" not in connector.capabilities():
            return
        usage = connector.get_resource_usage()
        assert isinstance(usage, ResourceUsage) and usage.nodes >= 1 and usage.total, usage
        for name, used in usage.used.items():
            assert name in usage.total and 0 <= used <= usage.total[name] + 1e-9, (name, usage)
        assert all(v >= 0 and math.isfinite(v) for v in usage.total.values()), usage

    def test_deploy_then_delete_an_endpoint(self, connector, model_source):
        caps = connector.capabilities()
        if not {"deploy_model", "delete_endpoint"} & caps:
            return
        assert {"deploy_model", "delete_endpoint"} <= caps, "deploy_model and delete_endpoint come together"
        if model_source is None:
            pytest.fail("the connector deploys models: override the `model_source` fixture")
        name = f"contract-{uuid.uuid4().hex[:8]}"
        endpoint = connector.deploy_model(model_source, name)
        try:
            assert endpoint.name == name and endpoint.url.startswith(("http://", "https://")), endpoint
            self.check_endpoint(endpoint)
        finally:
            connector.delete_endpoint(name)
        with pytest.raises(NotFoundError):
            connector.delete_endpoint(name)

    def test_retry_retries_transient_errors_only(self, connector, monkeypatch):
        slept: list[float] = []
        monkeypatch.setattr(connector, "sleep", slept.append)
        policy = connector.retry_policy
        assert policy.attempts >= 2, "a connector must retry transient errors at least once"
        assert connector.is_transient(TransientError("the backend is restarting"))
        for permanent in (ConnectorError("refused"), JobNotFoundError("no such job"), ValueError("bug")):
            assert not connector.is_transient(permanent), permanent

        calls = []

        def flaky():
            calls.append(1)
            if len(calls) < policy.attempts:
                raise TransientError("the backend is restarting")
            return "done"

        assert connector.call(flaky) == "done" and len(calls) == policy.attempts
        assert len(slept) == policy.attempts - 1 and all(0 <= s <= policy.max_delay for s in slept), slept

        def refused():
            calls.append(1)
            raise JobNotFoundError("no such job")

        calls.clear()
        slept.clear()
        with pytest.raises(JobNotFoundError):
            connector.call(refused)
        assert len(calls) == 1 and not slept, "a permanent error must not be retried"

        def down():
            calls.append(1)
            raise TransientError("still down")

        calls.clear()
        with pytest.raises(TransientError, match="still down"):
            connector.call(down)
        assert len(calls) == policy.attempts, "retries must stop after policy.attempts tries"
