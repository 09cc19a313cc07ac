"""Export: a trained run (or an untrained template) to ONNX or a ``.pt2`` program (TorchScript:
legacy), validated against PyTorch, with quantized variants and the advisor's pick; the files to download; and Ray Serve
deployments (deploy, status, scale, delete).

The work is ``neuralforge export`` (``ray_jobs.serve.export``: a run's export is recorded on the run)
and ``neuralforge serve`` (``ray_jobs.serve``). No Ray cluster is a banner saying what to start.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from app import cache, state
from app import runs_view as view
from neural_engine.errors import NeuralForgeError
from neural_engine.export.pipeline import FORMATS, RANDOM_WEIGHTS
from neural_engine.export.quantize import VARIANTS
from neural_engine.export.report import size
from neural_engine.settings import settings
from neural_engine.templates import TEMPLATES

RANDOM_INPUTS = "(random inputs)"
SOURCES = ("A training run", "A template (untrained)")


def source_ui() -> dict:
    """The source: ``{"source", "template", "input_shape", "dataset", "folder"}`` ({} for none)."""
    if st.radio("Source", SOURCES, horizontal=True, key="export_kind") == SOURCES[0]:
        return run_source_ui()
    c = st.columns(3)
    name = c[0].selectbox(
        "Template", list(TEMPLATES), key="export_template", format_func=lambda n: f"{n} — {TEMPLATES[n].doc}"
    )
    shape = c[1].text_input(
        "Input shape", key="export_input_shape", placeholder="the template's (e.g. 8,8,1)"
    )
    dataset = c[2].selectbox(
        "Validation data",
        [RANDOM_INPUTS, *(r["name"] for r in cache.catalog())],
        key="export_dataset",
        help="the test split of a dataset whose samples fit the input shape",
    )
    st.warning(f"Untrained: {RANDOM_WEIGHTS}.")
    return {
        "source": name,
        "template": True,
        "input_shape": shape,
        "dataset": None if dataset == RANDOM_INPUTS else dataset,
        "folder": cache.template_json(name)["name"],
    }


def run_source_ui() -> dict:
    uri = settings().mlflow_uri
    down = cache.tracking_problem(uri)
    if down:
        st.warning(
            f"MLflow at {uri} is not reachable ({down}): no runs to export. Start the server "
            "or check MLFLOW_TRACKING_URI, or export a template."
        )
        return {}
    finished = [
        r
        for r in cache.runs(uri, status="FINISHED")
        if r.data.tags.get("neuralforge.kind", "train") != "sweep"
    ]  # a sweep has no weights
    if not finished:
        st.info("No finished training runs yet: train one, or export a template.")
        return {}
    labels = {r.info.run_id: view.label(r) for r in finished}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="export_run")
    return {"source": run_id, "template": False, "input_shape": "", "dataset": None, "folder": run_id}


def options_ui() -> dict:
    """Format, variants, serving bundles and thresholds: ``runs_view.export_argv``'s keywords."""
    c = st.columns([1, 2, 1])
    fmt = c[0].radio(
        "Format",
        FORMATS,
        horizontal=True,
        key="export_format",
        help="onnx: the dynamo exporter (the legacy one where it fails); pt2: a torch.export "
        "program, the PyTorch-native format; torchscript: legacy (torch.jit is deprecated)",
    )
    quantize = c[1].multiselect(
        "Quantized variants (ONNX)",
        VARIANTS,
        key="export_quantize",
        disabled=fmt != "onnx",
        help="each measured against fp32; the advisor picks one",
    )
    serving = c[2].checkbox(
        "Serving configs",
        value=True,
        key="export_serving",
        help="Triton and ONNX Runtime bundles (the legacy TorchServe one: `neuralforge export --torchserve`)",
    )
    with st.expander("Validation thresholds"):
        t = st.columns(4)
        samples = t[0].number_input("Samples", 1, 10_000, 100, key="export_samples")
        max_abs = t[1].number_input(
            "fp32: max abs diff", 0.0, 1.0, 1e-4, format="%.1e", key="export_max_abs_diff"
        )
        agreement = t[2].number_input("fp32: top-1 agreement", 0.0, 1.0, 1.0, key="export_min_agreement")
        drop = t[3].number_input(
            "Variants: max accuracy drop", 0.0, 1.0, 0.01, key="export_max_accuracy_drop"
        )
    return {
        "fmt": fmt,
        "quantize": quantize if fmt == "onnx" else [],
        "serving": serving,
        "samples": int(samples),
        "max_abs_diff": max_abs,
        "min_agreement": agreement,
        "max_accuracy_drop": drop,
    }


