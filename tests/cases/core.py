from tests.cases import Case

CASES = [
    Case("Dense", {"units": 16}, ((8,),), (16,)),
    Case("Dense", {"units": 4, "activation": "relu", "use_bias": False}, ((8,),), (4,)),
    Case("Dense", {"units": 6}, ((5, 7),), (5, 6), note="-seq"),
    Case("Dense", {"units": 6}, ((4, 4, 3),), (4, 4, 6), note="-on-image-last-axis"),
    Case("Dense", {"units": 6}, ((3, 4, 4),), (3, 4, 6), layout="channels_first"),
    Case("Linear", {"units": 3, "activation": "softmax"}, ((8,),), (3,)),
    Case("Output", {"units": 10, "activation": "softmax"}, ((32,),), (10,)),
    Case("Flatten", {}, ((4, 4, 3),), (48,)),
    Case("Flatten", {}, ((5, 2),), (10,)),
    Case("Reshape", {"target_shape": (4, 4, 2)}, ((32,),), (4, 4, 2)),
    Case("Reshape", {"target_shape": (-1, 8)}, ((4, 4, 2),), (4, 8)),
    Case("Reshape", {"target_shape": (2, 16)}, ((32,),), (2, 16), layout="channels_first"),
    Case("Permute", {"dims": (2, 1)}, ((5, 3),), (3, 5)),
    Case("Permute", {"dims": (3, 1, 2)}, ((4, 6, 2),), (2, 4, 6)),
    Case("Dropout", {"rate": 0.3}, ((8,),), (8,)),
    Case("Dropout", {"rate": 0.0}, ((4, 4, 3),), (4, 4, 3)),
    Case("Embedding", {"input_dim": 50, "output_dim": 8}, ((12,),), (12, 8)),
    Case("Embedding", {"input_dim": 20, "output_dim": 4, "padding_idx": 0}, ((6,),), (6, 4)),
    Case(
        "Embedding", {"input_dim": 20, "output_dim": 4, "mask_zero": True}, ((6,),), (6, 4)
    ),  # padding_idx=0
]
