"""What a layer *is*: its parameters, its shape rule, its cost, and the torch module it becomes.

Every spec function receives a :class:`Site` — the layer's validated parameters and its input
shapes in the engine's internal order (batch excluded). Internally tensors follow PyTorch:
spatial tensors are channels-first. In a ``channels_last`` graph the engine permutes a tensor
whenever a layer's :attr:`LayerSpec.order` asks for the other arrangement, so spec functions never
think about layouts; a layer whose parameters name an axis in the user's notation maps it with
:meth:`Site.axis`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from neural_engine.errors import ShapeError, ValidationError, did_you_mean
from neural_engine.ir import Shape, at_default
from neural_engine.layers.activation_names import canonical_activation

REQUIRED = object()
Order = Literal["channels", "features", "any"]
MaskRule = Literal["drop", "keep", "use", "need", "merge", "make"]


@dataclass(frozen=True)
class TorchCall:
    """A torch module constructor: ``cls`` is ``nn.<Name>`` (torch.nn) or ``nf.<Name>``
    (:mod:`neural_engine.modules`). Values in ``kwargs`` may be TorchCalls themselves.
    The builder instantiates it; the code generator prints it — one source, no drift."""

    cls: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Param:
    """One layer parameter. ``kind`` decides coercion:

    int, float, bool, str (with ``choices``), size (int or tuple of ``rank`` ints), padding
    ("valid", "same", int or tuple), ints (a tuple of ints), activation, any.
    """

    name: str
    kind: str
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    doc: str = ""
    # a Keras parameter PyTorch cannot honour: only its default is accepted, and any other value
    # is refused with this reason (``doc`` then says what to use instead)
    refused: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def range_text(self) -> str | None:
        if self.low is None and self.high is None:
            return None
        lo = "-inf" if self.low is None else _num(self.low)
        hi = "inf" if self.high is None else _num(self.high)
        return (
            f"{'(' if self.low_open or self.low is None else '['}{lo}, {hi}"
            f"{')' if self.high_open or self.high is None else ']'}"
        )

    def in_range(self, v) -> bool:
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        return not (self.high is not None and (v > self.high or (self.high_open and v == self.high)))


def _num(x):
    return int(x) if float(x).is_integer() else x


def _literal(v) -> str:
    """A plain value as the DSL writes it: true/false, 0, 0.5."""
    return ("true" if v else "false") if isinstance(v, bool) else str(_num(v))


@dataclass(slots=True)  # analysis record: read-only by convention (frozen costs ~1 us/node)
class Site:
    """A layer at one place in a graph: its parameters and internal input shapes."""

    spec: LayerSpec
    node_id: str
    params: dict[str, Any]
    inputs: tuple[Shape, ...]
    cf: bool = False  # the inputs are channels-first, the user's notation channels-last
    output: Shape | None = None  # filled in after infer
    body: Any = None  # containers and wrappers: the analysed body (shapes.Chain)
    memo: Any = None  # a spec's derived geometry, computed once per site (conv.py)

    @property
    def x(self) -> Shape:
        return self.inputs[0]

    @property
    def user_x(self) -> Shape:
        """The first input in the user's notation (channels last again when the graph says so)."""
        x = self.x
        return (*x[1:], x[0]) if self.cf and len(x) >= 2 else x

    @property
    def user_inputs(self) -> tuple[Shape, ...]:
        """Every input in the user's notation."""
        return tuple((*x[1:], x[0]) if self.cf and len(x) >= 2 else x for x in self.inputs)

    def channels(self) -> int:
        """The channel count of a channels-first input; unknown is an error."""
        c = self.x[0]
        if c is None:
            self.fail(
                f"needs a known channel count; received {fmt_shape(self.user_x)}",
                shape=True,
                hint="give the input shape in full",
            )
        return c

    def axis(self, user_axis: int, rank: int | None = None) -> int:
        """The internal (batch-less, 0-based) axis for an axis in the user's notation.

        ``user_axis`` counts like Keras: 0 or -1 style, batch excluded; the batch axis is refused.
        """
        rank = len(self.x) if rank is None else rank
        a = user_axis if user_axis < 0 else user_axis - 1  # Keras axes count the batch as 0
        if not -rank <= a < rank or user_axis == 0:
            self.fail(f"axis must be in [-{rank}, {rank}] without 0 (the batch); received {user_axis}")
        a %= rank
        if self.cf:
            a = 0 if a == rank - 1 else a + 1
        return a

    def fail(self, message: str, hint: str | None = None, *, shape: bool = False):
        cls = ShapeError if shape else ValidationError
        raise cls(f"{self.spec.name}: {message}", node=self.node_id, hint=hint)

    def need_rank(self, *ranks: int, what: str = "input"):
        got = len(self.x)
        if got not in ranks:
            want = " or ".join(str(r) for r in ranks)
            self.fail(
                f"expected a rank-{want} {what} (batch excluded); received shape "
                f"{fmt_shape(self.user_x)} of rank {got}",
                self.spec.rank_hint,
                shape=True,
            )


