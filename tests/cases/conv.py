from tests.cases import Case

CASES = [
    # Conv2D: strides, padding valid/same/int, dilation, groups, bias, layouts
    Case("Conv2D", {"filters": 8, "kernel_size": 3}, ((16, 16, 3),), (14, 14, 8)),
    Case("Conv2D", {"filters": 8, "kernel_size": (3, 5), "strides": 2}, ((17, 16, 3),), (8, 6, 8)),
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, ((15, 15, 2),), (15, 15, 4)),
    Case(
        "Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, ((15, 16, 2),), (8, 8, 4)
    ),
    Case("Conv2D", {"filters": 4, "kernel_size": 4, "padding": "same"}, ((10, 10, 2),), (10, 10, 4)),
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "padding": 2}, ((10, 10, 2),), (12, 12, 4)),
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2}, ((12, 12, 2),), (8, 8, 4)),
    Case(
        "Conv2D", {"filters": 8, "kernel_size": 3, "groups": 2, "use_bias": False}, ((10, 10, 4),), (8, 8, 8)
    ),
    Case(
        "Conv2D",
        {"filters": 6, "kernel_size": 1, "activation": "relu"},
        ((3, 9, 9),),
        (6, 9, 9),
        layout="channels_first",
    ),
    Case(
        "Conv2D",
        {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "softmax"},
        ((6, 6, 2),),
        (6, 6, 4),
        note="-softmax-channels",
    ),
    # Conv1D / Conv3D
    Case("Conv1D", {"filters": 8, "kernel_size": 3}, ((20, 4),), (18, 8)),
    Case("Conv1D", {"filters": 8, "kernel_size": 5, "strides": 2, "padding": "same"}, ((21, 4),), (11, 8)),
    Case(
        "Conv1D",
        {"filters": 8, "kernel_size": 3, "dilation_rate": 2, "groups": 4},
        ((4, 20),),
        (8, 16),
        layout="channels_first",
    ),
    Case("Conv3D", {"filters": 4, "kernel_size": 3}, ((8, 8, 8, 2),), (6, 6, 6, 4)),
    Case(
        "Conv3D",
        {"filters": 4, "kernel_size": (1, 3, 3), "strides": (1, 2, 2), "padding": "same"},
        ((5, 9, 9, 2),),
        (5, 5, 5, 4),
    ),
    # transposed
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3}, ((6, 6, 2),), (8, 8, 4)),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
        ((6, 6, 2),),
        (12, 12, 4),
    ),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "strides": 2}, ((5, 5, 8),), (10, 10, 4)),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 1},
        ((5, 5, 8),),
        (12, 12, 4),
    ),
    Case(
        "Conv1DTranspose",
        {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same"},
        ((10, 3),),
        (20, 4),
    ),
    Case("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2}, ((3, 4, 4, 4),), (6, 8, 8, 2)),
    # depthwise / separable
    Case("DepthwiseConv2D", {"kernel_size": 3}, ((10, 10, 4),), (8, 8, 4)),
    Case(
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "strides": 2, "padding": "same"},
        ((10, 10, 4),),
        (5, 5, 8),
    ),
    Case("SeparableConv2D", {"filters": 8, "kernel_size": 3}, ((10, 10, 4),), (8, 8, 8)),
    Case(
        "SeparableConv2D",
        {"filters": 8, "kernel_size": 3, "padding": "same", "depth_multiplier": 2, "use_bias": False},
        ((10, 10, 4),),
        (10, 10, 8),
    ),
]
