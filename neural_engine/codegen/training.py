"""The training section of a generated PyTorch file: loss, optimizer, ``train()`` and a demo.

Read from ``graph.training``: ``loss`` and ``optimizer`` as a name (``"Adam"``), a call
(``Call("Adam", kwargs={"learning_rate": 1e-3})``) or ``{"name": …, "params": {…}}``; ``epochs``
and ``batch_size`` at the top level or under ``"train"``. Names map through
:mod:`neural_engine.optim` (``LOSSES``, ``OPTIMIZERS``); Keras spellings of optimizer arguments
become torch's (``learning_rate`` -> ``lr``). As in ``build(graph, logits=True)``, an ``Output``
head trains on logits: the demo builds the model with ``logits=True``.
"""

from __future__ import annotations

from neural_engine.codegen.names import comment_text, literal
from neural_engine.errors import ExportError, ValidationError
from neural_engine.modules import NF_MODULES
from neural_engine.objectives import loss_spec, named, optimizer_spec, plain
from neural_engine.shapes import Analysis

DEFAULTS = {"epochs": 10, "batch_size": 32}


def training_section(analysis: Analysis, model) -> str:
    """Source of ``make_loss``, ``make_optimizer``, ``train``, ``random_loader`` and ``__main__``."""
    if len(analysis.outputs) != 1:
        raise ExportError(
            f"the training section needs a network with one output; received "
            f"{len(analysis.outputs)} ({', '.join(analysis.outputs)})",
            hint="generate the model without with_training and write the loss yourself",
        )
    settings = dict(analysis.graph.training)
    loss_name, loss_source = _loss(settings.get("loss", "mse"), model.has_logits_switch)
    epochs, batch = (_count(settings, k) for k in ("epochs", "batch_size"))
    parts = ["# Training " + "-" * 90]
    parts += [
        loss_source,
        _optimizer(settings.get("optimizer", "Adam")),
        TRAIN,
        _random_loader(analysis, loss_name, batch),
        (
            f'if __name__ == "__main__":\n'
            f"    model = {model.name}({'logits=True' if model.has_logits_switch else ''})\n"
            f"    train(model, random_loader(), epochs={epochs})"
        ),
    ]
    return "\n\n\n".join(parts)


TRAIN = '''def train(model, loader, epochs=1, device="cpu"):
    """Train on batches ``(input, ..., target)`` from ``loader``; returns the last batch's loss."""
    loss_fn, optimizer = make_loss(), make_optimizer(model)
    model.to(device).train()
    for epoch in range(epochs):
        for *inputs, target in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(*(t.to(device) for t in inputs)), target.to(device))
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    return loss.item()'''


def _plain(value, what: str):
    try:
        return plain(value, what)
    except ValidationError as err:
        raise ExportError(err.message, hint=err.hint) from None


def _count(settings: dict, key: str) -> int:
    value = settings.get(key, (settings.get("train") or {}).get(key, DEFAULTS[key]))
    value = _plain(value, key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or value != int(value):
        raise ExportError(f"training {key} must be a positive integer; received {value!r}")
    return int(value)


def _kwargs(pairs) -> str:
    return ", ".join(f"{k}={literal(v)}" for k, v in pairs)


def _loss(value, logits: bool) -> tuple[str, str]:
    key, cls, kwargs = _spec(loss_spec, value)
    name = named(value, "loss")[0]
    note = "on logits: the model is built with logits=True" if logits else "on the model's output"
    prefix, _, short = cls.partition(".")
    body = f"    return {cls}({_kwargs(kwargs.items())})"
    if prefix == "nf":
        module = NF_MODULES[short].__module__
        body = f"    from {module} import {short}\n\n    return {short}({_kwargs(kwargs.items())})"
    return key, (
        f'def make_loss():\n    """{key} ({note})."""\n    # loss setting: {comment_text(name)}\n{body}'
    )


def _optimizer(value) -> str:
    cls, kwargs = _spec(optimizer_spec, value)
    extra = _kwargs(kwargs.items())
    return (
        f"def make_optimizer(model):\n    return torch.optim.{cls}(model.parameters()"
        f"{', ' + extra if extra else ''})"
    )


def _spec(fn, value):
    """The shared mapping of :mod:`neural_engine.objectives`, its errors as export errors."""
    try:
        return fn(value)
    except ValidationError as err:
        raise ExportError(err.message, hint=err.hint) from None


def _dims(shape: tuple[int, ...]) -> str:
    """``samples, 1, 28, 28`` (a batch of ``samples``); ``samples,`` for a scalar per sample."""
    return ", ".join(["samples", *map(str, shape)]) + ("," if not shape else "")


def _random_loader(analysis: Analysis, loss: str, batch: int) -> str:
    """Random inputs and targets with the model's shapes, for a smoke run of the script."""
    lines = []
    for name, t in analysis.inputs.items():
        shape = tuple(d or 8 for d in t.shape)
        vocab = [
            i.site.params.get("input_dim", 2)
            for i in analysis.nodes.values()
            if name in i.sources and i.spec.input_dtype == "long"
        ]
        lines.append(
            f"torch.randint(0, {min(vocab)}, ({_dims(shape)}))" if vocab else f"torch.randn({_dims(shape)})"
        )
    out = tuple(d or 8 for d in analysis.nodes[analysis.outputs[0]].output.shape)
    if loss in ("sparse_categorical_crossentropy", "dice", "bce_dice"):
        target = f"torch.randint(0, {out[0]}, ({_dims(out[1:])}))"
    elif loss == "categorical_crossentropy":
        target = f"torch.randn({_dims(out)}).softmax(dim=1)"
    elif loss == "binary_crossentropy":
        target = f"torch.randint(0, 2, ({_dims(out)})).float()"
    else:
        target = f"torch.randn({_dims(out)})"
    inputs = "".join(f"        {x},\n" for x in lines)
    return (
        f"def random_loader(samples=256, batch_size={batch}):\n"
        f'    """Random inputs and targets of the right shapes: replace with your data."""\n'
        f"    data = torch.utils.data.TensorDataset(\n{inputs}        {target},\n    )\n"
        f"    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True)"
    )
