"""Pure helpers of the Experiments and Export pages: MLflow runs as a polars table, the data of
the curve and confusion-matrix charts, the link to a run in the MLflow UI, and export progress.

No streamlit and no tracking-store calls here: the functions take what the pages fetched
(``mlflow.entities.Run`` objects, metric histories, artifact JSON) and return tables or text.

>>> confusion_frame({"classes": ["cat", "dog"], "matrix": [[3, 1], [0, 4]]}).rows()
[('cat', 'cat', 3), ('cat', 'dog', 1), ('dog', 'cat', 0), ('dog', 'dog', 4)]
>>> mlflow_ui("http://mlflow:5000/", "3", "ab12")
('http://mlflow:5000/#/experiments/3/runs/ab12', None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import polars as pl

FIRST_METRICS = ("val_accuracy", "val_loss", "test_accuracy", "train_loss")
KEY_PARAMS = ("dataset", "train.epochs", "train.batch_size", "optimizer.lr")
HIDDEN_METRICS = ("export.", "system/")  # export measurements and host metrics: not run results
LONG_TAG = 60  # longer tag values (paths, errors) are not filter choices


def error_text(err) -> str:
    """A ``NeuralForgeError`` as the pages show it: the message, then the hint."""
    return err.message + (f"\n\nHint: {err.hint}" if err.hint else "")


def label(run) -> str:
    """How a run is named in charts and pickers: ``name (id8)``."""
    return f"{run.info.run_name or 'unnamed'} ({run.info.run_id[:8]})"


def runs_frame(runs: list) -> pl.DataFrame:
    """One row per run: name, id, status, start, kind, network, the key parameters and those that
    differ between the runs (text, as MLflow keeps them), then the last value of each metric."""
    params = sorted({k for r in runs for k in r.data.params})
    shown_params = [k for k in params if k in KEY_PARAMS or len({r.data.params.get(k) for r in runs}) > 1]
    metrics = [
        k for k in sorted({k for r in runs for k in r.data.metrics}) if not k.startswith(HIDDEN_METRICS)
    ]
    metrics = [m for m in FIRST_METRICS if m in metrics] + [m for m in metrics if m not in FIRST_METRICS]
    columns: dict[str, list] = {
        "name": [r.info.run_name for r in runs],
        "run_id": [r.info.run_id for r in runs],
        "status": [r.info.status for r in runs],
        "start": [
            datetime.fromtimestamp(r.info.start_time / 1000) if r.info.start_time else None for r in runs
        ],
        "kind": [r.data.tags.get("neuralforge.kind", "train") for r in runs],
        "network": [r.data.tags.get("neuralforge.network", "") for r in runs],
    }
    schema: dict = dict.fromkeys(columns, pl.Utf8) | {"start": pl.Datetime("ms")}
    for k in shown_params:
        columns[f"params.{k}"] = [r.data.params.get(k) for r in runs]
        schema[f"params.{k}"] = pl.Utf8
    for k in metrics:
        columns[f"metrics.{k}"] = [r.data.metrics.get(k) for r in runs]
        schema[f"metrics.{k}"] = pl.Float64
    return pl.DataFrame(columns, schema=schema)


def sort_frame(frame: pl.DataFrame, column: str, descending: bool) -> pl.DataFrame:
    """Sorted by ``column`` (missing values last); an unknown column leaves the order alone."""
    if column not in frame.columns:
        return frame
    return frame.sort(column, descending=descending, nulls_last=True)


def tag_choices(runs: list) -> list[str]:
    """``key=value`` of the runs' own tags (not MLflow's), for the tag filter."""
    pairs = {
        f"{k}={v}"
        for r in runs
        for k, v in r.data.tags.items()
        if not k.startswith("mlflow.") and len(v) <= LONG_TAG
    }
    return sorted(pairs)


def numeric_params(runs: list) -> dict[str, list[float]]:
    """Parameters whose every recorded value is a number: their distinct values, sorted."""
    out: dict[str, set[float]] = {}
    bad: set[str] = set()
    for r in runs:
        for k, v in r.data.params.items():
            try:
                out.setdefault(k, set()).add(float(v))
            except ValueError:
                bad.add(k)
    return {k: sorted(v) for k, v in sorted(out.items()) if k not in bad and len(v) > 1}


def reselect(previous_ids: list[str], previous_rows: Iterable[int], ids: list[str]) -> list[int]:
    """The rows of ``ids`` holding the runs that were selected in the previous table, so a
    selection follows its runs when the table is sorted or filtered.

    >>> reselect(["a", "b", "c"], [0, 2], ["c", "b"])
    [0]
    """
    chosen = {previous_ids[i] for i in previous_rows if 0 <= i < len(previous_ids)}
    return [i for i, run_id in enumerate(ids) if run_id in chosen]


def curve_frame(
    histories: Mapping[str, Mapping[str, list[tuple[int, float]]]], smoothing: float, smooth
) -> pl.DataFrame:
    """Long table of curves: run, metric, step, value and its smoothed value.

    ``histories``: run label -> metric -> [(step, value)]; ``smooth(values, alpha)`` is the CLI's
    exponential moving average (``ray_jobs.runs.plots.smooth``), so the page draws what
    ``runs compare --smoothing`` plots.
    """
    rows = []
    for run, metrics in histories.items():
        for metric, points in metrics.items():
            points = sorted(points)
            values = [v for _, v in points]
            for (step, value), smoothed in zip(points, smooth(values, smoothing), strict=True):
                rows.append((run, metric, step, value, smoothed))
    return pl.DataFrame(
        rows,
        schema={
            "run": pl.Utf8,
            "metric": pl.Utf8,
            "step": pl.Int64,
            "value": pl.Float64,
            "smoothed": pl.Float64,
        },
        orient="row",
    )


def curve_metrics(runs: list) -> list[str]:
    """Metrics worth drawing as curves: logged by every kind of run except the one-off results
    (``test_*``, ``eval_*``, export and host metrics)."""
    names = {k for r in runs for k in r.data.metrics}
    return sorted(k for k in names if not k.startswith(("test_", "eval_", *HIDDEN_METRICS)))


def params_diff_frame(diff: Mapping[str, list], labels: list[str]) -> pl.DataFrame:
    """``runs compare``'s ``params_differ`` (param -> values per run) as a table."""
    columns = {"param": list(diff)}
    for i, name in enumerate(labels):
        columns[name] = [values[i] for values in diff.values()]
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Utf8))


