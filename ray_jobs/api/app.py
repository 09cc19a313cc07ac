"""The FastAPI application: routes, credentials and limits, error bodies, background work.

>>> app = create_app(Settings.from_env({"NEURALFORGE_HOME": "/tmp/nf-doc"}))
>>> sorted((r.path, r.scope) for r in routes(app) if r.path.startswith("/jobs"))[:3]
[('/jobs', 'read'), ('/jobs/train', 'submit'), ('/jobs/tune', 'submit')]

``create_app(s)`` uses ``s`` for its own parts (keys, limits, CORS, webhooks); the engine and
``ray_jobs`` functions the routes call read the process environment, so ``s`` should be (and by
default is) ``Settings.from_env()`` of this process.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from neural_engine.settings import Settings, apply_s3_endpoint, settings
from ray_jobs.api import deploy_routes, engine_routes, errors, job_routes, meta_routes, tracking_routes
from ray_jobs.api.auth import Auth
from ray_jobs.api.webhooks import Webhooks

PUBLIC = {"/", "/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
DESCRIPTION = """Design, check, train, compare and ship neural networks over HTTP: the same engine, Ray
jobs, MLflow runs and Ray Serve deployments as the `neuralforge` command.

Send an API key in `X-API-Key` (`neuralforge api keys create --scope read|submit|admin --name N`)
or a JWT in `Authorization: Bearer`. Errors are `{"error", "message", "hint", "node", "line"}`."""


class RateHeaders:
    """Adds the ``X-RateLimit-*`` headers the credentials check left on the request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = (scope.get("state") or {}).get("rate_headers") or {}
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(
                        (k.lower().encode(), v.encode())
                        for k, v in extra.items()
                        if k.lower().encode() not in present
                    ),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(s: Settings | None = None, *, resume_webhooks: bool = True) -> FastAPI:
    """The API for settings ``s`` (default: this process's environment)."""
    s = s or settings()
    apply_s3_endpoint(s)  # MLflow artifacts and datasets on the same S3 endpoint
    webhooks = Webhooks(s)
    compile_tasks = engine_routes.CompileTasks()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        webhooks.open(resume=resume_webhooks)
        yield
        webhooks.close()
        compile_tasks.close()

    app = FastAPI(
        title="NeuralForge API",
        version=meta_routes.version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=s.api_max_body_bytes,
    )
    app.state.settings, app.state.auth, app.state.webhooks = s, Auth(s), webhooks
    app.state.compile_tasks, app.state.stream_poll = compile_tasks, 1.0
    errors.install(app)
    for module in (meta_routes, engine_routes, job_routes, tracking_routes, deploy_routes):
        app.include_router(module.router)
    app.add_middleware(RateHeaders)
    if s.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(s.api_cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
            expose_headers=[
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "Retry-After",
                "Location",
            ],
        )
    return app


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]  # {"WEBSOCKET"} for a WebSocket route
    scope: str | None  # the scope a caller needs; None: public


def routes(app: FastAPI) -> list[RouteInfo]:
    """Every HTTP and WebSocket route with the scope it needs (included routers flattened)."""
    out, todo = [], list(app.routes)
    while todo:
        route = todo.pop(0)
        included = getattr(route, "original_router", None)  # FastAPI >= 0.165 keeps routers whole
        if included is not None:
            todo[:0] = included.routes
        elif hasattr(route, "path"):
            methods = getattr(route, "methods", None) or {"WEBSOCKET"}
            dependant = getattr(route, "dependant", None)
            scope = next(
                (
                    d.call.needed_scope
                    for d in getattr(dependant, "dependencies", ())
                    if getattr(d.call, "needed_scope", None)
                ),
                None,
            )
            out.append(
                RouteInfo(
                    route.path,
                    frozenset(methods) - {"HEAD"},
                    scope or getattr(getattr(route, "endpoint", None), "needed_scope", None),
                )
            )
    return out
