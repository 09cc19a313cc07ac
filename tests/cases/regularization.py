from tests.cases import Case

CASES = [
    Case("SpatialDropout1D", {"rate": 0.2}, ((10, 8),), (10, 8)),
    Case("SpatialDropout2D", {"rate": 0.3}, ((8, 8, 4),), (8, 8, 4)),
    Case("SpatialDropout2D", {"rate": 0.1}, ((4, 8, 8),), (4, 8, 8), layout="channels_first"),
    Case("SpatialDropout3D", {"rate": 0.5}, ((4, 4, 4, 2),), (4, 4, 4, 2)),
    Case("GaussianNoise", {"stddev": 0.1}, ((8, 8, 3),), (8, 8, 3)),
    Case("GaussianNoise", {"stddev": 1.0}, ((16,),), (16,)),
    Case("GaussianDropout", {"rate": 0.2}, ((16,),), (16,)),
    Case("GaussianDropout", {"rate": 0.5}, ((4, 6, 6),), (4, 6, 6), layout="channels_first"),
    Case("AlphaDropout", {"rate": 0.1}, ((16,),), (16,)),
    Case("AlphaDropout", {"rate": 0.25}, ((5, 8),), (5, 8)),
]
