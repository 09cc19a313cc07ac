"""Inputs the Train and Sweeps pages share: the architecture picker, the Ray banner, error messages."""

from __future__ import annotations

import streamlit as st

from app import cache
from neural_engine.errors import NeuralForgeError

TEMPLATE = "template:"


def error_message(err: NeuralForgeError) -> None:
    st.error(err.message + (f"\n\nHint: {err.hint}" if err.hint else ""))


def architecture_ui(key: str) -> tuple[str, str]:
    """The architecture picked: ("project", "name@vN") or ("template", name)."""
    refs = cache.architecture_refs()
    options = refs + [TEMPLATE + t for t in cache.template_names()]
    if not refs:
        st.caption("No saved versions yet: save one on the Canvas page, or train a template.")
    choice = st.selectbox("Architecture", options, key=key)
    return ("template", choice.removeprefix(TEMPLATE)) if choice.startswith(TEMPLATE) else ("project", choice)


def ray_address() -> str | None:
    """The cluster's address, or None with a banner saying what to start."""
    from ray_jobs import submit
    try:
        return submit.resolve_address()
    except NeuralForgeError as err:
        st.warning(f"Ray is not reachable: {err.message}.\n\nStart it with `neuralforge cluster up` "
                   "(`make run` does), or set RAY_ADDRESS to a cluster's dashboard URL.")
        return None
