"""One S3 endpoint for every client: with ``NEURALFORGE_STORAGE=s3://…`` and
``NEURALFORGE_S3_ENDPOINT_URL`` (here moto's server), the dataset version (boto3), the Ray Train
checkpoints (pyarrow), the MLflow artifacts and the export all land in the bucket, and
``reproduce`` trains again from what is there."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

TRAIN_EXPORT_REPRODUCE = """
import sys
from neural_engine.data import load, registry
from ray_jobs.serve import export
from ray_jobs.runs import reproduce
from ray_jobs.config import TrainConfig
from ray_jobs.train import train
version = registry.register_dataset(load("digits"), "digits-s3")
print(f"dataset version v{version.number}")
run_id = train(TrainConfig(template="mnist_cnn", dataset="digits-s3", epochs=1, run_name="on-s3"))
print(f"MLflow run {run_id} finished")
assert export.main([run_id, "--format", "onnx", "--samples", "20"]) == 0
sys.exit(reproduce.main([run_id]))
"""


@pytest.mark.slow
def test_training_on_s3_storage_keeps_everything_in_the_bucket(s3, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env["NEURALFORGE_STORAGE"] = s3.uri
    # the endpoint reaches every client through NeuralForge's one setting, not their own variables
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL"):
        env.pop(var, None)
    out = subprocess.run(
        [sys.executable, "-c", TRAIN_EXPORT_REPRODUCE],
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run_id = re.search(r"MLflow run (\w+) finished\n", out.stdout).group(1)
    assert re.search(r"MLflow run \w+ finished: a reproduction of " + run_id, out.stdout)

    keys = [
        o["Key"]
        for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
        for o in page.get("Contents", [])
    ]
    prefix = "store/"
    assert all(k.startswith(prefix) for k in keys), keys[:5]
    landed = {
        "dataset version": [k for k in keys if k.startswith(f"{prefix}datasets/digits-s3/")],
        "checkpoints": [k for k in keys if k.startswith(f"{prefix}checkpoints/{run_id}/")],
        "setup artifacts": [
            k
            for k in keys
            if k.startswith(f"{prefix}mlartifacts/") and f"/{run_id}/artifacts/setup/graph.json" in k
        ],
        "model": [k for k in keys if f"/{run_id}/artifacts/checkpoints/best.pt" in k],
        "export": [k for k in keys if f"/{run_id}/artifacts/export/onnx/" in k and k.endswith(".onnx")],
    }
    assert all(landed.values()), {what: found for what, found in landed.items() if not found}
    # nothing went to the local disk instead: the home holds MLflow's database and working copies
    # (the export command's output for the user, reproduce's download of the run's setup/), nothing else
    home = tmp_path / "home"
    local = [p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()]
    copies = ("mlflow.db", f"exports/{run_id}/", f"runs/{run_id}/")
    assert local and not [p for p in local if not p.startswith(copies)], local
