"""Activation functions: the names layers accept as ``activation=`` and the activation layers.

One table (``ACTIVATIONS``) maps each name to its torch module; the ``Activation`` layer, every
layer's ``activation`` parameter and the activation layer specs (ReLU, GELU, …) all read it.
"""

from __future__ import annotations

from neural_engine.layers.activation_names import ACTIVATIONS
from neural_engine.layers.base import LayerSpec, Param, Site, TorchCall


def activation_call(name: str, site: Site, out_cf: bool | None = None) -> TorchCall:
    """The torch module for activation ``name`` on the layer's output at ``site``.

    Softmax runs over the user's last axis: the channel axis (torch dim 1) when the tensor is
    channels-first internally.
    """
    cls, kwargs = ACTIVATIONS[name]
    if name in ("softmax", "log_softmax"):
        cf = site.cf if out_cf is None else out_cf
        kwargs = {"dim": 1 if cf else -1}
    return TorchCall(cls, dict(kwargs))


def _same(site: Site):
    return site.x


def _simple(name: str, act: str, *, params=(), torch=None, aliases=(), doc="") -> LayerSpec:
    return LayerSpec(
        name=name,
        family="activation",
        params=tuple(params),
        infer=_same,
        torch=torch or (lambda site: activation_call(act, site)),
        aliases=aliases,
        mask="keep",  # element-wise: the padding mask passes on (Keras supports_masking)
        doc=doc or f"{name} activation, element-wise.",
    )


def _softmax_infer(site: Site):
    site.axis(site.params["axis"])  # refuses the batch axis and out-of-range axes
    return site.x


def _softmax_call(site: Site) -> TorchCall:
    cls = "nn.Softmax"
    return TorchCall(cls, {"dim": site.axis(site.params["axis"]) + 1})


SPECS = (
    LayerSpec(
        "Activation",
        "activation",
        (Param("activation", "activation", doc='e.g. "relu"'),),
        infer=_same,
        mask="keep",
        doc="Applies a named activation.",
        torch=lambda site: (
            activation_call(site.params["activation"], site)
            if site.params["activation"]
            else TorchCall("nn.Identity")
        ),
    ),
    _simple("ReLU", "relu"),
    _simple(
        "LeakyReLU",
        "leaky_relu",
        params=[Param("negative_slope", "float", 0.01, low=0, aliases=("alpha",), doc="slope for x < 0")],
        torch=lambda s: TorchCall("nn.LeakyReLU", {"negative_slope": s.params["negative_slope"]}),
    ),
    LayerSpec(
        "PReLU",
        "activation",
        (Param("per_channel", "bool", False, doc="one learned slope per channel, else one in all"),),
        infer=_same,
        order="channels",
        mask="keep",
        doc="Leaky ReLU with a learned slope.",
        torch=lambda s: TorchCall("nn.PReLU", {"num_parameters": _prelu_n(s)}),
        param_count=lambda s: _prelu_n(s),
    ),
    _simple(
        "ELU",
        "elu",
        params=[Param("alpha", "float", 1.0, low=0)],
        torch=lambda s: TorchCall("nn.ELU", {"alpha": s.params["alpha"]}),
    ),
    _simple("SELU", "selu"),
    _simple(
        "GELU",
        "gelu",
        params=[Param("approximate", "str", "none", choices=("none", "tanh"))],
        torch=lambda s: TorchCall("nn.GELU", {"approximate": s.params["approximate"]}),
    ),
    _simple("SiLU", "silu", aliases=("Swish",)),
    _simple("Mish", "mish"),
    _simple("Tanh", "tanh"),
    _simple("Sigmoid", "sigmoid"),
    LayerSpec(
        "Softmax",
        "activation",
        (Param("axis", "int", -1, doc="axis in your notation"),),
        infer=_softmax_infer,
        torch=_softmax_call,
        applies_softmax=True,
        mask="keep",
        doc="Softmax over one axis (default: last).",
    ),
)


def _prelu_n(site: Site) -> int:
    if not site.params["per_channel"]:
        return 1
    channels = site.x[0] if len(site.x) > 1 else site.x[-1]
    if channels is None:
        site.fail("per-channel slopes need a known channel count; received None", shape=True)
    return channels
