"""Attention layers: MultiHeadAttention, TransformerEncoder/Decoder, PositionalEncoding.

Inputs are (steps, features) in the user's order — torch's ``batch_first`` layout. FLOPs are
what torch's flop counter sees with the math attention kernel: the linear projections plus two
batched matmuls per attention (scores q·kᵀ and the weighted sum of values).
"""

from __future__ import annotations

from neural_engine.layers.base import LayerSpec, MaskRule, Param, Site, TorchCall, fmt_shape

SEQ_HINT = "attention layers take (steps, features); add a Reshape, or an Embedding for token ids"
DROPOUT = Param("dropout", "float", 0.0, low=0, high=1, high_open=True, doc="dropout rate in training")
NUM_HEADS = Param("num_heads", "int", low=1, aliases=("heads", "nhead"), doc="attention heads")


def _sequence(site: Site, i: int = 0, what: str = "input") -> tuple[int | None, int]:
    """(steps, features) of input ``i``; features must be known."""
    shape = site.inputs[i]
    if len(shape) != 2:
        site.fail(
            f"expected a rank-2 {what} (steps, features), batch excluded; received shape "
            f"{fmt_shape(shape)} of rank {len(shape)}",
            SEQ_HINT,
            shape=True,
        )
    if shape[1] is None:
        site.fail(
            f"needs a known feature count for the {what}; received {fmt_shape(shape)}",
            shape=True,
            hint="give the input shape in full, e.g. (steps, 64)",
        )
    return shape[0], shape[1]


def _heads_divide(site: Site, embed: int) -> None:
    heads = site.params["num_heads"]
    if embed % heads:
        options = [h for h in range(1, min(embed, 16) + 1) if embed % h == 0]
        site.fail(
            f"embed dim {embed} is not divisible by num_heads {heads}",
            shape=True,
            hint=f"use num_heads in {options}, or project to a multiple of {heads} with Dense first",
        )


# MultiHeadAttention ---------------------------------------------------------------------------


def _mha_dims(site: Site) -> dict[str, int]:
    """Lengths and sizes: query (L, Eq), value (S, Ev), key (S, Ek); heads, key/value dims, output."""
    (lq, eq), (s, ev) = _sequence(site, 0, "query"), _sequence(site, min(1, len(site.inputs) - 1), "value")
    sk, ek = _sequence(site, len(site.inputs) - 1, "key") if len(site.inputs) == 3 else (s, ev)
    if None not in (s, sk) and s != sk:
        site.fail(
            f"expected key and value of one length; received value {fmt_shape(site.inputs[1])} "
            f"and key {fmt_shape(site.inputs[2])}",
            shape=True,
        )
    p = site.params
    if p["key_dim"] is None:
        _heads_divide(site, eq)
    kd = p["key_dim"] or eq // p["num_heads"]
    return {
        "L": lq or 1,
        "S": s or 1,
        "Eq": eq,
        "Ek": ek,
        "Ev": ev,
        "H": p["num_heads"],
        "kd": kd,
        "vd": p["value_dim"] or kd,
        "out": p["output_shape"] or eq,
    }


def _mha_mode(site: Site) -> None:
    """Neural DSL's ``mode``: "self" needs one input, "cross" a query and a value (and a key)."""
    mode, n = site.params["mode"], len(site.inputs)
    if mode == "self" and n != 1:
        site.fail(
            f'mode="self" attends a sequence to itself and takes one input; received {n}',
            hint='use mode="cross" for (query, value) inputs, or leave mode out',
        )
    if mode == "cross" and n == 1:
        site.fail(
            'mode="cross" takes a query and a value (and a key); received 1 input',
            hint='give the value as a second input: MultiHeadAttention(4, mode="cross") <- [query, memory]',
        )


def _mha_infer(site: Site):
    _mha_mode(site)
    _mha_dims(site)
    return (site.x[0], site.params["output_shape"] or site.x[1])


def _mha_params(site: Site) -> int:
    d = _mha_dims(site)
    qk, v = d["H"] * d["kd"], d["H"] * d["vd"]
    weights = d["Eq"] * qk + d["Ek"] * qk + d["Ev"] * v + v * d["out"]
    return weights + (2 * qk + v + d["out"] if site.params["use_bias"] else 0)


def _mha_flops(site: Site) -> int:
    d = _mha_dims(site)
    qk, v = d["H"] * d["kd"], d["H"] * d["vd"]
    projections = d["L"] * d["Eq"] * qk + d["S"] * (d["Ek"] * qk + d["Ev"] * v) + d["L"] * v * d["out"]
    return 2 * projections + 2 * d["L"] * d["S"] * (qk + v)  # linears, then q·kᵀ and weights·v