def metrics_side_by_side(metrics: Mapping[str, list], labels: list[str]) -> pl.DataFrame:
    """``runs compare``'s final metrics, one row per metric (export and host metrics left out)."""
    shown = {k: v for k, v in metrics.items() if not k.startswith(HIDDEN_METRICS)}
    columns: dict[str, list] = {"metric": list(shown)}
    for i, name in enumerate(labels):
        columns[name] = [values[i] for values in shown.values()]
    return pl.DataFrame(columns, schema={"metric": pl.Utf8} | dict.fromkeys(labels, pl.Float64))


def confusion_frame(doc: Mapping) -> pl.DataFrame:
    """``evaluation/<split>/confusion_matrix.json`` (rows true, columns predicted) as a long
    table: true, predicted, count."""
    classes = [str(c) for c in doc["classes"]] or [str(i) for i in range(len(doc["matrix"]))]
    rows = [
        (classes[i], classes[j], int(n)) for i, row in enumerate(doc["matrix"]) for j, n in enumerate(row)
    ]
    return pl.DataFrame(rows, schema={"true": pl.Utf8, "predicted": pl.Utf8, "count": pl.Int64}, orient="row")


def mlflow_ui(tracking_uri: str, experiment_id: str, run_id: str) -> tuple[str | None, str | None]:
    """(URL of the run in the MLflow UI, or None; the command that starts a UI, or None).

    A tracking server serves its UI at its own address; a SQLite (or other database) store
    has none until ``mlflow ui`` is started against it.

    >>> mlflow_ui("sqlite:////tmp/nf/mlflow.db", "1", "ab")[1]
    'mlflow ui --backend-store-uri sqlite:////tmp/nf/mlflow.db --port 5000'
    """
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}", None
    return None, f"mlflow ui --backend-store-uri {tracking_uri} --port 5000"


