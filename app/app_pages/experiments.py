"""Experiments: the MLflow runs — filter, sort and select them; the selected runs' curves, the
hyperparameter and architecture diff of two, a run's confusion matrix and misclassified
examples, CSV export, "Reproduce" as a Ray job, and the run in the MLflow UI.

The work is ``neuralforge runs`` (``ray_jobs.runs``: list, compare, smooth, CSV) and
``ray_jobs.cluster.submit``, called through ``app.cache``. An unreachable tracking store or Ray cluster
is a banner saying what to start, never a traceback.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import altair as alt
import polars as pl
import streamlit as st

from app import cache, state
from app import runs_view as view
from neural_engine.errors import NeuralForgeError
from neural_engine.settings import settings
from ray_jobs import runs as runs_cmd
from ray_jobs.runs.plots import smooth

REPO = Path(__file__).resolve().parents[2]  # the job's working directory on Ray
TABS = ["Curves", "Compare two", "Evaluation", "Reproduce & MLflow UI"]


def store_ui(uri: str) -> list:
    """Every run of the store (stops the page with a banner or a hint when there is none)."""
    c = st.columns([6, 1])
    c[0].title("Experiments")
    if c[1].button("Refresh", help="read the tracking store again"):
        for fn in (
            cache.tracking_problem,
            cache.runs,
            cache.experiments,
            cache.metric_history,
            cache.compare_runs,
            cache.artifact_paths,
        ):
            fn.clear()
    everything, down = [], cache.tracking_problem(uri)
    if down is None:
        try:
            everything = cache.runs(uri)
        except Exception as err:  # noqa: BLE001 -- the store broke between the probe and the listing
            down = type(err).__name__
    if down is not None:
        st.warning(
            f"MLflow at {uri} is not reachable ({down}). Start the server (`mlflow server "
            "--host 127.0.0.1 --port 5000`) or check MLFLOW_TRACKING_URI; training runs appear "
            "here once recorded."
        )
        st.stop()
    if not everything:
        st.info("No runs yet: train one with `neuralforge train --template mnist_cnn --dataset digits`.")
        st.stop()
    return everything


def filters_ui(uri: str, everything: list) -> dict:
    """The ``runs list`` filters chosen: experiment, status, tags, parameter ranges, expression."""
    c = st.columns([2, 1, 2, 2])
    experiment = c[0].selectbox("Experiment", ["all", *cache.experiments(uri)], key="runs_experiment")
    statuses = sorted({r.info.status for r in everything})
    status = c[1].selectbox("Status", ["any", *statuses], key="runs_status")
    tags = c[2].multiselect("Tags", view.tag_choices(everything), key="runs_tags")
    numeric = view.numeric_params(everything)
    ranged = c[3].multiselect("Parameter ranges", list(numeric), key="runs_ranged")
    params = []
    for name in ranged:
        values = numeric[name]
        low, high = st.select_slider(
            name,
            values,
            value=(values[0], values[-1]),
            key=f"runs_range_{name}",
            format_func=lambda v: f"{v:g}",
        )
        params.append(f"{name}={low!r}:{high!r}")
    expression = st.text_input(
        "MLflow filter",
        key="runs_expression",
        placeholder="metrics.val_accuracy > 0.9 and params.dataset = 'digits'",
    )
    return {
        "experiment": None if experiment == "all" else experiment,
        "status": None if status == "any" else status,
        "tags": tuple(tags),
        "params": tuple(params),
        "expression": expression.strip(),
    }


def keep_selection(ids: list[str]) -> None:
    """Make the table's selection follow its runs when sorting or filtering moves them."""
    before = state.get(state.RUNS_SHOWN)
    if before is not None and before != ids and state.get(state.RUNS_TABLE) is not None:
        rows = state.get(state.RUNS_TABLE)["selection"]["rows"]
        state.put(state.RUNS_TABLE, {"selection": {"rows": view.reselect(before, rows, ids)}})
    state.put(state.RUNS_SHOWN, ids)


