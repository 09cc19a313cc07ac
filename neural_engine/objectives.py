"""Training settings → torch objects: the loss and the optimizer, from ``graph.training``.

One mapping, used by the training job and by the generated training script: names through
:mod:`neural_engine.optim`, Keras spellings of optimizer arguments to torch's
(``learning_rate`` → ``lr``, ``beta_1``/``beta_2`` → ``betas``). Settings may be a name
(``"Adam"``), a :class:`~neural_engine.ir.Call` or ``{"name", "params"}``; HPO values give their
default. Cross-entropy losses take logits (the model is built with ``logits=True``).

>>> import torch
>>> make_optimizer("Adam", [torch.nn.Parameter(torch.zeros(1))], learning_rate=0.01).defaults["lr"]
0.01
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from neural_engine.errors import ValidationError
from neural_engine.ir import HPO
from neural_engine.optim import LOSSES, OPTIMIZERS, canonical_loss, optimizer

if TYPE_CHECKING:
    import torch

# Keras argument name -> torch.optim's (betas are assembled from beta_1 and beta_2)
OPTIMIZER_ARGS = {
    "learning_rate": "lr",
    "lr": "lr",
    "epsilon": "eps",
    "eps": "eps",
    "weight_decay": "weight_decay",
    "momentum": "momentum",
    "nesterov": "nesterov",
    "amsgrad": "amsgrad",
    "rho": "rho",
    "initial_accumulator_value": "initial_accumulator_value",
    "dampening": "dampening",
    "centered": "centered",
    "alpha": "alpha",
}


def named(value, what: str) -> tuple[str, tuple, dict]:
    """(name, positional args, keyword args) of a setting given as a string, a call or a dict."""
    if isinstance(value, str):
        return value, (), {}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return (
            value["name"],
            tuple(value.get("args", ())),
            dict(value.get("params") or value.get("kwargs") or {}),
        )
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name, tuple(getattr(value, "args", ())), dict(getattr(value, "kwargs", None) or {})
    raise ValidationError(
        f"training {what} must be a name, a call or {{'name', 'params'}}; received {value!r}"
    )


def plain(value, what: str):
    """A setting's concrete value: an HPO search value gives its default; calls are refused."""
    value = value.default if isinstance(value, HPO) else value
    if not isinstance(value, bool | int | float | str | tuple | type(None)):
        raise ValidationError(
            f"training {what} must be a number, string or bool; received {value!r}",
            hint="learning-rate schedules go in lr_schedule",
        )
    return value


def optimizer_spec(value, **overrides) -> tuple[str, dict[str, Any]]:
    """(torch.optim class name, torch kwargs) for an optimizer setting; ``overrides`` use
    Keras names too (``learning_rate=…``)."""
    import torch

    name, args, kwargs = named(value, "optimizer")
    info = optimizer(name)
    if info is None:
        raise ValidationError(
            f"optimizer must be one of {', '.join(o.name for o in OPTIMIZERS.values())}; received {name!r}"
        )
    if len(args) > 1:
        raise ValidationError(
            f"optimizer {name} takes at most one positional argument (the learning rate); received {args!r}"
        )
    given = {"learning_rate": args[0]} if args else {}
    given.update(kwargs)
    given.update({k: v for k, v in overrides.items() if v is not None})
    torch_kwargs, betas = {}, {}
    for key, v in given.items():
        if getattr(v, "name", None) and not isinstance(v, str | HPO):  # a schedule as learning_rate
            v = v.args[0] if getattr(v, "args", None) else v.kwargs.get("initial_learning_rate")
        v = plain(v, f"optimizer {key}")
        if key in ("beta_1", "beta_2"):
            betas[key] = v
        else:
            torch_kwargs[OPTIMIZER_ARGS.get(key, key)] = v
    if betas:
        torch_kwargs["betas"] = (betas.get("beta_1", 0.9), betas.get("beta_2", 0.999))
    _check_args(getattr(torch.optim, info.torch), torch_kwargs, f"optimizer {info.name}")
    return info.torch, torch_kwargs


