"""Ray Serve deployments through ``ray_jobs.serve``: deploy (or a canary), list, one, scale, delete."""

from __future__ import annotations

import argparse

from fastapi import APIRouter, Depends

from ray_jobs import serve
from ray_jobs.api import models as m
from ray_jobs.api.auth import require
from ray_jobs.api.errors import NotFound

router = APIRouter(tags=["deployments"])
READ, SUBMIT, ADMIN = (Depends(require(s)) for s in ("read", "submit", "admin"))


def _args(action: str, **values) -> argparse.Namespace:
    """What ``neuralforge serve ACTION`` would have parsed (the cluster: RAY_ADDRESS or the local head)."""
    return argparse.Namespace(action=action, address=None, **values)


def _one(name: str) -> dict:
    found = serve.status(serve.Serve(), name)
    if not found:
        raise NotFound(
            f"the deployment {name} must be one `neuralforge serve` made; it was deployed otherwise"
        )
    return found[0]


@router.post(
    "/deployments",
    response_model=m.Deployment,
    status_code=201,
    dependencies=[SUBMIT],
    summary="deploy a run's ONNX export on Ray Serve (with canary_share: as a canary of NAME)",
)
def deploy(req: m.DeployRequest):
    s = serve.Serve()
    args = _args(
        "deploy",
        source=req.run_id,
        name=req.name,
        replicas=req.replicas,
        canary_share=req.canary_share,
        cpus=req.cpus,
        port=req.port,
        timeout=req.timeout,
    )
    return serve.describe(s, req.name, serve.deploy(s, args))


@router.get("/deployments", response_model=list[m.Deployment], dependencies=[READ])
def deployments():
    return serve.status(serve.Serve())


@router.get("/deployments/{name}", response_model=m.Deployment, dependencies=[READ])
def deployment(name: str):
    return _one(name)


@router.post(
    "/deployments/{name}/scale",
    response_model=m.Deployment,
    dependencies=[SUBMIT],
    summary="set the replicas of the stable version (canary: true, of the canary)",
)
def scale(name: str, req: m.ScaleRequest):
    serve.act(
        serve.Serve(),
        _args("scale", name=name, replicas=req.replicas, canary=req.canary, timeout=req.timeout),
    )
    return _one(name)


@router.delete("/deployments/{name}", response_model=m.Deleted, dependencies=[ADMIN])
def delete(name: str):
    serve.act(serve.Serve(), _args("delete", name=name, timeout=180.0))
    return {"name": name, "deleted": True}
