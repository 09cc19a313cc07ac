"""``neuralforge api``: serve the REST API, manage its keys, show the webhook secret.

neuralforge api --host 127.0.0.1 --port 8080
neuralforge api keys create --scope submit --name ci      # prints the key once
neuralforge api keys list
neuralforge api keys revoke ci
neuralforge api webhook-secret                          # what webhook receivers verify with
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from neural_engine.progress import emit
from neural_engine.settings import settings
from ray_jobs.api.keys import SCOPES, KeyStore


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080; Ray Serve uses 8000)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    ks = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = ks.add_parser("create", help="a new key, printed once (only its hash is kept)")
    create.add_argument(
        "--scope",
        required=True,
        choices=SCOPES,
        help="read: engine and GET routes; submit: + jobs, exports, deploy, scale; admin: + deletes",
    )
    create.add_argument("--name", required=True, help="who or what uses it (the user of the jobs it submits)")
    create.add_argument("--rate-limit", help="this key's own limit, e.g. 10/minute (default: the server's)")
    create.add_argument("--json", action="store_true", help="the key's text and record as JSON")
    ls = ks.add_parser("list", help="the keys (never their text)")
    ls.add_argument("--json", action="store_true")
    revoke = ks.add_parser("revoke", help="delete a key")
    revoke.add_argument("key", help="its id or name")
    revoke.add_argument("--json", action="store_true", help="the revoked key's record as JSON")
    sub.add_parser("webhook-secret", help="the secret webhook signatures use (created on first use)")


def cmd_keys(args) -> int:
    from ray_jobs.api.auth import RateLimits, keys_path

    s = settings()
    store = KeyStore(keys_path(s))
    if args.keys_action == "create":
        if args.rate_limit:
            RateLimits(args.rate_limit, "memory://")  # refuse a limit the server could not parse
        record, text = store.create(args.name, args.scope, args.rate_limit)
        if args.json:
            emit({"key": text, **record.public()})
        else:
            print(text)
        print(
            f"key {record.id} ({record.name}, scope {record.scope}) saved hashed in {store.path}; "
            "this is the only time its text is shown",
            file=sys.stderr,
        )
    elif args.keys_action == "list":
        rows = [k.public() for k in store.list()]
        if args.json:
            print(json.dumps(rows, indent=1))
        for r in [] if args.json else rows:
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))
            print(
                f"{r['id']}  {r['scope']:7} {created}  {r['name']}"
                + (f"  ({r['rate_limit']})" if r["rate_limit"] else "")
            )
        if not rows and not args.json:
            print("no keys: `neuralforge api keys create --scope read --name NAME`")
    else:
        record = store.revoke(args.key)
        if args.json:
            emit({**record.public(), "revoked": True})
        else:
            print(f"revoked {record.id} ({record.name})")
    return 0


def serve(args) -> int:
    """Run the API with uvicorn in this process."""
    import torch
    import uvicorn

    from ray_jobs.api.app import create_app
    from ray_jobs.api.auth import keys_path

    torch.set_num_threads(1)  # exports and builds share the machine with Ray's workers
    # fail fast instead of MLflow's minutes of retries when a tracking server is down
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    s = settings()
    app = create_app(s)
    if s.api_dev_key:
        print(
            "warning: NEURALFORGE_API_DEV_KEY is set: its value is accepted as an admin key "
            "(development only)",
            file=sys.stderr,
        )
    if not KeyStore(keys_path(s)).list() and not s.api_dev_key and not s.api_jwt_secret:
        print(
            "note: no API keys yet; every protected route answers 401 until you run "
            "`neuralforge api keys create --scope read --name NAME`",
            file=sys.stderr,
        )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def run(args) -> int:
    if args.action == "keys":
        return cmd_keys(args)
    if args.action == "webhook-secret":
        from ray_jobs.api.webhooks import secret

        print(secret(settings()))
        return 0
    return serve(args)
