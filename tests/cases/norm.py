from tests.cases import Case

CASES = [
    # BatchNormalization: ranks 1-4 (BatchNorm1d/2d/3d), layouts, conventions, center/scale
    Case("BatchNormalization", {}, ((16,),), (16,)),
    Case("BatchNormalization", {}, ((10, 6),), (10, 6)),
    Case("BatchNormalization", {}, ((8, 8, 4),), (8, 8, 4)),
    Case("BatchNormalization", {}, ((4, 4, 4, 3),), (4, 4, 4, 3)),
    Case(
        "BatchNormalization", {"momentum": 0.9, "eps": 1e-5}, ((4, 8, 8),), (4, 8, 8), layout="channels_first"
    ),
    Case("BatchNormalization", {"axis": 1}, ((4, 6),), (4, 6), layout="channels_first"),
    Case("BatchNormalization", {"axis": -1, "center": False, "scale": False}, ((6, 6, 5),), (6, 6, 5)),
    Case("BatchNormalization", {"scale": False}, ((6, 6, 5),), (6, 6, 5), note="-center-only"),
    Case("BatchNorm", {"center": False}, ((12,),), (12,), note="-scale-only"),
    # LayerNormalization: the last axis of the user's notation
    Case("LayerNormalization", {}, ((10, 32),), (10, 32)),
    Case("LayerNormalization", {}, ((6, 6, 8),), (6, 6, 8)),
    Case("LayerNormalization", {"epsilon": 1e-5}, ((8, 5, 7),), (8, 5, 7), layout="channels_first"),
    Case("LayerNorm", {"scale": False}, ((16,),), (16,)),
    Case("LayerNormalization", {"center": False}, ((4, 16),), (4, 16), note="-scale-only"),
    # GroupNormalization
    Case("GroupNormalization", {"groups": 4}, ((8, 8, 16),), (8, 8, 16)),
    Case(
        "GroupNormalization",
        {"groups": 2, "epsilon": 1e-5},
        ((6, 10, 10),),
        (6, 10, 10),
        layout="channels_first",
    ),
    Case("GroupNormalization", {"groups": -1}, ((12, 6),), (12, 6)),
    Case("GroupNorm", {"groups": 3, "center": False}, ((4, 4, 4, 9),), (4, 4, 4, 9)),
    # InstanceNormalization
    Case("InstanceNormalization", {}, ((8, 8, 3),), (8, 8, 3)),
    Case("InstanceNormalization", {}, ((20, 4),), (20, 4)),
    Case(
        "InstanceNormalization",
        {"center": False, "scale": False},
        ((3, 4, 4, 4),),
        (3, 4, 4, 4),
        layout="channels_first",
    ),
    Case("InstanceNorm", {"scale": False}, ((5, 7, 7),), (5, 7, 7), layout="channels_first"),
]
