"""``GET /`` (version, links) and ``GET /health`` (API, Ray, MLflow and storage, each with what to
start when it does not answer). Both are public: no credentials, no secrets in the answer."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request

from neural_engine.errors import NeuralForgeError
from neural_engine.settings import Settings
from ray_jobs.api import models as m
from ray_jobs.cluster import submit

router = APIRouter(tags=["meta"])


def version() -> str:
    try:
        return metadata.version("neuralforge")
    except metadata.PackageNotFoundError:
        return "unknown"


def redact(uri: str) -> str:
    """``uri`` without a user name or password."""
    parts = urlsplit(uri)
    if not parts.netloc or "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def check_ray() -> dict:

    try:
        c = submit.client()
    except NeuralForgeError as e:
        return {"ok": False, "detail": e.message, "hint": e.hint}
    return {"ok": True, "detail": f"Ray job server at {c.get_address()}"}


def check_mlflow(s: Settings) -> dict:
    uri, hint = s.mlflow_uri, "start the MLflow server (`mlflow server …`) or set MLFLOW_TRACKING_URI"
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if path.is_file():
            return {"ok": True, "detail": f"SQLite store {path}"}
        parent = next((p for p in path.parents if p.exists()), None)
        ok = parent is not None and os.access(parent, os.W_OK)
        return {
            "ok": ok,
            "detail": f"SQLite store {path} ({'created on first use' if ok else 'not writable'})",
            "hint": None if ok else f"make {path.parent} writable or set MLFLOW_TRACKING_URI",
        }
    try:
        if uri.startswith(("http://", "https://")):
            import httpx

            r = httpx.get(f"{uri.rstrip('/')}/health", timeout=3)
            ok = r.status_code == 200
        else:
            from ray_jobs.tracking import client

            client(uri).search_experiments(max_results=1)
            ok = True
    except Exception as e:  # noqa: BLE001 -- any failure of the store is the answer "down"
        return {
            "ok": False,
            "detail": f"MLflow at {redact(uri)} does not answer ({type(e).__name__})",
            "hint": hint,
        }
    return {
        "ok": ok,
        "detail": f"MLflow at {redact(uri)}" + ("" if ok else " answers with an error"),
        "hint": None if ok else hint,
    }


def check_storage(s: Settings) -> dict:
    if s.storage.startswith("s3://"):
        from neural_engine.data.storage import open_storage

        try:
            open_storage(s.storage, s).exists("api/health")
        except NeuralForgeError as e:
            return {"ok": False, "detail": e.message, "hint": e.hint}
        return {"ok": True, "detail": f"S3 storage {s.storage}"}
    root = Path(s.storage.removeprefix("file://"))
    parent = next((p for p in (root, *root.parents) if p.exists()), None)
    ok = parent is not None and os.access(parent, os.W_OK)
    return {
        "ok": ok,
        "detail": f"local storage {root}" + ("" if ok else " is not writable"),
        "hint": None if ok else "make it writable or set NEURALFORGE_STORAGE",
    }


@router.get("/health", response_model=m.Health, summary="whether the API, Ray, MLflow and storage answer")
def health(request: Request):
    s = request.app.state.settings
    parts = {
        "api": {"ok": True, "detail": f"NeuralForge API {version()}"},
        "ray": check_ray(),
        "mlflow": check_mlflow(s),
        "storage": check_storage(s),
    }
    return {"ok": all(p["ok"] for p in parts.values()), **parts}


@router.get("/", response_model=m.Root, summary="version and links")
def root():
    return {
        "name": "NeuralForge API",
        "version": version(),
        "links": {
            "docs": "/docs",
            "openapi": "/openapi.json",
            "health": "/health",
            "jobs": "/jobs",
            "experiments": "/experiments",
            "models": "/models",
            "deployments": "/deployments",
        },
    }
