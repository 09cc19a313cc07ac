"""``neuralforge export``: export a trained MLflow run (its ``setup/graph.json`` and
``checkpoints/best.pt``), a checkpoint, or an untrained graph; validate; record it on the run.

    neuralforge export RUN_ID -o model.onnx --quantize all   # model.onnx, model.report.md, …
    neuralforge export RUN_ID --format pt2 --prune 0.5 --finetune-epochs 1
    neuralforge export --template mnist_cnn --input-shape 8,8,1 --dataset digits   # random weights

Formats: ``onnx`` (the dynamo exporter; the legacy one where it fails, ``--onnx-exporter``),
``pt2`` (a ``torch.export`` program, the PyTorch-native format) and ``torchscript`` (legacy).

``-o FILE`` writes the model exactly at FILE (its suffix the format's: ``.onnx``, ``.pt2``,
``.pt``); the rest goes beside it named after its stem — ``m.report.md``, ``m.report.json``,
``m.fp16.onnx``…, ``m-serving/`` — or into ``--out-dir DIR``. Without ``-o`` everything lands in
one folder, ``<home>/exports/<run id or network>/<format>[-pruned<N>]/`` or ``--out-dir DIR``:
``model.onnx``, ``report.md``, ``report.json``, ``serving/``. Files that fail their checks go to
``rejected/`` (nothing is left at FILE). Progress goes to standard error; ``--json`` prints the
report alone on standard output.

A run's export is validated on the run's dataset (test split) and recorded on the run under
``export/<format>[-pruned<N>]/`` in the folder layout (``model.onnx``, whatever ``-o`` named it):
the model files that passed, ``report.json``, ``report.md`` (validation, latency and the comparison
of variants), the serving bundles; metrics ``export.<format>.*``; the tags
``neuralforge.export.<format>`` = ``valid`` or ``failed`` and ``neuralforge.export.<format>.exporter``
(``dynamo``, ``legacy (dynamo failed: …)``, ``torch.export``…); and for a valid ONNX export the
model in MLflow's ONNX flavour (``onnx_model``). A failed validation exits 1 and registers no model
file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from neural_engine.checkpoints import load_checkpoint
from neural_engine.data import SplitSpec, load
from neural_engine.errors import ExportError, NeuralForgeError
from neural_engine.ir import Graph
from neural_engine.settings import settings
from ray_jobs.entry import module_main
from ray_jobs.tracking import client

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from neural_engine.cli import _add_graph_source
    from neural_engine.export.onnx_export import DEFAULT_OPSET, EXPORTERS
    from neural_engine.export.pipeline import FORMATS
    from neural_engine.export.prune import METHODS

    _add_graph_source(p)
    p.description = (p.description or "") + " FILE may be an MLflow run id."
    p.add_argument("--checkpoint", help="graph sources: a state dict (.pt) of the trained network")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="onnx",
        help="onnx (the dynamo exporter, the legacy one where it fails; default), "
        "pt2 (a torch.export program, the PyTorch-native format), torchscript (legacy)",
    )
    p.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset (default {DEFAULT_OPSET}; 17 through onnx's converter; up to 20)",
    )
    p.add_argument(
        "--onnx-exporter",
        choices=EXPORTERS,
        default="auto",
        help="auto: dynamo, the legacy exporter where it fails (default); dynamo: no fallback; "
        "legacy: the TorchScript-based exporter",
    )
    p.add_argument(
        "--quantize",
        help="ONNX variants to measure: fp16, int8-dynamic, int8-static "
        "(comma-separated) or all; the advisor recommends one",
    )
    p.add_argument("--prune", type=float, help="magnitude-prune to this sparsity first, e.g. 0.5")
    p.add_argument("--prune-method", choices=METHODS, default="unstructured")
    p.add_argument("--finetune-epochs", type=int, default=0, help="fine-tune after pruning (needs data)")
    p.add_argument("--dataset", help="validation data (default: the run's dataset; none: random inputs)")
    p.add_argument("--samples", type=int, default=100, help="validation samples (default: 100)")
    p.add_argument("--max-abs-diff", type=float, default=1e-4, help="fp32: fail above this (default: 1e-4)")
    p.add_argument(
        "--min-agreement", type=float, default=1.0, help="fp32: top-1 agreement needed (default: 1)"
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=0.01,
        help="variants: accuracy they may lose vs fp32 (default: 0.01 = 1 point)",
    )
    p.add_argument("--max-batch-size", type=int, default=32, help="serving configs: largest batch")
    p.add_argument("--no-serving", action="store_true", help="skip the Triton/ONNX Runtime bundles")
    p.add_argument(
        "--torchserve",
        action="store_true",
        help="legacy: TorchServe is archived; writes its bundle too",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the model file (.onnx, .pt2, .pt: the format's); reports, variants and serving "
        "bundles beside it, named after it (m.report.md, m.fp16.onnx, m-serving/)",
    )
    p.add_argument(
        "--out-dir",
        metavar="DIR",
        help="folder of the reports, variants and bundles (without -o: of the model too; "
        "default <home>/exports/<run id or network>/<format>)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON (alone on stdout)")


def spec_from_args(args, name: str):
    from neural_engine.export.pipeline import ExportSpec
    from neural_engine.export.quantize import parse_variants
    from neural_engine.export.validate import Thresholds

    return ExportSpec(
        format=args.format,
        opset=args.opset,
        onnx_exporter=args.onnx_exporter,
        quantize=parse_variants(args.quantize),
        prune=args.prune,
        prune_method=args.prune_method,
        finetune_epochs=args.finetune_epochs,
        samples=args.samples,
        serving=not args.no_serving,
        torchserve=args.torchserve,
        max_batch_size=args.max_batch_size,
        name=name,
        thresholds=Thresholds(args.max_abs_diff, args.min_agreement, args.max_accuracy_drop),
    )


# -- sources ----------------------------------------------------------------------------------------


def _client():

    return client(settings().mlflow_uri)


def run_source(run_id: str, directory: Path):
    """(graph, training state dict, dataset, split) of a finished training run."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        run = client.get_run(run_id)
        graph_file = client.download_artifacts(run_id, "setup/graph.json", str(directory))
    except MlflowException as e:
        raise ExportError(
            f"the source must be a training run of {settings().mlflow_uri} with setup/graph.json; "
            f"run {run_id}: {str(e).splitlines()[0]}",
            hint="`neuralforge jobs list` or the MLflow UI "
            "shows the runs; set MLFLOW_TRACKING_URI for another store",
        ) from None
    try:
        checkpoint = client.download_artifacts(run_id, "checkpoints/best.pt", str(directory))
    except MlflowException:
        raise ExportError(
            f"run {run_id} must have finished training (checkpoints/best.pt); its status is "
            f"{run.info.status}",
            hint="export a FINISHED run",
        ) from None
    graph = Graph.from_json(json.loads(Path(graph_file).read_text()))
    state = load_checkpoint(checkpoint, what=f"run {run_id}'s best weights")
    dataset, split = _run_dataset(run.data.params)
    return graph, state, dataset, split


