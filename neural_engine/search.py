"""A graph's search values (``HPO(...)``) by path, and the graph with chosen values in their place.

Paths name every search value the DSL allows (``../shared/DSL.md`` §6): ``<node id>.<param>``
for layer parameters (``.0``/``.key`` deeper inside tuples, dicts and calls; container bodies
use their own node ids), ``train.<key>`` for the training section (``train.optimizer.learning_rate``,
``train.lr_schedule.0``, ``train.batch_size``, ``train.epochs``). Pure Python: a sweep
(``ray_jobs.tune``) maps these values to Ray Tune domains.

>>> from neural_engine.dsl import parse, print_dsl
>>> g = parse('network N { input: (4,) layers: Dense(HPO(choice(8, 16))) Output(2) '
...           'train { epochs: HPO(range(1, 3)) } }')
>>> sorted(search_values(g))
['dense_1.units', 'train.epochs']
>>> print(print_dsl(substitute(g, {"dense_1.units": 16})).splitlines()[3].strip())
Dense(16)
>>> has_search_values(substitute(g, {"dense_1.units": 16}))
False
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from neural_engine.errors import NeuralForgeError, ValidationError, did_you_mean
from neural_engine.ir import HPO, Call, Graph, Node

TRAIN = "train"


def search_values(graph: Graph) -> dict[str, HPO]:
    """Every search value of ``graph`` by path, layers first (in graph order), then training."""
    found: dict[str, HPO] = {}
    for node in _all_nodes(graph.nodes):
        for key, value in node.params.items():
            _find(value, f"{node.id}.{key}", found)
    for key, value in graph.training.items():
        _find(value, f"{TRAIN}.{key}", found)
    return found


def has_search_values(graph: Graph) -> bool:
    return bool(search_values(graph))


def defaults_text(graph: Graph) -> list[str]:
    """One line per search value, with the default every analysis uses in its place.

    >>> from neural_engine.dsl import parse
    >>> defaults_text(parse('network N { input: (4,) layers: Dense(HPO(choice(8, 16))) }'))
    ['dense_1.units = 8 (the first of HPO(choice(8, 16)))']
    """
    from neural_engine.dsl.values import show

    return [
        f"{path} = {show(h.default)} (the {'first' if h.kind == 'choice' else 'lower bound'} of {show(h)})"
        for path, h in search_values(graph).items()
    ]


def substitute(graph: Graph, values: dict[str, Any]) -> Graph:
    """``graph`` with ``values`` at their paths and every other search value at its default
    (first choice, lower bound): a plain network. Unknown paths are refused.

    A value may replace a search value or a plain one (``dense_1.units`` of ``Dense(64)``).
    """
    known = set(search_values(graph)) | set(_plain_paths(graph))
    unknown = [p for p in values if p not in known and not _new_setting(graph, p)]
    if unknown:
        raise ValidationError(
            f"search paths must name a value of network {graph.name}; received {', '.join(unknown)}",
            hint=did_you_mean(unknown[0], known)
            or "paths are <node id>.<param> or train.<key>, e.g. dense_1.units",
        )
    nodes = tuple(_node(n, values) for n in graph.nodes)
    training = {k: _put(v, f"{TRAIN}.{k}", values) for k, v in graph.training.items()}
    for path, value in values.items():  # a training setting the DSL left out (train.epochs=3)
        key = path.split(".")[1]
        if path.count(".") == 1 and path.startswith(TRAIN + ".") and key not in training:
            training[key] = value
    return replace(graph, nodes=nodes, training=training)


def parse_search_value(text: str) -> Any:
    """A value as the DSL writes it: ``choice(32, 64)``, ``HPO(log_range(1e-4, 1e-2))``,
    ``range(0.1, 0.5, step=0.1)``, or a plain ``64`` / ``"relu"``.

    >>> parse_search_value("log_range(1e-4, 1e-2)").kind, parse_search_value("64")
    ('log_range', 64)
    """
    from neural_engine.dsl import parse

    try:
        g = parse(f"network V {{ input: (1,) layers: Dense(1) lr_schedule: V({text}) }}")
    except NeuralForgeError as err:
        raise ValidationError(
            f"a search value must be written as in the DSL, e.g. choice(32, 64) or "
            f"log_range(1e-4, 1e-2); received {text!r} ({err.message})"
        ) from None
    args = g.training["lr_schedule"].args
    if len(args) != 1:
        raise ValidationError(f"a search value must be one value; received {text!r}")
    return args[0]


def _all_nodes(nodes):
    for node in nodes:
        yield node
        yield from _all_nodes(node.body)


def _find(value, path: str, found: dict) -> None:
    if isinstance(value, HPO):
        found[path] = value
    elif isinstance(value, tuple):
        for i, v in enumerate(value):
            _find(v, f"{path}.{i}", found)
    elif isinstance(value, dict):
        for k, v in value.items():
            _find(v, f"{path}.{k}", found)
    elif isinstance(value, Call):
        for i, v in enumerate(value.args):
            _find(v, f"{path}.{i}", found)
        for k, v in value.kwargs.items():
            _find(v, f"{path}.{k}", found)


def _plain_paths(graph: Graph):
    for node in _all_nodes(graph.nodes):
        yield from (f"{node.id}.{k}" for k in node.params)
    yield from (f"{TRAIN}.{k}" for k in graph.training)
    for key, value in graph.training.items():
        if isinstance(value, Call):
            yield from (f"{TRAIN}.{key}.{k}" for k in list(range(len(value.args))) + list(value.kwargs))


def _new_setting(graph: Graph, path: str) -> bool:
    """A training key the DSL left out (``train.epochs``) or a keyword of a training call
    (``train.optimizer.weight_decay``)."""
    from neural_engine.dsl.sections import TRAIN_KEYS

    parts = path.split(".")
    if parts[0] != TRAIN or len(parts) not in (2, 3):
        return False
    if len(parts) == 2:
        return parts[1] in TRAIN_KEYS
    return isinstance(graph.training.get(parts[1]), Call) and parts[2].isidentifier()


def _node(node: Node, values: dict) -> Node:
    params = {k: _put(v, f"{node.id}.{k}", values) for k, v in node.params.items()}
    return replace(node, params=params, body=tuple(_node(b, values) for b in node.body))


def _put(value, path: str, values: dict):
    if path in values:
        return values[path]
    if isinstance(value, HPO):
        return value.default
    if isinstance(value, tuple):
        return tuple(_put(v, f"{path}.{i}", values) for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: _put(v, f"{path}.{k}", values) for k, v in value.items()}
    if isinstance(value, Call):
        args = tuple(_put(v, f"{path}.{i}", values) for i, v in enumerate(value.args))
        kwargs = {k: _put(v, f"{path}.{k}", values) for k, v in value.kwargs.items()}
        added = {
            p[len(path) + 1 :]: v
            for p, v in values.items()  # a keyword the call left out
            if p.startswith(path + ".") and p[len(path) + 1 :].isidentifier()
        }
        return Call(value.name, args, {**kwargs, **added})
    return value


def dsl_value(value, h: HPO):
    """A sampled value as the DSL would write it: integers stay integers, steps lose float noise."""
    if h.kind == "choice":
        return value
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (h.low, h.high, h.step or 1)):
        return round(value)
    if h.step is not None:
        decimals = max(0, -math.floor(math.log10(h.step))) + 6
        return round(float(value), decimals)
    return float(value)


def sampled(space: dict[str, HPO], trial_values: dict) -> dict[str, Any]:
    """The values a search algorithm drew for ``space``, written as the DSL would write them.

    >>> from neural_engine.ir import HPO
    >>> sampled({"units": HPO("range", (), 16, 64, 16)}, {"units": 31.9999, "other": 1})
    {'units': 32}
    """
    return {p: dsl_value(trial_values[p], h) for p, h in space.items() if p in trial_values}
