"""Graph -> a Keras 3 functional-API model file that runs on any Keras backend.

Keras works in the user's notation, so the file uses the shapes as written (``info.output.user``)
and passes ``data_format`` ("channels_last" or "channels_first", the graph's layout) where a Keras
layer takes it. The mapping from registry layer to Keras layer is the one table ``KERAS`` below;
a layer missing from it falls back to ``layers.<Name>(**params)`` (same name, same parameters) if
it is listed in ``SAME_AS_KERAS``, and is otherwise refused with an :class:`ExportError` naming it.

Known gaps, by design: ``Embedding(padding_idx=…)`` is refused (Keras has no padding row), and
``mask_zero=true`` is written as Keras' ``mask_zero=True``, whose mask later Keras layers honour
as the torch module's padding mask does (:mod:`neural_engine.masks`);
``Flatten`` flattens in the user's order (torch flattens channels-first), so weights of a following
Dense do not transfer one-to-one; RNN ``dropout`` is torch's (between stacked layers), written as
``Dropout`` layers between them; ``Adaptive*Pooling`` needs a Keras 3 release that has those
layers (3.15 has). What Keras lacks and NeuralForge has is written into the file as small helpers
(:mod:`neural_engine.codegen.keras_helpers`): TransformerEncoder/Decoder blocks, PositionalEncoding,
pooling with explicit padding (``Pad``, ``PaddedAveragePooling``), GELU's tanh form; containers are
written inline (``ResidualConnection`` ends in an ``Add``). Parameter counts match NeuralForge's
report except for the conventions in ``KERAS_PARAM_CONVENTIONS``.

>>> from neural_engine.templates import template
>>> "layers.Conv2D(32, 3, data_format=DATA_FORMAT, activation='relu'" in generate_keras(template("mnist_cnn"))
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from neural_engine.codegen.keras_calls import Body, Code, Ctx, K
from neural_engine.codegen.keras_writer import KerasWriter
from neural_engine.errors import ExportError
from neural_engine.ir import Graph
from neural_engine.layers.base import expand
from neural_engine.layers.recurrent import GATES
from neural_engine.layers.spatial import pairs
from neural_engine.shapes import Analysis, NodeInfo, propagate

# our activation name -> Keras' (same function); others become a layer after the main one
KERAS_ACTIVATIONS = {
    n: n
    for n in (
        "relu",
        "relu6",
        "sigmoid",
        "tanh",
        "softmax",
        "log_softmax",
        "gelu",
        "elu",
        "selu",
        "silu",
        "mish",
        "softplus",
        "softsign",
        "hard_sigmoid",
    )
}
KERAS_ACTIVATIONS["hard_swish"] = "hard_silu"
# layers whose Keras class has our name and takes our validated parameters as they are
SAME_AS_KERAS = {
    "Dropout",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "Permute",
    "Flatten",
    "Softmax",
    "ELU",
    "ReLU",
    "LayerNormalization",
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
}


def _with_activation(ctx: Ctx, layer: K) -> list[K]:
    """``layer`` with our ``activation`` param: a Keras activation name, else a layer after it."""
    act = ctx.p.get("activation")
    if act is None or act in KERAS_ACTIVATIONS:
        return [K(layer.cls, {**layer.kwargs, "activation": KERAS_ACTIVATIONS.get(act)}, layer.call)]
    return [layer, _activation_layer(ctx, act)]


def _activation_layer(ctx: Ctx, act: str | None) -> K:
    if act is None:
        return K("layers.Identity")
    if act == "leaky_relu":  # Keras' default slope is 0.2, torch's 0.01
        return K("layers.LeakyReLU", {"negative_slope": 0.01})
    return K("layers.Activation", {"activation": KERAS_ACTIVATIONS[act]})


def _no_data_format(ctx: Ctx, layer: K) -> list[K]:
    """Keras' 1D spatial layers without ``data_format`` assume (steps, channels): a channels-first
    network's (channels, steps) is permuted around them."""
    if ctx.data_format == "channels_first" and ctx.rank == 1:
        return [K("layers.Permute", {"dims": (2, 1)}), layer, K("layers.Permute", {"dims": (2, 1)})]
    return [layer]


