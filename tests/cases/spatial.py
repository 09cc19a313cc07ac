from tests.cases import Case

CASES = [
    # UpSampling
    Case("UpSampling2D", {}, ((5, 6, 3),), (10, 12, 3)),
    Case("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, ((5, 6, 3),), (10, 18, 3)),
    Case("UpSampling2D", {"size": 3}, ((3, 4, 4),), (3, 12, 12), layout="channels_first"),
    Case("UpSampling1D", {"size": 3}, ((7, 4),), (21, 4)),
    Case("UpSampling3D", {"size": (1, 2, 2)}, ((2, 3, 3, 2),), (2, 6, 6, 2)),
    Case("UpSampling2D", {}, ((None, None, 3),), (None, None, 3), note="-unknown"),
    # ZeroPadding: int, per axis, pairs
    Case("ZeroPadding2D", {"padding": 1}, ((5, 5, 3),), (7, 7, 3)),
    Case("ZeroPadding2D", {"padding": (1, 2)}, ((5, 5, 3),), (7, 9, 3)),
    Case("ZeroPadding2D", {"padding": ((1, 0), (2, 3))}, ((3, 5, 5),), (3, 6, 10), layout="channels_first"),
    Case("ZeroPadding1D", {"padding": (2, 1)}, ((10, 4),), (13, 4)),
    Case("ZeroPadding1D", {}, ((4, 10),), (4, 12), layout="channels_first"),
    Case("ZeroPadding3D", {"padding": ((0, 1), (1, 1), (2, 0))}, ((4, 4, 4, 2),), (5, 6, 6, 2)),
    # Cropping
    Case("Cropping2D", {"cropping": ((1, 2), (0, 1))}, ((8, 8, 3),), (5, 7, 3)),
    Case("Cropping2D", {"cropping": 2}, ((3, 8, 9),), (3, 4, 5), layout="channels_first"),
    Case("Cropping2D", {}, ((4, 4, 2),), (4, 4, 2), note="-default"),
    Case("Cropping1D", {"cropping": (1, 3)}, ((10, 4),), (6, 4)),
    Case("Cropping1D", {}, ((4, 10),), (4, 8), layout="channels_first"),
    Case("Cropping3D", {"cropping": (1, 0, 2)}, ((4, 4, 6, 2),), (2, 4, 2, 2)),
]
