"""Augmentation: every schema op compiles to v2 and runs; bad pipelines name the problem; previews."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from neural_engine.data.augment import SCHEMA, Pipeline
from neural_engine.data.catalog import load_builtin
from neural_engine.data.previews import preview
from neural_engine.errors import DatasetError

# one row per operation: params, input (C, H, W), expected output (C, H, W)
OPS = {
    "RandomHorizontalFlip": ({"p": 1.0}, (3, 10, 12), (3, 10, 12)),
    "RandomVerticalFlip": ({}, (1, 10, 12), (1, 10, 12)),
    "RandomRotation": ({"degrees": [-20, 20], "fill": 0}, (3, 10, 12), (3, 10, 12)),
    "RandomResizedCrop": ({"size": [6, 8], "scale": [0.5, 1.0]}, (3, 10, 12), (3, 6, 8)),
    "RandomCrop": ({"size": 8, "padding": 2, "padding_mode": "reflect"}, (3, 10, 12), (3, 8, 8)),
    "ColorJitter": (
        {"brightness": 0.4, "contrast": [0.5, 1.5], "saturation": 0.2, "hue": 0.1},
        (3, 10, 12),
        (3, 10, 12),
    ),
    "Grayscale": ({"num_output_channels": 1}, (3, 10, 12), (1, 10, 12)),
    "GaussianBlur": ({"kernel_size": [3, 5], "sigma": 1.0}, (3, 10, 12), (3, 10, 12)),
    "RandomErasing": ({"p": 1.0, "scale": [0.1, 0.2]}, (3, 10, 12), (3, 10, 12)),
    "Normalize": ({"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}, (3, 10, 12), (3, 10, 12)),
    "Resize": ({"size": [5, 7]}, (3, 10, 12), (3, 5, 7)),
}


def test_every_schema_op_has_a_row():
    assert set(OPS) == set(SCHEMA)


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_compiles_to_v2_and_runs(op):
    params, shape_in, shape_out = OPS[op]
    pipe = Pipeline.from_json([{"type": op, "params": params}])
    transform = pipe.compile()
    assert type(transform.transforms[-2 if op not in ("Normalize", "RandomErasing") else -1]).__name__ == op
    torch.manual_seed(0)
    out = transform(torch.randint(0, 256, shape_in, dtype=torch.uint8))
    assert tuple(out.shape) == shape_out and out.dtype == torch.float32
    assert json.loads(json.dumps(pipe.to_json())) == pipe.to_json()  # what is stored is plain JSON


def test_float_conversion_then_normalize_values():
    pipe = Pipeline.from_json([{"type": "Normalize", "params": {"mean": [0.5], "std": [0.5]}}])
    out = pipe.compile()(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    assert out.tolist() == [[[-1.0, 1.0]]]


def test_evaluation_keeps_only_deterministic_ops():
    pipe = Pipeline.from_json(
        [
            {"type": "RandomHorizontalFlip", "params": {"p": 1.0}},
            {"type": "Resize", "params": {"size": 4}},
            {"type": "Normalize", "params": {"mean": [0], "std": [1]}},
        ]
    )
    names = [type(t).__name__ for t in pipe.compile(train=False).transforms]
    assert names == ["Resize", "ToDtype", "Normalize"]
    assert "Normalize" not in [type(t).__name__ for t in pipe.compile(display=True).transforms]


def test_masks_follow_the_geometry():
    pipe = Pipeline.from_json(
        [
            {"type": "RandomHorizontalFlip", "params": {"p": 1.0}},
            {"type": "ColorJitter", "params": {"brightness": 0.5}},
        ]
    )
    img = tv_tensors.Image(torch.arange(6, dtype=torch.uint8).reshape(1, 2, 3))
    mask = tv_tensors.Mask(torch.tensor([[0, 1, 2], [3, 4, 5]]))
    _, out = pipe.compile()(img, mask)
    assert out.tolist() == [[2, 1, 0], [5, 4, 3]] and out.dtype == torch.int64


BAD = [  # (pipeline JSON, expected message)
    ({"type": "RandomHorizontalFlip"}, "must be a JSON list of operations; received dict"),
    (["RandomHorizontalFlip"], r'operation #1 must be an object \{"type"'),
    (
        [{"type": "RandomHorizontalFlip"}, {"type": "RandomFlip"}],
        '#2: the operation type must be one of .*received "RandomFlip"',
    ),
    (
        [{"type": "RandomHorizontalFlip", "params": {"prob": 0.5}}],
        'RandomHorizontalFlip has no parameter "prob"; its parameters are p',
    ),
    (
        [{"type": "RandomHorizontalFlip", "params": {"p": 2}}],
        r"RandomHorizontalFlip.p must be a number in \[0, 1\]; received 2",
    ),
    ([{"type": "RandomHorizontalFlip", "params": {"p": True}}], "received True"),
    ([{"type": "RandomRotation"}], 'needs the parameter "degrees"'),
    (
        [{"type": "RandomRotation", "params": {"degrees": [30, -30]}}],
        r"RandomRotation.degrees must be .*\[min, max\]",
    ),
    (
        [{"type": "GaussianBlur", "params": {"kernel_size": 4}}],
        "GaussianBlur.kernel_size must be an odd integer",
    ),
    (
        [{"type": "RandomResizedCrop", "params": {"size": 0}}],
        "RandomResizedCrop.size must be a positive integer",
    ),
    ([{"type": "RandomResizedCrop", "params": {"size": 8, "scale": [0.9, 0.1]}}], "scale must be a pair"),
    (
        [{"type": "RandomCrop", "params": {"size": 8, "padding_mode": "wrap"}}],
        "padding_mode must be one of 'constant'",
    ),
    (
        [{"type": "RandomCrop", "params": {"size": 8, "padding": [1, 2, 3]}}],
        r"padding must be an integer >= 0, \[x, y\]",
    ),
    ([{"type": "ColorJitter", "params": {"hue": 0.7}}], r"ColorJitter.hue must be a number in \[0, 0.5\]"),
    ([{"type": "Grayscale", "params": {"num_output_channels": 2}}], "one of 1, 3; received 2"),
    (
        [{"type": "Normalize", "params": {"mean": [0.5], "std": [0.0]}}],
        r"Normalize.std must be a list of numbers > 0 \(one per channel\); received \[0.0\]",
    ),
    (
        [{"type": "Normalize", "params": {"mean": [0.5, 0.5], "std": [0.2]}}],
        "as many std values as mean values",
    ),
    (
        [{"type": "Resize", "params": {"size": 8}, "p": 1}],
        'may only have the keys "type" and "params"; received p',
    ),
    ([{"type": "Resize", "params": [8]}], "params must be an object"),
]


@pytest.mark.parametrize("doc,message", BAD)
def test_bad_pipelines_name_the_problem(doc, message):
    with pytest.raises(DatasetError, match=message):
        Pipeline.from_json(doc)


def test_unknown_op_suggests_the_closest():
    with pytest.raises(DatasetError) as err:
        Pipeline.from_json([{"type": "RandomHorizontalFlp"}])
    assert err.value.hint == 'Did you mean "RandomHorizontalFlip"?'


def test_pipeline_files(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"type": "RandomVerticalFlip", "params": {"p": 0.25}}]))
    assert Pipeline.load(path).ops[0].params == {"p": 0.25}
    with pytest.raises(DatasetError, match="must exist"):
        Pipeline.load(tmp_path / "missing.json")
    path.write_text("[{")
    with pytest.raises(DatasetError, match="it is not JSON"):
        Pipeline.load(path)


PIPE = [
    {"type": "RandomRotation", "params": {"degrees": 40}},
    {"type": "RandomErasing", "params": {"p": 0.5}},
    {"type": "Normalize", "params": {"mean": [0.5], "std": [0.2]}},
]


def test_preview_is_deterministic_for_a_seed():
    ds = load_builtin("digits")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b, c = preview(ds, PIPE, n=6, seed=1), preview(ds, PIPE, n=6, seed=1), preview(ds, PIPE, n=6, seed=2)
    assert torch.equal(state, torch.get_rng_state())  # the caller's random stream is untouched
    assert a.indices == b.indices and all(np.array_equal(x, y) for x, y in zip(a.augmented, b.augmented))
    assert a.indices != c.indices or any(not np.array_equal(x, y) for x, y in zip(a.augmented, c.augmented))
    assert all(np.array_equal(o, ds.x[i]) for o, i in zip(a.originals, a.indices))
    assert any(not np.array_equal(o, g) for o, g in zip(a.originals, a.augmented))
    assert a.augmented[0].dtype == np.uint8 and a.augmented[0].shape == (8, 8, 1)


def test_preview_grid_png(tmp_path):
    ds = load_builtin("shapes_segmentation", n=20)
    pv = preview(ds, [{"type": "RandomResizedCrop", "params": {"size": 16}}], n=3, seed=0)
    path = pv.save(tmp_path / "out" / "grid.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (2 * 64 + 12, 3 * 68 + 4)
        # the left cell of the first row is the original, upscaled 2x with nearest neighbours
        cell = np.asarray(img.convert("RGB"))[4:68:2, 4:68:2]
        assert np.array_equal(cell, pv.originals[0])
    with pytest.raises(DatasetError, match="must end in .png"):
        pv.save(tmp_path / "grid.jpg")


def test_preview_refuses_what_it_cannot_show():
    with pytest.raises(DatasetError, match="previews show image datasets; regression is tabular"):
        preview(load_builtin("regression", n=10), [], n=2)
    with pytest.raises(DatasetError, match="1 to 64 samples"):
        preview(load_builtin("digits"), [], n=0)


@pytest.mark.parametrize("op", sorted(SCHEMA))
def test_param_docs_describe_every_parameter_as_its_check_does(op):
    from neural_engine.data.augment import param_docs

    docs = param_docs(op)
    assert [d.name for d in docs] == list(SCHEMA[op].params)
    for d in docs:
        check = SCHEMA[op].params[d.name][0]
        assert d.expects and d.kind in ("int", "number", "bool", "choice", "json")
        if d.default is not None:
            assert check(d.default) == d.default  # the form's starting value passes the engine's check
        if d.kind in ("int", "number"):
            for bound in (d.lo, d.hi):
                if bound is not None:
                    assert check(bound) == bound
            if d.hi is not None:
                with pytest.raises(ValueError, match=d.expects.replace("[", r"\[")):
                    check(d.hi + 1)
        if d.kind == "choice":
            assert all(check(c) == c for c in d.choices)
            with pytest.raises(ValueError):
                check("not-a-choice")
        if d.kind == "bool":
            assert check(True) is True


def test_param_docs_of_an_unknown_op_suggest_a_name():
    from neural_engine.data.augment import param_docs

    with pytest.raises(DatasetError, match='received "RandomFlip"') as e:
        param_docs("RandomFlip")
    assert "Did you mean" in e.value.hint
    kinds = {d.name: (d.kind, d.required) for d in param_docs("RandomCrop")}
    assert kinds == {
        "size": ("json", True),
        "padding": ("json", False),
        "pad_if_needed": ("bool", False),
        "fill": ("number", False),
        "padding_mode": ("choice", False),
    }


def test_a_pipeline_torchvision_refuses_for_these_images_is_a_dataset_error():
    with pytest.raises(
        DatasetError,
        match=r"digits's images \(8x8x1, H x W x C\); it fails on sample \d+: "
        r"Required crop size \(16, 16\) is larger",
    ) as e:
        preview(load_builtin("digits"), [{"type": "RandomCrop", "params": {"size": 16}}], n=2)
    assert "pad_if_needed" in e.value.hint
