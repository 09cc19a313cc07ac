"""Comparing, finding and tagging runs (fast, on MLflow runs written here), and reproducing and
evaluating a real training run (slow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from neural_engine.diff import diff_graphs
from neural_engine.dsl import parse
from ray_jobs.cli import main

NET_A = 'network N { input: (8, 8, 1) layers: Flatten() Dense(8, activation="relu") Dropout(0.5) Output(10) }'
NET_B = (
    'network N { input: (8, 8, 1) layers: Flatten() Dense(16, activation="relu") Dense(12) Output(10) '
    "train { epochs: 4 } }"
)


def test_graph_diff_names_nodes_added_removed_and_changed():
    d = diff_graphs(parse(NET_A), parse(NET_B))
    assert [n["id"] for n in d.added] == ["dense_2"] and d.added[0]["params"] == {"units": 12}
    assert [n["id"] for n in d.removed] == ["dropout_1"]
    changed = {c.id: c.changes for c in d.changed}
    assert changed == {"dense_1": {"units": (8, 16)}, "output_1": {"inputs": (["dropout_1"], ["dense_2"])}}
    assert d.training == {"epochs": (None, 4)} and not d.inputs
    assert diff_graphs(parse(NET_A), parse(NET_A)).empty
    assert json.loads(json.dumps(d.to_json()))["changed"][0]["changes"]["units"] == {"before": 8, "after": 16}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three runs in a fresh MLflow store: A and B finished with graphs and curves, C failed."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from ray_jobs.tracking import experiment_id

    home = tmp_path_factory.mktemp("runs-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEURALFORGE_HOME", str(home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("NEURALFORGE_STORAGE", raising=False)
        uri = f"sqlite:///{home}/mlflow.db"
        client = MlflowClient(uri)
        exp = experiment_id(uri, "cmp", str(home / "mlartifacts"))
        ids = {}
        now = int(time.time() * 1000)
        for name, lr, batch, net, accs, team in (
            ("A", "0.001", "32", NET_A, (0.5, 0.7, 0.8), "vision"),
            ("B", "0.01", "64", NET_B, (0.4, 0.6, 0.7), "nlp"),
            ("C", "0.1", "32", None, (), "vision"),
        ):
            run = client.create_run(exp, run_name=name, tags={"team": team})
            ids[name] = rid = run.info.run_id
            client.log_batch(
                rid,
                params=[
                    Param("optimizer.lr", lr),
                    Param("train.batch_size", batch),
                    Param("dataset", "digits"),
                ],
                metrics=[
                    Metric(k, v, now, step)
                    for step, acc in enumerate(accs)
                    for k, v in (("val_accuracy", acc), ("val_loss", 1 - acc))
                ],
                tags=[RunTag("neuralforge.kind", "train")],
            )
            if net:
                d = home / f"setup-{name}"
                d.mkdir()
                (d / "graph.json").write_text(json.dumps(parse(net).to_json()))
                client.log_artifacts(rid, str(d), "setup")
            client.set_terminated(rid, "FINISHED" if net else "FAILED")
        yield ids, mp, home


@pytest.fixture
def runs(store, monkeypatch):
    ids, _, home = store
    monkeypatch.setenv("NEURALFORGE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("NEURALFORGE_STORAGE", raising=False)
    return ids


def test_compare_diffs_hyperparameters_and_architectures_and_exports(runs, tmp_path):
    import polars as pl

    from ray_jobs.runs import compare

    out = compare(
        [runs["A"], runs["B"]], plot=str(tmp_path / "curves.png"), csv=str(tmp_path / "t.csv"), smoothing=0.5
    )
    assert out["params_differ"] == {"optimizer.lr": ["0.001", "0.01"], "train.batch_size": ["32", "64"]}
    assert out["metrics"]["val_accuracy"] == [0.8, 0.7]  # the final values, side by side
    arch = out["architecture"][runs["B"]]
    assert [n["id"] for n in arch["added"]] == ["dense_2"]
    assert [n["id"] for n in arch["removed"]] == ["dropout_1"]
    assert "~ dense_1 (Dense): units 8 -> 16" in out["architecture_lines"][runs["B"]]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    table = pl.read_csv(tmp_path / "t.csv")
    assert table["run_id"].to_list() == [runs["A"], runs["B"]]
    assert table["metrics.val_accuracy"].to_list() == [0.8, 0.7]
    assert table["params.optimizer.lr"].to_list() == [0.001, 0.01]


def test_compare_command_prints_the_diff(runs, tmp_path, capsys):
    assert main(["runs", "compare", runs["A"], runs["B"], runs["C"], "--plot", str(tmp_path / "c.png")]) == 0
    text = capsys.readouterr().out
    assert "hyperparameters that differ:" in text and "optimizer.lr" in text
    assert "dataset" not in text.split("final")[0]  # the same in all three
    assert f"architecture {runs['A'][:8]} -> {runs['B'][:8]}:" in text
    assert "+ dense_2 (Dense) units=12" in text
    assert "- dropout_1 (Dropout) rate=0.5" in text and "val_accuracy" in text
    assert main(["runs", "compare", runs["A"]]) == 1


def test_smoothing_is_an_exponential_moving_average():
    from ray_jobs.runs.plots import smooth

    assert smooth([1.0, 0.0, 0.0], 0.0) == [1.0, 0.0, 0.0]
    assert smooth([1.0, 0.0, 0.0], 0.5) == [1.0, 0.5, 0.25]


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--tag", "team=vision"], ["A", "C"]),
        (["--filter", "metrics.val_accuracy > 0.75"], ["A"]),
        (["--status", "FAILED"], ["C"]),
        (["--param", "optimizer.lr=0.005:0.05"], ["B"]),
        (["--param", "optimizer.lr=:0.005", "--tag", "team=vision"], ["A"]),
        (["--experiment", "cmp", "--since", "2000-01-01", "--until", "2999-01-01"], ["A", "B", "C"]),
        (["--since", "2999-01-01"], []),
    ],
)
def test_list_filters(runs, capsys, flags, expected):
    assert main(["runs", "list", "--json", *flags]) == 0
    found = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert found == set(expected)


def test_list_refuses_bad_filters(runs, capsys):
    assert main(["runs", "list", "--filter", "metrics.val_accuracy >>> 1"]) == 1
    assert "--filter must be an MLflow search expression" in capsys.readouterr().err
    assert main(["runs", "list", "--experiment", "nope"]) == 1
    assert "--experiment must name an MLflow experiment; received 'nope' (known: " in capsys.readouterr().err
    assert main(["runs", "list", "--param", "optimizer.lr=1"]) == 1
    assert "--param must be NAME=LOW:HIGH" in capsys.readouterr().err


def test_tag_and_untag(runs, capsys):
    from mlflow.tracking import MlflowClient

    from neural_engine.settings import settings

    client = MlflowClient(settings().mlflow_uri)
    assert main(["runs", "tag", runs["B"], "stage=candidate", "owner=ada"]) == 0
    assert {"stage": "candidate", "owner": "ada"}.items() <= client.get_run(runs["B"]).data.tags.items()
    assert main(["runs", "untag", runs["B"], "stage"]) == 0
    tags = client.get_run(runs["B"]).data.tags
    assert "stage" not in tags and tags["owner"] == "ada"
    assert main(["runs", "untag", runs["B"], "stage"]) == 1
    assert main(["runs", "tag", runs["B"], "mlflow.parentRunId=x"]) == 1
    assert "belong to MLflow" in capsys.readouterr().err
    assert main(["runs", "tag", runs["B"], "stage=prod", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"run_id": runs["B"], "tagged": {"stage": "prod"}}
    assert main(["runs", "untag", runs["B"], "stage", "owner", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"run_id": runs["B"], "removed": ["stage", "owner"]}
    assert {"stage", "owner"}.isdisjoint(client.get_run(runs["B"]).data.tags)


# ---- a real training run, reproduced and evaluated ------------------------------------------------

TRAIN_THEN_REPRODUCE = """
import sys
from ray_jobs.runs import reproduce
from ray_jobs.config import TrainConfig
from ray_jobs.train import train
run_id = train(TrainConfig(template="mnist_cnn", dataset="digits", epochs=2, split="70,15,15", seed=7,
                           run_name="original"))