def _run_dataset(params: dict):
    """The run's dataset (``name@version`` when that version is registered) and its split."""

    name, version = params.get("dataset"), params.get("dataset_version")
    if not name:
        return None, None
    dataset = name
    if version:
        try:
            load(f"{name}@{version}")
            dataset = f"{name}@{version}"
        except NeuralForgeError:
            pass
    split, text = None, params.get("split", "")
    if re.fullmatch(r"[\d.]+,[\d.]+,[\d.]+", text):
        ratios = tuple(float(v) / 100 for v in text.split(","))
        split = SplitSpec(ratios, stratify=True, seed=int(params.get("train.seed", 0)))
    return dataset, split


def graph_source(args):
    """(graph, state or None, dataset, split) for a graph file or template, with a checkpoint or not."""
    from neural_engine.cli import load_graph

    graph = load_graph(args)
    state = None
    if args.checkpoint:
        state = load_checkpoint(args.checkpoint, what="--checkpoint")
        if isinstance(state, dict) and "best_weights" in state:  # a training checkpoint's state.pt
            state = state["best_weights"] or state["model"]
    else:
        print(
            "warning: no trained weights (no run id, no --checkpoint): the export has random weights",
            file=sys.stderr,
        )
    return graph, state, args.dataset, None


def is_run_id(text: str | None) -> bool:
    return bool(text) and not Path(text).exists() and RUN_ID.match(text) is not None


# -- recording ------------------------------------------------------------------------------------


def _metrics(result, label: str) -> dict[str, float]:
    r, c = result.report, result.report.comparison
    out = {
        f"export.{label}.max_abs_diff": c.max_abs_diff,
        f"export.{label}.max_rel_diff": c.max_rel_diff,
        f"export.{label}.size_bytes": r.size_bytes,
    }
    if c.agreement is not None:
        out[f"export.{label}.top1_agreement"] = c.agreement
    runtime = next(k for k in r.latency_ms if k != "torch")
    for b in (1, 32):
        out[f"export.{label}.latency_ms_b{b}"] = r.latency_ms[runtime][b]
        out[f"export.{label}.latency_ratio_b{b}"] = r.latency_ms[runtime][b] / r.latency_ms["torch"][b]
    for v in result.variants[1:]:
        key = f"export.{label}.{v.name}"
        out[f"{key}.size_bytes"] = v.size_bytes
        out[f"{key}.latency_ms_b1"] = v.latency_ms[1]
        if v.accuracy_delta is not None:
            out[f"{key}.accuracy_delta"] = v.accuracy_delta
    if result.prune and result.prune.accuracy_delta is not None:
        out[f"export.{label}.prune_accuracy_delta"] = result.prune.accuracy_delta
    return {k: float(v) for k, v in out.items() if v == v and abs(v) != float("inf")}