def _mha_torch(site: Site) -> TorchCall:
    d = _mha_dims(site)
    return TorchCall(
        "nf.MultiHeadAttention",
        {
            "query_features": d["Eq"],
            "key_features": d["Ek"],
            "value_features": d["Ev"],
            "num_heads": d["H"],
            "key_dim": d["kd"],
            "value_dim": d["vd"],
            "output_dim": d["out"],
            "dropout": site.params["dropout"],
            "bias": site.params["use_bias"],
        },
    )


# Transformer blocks ---------------------------------------------------------------------------


def transformer_params(decoder: bool) -> tuple[Param, ...]:
    ps = (
        NUM_HEADS,
        Param(
            "ff_dim",
            "int",
            None,
            low=1,
            aliases=("dim_feedforward", "intermediate_dim"),
            doc="feed-forward width; default 4 × the embed dim",
        ),
        Param("dropout", "float", 0.1, low=0, high=1, high_open=True),
        Param("num_layers", "int", 1, low=1, doc="stacked blocks"),
        Param("activation", "str", "relu", choices=("relu", "gelu"), doc="feed-forward activation"),
        Param(
            "norm_first",
            "bool",
            False,
            aliases=("normalize_first",),
            doc="pre-norm (LayerNorm before each sub-layer) instead of post-norm",
        ),
        Param(
            "use_attention_mask",
            "bool",
            False,
            doc="require the padding mask of an Embedding(mask_zero=true) before it (an error "
            "where none arrives); the mask is used whenever one arrives, as torch's key padding "
            "mask: padded steps are never attended to",
        ),
    )
    if decoder:
        ps += (
            Param(
                "causal",
                "bool",
                True,
                aliases=("use_causal_mask",),
                doc="each target step attends only to earlier steps",
            ),
        )
    return ps


def _block(site: Site) -> tuple[int, int, int, int | None]:
    """(steps, embed dim, feed-forward dim, memory steps or None) for a transformer block."""
    steps, embed = _sequence(site)
    _heads_divide(site, embed)
    memory = None
    if len(site.inputs) == 2:
        memory, mem_embed = _sequence(site, 1, "memory")
        if mem_embed != embed:
            site.fail(
                f"expected a memory with the target's embed dim {embed}; received "
                f"{fmt_shape(site.inputs[1])}",
                shape=True,
                hint=f"project the memory with Dense({embed}) first",
            )
        memory = memory or 1
    return steps or 1, embed, site.params["ff_dim"] or 4 * embed, memory


def _block_mask(site: Site) -> MaskRule:
    """Transformer blocks read the padding mask; ``use_attention_mask=true`` insists on one."""
    return "need" if site.params["use_attention_mask"] else "use"


def _block_infer(site: Site):
    _block(site)
    return site.x


def _layer_kwargs(site: Site, embed: int, ff: int) -> dict:
    p = site.params
    return {
        "d_model": embed,
        "nhead": p["num_heads"],
        "dim_feedforward": ff,
        "dropout": p["dropout"],
        "activation": p["activation"],
        "batch_first": True,
        "norm_first": p["norm_first"],
    }


def _encoder_stack(site: Site, embed: int, ff: int) -> TorchCall:
    return TorchCall(
        "nn.TransformerEncoder",
        {
            "encoder_layer": TorchCall("nn.TransformerEncoderLayer", _layer_kwargs(site, embed, ff)),
            "num_layers": site.params["num_layers"],
            "enable_nested_tensor": False,
        },
    )


def _decoder_torch(site: Site) -> TorchCall:
    _, embed, ff, memory = _block(site)
    stack = (
        _encoder_stack(site, embed, ff)
        if memory is None
        else TorchCall(
            "nn.TransformerDecoder",
            {
                "decoder_layer": TorchCall("nn.TransformerDecoderLayer", _layer_kwargs(site, embed, ff)),
                "num_layers": site.params["num_layers"],
            },
        )
    )
    return TorchCall("nf.CausalDecoder", {"stack": stack, "causal": site.params["causal"]})


def _attention_weights(e: int) -> int:
    return 4 * e * e + 4 * e  # packed q/k/v projection and output projection, with biases


def _transformer_param_count(site: Site) -> int:
    _, e, ff, memory = _block(site)
    feed_forward = 2 * e * ff + ff + e
    attentions, norms = (1, 2) if memory is None else (2, 3)
    return site.params["num_layers"] * (attentions * _attention_weights(e) + feed_forward + norms * 2 * e)


