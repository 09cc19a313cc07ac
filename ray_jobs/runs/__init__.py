"""``neuralforge runs``: find, compare and tag MLflow runs.

    neuralforge runs list --experiment neuralforge --filter "metrics.val_accuracy > 0.9" --tag team=vision
    neuralforge runs list --status FINISHED --since 2026-11-01 --param train.batch_size=16:64
    neuralforge runs compare RUN_A RUN_B --smoothing 0.6 --plot curves.png --csv table.csv
    neuralforge runs tag RUN_A stage=candidate; neuralforge runs untag RUN_A stage

``compare`` shows the hyperparameters that differ, the architecture diff of each run against the
first (nodes added/removed/changed between their ``setup/graph.json``), the final metrics side by
side, the curves of all runs overlaid (PNG, optional exponential smoothing), and exports the
table as CSV (polars).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime
from pathlib import Path

from neural_engine.diff import diff_graphs
from neural_engine.errors import ValidationError
from neural_engine.ir import Graph
from neural_engine.progress import emit
from neural_engine.settings import settings
from ray_jobs.entry import module_main
from ray_jobs.runs.plots import curves_png
from ray_jobs.tracking import client

CURVES = ("train_loss", "val_loss", "val_accuracy")


def _client():

    return client(settings().mlflow_uri)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{what} must be KEY=VALUE; received {item!r}")
        out[key] = value
    return out


def _ms(text: str, flag: str) -> int:
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise ValidationError(
            f"{flag} must be a date, e.g. 2026-11-01 or 2026-11-01T14:30; received {text!r}"
        ) from None


def _ranges(items: list[str]) -> dict[str, tuple[float | None, float | None]]:
    out = {}
    for name, span in _pairs(items, "--param").items():
        low, sep, high = span.partition(":")
        try:
            if not sep:
                raise ValueError
            out[name] = (float(low) if low else None, float(high) if high else None)
        except ValueError:
            raise ValidationError(
                f"--param must be NAME=LOW:HIGH (either end may be empty), e.g. "
                f"optimizer.lr=1e-4:1e-2; received {name}={span!r}"
            ) from None
    return out


def filter_string(args) -> str:
    """The MLflow search expression of the list flags."""
    parts = [args.filter] if args.filter else []
    parts += [f"tags.`{k}` = '{v}'" for k, v in _pairs(args.tag, "--tag").items()]
    if args.status:
        parts.append(f"attributes.status = '{args.status}'")
    if args.since:
        parts.append(f"attributes.start_time >= {_ms(args.since, '--since')}")
    if args.until:
        parts.append(f"attributes.start_time <= {_ms(args.until, '--until')}")
    if args.parent:
        parts.append(f"tags.`mlflow.parentRunId` = '{args.parent}'")
    return " and ".join(parts)


def in_ranges(params: dict, ranges: dict) -> bool:
    """Parameters are strings in MLflow: ranges compare their numbers here."""
    for name, (low, high) in ranges.items():
        try:
            v = float(params[name])
        except (KeyError, ValueError):
            return False
        if (low is not None and v < low) or (high is not None and v > high):
            return False
    return True


def list_runs(args) -> list:
    from mlflow.exceptions import MlflowException

    client = _client()
    if args.experiment:
        exp = client.get_experiment_by_name(args.experiment)
        if exp is None:
            known = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise ValidationError(
                f"--experiment must name an MLflow experiment; received {args.experiment!r} (known: {known})"
            )
        ids = [exp.experiment_id]
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    try:
        runs = (
            client.search_runs(
                ids, filter_string(args), max_results=args.max, order_by=["attributes.start_time DESC"]
            )
            if ids
            else []
        )
    except MlflowException as err:
        raise ValidationError(
            '--filter must be an MLflow search expression, e.g. "metrics.val_accuracy > '
            '0.9" or "params.optimizer.lr = \'0.001\'"; received '
            f"{args.filter!r} ({err.message})"
        ) from None
    ranges = _ranges(args.param)
    return [r for r in runs if in_ranges(r.data.params, ranges)]


def _row(run) -> dict:
    m = run.data.metrics
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "start": datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M"),
        "kind": run.data.tags.get("neuralforge.kind", "train"),
        **{k: m[k] for k in ("val_loss", "val_accuracy", "test_accuracy") if k in m},
    }


def cmd_list(args) -> int:
    rows = [_row(r) for r in list_runs(args)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(_table(rows) if rows else "no runs match")
    return 0


def _table(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cell = lambda v: "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(cell(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


# ---- compare ------------------------------------------------------------------------------


def compare(
    run_ids: list[str],
    *,
    curves=CURVES,
    smoothing: float = 0.0,
    plot: str | None = None,
    csv: str | None = None,
) -> dict:
    """Hyperparameter diff, architecture diffs against the first run, final metrics, and
    optionally the curves (PNG) and the table (CSV)."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        runs = [client.get_run(r) for r in run_ids]
    except MlflowException as err:
        raise ValidationError(
            f"runs compare needs MLflow run ids; received {' '.join(run_ids)} ({err.message})"
        ) from None
    params = {
        k: [r.data.params.get(k) for r in runs] for k in sorted({k for r in runs for k in r.data.params})
    }
    metrics = {
        k: [r.data.metrics.get(k) for r in runs] for k in sorted({k for r in runs for k in r.data.metrics})
    }
    graphs = [_graph(client, r.info.run_id) for r in runs]
    arch = {}
    for r, g in zip(runs[1:], graphs[1:], strict=True):
        if graphs[0] is not None and g is not None:
            arch[r.info.run_id] = diff_graphs(graphs[0], g)
    out = {
        "runs": run_ids,
        "params_differ": {k: v for k, v in params.items() if len(set(v)) > 1},
        "metrics": metrics,
        "architecture": {k: d.to_json() for k, d in arch.items()},
        "architecture_lines": {k: d.lines() for k, d in arch.items()},
    }
    if plot:
        histories = {
            r.info.run_id: {m: client.get_metric_history(r.info.run_id, m) for m in curves} for r in runs
        }
        Path(plot).write_bytes(
            curves_png(histories, curves, smoothing, names={r.info.run_id: r.info.run_name for r in runs})
        )
        out["plot"] = plot
    if csv:
        export_csv(runs, csv)
        out["csv"] = csv
    return out


