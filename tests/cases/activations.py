from tests.cases import Case

_ELEMENTWISE = ["ReLU", "SELU", "SiLU", "Swish", "Mish", "Tanh", "Sigmoid"]

CASES = [
    *(Case(name, {}, ((8,),), (8,)) for name in _ELEMENTWISE),
    *(Case(name, {}, ((6, 6, 2),), (6, 6, 2)) for name in ("ReLU", "Tanh")),
    Case("Activation", {"activation": "relu"}, ((8,),), (8,)),
    Case("Activation", {"activation": "softmax"}, ((4, 4, 3),), (4, 4, 3)),
    Case("Activation", {"activation": "linear"}, ((8,),), (8,)),
    Case("LeakyReLU", {"negative_slope": 0.2}, ((8,),), (8,)),
    Case("LeakyReLU", {"alpha": 0.1}, ((3, 5),), (3, 5)),
    Case("PReLU", {}, ((8,),), (8,)),
    Case("PReLU", {"per_channel": True}, ((6, 6, 4),), (6, 6, 4)),
    Case("PReLU", {"per_channel": True}, ((12,),), (12,)),
    Case("ELU", {"alpha": 0.5}, ((8,),), (8,)),
    Case("GELU", {}, ((8,),), (8,)),
    Case("GELU", {"approximate": "tanh"}, ((3, 8),), (3, 8)),
    Case("Softmax", {}, ((5,),), (5,)),
    Case("Softmax", {"axis": 1}, ((4, 6),), (4, 6)),
    Case("Softmax", {"axis": -1}, ((4, 4, 3),), (4, 4, 3)),
]
