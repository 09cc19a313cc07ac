"""The training section of a generated PyTorch file: loss, optimizer, ``train()`` and a demo.

Read from ``graph.training``: ``loss`` and ``optimizer`` as a name (``"Adam"``), a call
(``Call("Adam", kwargs={"learning_rate": 1e-3})``) or ``{"name": …, "params": {…}}``; ``epochs``
and ``batch_size`` at the top level or under ``"train"``. Names map through
:mod:`neural_engine.optim` (``LOSSES``, ``OPTIMIZERS``); Keras spellings of optimizer arguments
become torch's (``learning_rate`` -> ``lr``). As in ``build(graph, logits=True)``, an ``Output``
head trains on logits: the demo builds the model with ``logits=True``.
"""

from __future__ import annotations

import inspect

import torch

from neural_engine.codegen.names import comment_text, literal
from neural_engine.errors import ExportError
from neural_engine.ir import HPO
from neural_engine.optim import LOSSES, OPTIMIZERS, canonical_loss, optimizer
from neural_engine.shapes import Analysis

# Keras argument name -> torch.optim's (betas are assembled from beta_1 and beta_2)
OPTIMIZER_ARGS = {"learning_rate": "lr", "lr": "lr", "epsilon": "eps", "eps": "eps",
                  "weight_decay": "weight_decay", "momentum": "momentum", "nesterov": "nesterov",
                  "amsgrad": "amsgrad", "rho": "rho", "initial_accumulator_value": "initial_accumulator_value",
                  "dampening": "dampening", "centered": "centered", "alpha": "alpha"}
DEFAULTS = {"epochs": 10, "batch_size": 32}

DICE = '''

class DiceLoss(nn.Module):
    """1 - soft Dice overlap averaged over classes: probabilities (N, C, ...) vs class ids (N, ...)."""

    def __init__(self, with_bce: bool = False):
        super().__init__()
        self.with_bce = with_bce

    def forward(self, probs, target):
        one_hot = nn.functional.one_hot(target, probs.shape[1]).movedim(-1, 1).to(probs.dtype)
        dims = (0, *range(2, probs.dim()))                  # all but the class axis
        overlap = (probs * one_hot).sum(dims)
        total = probs.sum(dims) + one_hot.sum(dims)
        loss = 1 - ((2 * overlap + 1) / (total + 1)).mean()
        if self.with_bce:
            loss = loss + nn.functional.binary_cross_entropy(probs.clamp(1e-6, 1 - 1e-6), one_hot)
        return loss'''


def training_section(analysis: Analysis, model) -> str:
    """Source of ``make_loss``, ``make_optimizer``, ``train``, ``random_loader`` and ``__main__``."""
    if len(analysis.outputs) != 1:
        raise ExportError(f"the training section needs a network with one output; received "
                          f"{len(analysis.outputs)} ({', '.join(analysis.outputs)})",
                          hint="generate the model without with_training and write the loss yourself")
    settings = dict(analysis.graph.training)
    loss_name, loss_source = _loss(settings.get("loss", "mse"), model.has_logits_switch)
    epochs, batch = (_count(settings, k) for k in ("epochs", "batch_size"))
    parts = ["# Training " + "-" * 90]
    if LOSSES[loss_name] in ("DiceLoss", "BCEDiceLoss"):
        parts.append(DICE.strip("\n"))
    parts += [loss_source, _optimizer(settings.get("optimizer", "Adam")), TRAIN,
              _random_loader(analysis, loss_name, batch),
              (f'if __name__ == "__main__":\n'
              f"    model = {model.name}({'logits=True' if model.has_logits_switch else ''})\n"
              f"    train(model, random_loader(), epochs={epochs})")]
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


def _named(value, what: str) -> tuple[str, tuple, dict]:
    """(name, positional args, keyword args) of a setting given as a string, a call or a dict."""
    if isinstance(value, str):
        return value, (), {}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"], tuple(value.get("args", ())), dict(value.get("params") or value.get("kwargs") or {})
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name, tuple(getattr(value, "args", ())), dict(getattr(value, "kwargs", None) or {})
    raise ExportError(f"training {what} must be a name, a call or {{'name', 'params'}}; received {value!r}")


def _plain(value, what: str):
    """A setting's value for the file: an HPO search value gives its default; calls are refused."""
    value = value.default if isinstance(value, HPO) else value
    if not isinstance(value, bool | int | float | str | tuple | type(None)):
        raise ExportError(f"training {what} must be a number, string or bool in generated code; "
                          f"received {value!r}", hint="schedules and callbacks are not exported yet")
    return value


