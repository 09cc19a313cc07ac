"""Batched augmentation against transforms.v2: equal outputs, the same distributions of parameters.

Three oracles: deterministic settings against the compiled v2 pipeline run sample by sample; random
settings against v2's functional kernels run sample by sample with the parameters the batch drew;
parameter distributions against many draws of v2's own ``make_params``.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from neural_engine.data.augment import SCHEMA, Op, Pipeline
from neural_engine.data.batched import OPS, batched_pipeline, supported
from neural_engine.errors import DatasetError


def images(shape, seed=0):
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


def one(op_type, **params):
    return Pipeline.from_json([{"type": op_type, "params": params}])


def draws(pipe, x, seed=1, mask=None):
    """Run the batched steps as ``BatchedPipeline.__call__`` does, keeping each step's parameters."""
    g, trace = gen(seed), []
    for step in batched_pipeline(pipe).steps:
        q = step.draw(x.shape[0], tuple(x.shape[1:]), x.device, g)
        if mask is not None and hasattr(step, "mask"):
            mask = step.mask(mask, q)
        x = step.image(x, q)
        trace.append(q)
    return x, mask, trace


# ---- deterministic settings: equal to the compiled v2 pipeline, sample by sample ----

EXACT = [  # (operations, input (B, C, H, W))
    ([{"type": "RandomHorizontalFlip", "params": {"p": 1.0}}], (6, 3, 9, 11)),
    ([{"type": "RandomHorizontalFlip", "params": {"p": 0.0}}], (6, 3, 9, 11)),
    ([{"type": "RandomVerticalFlip", "params": {"p": 1.0}}], (6, 1, 9, 11)),
    ([{"type": "RandomVerticalFlip", "params": {"p": 0.0}}], (6, 3, 9, 11)),
    *[
        (
            [
                {
                    "type": "RandomCrop",
                    "params": {"size": size, "padding": pad, "padding_mode": mode, "fill": 7},
                }
            ],
            (4, 3, 9, 11),
        )
        for size, pad in (([13, 15], 2), ([15, 17], [3, 3]), ([11, 19], [4, 1]), ([11, 16], [1, 0, 4, 2]))
        for mode in ("constant", "edge", "reflect", "symmetric")
    ],
    ([{"type": "RandomCrop", "params": {"size": [9, 11]}}], (4, 3, 9, 11)),
    *[
        ([{"type": "ColorJitter", "params": {name: [f, f]}}], (6, c, 9, 11))
        for name, f in (
            ("brightness", 1.37),
            ("brightness", 0.61),
            ("contrast", 1.7),
            ("contrast", 0.3),
            ("saturation", 1.9),
            ("saturation", 0.45),
            ("hue", 0.21),
            ("hue", -0.33),
        )
        for c in (3, 1)
    ],
    ([{"type": "Grayscale", "params": {"num_output_channels": 1}}], (4, 3, 9, 11)),
    ([{"type": "Grayscale", "params": {"num_output_channels": 3}}], (4, 3, 9, 11)),
    ([{"type": "Normalize", "params": {"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.3, 0.25]}}], (4, 3, 9, 11)),
    ([{"type": "Resize", "params": {"size": [5, 17]}}], (4, 3, 9, 11)),
    ([{"type": "Resize", "params": {"size": 14}}], (4, 3, 9, 11)),
    ([{"type": "GaussianBlur", "params": {"kernel_size": 5, "sigma": [1.3, 1.3]}}], (4, 3, 9, 11)),
    ([{"type": "GaussianBlur", "params": {"kernel_size": [3, 7], "sigma": 0.8}}], (4, 3, 9, 11)),
    *[
        ([{"type": "RandomRotation", "params": {"degrees": [d, d], "fill": 9}}], (4, 3, 9, shape))
        for d in (0, 30, -45, 90, 180, -90, 270, 123.4)
        for shape in (9, 11)
    ],
    ([{"type": "RandomErasing", "params": {"p": 0.0}}], (4, 3, 9, 11)),
    (
        [
            {
                "type": "RandomResizedCrop",
                "params": {"size": [9, 11], "scale": [1, 1], "ratio": [11 / 9, 11 / 9]},
            }
        ],
        (4, 3, 9, 11),
    ),
    # after the float conversion: the same operations on float images
    (
        [
            {"type": "Normalize", "params": {"mean": [0.1], "std": [0.9]}},
            {"type": "ColorJitter", "params": {"saturation": [0.6, 0.6]}},
            {"type": "ColorJitter", "params": {"brightness": [1.6, 1.6]}},
            {"type": "ColorJitter", "params": {"hue": [0.4, 0.4]}},
            {"type": "GaussianBlur", "params": {"kernel_size": 3, "sigma": 0.7}},
            {"type": "RandomRotation", "params": {"degrees": [20, 20]}},
        ],
        (4, 3, 9, 11),
    ),
]


@pytest.mark.parametrize(("ops", "shape"), EXACT, ids=lambda v: str(v)[:90])
def test_deterministic_settings_equal_v2_exactly(ops, shape):
    pipe, x = Pipeline.from_json(ops), images(shape)
    out = batched_pipeline(pipe)(x, gen())
    ref = torch.stack([pipe.compile()(xi) for xi in x])
    assert out.dtype == ref.dtype == torch.float32
    assert torch.equal(out, ref)


def test_contrast_of_float_images_within_one_rounding():
    """v2 blends with the image mean, a broadcast scalar: torch fuses ``a + alpha * mean`` in its vector
    loop but not in the scalar tail (the last ``numel % (2 * vector width)`` values of each image), so
    there v2 rounds twice; the batched form fuses everywhere (as CUDA does). On uint8 images the sum is
    truncated, which hides this; on float images it is at most a rounding of float32."""
    pipe = Pipeline.from_json(
        [
            {"type": "Normalize", "params": {"mean": [0.1], "std": [0.9]}},
            {"type": "ColorJitter", "params": {"contrast": [0.6, 0.6]}},
        ]
    )
    x = images((8, 3, 9, 11))
    out, ref = batched_pipeline(pipe)(x, gen()), torch.stack([pipe.compile()(xi) for xi in x])
    assert (out - ref).abs().max() <= 6e-8
    assert (out != ref).float().mean() < 0.05


# ---- random settings: v2's kernels with the parameters each sample drew ----


def v2_flip(op, x, q, i):
    flip = F.horizontal_flip if op["type"] == "RandomHorizontalFlip" else F.vertical_flip
    return flip(x) if q["flip"][i] else x


def v2_crop(op, x, q, i):
    t = v2.RandomCrop(**op["params"])
    padding = t.make_params([x])["padding"]  # v2's own padding (with pad_if_needed); its offsets are ours
    x = F.pad(x, padding, fill=t.fill, padding_mode=t.padding_mode)
    return F.crop(x, int(q["top"][i]), int(q["left"][i]), *t.size)


def v2_resized_crop(op, x, q, i):
    box = [int(q[k][i]) for k in ("top", "left", "height", "width")]
    return F.resized_crop(x, *box, size=v2.RandomResizedCrop(**op["params"]).size, antialias=True)


def v2_rotate(op, x, q, i):
    return F.rotate(x, float(q["angle"][i]), fill=op["params"].get("fill", 0))


JITTER = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast, "saturation": F.adjust_saturation,
          "hue": F.adjust_hue}  # fmt: skip


def v2_jitter(op, x, q, i):
    names = [name for name in JITTER if name in op["params"]]  # the enabled ones, in v2's order
    for k in q["order"][i].tolist():
        x = JITTER[names[k]](x, float(q["factors"][k][i]))
    return x


def v2_blur(op, x, q, i):
    return F.gaussian_blur(x, op["params"]["kernel_size"], [float(q["sigma"][i])] * 2)


def v2_erase(op, x, q, i):
    if not q["erase"][i]:
        return x
    box = [int(q[k][i]) for k in ("top", "left", "height", "width")]
    return F.erase(x, *box, v=torch.tensor([float(op["params"].get("value", 0.0))])[:, None, None])


PER_SAMPLE = [  # (operation, its v2 kernel with the drawn parameters, input (B, C, H, W), largest difference)
    ({"type": "RandomHorizontalFlip", "params": {"p": 0.5}}, v2_flip, (16, 3, 9, 11), 0),
    ({"type": "RandomVerticalFlip", "params": {"p": 0.5}}, v2_flip, (16, 3, 9, 11), 0),
    *[
        (
            {"type": "RandomCrop", "params": {"size": [8, 10], "padding": pad, "padding_mode": mode}},
            v2_crop,
            (16, 3, 9, 11),
            0,
        )
        for pad, mode in ((4, "constant"), ([2, 3], "edge"), ([1, 2, 3, 4], "reflect"), (3, "symmetric"))
    ],
    ({"type": "RandomCrop", "params": {"size": [12, 7], "pad_if_needed": True}}, v2_crop, (16, 3, 9, 11), 0),
    ({"type": "RandomRotation", "params": {"degrees": 180, "fill": 5}}, v2_rotate, (32, 3, 9, 11), 0),
    ({"type": "RandomRotation", "params": {"degrees": [-30, 10]}}, v2_rotate, (32, 3, 12, 12), 0),
    (
        {
            "type": "ColorJitter",
            "params": {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.3},
        },
        v2_jitter,
        (48, 3, 9, 11),
        0,
    ),
    (
        {"type": "ColorJitter", "params": {"contrast": [0.2, 1.9], "hue": [-0.5, 0.5]}},
        v2_jitter,
        (16, 1, 9, 11),
        0,
    ),
    ({"type": "GaussianBlur", "params": {"kernel_size": [5, 3]}}, v2_blur, (16, 3, 9, 11), 0),
    ({"type": "RandomErasing", "params": {"p": 0.7, "value": 0.25}}, v2_erase, (32, 3, 9, 11), 0),
    # crops of different sizes resized by one matmul: within one level of v2's CPU uint8 kernel
    ({"type": "RandomResizedCrop", "params": {"size": [16, 12]}}, v2_resized_crop, (32, 3, 20, 24), 1),
    (
        {"type": "RandomResizedCrop", "params": {"size": 8, "scale": [0.5, 1]}},
        v2_resized_crop,
        (32, 3, 40, 30),
        1,
    ),
    (
        {"type": "RandomResizedCrop", "params": {"size": [9, 11], "scale": [0.9, 1], "ratio": [10, 20]}},
        v2_resized_crop,
        (8, 3, 9, 11),
        1,
    ),  # no try fits: v2's central crop
]


@pytest.mark.parametrize(("op", "kernel", "shape", "levels"), PER_SAMPLE, ids=lambda v: str(v)[:80])
def test_each_sample_equals_v2_with_its_parameters(op, kernel, shape, levels):
    x = images(shape)
    pipe = Pipeline.from_json([op])
    out, _, trace = draws(pipe, x)
    ref = []
    for i, xi in enumerate(x):
        for t, q in zip(pipe.compile().transforms, trace):  # the op and the inserted float conversion
            xi = (
                F.to_dtype(xi, torch.float32, scale=True)
                if isinstance(t, v2.ToDtype)
                else kernel(op, xi, q, i)
            )
        ref.append(xi)
    ref = torch.stack(ref)
    assert (out - ref).abs().max().item() * 255 <= levels + 1e-3


@pytest.mark.parametrize("channels", [3, 1])
def test_color_jitter_sync_free_path_equals_the_per_subset_path(channels):
    """Off the CPU each adjustment runs on the whole batch and ``where`` keeps the samples whose slot
    names it; on the CPU only those samples are adjusted. Both give the same (v2's) result."""
    step = batched_pipeline(one("ColorJitter", brightness=0.5, contrast=0.5, saturation=0.5, hue=0.3)).steps[
        0
    ]
    x = images((48, channels, 9, 11))
    q = step.draw(48, tuple(x.shape[1:]), "cpu", gen())
    xf = F.to_dtype(x, torch.float32, scale=True)
    per_subset = step.image(x, q), step.image(xf, q)
    step.sync_free = True
    assert torch.equal(step.image(x, q), per_subset[0]) and torch.equal(step.image(xf, q), per_subset[1])


@pytest.mark.parametrize("size", [[16, 12], [8, 8], [64, 50]])
def test_resized_crop_resampling_bounds(size):
    """v2 resizes uint8 crops on CPU with its own uint8 kernel (int16 weights, rounding between the two
    passes), elsewhere in float32 then rounds. The batched matmul has the float kernel's weights: within
    1e-3 of it on a 0..255 scale before rounding, so rounding flips under 0.5% of values; against the
    uint8 kernel, 1 level on 10-20% of values, as far as v2's two kernels are from each other."""
    x = images((32, 3, 40, 30))
    step = batched_pipeline(one("RandomResizedCrop", size=size)).steps[0]
    q = step.draw(32, (3, 40, 30), "cpu", gen())
    out, out_float = step.image(x, q), step.image(x.float(), q)
    boxes = [[int(q[k][i]) for k in ("top", "left", "height", "width")] for i in range(32)]
    ref_float = torch.stack(
        [F.resized_crop(x[i].float(), *b, size=size, antialias=True) for i, b in enumerate(boxes)]
    )
    ref_uint8 = torch.stack(
        [F.resized_crop(x[i], *b, size=size, antialias=True) for i, b in enumerate(boxes)]
    )
    assert (out_float - ref_float).abs().max() < 1e-3
    assert (out != ref_float.round().to(torch.uint8)).float().mean() < 0.005
    assert (out.int() - ref_uint8.int()).abs().max() <= 1


def test_resized_crop_of_float_images_within_float_precision():
    pipe = Pipeline.from_json(
        [
            {"type": "Normalize", "params": {"mean": [0.0], "std": [1.0]}},
            {"type": "RandomResizedCrop", "params": {"size": [10, 14]}},
        ]
    )
    x = images((16, 3, 20, 24))
    out, _, (_, _, q) = draws(pipe, x)
    ref = torch.stack(
        [
            v2_resized_crop({"params": {"size": [10, 14]}}, F.to_dtype(xi, torch.float32, scale=True), q, i)
            for i, xi in enumerate(x)
        ]
    )
    assert (out - ref).abs().max() < 1e-5


# ---- segmentation: masks follow the geometric operations (nearest), exactly as v2's Mask ----

MASKED = [
    [
        {"type": "RandomHorizontalFlip", "params": {"p": 1.0}},
        {"type": "RandomVerticalFlip", "params": {"p": 1.0}},
    ],
    [{"type": "RandomCrop", "params": {"size": [13, 15], "padding": 2, "padding_mode": "reflect"}}],
    [{"type": "RandomResizedCrop", "params": {"size": [9, 11], "scale": [1, 1], "ratio": [11 / 9, 11 / 9]}}],
    [{"type": "RandomRotation", "params": {"degrees": [37, 37], "fill": 0}}],
    [
        {"type": "Resize", "params": {"size": [14, 5]}},
        {"type": "ColorJitter", "params": {"hue": [0.2, 0.2]}},
        {"type": "GaussianBlur", "params": {"kernel_size": 3, "sigma": 1.0}},
        {"type": "RandomErasing", "params": {"p": 0}},
    ],
]


@pytest.mark.parametrize("ops", MASKED, ids=lambda v: v[0]["type"])
def test_masks_follow_geometric_operations_like_v2(ops):
    pipe, x = Pipeline.from_json(ops), images((4, 3, 9, 11))
    mask = torch.randint(0, 300, (4, 9, 11), generator=gen(5))  # class ids beyond uint8 survive
    out, out_mask = batched_pipeline(pipe)(x, gen(), mask=mask)
    for i in range(4):
        ref, ref_mask = pipe.compile()(tv_tensors.Image(x[i]), tv_tensors.Mask(mask[i]))
        assert torch.equal(out[i], ref) and torch.equal(out_mask[i], ref_mask)
    assert out_mask.dtype == torch.int64


def test_random_resized_crop_masks_use_nearest_per_sample():
    pipe, x = one("RandomResizedCrop", size=[7, 13]), images((16, 3, 20, 24))
    mask = torch.randint(0, 10, (16, 20, 24), generator=gen(5))
    _, out_mask, (q, _) = draws(pipe, x, mask=mask)
    for i in range(16):
        box = [int(q[k][i]) for k in ("top", "left", "height", "width")]
        assert torch.equal(out_mask[i], F.resized_crop(tv_tensors.Mask(mask[i]), *box, size=[7, 13]))


# ---- distributions of parameters against v2's own make_params ----

N = 20_000


def v2_params(transform, shape, n=N, seed=0):
    torch.manual_seed(seed)
    flat = [tv_tensors.Image(torch.zeros(shape, dtype=torch.uint8))]
    return [transform.make_params(flat) for _ in range(n)]


def test_flip_rate_is_p():
    for p in (0.0, 0.3, 1.0):
        q = batched_pipeline(one("RandomHorizontalFlip", p=p)).steps[0].draw(N, (3, 8, 8), "cpu", gen())
        assert abs(q["flip"].float().mean().item() - p) <= 5 * math.sqrt(p * (1 - p) / N) + 1e-9


def test_crop_offsets_uniform_over_the_valid_range():
    q = (
        batched_pipeline(one("RandomCrop", size=32, padding=4))
        .steps[0]
        .draw(9 * 1000, (3, 32, 32), "cpu", gen())
    )
    for offsets in (q["top"], q["left"]):
        counts = torch.bincount(offsets, minlength=9).double()
        assert offsets.min() == 0 and offsets.max() == 8
        chi2 = ((counts - 1000) ** 2 / 1000).sum().item()
        assert chi2 < 26.1  # 8 degrees of freedom, p = 0.001
    assert not torch.equal(q["top"], q["left"])


@pytest.mark.parametrize(
    "params",
    [
        {"size": 16},
        {"size": 16, "scale": [0.3, 0.6], "ratio": [0.5, 3.0]},
        {"size": 16, "scale": [0.05, 1.0], "ratio": [0.2, 5.0]},
    ],
)
def test_resized_crop_boxes_match_v2s_distribution(params):
    shape = (3, 24, 40)
    q = batched_pipeline(one("RandomResizedCrop", **params)).steps[0].draw(N, shape, "cpu", gen())
    h, w, top, left = q["height"].double(), q["width"].double(), q["top"], q["left"]
    assert (
        (h >= 1).all()
        and (w >= 1).all()
        and (top + q["height"] <= 24).all()
        and (left + q["width"] <= 40).all()
    )
    ref = v2_params(v2.RandomResizedCrop(**params), shape)
    rh = torch.tensor([r["height"] for r in ref], dtype=torch.float64)
    rw = torch.tensor([r["width"] for r in ref], dtype=torch.float64)
    for ours, theirs in ((h * w, rh * rw), (torch.log(w / h), torch.log(rw / rh)), (h, rh)):
        se = math.sqrt(ours.var().item() / N + theirs.var().item() / N)
        assert abs(ours.mean().item() - theirs.mean().item()) < 5 * se
    area = h * w / (24 * 40)
    assert area.max() <= 1 and area.min() >= params.get("scale", [0.08])[0] * 0.5


def test_resized_crop_offsets_uniform_and_fallback_is_v2s_central_crop():
    step = batched_pipeline(one("RandomResizedCrop", size=8, scale=[0.25, 0.25], ratio=[1, 1])).steps[0]
    q = step.draw(N, (3, 20, 20), "cpu", gen())  # every box 10 x 10: offsets uniform in [0, 10]
    assert (q["height"] == 10).all() and (q["width"] == 10).all()
    for offsets in (q["top"], q["left"]):
        counts = torch.bincount(offsets, minlength=11).double()
        assert offsets.min() == 0 and offsets.max() == 10 and len(counts) == 11
        assert ((counts - N / 11) ** 2 / (N / 11)).sum() < 29.6  # 10 degrees of freedom, p = 0.001
    for shape, ratio in (((3, 9, 30), [0.1, 0.2]), ((3, 30, 9), [5, 9])):  # no try fits: the central crop
        params = {"size": 8, "scale": [0.9, 1.0], "ratio": ratio}
        q = batched_pipeline(one("RandomResizedCrop", **params)).steps[0].draw(16, shape, "cpu", gen())
        ref = v2_params(v2.RandomResizedCrop(**params), shape, n=1)[0]
        for k in ("top", "left", "height", "width"):
            assert (q[k] == ref[k]).all()


def test_rotation_angles_uniform_in_range():
    q = batched_pipeline(one("RandomRotation", degrees=[-30, 50])).steps[0].draw(N, (3, 8, 8), "cpu", gen())
    a = q["angle"]
    assert a.min() >= -30 and a.max() <= 50
    counts = torch.histc(a, bins=10, min=-30, max=50)
    assert ((counts - N / 10) ** 2 / (N / 10)).sum() < 27.9  # 9 degrees of freedom, p = 0.001


def test_color_jitter_factors_in_range_and_orders_uniform():
    op = one("ColorJitter", brightness=0.4, contrast=[0.5, 1.5], saturation=0.2, hue=0.1)
    q = batched_pipeline(op).steps[0].draw(24 * 500, (3, 8, 8), "cpu", gen())
    ranges = [(0.6, 1.4), (0.5, 1.5), (0.8, 1.2), (-0.1, 0.1)]
    for f, (lo, hi) in zip(q["factors"], ranges):
        assert lo <= f.min() and f.max() <= hi and abs(f.mean() - (lo + hi) / 2) < 0.01 * (hi - lo) + 0.005
    perms = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = torch.bincount(
        torch.tensor([perms[tuple(o)] for o in q["order"].tolist()]), minlength=24
    ).double()
    assert ((counts - 500) ** 2 / 500).sum() < 49.7  # 23 degrees of freedom, p = 0.001


def test_blur_sigma_in_range():
    q = (
        batched_pipeline(one("GaussianBlur", kernel_size=3, sigma=[0.5, 1.5]))
        .steps[0]
        .draw(N, (3, 8, 8), "cpu", gen())
    )
    assert q["sigma"].min() >= 0.5 and q["sigma"].max() <= 1.5 and abs(q["sigma"].mean() - 1.0) < 0.01


def test_erasing_rate_and_area_match_v2():
    params, shape = {"p": 0.5, "scale": [0.1, 0.6], "ratio": [0.3, 3.3]}, (3, 10, 16)
    q = (
        batched_pipeline(Pipeline.from_json([{"type": "RandomErasing", "params": params}]))
        .steps[1]
        .draw(N, shape, "cpu", gen())
    )
    transform = v2.RandomErasing(**params)
    torch.manual_seed(0)
    ref = [
        transform.make_params([tv_tensors.Image(torch.zeros(shape))]) if torch.rand(1) < 0.5 else None
        for _ in range(N)
    ]
    erased = [r for r in ref if r is not None and r["v"] is not None]
    rate, ref_rate = q["erase"].float().mean().item(), len(erased) / N
    assert abs(rate - ref_rate) < 5 * math.sqrt(ref_rate * (1 - ref_rate) * 2 / N)
    area = (q["height"] * q["width"])[q["erase"]].double()
    ref_area = torch.tensor([r["h"] * r["w"] for r in erased], dtype=torch.float64)
    se = math.sqrt(area.var().item() / len(area) + ref_area.var().item() / len(ref_area))
    assert abs(area.mean().item() - ref_area.mean().item()) < 5 * se
    assert (q["top"] + q["height"] <= 10).all() and (q["left"] + q["width"] <= 16).all()


def test_erasing_boxes_stay_strictly_inside_like_v2():
    params, shape = (
        {"p": 1.0, "scale": [0.8, 1.0], "ratio": [1.0, 1.0]},
        (3, 10, 10),
    )  # sides round to 9 or 10
    q = (
        batched_pipeline(Pipeline.from_json([{"type": "RandomErasing", "params": params}]))
        .steps[1]
        .draw(N, shape, "cpu", gen())
    )
    assert (q["height"][q["erase"]] == 9).all() and (q["width"][q["erase"]] == 9).all()
    transform = v2.RandomErasing(**params)
    ref = v2_params(transform, shape, n=2000)
    ref_rate = sum(r["v"] is not None for r in ref) / 2000
    rate = q["erase"].float().mean().item()
    assert abs(rate - ref_rate) < 5 * math.sqrt(ref_rate * (1 - ref_rate) / 2000) + 0.01


def test_samples_of_one_batch_draw_their_own_parameters():
    ops = [
        {"type": "RandomResizedCrop", "params": {"size": 16}},
        {"type": "RandomRotation", "params": {"degrees": 20}},
        {"type": "ColorJitter", "params": {"brightness": 0.5, "hue": 0.2}},
    ]
    x = images((1, 3, 24, 24)).expand(64, -1, -1, -1)  # one image, 64 times
    out, _, trace = draws(Pipeline.from_json(ops), x)
    assert len(set(trace[1]["angle"].tolist())) == 64 and len(set(trace[2]["factors"][0].tolist())) == 64
    assert len({tuple(b.tolist()) for b in torch.stack([trace[0]["top"], trace[0]["height"]], 1)}) > 16
    assert len({o.numpy().tobytes() for o in out}) == 64


# ---- a whole pipeline, the API and its refusals ----

CIFAR = [
    {"type": "RandomCrop", "params": {"size": 32, "padding": 4}},
    {"type": "RandomHorizontalFlip"},
    {"type": "Normalize", "params": {"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}},
]


def test_cifar_pipeline_shape_range_reproducible_and_per_sample_v2():
    pipe, x = Pipeline.from_json(CIFAR), images((128, 3, 32, 32))
    run = batched_pipeline(pipe)
    out = run(x, gen(7))
    assert out.shape == (128, 3, 32, 32) and out.dtype == torch.float32
    mean, std = torch.tensor(CIFAR[2]["params"]["mean"]), torch.tensor(CIFAR[2]["params"]["std"])
    lo, hi = (-mean / std).view(1, 3, 1, 1), ((1 - mean) / std).view(1, 3, 1, 1)
    assert (out >= lo - 1e-6).all() and (out <= hi + 1e-6).all()
    assert torch.equal(out, run(x, gen(7))) and not torch.equal(out, run(x, gen(8)))
    _, _, (crop, flip, _, _) = draws(pipe, x, seed=7)
    for i in range(128):
        ref = v2_flip({"type": "RandomHorizontalFlip"}, v2_crop(CIFAR[0], x[i], crop, i), flip, i)
        ref = F.normalize(
            F.to_dtype(ref, torch.float32, scale=True), CIFAR[2]["params"]["mean"], CIFAR[2]["params"]["std"]
        )
        assert torch.equal(out[i], ref)


def test_every_schema_operation_has_a_batched_form():
    assert set(SCHEMA) <= set(OPS)
    for name in SCHEMA:
        params = {"degrees": 10} if name == "RandomRotation" else {}
        params |= {"size": 8} if name in ("RandomCrop", "RandomResizedCrop", "Resize") else {}
        params |= {"kernel_size": 3} if name == "GaussianBlur" else {}
        params |= {"mean": [0.5], "std": [0.5]} if name == "Normalize" else {}
        assert supported(one(name, **params)) == (True, "")
    assert supported(None) == (True, "")


def test_unsupported_settings_name_the_reason():
    rotation = Pipeline(
        (Op("RandomRotation", {"degrees": 10, "interpolation": "bilinear"}),)
    )  # past the schema
    ok, why = supported(rotation)
    assert not ok and "RandomRotation" in why and "interpolation" in why
    with pytest.raises(DatasetError, match="interpolation"):
        batched_pipeline(rotation)
    erasing = Pipeline((Op("RandomErasing", {"value": "random"}),))
    assert supported(erasing) == (False, 'RandomErasing: value="random" has no batched form')


def test_evaluation_runs_only_the_deterministic_operations():
    pipe = Pipeline.from_json([*CIFAR, {"type": "Resize", "params": {"size": 16}}])
    assert [type(s).__name__ for s in batched_pipeline(pipe, train=False).steps] == [
        "ToDtype",
        "Normalize",
        "Resize",
    ]
    x = images((4, 3, 32, 32))
    ref = torch.stack([pipe.compile(train=False)(xi) for xi in x])
    assert torch.equal(batched_pipeline(pipe, train=False)(x), ref)
    assert torch.equal(batched_pipeline(None)(x), F.to_dtype(x, torch.float32, scale=True))


def test_inputs_must_be_uint8_batches():
    run = batched_pipeline(Pipeline.from_json(CIFAR))
    with pytest.raises(DatasetError, match="uint8"):
        run(torch.zeros(4, 3, 32, 32))
    with pytest.raises(DatasetError, match="masks"):
        run(images((4, 3, 32, 32)), mask=torch.zeros(4, 31, 32, dtype=torch.int64))
    with pytest.raises(DatasetError, match="crop size"):
        batched_pipeline(one("RandomCrop", size=40))(images((2, 3, 32, 32)))


# ---- on a GPU (skipped without one) ----

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize(("ops", "shape"), EXACT, ids=lambda v: str(v)[:90])
def test_on_cuda_within_one_level_of_v2_on_cuda(ops, shape):
    pipe, x = Pipeline.from_json(ops), images(shape).cuda()
    out = batched_pipeline(pipe)(x, torch.Generator("cuda").manual_seed(1))
    ref = torch.stack([pipe.compile()(xi) for xi in x])
    assert out.is_cuda and (out - ref).abs().max() <= 1 / 255 + 1e-6


@cuda
def test_on_cuda_no_host_sync_per_batch():
    ops = [
        {"type": "RandomResizedCrop", "params": {"size": 24}},
        {"type": "RandomCrop", "params": {"size": 24, "padding": 2, "padding_mode": "symmetric"}},
        {"type": "RandomHorizontalFlip"},
        {"type": "RandomVerticalFlip"},
        {"type": "RandomRotation", "params": {"degrees": 90, "fill": 3}},
        {
            "type": "ColorJitter",
            "params": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
        },
        {"type": "GaussianBlur", "params": {"kernel_size": 3}},
        {"type": "Grayscale", "params": {"num_output_channels": 3}},
        {"type": "Normalize", "params": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}},
        {"type": "RandomErasing", "params": {"p": 0.5}},
        {"type": "Resize", "params": {"size": 16}},
    ]
    run, g = batched_pipeline(Pipeline.from_json(ops)), torch.Generator("cuda").manual_seed(0)
    x, mask = images((64, 3, 32, 32)).cuda(), torch.zeros(64, 32, 32, dtype=torch.int64, device="cuda")
    run(x, g, mask=mask)  # the first batch copies the constants to the device
    torch.cuda.set_sync_debug_mode("error")
    try:
        out, out_mask = run(x, g, mask=mask)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out.shape == (64, 3, 16, 16) and out_mask.shape == (64, 16, 16)