def _graph(client, run_id: str):

    from ray_jobs.runs.load import quiet_downloads

    quiet_downloads()
    if not any(a.path == "setup/graph.json" for a in client.list_artifacts(run_id, "setup")):
        return None
    with tempfile.TemporaryDirectory() as d:
        path = Path(client.download_artifacts(run_id, "setup/graph.json", d))
        return Graph.from_json(json.loads(path.read_text()))


def export_csv(runs, path: str) -> None:
    """One row per run: id, name, status, ``params.*`` (text) and ``metrics.*`` (numbers)."""
    import polars as pl

    param_keys = sorted({k for r in runs for k in r.data.params})
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    columns = {
        "run_id": [r.info.run_id for r in runs],
        "name": [r.info.run_name for r in runs],
        "status": [r.info.status for r in runs],
    }
    columns.update({f"params.{k}": [r.data.params.get(k) for r in runs] for k in param_keys})
    schema = dict.fromkeys(columns, pl.Utf8)
    for k in metric_keys:
        columns[f"metrics.{k}"] = [r.data.metrics.get(k) for r in runs]
        schema[f"metrics.{k}"] = pl.Float64
    pl.DataFrame(columns, schema=schema).write_csv(path)


def cmd_compare(args) -> int:
    if len(args.run_ids) < 2:
        raise ValidationError(f"runs compare needs two or more run ids; received {len(args.run_ids)}")
    if not 0 <= args.smoothing < 1:
        raise ValidationError(f"--smoothing must be in [0, 1); received {args.smoothing}")
    out = compare(
        args.run_ids,
        curves=args.metric or CURVES,
        smoothing=args.smoothing,
        plot=None if args.no_plot else args.plot,
        csv=args.csv,
    )
    if args.json:
        print(json.dumps({k: v for k, v in out.items() if k != "architecture_lines"}, indent=1, default=str))
        return 0
    ids = [r[:8] for r in args.run_ids]
    print("hyperparameters that differ:")
    print(
        _table([{"param": k, **dict(zip(ids, v, strict=True))} for k, v in out["params_differ"].items()])
        if out["params_differ"]
        else "  (none)"
    )
    for run_id, lines in out["architecture_lines"].items():
        print(f"\narchitecture {args.run_ids[0][:8]} -> {run_id[:8]}:")
        print("\n".join(f"  {line}" for line in lines) or "  (same)")
    print("\nfinal metrics:")
    print(_table([{"metric": k, **dict(zip(ids, v, strict=True))} for k, v in out["metrics"].items()]))
    for what in ("plot", "csv"):
        if what in out:
            print(f"wrote {out[what]}")
    return 0


