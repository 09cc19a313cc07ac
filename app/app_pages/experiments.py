"""Experiments: the MLflow runs (an unreachable tracking store is a banner, not a crash)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from neural_engine.settings import settings

st.title("Experiments")
uri = settings().mlflow_uri
try:
    from mlflow.tracking import MlflowClient
    client = MlflowClient(uri)
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments], max_results=500,
                              order_by=["attributes.start_time DESC"]) if experiments else []
except Exception as err:  # the store is down or unreadable: say what to start
    st.warning(f"MLflow at {uri} is not reachable ({type(err).__name__}). Start the server or check "
               "MLFLOW_TRACKING_URI; training runs appear here once recorded.")
    st.stop()

if not runs:
    st.info("No runs yet: train one with `neuralforge train --template mnist_cnn --dataset digits`.")
    st.stop()
table = pl.DataFrame([{"run": r.info.run_name, "id": r.info.run_id, "status": r.info.status,
                       "network": r.data.tags.get("neuralforge.network", ""),
                       "dataset": r.data.params.get("dataset", ""),
                       "test_accuracy": r.data.metrics.get("test_accuracy"),
                       "val_loss": r.data.metrics.get("val_loss")} for r in runs])
status = st.multiselect("Status", sorted(table["status"].unique().to_list()))
if status:
    table = table.filter(pl.col("status").is_in(status))
st.dataframe(table, width="stretch", hide_index=True)
st.download_button("Download CSV", table.write_csv(), "runs.csv", "text/csv")