def table_ui(found: list) -> list:
    """The runs table, sorted; returns the selected runs."""
    frame = view.runs_frame(found)
    c = st.columns([3, 1, 3], vertical_alignment="bottom")
    by = c[0].selectbox("Sort by", frame.columns, index=frame.columns.index("start"), key="runs_sort")
    descending = c[1].toggle("Descending", value=True, key="runs_descending")
    frame = view.sort_frame(frame, by, descending)
    ids = frame["run_id"].to_list()
    keep_selection(ids)
    event = st.dataframe(
        frame,
        key=state.RUNS_TABLE,
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        width="stretch",
    )
    by_id = {r.info.run_id: r for r in found}
    c[2].download_button(
        "Download CSV",
        lambda: csv_of(found),
        "runs.csv",
        "text/csv",
        on_click="ignore",
        help="the filtered runs: id, name, status, params.*, metrics.*",
    )
    return [by_id[ids[i]] for i in sorted(event.selection.rows) if i < len(ids)]


def csv_of(found: list) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        runs_cmd.export_csv(found, str(Path(d, "runs.csv")))
        return Path(d, "runs.csv").read_bytes()


def curves_ui(uri: str, chosen: list) -> None:
    metrics = view.curve_metrics(chosen)
    if not metrics:
        st.info("The selected runs have no per-epoch metrics yet.")
        return
    c = st.columns([3, 1])
    default = [m for m in runs_cmd.CURVES if m in metrics] or metrics[:1]
    shown = c[0].multiselect("Metrics", metrics, default=default, key="runs_curve_metrics")
    smoothing = c[1].slider(
        "Smoothing",
        0.0,
        0.95,
        0.0,
        0.05,
        key="runs_smoothing",
        help="exponential moving average, as `neuralforge runs compare --smoothing`",
    )
    histories = {
        view.label(r): {m: cache.metric_history(uri, r.info.run_id, m) for m in shown if m in r.data.metrics}
        for r in chosen
    }
    data = view.curve_frame(histories, smoothing, smooth)
    columns = st.columns(min(len(shown), 3) or 1)
    for k, metric in enumerate(shown):
        columns[k % len(columns)].altair_chart(
            curve_chart(data.filter(pl.col("metric") == metric), metric, smoothing), width="stretch"
        )


def curve_chart(data: pl.DataFrame, metric: str, smoothing: float) -> alt.Chart:
    base = alt.Chart(data.to_pandas()).encode(
        x=alt.X("step:Q", title="epoch"), color=alt.Color("run:N", legend=alt.Legend(orient="bottom"))
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("smoothed:Q", title=metric), tooltip=["run", "step", "value", "smoothed"]
    )
    title = metric + (f" (smoothing {smoothing:g})" if smoothing else "")
    if smoothing:
        return (base.mark_line(opacity=0.25).encode(y="value:Q") + line).properties(title=title)
    return line.properties(title=title)


def diff_ui(uri: str, chosen: list) -> None:
    if len(chosen) < 2:
        st.info("Select two runs in the table to compare them.")
        return
    oldest_first = sorted(chosen, key=lambda r: r.info.start_time or 0)  # A -> B: what changed since
    labels = {r.info.run_id: view.label(r) for r in oldest_first}
    ids = list(labels)
    c = st.columns(2)
    a = c[0].selectbox("Run A", ids, index=0, format_func=labels.get, key="runs_diff_a")
    b = c[1].selectbox("Run B", ids, index=1, format_func=labels.get, key="runs_diff_b")
    if a == b:
        st.info("Pick two different runs.")
        return
    try:
        out = cache.compare_runs(uri, (a, b))
    except NeuralForgeError as err:
        st.error(view.error_text(err))
        return
    names = [labels[a], labels[b]]
    st.subheader("Hyperparameters that differ")
    if out["params_differ"]:
        st.dataframe(view.params_diff_frame(out["params_differ"], names), hide_index=True, width="stretch")
    else:
        st.caption("None: the same hyperparameters.")
    st.subheader("Architecture (A → B)")
    lines = out["architecture_lines"].get(b)
    if lines is None:
        st.info("No architecture diff: a run without its graph (setup/graph.json).")
    elif lines:
        st.code("\n".join(lines), language="diff")
    else:
        st.caption("The same architecture.")
    st.subheader("Final metrics")
    st.dataframe(view.metrics_side_by_side(out["metrics"], names), hide_index=True, width="stretch")