def _count(settings: dict, key: str) -> int:
    value = settings.get(key, (settings.get("train") or {}).get(key, DEFAULTS[key]))
    value = _plain(value, key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or value != int(value):
        raise ExportError(f"training {key} must be a positive integer; received {value!r}")
    return int(value)


def _kwargs(pairs) -> str:
    return ", ".join(f"{k}={literal(v)}" for k, v in pairs)


def _loss(value, logits: bool) -> tuple[str, str]:
    name, args, kwargs = _named(value, "loss")
    key = canonical_loss(name)
    if key is None:
        raise ExportError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    if args:
        raise ExportError(f"loss {name} takes keyword arguments in generated code; received {args!r}",
                          hint=f"write e.g. {name}(delta=1.0)")
    torch_name = LOSSES[key]
    if torch_name in ("DiceLoss", "BCEDiceLoss"):
        cls = "DiceLoss(with_bce=True)" if torch_name == "BCEDiceLoss" else "DiceLoss()"
        body = (f"    dice = {cls}\n    return lambda logits, target: dice(logits.softmax(dim=1), target)"
                if logits else f"    return {cls}")
    else:
        cls = getattr(torch.nn, torch_name)
        _check_args(cls, kwargs, f"loss {name}")
        body = f"    return nn.{torch_name}({_kwargs((k, _plain(v, k)) for k, v in kwargs.items())})"
    note = "on logits: the model is built with logits=True" if logits else "on the model's output"
    return key, (f"def make_loss():\n    \"\"\"{key} ({note}).\"\"\"\n"
                 f"    # loss setting: {comment_text(name)}\n{body}")


def _optimizer(value) -> str:
    name, args, kwargs = _named(value, "optimizer")
    info = optimizer(name)
    if info is None:
        raise ExportError(f"unknown optimizer {name!r}; expected one of "
                          f"{', '.join(o.name for o in OPTIMIZERS.values())}")
    if len(args) > 1:
        raise ExportError(f"optimizer {name} takes at most one positional argument (the learning "
                          f"rate); received {args!r}")
    given = {"learning_rate": args[0]} if args else {}
    given.update(kwargs)
    torch_kwargs, betas = {}, {}
    for key, v in given.items():
        v = _plain(v, f"optimizer {key}")
        if key in ("beta_1", "beta_2"):
            betas[key] = v
        else:
            torch_kwargs[OPTIMIZER_ARGS.get(key, key)] = v
    if betas:
        torch_kwargs["betas"] = (betas.get("beta_1", 0.9), betas.get("beta_2", 0.999))
    cls = getattr(torch.optim, info.torch)
    _check_args(cls, torch_kwargs, f"optimizer {info.name}")
    extra = _kwargs(torch_kwargs.items())
    return (f"def make_optimizer(model):\n    return torch.optim.{info.torch}(model.parameters()"
            f"{', ' + extra if extra else ''})")


def _check_args(cls, kwargs: dict, what: str) -> None:
    accepted = [k for k in inspect.signature(cls).parameters if k not in ("self", "params")]
    for k in kwargs:
        if k not in accepted:
            raise ExportError(f"{what} has no argument {k!r} in torch; expected one of "
                              f"{', '.join(accepted)}", hint="check the spelling in the training section")


def _dims(shape: tuple[int, ...]) -> str:
    """``samples, 1, 28, 28`` (a batch of ``samples``); ``samples,`` for a scalar per sample."""
    return ", ".join(["samples", *map(str, shape)]) + ("," if not shape else "")


def _random_loader(analysis: Analysis, loss: str, batch: int) -> str:
    """Random inputs and targets with the model's shapes, for a smoke run of the script."""
    lines = []
    for name, t in analysis.inputs.items():
        shape = tuple(d or 8 for d in t.shape)
        vocab = [i.site.params.get("input_dim", 2) for i in analysis.nodes.values()
                 if name in i.sources and i.spec.input_dtype == "long"]
        lines.append(f"torch.randint(0, {min(vocab)}, ({_dims(shape)}))" if vocab
                     else f"torch.randn({_dims(shape)})")
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
    return (f"def random_loader(samples=256, batch_size={batch}):\n"
            f'    """Random inputs and targets of the right shapes: replace with your data."""\n'
            f"    data = torch.utils.data.TensorDataset(\n{inputs}        {target},\n    )\n"
            f"    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True)")
