"""Sweeps: search values by path, substitution, the Tune mapping (fast); a real Ray Tune sweep
with MLflow parent/child runs, an invalid sample ending as an errored trial, and best.neural (slow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from ray import tune

from neural_engine.dsl import parse, print_dsl
from neural_engine.errors import ValidationError
from neural_engine.ir import HPO, Call
from neural_engine.search import has_search_values, parse_search_value, search_values, substitute
from neural_engine.shapes import propagate
from ray_jobs.config import TrainConfig
from ray_jobs.tune import SweepConfig, pin_flags, sampled, split_space, tune_domain

NET = """network Sweep {
  input: (8, 8, 1)
  layers:
    Conv2D(8, 3, activation="relu")
    MaxPooling2D(HPO(choice(2, 3, 16)))
    Flatten()
    Sequential { Dense(HPO(range(16, 64, step=16)), activation="relu") }
    Dropout(HPO(range(0.1, 0.5)))
    Output(10, "softmax")
  loss: "sparse_categorical_crossentropy"
  optimizer: Adam(learning_rate=HPO(log_range(1e-3, 1e-2)))
  lr_schedule: ExponentialDecay(HPO(choice(0.1, 0.01)), 1000, 0.96)
  train { epochs: HPO(choice(1, 2)), batch_size: 64 }
}
"""


def test_search_values_are_found_by_path_everywhere_the_dsl_allows_them():
    values = search_values(parse(NET))
    assert list(values) == [
        "maxpooling2d_1.pool_size",
        "dense_1.units",
        "dropout_1.rate",
        "train.optimizer.learning_rate",
        "train.lr_schedule.0",
        "train.epochs",
    ]
    assert values["dense_1.units"] == HPO("range", low=16, high=64, step=16)  # inside a container body


def test_substitution_resolves_every_search_value_and_prints_plain_dsl():
    g = parse(NET)
    done = substitute(
        g,
        {
            "maxpooling2d_1.pool_size": 3,
            "dense_1.units": 48,
            "train.optimizer.learning_rate": 0.005,
            "train.lr_schedule.0": 0.01,
        },
    )
    assert not has_search_values(done)
    again = parse(print_dsl(done))
    assert again == done and again.node("sequential_1").body[0].params["units"] == 48
    assert again.training["optimizer"] == Call("Adam", kwargs={"learning_rate": 0.005})
    assert again.training["epochs"] == 1 and again.node("dropout_1").params["rate"] == 0.1  # defaults
    assert propagate(done).nodes["maxpooling2d_1"].output.user == (2, 2, 8)


def test_unknown_paths_are_refused_with_a_suggestion():
    with pytest.raises(
        ValidationError, match="search paths must name a value of network Sweep; received dense_1.unit"
    ) as info:
        substitute(parse(NET), {"dense_1.unit": 3})
    assert info.value.hint == 'Did you mean "dense_1.units"?'


def test_search_flags_add_replace_and_fix_values():
    s = SweepConfig(
        search=(
            "dense_1.units=choice(32, 64)",
            "conv2d_1.filters=HPO(choice(4, 8))",
            "train.epochs=2",
            "train.optimizer.weight_decay=log_range(1e-5, 1e-3)",
        )
    )
    space, fixed = split_space(parse(NET), s.overrides())
    assert space["dense_1.units"] == HPO("choice", (32, 64))
    assert space["conv2d_1.filters"] == HPO("choice", (4, 8))
    assert space["train.optimizer.weight_decay"].kind == "log_range" and "train.epochs" not in space
    assert fixed == {"train.epochs": 2}
    with pytest.raises(ValidationError, match="--search must be PATH=VALUE"):
        SweepConfig(search=("dense_1.units",)).overrides()
    with pytest.raises(ValidationError, match="a search value must be written as in the DSL"):
        parse_search_value("choice(")


def test_training_flags_fix_what_they_name():
    g = pin_flags(parse(NET), TrainConfig(template="x", epochs=3, learning_rate=0.02, batch_size=8))
    values = search_values(g)
    assert "train.epochs" not in values and "train.optimizer.learning_rate" not in values
    assert g.training["optimizer"] == Call("Adam", kwargs={"learning_rate": 0.02})
    assert g.training["batch_size"] == 8
    g = pin_flags(parse(NET), TrainConfig(template="x", optimizer="SGD", learning_rate=0.1))
    assert g.training["optimizer"] == Call("SGD", kwargs={"learning_rate": 0.1})


@pytest.mark.parametrize(
    "hpo,method,kind,check",
    [
        (
            HPO("choice", (16, 32)),
            "random",
            tune.search.sample.Categorical,
            lambda d: d.categories == [16, 32],
        ),
        (HPO("choice", (16, 32)), "grid", dict, lambda d: d == {"grid_search": [16, 32]}),
        (
            HPO("range", low=16, high=64, step=16),
            "random",
            tune.search.sample.Integer,
            lambda d: (
                isinstance(d.get_sampler(), tune.search.sample.Quantized) and (d.lower, d.upper) == (16, 64)
            ),
        ),
        (
            HPO("range", low=16, high=64, step=16),
            "grid",
            dict,
            lambda d: d == {"grid_search": [16, 32, 48, 64]},
        ),
        (
            HPO("range", low=0.1, high=0.5, step=0.1),
            "random",
            tune.search.sample.Float,
            lambda d: d.get_sampler().q == 0.1,
        ),
        (
            HPO("range", low=0.1, high=0.5, step=0.1),
            "grid",
            dict,
            lambda d: d == {"grid_search": [0.1, 0.2, 0.3, 0.4, 0.5]},
        ),
        (
            HPO("range", low=2, high=5),
            "random",
            tune.search.sample.Integer,
            lambda d: (d.lower, d.upper) == (2, 6),
        ),  # randint excludes its upper bound; the DSL's range does not
        (
            HPO("range", low=0.1, high=0.5),
            "bayesian",
            tune.search.sample.Float,
            lambda d: (d.lower, d.upper) == (0.1, 0.5),
        ),
        (
            HPO("log_range", low=1e-4, high=1e-2),
            "bayesian",
            tune.search.sample.Float,
            lambda d: isinstance(d.get_sampler(), tune.search.sample.LogUniform),
        ),
    ],
)
def test_search_values_map_to_tune_domains_as_the_dsl_says(hpo, method, kind, check):
    domain = tune_domain(hpo, method)
    assert isinstance(domain, kind) and check(domain)


def test_sampled_values_keep_the_dsl_types():
    space = {
        "a": HPO("range", low=16, high=64, step=16),
        "b": HPO("range", low=0.1, high=0.5, step=0.1),
        "c": HPO("choice", ("relu", "gelu")),
    }
    values = sampled(space, {"a": 32.0, "b": 0.30000000000000004, "c": "gelu"})
    assert values == {"a": 32, "b": 0.3, "c": "gelu"}


def test_sweep_flags_are_checked():
    with pytest.raises(ValidationError, match="--search-method must be one of bayesian, random, grid"):
        SweepConfig(search_method="hyperband")
    with pytest.raises(ValidationError, match="--reduction-factor must be an integer >= 2"):
        SweepConfig(reduction_factor=1)
    assert SweepConfig(metric="val_accuracy").goal == "max" and SweepConfig().goal == "min"


def test_a_network_without_search_values_is_refused_before_anything_starts(nf_home):
    from ray_jobs.tune import sweep

    with pytest.raises(
        ValidationError, match="a sweep needs search values; received a network with none"
    ) as info:
        sweep(TrainConfig(template="mnist_cnn", dataset="digits"), SweepConfig())
    assert "--search" in info.value.hint and not nf_home.exists()  # no MLflow run was opened


# ---- a real sweep: Ray Tune + MLflow, in its own process as `neuralforge tune` runs ---------------


@pytest.mark.slow
def test_a_sweep_records_every_trial_and_hands_back_the_best_network(tmp_path):
    from mlflow.tracking import MlflowClient

    dsl = tmp_path / "sweep.neural"
    dsl.write_text(NET)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env["NEURALFORGE_HOME"] = str(tmp_path / "home")
    best_file = tmp_path / "out" / "best.neural"
    # grid over the pool size: 16 cannot fit the 6x6 feature map, so one trial must error
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ray_jobs.tune",
            "--dsl",
            str(dsl),
            "--dataset",
            "digits",
            "--search-method",
            "grid",
            "--search",
            "dense_1.units=32",
            "--search",
            "dropout_1.rate=0.2",
            "--search",
            "train.lr_schedule.0=0.01",
            "--epochs",
            "2",
            "-o",
            str(best_file),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    parent_id = re.search(r"sweep: MLflow run (\w+) finished", out.stdout).group(1)
    client = MlflowClient(f"sqlite:///{tmp_path}/home/mlflow.db")
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["neuralforge.kind"] == "sweep"
    # a line per finished trial on stderr, counted against the grid's 3
    done = re.findall(r"^\[(\d)/3 trials\] trial (\w+): (.*)$", out.stderr, re.M)
    assert [int(n) for n, _, _ in done] == [1, 2, 3], out.stderr[-3000:]
    outcomes = [text.split(" ")[0] for _, _, text in done]  # completed, early_stopped or error:
    assert outcomes.count("error:") == 1 and set(outcomes) <= {"completed", "early_stopped", "error:"}
    assert sum(text.startswith("error: ShapeError") for _, _, text in done) == 1
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    assert len(children) == 3
    by_pool = {c.data.params["hpo.maxpooling2d_1.pool_size"]: c for c in children}
    bad = by_pool["16"]
    assert bad.info.status == "FAILED" and bad.data.tags["neuralforge.trial_status"] == "error"
    error = bad.data.tags["neuralforge.error"]
    assert error.startswith("ShapeError: ") and "pool_size" in error
    for pool in ("2", "3"):
        good = by_pool[pool]
        assert good.data.tags["neuralforge.trial_status"] in ("completed", "early_stopped")
        assert "hpo.train.optimizer.learning_rate" in good.data.params
        assert good.data.params["train.epochs"] == "2"
        steps = [m.step for m in client.get_metric_history(good.info.run_id, "val_loss")]
        assert steps == list(range(len(steps))) and 1 <= len(steps) <= 2
    best_id = parent.data.tags["neuralforge.best_run"]
    best = client.get_run(best_id)
    assert best.data.metrics["test_accuracy"] == parent.data.metrics["test_accuracy"]
    assert parent.data.metrics["trials_error"] == 1 and parent.data.metrics["trials"] == 3
    pool = best.data.params["hpo.maxpooling2d_1.pool_size"]
    assert parent.data.params["best.maxpooling2d_1.pool_size"] == pool
    assert {a.path for a in client.list_artifacts(parent_id, "sweep")} == {
        "sweep/best.neural",
        "sweep/trials.csv",
        "sweep/trials.json",
    }
    assert {"evaluation", "checkpoints", "setup"} <= {a.path for a in client.list_artifacts(best_id)}
    network = parse(best_file.read_text())
    assert not has_search_values(network) and propagate(network)
    assert network.node("maxpooling2d_1").params["pool_size"] == int(pool)
    assert network.node("sequential_1").body[0].params["units"] == 32 and network.training["epochs"] == 2


@pytest.mark.slow
def test_workers_per_trial_runs_a_torchtrainer_in_each_trial(tmp_path):
    """Tune over Train: each trial a TorchTrainer of 2 workers (Ray's TuneReportCallback pattern)."""
    from mlflow.tracking import MlflowClient

    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env["NEURALFORGE_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ray_jobs.tune",
            "--template",
            "mnist_cnn",
            "--dataset",
            "digits",
            "--search",
            "dense_1.units=choice(16, 32)",
            "--num-samples",
            "1",
            "--workers-per-trial",
            "2",
            "--epochs",
            "2",
            "-o",
            str(tmp_path / "best.neural"),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout)  # --json: the document alone on stdout, Tune's output on stderr
    parent_id = report["parent_run_id"]
    client = MlflowClient(f"sqlite:///{tmp_path}/home/mlflow.db")
    parent = client.get_run(parent_id)
    (trial,) = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    assert report["best_run_id"] == trial.info.run_id == parent.data.tags["neuralforge.best_run"]
    assert report["best_values"] == {"dense_1.units": int(trial.data.params["hpo.dense_1.units"])}
    assert (report["metric"], report["mode"], report["status"]) == ("val_loss", "min", "FINISHED")
    assert report["best_value"] == parent.data.metrics["best_val_loss"] == report["metrics"]["best_val_loss"]
    assert [t["run_id"] for t in report["trials"]] == [trial.info.run_id]
    assert report["best_network"].startswith(str(tmp_path / "best.neural"))
    assert re.search(r"^\[1/1 trials\] trial \w+: (completed|early_stopped) after", out.stderr, re.M)
    assert trial.data.tags["neuralforge.trial_status"] in ("completed", "early_stopped")
    assert trial.data.params["workers"] == "2", trial.data.params
    steps = [m.step for m in client.get_metric_history(trial.info.run_id, "val_loss")]
    assert steps == list(range(len(steps))) and 1 <= len(steps) <= 2  # each epoch once, from rank 0 only
    assert (tmp_path / "best.neural").is_file()
