from tests.cases import Case

CASES = [
    Case(
        "ResidualConnection",
        {},
        ((8, 8, 4),),
        (8, 8, 4),
        body=(("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}), ("BatchNormalization", {})),
    ),
    Case("ResidualConnection", {}, ((16,),), (16,), body=(("Dense", {"units": 16, "activation": "relu"}),)),
    Case(
        "ResidualConnection",
        {},
        ((6, 6, 4),),
        (6, 6, 4),
        body=(("Dense", {"units": 4}),),
        note="-body-ends-channels-last",
    ),
    Case(
        "Sequential",
        {},
        ((8, 8, 4),),
        (4, 4, 6),
        body=(
            ("Conv2D", {"filters": 6, "kernel_size": 3, "padding": "same"}),
            ("MaxPooling2D", {"pool_size": 2}),
        ),
    ),
    Case("Block", {}, ((10,),), (3,), body=(("Dense", {"units": 5}), ("Dense", {"units": 3}))),
]
