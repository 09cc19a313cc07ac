from tests.cases import Case

CASES = [
    Case("Add", {}, ((8,), (8,)), (8,)),
    Case("Add", {}, ((4, 4, 3), (4, 4, 3), (4, 4, 3)), (4, 4, 3)),
    Case("Subtract", {}, ((5, 3), (5, 3)), (5, 3)),
    Case("Multiply", {}, ((8,), (8,)), (8,)),
    Case("Average", {}, ((4, 4, 3), (4, 4, 3)), (4, 4, 3)),
    Case("Maximum", {}, ((8,), (8,)), (8,)),
    Case("Minimum", {}, ((8,), (8,), (8,)), (8,)),
    Case("Concatenate", {}, ((4, 4, 3), (4, 4, 5)), (4, 4, 8)),
    Case("Concatenate", {"axis": 1}, ((4, 4, 3), (2, 4, 3)), (6, 4, 3)),
    Case("Concatenate", {}, ((8,), (4,)), (12,)),
    Case("Concatenate", {"axis": 1}, ((3, 4, 4), (5, 4, 4)), (8, 4, 4), layout="channels_first"),
    Case("Dot", {"axes": 1}, ((8,), (8,)), (1,)),
    Case("Dot", {"axes": (2, 2)}, ((5, 8), (7, 8)), (5, 7)),
    Case("Dot", {"axes": (1, 1), "normalize": True}, ((5, 8), (5, 6)), (8, 6)),
]
