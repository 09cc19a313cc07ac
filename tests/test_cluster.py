"""The local Ray head (ray_jobs.cluster) and cluster.yaml through Ray's own validation."""

from __future__ import annotations

import copy
import io
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from neural_engine.errors import ClusterError
from neural_engine.progress import Progress
from neural_engine.settings import settings
from ray_jobs import cluster
from ray_jobs.cli import main
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_cluster_yaml_passes_rays_validation():
    import yaml
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config = prepare_config(copy.deepcopy(raw))  # merges Ray's AWS defaults; no cloud calls
    validate_config(config)  # Ray's JSON schema and cross-field checks
    nodes = config["available_node_types"]
    assert config["provider"]["type"] == "aws"
    assert nodes[config["head_node_type"]]["resources"] == {"CPU": 0}  # the head trains nothing
    assert nodes["gpu"]["min_workers"] == 0 and nodes["gpu"]["max_workers"] > 0
    assert nodes["gpu"]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert nodes["cpu"]["max_workers"] > 0
    setup = " ".join(config["setup_commands"])
    assert "-c ~/neuralforge/constraints.txt" in setup and "[ray,data,export]" in setup
    start = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert "neuralforge.env" in start and "RAY_AUTH_MODE=token" in start
    assert "MLFLOW_TRACKING_URI" in (ROOT / "cluster.yaml").read_text()
    assert "s3://" in (ROOT / "cluster.yaml").read_text()


def test_cluster_yaml_validation_is_strict():
    import jsonschema
    import yaml
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    raw["available_node_types"]["gpu"]["min_worker"] = 0  # a typo Ray must refuse
    with pytest.raises(jsonschema.ValidationError, match="min_worker"):
        validate_config(prepare_config(raw))


@pytest.mark.slow
def test_up_is_idempotent_and_status_reports_the_head(ray_head, capsys):
    again = cluster.up(num_cpus=1, object_store_mb=100)
    assert (again.pid, again.dashboard_url) == (ray_head.state.pid, ray_head.state.dashboard_url)
    st = cluster.status()
    assert st.running and ray_head.state.pid in st.alive and len(st.alive) >= 5
    assert st.state.dashboard_url.startswith("http://127.0.0.1:")
    assert st.state.gcs_address.startswith("127.0.0.1:")
    assert main(["cluster", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dashboard_url"] == ray_head.state.dashboard_url
    assert main(["cluster", "up", "--num-cpus", "1", "--object-store-mb", "100"]) == 0
    out = capsys.readouterr().out
    assert f"RAY_ADDRESS={ray_head.state.dashboard_url}" in out and "RAY_AUTH_MODE=token" in out
    assert main(["cluster", "up", "--json"]) == 0  # already up: its state, as `status --json` says
    up = json.loads(capsys.readouterr().out)
    assert up["running"] and (up["pid"], up["dashboard_url"]) == (
        ray_head.state.pid,
        ray_head.state.dashboard_url,
    )


def test_down_and_status_json_without_a_head(nf_home, capsys):
    from ray_jobs.cli import main as cli

    for what in ("cluster", "tracking"):
        assert cli([what, "down", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"stopped": []}, what
    assert cli(["cluster", "status", "--json"]) == 1  # none running: the document says so too
    assert json.loads(capsys.readouterr().out)["running"] is False


def test_the_wait_for_a_head_says_what_it_waits_for(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing answers there
    proc = subprocess.Popen(["sleep", "30"])  # a head that never serves
    said = io.StringIO()
    try:
        with pytest.raises(ClusterError, match="must answer at .* within 1 s"):
            cluster._wait_ready(proc, url, "token", tmp_path / "log", 1, Progress(stream=said))
    finally:
        proc.kill()
        proc.wait()
    assert said.getvalue() == (
        f"waiting for the Ray head at {url}: starting (its job server does not answer yet)\n"
    )  # once, though it polled again


@pytest.mark.slow
def test_the_head_is_private_to_its_home(ray_head):
    """Its own temp dir (a plain ray.init() elsewhere does not attach) and its own token file."""
    state = json.loads(cluster.state_path().read_text())
    assert Path(state["temp_dir"]).is_dir() and state["temp_dir"] != "/tmp/ray"
    assert Path(state["temp_dir"]).name.startswith("nf-ray-")
    assert cluster.auth_token() == (ray_head.home / "auth_token").read_text()


def _dead_pid() -> tuple[int, float]:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid, time.time() - 60


def _fake_state(pid: int, create_time: float, temp_dir: str = "/nonexistent/nf-ray-x"):
    return cluster.ClusterState(
        pid=pid,
        create_time=create_time,
        gcs_address="127.0.0.1:1",
        dashboard_url="http://127.0.0.1:1",
        ports={},
        temp_dir=temp_dir,
        log="",
        num_cpus=1,
        object_store_mb=100,
        started_at=create_time,
        processes={pid: create_time},
    )


def test_stale_state_is_cleared_and_touches_nothing_else(nf_home):
    """A recorded PID now used by another process (here: this test) is never signalled."""
    import psutil

    me = psutil.Process()
    cluster.ClusterState.save(_fake_state(me.pid, me.create_time() - 1000), cluster.state_path())
    st = cluster.status()
    assert not st.running and "stale" in st.message and st.alive == ()
    assert cluster.down() == [] and not cluster.state_path().exists()
    pid, created = _dead_pid()
    cluster.ClusterState.save(_fake_state(pid, created), cluster.state_path())
    assert cluster.down() == [] and not cluster.state_path().exists()
    assert cluster.down() == []  # nothing recorded: still fine


def test_down_stops_a_recorded_process_tree(nf_home):
    """What down() finds: the recorded leader, its session and its descendants, even in other sessions."""
    import psutil

    leader = subprocess.Popen(["sh", "-c", "setsid sleep 300 & sleep 300"], start_new_session=True)
    proc = psutil.Process(leader.pid)

    def escaped(children) -> bool:  # the forked shell has run setsid: one child left the session
        try:
            return len(children) >= 2 and any(os.getsid(c.pid) != leader.pid for c in children)
        except ProcessLookupError:
            return False

    deadline = time.monotonic() + 10
    while not escaped(children := proc.children(recursive=True)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert escaped(children), children
    cluster.ClusterState.save(_fake_state(leader.pid, proc.create_time()), cluster.state_path())
    stopped = cluster.down(grace=0.5)
    leader.wait(5)
    assert set(stopped) >= {leader.pid, *(c.pid for c in children)}
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def test_unreadable_state_and_bad_sizes_are_clear_errors(nf_home):
    cluster.state_path().parent.mkdir(parents=True)
    cluster.state_path().write_text("{not json")
    with pytest.raises(ClusterError, match="state file"):
        cluster.status()
    with pytest.raises(ClusterError, match="at least 80 MB"):
        cluster.up(object_store_mb=10)


def test_a_token_is_generated_where_ray_looks_for_it(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "auth_token"))
    assert cluster.auth_token() is None
    token = cluster.ensure_auth_token()
    assert len(token) == 64 and cluster.auth_token() == token == cluster.ensure_auth_token()
    assert stat.S_IMODE((tmp_path / "auth_token").stat().st_mode) == 0o600
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")  # Ray's order: the variable first
    assert cluster.auth_token() == "from-env" and cluster.token_source() == "the RAY_AUTH_TOKEN variable"
    assert settings().home  # the settings still load with the token variables set