# ---- tags ---------------------------------------------------------------------------------


def cmd_tag(args) -> int:
    client = _client()
    tags = _pairs(args.tags, "a tag")
    for key in tags:
        _own(key)
    for key, value in tags.items():
        client.set_tag(args.run_id, key, value)
    if args.json:
        emit({"run_id": args.run_id, "tagged": tags})
        return 0
    print(f"tagged {args.run_id}: " + ", ".join(f"{k}={v}" for k, v in tags.items()))
    return 0


def cmd_untag(args) -> int:
    client = _client()
    present = client.get_run(args.run_id).data.tags
    for key in args.keys:
        _own(key)
        if key not in present:
            raise ValidationError(
                f"run {args.run_id} must have tag {key!r} to remove it; it has "
                f"{', '.join(k for k in present if not k.startswith('mlflow.')) or 'none'}"
            )
    for key in args.keys:
        client.delete_tag(args.run_id, key)
    if args.json:
        emit({"run_id": args.run_id, "removed": args.keys})
        return 0
    print(f"removed from {args.run_id}: {', '.join(args.keys)}")
    return 0


def _own(key: str) -> None:
    if key.startswith("mlflow."):
        raise ValidationError(
            f"tags starting with mlflow. belong to MLflow (parent runs, users, sources); received {key!r}"
        )


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = sub.add_parser("list", help="runs, newest first, filtered")
    ls.add_argument("--experiment", help="only this experiment (default: all)")
    ls.add_argument("--filter", help='an MLflow search expression, e.g. "metrics.val_accuracy > 0.9"')
    ls.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="runs with this tag (repeatable)"
    )
    ls.add_argument("--status", choices=("RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"))
    ls.add_argument("--since", help="started on or after this date (2026-11-01, 2026-11-01T14:30)")
    ls.add_argument("--until", help="started on or before this date")
    ls.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH",
        help="a hyperparameter in a range, e.g. optimizer.lr=1e-4:1e-2 (repeatable)",
    )
    ls.add_argument("--parent", help="the trials of this sweep run")
    ls.add_argument("--max", type=int, default=100, help="at most this many runs (default: 100)")
    ls.add_argument("--json", action="store_true")
    cp = sub.add_parser("compare", help="hyperparameter and architecture diff, metrics, curves, CSV")
    cp.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    cp.add_argument("--metric", action="append", help=f"curves to overlay (default: {', '.join(CURVES)})")
    cp.add_argument(
        "--smoothing", type=float, default=0.0, help="exponential smoothing of the curves, 0 to <1"
    )
    cp.add_argument("--plot", metavar="FILE", help="draw the curves into this PNG (default: no file)")
    cp.add_argument("--no-plot", action="store_true", help="do not draw the curves (the default)")
    cp.add_argument("--csv", help="write the runs' params and metrics as CSV here")
    cp.add_argument("--json", action="store_true")
    tg = sub.add_parser("tag", help="set tags on a run")
    tg.add_argument("run_id")
    tg.add_argument("tags", nargs="+", metavar="KEY=VALUE")
    tg.add_argument("--json", action="store_true", help='{"run_id", "tagged": {KEY: VALUE}} as JSON')
    ut = sub.add_parser("untag", help="remove tags from a run")
    ut.add_argument("run_id")
    ut.add_argument("keys", nargs="+", metavar="KEY")
    ut.add_argument("--json", action="store_true", help='{"run_id", "removed": [KEY, …]} as JSON')


def run(args) -> int:
    return {"list": cmd_list, "compare": cmd_compare, "tag": cmd_tag, "untag": cmd_untag}[args.action](args)


def main(argv: list[str] | None = None) -> int:
    return module_main("python -m ray_jobs.runs", __doc__, add_args, run, argv)
