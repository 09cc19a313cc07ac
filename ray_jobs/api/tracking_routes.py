"""MLflow through the API: experiments, runs (compare, artifacts, delete), logged models
(download) and exports (``ray_jobs.serve.export``, validation report in the answer)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from neural_engine.errors import ValidationError
from ray_jobs import runs
from ray_jobs.api import models as m
from ray_jobs.api.auth import require
from ray_jobs.api.errors import NotFound, mlflow_error
from ray_jobs.serve import export
from ray_jobs.tracking import client

router = APIRouter(tags=["tracking"])
READ, SUBMIT, ADMIN = (Depends(require(s)) for s in ("read", "submit", "admin"))


@contextmanager
def mlflow(request: Request) -> Iterator:
    """An MlflowClient of the settings; its errors as 404/422/503."""
    from mlflow.exceptions import MlflowException

    uri = request.app.state.settings.mlflow_uri
    try:
        yield client(uri)
    except MlflowException as e:
        raise mlflow_error(e, uri) from None


def _experiment(e) -> dict:
    return {
        "id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "tags": dict(e.tags or {}),
    }


@router.get("/experiments", response_model=list[m.Experiment], dependencies=[READ])
def experiments(request: Request):
    with mlflow(request) as client:
        return [_experiment(e) for e in client.search_experiments()]


@router.get(
    "/experiments/{experiment}",
    response_model=m.ExperimentOut,
    dependencies=[READ],
    summary="an experiment (by id or name) and its runs, newest first, filtered as `neuralforge runs list`",
)
def experiment(
    experiment: str,
    request: Request,
    filter: Annotated[
        str | None, Query(max_length=2000, description='e.g. "metrics.val_accuracy > 0.9"')
    ] = None,
    status: Annotated[str | None, Query(pattern="^(RUNNING|FINISHED|FAILED|KILLED|SCHEDULED)$")] = None,
    parent: Annotated[
        str | None, Query(pattern="^[0-9a-f]{32}$", description="the trials of a sweep")
    ] = None,
    max: Annotated[int, Query(ge=1, le=1000)] = 100,
):
    with mlflow(request) as client:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            found = next((e for e in client.search_experiments() if e.experiment_id == experiment), None)
        if found is None:
            raise NotFound(
                f"the experiment must exist; none has the id or name {experiment!r}",
                hint="GET /experiments lists them",
            )
        args = argparse.Namespace(
            experiment=found.name,
            filter=filter,
            tag=[],
            status=status,
            since=None,
            until=None,
            parent=parent,
            param=[],
            max=max,
        )
        return {**_experiment(found), "runs": [runs._row(r) for r in runs.list_runs(args)]}


def _run(r) -> dict:
    i = r.info
    return {
        "run_id": i.run_id,
        "name": i.run_name,
        "experiment_id": i.experiment_id,
        "status": i.status,
        "lifecycle_stage": i.lifecycle_stage,
        "start_time": i.start_time,
        "end_time": i.end_time,
        "artifact_uri": i.artifact_uri,
        "params": r.data.params,
        "metrics": r.data.metrics,
        "tags": r.data.tags,
    }


@router.get(
    "/runs/compare",
    response_model=m.Comparison,
    dependencies=[READ],
    summary="hyperparameters that differ, architecture diffs against the first run, final metrics",
)
def compare(
    request: Request,
    ids: Annotated[
        list[str], Query(min_length=1, max_length=20, description="run ids: ?ids=A&ids=B or ?ids=A,B")
    ],
):
    ids = [i for part in ids for i in part.split(",") if i]
    if len(ids) < 2:
        raise ValidationError(f"compare needs two or more run ids; received {len(ids)}")
    with mlflow(request):
        return runs.compare(ids)


@router.get("/runs/{run_id}", response_model=m.Run, dependencies=[READ])
def run(run_id: str, request: Request):
    with mlflow(request) as client:
        return _run(client.get_run(run_id))


def _safe(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or "\\" in path:
        raise ValidationError(f"an artifact path must be relative and stay inside the run; received {path!r}")
    return str(p) if str(p) != "." else ""


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    dependencies=[READ],
    responses={
        200: {
            "content": {"application/octet-stream": {}, "application/json": {}},
            "description": "the file, or a folder's listing as JSON",
        }
    },
    summary="download a run's artifact (a folder: its listing)",
)
def artifact(run_id: str, path: str, request: Request):
    path = _safe(path)
    with mlflow(request) as client:
        parent = str(PurePosixPath(path).parent) if path else ""
        entries = client.list_artifacts(run_id, None if parent in ("", ".") else parent)
        entry = next((e for e in entries if e.path == path), None)
        if path and entry is None:
            raise NotFound(
                f"run {run_id} must have the artifact {path!r}; it has "
                f"{', '.join(e.path for e in entries) or 'none there'}"
            )
        if not path or entry.is_dir:
            return {
                "path": path,
                "files": [
                    {"path": e.path, "is_dir": e.is_dir, "size": e.file_size}
                    for e in client.list_artifacts(run_id, path or None)
                ],
            }
        tmp = tempfile.mkdtemp(prefix="nf-api-")
        local = client.download_artifacts(run_id, path, tmp)
    # always bytes: JSON answers are folder listings, whatever the file's own type
    return FileResponse(
        local,
        media_type="application/octet-stream",
        filename=Path(local).name,
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )


@router.delete(
    "/runs/{run_id}",
    response_model=m.Run,
    dependencies=[ADMIN],
    summary="delete a run (MLflow's soft delete: lifecycle_stage becomes deleted)",
)
def delete_run(run_id: str, request: Request):
    with mlflow(request) as client:
        client.delete_run(run_id)
        return _run(client.get_run(run_id))


def _model(lm) -> dict:
    return {
        "id": lm.model_id,
        "name": lm.name,
        "run_id": lm.source_run_id,
        "experiment_id": lm.experiment_id,
        "status": str(lm.status),
        "created": lm.creation_timestamp,
        "artifact_location": lm.artifact_location,
        "tags": dict(lm.tags or {}),
    }


@router.get(
    "/models",
    response_model=list[m.Model],
    dependencies=[READ],
    summary="the logged models (training runs' `model`, valid exports' `onnx_model`), newest first",
)
def models(request: Request, max: Annotated[int, Query(ge=1, le=1000)] = 100):
    with mlflow(request) as client:
        ids = [e.experiment_id for e in client.search_experiments()]
        found = client.search_logged_models(ids, max_results=max) if ids else []
        return sorted((_model(lm) for lm in found), key=lambda d: -(d["created"] or 0))


@router.get(
    "/models/{model_id}/download",
    dependencies=[READ],
    responses={200: {"content": {"application/zip": {}}, "description": "the model folder as a ZIP"}},
)
def download_model(model_id: str, request: Request):
    from mlflow.artifacts import download_artifacts

    with mlflow(request) as client:
        lm = client.get_logged_model(model_id)
        tmp = Path(tempfile.mkdtemp(prefix="nf-api-"))
        folder = download_artifacts(
            artifact_uri=lm.artifact_location,
            dst_path=str(tmp / "model"),
            tracking_uri=request.app.state.settings.mlflow_uri,
        )
    archive = shutil.make_archive(str(tmp / lm.name), "zip", folder)
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=f"{lm.name}-{model_id}.zip",
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ValidationError(f"the export options must be valid: {message}")


def export_args(req: m.ExportRequest) -> argparse.Namespace:
    """The request as ``neuralforge export`` arguments, parsed by that command's own parser."""

    argv = [req.run_id] if req.run_id else ["--template", req.template]
    optional = {
        "--classes": req.classes,
        "--quantize": req.quantize,
        "--prune": req.prune,
        "--dataset": req.dataset,
        "--input-shape": ",".join(map(str, req.input_shape)) if req.input_shape else None,
    }
    argv += [x for flag, v in optional.items() if v is not None for x in (flag, str(v))]
    argv += [
        "--format",
        req.format,
        "--opset",
        str(req.opset),
        "--onnx-exporter",
        req.onnx_exporter,
        "--prune-method",
        req.prune_method,
        "--finetune-epochs",
        str(req.finetune_epochs),
        "--samples",
        str(req.samples),
        "--max-abs-diff",
        str(req.max_abs_diff),
        "--min-agreement",
        str(req.min_agreement),
        "--max-accuracy-drop",
        str(req.max_accuracy_drop),
        *([] if req.serving else ["--no-serving"]),
        *(["--torchserve"] if req.torchserve else []),
    ]
    parser = _Parser(prog="neuralforge export")
    export.add_arguments(parser)
    return parser.parse_args(argv)


@router.post(
    "/exports",
    response_model=m.ExportOut,
    dependencies=[SUBMIT],
    summary="export to ONNX or .pt2 (TorchScript: legacy), validated against torch (quantize, prune); the report",
)
def create_export(req: m.ExportRequest, request: Request):

    with mlflow(request):
        result, run_id = export.export(export_args(req))
    return {
        "run_id": run_id,
        "directory": str(result.directory),
        "passed": result.passed,
        "report": result.to_json(),
    }
