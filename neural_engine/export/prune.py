"""Magnitude pruning with ``torch.nn.utils.prune``, to a target sparsity, optionally fine-tuned.

- ``unstructured``: the smallest-magnitude weights across every Conv/Linear layer (global L1).
- ``structured``: in each Conv/Linear layer, the output channels (rows) with the smallest L1
  norm; the layers that produce the network's outputs keep all their channels (they are classes).

Pruning works on the training build (``logits=True``) and returns its state dict, so the export
loads it like any checkpoint. Zeros are stored densely: the ONNX file keeps its size (the report
gives the compressed size), speed-ups need sparse kernels or removing channels.

>>> from neural_engine.templates import template
>>> g = template("mnist_cnn", input_shape=(8, 8, 1))
>>> state, report = prune_state(g, None, 0.5, "unstructured")
>>> round(report.sparsity, 2), report.layers
(0.5, 4)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from neural_engine.errors import ExportError

METHODS = ("unstructured", "structured")


def _prunable():
    from torch import nn

    return (
        nn.Conv1d,
        nn.Conv2d,
        nn.Conv3d,
        nn.ConvTranspose1d,
        nn.ConvTranspose2d,
        nn.ConvTranspose3d,
        nn.Linear,
    )


@dataclass
class PruneReport:
    method: str
    target_sparsity: float
    sparsity: float = 0.0  # zeros / weights over the pruned layers
    layers: int = 0
    accuracy_before: float | None = None
    accuracy_pruned: float | None = None
    accuracy_finetuned: float | None = None
    accuracy_delta: float | None = None  # final - before
    finetune_epochs: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _targets(model, graph, method: str) -> list:
    from neural_engine.build import _key

    heads = {id(m) for o in _outputs(graph) for m in model.layers[_key(o)].modules()}
    return [
        (m, "weight")
        for m in model.modules()
        if isinstance(m, _prunable()) and not (method == "structured" and id(m) in heads)
    ]


def _outputs(graph) -> list[str]:
    from neural_engine.shapes import propagate

    return list(propagate(graph).outputs)


def check(sparsity, method: str) -> None:
    if method not in METHODS:
        raise ExportError(f"--prune-method must be one of {', '.join(METHODS)}; received {method!r}")
    if not isinstance(sparsity, int | float) or isinstance(sparsity, bool) or not 0 < sparsity < 1:
        raise ExportError(f"--prune must be a sparsity between 0 and 1 (exclusive); received {sparsity!r}")


def apply_pruning(model, graph, sparsity: float, method: str) -> tuple[int, float]:
    """Prune ``model`` in place (masks stay until :func:`make_permanent`); (layers, sparsity reached)."""
    from torch.nn.utils import prune

    check(sparsity, method)
    targets = _targets(model, graph, method)
    if not targets:
        raise ExportError(f"{method} pruning needs Conv or Dense layers; the network has none to prune")
    if method == "unstructured":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(sparsity))
    else:
        for module, name in targets:
            prune.ln_structured(module, name, amount=float(sparsity), n=1, dim=0)
    zeros = sum(int((getattr(m, n) == 0).sum()) for m, n in targets)
    total = sum(getattr(m, n).numel() for m, n in targets)
    return len(targets), zeros / total


def make_permanent(model) -> None:
    from torch.nn.utils import prune

    for module in model.modules():
        if prune.is_pruned(module) and hasattr(module, "weight_orig"):
            prune.remove(module, "weight")


def _accuracy(model, samples) -> float | None:
    import torch

    if samples is None or samples.labels is None:
        return None
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start, batch in zip(range(0, len(samples), 256), samples.batches(256)):
            pred = model(*batch).argmax(1)
            correct += int((pred == samples.labels[start : start + 256]).sum())
    return correct / len(samples)


def finetune(model, graph, loader, epochs: int, lr: float = 1e-3) -> None:
    """A few epochs of plain training (masks keep pruned weights at zero)."""
    import torch

    from neural_engine.objectives import make_loss

    loss_fn = make_loss(graph.training.get("loss") or "sparse_categorical_crossentropy")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for *inputs, target in loader:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(*inputs), target).backward()
            optimizer.step()
    model.eval()


def prune_state(
    graph,
    state: dict | None,
    sparsity: float,
    method: str = "unstructured",
    *,
    samples=None,
    train_loader=None,
    finetune_epochs: int = 0,
    lr: float = 1e-3,
    seed: int = 0,
):
    """Prune the training build's weights; ``(state dict, PruneReport)``. Accuracies need labelled
    ``samples``; fine-tuning needs ``train_loader``."""
    import torch

    from neural_engine.build import build

    torch.manual_seed(seed)
    model = build(graph, logits=True)
    if state is not None:
        model.load_state_dict(state)
    report = PruneReport(method, float(sparsity), finetune_epochs=finetune_epochs)
    report.accuracy_before = _accuracy(model, samples)
    report.layers, report.sparsity = apply_pruning(model, graph, sparsity, method)
    report.accuracy_pruned = _accuracy(model, samples)
    if finetune_epochs:
        if train_loader is None:
            raise ExportError(
                "--finetune-epochs needs a dataset to train on; received none",
                hint="give --dataset, or leave out --finetune-epochs",
            )
        finetune(model, graph, train_loader, finetune_epochs, lr)
        report.accuracy_finetuned = _accuracy(model, samples)
    make_permanent(model)
    final = report.accuracy_finetuned if finetune_epochs else report.accuracy_pruned
    if final is not None and report.accuracy_before is not None:
        report.accuracy_delta = final - report.accuracy_before
    if state is None:
        report.notes.append("random weights: accuracy changes are not meaningful")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, report