# ---- export ------------------------------------------------------------------------------


def export_argv(
    source: str,
    *,
    template: bool,
    input_shape: str = "",
    dataset: str | None = None,
    fmt: str = "onnx",
    quantize: Iterable[str] = (),
    samples: int = 100,
    max_abs_diff: float = 1e-4,
    min_agreement: float = 1.0,
    max_accuracy_drop: float = 0.01,
    serving: bool = True,
) -> list[str]:
    """The ``neuralforge export`` arguments of the Export page's choices.

    >>> export_argv("mnist_cnn", template=True, input_shape="8,8,1", quantize=["fp16"], serving=False)[:6]
    ['--template', 'mnist_cnn', '--input-shape', '8,8,1', '--format', 'onnx']
    """
    argv = ["--template", source] if template else [source]
    if template and input_shape.strip():
        argv += ["--input-shape", input_shape.strip().strip("()").replace(" ", "")]
    argv += ["--format", fmt]
    if quantize:
        argv += ["--quantize", ",".join(quantize)]
    if dataset:
        argv += ["--dataset", dataset]
    argv += [
        "--samples",
        str(samples),
        "--max-abs-diff",
        repr(max_abs_diff),
        "--min-agreement",
        repr(min_agreement),
        "--max-accuracy-drop",
        repr(max_accuracy_drop),
    ]
    return argv + ([] if serving else ["--no-serving"])


def export_files(fmt: str, quantize: Iterable[str]) -> list[str]:
    """The files an export writes, in order: the model, its variants, the report."""
    from neural_engine.export.layout import SUFFIXES

    return [f"model{SUFFIXES[fmt]}", *(f"model.{v}.onnx" for v in quantize), "report.json"]


def export_progress(directory: Path, expected: list[str], since: float) -> float:
    """Share of ``expected`` files written in ``directory`` since ``since`` (a timestamp), also
    counting those moved to ``rejected/``."""
    done = 0
    for name in expected:
        for path in (directory / name, directory / "rejected" / name):
            if path.exists() and path.stat().st_mtime >= since:
                done += 1
                break
    return done / max(len(expected), 1)


def variants_frame(variants: list[Mapping]) -> pl.DataFrame:
    """The variants of an export's ``report.json`` (batch sizes are text there) as the advisor's
    comparison: size, accuracy and its change vs fp32, agreement, latency, verdict."""
    rows = [
        {
            "variant": v["name"],
            "size KiB": round(v["size_bytes"] / 1024, 1),
            "accuracy": v["accuracy"],
            "Δ accuracy (points)": None if v["accuracy_delta"] is None else v["accuracy_delta"] * 100,
            "agrees with fp32": v["agreement_with_fp32"],
            "batch 1 ms": _ms(v["latency_ms"].get("1")),
            "batch 32 ms": _ms(v["latency_ms"].get("32")),
            "passed": v["passed"],
        }
        for v in variants
    ]
    return pl.DataFrame(
        rows,
        schema={
            "variant": pl.Utf8,
            "size KiB": pl.Float64,
            "accuracy": pl.Float64,
            "Δ accuracy (points)": pl.Float64,
            "agrees with fp32": pl.Float64,
            "batch 1 ms": pl.Float64,
            "batch 32 ms": pl.Float64,
            "passed": pl.Boolean,
        },
    )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
