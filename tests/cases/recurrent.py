from tests.cases import Case

LSTM16_SEQ = (("LSTM", {"units": 16, "return_sequences": True}),)

CASES = [
    # LSTM / GRU / SimpleRNN: last state or sequence, stacked, bias, layouts
    Case("LSTM", {"units": 16}, ((10, 8),), (16,)),
    Case("LSTM", {"units": 16, "return_sequences": True}, ((10, 8),), (10, 16)),
    Case("LSTM", {"units": 12, "num_layers": 2, "dropout": 0.2}, ((7, 5),), (12,)),
    Case(
        "LSTM",
        {"units": 6, "use_bias": False, "return_sequences": True},
        ((4, 3),),
        (4, 6),
        layout="channels_first",
    ),
    Case("GRU", {"units": 16}, ((10, 8),), (16,)),
    Case("GRU", {"units": 8, "return_sequences": True, "num_layers": 2}, ((6, 4),), (6, 8)),
    Case("GRU", {"units": 5, "use_bias": False}, ((9, 3),), (5,), layout="channels_first"),
    Case("SimpleRNN", {"units": 16}, ((10, 8),), (16,)),
    Case("LSTM", {"units": 8, "recurrent_dropout": 0.0}, ((6, 4),), (8,), note="-keras-recurrent-dropout-0"),
    Case(
        "RNN",
        {"units": 8, "activation": "relu", "return_sequences": True, "num_layers": 3},
        ((5, 4),),
        (5, 8),
    ),
    # Bidirectional: concat doubles the features; other merges keep them
    Case("Bidirectional", {}, ((10, 8),), (10, 32), body=LSTM16_SEQ),
    Case("Bidirectional", {}, ((10, 8),), (32,), body=(("LSTM", {"units": 16}),)),
    Case("Bidirectional", {}, ((10, 8),), (24,), body=(("GRU", {"units": 12, "num_layers": 2}),)),
    Case(
        "Bidirectional",
        {"merge_mode": "sum"},
        ((6, 4),),
        (6, 8),
        body=(("GRU", {"units": 8, "return_sequences": True}),),
    ),
    Case(
        "Bidirectional",
        {"merge_mode": "ave"},
        ((6, 4),),
        (5,),
        body=(("SimpleRNN", {"units": 5, "num_layers": 2}),),
        layout="channels_first",
    ),
    # TimeDistributed: Dense per step, a conv per frame (both layouts), an LSTM per window
    Case("TimeDistributed", {}, ((10, 32),), (10, 64), body=(("Dense", {"units": 64}),)),
    Case(
        "TimeDistributed",
        {},
        ((4, 8, 8, 3),),
        (4, 6, 6, 5),
        body=(("Conv2D", {"filters": 5, "kernel_size": 3}),),
    ),
    Case(
        "TimeDistributed",
        {},
        ((4, 3, 8, 8),),
        (4, 5, 8, 8),
        body=(("Conv2D", {"filters": 5, "kernel_size": 3, "padding": "same"}),),
        layout="channels_first",
    ),
    Case("TimeDistributed", {}, ((3, 6, 4),), (3, 7), body=(("LSTM", {"units": 7}),)),
]