def _transformer_flops(site: Site) -> int:
    steps, e, ff, memory = _block(site)
    per_layer = 8 * steps * e * e + 4 * steps * steps * e + 4 * steps * e * ff  # self-attention, feed-forward
    if memory is not None:  # cross-attention
        per_layer += 4 * steps * e * e + 4 * memory * e * e + 4 * steps * memory * e
    return site.params["num_layers"] * per_layer


# PositionalEncoding ---------------------------------------------------------------------------


def _positional_infer(site: Site):
    steps, _ = _sequence(site)
    max_len = site.params["max_len"]
    if steps is not None and steps > max_len:
        site.fail(
            f"expected at most max_len={max_len} steps; received {fmt_shape(site.x)}",
            shape=True,
            hint=f"raise max_len to at least {steps}",
        )
    return site.x


def _positional_params(site: Site) -> int:
    return site.params["max_len"] * _sequence(site)[1] if site.params["kind"] == "learnable" else 0


def _positional_torch(site: Site) -> TorchCall:
    return TorchCall(
        "nf.PositionalEncoding",
        {
            "max_len": site.params["max_len"],
            "embed_dim": _sequence(site)[1],
            "learnable": site.params["kind"] == "learnable",
            "dropout": site.params["dropout"],
        },
    )


SPECS = (
    LayerSpec(
        "MultiHeadAttention",
        "attention",
        (
            NUM_HEADS,
            Param(
                "key_dim",
                "int",
                None,
                low=1,
                doc="size per head of query and key; default embed dim // num_heads",
            ),
            Param("value_dim", "int", None, low=1, doc="size per head of value; default key_dim"),
            DROPOUT,
            Param("use_bias", "bool", True, aliases=("bias",)),
            Param(
                "output_shape",
                "int",
                None,
                low=1,
                aliases=("output_dim",),
                doc="output features; default the query's",
            ),
            Param(
                "mode",
                "str",
                "auto",
                choices=("auto", "self", "cross"),
                doc="Neural DSL's flag, checked against the inputs: self (one input) or cross "
                "(query, value[, key]); auto: by the number of inputs",
            ),
        ),
        infer=_mha_infer,
        torch=_mha_torch,
        param_count=_mha_params,
        flops=_mha_flops,
        order="features",
        arity=(1, 3),
        rank_hint=SEQ_HINT,
        mask="use",  # the keys' padding mask; the query's passes on
        mask_args=(("key_padding_mask", -1),),
        doc="Keras multi-head attention: one input is self-attention; inputs (query, value) "
        "or (query, value, key) are cross-attention. Output (query steps, output_shape).",
    ),
    LayerSpec(
        "TransformerEncoder",
        "attention",
        transformer_params(decoder=False),
        infer=_block_infer,
        torch=lambda s: _encoder_stack(s, *_block(s)[1:3]),
        mask=_block_mask,
        mask_args=(("src_key_padding_mask", 0),),
        param_count=_transformer_param_count,
        flops=_transformer_flops,
        order="features",
        rank_hint=SEQ_HINT,
        doc="num_layers torch TransformerEncoderLayers (self-attention + feed-forward) on "
        "(steps, embed); keeps the shape.",
    ),
    LayerSpec(
        "TransformerDecoder",
        "attention",
        transformer_params(decoder=True),
        infer=_block_infer,
        torch=_decoder_torch,
        mask=_block_mask,
        mask_args=(("tgt_key_padding_mask", 0), ("memory_key_padding_mask", 1)),
        param_count=_transformer_param_count,
        flops=_transformer_flops,
        order="features",
        arity=(1, 2),
        rank_hint=SEQ_HINT,
        doc="Inputs (target, memory): torch TransformerDecoderLayers (masked self-attention, "
        "cross-attention, feed-forward). One input: a decoder-only block (masked "
        "self-attention, feed-forward). causal masks future target steps.",
    ),
    LayerSpec(
        "PositionalEncoding",
        "attention",
        (
            Param(
                "max_len",
                "int",
                512,
                low=1,
                aliases=("max_length", "sequence_length"),
                doc="longest sequence the table covers",
            ),
            Param(
                "kind",
                "str",
                "sinusoidal",
                choices=("sinusoidal", "learnable"),
                aliases=("type", "encoding", "encoding_type"),
                doc="fixed sine/cosine table or a learned one",
            ),
            DROPOUT,
        ),
        infer=_positional_infer,
        torch=_positional_torch,
        mask="keep",  # adds a table per step: the padding mask passes on
        order="features",
        rank_hint=SEQ_HINT,
        param_count=_positional_params,
        doc="Adds a position table to (steps, embed): sinusoidal (no weights) or learnable "
        "(max_len × embed weights).",
    ),
)
