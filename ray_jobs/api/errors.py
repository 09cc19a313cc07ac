"""Errors as JSON: ``{"error", "message", "hint", "node", "line", "column"}`` with a status that
says whose move it is — 4xx for the request (422 a bad network or value, 404 an unknown id, 403 a
quota), 503 for a service that must be started (Ray, MLflow), with what to start in the hint."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from neural_engine.errors import (
    ClusterError,
    DatasetError,
    DSLSyntaxError,
    ExportError,
    JobError,
    NeuralForgeError,
    QuotaExceededError,
    ShapeError,
    ValidationError,
)
from ray_jobs.cluster import submit
from ray_jobs.serve.plans import ServeError

log = logging.getLogger("neuralforge.api")
UNPROCESSABLE = (DSLSyntaxError, ValidationError, ShapeError, DatasetError, ExportError)


class NotFound(NeuralForgeError):
    """An id the API was given names nothing."""


class Unavailable(NeuralForgeError):
    """A service the route needs (Ray, MLflow, storage) does not answer."""


def status_of(err: NeuralForgeError) -> int:

    if isinstance(err, NotFound):
        return 404
    if isinstance(err, Unavailable | ClusterError):
        return 503
    if isinstance(err, QuotaExceededError):
        return 403
    if err.hint in (submit.FIX_ADDRESS, submit.FIX_TOKEN, "run `neuralforge cluster up`"):
        return 503  # no cluster, a refused token, a stopped head
    if isinstance(err, JobError) and err.hint == "`neuralforge jobs list` shows the jobs":
        return 404
    if isinstance(err, ServeError):
        if "must answer at" in err.message or "must be readable" in err.message:
            return 503
        if "must exist" in err.message:
            return 404
        return 409 if "canary" in err.message else 422
    if isinstance(err, UNPROCESSABLE):
        return 422
    return 400


def body(err: NeuralForgeError) -> dict:
    return err.to_dict()


def mlflow_error(err, uri: str) -> NeuralForgeError:
    """An MlflowException as ours: unknown ids 404, bad values 422, the store down 503."""
    code = err.get_http_status_code()
    message = str(err.message).splitlines()[0][:500]
    if code == 404:
        return NotFound(message)
    if code < 500:
        return ValidationError(message)
    return Unavailable(
        f"the MLflow tracking store at {uri} must answer; it did not ({message})",
        hint="start the MLflow server (`mlflow server …`) or set MLFLOW_TRACKING_URI",
    )


def too_large(s) -> str:
    return (
        f"the request body must be at most {s.api_max_body_bytes:,} bytes (NEURALFORGE_API_MAX_BODY_MB); "
        "received more"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(NeuralForgeError)
    async def neuralforge_error(request: Request, err: NeuralForgeError):
        return JSONResponse(body(err), status_of(err))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        kind = (
            "AuthError"
            if err.status_code in (401, 403)
            else "RateLimitError"
            if err.status_code == 429
            else "HTTPError"
        )
        message = too_large(request.app.state.settings) if err.status_code == 413 else err.detail
        return JSONResponse(
            {"error": kind, "message": message, "hint": None, "node": None, "line": None, "column": None},
            err.status_code,
            headers=err.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, err: RequestValidationError):
        from ray_jobs.api.auth import needed_scope

        needed = needed_scope(request)
        if (
            needed and getattr(request.state, "rate_headers", None) is None
        ):  # a body that is not JSON is refused
            # before the route's dependencies run: credentials first, as for every other request
            bearer = request.headers.get("authorization", "")
            try:
                _, request.state.rate_headers = request.app.state.auth.check(
                    request.headers.get("x-api-key"),
                    bearer[7:] if bearer.lower().startswith("bearer ") else None,
                    needed,
                )
            except HTTPException as denied:
                return await http_error(request, denied)
        errors = jsonable_encoder(err.errors(), custom_encoder={Exception: str})
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(
            {
                "error": "RequestValidationError",
                "message": f"{where}: {first.get('msg', 'invalid request')}",
                "hint": None,
                "node": None,
                "line": None,
                "column": None,
                "detail": errors,
            },
            422,
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {
                "error": "InternalError",
                "message": f"{type(err).__name__}: {err}"[:500],
                "hint": "a bug in NeuralForge: the server log has the traceback",
                "node": None,
                "line": None,
                "column": None,
            },
            500,
        )
