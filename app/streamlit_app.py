"""NeuralForge dashboard. This file only routes; pages live in ``app/app_pages/``."""

import streamlit as st

from app import auth, state
from neural_engine.errors import NeuralForgeError
from neural_engine.settings import apply_s3_endpoint

try:
    apply_s3_endpoint()  # MLflow artifacts and datasets on the same S3 endpoint
except NeuralForgeError:
    pass  # a bad setting: the page that reads it says so
st.set_page_config(page_title="NeuralForge", layout="wide")
auth.gate()

pages = {
    "Design": [st.Page("app_pages/canvas.py", title="Canvas", default=True)],
    "Data": [st.Page("app_pages/datasets.py", title="Datasets")],
    "Train": [st.Page("app_pages/train.py", title="Train"), st.Page("app_pages/sweeps.py", title="Sweeps")],
    "Track": [st.Page("app_pages/experiments.py", title="Experiments")],
    "Ship": [st.Page("app_pages/export.py", title="Export")],
}
page = st.navigation(pages)
state.put(state.PAGE, page.title)
state.clear_flash(unless_page=page.title)  # a message belongs to the page of the action
page.run()