print(f"MLflow run {run_id} finished")
sys.exit(reproduce.main([run_id, "--json"]))  # the command, in the same process: one Ray start for both
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A training run and its reproduction: (home, original run id, (stdout, stderr))."""
    home = tmp_path_factory.mktemp("train-home")
    cleared = ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "NEURALFORGE_STORAGE")
    env = {k: v for k, v in os.environ.items() if k not in cleared}
    env["NEURALFORGE_HOME"] = str(home)
    out = subprocess.run(
        [sys.executable, "-c", TRAIN_THEN_REPRODUCE],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return home, re.search(r"MLflow run (\w+) finished\n", out.stdout).group(1), (out.stdout, out.stderr)


@pytest.mark.slow
def test_reproduce_trains_the_same_run_again(trained):
    from mlflow.tracking import MlflowClient

    home, run_id, (out, err) = trained
    # --json: the document ends stdout (the library call before it printed Ray's worker lines there)
    report = json.loads(out[out.rindex("\n{\n") :])
    new_id = report["run_id"]
    assert report["reproduced_from"] == run_id and report["status"] == "FINISHED"
    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    assert report["metrics"] == client.get_run(new_id).data.metrics
    assert [e["epoch"] for e in report["epochs"]] == [0, 1]
    assert re.findall(r"^epoch (\d)/2  train_loss", err, re.M) == ["1", "2"]  # its progress, on stderr
    old, new = client.get_run(run_id), client.get_run(new_id)
    assert new.data.tags["neuralforge.reproduced_from"] == run_id
    assert new.info.run_name == "original-reproduced"
    assert new.info.status == "FINISHED"
    first = [
        [m.value for m in client.get_metric_history(r, "train_loss") if m.step == 0] for r in (run_id, new_id)
    ]
    assert first[0] == first[1] and len(first[0]) == 1  # the same first-epoch loss, to the last bit
    same = (
        "train.epochs",
        "train.batch_size",
        "train.seed",
        "optimizer.lr",
        "split",
        "dataset",
        "dataset_version",
    )
    assert {k: new.data.params[k] for k in same} == {k: old.data.params[k] for k in same}
    assert new.data.params["split"] == "70,15,15" and new.data.params["train.seed"] == "7"
    assert report["first_train_loss"] == {"original": first[0][0], "reproduction": first[1][0], "equal": True}


@pytest.mark.slow
def test_evaluate_command_scores_the_best_checkpoint(trained, monkeypatch, capsys, tmp_path):
    from mlflow.tracking import MlflowClient
    from PIL import Image

    home, run_id, _ = trained
    monkeypatch.setenv("NEURALFORGE_HOME", str(home))
    for var in ("MLFLOW_TRACKING_URI", "NEURALFORGE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    at_end = client.get_run(run_id).data.metrics  # logged by training, from the best weights
    assert {"test_accuracy", "test_precision_macro", "test_f1_macro", "test_auc_ovr"} <= set(at_end)
    assert main(["evaluate", run_id, "--json", "-o", str(tmp_path / "ev")]) == 0
    out, err = capsys.readouterr()
    again = json.loads(out)
    for key in ("test_accuracy", "test_f1_macro", "test_auc_ovr", "test_loss"):
        assert again[key] == pytest.approx(at_end[key], abs=1e-9), key
    # -o: the same files as the run's evaluation/test/, in the folder; the figures are real PNGs
    written = {p.name for p in (tmp_path / "ev").iterdir()}
    assert written == {
        "metrics.json",
        "per_class.json",
        "per_class.csv",
        "confusion_matrix.json",
        "confusion_matrix.png",
        "misclassified.png",
    }
    assert f"to {tmp_path / 'ev'}" in err
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text()) == again
    assert len(json.loads((tmp_path / "ev" / "per_class.json").read_text())) == 10
    for png in ("confusion_matrix.png", "misclassified.png"):
        with Image.open(tmp_path / "ev" / png) as image:
            image.load()
            assert image.format == "PNG" and min(image.size) > 100, (png, image.size)
    assert main(["evaluate", run_id, "--split", "val"]) == 0
    assert "eval_val_accuracy" in client.get_run(run_id).data.metrics
    files = {a.path for a in client.list_artifacts(run_id, "evaluation/test")}
    assert {
        "evaluation/test/confusion_matrix.png",
        "evaluation/test/misclassified.png",
        "evaluation/test/per_class.json",
        "evaluation/test/confusion_matrix.json",
    } <= files
