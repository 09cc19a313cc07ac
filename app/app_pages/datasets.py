"""Datasets: the catalog and registered uploads; one dataset's statistics and samples, uploads, its
train/val/test split and an augmentation pipeline with a before/after preview.

The engine (``neural_engine.data``) reads, checks, splits, augments and stores; this page lays out
its results. Only the open tab runs (``st.tabs(on_change="rerun")``), so the torch import behind
the augmentation preview waits until the Augment tab opens.
"""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import streamlit as st

from app import cache, state
from app import datasets_view as view
from app.widgets import augment_param_input
from neural_engine.data import catalog
from neural_engine.errors import DatasetError, NeuralForgeError
from neural_engine.settings import settings

TABS = ["Overview", "Upload", "Split", "Augment"]


def show_error(err: NeuralForgeError | dict) -> None:
    e = err.to_dict() if isinstance(err, NeuralForgeError) else err
    st.error(e["message"] + (f"\n\nHint: {e['hint']}" if e.get("hint") else ""))


def saved(version, message: str) -> None:
    """After a new version: list it, show it, say so."""
    cache.registered_versions.clear()
    cache.dataset_names.clear()
    state.put(state.DATASET, version.ref)
    state.flash("success", message)
    st.rerun()


def load(ref: str, store: str):
    try:
        return cache.dataset(ref, store)
    except NeuralForgeError as err:
        show_error(err)
        return None


def catalog_ui(store: str) -> dict[str, list[dict]]:
    try:
        registered = cache.registered_versions(store)
    except NeuralForgeError as err:  # an S3 store that is down: the built-ins still work
        st.warning(f"The dataset store {store} cannot be listed: {err.message}")
        registered = {}
    st.dataframe(view.catalog_table(cache.catalog(), registered), hide_index=True, width="stretch")
    return registered


def picker_ui(registered: dict[str, list[dict]]) -> tuple[str, dict | None]:
    """The dataset shown: its ref, and its version's JSON where it is registered."""
    names = list(catalog.ENTRIES) + list(registered)
    name, _, vid = (state.get(state.DATASET) or "digits").partition("@")
    name = name if name in names else "digits"
    left, right = st.columns([2, 3])
    name = left.selectbox(
        "Dataset",
        names,
        index=names.index(name),
        format_func=lambda n: f"{n} (registered)" if n in registered else n,
    )
    if name not in registered:
        right.selectbox("Version", ["built-in: not versioned"], disabled=True)
        state.put(state.DATASET, name)
        return name, None
    by_id = {v["version"]: v for v in registered[name]}
    ids = list(by_id)
    vid = right.selectbox(
        "Version",
        ids,
        index=ids.index(vid) if vid in by_id else len(ids) - 1,
        format_func=lambda i: view.version_label(by_id[i]),
    )
    state.put(state.DATASET, f"{name}@{vid}")
    return f"{name}@{vid}", by_id[vid]


def overview_ui(ref: str, version: dict | None, store: str) -> None:
    if version is None:
        e = catalog.entry(ref)
        st.caption(f"{e.source}. Files: {e.get}.")
        try:
            stats = cache.dataset_stats(ref, store)
        except NeuralForgeError as err:
            show_error(err)
            return
    else:
        stats = version["stats"]
        parent = f", parent {version['parent']}" if version["parent"] else ""
        st.caption(f"{version['source']} · registered {version['created']}{parent}")
    c = st.columns(4)
    c[0].metric("Samples", f"{stats['samples']:,}")
    c[1].metric("Task", stats["task"])
    c[2].metric("Input shape", str(tuple(stats["input_shape"])))
    c[3].metric("Classes", stats["num_classes"])
    for warning in stats["warnings"]:
        st.warning(warning)
    stats_ui(stats)
    ds = load(ref, store)
    if ds is not None:
        gallery_ui(ds, stats.get("features"))
    if version is None:
        copy_ui(ref, store)


