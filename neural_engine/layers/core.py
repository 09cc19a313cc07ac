"""Core layers: Dense/Output, Flatten, Reshape, Permute, Dropout, Embedding."""

from __future__ import annotations

import math

from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall, fmt_shape, numel

UNITS = Param("units", "int", low=1, doc="number of output features")
ACTIVATION = Param("activation", "activation", None, doc='applied after the layer, e.g. "relu"')
USE_BIAS = Param("use_bias", "bool", True, aliases=("bias",))


def _features(site: Site) -> int:
    if not site.x:
        site.fail("expected an input with a feature axis; received a scalar", shape=True)
    f = site.x[-1]
    if f is None:
        site.fail(
            f"needs a known last dimension; received {fmt_shape(site.x)}",
            shape=True,
            hint="give the input shape in full",
        )
    return f


def _dense_infer(site: Site):
    _features(site)
    return (*site.x[:-1], site.params["units"])


def _dense_params(site: Site) -> int:
    return _features(site) * site.params["units"] + (
        site.params.get("use_bias", True) and site.params["units"]
    )


def _dense_flops(site: Site) -> int:
    return 2 * numel(site.x) * site.params["units"]


def _dense_torch(site: Site) -> TorchCall:
    return TorchCall(
        "nn.Linear",
        {
            "in_features": _features(site),
            "out_features": site.params["units"],
            "bias": site.params.get("use_bias", True),
        },
    )


def _dense(name: str, aliases=(), doc="", default_act=None, head=False) -> LayerSpec:
    params = (UNITS, Param("activation", "activation", default_act, doc=ACTIVATION.doc))
    if not head:
        params += (USE_BIAS,)
    return LayerSpec(
        name,
        "core",
        params,
        infer=_dense_infer,
        torch=_dense_torch,
        param_count=_dense_params,
        flops=_dense_flops,
        order="features",
        aliases=aliases,
        doc=doc,
        activation_param=True,
        neural_order=("units", "activation"),
        mask="keep",  # acts on each step of (steps, features): the padding mask passes on
        dense=True,
        head=head,
    )


def _flatten_infer(site: Site):
    return (None,) if any(d is None for d in site.x) else (math.prod(site.x),)


def _reshape_infer(site: Site):
    target = site.params["target_shape"]
    if target.count(-1) > 1:
        site.fail(f"target_shape may hold one -1; received {target}")
    if any(d == 0 or d < -1 for d in target):
        site.fail(f"target_shape entries must be positive or one -1; received {target}")
    size = numel(site.x)
    known = math.prod(d for d in target if d != -1)
    if any(d is None for d in site.x):
        return tuple(None if d == -1 else d for d in target)
    if (-1 in target and size % known) or (-1 not in target and size != known):
        site.fail(
            f"cannot reshape {fmt_shape(site.x)} ({size} values) to {fmt_shape(target)} ({known} values)",
            shape=True,
            hint="the product of target_shape must equal the input's; use -1 for one free dim",
        )
    return tuple(size // known if d == -1 else d for d in target)


def _permute_infer(site: Site):
    dims = site.params["dims"]
    if sorted(dims) != list(range(1, len(site.x) + 1)):
        site.fail(
            f"dims must be a permutation of 1..{len(site.x)} (Keras counts the batch as 0); received {dims}",
            shape=True,
        )
    return tuple(site.x[d - 1] for d in dims)


def _padding_idx(site: Site) -> int | None:
    """torch's padding_idx: the one given, or 0 for Keras' ``mask_zero``."""
    p = site.params
    if p["mask_zero"] and p["padding_idx"] not in (None, 0):
        site.fail(
            f"mask_zero=true makes id 0 the padding; received padding_idx={p['padding_idx']} too",
            hint="keep one of them: mask_zero=true (padding id 0) or padding_idx=…",
        )
    return 0 if p["mask_zero"] else p["padding_idx"]


def _embedding_infer(site: Site):
    if len(site.x) != 1:  # (steps, features) is vectors already: say so here, not at the layer after
        site.fail(
            f"takes token ids (steps,); received shape {fmt_shape(site.user_x)} of rank {len(site.x)}",
            "an input of (steps, features) is vectors already: feed it on without an Embedding, "
            "or declare input: (steps,) for sequences of token ids",
            shape=True,
        )
    _padding_idx(site)
    return (*site.x, site.params["output_dim"])


def _embedding_torch(site: Site) -> TorchCall:
    pad = _padding_idx(site)
    return TorchCall(
        "nn.Embedding",
        {
            "num_embeddings": site.params["input_dim"],
            "embedding_dim": site.params["output_dim"],
            **({"padding_idx": pad} if pad is not None else {}),
        },
    )


SPECS = (
    _dense("Dense", aliases=("Linear",), doc="Fully connected layer on the last axis."),
    _dense(
        "Output",
        doc="The network's head: a Dense layer whose activation (e.g. softmax) is "
        "applied at inference and left to the loss in training.",
        head=True,
    ),
    LayerSpec(
        "Flatten",
        "core",
        (),
        infer=_flatten_infer,
        torch=lambda s: TorchCall("nn.Flatten"),
        flattens=True,
        doc="Flattens all non-batch axes (in PyTorch's channels-first order).",
    ),
    LayerSpec(
        "Reshape",
        "core",
        (
            Param(
                "target_shape", "ints", aliases=("shape",), doc="new shape without the batch; one -1 allowed"
            ),
        ),
        infer=_reshape_infer,
        order="features",
        torch=lambda s: TorchCall("nf.Reshape", {"shape": tuple(s.output)}),
        doc="Reshapes (in your notation's axis order).",
    ),
    LayerSpec(
        "Permute",
        "core",
        (Param("dims", "ints", low=1, doc="1-based axis order, e.g. (2, 1)"),),
        infer=_permute_infer,
        order="features",
        torch=lambda s: TorchCall("nf.Permute", {"dims": s.params["dims"]}),
        doc="Permutes axes (Keras numbering: 1 is the first non-batch axis).",
    ),
    LayerSpec(
        "Dropout",
        "core",
        (
            Param(
                "rate",
                "float",
                0.5,
                low=0,
                high=1,
                high_open=True,
                aliases=("p",),
                doc="fraction of units dropped in training",
            ),
        ),
        infer=lambda s: s.x,
        torch=lambda s: TorchCall("nn.Dropout", {"p": s.params["rate"]}),
        mask="keep",
        doc="Drops units at random in training.",
    ),
    LayerSpec(
        "Embedding",
        "core",
        (
            Param("input_dim", "int", low=1, aliases=("num_embeddings", "vocab_size"), doc="vocabulary size"),
            Param("output_dim", "int", low=1, aliases=("embedding_dim",), doc="vector size"),
            Param("padding_idx", "int", None, low=0, doc="index whose vector stays zero"),
            Param(
                "mask_zero",
                "bool",
                False,
                doc="Keras' flag that id 0 is padding: padding_idx=0 (id 0's vector is zero and "
                "never trained) and a padding mask (ids == 0) that per-step layers pass on to "
                "recurrent, attention and average-pooling layers, which skip padded steps as "
                "Keras' do; sequences are read as right-padded",
            ),
        ),
        infer=_embedding_infer,
        order="features",
        input_dtype="long",
        mask=lambda s: "make" if s.params["mask_zero"] else "drop",
        param_count=lambda s: s.params["input_dim"] * s.params["output_dim"],
        torch=_embedding_torch,
        doc="Maps integer token ids to learned vectors.",
    ),
)
