"""Evaluate a trained network: metrics, tables and figures, logged to its MLflow run.

    neuralforge evaluate RUN_ID [--split test]

Every training run calls :func:`evaluate_and_log` on its best weights at the end
(``ray_jobs.train.finish``); the command does the same later for any finished run, from the run's own
artifacts (``setup/`` and ``checkpoints/best.pt``). Metrics are :mod:`neural_engine.metrics`'s:
classification — accuracy, macro precision/recall/F1, one-vs-rest AUC, a per-class table, the
confusion matrix (JSON and a heatmap) and a grid of misclassified examples; segmentation — Dice,
IoU, pixel accuracy; regression — MSE, MAE, R². On the run: metrics ``test_<name>`` (other
splits: ``eval_<split>_<name>``, leaving the training curves alone), files under
``evaluation/<split>/``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neural_engine.data import make_loaders
from neural_engine.metrics import Report, classification_report, regression_report, segmentation_report
from neural_engine.objectives import make_loss
from neural_engine.progress import Progress, emit
from ray_jobs.entry import module_main
from ray_jobs.runs.load import load_run
from ray_jobs.runs.plots import confusion_png, examples_png

GRID = 25  # misclassified examples shown


@dataclass
class Evaluation:
    split: str
    task: str
    loss: float
    report: Report
    examples: list  # (image CHW, true, predicted) of misclassified samples, up to GRID
    classes: tuple

    def metrics(self) -> dict[str, float]:
        """The metrics as logged on the run."""
        prefix = "test_" if self.split == "test" else f"eval_{self.split}_"
        values = {"loss": self.loss, **self.report.metrics}
        return {prefix + k: v for k, v in values.items() if not np.isnan(v)}


@torch.no_grad()
def evaluate_model(
    model, loader, *, task: str, classes=(), loss_fn=None, split: str = "test", max_batches: int | None = None
) -> Evaluation:
    """Run ``model`` (logits out) over ``loader`` on the CPU and score its predictions."""
    model = model.eval().cpu()
    targets, outputs, examples, loss_sum, count = [], [], [], 0.0, 0
    for i, (*inputs, target) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        out = model(*inputs)
        if loss_fn is not None:
            loss_sum += float(loss_fn(out, target)) * target.shape[0]
        count += target.shape[0]
        scores = _scores(out, task)
        if task == "classification" and len(examples) < GRID and inputs[0].dim() == 4:
            wrong = torch.nonzero(scores.argmax(1) != target).flatten()
            examples += [
                (inputs[0][j], int(target[j]), int(scores[j].argmax())) for j in wrong[: GRID - len(examples)]
            ]
        targets.append(target.numpy())
        outputs.append(scores.numpy())
    y, s = np.concatenate(targets), np.concatenate(outputs)
    if task == "classification":
        report = classification_report(y, s, classes)
    elif task == "segmentation":
        report = segmentation_report(y, s.argmax(1), classes)
    else:
        report = regression_report(y, s)
    return Evaluation(split, task, loss_sum / max(count, 1), report, examples, tuple(classes))


def _scores(out: torch.Tensor, task: str) -> torch.Tensor:
    """Class probabilities (N, C[, H, W]) for classification and segmentation, values for regression."""
    out = out.float()
    if task == "regression":
        return out.reshape(out.shape[0], -1).squeeze(1) if out[0].numel() == 1 else out
    if out.shape[1] == 1:  # one sigmoid unit: two classes
        p = torch.sigmoid(out)
        return torch.cat([1 - p, p], 1)
    return torch.softmax(out, 1)


# ---- files and figures --------------------------------------------------------------------


def files(ev: Evaluation) -> dict[str, bytes]:
    """``evaluation/<split>/`` artifacts: metrics, per-class table (JSON, CSV), confusion matrix
    (JSON, PNG) and misclassified examples (PNG)."""
    r = ev.report
    out = {"metrics.json": json.dumps(ev.metrics(), indent=1).encode()}
    if r.per_class:
        out["per_class.json"] = json.dumps(r.per_class, indent=1).encode()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(r.per_class[0]))
        writer.writeheader()
        writer.writerows(r.per_class)
        out["per_class.csv"] = buf.getvalue().encode()
    if r.confusion is not None:
        out["confusion_matrix.json"] = json.dumps(
            {
                "classes": list(ev.classes),
                "rows": "true",
                "columns": "predicted",
                "matrix": r.confusion.tolist(),
            }
        ).encode()
        out["confusion_matrix.png"] = confusion_png(r.confusion, ev.classes)
    if ev.examples:
        out["misclassified.png"] = examples_png(ev.examples, ev.classes)
    return out


def log(client, run_id: str, ev: Evaluation) -> None:
    """Metrics and files of ``ev`` on the run."""

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(
        run_id, metrics=[Metric(k, float(v), now, 0) for k, v in ev.metrics().items()], synchronous=True
    )
    with tempfile.TemporaryDirectory() as d:
        write_files(ev, d)
        client.log_artifacts(run_id, d, f"evaluation/{ev.split}")


# ---- the command --------------------------------------------------------------------------


def evaluate_run(run_id: str, split: str = "test") -> Evaluation:
    """Evaluate a finished run's best weights on ``split`` and log the results to the run (a sweep's
    parent run: its best trial's run)."""
    from mlflow.tracking import MlflowClient

    source = load_run(run_id)
    h, dataset = source.hyper, source.dataset
    model = source.model()
    loaders = make_loaders(
        dataset, source.loop_config["split"], h.batch_size, source.config.pipeline, seed=h.seed
    )
    ev = evaluate_model(
        model,
        loaders[split],
        task=dataset.task,
        classes=dataset.classes,
        loss_fn=make_loss(h.loss),
        split=split,
    )
    log(MlflowClient(source.tracking_uri), source.run_id, ev)
    return ev


def write_files(ev: Evaluation, folder: str | Path) -> list[Path]:
    """The evaluation's files (:func:`files`) in ``folder`` (made if missing); their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files(ev).items():
        (folder / name).write_bytes(data)
        written.append(folder / name)
    return written


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", help="an MLflow run (a training run, a sweep trial, or a sweep: its best trial)")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="also write the files (metrics.json, per-class table, confusion matrix and misclassified "
        "PNGs) into DIR; they always go to the run's evaluation/<split>/",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run(args: argparse.Namespace) -> int:
    progress = Progress(json=args.json)
    progress.line(f"evaluating run {args.run_id} on the {args.split} split")
    ev = evaluate_run(args.run_id, args.split)
    metrics = ev.metrics()
    if args.output:
        written = write_files(ev, args.output)
        progress.line(f"wrote {', '.join(p.name for p in written)} to {args.output}")
    if args.json:
        emit(metrics)
        return 0
    for k, v in metrics.items():
        print(f"{k:28} {v:.4f}")
    for row in ev.report.per_class:
        cells = (f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        print("  " + "  ".join(cells))
    return 0


def main(argv: list[str] | None = None) -> int:
    return module_main("python -m ray_jobs.runs.evaluate", __doc__, add_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
