"""``neuralforge datasets``: list | info | register | split | augment | preview.

Each action is one function of the parsed arguments; errors are ``DatasetError``s, which the
top-level CLI prints without a traceback (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys

from neural_engine.errors import DatasetError
from neural_engine.progress import Progress, emit


def add_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, (help_, add, _) in ACTIONS.items():
        q = sub.add_parser(name, help=help_, description=help_)
        add(q)
        q.add_argument(
            "--storage",
            help="dataset store: a directory or s3://bucket/prefix "
            "(default: NEURALFORGE_STORAGE, else the NeuralForge home)",
        )


def run(args) -> int:
    return ACTIONS[args.action][2](args)


def _source_args(p) -> None:
    p.add_argument(
        "--root", help="built-ins read by torchvision: a directory or s3://bucket/prefix with the files"
    )
    p.add_argument(
        "--download", action="store_true", help="built-ins: download the files (needs the internet)"
    )
    p.add_argument(
        "--no-verify", action="store_true", help="CIFAR: check the files exist, not their official MD5"
    )


def _load(args):
    from neural_engine.data import catalog, registry

    if catalog.is_builtin(args.name):
        opts = {"verify": not args.no_verify}
        if catalog.entry(args.name).files is not None:
            opts.update(root=args.root, download=args.download)
        return catalog.load_builtin(args.name, **opts)
    return registry.load(args.name, storage=args.storage)


def cmd_list(args) -> int:
    from neural_engine.data import catalog, registry

    rows = [
        (e.name, "built-in", e.task, "x".join(map(str, e.input_shape)), e.num_classes, e.samples)
        for e in catalog.ENTRIES.values()
    ]
    for name in registry.registered(args.storage):
        v = registry.versions(name, args.storage)[-1]
        rows.append(
            (
                name,
                f"v{v.number} {v.version}",
                v.task,
                "x".join(map(str, v.input_shape)),
                len(v.classes),
                v.stats["samples"],
            )
        )
    if args.json:
        keys = ("name", "version", "task", "input_shape", "classes", "samples")
        emit([dict(zip(keys, r)) for r in rows])
        return 0
    header = ("name", "version", "task", "input", "classes", "samples")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0


def cmd_info(args) -> int:
    from neural_engine.data import catalog, registry
    from neural_engine.data.stats import describe

    if catalog.is_builtin(args.name):
        doc = catalog.entry(args.name).to_json()
        if args.stats:
            doc["stats"] = describe(_load(args))
    else:
        v = registry.resolve(args.name, args.storage)
        doc = {**v.to_json(), "lineage": _lineage(v, args.storage)}
    print(json.dumps(doc, indent=2))
    return 0


def _lineage(v, storage) -> list[str]:
    from neural_engine.data import registry

    by_id = {x.version: x for x in registry.versions(v.name, storage)}
    chain, cur = [], v
    while cur is not None:
        chain.append(f"v{cur.number} {cur.version}")
        cur = by_id.get(cur.parent)
    return chain


def cmd_register(args) -> int:
    from neural_engine.data import registry

    size = None
    if args.image_size:
        size = _ints(args.image_size, "--image-size", 2)
    v = registry.register(
        args.path,
        args.name,
        storage=args.storage,
        label_column=args.label_column,
        on_corrupt="skip" if args.skip_corrupt else "reject",
        image_size=size,
        task=args.task,
        progress=Progress(json=args.json),
    )
    s = v.stats
    for w in s["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        emit(v.to_json())
        return 0
    print(
        f"registered {v.name} v{v.number} ({v.version}): {s['samples']} samples, {v.task}, input "
        f"{tuple(v.input_shape)}" + (f", parent {v.parent}" if v.parent else "")
    )
    return 0


def cmd_split(args) -> int:
    from neural_engine.data import catalog, registry
    from neural_engine.data.splits import SplitSpec, split_indices

    spec = SplitSpec.parse(args.ratios, stratify=args.stratify, seed=args.seed)
    if catalog.is_builtin(args.name):
        ds = _load(args)
        parts = split_indices(ds.y, spec, ds.official_test)
        if args.json:
            emit({"name": ds.name, "builtin": True, "counts": {k: len(v) for k, v in parts.items()}})
            return 0
        print(f"{ds.name} (built-in, not versioned): " + ", ".join(f"{k} {len(v)}" for k, v in parts.items()))
        return 0
    v = registry.derive(args.name, split=spec, storage=args.storage)
    counts = v.split["counts"]
    if args.json:
        emit(v.to_json())
        return 0
    print(
        f"{v.name} v{v.number} ({v.version}), parent {v.parent}: "
        + ", ".join(f"{k} {n}" for k, n in counts.items())
    )
    return 0


def cmd_augment(args) -> int:
    from neural_engine.data import registry
    from neural_engine.data.augment import Pipeline

    v = registry.derive(args.name, pipeline=Pipeline.load(args.pipeline), storage=args.storage)
    if args.json:
        emit(v.to_json())
        return 0
    print(
        f"{v.name} v{v.number} ({v.version}), parent {v.parent}: pipeline of {len(v.pipeline or [])} operations"
    )
    return 0


def cmd_preview(args) -> int:
    from neural_engine.data.augment import Pipeline
    from neural_engine.data.previews import preview

    pv = preview(_load(args), Pipeline.load(args.pipeline), n=args.n, seed=args.seed)
    path = pv.save(args.output)
    if args.json:
        emit({"path": str(path), "samples": [int(i) for i in pv.indices]})
        return 0
    print(f"wrote {path} ({len(pv.indices)} samples: original | augmented)")
    return 0


def _ints(text: str, flag: str, count: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or min(values) < 1:
        raise DatasetError(f"{flag} must be {count} positive integers separated by commas; received {text!r}")
    return values


def _json_arg(p, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"{what} as JSON on standard output")


def _list_args(p):
    _json_arg(p, "the datasets")


def _info_args(p):
    p.add_argument("name", help="a built-in or registered dataset (name, name@v2, name@<id>)")
    p.add_argument("--stats", action="store_true", help="built-ins: load the data and compute its statistics")
    _source_args(p)


def _register_args(p):
    p.add_argument(
        "path", help="a ZIP of class-named image folders, a CSV with a label column, or NPZ (x, y)"
    )
    p.add_argument("--name", required=True, help="dataset name (lowercase letters, digits, _ - .)")
    p.add_argument("--label-column", default="label", help="CSV: the label column (default: label)")
    p.add_argument("--skip-corrupt", action="store_true", help="ZIP: skip corrupt images (default: reject)")
    p.add_argument("--image-size", help="ZIP: resize every image to H,W (default: the most common size)")
    p.add_argument("--task", choices=["classification", "regression"], help="CSV/NPZ: override the guess")
    _json_arg(p, "the new version (its metadata)")


def _split_args(p):
    p.add_argument("name")
    p.add_argument("--ratios", default="70,15,15", help="train,val,test percentages (default 70,15,15)")
    p.add_argument("--stratify", action="store_true", help="keep every class's share in each part")
    p.add_argument("--seed", type=int, default=0)
    _json_arg(p, "the new version (built-ins: the counts)")
    _source_args(p)


def _augment_args(p):
    p.add_argument("name")
    p.add_argument("--pipeline", required=True, help="JSON file: a list of operations")
    _json_arg(p, "the new version")


def _preview_args(p):
    p.add_argument("name")
    p.add_argument("--pipeline", required=True, help="JSON file: a list of operations")
    p.add_argument("-o", "--output", required=True, help="PNG file for the grid")
    p.add_argument("-n", type=int, default=8, help="samples (default 8)")
    p.add_argument("--seed", type=int, default=0)
    _json_arg(p, '{"path", "samples"}')
    _source_args(p)


ACTIONS = {
    "list": ("built-in and registered datasets", _list_args, cmd_list),
    "info": ("a dataset's entry, or a version's metadata and lineage", _info_args, cmd_info),
    "register": ("check an upload and store it as a new version", _register_args, cmd_register),
    "split": (
        "train/val/test split by ratio (a new version for registered datasets)",
        _split_args,
        cmd_split,
    ),
    "augment": ("attach an augmentation pipeline (a new version)", _augment_args, cmd_augment),
    "preview": ("originals and augmented samples side by side, as a PNG grid", _preview_args, cmd_preview),
}
