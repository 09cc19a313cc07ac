"""The ``neuralforge`` command: one dict of subcommands (name -> (help, add arguments, run)).

Bad input prints the error (with its hint) and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from neural_engine.errors import NeuralForgeError, ValidationError
from neural_engine.ir import Graph


def _add_graph_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="a graph JSON file")
    p.add_argument("--template", help="a built-in template (see `neuralforge templates`)")
    p.add_argument("--classes", type=int, help="template: number of classes")
    p.add_argument("--input-shape", help="template: input shape, e.g. 32,32,3")
    p.add_argument("--width", type=int, help="template: base width (channels/units)")


def load_graph(args: argparse.Namespace) -> Graph:
    """The graph named on the command line: ``--template NAME`` or a graph JSON file."""
    if bool(args.template) == bool(args.file):
        raise ValidationError("give exactly one of FILE or --template NAME; received "
                              + ("both" if args.template else "neither"))
    if args.template:
        from neural_engine.templates import template
        opts = {k: v for k, v in (("classes", args.classes), ("width", args.width)) if v is not None}
        if args.input_shape:
            try:
                opts["input_shape"] = tuple(int(d) for d in args.input_shape.split(","))
            except ValueError:
                raise ValidationError(f"--input-shape must be integers separated by commas; "
                                      f"received {args.input_shape!r}") from None
        return template(args.template, **opts)
    path = Path(args.file)
    try:
        return Graph.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ValidationError(f"the graph file must exist; received {path}") from None
    except json.JSONDecodeError as e:
        raise ValidationError(f"{path} must be a graph JSON document; it is not JSON ({e})") from None


def _summary_args(p):
    _add_graph_source(p)
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--batch-size", type=int, help="batch size for the memory estimate (default: the graph's, else 32)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])


def cmd_summary(args) -> int:
    from neural_engine.report import report
    if args.batch_size is not None and args.batch_size < 1:
        raise ValidationError(f"--batch-size must be positive; received {args.batch_size}")
    r = report(load_graph(args), batch_size=args.batch_size, dtype=args.dtype)
    print(json.dumps(r.to_json(), indent=2) if args.json else r.table())
    return 0


def _layers_args(p):
    p.add_argument("--family", help="only this family (e.g. convolution)")
    p.add_argument("--json", action="store_true")


def cmd_layers(args) -> int:
    from neural_engine import layers
    specs = [s for s in layers.REGISTRY.values() if not args.family or s.family == args.family.lower()]
    if args.json:
        print(json.dumps([{"name": s.name, "family": s.family, "aliases": list(s.aliases), "doc": s.doc,
                           "params": [{"name": p.name, "kind": p.kind, "required": p.required,
                                       "default": None if p.required else p.default,
                                       "range": p.range_text(), "choices": list(p.choices)}
                                      for p in s.params]} for s in specs], indent=2, default=str))
        return 0
    width = max(len(s.name) for s in specs) if specs else 0
    for family, group in _by_family(specs).items():
        print(f"{family}:")
        for s in group:
            params = ", ".join(p.name if p.required else f"{p.name}={p.default!r}" for p in s.params)
            alias = f"  (alias {', '.join(s.aliases)})" if s.aliases else ""
            print(f"  {s.name.ljust(width)}  ({params}){alias}")
    print(f"{len(specs)} layer types")
    return 0


def _by_family(specs):
    out = {}
    for s in specs:
        out.setdefault(s.family, []).append(s)
    return out


def cmd_templates(args) -> int:
    from neural_engine.templates import TEMPLATES
    for t in TEMPLATES.values():
        print(f"{t.name:24} {t.doc}")
    return 0


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "summary": ("shapes, parameters, FLOPs, memory and lints of a network", _summary_args, cmd_summary),
    "layers": ("the layer registry as a table", _layers_args, cmd_layers),
    "templates": ("the built-in architectures", lambda p: None, cmd_templates),
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neuralforge", description="Design, check and build neural networks.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_, description=help_))
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except NeuralForgeError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