def _df(ctx: Ctx) -> dict:
    return {"data_format": Code("DATA_FORMAT")}


def _conv(ctx: Ctx) -> list[K]:
    name, p, transposed = ctx.info.spec.name, ctx.p, ctx.info.spec.transposed
    kwargs = {
        "filters": p.get("filters"),
        "kernel_size": p["kernel_size"],
        "strides": p["strides"],
        "padding": p["padding"],
        "dilation_rate": p["dilation_rate"],
        "groups": p.get("groups", 1),
        "depth_multiplier": p.get("depth_multiplier", 1),
        "use_bias": p["use_bias"],
        **_df(ctx),
    }
    if kwargs["filters"] is None:
        del kwargs["filters"]
    if set(expand(p["strides"], ctx.rank, ctx.info.site, "strides")) == {1}:
        del kwargs["strides"]  # Keras' default for convolutions
    before, after = [], []
    if not isinstance(p["padding"], str):  # an int per side: pad (or crop) explicitly
        pads = expand(p["padding"], ctx.rank, ctx.info.site, "padding")
        kwargs["padding"] = "valid"
        axis_cls = "Cropping" if transposed else "ZeroPadding"
        kw = {"cropping" if axis_cls == "Cropping" else "padding": pads[0] if ctx.rank == 1 else pads}
        extra = _no_data_format(
            ctx, K(f"layers.{axis_cls}{ctx.rank}D", kw if ctx.rank == 1 else {**kw, **_df(ctx)})
        )
        (after if axis_cls == "Cropping" else before).extend(extra)
    if transposed and p["padding"] != "same":
        op = expand(p["output_padding"], ctx.rank, ctx.info.site, "output_padding")
        if any(op):
            kwargs["output_padding"] = op
    main = _with_activation(ctx, K(f"layers.{name}", kwargs))
    return before + main[:1] + after + main[1:]  # a cropping comes before the activation


def _pool(ctx: Ctx) -> list[K]:
    name, p = ctx.info.spec.name, ctx.p
    kwargs = {"pool_size": p["pool_size"], "strides": p["strides"], "padding": p["padding"], **_df(ctx)}
    if kwargs["strides"] is None:
        del kwargs["strides"]
    if isinstance(p["padding"], str):
        return [K(f"layers.{name}", kwargs)]
    pads = expand(p["padding"], ctx.rank, ctx.info.site, "padding")
    spatial = [(a, a) for a in pads]
    width = [(0, 0), *spatial, (0, 0)] if ctx.data_format == "channels_last" else [(0, 0), (0, 0), *spatial]
    pool = K(f"layers.{name}", {**kwargs, "padding": "valid"})
    if ctx.info.spec.pooling == "max":  # torch pads max pooling with -inf
        return [K(ctx.helper("Pad"), {"pad_width": tuple(width), "value": float("-inf")}), pool]
    return [K(ctx.helper("PaddedAveragePooling"), {"pool": pool, "pad_width": tuple(width)})]


def _batch_norm(ctx: Ctx) -> list[K]:
    p = ctx.p
    return [
        K(
            "layers.BatchNormalization",
            {
                "axis": ctx.channel_axis(),
                "momentum": p["momentum"],
                "epsilon": p["epsilon"],
                "center": p["center"],
                "scale": p["scale"],
            },
        )
    ]


def _group_norm(ctx: Ctx) -> list[K]:
    p, channels = ctx.p, ctx.info.site.x[0]
    groups = channels if p.get("groups", -1) == -1 else p["groups"]  # InstanceNorm: one per channel
    return [
        K(
            "layers.GroupNormalization",
            {
                "groups": groups,
                "axis": ctx.channel_axis(),
                "epsilon": p["epsilon"],
                "center": p["center"],
                "scale": p["scale"],
            },
        )
    ]


