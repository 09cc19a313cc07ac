"""Recurrent layers (LSTM, GRU, SimpleRNN) and the wrappers Bidirectional and TimeDistributed.

Inputs are (steps, features) in the user's order — torch's ``batch_first`` layout. Every RNN is
an ``nf.Recurrent`` around ``nn.LSTM``/``nn.GRU``/``nn.RNN`` that returns the whole sequence
or, like Keras, the last layer's final hidden state. torch's flop counter sees only the
matmuls: per layer and direction, 2·steps·gates·units·(inputs + units).
"""

from __future__ import annotations

from neural_engine.layers.base import BODY, LayerSpec, Param, Site, TorchCall, fmt_shape
from neural_engine.layers.containers import body_mask, body_sum

GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
TORCH_CLASS = {"LSTM": "nn.LSTM", "GRU": "nn.GRU", "SimpleRNN": "nn.RNN"}
RNN_HINT = "recurrent layers take (steps, features); add a Reshape first, or an Embedding for token ids"


def rnn_params(name: str, *, tanh_only: bool) -> tuple[Param, ...]:
    """Keras' order (units, activation, use_bias, dropout, recurrent_dropout, return_sequences)
    plus num_layers."""
    act_doc = "torch's LSTM and GRU use tanh; SimpleRNN takes tanh or relu" if tanh_only else "tanh or relu"
    return (
        Param("units", "int", low=1, aliases=("hidden_size",), doc="size of the hidden state"),
        Param(
            "activation",
            "str",
            "tanh",
            choices=("tanh",) if tanh_only else ("tanh", "relu"),
            aliases=("nonlinearity",),
            doc=act_doc,
        ),
        Param("use_bias", "bool", True, aliases=("bias",)),
        Param(
            "dropout",
            "float",
            0.0,
            low=0,
            high=1,
            high_open=True,
            doc="dropout between stacked layers (torch semantics, not Keras' input dropout); "
            "no effect when num_layers is 1",
        ),
        Param(
            "recurrent_dropout",
            "float",
            0.0,
            low=0,
            high=1,
            high_open=True,
            refused=f"PyTorch's {TORCH_CLASS[name]} (fused, cuDNN) has no dropout on the recurrent state",
            doc="for dropout between stacked layers use dropout=… with num_layers > 1; "
            "for dropout on the outputs add Dropout(…) after this layer",
        ),
        Param(
            "return_sequences",
            "bool",
            False,
            doc="return every step (steps, units) instead of the last state (units,)",
        ),
        Param("num_layers", "int", 1, low=1, doc="stacked recurrent layers"),
    )


def _steps_features(site: Site) -> tuple[int | None, int]:
    site.need_rank(2)
    steps, features = site.x
    if features is None:
        site.fail(
            f"needs a known feature count; received {fmt_shape(site.x)}",
            shape=True,
            hint="give the input shape in full, e.g. (steps, 32)",
        )
    return steps, features


def _layer_inputs(site: Site, directions: int) -> list[int]:
    """Input features of each stacked layer (later layers read all directions' outputs)."""
    _, features = _steps_features(site)
    return [features] + [site.params["units"] * directions] * (site.params["num_layers"] - 1)


def rnn_param_count(site: Site, directions: int = 1) -> int:
    """torch's weights: per layer and direction, gates·units·(inputs + units) + 2 biases."""
    units, gates = site.params["units"], GATES[site.spec.name]
    bias = 2 * gates * units if site.params["use_bias"] else 0
    return sum(directions * (gates * units * (n + units) + bias) for n in _layer_inputs(site, directions))


def rnn_flops(site: Site, directions: int = 1) -> int:
    """The matmuls torch counts: every step projects the input and the previous hidden state."""
    steps = site.x[0] or 1
    units, gates = site.params["units"], GATES[site.spec.name]
    return sum(directions * 2 * steps * gates * units * (n + units) for n in _layer_inputs(site, directions))


def _rnn_infer(site: Site):
    steps, _ = _steps_features(site)
    units = site.params["units"]
    return (steps, units) if site.params["return_sequences"] else (units,)


