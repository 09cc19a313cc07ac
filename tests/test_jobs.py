"""Job control (ray_jobs.cluster.submit) against a real local head: the SDK, `neuralforge jobs`, `ray job submit`."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neural_engine.errors import JobError
from ray_jobs import cluster
from ray_jobs.cli import main
from ray_jobs.cluster import submit

SCRIPT = """import os
print("hello from", os.environ["NEURALFORGE_USER"], os.environ["NEURALFORGE_HOME"])
print("files", sorted(os.listdir(".")))
"""


def working_dir(tmp_path: Path) -> Path:
    """A job directory with a script, plus what the default excludes must keep out."""
    wd = tmp_path / "job"
    (wd / ".venv").mkdir(parents=True)
    (wd / ".venv" / "big.bin").write_bytes(b"0" * 1000)
    (wd / "model.onnx").write_bytes(b"onnx")
    (wd / "hello.py").write_text(SCRIPT)
    return wd


@pytest.mark.slow
def test_submit_wait_logs_and_list(ray_head, tmp_path):
    job_id = submit.submit(["python", "hello.py"], working_dir=working_dir(tmp_path))
    job = submit.wait(job_id, timeout=120)
    assert job.status == "SUCCEEDED", submit.logs(job_id)
    text = submit.logs(job_id)
    assert f"hello from tester {ray_head.home}" in text  # the submitter's user and absolute home
    assert "'hello.py'" in text and ".venv" not in text and "model.onnx" not in text
    assert submit.logs(job_id, tail=1).count("\n") == 1 and "files" in submit.logs(job_id, tail=1)
    assert submit.status(job_id).status == "SUCCEEDED"
    listed = {j.id: j for j in submit.list_jobs()}
    assert listed[job_id].user == "tester" and listed[job_id].entrypoint == "python hello.py"


@pytest.mark.slow
def test_stop_a_long_job(ray_head):
    job_id = submit.submit("sleep 300", working_dir=None, submission_id=f"nf-sleep-{os.getpid()}")
    assert job_id == f"nf-sleep-{os.getpid()}"
    deadline = time.monotonic() + 60
    while submit.status(job_id).status != "RUNNING":
        assert time.monotonic() < deadline, submit.status(job_id)
        time.sleep(0.3)
    assert submit.stop(job_id) is True
    assert submit.wait(job_id, timeout=60).status == "STOPPED"
    assert submit.stop(job_id) is False  # already ended


@pytest.mark.slow
def test_unknown_job_ids_are_clear_errors(ray_head, capsys):
    for call in (submit.status, submit.logs, submit.stop):
        with pytest.raises(JobError, match="no job has the id 'raysubmit_nope'") as err:
            call("raysubmit_nope")
        assert "jobs list" in err.value.hint
    assert main(["jobs", "status", "raysubmit_nope"]) == 1
    err = capsys.readouterr().err
    assert "no job has the id" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_missing_or_wrong_token_is_a_clear_error(ray_head, monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(JobError, match="requires its authentication token; none was found") as err:
        submit.list_jobs()
    assert "~/.ray/auth_token" in err.value.hint
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")
    with pytest.raises(JobError, match="the token sent was refused"):
        submit.list_jobs()


def test_no_cluster_is_a_clear_error(nf_home, monkeypatch):
    for var in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(JobError, match="a Ray cluster is needed") as err:
        submit.list_jobs()
    assert "neuralforge cluster up" in err.value.hint
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(JobError, match="must be reachable at http://127.0.0.1:9"):
        submit.status("raysubmit_x")


def test_a_stopped_head_is_a_clear_error(nf_home, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    gone = subprocess.Popen(["true"])
    gone.wait()
    cluster.ClusterState(
        pid=gone.pid,
        create_time=time.time() - 60,
        gcs_address="127.0.0.1:1",
        dashboard_url="http://127.0.0.1:1",
        ports={},
        temp_dir="/nonexistent",
        log="",
        num_cpus=1,
        object_store_mb=100,
        started_at=0,
    ).save(cluster.state_path())
    with pytest.raises(JobError, match="must be running") as err:
        submit.submit(["python", "-c", "1"])
    assert err.value.hint == "run `neuralforge cluster up`"


def test_submit_needs_an_entrypoint(capsys):
    assert main(["jobs", "submit", "--"]) == 1
    assert "needs an entry point" in capsys.readouterr().err


@pytest.mark.slow
def test_neuralforge_jobs_cli(ray_head, tmp_path, capsys):
    wd = working_dir(tmp_path)
    assert (
        main(
            [
                "jobs",
                "submit",
                "--working-dir",
                str(wd),
                "--env",
                "GREETING=hi",
                "--wait",
                "--",
                "python",
                "-c",
                "import os; print(os.environ['GREETING'], 'from cli')",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    job_id = out.splitlines()[0]
    assert job_id.startswith("raysubmit_") and "hi from cli" in out
    assert f"job {job_id}: SUCCEEDED" in err  # status changes on stderr, the logs on stdout
    assert main(["jobs", "list"]) == 0
    assert job_id in capsys.readouterr().out
    assert main(["jobs", "logs", job_id, "--tail", "1"]) == 0
    assert capsys.readouterr().out == "hi from cli\n"
    assert main(["jobs", "logs", job_id, "--follow"]) == 0  # an ended job: its logs, then done
    assert capsys.readouterr().out.endswith("hi from cli\n")
    assert main(["jobs", "status", job_id, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["id"], status["status"], status["user"]) == (job_id, "SUCCEEDED", "tester")
    assert main(["jobs", "stop", job_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"job_id": job_id, "stopped": False}
    argv = [
        "jobs",
        "submit",
        "--working-dir",
        str(wd),
        "--wait",
        "--json",
        "--",
        "python",
        "-c",
        "print('logs')",
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    job = json.loads(out)  # --json: the ended job alone on stdout, its logs on stderr
    assert job["status"] == "SUCCEEDED" and job["entrypoint"] == submit.entrypoint(argv[7:])
    assert "logs\n" in err and f"job {job['id']}: SUCCEEDED" in err


@pytest.mark.slow
def test_wait_streams_the_logs_as_the_job_writes_them(ray_head):
    from neural_engine.progress import Progress

    script = "import time; print('one', flush=True); time.sleep(3); print('two', flush=True)"
    job_id = submit.submit(["python", "-c", script], working_dir=None)
    chunks, states = [], io.StringIO()
    job = submit.wait(
        job_id,
        timeout=120,
        on_logs=lambda text: chunks.append((time.monotonic(), text)),
        progress=Progress(stream=states),
    )
    assert job.status == "SUCCEEDED" and "".join(t for _, t in chunks).endswith("one\ntwo\n")
    one = next(at for at, text in chunks if re.search("^one$", text, re.M))  # not the entrypoint's echo
    two = next(at for at, text in chunks if re.search("^two$", text, re.M))
    assert two - one > 1.5, chunks  # "one" was shown while the job slept
    said = [line.split(": ", 1)[1] for line in states.getvalue().splitlines()]
    assert said[-1].startswith("SUCCEEDED") and said[-2] == "RUNNING" and len(said) == len(set(said)), said


@pytest.mark.slow
def test_ray_job_submit_cli_with_the_token(ray_head, tmp_path):
    """What the README shows: RAY_ADDRESS + RAY_AUTH_MODE=token, the token file found by Ray."""
    wd = working_dir(tmp_path)
    env = {**os.environ, "RAY_ADDRESS": ray_head.state.dashboard_url, "RAY_AUTH_MODE": "token"}
    ray = Path(sys.executable).parent / "ray"
    r = subprocess.run(
        [
            str(ray),
            "job",
            "submit",
            "--working-dir",
            str(wd),
            "--",
            "python",
            "-c",
            "print('via ray job submit')",
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "via ray job submit" in r.stdout and "succeeded" in r.stdout


@pytest.mark.slow
def test_ray_job_submit_training_records_into_the_clusters_store(ray_head, tmp_path, capsys):
    """Ray's own CLI from a folder outside the project, with no NeuralForge or MLflow variable in the
    submitting shell: the run lands in the head's store (``cluster up`` gave the head its absolute
    settings), tagged with the job, found by ``runs list`` and by the Train page."""
    from streamlit.testing.v1 import AppTest

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("not a project")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEURALFORGE_", "MLFLOW_"))}
    env.update(
        RAY_ADDRESS=ray_head.state.dashboard_url,
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=ray_head.env["RAY_AUTH_TOKEN_PATH"],
    )
    command = cluster.submit_line(ray_head.state).split(" ray job submit ", 1)[1]  # what `cluster up` prints
    ray = Path(sys.executable).parent / "ray"
    r = subprocess.run(
        [str(ray), "job", "submit", *command.split()],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    job_id = re.search(r"Job '(raysubmit_\w+)' submitted successfully", r.stdout).group(1)
    # the job's log (which `ray job submit` streams) holds the epoch line, the run's number
    assert re.search(r"^epoch 1/1  train_loss \d+\.\d{4}  val_loss \d+\.\d{4}  ", r.stdout, re.M), r.stdout[
        -3000:
    ]

    assert main(["runs", "list", "--json", "--filter", f"tags.`neuralforge.job_id` = '{job_id}'"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["status"] == "FINISHED"

    at = AppTest.from_file(
        str(Path(__file__).parents[1] / "app" / "app_pages" / "train.py"), default_timeout=120
    )
    at.run()
    at.selectbox(key="train_job").set_value(job_id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = [p.proto.text for p in at.get("progress")]
    assert any(f"MLflow run {run['run_id']} (FINISHED)" in text for text in shown), shown