def run_export(source: dict, options: dict) -> dict | None:
    """``neuralforge export`` with the page's choices, its progress read from the files it writes;
    the result for :func:`result_ui` (None when it raised, with the error shown)."""
    from ray_jobs.serve import export as export_cmd

    fmt = options["fmt"]
    out = settings().home / "exports" / source["folder"] / fmt  # the CLI's default folder
    argv = view.export_argv(
        source["source"],
        template=source["template"],
        input_shape=source["input_shape"],
        dataset=source["dataset"],
        **options,
    ) + ["--out-dir", str(out)]
    parser = argparse.ArgumentParser(prog="neuralforge export", exit_on_error=False)
    export_cmd.add_arguments(parser)
    expected, started = view.export_files(fmt, options["quantize"]), time.time()
    with st.status(f"Exporting {source['source']} to {fmt} and validating…", expanded=True) as box:
        bar = st.progress(0.0, text="building the module")
        with ThreadPoolExecutor(1) as pool, one_torch_thread():
            job = pool.submit(export_cmd.export, parser.parse_args(argv))
            while not job.done():
                done = view.export_progress(out, expected, started)
                bar.progress(done, text=f"{done:.0%} of the files written and checked")
                time.sleep(0.2)
        try:
            result, run_id = job.result()
        except NeuralForgeError as err:
            box.update(label="Export failed", state="error")
            st.error(view.error_text(err))
            return None
        bar.progress(1.0, text="done")
        box.update(
            label="Export valid" if result.passed else "Export failed validation",
            state="complete" if result.passed else "error",
            expanded=False,
        )
    return {
        "directory": str(result.directory),
        "run_id": run_id,
        "source": source["source"],
        "format": fmt,
        "report": json.loads((result.directory / "report.json").read_text()),
        "markdown": (result.directory / "report.md").read_text(),
    }