def rnn_call(site: Site, directions: int = 1, merge_mode: str = "concat") -> TorchCall:
    p = site.params
    kwargs = {
        "input_size": _steps_features(site)[1],
        "hidden_size": p["units"],
        "num_layers": p["num_layers"],
        "bias": p["use_bias"],
        "batch_first": True,
        "dropout": p["dropout"] if p["num_layers"] > 1 else 0.0,
        "bidirectional": directions == 2,
    }
    if site.spec.name == "SimpleRNN":
        kwargs["nonlinearity"] = p["activation"]
    outer = {"rnn": TorchCall(TORCH_CLASS[site.spec.name], kwargs), "return_sequences": p["return_sequences"]}
    if directions == 2:
        outer["merge_mode"] = merge_mode
    return TorchCall("nf.Recurrent", outer)


def _rnn_spec(name: str, doc: str, aliases=()) -> LayerSpec:
    return LayerSpec(
        name,
        "recurrent",
        rnn_params(name, tanh_only=name != "SimpleRNN"),
        infer=_rnn_infer,
        torch=rnn_call,
        param_count=rnn_param_count,
        flops=rnn_flops,
        order="features",
        aliases=aliases,
        rank_hint=RNN_HINT,
        mask="use",  # masked steps are skipped; the mask passes on with return_sequences
        doc=doc,
    )


# Bidirectional --------------------------------------------------------------------------------

MERGE_MODES = ("concat", "sum", "mul", "ave")


def _inner_rnn(site: Site) -> Site:
    """The wrapped recurrent layer's analysed site; anything else is refused."""
    inner = site.body.infos[0]
    if inner.spec.name not in GATES:
        site.fail(
            f"wraps a recurrent layer (LSTM, GRU or SimpleRNN); received {inner.spec.name}",
            hint="write Bidirectional(LSTM(64, return_sequences=true))",
        )
    return inner.site


def _bidirectional_infer(site: Site):
    out = _inner_rnn(site).output
    return (*out[:-1], out[-1] * 2) if site.params["merge_mode"] == "concat" else out


# TimeDistributed ------------------------------------------------------------------------------


def _time_body_input(site: Site):
    if len(site.x) < 2:
        site.fail(
            f"expected an input of rank 2 or more (steps, ...); received {fmt_shape(site.x)}",
            "TimeDistributed applies its layer to every step of axis 1",
            shape=True,
        )
    return site.x[1:], False, False


def _time_flops(site: Site) -> int:
    return (site.x[0] or 1) * sum(info.flops for info in site.body.infos)


SPECS = (
    _rnn_spec(
        "LSTM",
        "Long short-term memory over (steps, features); returns (units,) or, with "
        "return_sequences, (steps, units). num_layers stacks LSTMs.",
    ),
    _rnn_spec(
        "GRU",
        "Gated recurrent unit (torch's formulation, Keras' reset_after=True); "
        "returns (units,) or (steps, units).",
    ),
    _rnn_spec(
        "SimpleRNN",
        "Elman RNN: h = activation(W x + U h + b); returns (units,) or (steps, units).",
        aliases=("RNN",),
    ),
    LayerSpec(
        "Bidirectional",
        "recurrent",
        (
            Param(
                "merge_mode",
                "str",
                "concat",
                choices=MERGE_MODES,
                doc="how forward and backward outputs combine",
            ),
        ),
        infer=_bidirectional_infer,
        order="features",
        container="wrapper",
        body_input=lambda s: (s.x, False, False),
        torch=lambda s: rnn_call(_inner_rnn(s), 2, s.params["merge_mode"]),
        param_count=lambda s: rnn_param_count(_inner_rnn(s), 2),
        flops=lambda s: rnn_flops(_inner_rnn(s), 2),
        # one layer per direction takes the mask (stack Bidirectional layers for more)
        mask=lambda s: "use" if _inner_rnn(s).params["num_layers"] == 1 else "drop",
        doc="Runs its recurrent layer forwards and backwards (torch bidirectional=True) and "
        "merges both: concat doubles the features.",
    ),
    LayerSpec(
        "TimeDistributed",
        "recurrent",
        (),
        order="features",
        container="wrapper",
        body_input=_time_body_input,
        infer=lambda s: (s.x[0], *s.body.output.shape),
        torch=lambda s: TorchCall("nf.TimeDistributed", {"layer": BODY}),
        param_count=body_sum("params"),
        non_trainable=body_sum("non_trainable"),
        flops=_time_flops,
        mask=body_mask,
        doc="Applies its layer to every step of axis 1 with shared weights: "
        "(steps, ...) -> (steps, *layer output).",
    ),
)
