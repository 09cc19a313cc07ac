from tests.cases import Case

CASES = [
    # MaxPooling: default strides, strides, padding valid/same (symmetric and asymmetric)/int, layouts
    Case("MaxPooling2D", {"pool_size": 2}, ((16, 16, 3),), (8, 8, 3)),
    Case("MaxPooling2D", {"pool_size": 3, "strides": 2}, ((17, 16, 3),), (8, 7, 3)),
    Case("MaxPooling2D", {"pool_size": 2, "padding": "same"}, ((15, 15, 2),), (8, 8, 2), note="-asym"),
    Case(
        "MaxPooling2D",
        {"pool_size": 3, "strides": 2, "padding": "same"},
        ((15, 15, 2),),
        (8, 8, 2),
        note="-sym",
    ),
    Case("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, ((7, 9, 2),), (7, 9, 2)),
    Case("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": 1}, ((10, 10, 2),), (5, 5, 2)),
    Case("MaxPool2D", {"pool_size": (2, 3)}, ((4, 12, 9),), (4, 6, 3), layout="channels_first"),
    Case(
        "MaxPooling2D",
        {"pool_size": 2, "strides": 2, "padding": "same"},
        ((3, 7, 5),),
        (3, 4, 3),
        layout="channels_first",
    ),
    Case("MaxPooling1D", {"pool_size": 2}, ((20, 4),), (10, 4)),
    Case("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, ((20, 4),), (10, 4)),
    Case("MaxPool1D", {"pool_size": 3, "strides": 1}, ((4, 9),), (4, 7), layout="channels_first"),
    Case("MaxPooling3D", {"pool_size": 2}, ((8, 8, 8, 2),), (4, 4, 4, 2)),
    Case("MaxPooling3D", {"pool_size": (1, 2, 2), "padding": "same"}, ((3, 5, 5, 2),), (3, 3, 3, 2)),
    Case("MaxPooling2D", {"pool_size": 2}, ((None, None, 3),), (None, None, 3), note="-unknown"),
    # AveragePooling: the same forms; same padding never counts the pad
    Case("AveragePooling2D", {"pool_size": 2}, ((16, 16, 3),), (8, 8, 3)),
    Case("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, ((15, 15, 2),), (8, 8, 2)),
    Case("AveragePooling2D", {"pool_size": 2, "padding": "same"}, ((15, 16, 2),), (8, 8, 2)),
    Case("AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": 1}, ((6, 6, 2),), (6, 6, 2)),
    Case(
        "AvgPool2D",
        {"pool_size": (2, 2), "strides": (1, 2)},
        ((2, 6, 6),),
        (2, 5, 3),
        layout="channels_first",
    ),
    Case("AveragePooling1D", {"pool_size": 4}, ((20, 4),), (5, 4)),
    Case("AveragePooling1D", {"pool_size": 2, "padding": "same"}, ((3, 9),), (3, 5), layout="channels_first"),
    Case("AveragePooling3D", {"pool_size": 2, "strides": 1}, ((4, 4, 4, 2),), (3, 3, 3, 2)),
    Case(
        "AvgPool3D",
        {"pool_size": 2, "padding": "same"},
        ((2, 5, 4, 3),),
        (2, 3, 2, 2),
        layout="channels_first",
    ),
    # global pooling -> (C,) or keepdims
    Case("GlobalAveragePooling2D", {}, ((7, 7, 16),), (16,)),
    Case("GlobalAvgPool2D", {}, ((16, 7, 7),), (16,), layout="channels_first"),
    Case("GlobalAveragePooling2D", {"keepdims": True}, ((7, 7, 16),), (1, 1, 16)),
    Case("GlobalMaxPooling2D", {}, ((5, 6, 8),), (8,)),
    Case("GlobalMaxPooling1D", {}, ((10, 8),), (8,)),
    Case("GlobalAveragePooling1D", {}, ((10, 8),), (8,)),
    Case("GlobalMaxPooling3D", {}, ((4, 4, 4, 3),), (3,)),
    Case(
        "GlobalAveragePooling3D", {"keepdims": True}, ((3, 4, 4, 4),), (3, 1, 1, 1), layout="channels_first"
    ),
    Case("GlobalMaxPooling2D", {}, ((None, None, 8),), (8,), note="-unknown"),
    # adaptive pooling
    Case("AdaptiveAveragePooling2D", {"output_size": 3}, ((10, 9, 4),), (3, 3, 4)),
    Case("AdaptiveAvgPool2D", {"output_size": (2, 5)}, ((4, 10, 9),), (4, 2, 5), layout="channels_first"),
    Case("AdaptiveMaxPooling2D", {"output_size": (4, 4)}, ((13, 13, 2),), (4, 4, 2)),
    Case("AdaptiveAveragePooling1D", {"output_size": 5}, ((17, 3),), (5, 3)),
    Case("AdaptiveMaxPooling1D", {"output_size": 4}, ((3, 12),), (3, 4), layout="channels_first"),
    Case("AdaptiveAveragePooling3D", {"output_size": 2}, ((6, 6, 6, 2),), (2, 2, 2, 2)),
    Case("AdaptiveMaxPooling3D", {"output_size": (1, 2, 3)}, ((5, 6, 7, 2),), (1, 2, 3, 2)),
]