def evaluation_ui(uri: str, run) -> None:
    run_id = run.info.run_id
    splits = [p.split("/")[-1] for p in cache.artifact_paths(uri, run_id, "evaluation")]
    if not splits:
        st.info(f"{view.label(run)} has no evaluation: `neuralforge evaluate {run_id}` makes one.")
        return
    split = st.selectbox("Split", splits, key="runs_eval_split") if len(splits) > 1 else splits[0]
    files = set(cache.artifact_paths(uri, run_id, f"evaluation/{split}"))
    matrix = f"evaluation/{split}/confusion_matrix.json"
    if matrix in files:
        doc = json.loads(cache.artifact_bytes(uri, run_id, matrix))
        st.altair_chart(confusion_chart(view.confusion_frame(doc)), width="content")
    else:
        st.caption("No confusion matrix (not a classification run).")
    examples = f"evaluation/{split}/misclassified.png"
    if examples in files:
        st.image(
            cache.artifact_bytes(uri, run_id, examples), caption="Misclassified examples (true / predicted)"
        )


def confusion_chart(frame: pl.DataFrame) -> alt.Chart:
    classes = list(dict.fromkeys(frame["true"].to_list()))
    side = max(240, 28 * len(classes))
    title = f"Confusion matrix ({frame['count'].sum()} samples)"
    base = alt.Chart(frame.to_pandas()).encode(
        x=alt.X("predicted:N", sort=classes), y=alt.Y("true:N", sort=classes)
    )
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")), tooltip=["true", "predicted", "count"]
    )
    if len(classes) > 20:
        return heat.properties(width=side, height=side, title=title)
    high = frame["count"].max() / 2
    text = base.mark_text(fontSize=11).encode(
        text="count:Q", color=alt.condition(alt.datum.count > high, alt.value("white"), alt.value("black"))
    )
    return (heat + text).properties(width=side, height=side, title=title)


def actions_ui(uri: str, run) -> None:
    from ray_jobs.runs.load import BEST_RUN_TAG

    run_id = run.info.run_id
    url, command = view.mlflow_ui(uri, run.info.experiment_id, run_id)
    if url:
        st.link_button("Open in the MLflow UI", url)
    else:
        st.info(
            f"The tracking store is `{uri}`, which has no web UI of its own. Start one with\n\n"
            f"`{command}`\n\nthen open http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}"
            f"/runs/{run_id}"
        )
    rebuildable = BEST_RUN_TAG in run.data.tags or "setup/graph.json" in cache.artifact_paths(
        uri, run_id, "setup"
    )
    if st.button(
        "Reproduce",
        key="runs_reproduce",
        disabled=not rebuildable,
        help=f"submit `neuralforge reproduce {run_id}` as a Ray job"
        if rebuildable
        else "this run has no setup/graph.json: only training and sweep runs can be rebuilt",
    ):
        reproduce(run_id)


def reproduce(run_id: str) -> None:
    from ray_jobs.cluster import submit
    from ray_jobs.runs import usage

    try:
        usage.check_quota()
        job = submit.submit(["neuralforge", "reproduce", run_id], working_dir=REPO)
    except NeuralForgeError as err:
        st.warning(f"Not submitted: {view.error_text(err)}")
        return
    st.success(
        f"Submitted `neuralforge reproduce {run_id}` as Ray job `{job}`; the new run appears "
        "here once it starts (tag neuralforge.reproduced_from)."
    )


def main() -> None:
    uri = settings().mlflow_uri
    everything = store_ui(uri)
    filters = filters_ui(uri, everything)
    try:
        found = cache.runs(uri, **filters)
    except NeuralForgeError as err:
        st.error(view.error_text(err))
        return
    if not found:
        st.info("No runs match these filters.")
        return
    chosen = table_ui(found)
    if not chosen:
        st.caption("Select runs (the boxes left of the rows) for their curves, diffs and evaluation.")
        return
    detail = chosen[0]
    if len(chosen) > 1:
        labels = {r.info.run_id: view.label(r) for r in chosen}
        picked = st.selectbox(
            "Evaluation, reproduce and MLflow UI of", list(labels), format_func=labels.get, key="runs_detail"
        )
        detail = next(r for r in chosen if r.info.run_id == picked)
    tabs = st.tabs(TABS, key=state.RUNS_TAB, on_change="rerun")
    for tab, show in zip(
        tabs,
        (
            lambda: curves_ui(uri, chosen),
            lambda: diff_ui(uri, chosen),
            lambda: evaluation_ui(uri, detail),
            lambda: actions_ui(uri, detail),
        ),
        strict=True,
    ):
        if tab.open:
            with tab:
                show()


main()