def record(run_id: str, result, label: str) -> None:
    """Log the export on the run under ``export/<label>/`` in the folder layout (``model.onnx``,
    ``report.json``, ``serving/`` whatever ``-o`` named them; no ``rejected/``): metrics
    ``export.<label>.*``, the tags ``neuralforge.export.<label>`` and its ``.exporter``, the ONNX
    model (valid fp32 ONNX)."""
    from mlflow.entities import Metric, RunTag

    from neural_engine.export.layout import Layout
    from neural_engine.export.pipeline import copy_export

    prefix = f"export/{label}"
    client = _client()
    with tempfile.TemporaryDirectory() as tmp:
        if result.layout.named:  # the run's copy has the names `serve` and the dashboard read
            result = copy_export(result, Layout.folder(tmp, result.report.format))
        layout = result.layout
        for item in [*result.files, layout.report_json, layout.report_md]:
            client.log_artifact(run_id, str(item), prefix)
        if result.bundles:
            client.log_artifacts(run_id, str(layout.serving), f"{prefix}/serving")
        now = int(time.time() * 1000)
        tags = {f"neuralforge.export.{label}": "valid" if result.passed else "failed"}
        if result.report.exporter:
            tags[f"neuralforge.export.{label}.exporter"] = result.report.exporter[:5000]
        if result.advice:
            tags[f"neuralforge.export.{label}.recommended"] = result.advice.recommended
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in _metrics(result, label).items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if label == "onnx" and result.passed:
            _log_onnx_flavour(run_id, result.files[0])


def _log_onnx_flavour(run_id: str, path: Path) -> None:
    import mlflow
    import onnx

    mlflow.set_tracking_uri(settings().mlflow_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.onnx.log_model(onnx.load(str(path)), name="onnx_model", save_as_external_data=False)


# -- the command ----------------------------------------------------------------------------------


def export(args, progress=None) -> tuple[object, str | None]:
    """Run the export the arguments ask for; (ExportResult, run id or None). ``progress``: a
    ``neural_engine.progress.Progress`` (default: silent, as the API and the dashboard want)."""
    from neural_engine.export.layout import check_suffix
    from neural_engine.export.pipeline import run_export
    from neural_engine.progress import SILENT

    progress = progress or SILENT
    run_id = args.file if not args.template and is_run_id(args.file) else None
    if args.output:  # before any download or build: a wrong suffix is refused at once
        check_suffix(Path(args.output), args.format)
    with tempfile.TemporaryDirectory() as tmp:
        if run_id:
            graph, state, dataset, split = run_source(run_id, Path(tmp))
            dataset = args.dataset or dataset
        else:
            graph, state, dataset, split = graph_source(args)
        name = graph.name
        spec = spec_from_args(args, name)
        label = f"{spec.format}-pruned{round(spec.prune * 100)}" if spec.prune else spec.format
        out = args.out_dir or (
            None if args.output else settings().home / "exports" / (run_id or name) / label
        )
        what = f"exporting {name} to {spec.format}, validating on {spec.samples} samples"
        with progress.phase(what):
            result = run_export(
                graph,
                state,
                spec,
                out,
                model_file=args.output,
                dataset=dataset,
                split=split,
                progress=progress,
            )
        if run_id:
            record(run_id, result, label)
    return result, run_id


def run(args) -> int:
    """The ``neuralforge export`` command: 0 when every file passed its checks, else 1."""
    from neural_engine.progress import Progress, emit, json_stdout

    with json_stdout(args.json):
        result, run_id = export(args, Progress(json=args.json))
    if args.json:
        emit(result.to_json())
    else:
        print(result.layout.report_md.read_text())
    where = f" and recorded on MLflow run {run_id}" if run_id else ""
    if not result.passed:
        failures = result.report.failures + [f for v in result.variants for f in v.failures]
        print(
            f"error: the export failed validation: {'; '.join(failures)} "
            f"(report in {result.layout.report_md}{where})",
            file=sys.stderr,
        )
        return 1
    print(f"exported to {result.files[0]} (report {result.layout.report_md}){where}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return module_main("python -m ray_jobs.serve.export", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
