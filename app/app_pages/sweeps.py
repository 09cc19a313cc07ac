"""Sweeps: search the network's HPO values with Ray Tune (a Ray job), watch the trials as MLflow
records them, and open the winner (``best.neural``, every search value resolved) on the Canvas."""

from __future__ import annotations

import polars as pl
import streamlit as st

from app import auth, cache, editing, state
from app.run_inputs import architecture_ui, error_message, ray_address, submittable
from neural_engine.errors import NeuralForgeError
from neural_engine.settings import settings

METHODS = ("bayesian", "random", "grid")


def sweep_ui(address: str | None) -> None:
    from ray_jobs.config import TrainConfig, to_flags

    dataset = st.selectbox("Dataset", cache.dataset_names(), key="sweep_dataset")
    source, ref = architecture_ui("sweep_architecture", dataset)
    try:
        space = cache.search_space(source, ref)
    except NeuralForgeError as err:
        error_message(err)
        return
    if space:
        st.dataframe(pl.DataFrame({"path": list(space), "search": list(space.values())}), hide_index=True)
    else:
        st.info(
            "This network has no HPO(...) values: add some in the DSL (e.g. Dense(HPO(choice(64, 128)))) "
            "or below."
        )
    extra = st.text_area(
        "More search values, one PATH=VALUE per line",
        placeholder="train.optimizer.learning_rate=log_range(1e-4, 1e-2)",
        key="sweep_extra",
    )
    c = st.columns(3)
    samples = c[0].number_input("Trials", 1, 1000, 8, key="sweep_samples")
    method = c[1].selectbox("Search", METHODS, key="sweep_method")
    epochs = c[2].number_input("Epochs per trial", 1, 1000, 3, key="sweep_epochs")
    searches = [line.strip() for line in extra.splitlines() if line.strip()]
    try:
        config = TrainConfig(**{source: ref}, dataset=dataset, epochs=int(epochs))
        for line in searches:
            _check_search(line)
    except NeuralForgeError as err:
        error_message(err)
        return
    if not (space or searches):
        return
    if address and st.button("Start sweep", type="primary", key="sweep_start"):
        from ray_jobs.cluster import submit

        try:
            config = submittable(config)  # the Canvas's network is saved as a version first
            args = [*to_flags(config), "--num-samples", str(int(samples)), "--search-method", method]
            for line in searches:
                args += ["--search", line]
            job_id = submit.submit(
                ["python", "-m", "ray_jobs.tune", *args],
                address=address,
                working_dir=None,
                metadata={"kind": "tune"},
                env_vars=auth.job_env(),
            )
        except NeuralForgeError as err:
            error_message(err)
            return
        state.flash("success", f"Sweep submitted as Ray job {job_id}; its trials appear below.", "submit")
        st.rerun()
    state.show_flash("submit")


def _check_search(line: str) -> None:
    from neural_engine.errors import ValidationError
    from neural_engine.search import parse_search_value

    path, sep, value = line.partition("=")
    if not sep or not path.strip():
        raise ValidationError(
            f"a search value must be PATH=VALUE, e.g. dense_1.units=choice(64, 128); received {line!r}"
        )
    parse_search_value(value.strip())


@st.fragment(run_every=5)
def sweeps_ui() -> None:
    uri = settings().mlflow_uri
    problem = cache.tracking_problem(uri)
    if problem:
        st.warning(
            f"MLflow at {uri} is not reachable ({problem}). Start the server or check "
            "MLFLOW_TRACKING_URI; sweeps appear here once it is."
        )
        return
    sweeps = cache.sweeps()
    if not sweeps:
        st.caption("No sweeps recorded yet.")
        return
    ids = [s["id"] for s in sweeps]
    chosen = st.selectbox(
        "Sweep",
        ids,
        key="sweep_chosen",
        format_func=lambda i: next(f"{s['name']} · {s['status']}" for s in sweeps if s["id"] == i),
    )
    sweep = next(s for s in sweeps if s["id"] == chosen)
    trials = cache.trials(chosen)
    if trials:
        st.dataframe(pl.DataFrame(trials), hide_index=True, width="stretch")
    if sweep["best_dsl"] and st.button("Open the best network on the Canvas", key="sweep_open_best"):
        open_best(chosen, sweep["name"])


def open_best(run_id: str, name: str) -> None:
    """The sweep's winning network (``sweep/best.neural`` on its run) on the Canvas, undoably."""
    from neural_engine.dsl import parse_file
    from ray_jobs.tune.tracking import BEST_NETWORK

    try:
        graph = parse_file(cache.artifact_text(run_id, BEST_NETWORK), "best.neural").default
    except NeuralForgeError as err:
        error_message(err)
        return
    except Exception as err:  # noqa: BLE001 - MLflow's errors (a missing artifact, a store gone) are messages
        st.error(
            f"The best network of sweep {name} could not be read from MLflow ({BEST_NETWORK} on run "
            f"{run_id}): {str(err).splitlines()[0][:300]}"
        )
        return
    editing.commit(graph.to_json(), f"open the best network of sweep {name}")
    state.put(state.CANVAS_TAB, "Canvas")
    state.flash("success", f"Opened the best network of sweep {name}.", "header", page="Canvas")
    st.switch_page("app_pages/canvas.py")


st.title("Sweeps")
state.show_flash()
sweep_ui(ray_address())
st.subheader("Sweeps and their trials")
sweeps_ui()
