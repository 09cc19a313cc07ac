"""What ``neuralforge serve`` asks Serve for: the application config of a deployment and how
each action changes it (pure functions on Serve's config dicts), and when a deployment is ready.

One application per deployment, from ``ray_jobs.serve.app:build``: ``stable``, ``canary`` and
``Router``. Models, versions and the canary's share live in ``user_config`` s, so deploying a
canary, promoting, rolling back and scaling are light updates that never restart the stable
replicas.
"""

from __future__ import annotations

import copy

from neural_engine.errors import NeuralForgeError

IMPORT_PATH = "ray_jobs.serve.app:build"


class ServeError(NeuralForgeError):
    """A Serve request failed or a deployment did not become ready."""


def replica_states(deployment: dict) -> dict[str, int]:
    states: dict[str, int] = {}
    for r in deployment.get("replicas") or []:
        states[r.get("state", "?")] = states.get(r.get("state", "?"), 0) + 1
    return states


def readiness(app: dict | None):
    """True when ready; a ServeError when it failed; else a description of what is pending."""
    if app is None:
        return "the application is not listed yet"
    if app.get("status") == "DEPLOY_FAILED":
        return ServeError(f"deployment failed: {app.get('message', '')[:3000]}")
    if app.get("status") != "RUNNING":
        return f"application {app.get('status')}"
    targets = {d["name"]: d.get("num_replicas", 1) for d in app["deployed_app_config"].get("deployments", [])}
    for name, d in (app.get("deployments") or {}).items():
        states, want = replica_states(d), targets.get(name, 1)
        if d.get("status") != "HEALTHY" or states != {"RUNNING": want}:
            return f"{name}: {d.get('status')} {states or 'no replicas'} (want {want} running)"
    return True


def deployment(app: dict, name: str) -> dict:
    return next(d for d in app["deployments"] if d["name"] == name)


def _park(canary: dict) -> None:
    """No canary: Serve wants at least one replica per deployment, so the canary slot keeps one idle
    replica reserving no CPU (adding a canary then never restarts the stable version)."""
    canary.update(num_replicas=1, ray_actor_options={"num_cpus": 0})


def new_app(name: str, model: dict, replicas: int, cpus: float) -> dict:
    canary = {"name": "canary", "user_config": model}
    _park(canary)
    return {
        "name": name,
        "route_prefix": f"/{name}",
        "import_path": IMPORT_PATH,
        "args": {},
        "deployments": [
            {
                "name": "stable",
                "num_replicas": replicas,
                "user_config": model,
                "ray_actor_options": {"num_cpus": cpus},
            },
            canary,
            {
                "name": "Router",
                "num_replicas": 1,
                "user_config": {
                    "name": name,
                    "stable": model["version"],
                    "canary": None,
                    "canary_share": 0.0,
                    "seed": 0,
                },
            },
        ],
    }


def with_canary(app: dict, model: dict, share: float, replicas: int) -> dict:
    app = copy.deepcopy(app)
    canary = deployment(app, "canary")
    canary.update(
        num_replicas=replicas,
        user_config=model,
        ray_actor_options=dict(deployment(app, "stable").get("ray_actor_options") or {}),
    )
    deployment(app, "Router")["user_config"].update(canary=model["version"], canary_share=share)
    return app


def promoted(app: dict) -> dict:
    app = copy.deepcopy(app)
    canary, router = deployment(app, "canary"), deployment(app, "Router")["user_config"]
    if not router.get("canary"):
        raise ServeError(
            f"promote needs a canary; {app['name']} has none",
            hint=f"deploy one: neuralforge serve deploy MODEL --name {app['name']} --canary-share 0.1",
        )
    deployment(app, "stable")["user_config"] = canary["user_config"]
    _park(canary)
    router.update(stable=router["canary"], canary=None, canary_share=0.0)
    return app


def rolled_back(app: dict) -> dict:
    app = copy.deepcopy(app)
    router = deployment(app, "Router")["user_config"]
    if not router.get("canary"):
        raise ServeError(f"rollback needs a canary; {app['name']} has none")
    _park(deployment(app, "canary"))
    router.update(canary=None, canary_share=0.0)
    return app
