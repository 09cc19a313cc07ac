"""Jobs: ``POST /jobs/train``, ``POST /jobs/tune``, ``GET /jobs``, ``GET /jobs/{id}``,
``GET /jobs/{id}/logs``, ``DELETE /jobs/{id}`` and the live ``WS /jobs/{id}/stream``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from neural_engine.errors import NeuralForgeError
from ray_jobs.api import jobs
from ray_jobs.api import models as m
from ray_jobs.api.auth import Principal, require, websocket_caller
from ray_jobs.api.errors import status_of
from ray_jobs.api.webhooks import check_url
from ray_jobs.cluster import submit

router = APIRouter(tags=["jobs"])
Submitter = Annotated[Principal, Depends(require("submit"))]
STREAM_POLL_S = 1.0


def _submit(kind: str, req, request: Request, caller: Principal) -> dict:
    data = req.model_dump(mode="json")
    if data.get("webhook_url"):
        check_url(data["webhook_url"], request.app.state.settings.webhook_hosts)
    sub = jobs.prepare(kind, data, user=caller.name)
    job_id = jobs.launch(sub, request.app.state.settings)
    if data.get("webhook_url"):
        request.app.state.webhooks.watch(job_id, data["webhook_url"])
    return job(job_id, request)


@router.post(
    "/jobs/train",
    response_model=m.JobOut,
    status_code=201,
    summary="train a network on Ray Train (a Ray job running `python -m ray_jobs.train`)",
)
def train(req: m.TrainRequest, request: Request, caller: Submitter):
    return _submit("train", req, request, caller)


@router.post(
    "/jobs/tune",
    response_model=m.JobOut,
    status_code=201,
    summary="sweep the network's HPO values with Ray Tune (a Ray job running `python -m ray_jobs.tune`)",
)
def tune(req: m.TuneRequest, request: Request, caller: Submitter):
    return _submit("tune", req, request, caller)


@router.get(
    "/jobs",
    response_model=list[m.JobOut],
    dependencies=[Depends(require("read"))],
    summary="the cluster's jobs, oldest first (status only; GET /jobs/{id} adds the run)",
)
def list_jobs():
    return [jobs.summary(j) for j in submit.list_jobs()]


@router.get(
    "/jobs/{job_id}",
    response_model=m.JobOut,
    dependencies=[Depends(require("read"))],
    summary="status, progress, latest metrics, MLflow run and webhook deliveries",
)
def job(job_id: str, request: Request):
    observer = jobs.JobObserver(job_id, request.app.state.settings)
    observer.poll()
    out = jobs.view(observer)
    url = observer.env.get(jobs.WEBHOOK_ENV)
    if url:
        out["webhook"] = {"url": url, "deliveries": request.app.state.webhooks.deliveries(job_id)}
    return out


@router.get(
    "/jobs/{job_id}/logs",
    response_model=m.JobLogs,
    dependencies=[Depends(require("read"))],
    summary="the job's output so far",
)
def logs(
    job_id: str,
    tail: Annotated[int | None, Query(ge=1, le=100_000, description="only the last N lines")] = None,
):
    return {"id": job_id, "logs": submit.logs(job_id, tail=tail)}


@router.delete(
    "/jobs/{job_id}",
    response_model=m.JobStopped,
    dependencies=[Depends(require("submit"))],
    summary="stop the job (SIGTERM, then SIGKILL)",
)
def stop(job_id: str):
    return {"id": job_id, "stopped": submit.stop(job_id)}


@router.websocket("/jobs/{job_id}/stream")
async def stream(ws: WebSocket, job_id: str):
    """JSON messages as they happen: ``{"type": "status", "status", "message"}``, ``{"type":
    "metrics", "step", "metrics"}`` (per epoch), ``{"type": "log", "text"}``, and last ``{"type":
    "end", "status", "run_id", "metrics"}``; errors are ``{"type": "error", "status", "message",
    "hint"}``. Needs the read scope (``X-API-Key`` or ``Authorization: Bearer``)."""
    if await websocket_caller(ws, stream.needed_scope) is None:
        return
    await ws.accept()
    observer = jobs.JobObserver(job_id, ws.app.state.settings, logs=True)
    try:
        while True:
            try:
                events = await run_in_threadpool(observer.poll)
            except NeuralForgeError as err:
                await ws.send_json({"type": "error", "status": status_of(err), **err.to_dict()})
                await ws.close(code=1011 if status_of(err) >= 500 else 1008)
                return
            for event in events:
                await ws.send_json(event)
            if observer.done:
                await ws.close()
                return
            await asyncio.sleep(ws.app.state.stream_poll)
    except WebSocketDisconnect:
        return


stream.needed_scope = "read"  # checked inside (a WebSocket has no dependencies that can answer 401)
