"""The ``neuralforge`` command: one dict of subcommands (name -> (help, add arguments, run)).

Bad input prints the error (where, what, the source line with a caret, a hint) and exits 1,
never a traceback; argparse usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from neural_engine.errors import NeuralForgeError, ValidationError
from neural_engine.extras import extra_for
from neural_engine.ir import Graph
from neural_engine.progress import emit, error_json


def _add_graph_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="a DSL file (.neural) or a graph JSON file")
    p.add_argument("--network", help="DSL: which network of the file (default: the last defined)")
    p.add_argument("--template", help="a built-in template (see `neuralforge templates`)")
    p.add_argument("--classes", type=int, help="template: number of classes")
    p.add_argument("--input-shape", help="template: input shape, e.g. 32,32,3")
    p.add_argument("--width", type=int, help="template: base width (channels/units)")


def load_graph(args: argparse.Namespace) -> Graph:
    """The graph named on the command line: ``--template NAME`` or a graph JSON file."""
    if bool(args.template) == bool(args.file):
        raise ValidationError(
            "give exactly one of FILE or --template NAME; received "
            + ("both" if args.template else "neither")
        )
    if args.template:
        from neural_engine.templates import template

        opts = {k: v for k, v in (("classes", args.classes), ("width", args.width)) if v is not None}
        if args.input_shape:
            try:
                opts["input_shape"] = tuple(int(d) for d in args.input_shape.split(","))
            except ValueError:
                raise ValidationError(
                    f"--input-shape must be integers separated by commas; received {args.input_shape!r}"
                ) from None
        return template(args.template, **opts)
    return load_file(args.file, getattr(args, "network", None))


def read_source(file: str) -> str:
    path = Path(file)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"the file must exist; received {path}") from None
    except (UnicodeDecodeError, IsADirectoryError) as e:
        raise ValidationError(f"{path} must be a UTF-8 text file; received {type(e).__name__}") from None


def load_file(file: str, network: str | None = None) -> Graph:
    """A graph from a JSON file (``.json``) or a DSL file (anything else); DSL warnings go to stderr."""
    text = read_source(file)
    if file.endswith(".json"):
        try:
            return Graph.from_json(json.loads(text))
        except json.JSONDecodeError as e:
            raise ValidationError(f"{file} must be a graph JSON document; it is not JSON ({e})") from None
    from neural_engine.dsl import parse_file

    parsed = parse_file(text, file)
    for warning in parsed.warnings:
        print(warning, file=sys.stderr)
    return parsed.pick(network)


def _summary_args(p):
    _add_graph_source(p)
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument(
        "--batch-size", type=int, help="batch size for the memory estimate (default: the graph's, else 32)"
    )
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
        print(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "family": s.family,
                        "aliases": list(s.aliases),
                        "doc": s.doc,
                        "positional": [p.name for p in s.neural_positional],
                        "keras_positional": [p.name for p in s.params],
                        "params": [
                            {
                                "name": p.name,
                                "kind": p.kind,
                                "required": p.required,
                                "default": None if p.required else p.default,
                                "range": p.range_text(),
                                "choices": list(p.choices),
                            }
                            for p in s.params
                        ],
                    }
                    for s in specs
                ],
                indent=2,
                default=str,
            )
        )
        return 0
    width = max(len(s.name) for s in specs) if specs else 0
    for family, group in _by_family(specs).items():
        print(f"{family}:")
        for s in group:
            params = ", ".join(p.name if p.required else f"{p.name}={p.default!r}" for p in s.params)
            alias = f"  (alias {', '.join(s.aliases)})" if s.aliases else ""
            print(f"  {s.name.ljust(width)}  ({params}){alias}")
            if s.neural_positional != s.params:
                print(f"  {''.ljust(width)}  positional: {s.positional_text()}")
    print(
        f"{len(specs)} layer types; positional arguments go in the listed order unless a "
        "'positional:' line says otherwise"
    )
    return 0


def _by_family(specs):
    out = {}
    for s in specs:
        out.setdefault(s.family, []).append(s)
    return out


def _json_arg(p, what: str = "the report as JSON on standard output") -> None:
    p.add_argument("--json", action="store_true", help=what)


def cmd_templates(args) -> int:
    from neural_engine.templates import TEMPLATES

    if args.json:
        emit([{"name": t.name, "doc": t.doc} for t in TEMPLATES.values()])
        return 0
    for t in TEMPLATES.values():
        print(f"{t.name:24} {t.doc}")
    return 0


def _check_args(p):
    p.add_argument("file", help="a DSL file")
    p.add_argument("--network", help="only this network (default: every network in the file)")
    _json_arg(p, "the networks checked as JSON: name, layers, params, search values")


def cmd_check(args) -> int:
    """Parse and infer every network; exit 1 with the error report on the first problem."""
    from neural_engine.dsl import parse_file
    from neural_engine.search import defaults_text
    from neural_engine.shapes import propagate

    text = read_source(args.file)
    parsed = parse_file(text, args.file)
    for warning in parsed.warnings:
        print(warning, file=sys.stderr)
    graphs = [parsed.pick(args.network)] if args.network else list(parsed.graphs.values())
    checked = []
    for graph in graphs:
        analysis = propagate(graph)
        searched = defaults_text(graph)
        checked.append(
            {
                "network": graph.name,
                "layers": len(analysis.nodes),
                "params": sum(i.params for i in analysis.nodes.values()),
                "search_values": searched,
            }
        )
        if args.json:
            continue
        print(
            f"{args.file}: {graph.name}: ok ({len(analysis.nodes)} layers, {checked[-1]['params']:,} params"
            + (
                f"; {len(searched)} search value{'s' * (len(searched) != 1)}, checked at their defaults"
                if searched
                else ""
            )
            + ")"
        )
        for line in searched:
            print(f"  {line}")
    if args.json:
        emit(
            {
                "file": args.file,
                "ok": True,
                "networks": checked,
                "warnings": [str(w) for w in parsed.warnings],
            }
        )
    return 0


def _codegen_args(p):
    _add_graph_source(p)
    p.add_argument("--target", choices=["pytorch", "keras"], default="pytorch")
    p.add_argument("--with-training", action="store_true", help="pytorch: append a training script")
    p.add_argument("-o", "--output", help="write here instead of standard output")


def cmd_codegen(args) -> int:
    from neural_engine.codegen import generate_keras, generate_pytorch

    graph = load_graph(args)
    source = (
        generate_pytorch(graph, with_training=args.with_training)
        if args.target == "pytorch"
        else generate_keras(graph)
    )
    if args.output:
        Path(args.output).write_text(source, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(source, end="")
    return 0


def _fmt_args(p):
    p.add_argument("file", help="a DSL file")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 if the file is not in canonical form")
    group.add_argument("--write", action="store_true", help="rewrite the file in canonical form")


def cmd_fmt(args) -> int:
    """Canonical DSL (macros expanded): to standard output, in place (--write), or --check."""
    from neural_engine.dsl import parse_file, print_dsl

    text = read_source(args.file)
    canonical = "\n".join(print_dsl(g) for g in parse_file(text, args.file).graphs.values())
    if args.check:
        if canonical != text:
            print(
                f"{args.file}: not in canonical form (run `neuralforge fmt --write {args.file}`)",
                file=sys.stderr,
            )
            return 1
        return 0
    if args.write:
        Path(args.file).write_text(canonical, encoding="utf-8")
    else:
        print(canonical, end="")
    return 0


def _datasets_args(p):
    from neural_engine.data import cli as data_cli  # lazy: the data package loads only when used

    data_cli.add_args(p)


def cmd_datasets(args) -> int:
    from neural_engine.data import cli as data_cli

    return data_cli.run(args)


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "check": ("parse and check every network of a DSL file", _check_args, cmd_check),
    "summary": ("shapes, parameters, FLOPs, memory and lints of a network", _summary_args, cmd_summary),
    "layers": ("the layer registry as a table", _layers_args, cmd_layers),
    "templates": ("the built-in architectures", _json_arg, cmd_templates),
    "codegen": ("PyTorch or Keras 3 source for a network", _codegen_args, cmd_codegen),
    "fmt": ("print a DSL file in canonical form", _fmt_args, cmd_fmt),
    "datasets": ("datasets: list, info, register, split, augment, preview", _datasets_args, cmd_datasets),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neuralforge")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def parser(commands=None, only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that subcommand's arguments are built (each
    command imports its own module, so `neuralforge templates` never loads torch or Ray)."""
    ap = argparse.ArgumentParser(
        prog="neuralforge", description="Design, check, train and ship neural networks."
    )
    ap.add_argument("--version", action="version", version=f"neuralforge {_version()}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, add_args, _) in (commands or COMMANDS).items():
        sp = sub.add_parser(name, help=help_, description=help_)
        if only is None or name == only:
            add_args(sp)
    return ap


def main(argv: list[str] | None = None, commands=None) -> int:
    """Run one subcommand of ``commands`` (default: the engine's; the ``neuralforge`` script
    adds the Ray jobs' in :mod:`ray_jobs.cli`)."""
    commands = commands or COMMANDS
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if not a.startswith("-")), "")
    as_json = wants_json(argv)
    try:
        args = parser(commands, only=chosen).parse_args(argv)
        return commands[args.command][2](args)
    except BrokenPipeError:  # `neuralforge summary … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error when Python flushes at exit
        return 0
    except ModuleNotFoundError as err:
        if (extra := extra_for(chosen, (err.name or "").split(".")[0])) is None:
            raise
        missing = err.name.split(".")[0]
        hint = f"install the {extra} extra: pip install 'neuralforge[{extra}]'"
        message = f"`neuralforge {chosen}` needs {missing}, which is not installed"
        print(f"error: {message}\n  hint: {hint}", file=sys.stderr)
        if as_json:
            emit({"error": {"type": "MissingExtra", "message": message, "hint": hint, "extra": extra}})
        return 1
    except NeuralForgeError as err:
        report_error(err, as_json)
        return 1


def wants_json(argv: list[str]) -> bool:
    """Whether the command line asks for ``--json`` (before a ``--``, after which a job's own
    arguments follow)."""
    return "--json" in (argv[: argv.index("--")] if "--" in argv else argv)


def report_error(err: NeuralForgeError, as_json: bool = False) -> None:
    """The error report on standard error; with ``--json`` also :func:`error_json` on standard
    output (the one document a script reads)."""
    source = None
    if err.span is not None and err.span.file:
        try:
            source = Path(err.span.file).read_text(encoding="utf-8")
        except OSError:
            pass
    print(f"error: {err.render(source)}", file=sys.stderr)
    if as_json:
        emit(error_json(err))


if __name__ == "__main__":
    sys.exit(main())