def _rnn_stack(site, directions: int = 1, merge_mode: str = "concat") -> list[K]:
    """torch's stacked RNN as Keras layers: every layer but the last returns sequences; torch's
    ``dropout`` between stacked layers becomes Dropout layers."""
    p, n = site.params, site.params["num_layers"]
    out = []
    for i in range(n):
        last = i == n - 1
        kwargs = {
            "units": p["units"],
            "use_bias": p["use_bias"],
            "return_sequences": p["return_sequences"] if last else True,
        }
        if len(site.spec.param("activation").choices) > 1:  # SimpleRNN's; LSTM and GRU: tanh only
            kwargs["activation"] = p["activation"]
        layer = K(f"layers.{site.spec.name}", kwargs)
        if directions == 2:
            layer = K(
                "layers.Bidirectional", {"layer": layer, "merge_mode": merge_mode if last else "concat"}
            )
        out.append(layer)
        if not last and p["dropout"]:
            out.append(K("layers.Dropout", {"rate": p["dropout"]}))
    return out


def _time_distributed(ctx: Ctx) -> list[K]:
    (inner,) = ctx.info.body.infos
    layers = layers_for(Ctx(inner, ctx.data_format, ctx.helpers))
    if isinstance(layers, Body):
        raise ExportError(
            "TimeDistributed of a container has no Keras export; wrap a single layer", node=ctx.info.node.id
        )
    layer = layers[0] if len(layers) == 1 else K("keras.Sequential", {"layers": layers})
    return [K("layers.TimeDistributed", {"layer": layer})]


def _attention(ctx: Ctx) -> list[K]:
    p, site = ctx.p, ctx.info.site
    call = "self" if len(site.inputs) == 1 else "args"
    embed = site.x[1]
    return [
        K(
            "layers.MultiHeadAttention",
            {
                "num_heads": p["num_heads"],
                "key_dim": p["key_dim"] or embed // p["num_heads"],
                "value_dim": p["value_dim"],
                "dropout": p["dropout"],
                "use_bias": p["use_bias"],
                "output_shape": p["output_shape"],
            },
            call,
        )
    ]


def _transformer(ctx: Ctx) -> list[K]:
    p, site = ctx.p, ctx.info.site
    embed = site.x[1]
    cross = len(site.inputs) == 2
    kwargs = {
        "embed_dim": embed,
        "num_heads": p["num_heads"],
        "ff_dim": p["ff_dim"] or 4 * embed,
        "dropout": p["dropout"],
        "activation": p["activation"],
        "norm_first": p["norm_first"],
        "causal": p.get("causal", False),  # decoders only
        "cross": cross,
    }
    block = K(ctx.helper("TransformerBlock"), kwargs, "args" if cross else "one")
    return [block] * p["num_layers"]  # the memory goes to every block of a decoder


def _gelu(ctx: Ctx) -> list[K]:
    fn = "gelu" if ctx.p["approximate"] == "none" else ctx.helper("gelu_tanh")
    return [K("layers.Activation", {"activation": fn if fn == "gelu" else Code(fn)})]


def _prelu(ctx: Ctx) -> list[K]:
    rank = len(ctx.user_in)
    channel = rank if ctx.channel_axis() == -1 else 1
    shared = tuple(a for a in range(1, rank + 1) if not ctx.p["per_channel"] or a != channel)
    return [K("layers.PReLU", {"shared_axes": shared or None})]


def _embedding(ctx: Ctx) -> list[K]:
    if ctx.p["padding_idx"] is not None:
        raise ExportError(
            f"Embedding padding_idx={ctx.p['padding_idx']} has no Keras equivalent; "
            "Keras embeddings have no fixed padding row",
            node=ctx.info.node.id,
            hint="remove padding_idx to export to Keras",
        )
    mask = {"mask_zero": True} if ctx.p["mask_zero"] else {}
    return [
        K("layers.Embedding", {"input_dim": ctx.p["input_dim"], "output_dim": ctx.p["output_dim"], **mask})
    ]


