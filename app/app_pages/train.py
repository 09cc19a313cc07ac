"""Train: a saved architecture version (or a template) and a dataset, checked before it starts
(shapes, fit, memory, an estimated time), submitted to Ray as a job; then the jobs, live.

Jobs live in Ray and their runs in MLflow, so they survive a page reload and a dashboard restart:
this page keeps nothing but the job being watched.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from app import auth, cache, state
from app.jobs_view import curve_rows, defaults, kind_of, neuralforge_jobs, progress
from app.run_inputs import architecture_ui, error_message, ray_address, submittable
from neural_engine.errors import NeuralForgeError
from neural_engine.report import human_bytes

JOB_PICKER = "train_job"


def data_ui() -> tuple[str, str | None]:
    """The dataset ref (a built-in, or a registered dataset's chosen version) and the augmentation
    flag: None (the version's own pipeline) or "none"."""
    from neural_engine.settings import settings

    c = st.columns(3)
    name = c[0].selectbox("Dataset", cache.dataset_names(), key="train_dataset")
    newest_first = list(reversed(cache.registered_versions(settings().storage).get(name, [])))
    if not newest_first:
        c[1].selectbox("Version", ["built-in"], key="train_dataset_builtin", disabled=True)
        c[2].selectbox("Augmentation", ["none"], key="train_augment_builtin", disabled=True)
        return name, None
    by_id = {v["version"]: v for v in newest_first}
    version = c[1].selectbox(
        "Version",
        list(by_id),
        key="train_dataset_version",
        format_func=lambda i: f"v{by_id[i]['number']} · {i} · {by_id[i]['created'][:16]}",
    )
    steps = [op["type"] for op in by_id[version].get("pipeline") or []]
    options = ["version", "none"] if steps else ["none"]
    augment = c[2].selectbox(
        "Augmentation",
        options,
        key="train_augment",
        format_func=lambda o: f"the version's: {' → '.join(steps)}" if o == "version" else "none",
    )
    return f"{name}@{version}", None if augment == "version" else "none"


def config_ui():
    """The run's TrainConfig from the form (None, with the error shown, when it is invalid)."""
    from ray_jobs.config import TrainConfig

    dataset, augment = data_ui()
    source, ref = architecture_ui("train_architecture", dataset)
    try:
        d = defaults(cache.architecture_graph(source, ref))
    except NeuralForgeError as err:
        error_message(err)
        return None
    c = st.columns(5)
    epochs = c[0].number_input("Epochs", 1, 10_000, d.epochs, key="train_epochs")
    batch = c[1].number_input("Batch size", 1, 65_536, d.batch_size, key="train_batch")
    lr = c[2].number_input("Learning rate", 0.0, 10.0, d.learning_rate, format="%.2e", key="train_lr")
    optimizer = c[3].text_input("Optimizer", d.optimizer, key="train_optimizer")
    seed = c[4].number_input("Seed", 0, 2**31 - 1, d.seed, key="train_seed")
    c = st.columns(4)
    workers = c[0].number_input("Workers", 1, 64, 1, key="train_workers")
    placement = c[1].selectbox(
        "Data placement",
        ("auto", "device", "workers"),
        key="train_placement",
        help="device: the training data held on the device and augmented there in "
        "batches; workers: DataLoader workers; auto: device when it fits and every "
        "augmentation has a batched form",
    )
    experiment = c[2].text_input("Experiment", "neuralforge", key="train_experiment")
    smoke = c[3].checkbox("Smoke test (1 epoch, a few batches)", key="train_smoke")
    try:
        return TrainConfig(
            **{source: ref},
            dataset=dataset,
            augment=augment,
            epochs=int(epochs),
            batch_size=int(batch),
            learning_rate=float(lr),
            optimizer=optimizer.strip(),
            seed=int(seed),
            workers=int(workers),
            experiment=experiment.strip() or "neuralforge",
            smoke_test=smoke,
            data_placement=None if placement == "auto" else placement,
        )
    except NeuralForgeError as err:
        error_message(err)
        return None


def preflight_ui(config) -> bool:
    """Shapes, fit, memory and an estimated time, measured on this machine; False if it cannot train."""
    try:
        p = cache.preflight(config)
    except NeuralForgeError as err:
        error_message(err)
        return False
    c = st.columns(4)
    c[0].metric("Parameters", f"{p.params:,}")
    c[1].metric(
        "Training memory",
        human_bytes(p.memory_bytes),
        help="weights, gradients, optimizer state and activations of one step",
    )
    c[2].metric("Steps", f"{p.epochs} × {p.steps_per_epoch}")
    source = (
        f"measured on this cluster's last {p.costs_measured_on} run(s)"
        if p.costs_measured_on
        else "defaults measured on a 2-core machine; your first run measures them"
    )
    c[3].metric(
        "Estimated time",
        f"~{p.seconds:.0f} s",
        help=f"{p.epochs} epochs × ({p.steps_per_epoch} measured "
        f"steps of {p.step_seconds:.3f} s + validation + {p.epoch_overhead_seconds:.1f} s per epoch) + "
        f"{p.fixed_seconds:.0f} s start-up and finish ({source}); on this machine's CPU, GPUs are faster",
    )
    if not p.fits:
        st.error(
            f"One step needs about {human_bytes(p.memory_bytes)}; this machine has "
            f"{human_bytes(p.memory_available)} free. Lower the batch size."
        )
    return p.fits


def submit_ui(config, address: str) -> None:
    from ray_jobs.cluster import submit
    from ray_jobs.config import to_flags

    if st.button("Submit to Ray", type="primary", key="train_submit"):
        try:
            config = submittable(config)
            job_id = submit.submit(
                ["python", "-m", "ray_jobs.train", *to_flags(config)],
                address=address,
                working_dir=None,
                metadata={"kind": "train", "epochs": str(planned_epochs(config))},
                env_vars=auth.job_env(),
            )
        except NeuralForgeError as err:
            error_message(err)
            return
        state.put(state.WATCHED_JOB, job_id)
        state.flash("success", f"Submitted {job_id}; it appears below as it starts.", "submit")
        st.rerun()
    state.show_flash("submit")  # beside the button: nothing above the form moves when it goes


def planned_epochs(config) -> int:
    return 1 if config.smoke_test else config.epochs


@st.fragment(run_every=3)
def jobs_ui(address: str) -> None:
    """The cluster's NeuralForge jobs and the watched one's progress, curves and logs (refreshed)."""
    from ray_jobs.cluster import submit

    try:
        jobs = neuralforge_jobs(submit.list_jobs(address=address))
    except NeuralForgeError as err:
        error_message(err)
        return
    if not jobs:
        st.info("No jobs yet on this cluster.")
        return
    ids = [j.id for j in jobs]
    watched = state.get(state.WATCHED_JOB)
    if watched in ids:  # a new submission (or a reload) picks the job shown
        st.session_state[JOB_PICKER] = watched
    chosen = st.selectbox(
        "Job",
        ids,
        key=JOB_PICKER,
        on_change=_watch,
        format_func=lambda i: _job_label(next(j for j in jobs if j.id == i)),
    )
    job = next(j for j in jobs if j.id == chosen)
    job_ui(job, address)


def _watch() -> None:
    state.put(state.WATCHED_JOB, st.session_state[JOB_PICKER])


def _job_label(job) -> str:
    return f"{job.id} · {kind_of(job)} · {job.status}"


def job_ui(job, address: str) -> None:
    from ray_jobs.cluster import submit

    top = st.columns([3, 1])
    top[0].markdown(f"**{job.status}** · {job.entrypoint}" + (f"  \n{job.message}" if job.message else ""))
    if not job.done and top[1].button("Stop", key=f"stop_{job.id}"):
        try:
            submit.stop(job.id, address=address)
            st.toast(f"Stopping {job.id}")
        except NeuralForgeError as err:
            error_message(err)
    run = cache.run_of_job(job.id, job.done)
    if run is None:
        if job.epochs and not job.done:
            st.progress(0.0, text=f"epoch 0 of {job.epochs} · starting")
        st.caption(
            "Waiting for the run to be recorded in MLflow…"
            if not job.done
            else "This job recorded no MLflow run."
        )
    else:
        done, total = progress(run["params"], run["history"], job.epochs)
        where = f" · MLflow run {run['id']} ({run['status']})"
        st.progress(done / total if total else 0.0, text=f"epoch {done} of {total}{where}")
        rows = curve_rows({k: v for k, v in run["history"].items() if v})
        if rows:
            chart = (
                alt.Chart(pl.DataFrame(rows).to_pandas())
                .mark_line(point=True)
                .encode(
                    x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
                    y="value:Q",
                    color="metric:N",
                )
            )
            st.altair_chart(chart, width="stretch")
    with st.expander("Logs (last 40 lines)", expanded=job.status == "FAILED"):
        try:
            st.code(submit.logs(job.id, tail=40, address=address) or "(no output yet)", language="text")
        except NeuralForgeError as err:
            error_message(err)


st.title("Train")
state.show_flash()
address = ray_address()
config = config_ui()
if config is not None and preflight_ui(config) and address:
    submit_ui(config, address)
if address:
    st.subheader("Jobs")
    jobs_ui(address)
