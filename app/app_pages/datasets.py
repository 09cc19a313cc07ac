"""Datasets: the catalog, and a dataset's statistics and samples."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from app import cache
from neural_engine.errors import NeuralForgeError

st.title("Datasets")
rows = cache.catalog()
st.dataframe(pl.DataFrame(rows), width="stretch", hide_index=True)

name = st.selectbox("Dataset", [r["name"] for r in rows], index=0)
if st.button("Show statistics"):
    from neural_engine.data import describe, load
    try:
        ds = load(name)
    except NeuralForgeError as err:
        st.error(err.message + (f"\n\nHint: {err.hint}" if err.hint else ""))
    else:
        stats = describe(ds)
        st.json({k: v for k, v in stats.items() if k != "class_distribution"}, expanded=False)
        dist = stats.get("class_distribution") or {}
        if dist:
            chart = pl.DataFrame({"class": list(map(str, dist)), "samples": list(dist.values())})
            st.altair_chart(alt.Chart(chart.to_pandas()).mark_bar().encode(x="class:N", y="samples:Q"),
                            width="stretch")
        if ds.kind == "image":
            st.image([ds.x[i] for i in range(min(8, len(ds)))], width=64,
                     caption=[str(ds.classes[ds.y[i]]) if ds.classes else str(ds.y[i]) for i in range(min(8, len(ds)))])