def stats_ui(stats: dict) -> None:
    dist = view.distribution(stats)
    if dist is not None:
        unit = dist.columns[1]
        st.markdown(f"**Class distribution** ({unit})")
        chart = (
            alt.Chart(dist.to_pandas())
            .mark_bar()
            .encode(x=alt.X("class:N", sort=None), y=alt.Y(f"{unit}:Q"), tooltip=["class", unit])
        )
        st.altair_chart(chart, width="stretch")
    elif "target_mean" in stats:
        st.markdown(f"**Target** mean {stats['target_mean']:.4g}, std {stats['target_std']:.4g}")
    left, right = st.columns(2)
    table = view.channel_table(stats)
    if table is not None:
        left.markdown("**Mean and std**" + (" (on the [0, 1] scale)" if "channel_mean" in stats else ""))
        left.dataframe(table, hide_index=True)
    if stats.get("image_sizes"):
        right.markdown("**Image sizes** (as uploaded)")
        right.json(stats["image_sizes"], expanded=False)
    if stats.get("corrupt_files"):
        right.markdown("**Corrupt files skipped**")
        right.code("\n".join(stats["corrupt_files"]), language="text")


def gallery_ui(ds, features: list[str] | None) -> None:
    st.markdown("**Samples**")
    if ds.kind != "image":
        st.dataframe(view.sample_table(ds.x, ds.y, ds.classes, features=features), hide_index=True)
        return
    n = st.slider("Samples shown", 4, 48, 20, step=4)
    idx = view.gallery_indices(ds.y, n, seed=0)
    if ds.task == "segmentation":
        images = [
            img
            for i in idx
            for img in (
                view.enlarge(ds.x[i]),
                view.enlarge(view.mask_image(ds.y[i], ds.num_classes)[..., None]),
            )
        ]
        st.image(images, caption=[f"#{i} {part}" for i in idx for part in ("image", "mask")], width=80)
        return
    label = (lambda v: ds.classes[int(v)]) if ds.classes else str
    st.image(
        [view.enlarge(ds.x[i]) for i in idx], caption=[f"#{i} · {label(ds.y[i])}" for i in idx], width=64
    )


def copy_ui(ref: str, store: str) -> None:
    """Built-ins are not versioned; a registered copy is (then its splits and pipelines are saved)."""
    with st.expander("Register a copy (to save splits and pipelines as versions)"):
        name = st.text_input(
            "Name of the copy", value=f"my-{ref.replace('_', '-')}", key=f"datasets_copy_name_{ref}"
        )
        if st.button("Register a copy", key="datasets_copy"):
            from neural_engine.data.registry import register_dataset

            ds = load(ref, store)
            if ds is None:
                return
            try:
                v = register_dataset(ds, name, storage=store)
            except NeuralForgeError as err:
                show_error(err)
                return
            saved(v, f"Registered {ref} as {name} v{v.number} ({v.version}).")