@contextmanager
def one_torch_thread():
    """Torch on one thread while exporting: in the dashboard's process, beside the server and
    Ray, two threads made PyTorch's latencies 100x slower here (and the report's ratios wrong)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def result_ui(res: dict) -> None:
    report, v = res["report"], res["report"]["validation"]
    where = f" and recorded on run {res['run_id']}" if res["run_id"] else ""
    st.caption(f"Last export: {res['source']} to {res['format']}")
    if report["passed"]:
        st.success(
            f"Valid: {v['file']} computes what the PyTorch module does on {v['samples']} samples "
            f"({v['sample_source']}); saved in {res['directory']}{where}."
        )
    else:
        failures = v["failures"] + [f"{x['name']}: {f}" for x in report["variants"] for f in x["failures"]]
        st.error(f"The export failed validation: {'; '.join(failures)} (report in {res['directory']}{where})")
    key_numbers_ui(v)
    if report["variants"]:
        st.subheader("Quantized variants")
        st.dataframe(view.variants_frame(report["variants"]), hide_index=True, width="stretch")
        advice = report["advice"]
        st.info(f"Recommended: **{advice['recommended']}** — {advice['reason']}")
        for flag in advice["flags"]:
            st.warning(flag)
    with st.expander("Validation report", expanded=not report["variants"]):
        st.markdown(res["markdown"])
    downloads_ui(Path(res["directory"]), report)


def key_numbers_ui(v: dict) -> None:
    """The validation's numbers; ``v`` is report.json's ``validation`` (batch sizes are text there)."""
    c, runtime = v["comparison"], next(k for k in v["latency_ms"] if k != "torch")
    accuracy = v["accuracy"].get(runtime)
    m = st.columns(5)
    m[0].metric(
        "max abs diff", f"{c['max_abs_diff']:.2e}", help=f"threshold {v['thresholds']['max_abs_diff']:g}"
    )
    m[1].metric("top-1 agreement", "–" if c["agreement"] is None else f"{c['agreement']:.1%}")
    m[2].metric("file size", size(v["size_bytes"]))
    ratio = v["latency_ms"][runtime]["1"] / v["latency_ms"]["torch"]["1"]
    m[3].metric(f"{runtime} / torch latency", f"{ratio:.3g}x", help="batch 1, median; below 1 is faster")
    m[4].metric(f"accuracy ({runtime})", "–" if accuracy is None else f"{accuracy:.1%}")


def downloads_ui(directory: Path, report: dict) -> None:
    names = [*report["files"], "report.md", "report.json"]
    cols = st.columns(3)
    for k, name in enumerate(names):
        cols[k % 3].download_button(
            name,
            lambda p=directory / name: p.read_bytes(),
            name,
            on_click="ignore",
            icon=":material/download:",
            key=f"export_download_{name}",
            width="stretch",
        )
    if report["serving"]:
        cols[len(names) % 3].download_button(
            "serving configs (zip)",
            lambda: zipped(directory / "serving"),
            "serving.zip",
            "application/zip",
            on_click="ignore",
            icon=":material/download:",
            key="export_download_serving",
            width="stretch",
        )


def zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder.parent))
    return buf.getvalue()


def serve_ui(res: dict | None, source: dict) -> None:
    """Ray Serve: the deployments, and deploy / scale / delete (``ray_jobs.serve``)."""
    from ray_jobs import serve

    st.header("Serve on Ray")
    try:
        client = serve.Serve()
        deployments = serve.status(client)
    except NeuralForgeError as err:
        st.warning(f"Ray Serve needs a running Ray cluster: {view.error_text(err)}")
        return
    if deployments:
        st.dataframe([deployment_row(d) for d in deployments], hide_index=True, width="stretch")
    else:
        st.caption("No deployments yet.")
    model = deploy_source(res, source)
    c = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    name = c[0].text_input(
        "Deployment name", value=str(source.get("folder", "model")).lower(), key="serve_name"
    )
    replicas = c[1].number_input("Replicas", 1, 64, 1, key="serve_replicas")
    cpus = c[2].number_input("CPUs per replica", 0.0, 64.0, 1.0, 0.25, key="serve_cpus")
    if c[3].button(
        "Deploy",
        key="serve_deploy",
        disabled=model is None,
        help=f"serve {model}" if model else "export to ONNX first (or choose a run)",
    ):
        args = argparse.Namespace(
            source=model,
            name=name.strip(),
            replicas=int(replicas),
            canary_share=None,
            cpus=float(cpus),
            port=8000,
            timeout=180,
        )
        act(
            lambda: serve.deploy(client, args), f"Deployed {args.name}: POST JSON to its URL (see the table)."
        )
    if not deployments:
        return
    c = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    target = c[0].selectbox("Deployment", [d["name"] for d in deployments], key="serve_target")
    count = int(c[1].number_input("Replicas", 1, 64, 1, key="serve_scale_replicas"))
    if c[2].button("Scale", key="serve_scale"):
        scale = argparse.Namespace(
            action="scale", name=target, replicas=count, canary=False, address=None, timeout=180
        )
        act(lambda: serve.run(scale), f"{target} scaled to {count}.")
    if c[3].button("Delete", key="serve_delete"):
        delete = argparse.Namespace(action="delete", name=target, address=None, timeout=180)
        act(lambda: serve.run(delete), f"Deleted {target}.")


def deployment_row(d: dict) -> dict:
    """A row of ``serve status`` for the table."""
    canary = d["canary"] and f"{d['canary']['version']} ({d['canary']['share']:.0%})"
    return {
        "name": d["name"],
        "status": d["status"],
        "url": d["url"],
        "version": d["stable"]["version"],
        "source": d["stable"]["source"],
        "replicas": d["stable"]["replicas"],
        "canary": canary or "",
    }


def deploy_source(res: dict | None, source: dict) -> str | None:
    """What Deploy serves: the valid ONNX file just exported from this source, else the chosen run
    (``serve`` exports it to ONNX if it has no valid export), else nothing."""
    if res and res["format"] == "onnx" and res["report"]["passed"] and res["source"] == source.get("source"):
        return str(Path(res["directory"]) / "model.onnx")
    return None if source.get("template", True) else source["source"]


def act(call, done: str) -> None:
    """Run a Serve change (it waits for the replicas); an error stays on the page, success is
    flashed over the rerun that shows the new status."""
    with st.spinner("Waiting for Ray Serve…"):
        try:
            call()
        except NeuralForgeError as err:
            st.error(view.error_text(err))
            return
    state.flash("success", done)
    st.rerun()


def main() -> None:
    st.title("Export")
    state.show_flash()
    source = source_ui()
    options = options_ui()
    if st.button("Export and validate", type="primary", disabled=not source, key="export_go"):
        state.put(state.EXPORT_RESULT, run_export(source, options))
    res = state.get(state.EXPORT_RESULT)
    if res:
        result_ui(res)
    serve_ui(res, source)


main()
