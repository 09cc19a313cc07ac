"""Oracle rows, one module per registry family: (layer, params, input shapes, expected output).

Every row becomes a single-layer graph; tests/test_layers_oracle.py builds it with torch and
checks shape, parameters, buffers and FLOPs against the engine. ``expect`` is in the user's
notation (the graph's layout); ``None`` leaves the shape to the torch check alone.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    layer: str
    params: dict = field(default_factory=dict)
    inputs: tuple = ((8,),)  # one shape per input, batch excluded, user notation
    expect: tuple | None = None
    layout: str = "channels_last"
    body: tuple = ()  # ((type, params), …) for containers and wrappers
    note: str = ""

    @property
    def id(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        shapes = "+".join("x".join(map(str, s)) for s in self.inputs)
        cl = "" if self.layout == "channels_last" else "-cf"
        return f"{self.layer}({args})@{shapes}{cl}{self.note}".replace(" ", "")


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for info in pkgutil.iter_modules(__path__):
        cases.extend(importlib.import_module(f"{__name__}.{info.name}").CASES)
    return cases