def upload_ui(store: str) -> None:
    st.caption(
        "A ZIP of class-named image folders (`cat/1.png`), a CSV with a label column, or an NPZ "
        "with arrays `x` and `y`. The file is checked completely before anything is stored."
    )
    limit_mb = -(-settings().max_upload_bytes // 2**20)  # the engine's NEURALFORGE_MAX_UPLOAD_MB, rounded up
    up = st.file_uploader(
        "Dataset file", type=["zip", "csv", "npz"], key="datasets_upload", max_upload_size=limit_mb
    )
    if up is None:
        return
    suffix = Path(up.name).suffix.lower()
    name = st.text_input(
        "Dataset name",
        value=view.suggest_name(up.name),
        help="lowercase letters, digits, _ - . (an existing name gets a new version)",
    )
    options: dict = {}
    if suffix == ".zip":
        left, right = st.columns(2)
        skip = (
            left.radio("Corrupt images", ["reject the upload", "skip them"], horizontal=True) == "skip them"
        )
        options["on_corrupt"] = "skip" if skip else "reject"
        h = right.number_input("Resize to height (0: the most common size)", 0, 4096, 0)
        w = right.number_input("Resize to width (0: the most common size)", 0, 4096, 0)
        options["image_size"] = (int(h), int(w)) if h and w else None
    else:
        if suffix == ".csv":
            options["label_column"] = st.text_input("Label column", value="label")
        task = st.selectbox("Task", ["guess from the labels", "classification", "regression"])
        options["task"] = None if task.startswith("guess") else task
    if st.button("Check and register", type="primary"):
        register_ui(up, name.strip(), store, options)


def register_ui(up, name: str, store: str, options: dict) -> None:
    bar = st.progress(0.0, text="Starting")
    try:
        with st.status(f"Registering {up.name} as {name}", expanded=True) as status:
            version, new = view.register_upload(
                up.getvalue(),
                up.name,
                name,
                store,
                progress=lambda f, text: bar.progress(f, text=text),
                **options,
            )
            status.update(label=f"Registered {version.ref}", state="complete")
    except NeuralForgeError as err:
        bar.progress(1.0, text="Refused: nothing was stored")
        show_error(err)
        return
    stats = version.stats
    text = (
        f"Registered {name} v{version.number} ({version.version}): {stats['samples']:,} samples, "
        f"{version.task}, input {tuple(version.input_shape)}"
        + (f", parent {version.parent}" if version.parent else "")
        + "."
        if new
        else f"{name} v{version.number} ({version.version}) already holds this content; nothing new stored."
    )
    saved(version, text + "".join(f"\n\nWarning: {w}" for w in stats["warnings"]))


def split_ui(ref: str, version: dict | None, store: str) -> None:
    from neural_engine.data.splits import SplitSpec

    ds = load(ref, store)
    if ds is None:
        return
    current = (version or {}).get("split") or {
        "ratios": [0.7, 0.15, 0.15],
        "seed": 0,
        "stratify": ds.task == "classification",
    }
    c = st.columns(5)
    ratios = [
        c[i].number_input(f"{part} %", 0.0, 100.0, round(current["ratios"][i] * 100, 6), step=5.0)
        for i, part in enumerate(("Train", "Val", "Test"))
    ]
    stratify = c[3].checkbox(
        "Stratify",
        value=current["stratify"],
        disabled=ds.task != "classification",
        help="keep every class's share in each part (classification)",
    )
    seed = c[4].number_input("Seed", 0, 2**31 - 1, int(current["seed"]))
    if ds.official_test is not None:
        st.caption("This dataset's official test set stays the test part; train and val divide the rest.")
    try:
        spec = SplitSpec.parse(",".join(map(repr, ratios)), stratify=stratify, seed=int(seed))
    except DatasetError as err:
        show_error(err)
        return
    result = cache.split_parts(ref, store, json.dumps(spec.to_json()))
    if "error" in result:
        show_error(result["error"])
        return
    parts = result["parts"]
    m = st.columns(3)
    for col, (part, idx) in zip(m, parts.items()):
        col.metric(part, f"{len(idx):,}")
    if ds.task == "classification":
        table = view.split_table(ds.y, parts, ds.classes)
        st.dataframe(table, hide_index=True)
        long = table.filter(table["class"] != "all").unpivot(
            index="class", on=["train", "val", "test"], variable_name="part", value_name="samples"
        )
        st.altair_chart(
            alt.Chart(long.to_pandas())
            .mark_bar()
            .encode(
                x=alt.X("class:N", sort=None),
                y="samples:Q",
                color=alt.Color("part:N", sort=["train", "val", "test"]),
                tooltip=["class", "part", "samples"],
            ),
            width="stretch",
        )
    if version is None:
        st.info(
            "Built-in datasets are not versioned: training computes this split on load. "
            "Register a copy (Overview tab) to save splits as versions."
        )
    elif st.button("Save this split as a new version", type="primary"):
        from neural_engine.data.registry import derive

        try:
            v = derive(ref, split=spec, storage=store)
        except NeuralForgeError as err:
            show_error(err)
            return
        saved(
            v,
            f"Saved the split as {v.name} v{v.number} ({v.version}): "
            + ", ".join(f"{k} {n:,}" for k, n in v.split["counts"].items())
            + ".",
        )


def augment_ui(ref: str, version: dict | None, kind: str, store: str) -> None:
    if kind != "image":
        st.info(f"Augmentation pipelines apply to image datasets; {ref} is {kind}.")
        return
    ops = state.get(state.PIPELINE) or []
    left, right = st.columns(2)
    with left:
        add_step_ui(ops)
    with right:
        steps_ui(ops)
        pipeline_io_ui(ops, ref, version, store)
    preview_ui(ops, ref, store)


def add_step_ui(ops: list[dict]) -> None:
    """A step from the engine's schema, each parameter typed by its check (kind, range, choices)."""
    from neural_engine.data.augment import SCHEMA, param_docs

    op_type = st.selectbox(
        "Operation", list(SCHEMA), key="augment_op", format_func=lambda t: f"{t}: {SCHEMA[t].doc}"
    )
    docs = param_docs(op_type)
    values = {}
    for d in docs:
        try:
            values[d.name] = augment_param_input(d, key=f"augment_{op_type}_{d.name}")
        except ValueError as err:
            st.error(str(err))
            return
    params = view.step_params({d.name: d.default for d in docs}, values, {d.name for d in docs if d.required})
    if st.button("Add step", type="primary"):
        set_pipeline([*ops, {"type": op_type, "params": params}])


def set_pipeline(ops) -> None:
    """Check ``ops`` with the engine; store them and rerun, or show why not."""
    from neural_engine.data.augment import Pipeline

    try:
        state.put(state.PIPELINE, Pipeline.from_json(ops).to_json())
    except NeuralForgeError as err:
        show_error(err)
        return
    st.rerun()


def steps_ui(ops: list[dict]) -> None:
    st.markdown(f"**Pipeline** ({len(ops)} step{'s' if len(ops) != 1 else ''})")
    if not ops:
        st.caption("No steps yet: add one on the left.")
    for i, op in enumerate(ops):
        c = st.columns([8, 1, 1, 1], vertical_alignment="center")
        c[0].markdown(f"{i + 1}. `{view.op_label(op)}`")
        if c[1].button("↑", key=f"augment_up_{i}", disabled=i == 0, help="move up"):
            set_pipeline(view.move(ops, i, -1))
        if c[2].button("↓", key=f"augment_down_{i}", disabled=i == len(ops) - 1, help="move down"):
            set_pipeline(view.move(ops, i, 1))
        if c[3].button("✕", key=f"augment_remove_{i}", help="remove"):
            set_pipeline(view.remove(ops, i))


def pipeline_io_ui(ops: list[dict], ref: str, version: dict | None, store: str) -> None:
    text = json.dumps(ops, indent=2)
    with st.expander("Pipeline JSON: save or load"):
        edited = st.text_area("Pipeline JSON", value=text, height=180)
        c = st.columns(2)
        if c[0].button("Apply JSON"):
            load_pipeline(edited)
        c[1].download_button(
            "Download JSON", text, file_name=f"{ref.partition('@')[0]}-pipeline.json", mime="application/json"
        )
        up = st.file_uploader("Load a pipeline file", type=["json"], key="augment_file")
        if up is not None and st.button("Load file"):
            load_pipeline(up.getvalue().decode("utf-8", errors="replace"))
        if version and version.get("pipeline") and st.button("Use this version's pipeline"):
            set_pipeline(version["pipeline"])
    if version is None:
        st.caption(
            "Built-ins are not versioned: download the JSON, or register a copy (Overview) to save it."
        )
    elif ops and st.button("Save pipeline as a new version"):
        from neural_engine.data.registry import derive

        try:
            v = derive(ref, pipeline=ops, storage=store)
        except NeuralForgeError as err:
            show_error(err)
            return
        saved(v, f"Saved the pipeline as {v.name} v{v.number} ({v.version}), {len(ops)} steps.")


def load_pipeline(text: str) -> None:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        st.error(f"A pipeline must be a JSON list of operations; the text is not JSON ({err}).")
        return
    set_pipeline(doc)


def preview_ui(ops: list[dict], ref: str, store: str) -> None:
    st.markdown("**Preview** (the same samples before and after, seeded)")
    c = st.columns(2)
    n = c[0].slider("Preview samples", 1, 16, 8)
    seed = c[1].number_input("Preview seed", 0, 2**31 - 1, 0)
    if not ops:
        st.caption("Add a step to see it on real samples.")
        return
    ds = load(ref, store)
    if ds is None:
        return
    result = cache.augment_preview(ref, store, json.dumps(ops, sort_keys=True), n, int(seed))
    if "error" in result:
        show_error(result["error"])
        return
    captions = [
        f"#{i} · {ds.classes[int(ds.y[i])]}" if ds.task == "classification" and ds.classes else f"#{i}"
        for i in result["indices"]
    ]
    st.markdown("Before")
    st.image([view.enlarge(a) for a in result["originals"]], caption=captions, width=64)
    st.markdown("After")
    st.image([view.enlarge(a) for a in result["augmented"]], caption=captions, width=64)


st.title("Datasets")
state.show_flash()
STORE = settings().storage
registered = catalog_ui(STORE)
ref, version = picker_ui(registered)
kind = version["kind"] if version else catalog.entry(ref).kind
tabs = st.tabs(TABS, key=state.DATASETS_TAB, on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        overview_ui(ref, version, STORE)
with tabs[1]:
    if tabs[1].open:
        upload_ui(STORE)
with tabs[2]:
    if tabs[2].open:
        split_ui(ref, version, STORE)
with tabs[3]:
    if tabs[3].open:
        augment_ui(ref, version, kind, STORE)
