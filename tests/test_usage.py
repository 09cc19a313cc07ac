"""Usage accounting (ray_jobs.runs.usage) on a real MLflow SQLite store."""

from __future__ import annotations

import json
import time

import pytest

from neural_engine.errors import QuotaExceededError, ValidationError
from neural_engine.settings import Settings
from ray_jobs.cli import main
from ray_jobs.runs.usage import Usage, check_quota, month_range, record_usage, usage_by_user

OCTOBER = month_range("2026-10")[1]  # first millisecond of October 2026 (UTC)
NOVEMBER = month_range("2026-11")[1]

RUNS = [  # (experiment, start ms, usage)
    ("mnist", OCTOBER + 1, Usage("ada", "gpu", workers=2, per_worker=1, seconds=5400)),  # 3 GPU-h
    ("mnist", NOVEMBER - 1, Usage("ada", "cpu", workers=1, per_worker=4, seconds=900)),  # 1 CPU-h
    ("resnet", OCTOBER + 7, Usage("bob", "gpu", workers=4, per_worker=0.5, seconds=3600)),  # 2 GPU-h
    ("resnet", NOVEMBER, Usage("ada", "gpu", workers=1, per_worker=1, seconds=3600)),  # November
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite tracking store with runs across two experiments and two months; one run deleted."""
    import mlflow

    home = tmp_path_factory.mktemp("usage")
    uri = f"sqlite:///{home}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    experiments = {
        name: client.create_experiment(name, artifact_location=str(home / name))
        for name in ("mnist", "resnet")
    }
    runs = []
    for name, start, usage in RUNS:
        run = client.create_run(experiments[name], start_time=start)
        record_usage(run.info.run_id, usage, client=client)
        client.set_terminated(run.info.run_id, end_time=start + int(usage.seconds * 1000))
        runs.append(run.info.run_id)
    client.create_run(experiments["mnist"], start_time=OCTOBER + 9)  # no usage recorded: ignored
    client.delete_run(runs[1])  # deleting a run does not give its hours back
    now = client.create_run(experiments["mnist"])  # this month, for the quota
    record_usage(now.info.run_id, Usage("cyd", "gpu", workers=1, per_worker=1, seconds=7200), client=client)
    return {"home": home, "uri": uri, "client": client}


def test_usage_tags_and_metrics_follow_the_contract():
    u = Usage("ada", "cpu", workers=2, per_worker=4, seconds=1800)
    assert u.device_hours == 4.0
    assert u.metrics() == {"device_hours": 4.0, "cpu_hours": 4.0, "wall_hours": 0.5}
    assert u.tags() == {
        "neuralforge.user": "ada",
        "mlflow.user": "ada",
        "neuralforge.device": "cpu",
        "neuralforge.workers": "2",
        "neuralforge.per_worker": "4",
    }
    with pytest.raises(ValidationError, match="device must be one of"):
        Usage("ada", "tpu", 1, 1, 1)
    with pytest.raises(ValidationError, match="workers >= 1"):
        Usage("ada", "gpu", 0, 1, 1)


def test_usage_is_summed_per_user_and_month(store):
    october = usage_by_user("2026-10", tracking_uri=store["uri"])
    assert set(october) == {"ada", "bob"}
    assert october["ada"].gpu_hours == pytest.approx(3.0) and october["ada"].cpu_hours == pytest.approx(1.0)
    assert october["ada"].runs == 2 and october["bob"].gpu_hours == pytest.approx(2.0)
    november = usage_by_user("2026-11", tracking_uri=store["uri"])
    assert november["ada"].gpu_hours == pytest.approx(1.0) and november["ada"].runs == 1
    assert usage_by_user("2026-09", tracking_uri=store["uri"]) == {}


def test_the_latest_value_of_a_run_counts(store):
    client = store["client"]
    exp = client.get_experiment_by_name("mnist").experiment_id
    run = client.create_run(exp, start_time=month_range("2026-08")[1])
    for seconds in (600, 1200, 1800):  # after each epoch
        record_usage(run.info.run_id, Usage("dee", "cpu", 1, 2, seconds), client=client)
    assert usage_by_user("2026-08", tracking_uri=store["uri"])["dee"].cpu_hours == pytest.approx(1.0)


def test_quota_refuses_a_user_past_it(store):
    env = {"NEURALFORGE_HOME": str(store["home"]), "MLFLOW_TRACKING_URI": store["uri"]}
    over = Settings.from_env({**env, "NEURALFORGE_QUOTA_GPU_HOURS": "1.5"})
    expected = (
        r"cyd must stay under the monthly quota of 1.5 GPU-hours \(NEURALFORGE_QUOTA_GPU_HOURS\); "
        r"\d{4}-\d\d already has 2.00"
    )
    with pytest.raises(QuotaExceededError, match=expected):
        check_quota("cyd", over)
    assert check_quota("ada", over).gpu_hours < 1.5  # others are not affected
    assert check_quota("cyd", over, devices=("cpu",)) is None  # no CPU quota set
    assert check_quota("cyd", Settings.from_env({**env, "NEURALFORGE_QUOTA_GPU_HOURS": "3"})).gpu_hours == 2
    assert check_quota("cyd", Settings.from_env(env)) is None  # no quota: MLflow is not asked
    with pytest.raises(ValidationError, match="NEURALFORGE_QUOTA_CPU_HOURS must be a number of hours"):
        Settings.from_env({**env, "NEURALFORGE_QUOTA_CPU_HOURS": "lots"})


def test_jobs_submit_checks_the_quota_before_submitting(store, monkeypatch, capsys):
    for var, value in {
        "NEURALFORGE_HOME": str(store["home"]),
        "MLFLOW_TRACKING_URI": store["uri"],
        "NEURALFORGE_USER": "cyd",
        "NEURALFORGE_QUOTA_GPU_HOURS": "1",
        "RAY_ADDRESS": "http://127.0.0.1:9",
    }.items():  # Ray would not answer
        monkeypatch.setenv(var, value)
    assert main(["jobs", "submit", "--", "python", "-m", "ray_jobs.train", "--smoke-test"]) == 1
    err = capsys.readouterr().err
    assert "cyd must stay under the monthly quota of 1 GPU-hours" in err and "neuralforge usage" in err


def test_usage_cli(store, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    monkeypatch.setenv("NEURALFORGE_QUOTA_GPU_HOURS", "10")
    assert main(["usage", "--month", "2026-10"]) == 0
    out = capsys.readouterr().out
    assert "usage in 2026-10 (GPU quota 10 h per user)" in out
    assert any(line.split() == ["ada", "3.00", "1.00", "2"] for line in out.splitlines())
    assert main(["usage", "--month", "2026-10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bob"] == {"gpu_hours": 2.0, "cpu_hours": 0.0, "runs": 1}
    assert main(["usage", "--month", "October"]) == 1
    assert "--month must be YYYY-MM" in capsys.readouterr().err


def test_month_range_is_utc_and_wraps_the_year():
    month, start, end = month_range("2026-12")
    assert month == "2026-12" and end - start == 31 * 86_400_000
    assert month_range(time.strftime("%Y-%m", time.gmtime()))[0] == month_range()[0]


def test_no_store_yet_means_no_usage(nf_home, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert usage_by_user("2026-10") == {}
    assert not (nf_home / "mlflow.db").exists()  # asking created no database
    assert main(["usage"]) == 0 and "(no runs with usage recorded)" in capsys.readouterr().out
