from tests.cases import Case

CASES = [
    # MultiHeadAttention: self, cross (query, value) and (query, value, key); key_dim given/omitted
    Case("MultiHeadAttention", {"num_heads": 4}, ((10, 32),), (10, 32)),
    Case("MultiHeadAttention", {"num_heads": 2, "key_dim": 8}, ((10, 32),), (10, 32)),
    Case(
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 8, "value_dim": 4, "output_shape": 12, "use_bias": False},
        ((6, 10),),
        (6, 12),
    ),
    Case("MultiHeadAttention", {"num_heads": 4}, ((7, 16), (5, 24)), (7, 16)),
    Case("MultiHeadAttention", {"num_heads": 3, "key_dim": 5}, ((7, 16), (5, 24), (5, 12)), (7, 16)),
    Case("MultiHeadAttention", {"num_heads": 2}, ((6, 8),), (6, 8), layout="channels_first"),
    # TransformerEncoder / Decoder
    Case("TransformerEncoder", {"num_heads": 4, "ff_dim": 64}, ((10, 32),), (10, 32)),
    Case(
        "TransformerEncoder",
        {"num_heads": 2, "num_layers": 2, "activation": "gelu", "norm_first": True},
        ((6, 16),),
        (6, 16),
    ),
    Case(
        "TransformerEncoder",
        {"num_heads": 2, "dim_feedforward": 20},
        ((5, 8),),
        (5, 8),
        layout="channels_first",
    ),
    Case("TransformerDecoder", {"num_heads": 4, "ff_dim": 64}, ((10, 32),), (10, 32), note="-decoder-only"),
    Case("TransformerDecoder", {"num_heads": 4, "ff_dim": 48}, ((7, 32), (9, 32)), (7, 32)),
    Case("TransformerDecoder", {"num_heads": 2, "num_layers": 2, "causal": False}, ((5, 8), (3, 8)), (5, 8)),
    # PositionalEncoding: fixed table (no weights, non-persistent buffer) or learned
    Case("PositionalEncoding", {}, ((10, 32),), (10, 32)),
    Case("PositionalEncoding", {"max_len": 20, "kind": "learnable"}, ((10, 32),), (10, 32)),
    Case("PositionalEncoding", {"max_len": 9, "type": "sinusoidal", "dropout": 0.1}, ((9, 7),), (9, 7)),
    # Neural DSL's spellings: encoding_type, MultiHeadAttention mode, use_attention_mask=false
    Case("PositionalEncoding", {"max_len": 12, "encoding_type": "learnable"}, ((10, 8),), (10, 8)),
    Case("MultiHeadAttention", {"num_heads": 2, "mode": "self"}, ((6, 8),), (6, 8)),
    Case("MultiHeadAttention", {"num_heads": 2, "mode": "cross"}, ((6, 8), (4, 12)), (6, 8)),
    Case("TransformerEncoder", {"num_heads": 2, "use_attention_mask": False}, ((5, 8),), (5, 8)),
]
