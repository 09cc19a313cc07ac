"""The Ray Serve application behind ``neuralforge serve``: a router and two model deployments.

``build`` (the application's import path: ``ray_jobs.serve.app:build``) binds

- ``stable`` and ``canary``: ``ModelReplica`` s running onnxruntime; which model each serves is its
  ``user_config`` (storage URI, key, version), so a new version, a promotion or a scale-up is a
  light update (``reconfigure``, no restart); requests are batched (``@serve.batch``);
- ``Router``: the HTTP ingress. ``POST /NAME`` with ``{"inputs": …}`` goes to the canary with
  probability ``canary_share`` (seeded, so a run of requests is reproducible), else to stable;
  ``GET /NAME`` describes the deployment. Bad input is answered 4xx with a message and never
  reaches onnxruntime; the replica goes on serving.
"""

from __future__ import annotations

import json
import random

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from neural_engine.data.storage import open_storage

MAX_BODY_BYTES = 16 * 2**20
MAX_BATCH_SIZE = 32
BATCH_WAIT_S = 0.005


@serve.deployment(max_ongoing_requests=64)
class ModelReplica:
    def __init__(self):
        self.predictor, self.config = None, {}

    def reconfigure(self, config: dict) -> None:
        """Load the model ``config`` names (skipped when it is the one already loaded)."""
        from neural_engine.export.assets.predictor import Predictor

        if config.get("key") != self.config.get("key") or self.predictor is None:
            data = open_storage(config["storage"]).read(config["key"])
            self.predictor = Predictor(data, threads=1, level=config.get("ort_level", "all"))
        self.config = dict(config)

    async def predict(self, payload) -> dict:
        from neural_engine.export.assets.predictor import BadInput, answer

        predictor, version = self.predictor, self.config.get("version")
        try:
            outputs = await self._batched((predictor, predictor.check(payload)))
            if isinstance(outputs, Exception):
                raise outputs
        except BadInput as e:
            return {"status": 400, "error": str(e), "version": version}
        except Exception as e:  # noqa: BLE001 - reported to the client; the replica keeps serving
            return {"status": 500, "error": f"inference failed: {type(e).__name__}: {e}", "version": version}
        return {"status": 200, **answer(outputs, predictor.output_names), "version": version}

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def _batched(self, items: list) -> list:
        """One onnxruntime call per model for the requests that arrived together."""
        import numpy as np

        results = [None] * len(items)
        groups: dict[int, list[int]] = {}
        for i, (predictor, _) in enumerate(items):  # a reconfigure may land between two requests
            groups.setdefault(id(predictor), []).append(i)
        for index in groups.values():
            predictor = items[index[0]][0]
            feeds = [items[i][1] for i in index]
            try:
                outputs = predictor.run({k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]})
            except Exception:  # noqa: BLE001 - one bad request must not fail the others: run them one by one
                for i in index:
                    try:
                        results[i] = predictor.run(items[i][1])
                    except Exception as e:  # noqa: BLE001 - this request's own answer is its error
                        results[i] = e
                continue
            start = 0
            for i, feed in zip(index, feeds):
                size = len(next(iter(feed.values())))
                results[i] = [o[start : start + size] for o in outputs]
                start += size
        return results


@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
class Router:
    def __init__(self, stable, canary):
        self.stable, self.canary = stable, canary
        self.config, self.rng = {}, random.Random(0)

    def reconfigure(self, config: dict) -> None:
        self.config, self.rng = dict(config), random.Random(config.get("seed", 0))

    def _pick(self):
        share = self.config.get("canary_share") or 0.0
        return self.canary if share > 0 and self.rng.random() < share else self.stable

    async def __call__(self, request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse({k: self.config.get(k) for k in ("name", "stable", "canary", "canary_share")})
        if request.method != "POST":
            return JSONResponse(
                {"error": f"use POST with a JSON body; received {request.method}"}, status_code=405
            )
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse(
                {"error": f"the body must be at most {MAX_BODY_BYTES} bytes; received {len(body)}"},
                status_code=413,
            )
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return JSONResponse({"error": f"the body must be JSON; it is not ({e})"}, status_code=400)
        result = await self._pick().predict.remote(payload)
        status = result.pop("status")
        return JSONResponse(result, status_code=status)


def build(args: dict):
    """The application; ``args`` are unused (everything that changes lives in user configs)."""
    return Router.bind(ModelReplica.options(name="stable").bind(), ModelReplica.options(name="canary").bind())