def _resize(kind: str, key: str):
    """UpSampling / ZeroPadding / Cropping / SpatialDropout in ``rank`` D."""

    def entry(ctx: Ctx) -> list[K]:
        p, rank = ctx.p, ctx.rank
        if kind == "UpSampling":
            kwargs = {"size": p["size"], **({"interpolation": p["interpolation"]} if rank == 2 else {})}
        elif kind == "SpatialDropout":
            kwargs = {"rate": p["rate"]}
        else:
            value = pairs(p[key], rank, ctx.info.site, key)
            kwargs = {key: value[0] if rank == 1 else value}
        if rank == 1:
            return _no_data_format(ctx, K(f"layers.{kind}1D", kwargs))
        return [K(f"layers.{kind}{rank}D", {**kwargs, **_df(ctx)})]

    return entry


def _fixed_activation(act: str):
    return lambda ctx: [_activation_layer(ctx, act)]


def _pool_to(kind: str):
    """Global pooling (``keepdims``) and adaptive pooling (``output_size``): same names in Keras."""
    key = "keepdims" if kind == "Global" else "output_size"
    return lambda ctx: [K(f"layers.{ctx.info.spec.name}", {key: ctx.p[key], **_df(ctx)})]


def _axes(axes):
    """Keras' Dot takes an int or a pair; ``(1,)`` means ``1``."""
    return axes[0] if isinstance(axes, tuple) and len(axes) == 1 else axes


# THE table: registry layer -> Keras layers (or Body for containers written inline)
KERAS: dict[str, Callable[[Ctx], list[K] | Body]] = {
    "Dense": lambda c: _with_activation(
        c, K("layers.Dense", {"units": c.p["units"], "use_bias": c.p["use_bias"]})
    ),
    "Output": lambda c: _with_activation(c, K("layers.Dense", {"units": c.p["units"]})),
    "Reshape": lambda c: [K("layers.Reshape", {"target_shape": c.info.output.user})],
    "Embedding": _embedding,
    "Activation": lambda c: [_activation_layer(c, c.p["activation"])],
    "LeakyReLU": lambda c: [K("layers.LeakyReLU", {"negative_slope": c.p["negative_slope"]})],
    "PReLU": _prelu,
    "GELU": _gelu,
    **{
        n: _fixed_activation(a)
        for n, a in (
            ("SELU", "selu"),
            ("SiLU", "silu"),
            ("Mish", "mish"),
            ("Tanh", "tanh"),
            ("Sigmoid", "sigmoid"),
        )
    },
    **{f"Conv{r}D{t}": _conv for r in (1, 2, 3) for t in ("", "Transpose")},
    "DepthwiseConv2D": _conv,
    "SeparableConv2D": _conv,
    **{f"{k}Pooling{r}D": _pool for k in ("Max", "Average") for r in (1, 2, 3)},
    **{
        f"{g}{k}Pooling{r}D": _pool_to(g)
        for g in ("Global", "Adaptive")
        for k in ("Max", "Average")
        for r in (1, 2, 3)
    },
    "BatchNormalization": _batch_norm,
    "GroupNormalization": _group_norm,
    "InstanceNormalization": _group_norm,
    "LSTM": lambda c: _rnn_stack(c.info.site),
    "GRU": lambda c: _rnn_stack(c.info.site),
    "SimpleRNN": lambda c: _rnn_stack(c.info.site),
    "Bidirectional": lambda c: _rnn_stack(c.info.body.infos[0].site, 2, c.p["merge_mode"]),
    "TimeDistributed": _time_distributed,
    "MultiHeadAttention": _attention,
    "TransformerEncoder": _transformer,
    "TransformerDecoder": _transformer,
    "PositionalEncoding": lambda c: [
        K(
            c.helper("PositionalEncoding"),
            {
                "max_len": c.p["max_len"],
                "embed_dim": c.info.site.x[1],
                "learnable": c.p["kind"] == "learnable",
                "dropout": c.p["dropout"],
            },
        )
    ],
    **{f"UpSampling{r}D": _resize("UpSampling", "size") for r in (1, 2, 3)},
    **{f"ZeroPadding{r}D": _resize("ZeroPadding", "padding") for r in (1, 2, 3)},
    **{f"Cropping{r}D": _resize("Cropping", "cropping") for r in (1, 2, 3)},
    **{f"SpatialDropout{r}D": _resize("SpatialDropout", "rate") for r in (1, 2, 3)},
    "Dot": lambda c: [K("layers.Dot", {"axes": _axes(c.p["axes"]), "normalize": c.p["normalize"]}, "list")],
    "ResidualConnection": lambda c: Body(residual=True),
    "Sequential": lambda c: Body(residual=False),
}


