"""``neuralforge jobs|cluster|usage``: job control, the local Ray head, usage accounting.

Entries of the one ``COMMANDS`` dict of :mod:`ray_jobs.cli`; Ray and MLflow load inside the
commands. Errors are :class:`NeuralForgeError` s, printed by the CLI without a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from neural_engine.errors import JobError
from neural_engine.progress import Progress, emit, json_stdout
from neural_engine.settings import settings
from ray_jobs.runs import usage


def _address(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        help="dashboard URL of the cluster (default: RAY_ADDRESS, else the head of `neuralforge cluster up`)",
    )


def _jobs_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = sub.add_parser("submit", help="submit the command after `--` (quota checked first)")
    _address(s)
    s.add_argument("--working-dir", default=".", help="uploaded and used as the job's directory (default: .)")
    s.add_argument("--submission-id", help="the job's id (default: chosen by Ray)")
    s.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment for the job")
    s.add_argument(
        "--wait",
        action="store_true",
        help="wait for the end, printing the logs as they come; exit 1 unless it succeeded",
    )
    s.add_argument("--timeout", type=float, default=3600, help="--wait: seconds (default: 3600)")
    _json(s, "the job as JSON (with --wait: once it ended; its logs then go to standard error)")
    s.add_argument("entrypoint", nargs=argparse.REMAINDER, help="-- COMMAND ARGS…")
    for name, help_ in (("status", "a job's status"), ("stop", "stop a job"), ("logs", "a job's output")):
        a = sub.add_parser(name, help=help_)
        a.add_argument("job_id")
        _address(a)
        if name == "logs":
            a.add_argument("--tail", type=int, help="only the last N lines")
            a.add_argument(
                "--follow",
                action="store_true",
                help="print the output as it grows until the job ends; exit 1 unless it succeeded",
            )
            a.add_argument("--timeout", type=float, default=3600, help="--follow: seconds (default: 3600)")
        else:
            _json(a, "the job as JSON" if name == "status" else '{"job_id", "stopped"} as JSON')
    ls = sub.add_parser("list", help="the cluster's submitted jobs")
    _address(ls)
    _json(ls, "the jobs as JSON")


def _json(p: argparse.ArgumentParser, help_: str) -> None:
    p.add_argument("--json", action="store_true", help=help_)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise JobError(f"--env must be KEY=VALUE; received {pair!r}")
        env[key] = value
    return env


def cmd_jobs(args) -> int:
    from ray_jobs.cluster import submit

    if args.action == "submit":
        command = args.entrypoint[1:] if args.entrypoint[:1] == ["--"] else args.entrypoint
        submit.entrypoint(command)  # refuse bad input before asking MLflow or Ray anything
        env = _env_pairs(args.env)
        usage.check_quota()
        job_id = submit.submit(
            command,
            address=args.address,
            working_dir=args.working_dir,
            env_vars=env,
            submission_id=args.submission_id,
        )
        if not args.json:
            print(job_id, flush=True)
        if not args.wait:
            if args.json:
                emit(vars(submit.status(job_id, address=args.address)))
            return 0
        progress = Progress(json=args.json)
        with json_stdout(args.json):  # --json: the logs go to standard error
            job = submit.wait(
                job_id, timeout=args.timeout, address=args.address, on_logs=_write, progress=progress
            )
        if args.json:
            emit(vars(job))
        return 0 if job.status == "SUCCEEDED" else 1
    if args.action == "status":
        job = submit.status(args.job_id, address=args.address)
        if args.json:
            emit(vars(job))
        else:
            print(f"{job.id}: {job.status} {job.message}".rstrip())
        return 0
    if args.action == "logs":
        return _logs(args)
    if args.action == "stop":
        stopped = submit.stop(args.job_id, address=args.address)
        if args.json:
            emit({"job_id": args.job_id, "stopped": stopped})
        else:
            print(f"{args.job_id}: {'stop requested' if stopped else 'had already ended'}")
        return 0
    jobs = submit.list_jobs(address=args.address)
    if args.json:
        emit([vars(j) for j in jobs])
    else:
        for j in jobs:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.start_time)) if j.start_time else "-"
            print(f"{j.id:32} {j.status:10} {started:16} {j.user:12} {j.entrypoint}")
    return 0


def _logs(args) -> int:
    """``jobs logs``: the output so far (``--tail N``: its last N lines); ``--follow``: then what
    it adds until the job ends, with each status change on standard error."""
    from ray_jobs.cluster import submit

    if not args.follow:
        _write(submit.logs(args.job_id, tail=args.tail, address=args.address))
        return 0
    first = True

    def show(text: str) -> None:
        nonlocal first
        if first and args.tail:
            text = "".join(text.splitlines(keepends=True)[-args.tail :])
        first = False
        _write(text)

    job = submit.wait(
        args.job_id, timeout=args.timeout, address=args.address, on_logs=show, progress=Progress()
    )
    return 0 if job.status == "SUCCEEDED" else 1


def _cluster_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="start a local Ray head (loopback only, token auth)")
    up.add_argument("--num-cpus", type=int, help="CPUs to offer (default: all)")
    up.add_argument("--object-store-mb", type=int, default=256, help="object store size (default: 256)")
    up.add_argument("--dashboard-port", type=int, help="default: a free port")
    up.add_argument("--port", type=int, help="GCS port (default: a free port)")
    up.add_argument("--timeout", type=float, default=90, help="seconds to wait for the head (default: 90)")
    _json(up, "the head's state as JSON (as `cluster status --json`)")
    down = sub.add_parser("down", help="stop the processes `cluster up` started (by PID; never `ray stop`)")
    _json(down, '{"stopped": [PID, …]} as JSON')
    st = sub.add_parser("status", help="whether the head runs, its address and processes")
    _json(st, "the status as JSON")


def cmd_cluster(args) -> int:
    from ray_jobs import cluster

    if args.action == "up":
        s = cluster.up(
            num_cpus=args.num_cpus,
            object_store_mb=args.object_store_mb,
            dashboard_port=args.dashboard_port,
            port=args.port,
            timeout=args.timeout,
            progress=Progress(json=args.json),
        )
        if args.json:
            emit(cluster.status().to_json())
            return 0
        store = s.store or {}
        print(
            f"Ray head running ({s.num_cpus} CPUs, {s.object_store_mb} MB object store, pid {s.pid})\n"
            f"  its jobs record into {store.get('MLFLOW_TRACKING_URI', '?')} and store in "
            f"{store.get('NEURALFORGE_STORAGE', '?')}\n"
            f"  submit with Ray's CLI, from any folder (token: {cluster.token_source()}):\n"
            f"    {cluster.submit_line(s)}\n"
            f"  or: neuralforge jobs submit -- python -m ray_jobs.train …\n"
            f'  from Python on this machine: ray.init(address="{s.gcs_address}")'
        )
        if differs := cluster.store_differs(s):
            print(
                f"warning: this head was started with other {', '.join(differs)}; `ray job submit` jobs "
                "record where it says above (`neuralforge cluster down` then `up` to change)",
                file=sys.stderr,
            )
        return 0
    if args.action == "down":
        stopped = cluster.down()
        if args.json:
            emit({"stopped": stopped})
        else:
            print(f"stopped {len(stopped)} processes" if stopped else "no cluster was running")
        return 0
    st = cluster.status()
    if args.json:
        emit(st.to_json())
    else:
        print(st.message)
        if st.state:
            print(
                f"  dashboard {st.state.dashboard_url}  gcs {st.state.gcs_address}  "
                f"{len(st.alive)} processes  log {st.state.log}"
            )
    return 0 if st.running else 1


def _usage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--month", help="YYYY-MM (UTC; default: this month)")
    p.add_argument("--json", action="store_true")


def cmd_usage(args) -> int:

    month, _, _ = usage.month_range(args.month)
    totals = usage.usage_by_user(month)
    if args.json:
        emit(
            {
                u: {"gpu_hours": t.gpu_hours, "cpu_hours": t.cpu_hours, "runs": t.runs}
                for u, t in totals.items()
            }
        )
        return 0
    s = settings()
    quota = " / ".join(
        f"{d} quota {q:g} h"
        for d, q in (("GPU", s.quota_gpu_hours), ("CPU", s.quota_cpu_hours))
        if q is not None
    )
    print(f"usage in {month}" + (f" ({quota} per user)" if quota else ""))
    print(f"{'user':20} {'GPU-hours':>10} {'CPU-hours':>10} {'runs':>6}")
    for user, t in totals.items():
        print(f"{user:20} {t.gpu_hours:10.2f} {t.cpu_hours:10.2f} {t.runs:6}")
    if not totals:
        print("(no runs with usage recorded)")
    return 0


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "jobs": ("Ray jobs: submit -- CMD, status, logs, stop, list", _jobs_args, cmd_jobs),
    "cluster": ("a local Ray head: up, down, status", _cluster_args, cmd_cluster),
    "usage": ("device-hours per user in a month, from MLflow", _usage_args, cmd_usage),
}
