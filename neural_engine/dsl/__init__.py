"""The Neural DSL: text ↔ graph.

>>> g = parse('network T { input: (28, 28, 1) layers: Conv2D(8, 3) Flatten() Output(10, "softmax") }')
>>> [n.type for n in g.nodes]
['Conv2D', 'Flatten', 'Output']
>>> parse(print_dsl(g)) == g
True
"""

from __future__ import annotations

from dataclasses import dataclass

from neural_engine.dsl import syntax as S
from neural_engine.dsl.lower import DSLWarning, Lowering
from neural_engine.dsl.parser import parse_syntax
from neural_engine.dsl.printer import print_dsl
from neural_engine.errors import DSLSyntaxError, ValidationError, did_you_mean
from neural_engine.ir import Graph


@dataclass(frozen=True)
class Parsed:
    """Every network of a file (in definition order) and the warnings met."""

    graphs: dict[str, Graph]
    warnings: tuple[DSLWarning, ...]

    @property
    def default(self) -> Graph:
        """The last network defined."""
        return list(self.graphs.values())[-1]

    def pick(self, name: str | None) -> Graph:
        if name is None:
            return self.default
        if name not in self.graphs:
            raise ValidationError(
                f"network {name!r} must be defined in the file; received {', '.join(self.graphs)}",
                hint=did_you_mean(name, self.graphs),
            )
        return self.graphs[name]


def parse_file(text: str, file: str | None = None) -> Parsed:
    """Parse every network and macro of a DSL text. Raises DSLSyntaxError/ValidationError."""
    try:
        return _parse_file(text, file)
    except RecursionError:
        raise DSLSyntaxError(
            "nesting must be at most a few hundred levels deep; received deeper",
            hint="flatten nested tuples, calls or macro calls",
        ) from None


def _parse_file(text: str, file: str | None) -> Parsed:
    program = parse_syntax(text, file)
    warnings: list[DSLWarning] = []
    from neural_engine import layers

    macros: dict[str, S.MacroDef] = {}
    for item in program.items:
        if isinstance(item, S.MacroDef):
            if not item.items:
                raise ValidationError(
                    f"macro {item.name} needs at least one layer; received an empty body",
                    span=item.span,
                    hint=f"e.g. define {item.name} {{ Dense(64) }}, or remove it",
                )
            if item.name in macros:
                warnings.append(
                    DSLWarning(f"macro {item.name} is defined twice; the later one is used", item.span)
                )
            if item.name.lower() in layers._LOOKUP:
                warnings.append(
                    DSLWarning(f"macro {item.name} shadows the built-in layer of that name", item.span)
                )
            macros[item.name] = item
    lowering = Lowering(macros, warnings)
    graphs: dict[str, Graph] = {}
    for item in program.items:
        if isinstance(item, S.NetworkDef):
            if item.name in graphs:
                warnings.append(
                    DSLWarning(f"network {item.name} is defined twice; the later one is used", item.span)
                )
                del graphs[item.name]
            graphs[item.name] = lowering.network(item)
    if not graphs:
        raise ValidationError(
            "a DSL file needs a `network Name { … }` block; received none",
            hint="e.g. network Net { input: (784,) layers: Dense(10) }",
        )
    return Parsed(graphs, tuple(warnings))


def parse(text: str, network: str | None = None, file: str | None = None) -> Graph:
    """The graph of ``network`` (default: the last defined) in ``text``."""
    return parse_file(text, file).pick(network)


__all__ = ["DSLWarning", "Parsed", "parse", "parse_file", "print_dsl"]
