"""The REST API (FastAPI): the engine, Ray jobs, MLflow runs and Ray Serve deployments over HTTP,
with API keys or JWTs, per-caller rate limits, webhooks and live job streams.

    neuralforge api --port 8080                       # or: python -m ray_jobs.api --port 8080
    neuralforge api keys create --scope submit --name ci

``create_app(settings)`` builds the application (``ray_jobs.api.app``); the Python client is
``neuralforge.client``.
"""

from ray_jobs.api.app import create_app

__all__ = ["create_app"]