SPATIAL = {1: "steps, ", 2: "height, width, ", 3: "depth, height, width, "}


def rank_hint(name: str, rank: int) -> str:
    """Hint for a spatial layer given a tensor of the wrong rank."""
    return f"{name} takes ({SPATIAL[rank]}channels); add a Reshape first"


BODY = TorchCall("body")  # stands for the built body of a container in a TorchCall's kwargs


def fmt_shape(s: Shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


def numel(s: Shape) -> int:
    """Elements of a shape; unknown dimensions count as 1."""
    return math.prod(s) if None not in s else math.prod(d or 1 for d in s)


def _zero(site: Site) -> int:
    return 0


@dataclass(frozen=True)
class LayerSpec:
    """The single description of a layer type. See module docstring for ``order``.

    Facts that other stages need about a layer are fields set where the layer is defined, so no
    stage tests layer names:

    - ``spatial_rank``: the number of spatial axes the layer works on (Conv2D, MaxPooling2D,
      UpSampling2D, DepthwiseConv2D: 2); None for layers that are not rank-parameterised. Keras
      code generation picks its ``…{rank}D`` padding/cropping layers and 1D permutes from it.
    - ``transposed``: a transposed convolution (Conv{1,2,3}DTranspose): integer padding crops the
      output instead of padding the input, and ``output_padding`` applies.
    - ``pooling``: how a pooling layer reduces a window, ``"max"`` or ``"average"`` (max pooling
      pads with -inf); None for other layers.
    - ``head``: the network's logits head (Output): ``build(logits=True)`` and the generated
      module leave out its activation, because the loss applies it.
    - ``dense``: a fully connected layer over the last axis with ``units`` outputs (Dense,
      Output); lints look for oversized ones.
    - ``flattens``: collapses every axis into one feature vector (Flatten).
    - ``applies_softmax``: the layer itself is a softmax (Softmax); a layer whose ``activation``
      parameter is ``"softmax"`` counts by that value instead.
    - ``memory_format``: the torch memory format the layer runs fastest in on a GPU —
      ``"channels_last"`` for 2D convolutions (cuDNN's NHWC kernels); None: no preference. See
      :func:`neural_engine.build.prefers_channels_last`.
    - ``mask``: what the layer does with the padding mask ``Embedding(mask_zero=true)`` starts
      (Keras' ``supports_masking``/``compute_mask``; :mod:`neural_engine.masks` follows it through
      the graph). ``"drop"`` ends it (Keras' default: Flatten, Reshape, convolutions, pooling);
      ``"keep"`` passes it on unread (per-step layers: Dense, Dropout, activations,
      normalisations); ``"use"`` hands the module the masks ``mask_args`` names — (keyword,
      input slot; -1 the last), True at padded steps — and passes the first input's mask on while
      the output keeps its rank and steps; ``"need"`` is ``"use"`` that refuses an input without a
      mask; ``"merge"`` (element-wise merges) passes on a mask padded where every input is, none
      when some input has none; ``"make"`` starts one: padded where the ids are 0. A function of
      the :class:`Site` decides where parameters matter (Embedding's ``mask_zero``).
    """

    name: str
    family: str
    params: tuple[Param, ...]
    infer: Callable[[Site], Shape]
    torch: Callable[[Site], TorchCall]
    param_count: Callable[[Site], int] = _zero
    non_trainable: Callable[[Site], int] = _zero
    flops: Callable[[Site], int] = _zero
    order: Order = "any"
    arity: tuple[int, int | None] = (1, 1)  # (min, max) inputs; max None = unbounded
    aliases: tuple[str, ...] = ()
    doc: str = ""
    rank_hint: str | None = None
    input_dtype: str = "float"  # "long" for index inputs (Embedding)
    container: Literal[None, "chain", "wrapper"] = None
    # containers: (body input shape, its cf flag, cf wanted at the body's end); the analysed
    # body (a ``shapes.Chain``) is then in ``site.body`` for infer/param_count/flops/torch.
    body_input: Callable[[Site], tuple[Shape, bool, bool]] | None = None
    activation_param: bool = False  # has an ``activation`` param applied after the layer
    # Neural DSL's positional order where it defines one; ``params`` is Keras' order otherwise
    neural_order: tuple[str, ...] = ()
    # layer facts read by codegen, build, lints and training (see the class docstring)
    spatial_rank: int | None = None
    transposed: bool = False
    pooling: Literal[None, "max", "average"] = None
    head: bool = False
    dense: bool = False
    flattens: bool = False
    applies_softmax: bool = False
    memory_format: Literal[None, "channels_last"] = None
    mask: MaskRule | Callable[[Site], MaskRule] = "drop"
    mask_args: tuple[tuple[str, int], ...] = (("padding_mask", 0),)

    def mask_rule(self, site: Site) -> MaskRule:
        """The :attr:`mask` rule at ``site``."""
        return self.mask(site) if callable(self.mask) else self.mask

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @cached_property
    def neural_positional(self) -> tuple[Param, ...]:
        """Neural DSL's positional order, continued in Keras' order when it is a prefix of it."""
        neural = tuple(self.param(n) for n in self.neural_order)
        return self.params if self.params[: len(neural)] == neural else neural

    @cached_property
    def _fork(self) -> int | None:
        """The first positional slot where Neural DSL's and Keras' orders differ (None: they agree)."""
        pairs = zip(self.neural_positional, self.params)
        return next((i for i, (a, b) in enumerate(pairs) if a is not b), None)

    def positional(self, values: list | tuple) -> tuple[Param, ...]:
        """The parameters that positional ``values`` fill, in order.

        Neural DSL's order where it defines one; where it and Keras' disagree, the value in the
        first disputed slot decides: one that fits Neural DSL's parameter (a string where it has the
        activation) keeps Neural DSL's order, any other switches to Keras' order.

        >>> from neural_engine.layers import get
        >>> [p.name for p in get("Conv2D").positional([32, 3, "relu"])][:3]
        ['filters', 'kernel_size', 'activation']
        >>> [p.name for p in get("Conv2D").positional([32, 3, 2, "same"])][:4]
        ['filters', 'kernel_size', 'strides', 'padding']
        """
        k = self._fork
        if k is not None and len(values) > k and not fits(self.neural_positional[k], values[k]):
            return self.params
        return self.neural_positional

    def positional_text(self) -> str:
        """The positional order in words, e.g. for ``neuralforge layers`` and error hints."""
        names = ", ".join(p.name for p in self.neural_positional) or "none"
        if self._fork is None:
            return names
        slot = ("first", "second", "third", "fourth")[self._fork]
        keras = ", ".join(p.name for p in self.params[: self._fork + 2])
        return (
            f"{names} (Neural DSL); when the {slot} is not a "
            f"{_KIND_WORD.get(self.neural_positional[self._fork].kind, 'string')}: "
            f"{keras}, … (Keras)"
        )

    @cached_property
    def _by_name(self) -> dict[str, Param]:
        return {p.name: p for p in self.params} | {a: p for p in self.params for a in p.aliases}

    def validate(self, params: dict[str, Any], node_id: str | None = None) -> dict[str, Any]:
        """Coerce and range-check ``params``; fill defaults. Raises ValidationError.

        Results are memoised per (spec, params): graphs repeat the same layer many times and the
        canvas re-checks unchanged layers on every edit. Treat the returned dict as read-only.
        """
        try:
            key = (self.name, tuple(params.items()))
            hit = _VALIDATED.get(key)
        except TypeError:  # an unhashable value: validate without the memo
            key, hit = None, None
        if hit is None:
            hit = self._validate(params, node_id)
            if key is not None and len(_VALIDATED) < 100_000:
                _VALIDATED[key] = hit
        return hit

    def keyword(self, key: str, given: Collection[str] = (), node_id: str | None = None) -> Param:
        """The parameter a keyword names (its name or an alias), not already among ``given``
        (canonical names). Raises ValidationError naming the closest parameter.

        >>> from neural_engine.layers import get
        >>> get("Conv2D").keyword("stride").name
        'strides'
        >>> get("Dense").keyword("unit")
        Traceback (most recent call last):
        neural_engine.errors.ValidationError: Dense has no parameter 'unit'
        """
        p = self._by_name.get(key)
        if p is None:
            names = [p.name for p in self.params]
            hint = did_you_mean(key, names) or f"{self.name} takes: {', '.join(names) or 'no parameters'}"
            raise ValidationError(f"{self.name} has no parameter {key!r}", node=node_id, hint=hint)
        if p.name in given:
            raise ValidationError(f"{self.name} {p.name} is given twice", node=node_id)
        return p

    def _validate(self, params: dict[str, Any], node_id: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in params.items():
            p = self.keyword(key, out, node_id)
            out[p.name] = coerce(self, p, at_default(value), node_id)
        for p in self.params:
            if p.name not in out:
                if p.required:
                    raise ValidationError(
                        f"{self.name} needs {p.name!r}; received no value",
                        node=node_id,
                        hint=f"e.g. {self.name}({p.name}=…) — {p.doc}",
                    )
                out[p.name] = p.default
        return out


_VALIDATED: dict[tuple, dict[str, Any]] = {}
_KIND_WORD = {"activation": "string", "str": "string", "bool": "boolean"}


def fits(p: Param, v: Any) -> bool:
    """Whether ``v`` is of the sort ``p`` takes (its type, not its range): the positional rule's test.
    A search value fits as its default does."""
    v = at_default(v)
    number = isinstance(v, int | float) and not isinstance(v, bool)
    kind = p.kind
    if kind in ("activation", "str"):
        return isinstance(v, str) or (v is None and kind == "activation")
    if kind == "bool":
        return isinstance(v, bool)
    if kind in ("int", "float"):
        return number
    if kind in ("size", "ints"):
        return number or isinstance(v, tuple | list)
    if kind == "padding":
        return number or isinstance(v, str | tuple | list)
    return True


def coerce(spec: LayerSpec, p: Param, v: Any, node_id: str | None):
    """One parameter value, checked against its kind and range."""

    def bad(expected: str):
        raise ValidationError(
            f"{spec.name} {p.name} must be {expected}; received {v!r}", node=node_id, hint=p.doc or None
        )

    kind = p.kind
    if v is None and (p.default is None or kind == "activation"):
        return None
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int | float) or not float(v).is_integer():
            bad("an integer")
        v = int(v)
    elif kind == "float":
        if isinstance(v, bool) or not isinstance(v, int | float):
            bad("a number")
        v = float(v)
    elif kind == "bool":
        if not isinstance(v, bool):
            bad("true or false")
    elif kind == "str":
        if not isinstance(v, str) or (p.choices and v.lower() not in p.choices):
            bad("one of " + ", ".join(f'"{c}"' for c in p.choices) if p.choices else "a string")
        return v.lower() if p.choices else v
    elif kind == "activation":
        return canonical_activation(spec, p, v, node_id)
    elif kind in ("size", "ints"):
        return _ints(spec, p, v, bad)
    elif kind == "padding":
        if isinstance(v, str):
            if v.lower() not in ("valid", "same"):
                bad('"valid", "same", an integer or a tuple of integers')
            return v.lower()
        return _ints(spec, p, v, bad)
    if isinstance(v, int | float) and not isinstance(v, bool) and not p.in_range(v):
        bad(f"in {p.range_text()}")
    if p.refused and v != p.default:
        raise ValidationError(
            f"{spec.name} {p.name} must be {_literal(p.default)}: {p.refused}; received {_literal(v)}",
            node=node_id,
            hint=p.doc or None,
        )
    return v


def _ints(spec, p, v, bad):
    items = v if isinstance(v, tuple | list) else (v,)
    if not items and p.kind == "size":
        bad("a positive integer or a tuple of them")
    out = []
    for x in items:
        if isinstance(x, bool) or not isinstance(x, int | float) or not float(x).is_integer():
            bad("an integer or a tuple of integers")
        x = int(x)
        if not p.in_range(x):
            bad(f"integers in {p.range_text()}")
        out.append(x)
    if p.kind in ("size", "padding") and not isinstance(v, tuple | list):
        return out[0]  # a scalar stays a scalar; :func:`expand` broadcasts it to the layer's rank
    return tuple(out)


def expand(value, rank: int, site: Site, name: str) -> tuple[int, ...]:
    """An int broadcast to ``rank`` dims, or a tuple checked to have ``rank`` entries."""
    if value.__class__ is int:
        return (value,) * rank
    if len(value) == 1:
        return tuple(value) * rank
    if len(value) != rank:
        site.fail(f"{name} needs 1 or {rank} values; received {value}")
    return tuple(value)