def loss_spec(value) -> tuple[str, str, dict[str, Any]]:
    """(canonical loss name, module class — ``nn.X`` or ``nf.X`` —, kwargs)."""
    import torch

    name, args, kwargs = named(value, "loss")
    key = canonical_loss(name)
    if key is None:
        raise ValidationError(f"loss must be one of {', '.join(LOSSES)}; received {name!r}")
    if args:
        raise ValidationError(
            f"loss {name} takes keyword arguments; received {args!r}", hint=f"write e.g. {name}(delta=1.0)"
        )
    cls = LOSSES[key]
    if cls in ("DiceLoss", "BCEDiceLoss"):
        return key, "nf.DiceLoss", {"with_bce": cls == "BCEDiceLoss"}
    kwargs = {k: plain(v, k) for k, v in kwargs.items()}
    _check_args(getattr(torch.nn, cls), kwargs, f"loss {name}")
    return key, f"nn.{cls}", kwargs


def make_optimizer(value, params, **overrides) -> torch.optim.Optimizer:
    import torch

    cls, kwargs = optimizer_spec(value, **overrides)
    return getattr(torch.optim, cls)(params, **kwargs)


def make_loss(value) -> torch.nn.Module:
    import torch

    from neural_engine.modules import NF_MODULES

    _, cls, kwargs = loss_spec(value)
    prefix, _, name = cls.partition(".")
    return (getattr(torch.nn, name) if prefix == "nn" else NF_MODULES[name])(**kwargs)


def _check_args(cls, kwargs: dict, what: str) -> None:
    accepted = [k for k in inspect.signature(cls).parameters if k not in ("self", "params")]
    for k in kwargs:
        if k not in accepted:
            raise ValidationError(
                f"{what} has no argument {k!r} in torch; expected one of {', '.join(accepted)}",
                hint="check the spelling in the training section",
            )


def make_scheduler(
    setting, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int, warmup_epochs: int = 0
):
    """(scheduler, steps_per_call): the DSL's ``lr_schedule`` — ``StepDecay(step_size, gamma)``
    (epochs), ``ExponentialDecay(initial_learning_rate, decay_steps, decay_rate)`` and
    ``CosineDecay(initial_learning_rate, decay_steps)`` (optimizer steps) — or, without one, a
    linear warm-up over ``warmup_epochs`` then a cosine decay to 0 at the last epoch.
    ``steps_per_call`` says whether to call ``scheduler.step()`` per "epoch" or per "step"."""
    import math

    import torch

    if setting is None:

        def warmup_cosine(epoch: int) -> float:
            if epoch < warmup_epochs:
                return (epoch + 1) / (warmup_epochs + 1)
            span = max(epochs - warmup_epochs, 1)
            return 0.5 * (1 + math.cos(math.pi * (epoch - warmup_epochs) / span))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine), "epoch"
    name, args, kwargs = named(setting, "lr_schedule")
    params = {k: plain(v, k) for k, v in kwargs.items()}
    key = name.lower()
    if key in ("stepdecay", "steplr"):
        step, gamma = ([plain(a, name) for a in args] + [None, None])[:2]
        return torch.optim.lr_scheduler.StepLR(
            optimizer,
            step_size=int(params.get("step_size", step or 10)),
            gamma=float(params.get("gamma", gamma or 0.1)),
        ), "epoch"
    if key in ("exponentialdecay", "cosinedecay"):
        values = [plain(a, name) for a in args]
        decay_steps = int(params.get("decay_steps", values[1] if len(values) > 1 else steps_per_epoch))
        if key == "exponentialdecay":
            rate = float(params.get("decay_rate", values[2] if len(values) > 2 else 0.96))
            fn = lambda step: rate ** (step / decay_steps)
        else:
            fn = lambda step: 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, fn), "step"
    raise ValidationError(
        f"lr_schedule must be StepDecay, ExponentialDecay or CosineDecay; received {name}",
        hint="or leave it out for warm-up + cosine",
    )
