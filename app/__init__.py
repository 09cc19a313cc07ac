"""The Streamlit dashboard: ``streamlit_app.py`` routes, pages live in ``app_pages/``,
``state.py`` owns the session-state keys and ``cache.py`` the caching."""
