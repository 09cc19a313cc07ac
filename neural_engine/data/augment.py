"""Augmentation pipelines: a JSON list of operations, checked against one schema, compiled to v2.

``[{"type": "RandomHorizontalFlip", "params": {"p": 0.5}}, {"type": "Normalize", "params": {...}}]``

The schema below is the one place an operation is described: its torchvision class, its
parameters (kind, range, default), and whether it also runs at evaluation (deterministic ops:
``Resize``, ``Grayscale``, ``Normalize``; the random ones run on the training split only).
A compiled pipeline takes a uint8 image tensor (C, H, W) — with its mask for segmentation — and
returns float32 in [0, 1] (normalised where the pipeline says so): the conversion to float is
inserted before the first ``Normalize`` or ``RandomErasing``, or at the end.

>>> p = Pipeline.from_json([{"type": "RandomHorizontalFlip", "params": {"p": 1.0}}])
>>> import torch
>>> p.compile()(torch.tensor([[[0, 255]]], dtype=torch.uint8)).tolist()
[[[1.0, 0.0]]]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from neural_engine.errors import DatasetError, did_you_mean

# ---- parameter kinds: each returns the checked value or raises ValueError(expected text) ----


def number(lo=-math.inf, hi=math.inf, integer=False):
    def check(v):
        ok = isinstance(v, int if integer else (int, float)) and not isinstance(v, bool) and lo <= v <= hi
        if not ok or (not integer and not math.isfinite(v)):
            raise ValueError(f"{'an integer' if integer else 'a number'} in [{lo:g}, {hi:g}]")
        return v

    check.form = {"kind": "int" if integer else "number", "lo": lo, "hi": hi}  # read by param_docs
    return check


def pair(item, ordered=False, what="a pair"):
    def check(v):
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise ValueError(f"{what} [a, b]")
        vals = [item(x) for x in v]
        if ordered and vals[0] > vals[1]:
            raise ValueError(f"{what} [a, b] with a <= b")
        return vals

    return check


def one_of(*checks, what: str):
    def check(v):
        for c in checks:
            try:
                return c(v)
            except ValueError:
                pass
        raise ValueError(what)

    return check


def odd(v):
    number(1, 255, integer=True)(v)
    if v % 2 == 0:
        raise ValueError("an odd integer in [1, 255]")
    return v


def floats(lo=-math.inf, what="a list of numbers (one per channel)"):
    def check(v):
        try:
            if not isinstance(v, (list, tuple)) or not v:
                raise ValueError
            return [number(lo)(x) for x in v]
        except ValueError:
            raise ValueError(what) from None

    return check


def four(item):
    def check(v):
        if not isinstance(v, (list, tuple)) or len(v) != 4:
            raise ValueError("four values")
        return [item(x) for x in v]

    return check


def boolean(v):
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


boolean.form = {"kind": "bool"}


def choice(*options):
    def check(v):
        if v not in options:
            raise ValueError(f"one of {', '.join(map(repr, options))}")
        return v

    check.form = {"kind": "choice", "choices": options}
    return check


REQUIRED = object()
PROB = number(0, 1)
SIZE = one_of(
    number(1, 65536, integer=True),
    pair(number(1, 65536, integer=True)),
    what="a positive integer or [height, width]",
)
JITTER = one_of(number(0, 1e6), pair(number(0, 1e6), ordered=True), what="a number >= 0 or [min, max]")


@dataclass(frozen=True)
class OpSpec:
    name: str
    params: dict  # name -> (check, default or REQUIRED)
    at_eval: bool = False
    doc: str = ""


SCHEMA = {
    s.name: s
    for s in (
        OpSpec("RandomHorizontalFlip", {"p": (PROB, 0.5)}, doc="mirror left-right with probability p"),
        OpSpec("RandomVerticalFlip", {"p": (PROB, 0.5)}, doc="mirror top-bottom with probability p"),
        OpSpec(
            "RandomRotation",
            {
                "degrees": (
                    one_of(
                        number(0, 360),
                        pair(number(-360, 360), ordered=True),
                        what="a number in [0, 360] or [min, max]",
                    ),
                    REQUIRED,
                ),
                "fill": (number(0, 255), 0),
            },
            doc="rotate by an angle in [-d, d]",
        ),
        OpSpec(
            "RandomResizedCrop",
            {
                "size": (SIZE, REQUIRED),
                "scale": (pair(number(1e-6, 1), ordered=True), [0.08, 1.0]),
                "ratio": (pair(number(1e-6, 1e6), ordered=True), [3 / 4, 4 / 3]),
            },
            doc="crop a random area and aspect ratio, resize to size",
        ),
        OpSpec(
            "RandomCrop",
            {
                "size": (SIZE, REQUIRED),
                "padding": (
                    one_of(
                        number(0, 4096, integer=True),
                        pair(number(0, 4096, integer=True)),
                        four(number(0, 4096, integer=True)),
                        what="an integer >= 0, [x, y] or [left, top, right, bottom]",
                    ),
                    None,
                ),
                "pad_if_needed": (boolean, False),
                "fill": (number(0, 255), 0),
                "padding_mode": (choice("constant", "edge", "reflect", "symmetric"), "constant"),
            },
            doc="pad, then crop a random window of size",
        ),
        OpSpec(
            "ColorJitter",
            {
                "brightness": (JITTER, None),
                "contrast": (JITTER, None),
                "saturation": (JITTER, None),
                "hue": (
                    one_of(
                        number(0, 0.5),
                        pair(number(-0.5, 0.5), ordered=True),
                        what="a number in [0, 0.5] or [min, max] in [-0.5, 0.5]",
                    ),
                    None,
                ),
            },
            doc="random brightness, contrast, saturation, hue",
        ),
        OpSpec("Grayscale", {"num_output_channels": (choice(1, 3), 1)}, at_eval=True, doc="convert to gray"),
        OpSpec(
            "GaussianBlur",
            {
                "kernel_size": (one_of(odd, pair(odd), what="an odd integer or [odd, odd]"), REQUIRED),
                "sigma": (
                    one_of(
                        number(1e-6, 1e3),
                        pair(number(1e-6, 1e3), ordered=True),
                        what="a number > 0 or [min, max]",
                    ),
                    [0.1, 2.0],
                ),
            },
            doc="blur with a random sigma",
        ),
        OpSpec(
            "RandomErasing",
            {
                "p": (PROB, 0.5),
                "scale": (pair(number(0, 1), ordered=True), [0.02, 0.33]),
                "ratio": (pair(number(1e-6, 1e6), ordered=True), [0.3, 3.3]),
                "value": (number(), 0.0),
            },
            doc="erase a random rectangle",
        ),
        OpSpec(
            "Normalize",
            {
                "mean": (floats(), REQUIRED),
                "std": (floats(1e-12, "a list of numbers > 0 (one per channel)"), REQUIRED),
            },
            at_eval=True,
            doc="(x - mean) / std per channel, on [0, 1] values",
        ),
        OpSpec("Resize", {"size": (SIZE, REQUIRED)}, at_eval=True, doc="resize (an int: the shorter side)"),
    )
}


@dataclass(frozen=True)
class ParamDoc:
    """One parameter of an operation, as a form needs it: ``kind`` is "int", "number", "bool",
    "choice" or "json" (a list, or one of several forms: entered as JSON text)."""

    name: str
    kind: str
    expects: str  # the check's own words: "a number in [0, 1]"
    default: object = None  # None: required, or unset unless given
    required: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()


def param_docs(op_type: str) -> tuple[ParamDoc, ...]:
    """The parameters of ``op_type``, read from its schema entry.

    >>> [(d.name, d.kind, d.default) for d in param_docs("RandomHorizontalFlip")]
    [('p', 'number', 0.5)]
    """
    spec = SCHEMA.get(op_type)
    if spec is None:
        raise DatasetError(
            f'an operation type must be one of {", ".join(SCHEMA)}; received "{op_type}"',
            hint=did_you_mean(str(op_type), SCHEMA),
        )
    docs = []
    for name, (check, default) in spec.params.items():
        form, expects = getattr(check, "form", {"kind": "json"}), ""
        try:
            check(REQUIRED)  # no check accepts the sentinel: its message says what it expects
        except ValueError as e:
            expects = str(e)
        lo, hi = form.get("lo"), form.get("hi")
        docs.append(
            ParamDoc(
                name,
                form["kind"],
                expects,
                None if default is REQUIRED else default,
                default is REQUIRED,
                None if lo is None or math.isinf(lo) else lo,
                None if hi is None or math.isinf(hi) else hi,
                tuple(form.get("choices", ())),
            )
        )
    return tuple(docs)


@dataclass(frozen=True)
class Op:
    type: str
    params: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"type": self.type, "params": dict(self.params)}


@dataclass(frozen=True)
class Pipeline:
    """A checked list of operations; ``to_json()`` is what is stored with a dataset version."""

    ops: tuple[Op, ...] = ()

    @staticmethod
    def from_json(doc) -> Pipeline:
        if isinstance(doc, Pipeline):
            return doc
        if not isinstance(doc, list):
            raise DatasetError(
                f"an augmentation pipeline must be a JSON list of operations; received {type(doc).__name__}",
                hint='e.g. [{"type": "RandomHorizontalFlip", "params": {"p": 0.5}}]',
            )
        return Pipeline(tuple(check_op(op, i) for i, op in enumerate(doc, 1)))

    @staticmethod
    def load(path: str | Path) -> Pipeline:
        try:
            return Pipeline.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise DatasetError(f"the pipeline file must exist; received {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError(f"{path} must hold a JSON list of operations; it is not JSON ({e})") from None

    def to_json(self) -> list[dict]:
        return [op.to_json() for op in self.ops]

    def compile(self, train: bool = True, display: bool = False):
        """``torchvision.transforms.v2.Compose``; ``train=False`` keeps only the evaluation ops,
        ``display=True`` drops ``Normalize`` (for previews: an exact per-channel affine map)."""
        import torch
        from torchvision.transforms import v2

        to_float = v2.ToDtype(torch.float32, scale=True)  # images only: masks keep their integers
        steps, converted = [], False
        for op in self.ops:
            spec = SCHEMA[op.type]
            if (not train and not spec.at_eval) or (display and op.type == "Normalize"):
                continue
            if op.type in ("Normalize", "RandomErasing") and not converted:
                steps.append(to_float)
                converted = True
            steps.append(getattr(v2, op.type)(**op.params))
        return v2.Compose(steps + ([] if converted else [to_float]))


def check_op(op, index: int) -> Op:
    where = f"operation #{index}"
    if not isinstance(op, dict) or "type" not in op:
        raise DatasetError(f'{where} must be an object {{"type": ..., "params": {{...}}}}; received {op!r}')
    extra = set(op) - {"type", "params"}
    if extra:
        raise DatasetError(
            f'{where} ({op["type"]}) may only have the keys "type" and "params"; received '
            f"{', '.join(sorted(extra))}"
        )
    spec = SCHEMA.get(op["type"]) if isinstance(op["type"], str) else None
    if spec is None:
        raise DatasetError(
            f'{where}: the operation type must be one of {", ".join(SCHEMA)}; received "{op["type"]}"',
            hint=did_you_mean(str(op["type"]), SCHEMA),
        )
    params = op.get("params", {})
    if not isinstance(params, dict):
        raise DatasetError(f"{where} ({spec.name}): params must be an object; received {params!r}")
    unknown = set(params) - set(spec.params)
    if unknown:
        name = min(unknown)
        raise DatasetError(
            f'{where}: {spec.name} has no parameter "{name}"; its parameters are {", ".join(spec.params)}',
            hint=did_you_mean(name, spec.params),
        )
    checked = {}
    for name, (check, default) in spec.params.items():
        if name not in params:
            if default is REQUIRED:
                raise DatasetError(f'{where}: {spec.name} needs the parameter "{name}"; received none')
            continue
        try:
            checked[name] = check(params[name])
        except ValueError as e:
            raise DatasetError(
                f"{where}: {spec.name}.{name} must be {e}; received {params[name]!r}"
            ) from None
    if spec.name == "Normalize" and len(checked["mean"]) != len(checked["std"]):
        raise DatasetError(
            f"{where}: Normalize needs as many std values as mean values (one per channel); "
            f"received {len(checked['mean'])} and {len(checked['std'])}"
        )
    return Op(spec.name, checked)