def layers_for(ctx: Ctx) -> list[K] | Body:
    name = ctx.info.spec.name
    entry = KERAS.get(name)
    if entry is not None:
        return entry(ctx)
    if name in SAME_AS_KERAS:
        merge = ctx.info.spec.family == "merge"  # Keras' merge layers take a list of tensors
        return [K(f"layers.{name}", dict(ctx.p), "list" if merge else "one")]
    raise ExportError(
        f"{name} has no Keras export; expected one of the layers in neural_engine.codegen.keras.KERAS",
        node=ctx.info.node.id,
        hint="export to PyTorch instead, or replace the layer",
    )


# Parameter conventions --------------------------------------------------------------------


@dataclass(frozen=True)
class Convention:
    why: str
    difference: Callable[[NodeInfo], int]  # NeuralForge's (torch's) trainable count minus Keras'


def _second_bias(info: NodeInfo) -> int:
    """torch's recurrent layers keep b_ih and b_hh; Keras' LSTM and SimpleRNN one bias (Keras' GRU,
    reset_after=True, keeps two too, so GRU has no convention)."""
    p = info.site.params
    return p["num_layers"] * GATES[info.spec.name] * p["units"] if p["use_bias"] else 0


def _both_directions(info: NodeInfo) -> int:
    """Bidirectional: its recurrent layer's difference, once per direction."""
    inner = info.body.infos[0]
    convention = KERAS_PARAM_CONVENTIONS.get(inner.spec.name)
    return 2 * convention.difference(inner) if convention is not None else 0


# The one list of differences between NeuralForge's parameter report and Keras' trainable weights.
# (BatchNormalization is none: Keras' moving statistics are non-trainable weights, and the report
# counts torch's running statistics as non-trainable too.)
KERAS_PARAM_CONVENTIONS: dict[str, Convention] = {
    "LSTM": Convention("torch keeps two bias vectors per layer (b_ih, b_hh); Keras one", _second_bias),
    "SimpleRNN": Convention("torch keeps two bias vectors per layer (b_ih, b_hh); Keras one", _second_bias),
    "Bidirectional": Convention(
        "the wrapped LSTM/SimpleRNN's second bias, in both directions", _both_directions
    ),
}


def keras_param_difference(graph: Graph | Analysis) -> int:
    """NeuralForge's trainable parameters minus the generated Keras model's, from the table above.

    >>> from neural_engine.templates import template
    >>> keras_param_difference(template("lstm_classifier", width=16))   # 2 LSTMs: 4 gates x 16
    128
    """
    analysis = graph if isinstance(graph, Analysis) else propagate(graph)

    def walk(infos) -> int:
        total = 0
        for info in infos:
            convention = KERAS_PARAM_CONVENTIONS.get(info.spec.name)
            if convention is not None:
                total += convention.difference(info)
            elif info.body is not None:
                total += walk(info.body.infos)
        return total

    return walk(analysis.nodes.values())


def generate_keras(graph: Graph | Analysis) -> str:
    """Python source of ``build_model()`` returning a ``keras.Model`` for ``graph`` (Keras 3, any
    backend), in the user's notation. Raises ExportError for a layer with no Keras mapping."""
    return KerasWriter(graph if isinstance(graph, Analysis) else propagate(graph), layers_for).source()
