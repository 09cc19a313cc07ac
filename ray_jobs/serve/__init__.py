"""``neuralforge serve``: live Ray Serve deployments of an export, with canaries.

    neuralforge cluster up                                   # or RAY_ADDRESS=http://HEAD:8265
    neuralforge serve deploy RUN_ID --name digits --replicas 2
    curl -s -X POST http://127.0.0.1:8000/digits -d '{"inputs": [[[[0.0, …]]]]}'
    neuralforge serve deploy new.onnx --name digits --canary-share 0.2   # 20% of requests
    neuralforge serve promote digits          # or: serve rollback digits
    neuralforge serve scale digits --replicas 4
    neuralforge serve status
    neuralforge serve delete digits

Deployments outlive the command, so they need a running cluster: the head of
``neuralforge cluster up`` or ``RAY_ADDRESS`` (the dashboard URL, as for ``jobs``). Every change
goes through Serve's declarative REST API (``PUT /api/serve/applications/``, the same as ``serve
deploy config.yaml``); the cluster's own state is the only record. The application is
``ray_jobs.serve.app``; the model files are copied into the storage (``<storage>/serving/NAME/``)
where every replica reads them. Serve's HTTP proxy listens on 127.0.0.1 (``--port`` on first start).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import tempfile
import time
from pathlib import Path

from neural_engine.data.storage import open_storage
from neural_engine.progress import SILENT, Progress, emit, json_stdout
from neural_engine.settings import settings
from ray_jobs.cluster import submit
from ray_jobs.entry import module_main
from ray_jobs.serve.plans import (
    ServeError,
    deployment,
    new_app,
    promoted,
    readiness,
    replica_states,
    rolled_back,
    with_canary,
)

# -- arguments ------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        help="dashboard URL of the cluster (default: RAY_ADDRESS, else the head of `neuralforge cluster up`)",
    )
    p.add_argument(
        "--timeout", type=float, default=180, help="seconds to wait for the replicas (default: 180)"
    )
    p.add_argument("--json", action="store_true", help="the deployment(s) as JSON on standard output")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    d = sub.add_parser("deploy", help="deploy a run's ONNX export or an .onnx file (or a canary of it)")
    d.add_argument("source", help="an MLflow run id (its ONNX export; made if missing) or a MODEL.onnx file")
    d.add_argument("--name", required=True, help="the deployment; served at /NAME")
    d.add_argument("--replicas", type=int, help="replicas (default: 1; a canary: 1)")
    d.add_argument(
        "--canary-share",
        type=float,
        help="deploy as a canary of the running NAME taking this share of requests, e.g. 0.2",
    )
    d.add_argument("--cpus", type=float, default=1.0, help="CPUs reserved per model replica (default: 1)")
    d.add_argument("--port", type=int, default=8000, help="HTTP port when Serve starts (default: 8000)")
    _common(d)
    s = sub.add_parser("status", help="deployments, versions, replicas and URLs")
    s.add_argument("name", nargs="?")
    _common(s)
    sc = sub.add_parser("scale", help="set the number of replicas")
    sc.add_argument("name")
    sc.add_argument("--replicas", type=int, required=True)
    sc.add_argument("--canary", action="store_true", help="scale the canary instead of the stable version")
    _common(sc)
    for action, help_ in (
        ("promote", "make the canary the stable version (all traffic)"),
        ("rollback", "remove the canary (all traffic back to stable)"),
        ("delete", "delete the deployment"),
    ):
        a = sub.add_parser(action, help=help_)
        a.add_argument("name")
        _common(a)


# -- talking to Serve -----------------------------------------------------------------------------


class Serve:
    """Serve's REST API on the cluster's dashboard (with the cluster's token)."""

    def __init__(self, address: str | None = None, token: str | None = None):
        from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

        from ray_jobs import cluster

        self.address = submit.resolve_address(address)
        token = token or cluster.auth_token()
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            self.client = ServeSubmissionClient(self.address, headers=headers)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ServeError(
                f"Ray's dashboard must answer at {self.address}; it did not ({str(e).splitlines()[0]})",
                hint="`neuralforge cluster status`; or set RAY_ADDRESS to the dashboard URL",
            ) from None

    def details(self) -> dict:
        try:
            return self.client.get_serve_details()
        except RuntimeError as e:
            raise ServeError(
                f"Serve's status must be readable at {self.address}: {str(e).splitlines()[0]}"
            ) from None

    def apps(self) -> dict[str, dict]:
        """The deployed applications' configs, by name (refusing apps deployed from Python)."""
        out = {}
        for name, app in (self.details().get("applications") or {}).items():
            config = app.get("deployed_app_config")
            if config is None:
                raise ServeError(
                    f"every Serve application on {self.address} must come from a config; {name} was "
                    "deployed from Python (serve.run)",
                    hint="delete it, or use another cluster",
                )
            out[name] = config
        return out

    def put(self, apps: dict[str, dict], port: int | None = None) -> None:
        details = self.details()
        http = details.get("http_options") or {}
        running = bool((details.get("controller_info") or {}).get("actor_id"))
        config = {
            "http_options": {"host": http.get("host", "127.0.0.1"), "port": http.get("port", 8000)}
            if running
            else {"host": "127.0.0.1", "port": port or 8000},
            "applications": list(apps.values()),
        }
        try:
            self.client.deploy_applications(config)
        except RuntimeError as e:
            raise ServeError(f"Serve must accept the deployment: {str(e).strip()[:2000]}") from None

    def url(self, route: str) -> str:
        http = self.details().get("http_options") or {}
        host = http.get("host", "127.0.0.1")
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{http.get('port', 8000)}{route}"

    def wait(self, name: str, timeout: float, progress: Progress = SILENT) -> dict:
        """Until ``name`` runs with exactly the replicas its config asks for; ``progress``: a line
        per change of what is pending."""
        deadline, last = time.monotonic() + timeout, "no status yet"
        with progress.waiting(f"waiting for the replicas of {name}") as w:
            while time.monotonic() < deadline:
                app = (self.details().get("applications") or {}).get(name)
                state = readiness(app)
                if state is True:
                    w.state("ready")
                    return app
                if isinstance(state, ServeError):
                    raise state
                last = state
                w.state(state)
                time.sleep(0.5)
        raise ServeError(
            f"deployment {name} must be ready within {timeout:g} s; it is not ({last})",
            hint="`neuralforge serve status`; the Ray logs say why replicas did not start",
        )

    def wait_gone(self, name: str, timeout: float, progress: Progress = SILENT) -> None:
        deadline = time.monotonic() + timeout
        with progress.waiting(f"deleting {name}") as w:
            while name in (self.details().get("applications") or {}):
                if time.monotonic() > deadline:
                    raise ServeError(
                        f"deployment {name} must be deleted within {timeout:g} s; it is still there"
                    )
                w.state("still listed")
                time.sleep(0.5)
            w.state("gone")


# -- the model files ------------------------------------------------------------------------------


def stage_model(source: str, name: str) -> dict:
    """Copy the model to the storage; the replicas' ``user_config`` for it."""
    from neural_engine.export.assets.predictor import Predictor
    from ray_jobs.serve.export import is_run_id

    if is_run_id(source):
        path, label = onnx_of_run(source), f"run {source}"
    else:
        path, label = Path(source), Path(source).name
        if path.suffix != ".onnx" or not path.is_file():
            raise ServeError(f"the source must be an MLflow run id or an .onnx file; received {source!r}")
    data = path.read_bytes()
    try:
        Predictor(data)
    except Exception as e:  # noqa: BLE001 - onnxruntime's own errors: the file is not a model it can run
        raise ServeError(
            f"{label} must be an ONNX model onnxruntime loads; it is not ({str(e)[:300]})"
        ) from None
    version = hashlib.sha256(data).hexdigest()[:12]
    store = settings().storage
    key = f"serving/{name}/{version}.onnx"
    open_storage(store).write(key, data)
    return {"storage": store, "key": key, "version": version, "source": label}


def onnx_of_run(run_id: str) -> Path:
    """The run's valid ONNX export, exported (and recorded on the run) first if there is none."""

    from mlflow.exceptions import MlflowException

    from ray_jobs.serve.export import _client
    from ray_jobs.serve.export import main as export_main

    client = _client()
    target = Path(tempfile.mkdtemp(prefix="nf-serve-"))
    exported = client.get_run(run_id).data.tags.get("neuralforge.export.onnx") == "valid"
    if not exported and export_main([run_id, "--format", "onnx", "--no-serving"]) != 0:
        raise ServeError(f"run {run_id} must export to a valid ONNX model; the export failed (see above)")
    try:
        return Path(client.download_artifacts(run_id, "export/onnx/model.onnx", str(target)))
    except MlflowException as e:
        raise ServeError(f"run {run_id} must hold export/onnx/model.onnx: {str(e).splitlines()[0]}") from None


# -- actions --------------------------------------------------------------------------------------


def _check_count(flag: str, value, low: int = 1) -> None:
    if value is not None and (not isinstance(value, int) or value < low):
        raise ServeError(f"{flag} must be an integer >= {low}; received {value!r}")


def deploy(serve: Serve, args, progress: Progress = SILENT) -> dict:
    _check_count("--replicas", args.replicas)
    if args.cpus is not None and not args.cpus >= 0:
        raise ServeError(f"--cpus must be >= 0; received {args.cpus}")
    apps = serve.apps()
    current = apps.get(args.name)
    if args.canary_share is not None:
        if not 0 < args.canary_share < 1:
            raise ServeError(
                f"--canary-share must be between 0 and 1 (exclusive); received {args.canary_share}"
            )
        if current is None:
            raise ServeError(
                f"a canary needs the deployment {args.name} running; it is not",
                hint=f"deploy it first: neuralforge serve deploy SOURCE --name {args.name}",
            )
    progress.line(f"staging {args.source} in the storage")
    model = stage_model(args.source, args.name)
    if args.canary_share is not None:
        apps[args.name] = with_canary(current, model, args.canary_share, args.replicas or 1)
    elif current is not None:  # a direct roll-out of a new stable version
        app = copy.deepcopy(current)
        stable = deployment(app, "stable")
        stable["user_config"] = model
        stable["num_replicas"] = args.replicas or stable["num_replicas"]
        deployment(app, "Router")["user_config"].update(stable=model["version"])
        apps[args.name] = app
    else:
        apps[args.name] = new_app(args.name, model, args.replicas or 1, args.cpus)
    serve.put(apps, args.port)
    return serve.wait(args.name, args.timeout, progress)


def _update(serve: Serve, name: str, change, timeout: float, progress: Progress = SILENT) -> dict:
    apps = serve.apps()
    if name not in apps:
        raise ServeError(
            f"the deployment {name} must exist; deployed: {', '.join(apps) or 'none'}",
            hint="`neuralforge serve status`",
        )
    apps[name] = change(apps[name])
    serve.put(apps)
    return serve.wait(name, timeout, progress)


def describe(serve: Serve, name: str, app: dict) -> dict:
    config = app["deployed_app_config"]
    router = deployment(config, "Router")["user_config"]
    replicas = {d: replica_states(s).get("RUNNING", 0) for d, s in (app.get("deployments") or {}).items()}
    return {
        "name": name,
        "status": app.get("status"),
        "url": serve.url(config["route_prefix"]),
        "stable": {
            "version": router["stable"],
            "source": deployment(config, "stable")["user_config"]["source"],
            "replicas": replicas.get("stable", 0),
        },
        "canary": None
        if not router.get("canary")
        else {
            "version": router["canary"],
            "source": deployment(config, "canary")["user_config"]["source"],
            "replicas": replicas.get("canary", 0),
            "share": router["canary_share"],
        },
    }


def status(serve: Serve, name: str | None = None) -> list[dict]:
    apps = serve.details().get("applications") or {}
    if name is not None and name not in apps:
        raise ServeError(f"the deployment {name} must exist; deployed: {', '.join(apps) or 'none'}")
    return [
        describe(serve, n, a) for n, a in apps.items() if name in (None, n) and a.get("deployed_app_config")
    ]


def _line(d: dict) -> str:
    text = (
        f"{d['name']}: {d['status']} at {d['url']} — "
        f"stable {d['stable']['version']} ({d['stable']['source']}, "
        f"{d['stable']['replicas']} replicas)"
    )
    if d["canary"]:
        c = d["canary"]
        text += f"; canary {c['version']} ({c['source']}, {c['replicas']} replicas) takes {c['share']:.0%}"
    return text


def run(args) -> int:
    """The ``neuralforge serve`` command: waits are reported on standard error, the deployment on
    standard output (``--json``: ``describe``'s dict; status: a list of them)."""
    with json_stdout(args.json):  # an export made for `deploy RUN_ID` prints its own report
        found = act(Serve(args.address), args, Progress(json=args.json))
    if args.json:
        emit(found)
    elif isinstance(found, list):
        print("\n".join(map(_line, found)) or "no deployments")
    else:
        print(_line(found) if "stable" in found else f"deleted {found['name']}")
    return 0


def act(serve: Serve, args, progress: Progress = SILENT) -> dict | list[dict]:
    """The action's outcome: the deployment as :func:`describe` says (status: every one asked for;
    delete: ``{"name", "deleted": True}``)."""
    if args.action == "deploy":
        return describe(serve, args.name, deploy(serve, args, progress))
    if args.action == "status":
        return status(serve, args.name)
    if args.action == "scale":
        _check_count("--replicas", args.replicas)
        which = "canary" if args.canary else "stable"

        def change(app):
            app = copy.deepcopy(app)
            if which == "canary" and not deployment(app, "Router")["user_config"].get("canary"):
                raise ServeError(f"--canary scales a canary; {app['name']} has none")
            deployment(app, which)["num_replicas"] = args.replicas
            return app

        return describe(serve, args.name, _update(serve, args.name, change, args.timeout, progress))
    if args.action in ("promote", "rollback"):
        change = promoted if args.action == "promote" else rolled_back
        return describe(serve, args.name, _update(serve, args.name, change, args.timeout, progress))
    apps = serve.apps()
    if apps.pop(args.name, None) is None:
        raise ServeError(f"the deployment {args.name} must exist; deployed: {', '.join(apps) or 'none'}")
    serve.put(apps)
    serve.wait_gone(args.name, args.timeout, progress)
    return {"name": args.name, "deleted": True}


def main(argv: list[str] | None = None) -> int:
    return module_main("python -m ray_jobs.serve", __doc__, add_arguments, run, argv)
