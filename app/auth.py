"""Optional sign-in: with an ``[auth]`` section (OIDC) in Streamlit's secrets, the dashboard asks
for ``st.login`` first and the signed-in user's e-mail goes on the jobs it submits (and so on their
MLflow runs, as ``neuralforge.user``). Without it, the dashboard is open and runs carry
``NEURALFORGE_USER`` or the login name."""

from __future__ import annotations

import streamlit as st


def sign_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


def gate() -> None:
    """Stop the page for a visitor who has not signed in (only when sign-in is configured)."""
    if not sign_in_configured():
        return
    if not st.user.get("is_logged_in", False):
        st.title("NeuralForge")
        st.write("Sign in to design, train and ship networks.")
        st.button("Sign in", type="primary", on_click=st.login, key="sign_in")
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as {current_user()}")
        st.button("Sign out", on_click=st.logout, key="sign_out")


def current_user() -> str | None:
    """The signed-in user's e-mail (else name), or None when nobody is signed in."""
    if not sign_in_configured() or not st.user.get("is_logged_in", False):
        return None
    return st.user.get("email") or st.user.get("name") or st.user.get("sub")


def job_env() -> dict[str, str]:
    """Environment for a submitted job: the signed-in user, when there is one."""
    user = current_user()
    return {"NEURALFORGE_USER": user} if user else {}
