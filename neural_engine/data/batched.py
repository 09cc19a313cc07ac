"""Augmentation on a whole batch on its device, each image with its own random parameters.

The *device* input path keeps a training split as uint8 (N, C, H, W) on the accelerator; instead of
running ``Pipeline.compile()`` sample by sample in DataLoader workers, each batch goes through
``batched_pipeline(pipeline)``. It translates the compiled ``v2.Compose`` step by step (so the
parameters, their defaults and the float conversion point are v2's own), draws every sample's
parameters as tensors from a ``torch.Generator`` on the batch's device, and computes what v2 would
give each sample: same dtype at each step (uint8 until the ``ToDtype``, then float32), same rounding.

Bit for bit equal to v2 on CPU (tests/test_data_batched.py), but for two numerical differences:
``RandomResizedCrop`` resizes crops of different sizes in one batched matmul with the weights of torch's
antialiased bilinear kernel (within 1e-3 of v2's float kernel on a 0..255 scale, within one level of
its CPU uint8 kernel, see ``_aa_weights``), and ``ColorJitter``'s contrast on float images (after
``Normalize``) may differ by one float32 rounding (see ``_blend``). Segmentation masks (int64
(B, H, W)) follow the geometric operations with nearest sampling, as v2's ``tv_tensors.Mask`` does.
Only torch ops that run on CPU and CUDA (float64 included: not MPS); no host syncs per batch.

>>> import torch
>>> from neural_engine.data.augment import Pipeline
>>> p = Pipeline.from_json([{"type": "RandomCrop", "params": {"size": 32, "padding": 4}},
...                         {"type": "RandomHorizontalFlip"}])
>>> run = batched_pipeline(p)
>>> out = run(torch.zeros(8, 3, 32, 32, dtype=torch.uint8), torch.Generator().manual_seed(0))
>>> tuple(out.shape), out.dtype
((8, 3, 32, 32), torch.float32)
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch
import torch.nn.functional as nnf
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._color import _rgb_to_hsv  # v2's own HSV maths

from neural_engine.data.augment import Pipeline
from neural_engine.errors import DatasetError


def _uniform(n, lo, hi, device, g, dtype=torch.float32):
    return torch.empty(n, device=device, dtype=dtype).uniform_(lo, hi, generator=g)


def _offsets(n, span, device, g):
    """Per-sample integers uniform in [0, span) for a (n,) int64 ``span``: ``randint`` with a tensor bound."""
    u = torch.rand(span.shape, device=device, dtype=torch.float64, generator=g)
    return torch.minimum((u * span).long(), span - 1)


def _first_fit(ok, *values):
    """Per row of the (B, tries) ``ok``, each of ``values`` at the first accepted try; and whether any was."""
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)  # argmax returns the first maximum
    return ok.any(dim=1), *(v.gather(1, first).squeeze(1) for v in values)


def _crop(x, top, left, h, w):
    """Per-sample windows of a (B, ..., H, W) tensor at (B,) ``top``/``left``: (B, ..., h, w)."""
    windows = x.unfold(-2, h, 1).unfold(-2, w, 1).movedim((-4, -3), (1, 2))  # (B, H-h+1, W-w+1, ..., h, w)
    return windows[torch.arange(x.shape[0], device=x.device), top, left]


def _to_dtype_of(out, like):
    """v2's return to an integer image (or mask): round, then cast; floats stay as they are."""
    return out if like.is_floating_point() else out.round_().to(like.dtype)


def _b4(v):
    return v.view(-1, 1, 1, 1)


@functools.lru_cache(maxsize=64)
def _const(values: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small constant on the device, copied there once: ``torch.tensor(..., device=cuda)`` per batch
    would wait for the GPU every time (a host sync)."""
    return torch.tensor(values, dtype=dtype, device=device)


def _pad(x, padding, fill, mode):
    """v2's ``F.pad`` of a (B, ..., H, W) batch (``padding`` left, top, right, bottom), with its
    ``symmetric`` indices computed on the device instead of copied from a Python list."""
    if mode != "symmetric":
        return F.pad(x, padding=padding, fill=fill, padding_mode=mode)
    left, top, right, bottom = padding

    def mirror(n, before, after):  # i < 0 -> -i - 1, i >= n -> 2n - 1 - i
        i = torch.arange(-before, n + after, device=x.device)
        return torch.where(i < 0, -i - 1, torch.where(i >= n, 2 * n - 1 - i, i))

    x = x.index_select(-2, mirror(x.shape[-2], top, bottom))
    return x.index_select(-1, mirror(x.shape[-1], left, right))


# ---- geometric operations ----


class Flip:
    """RandomHorizontalFlip / RandomVerticalFlip: flip where ``rand < p`` (v2 skips when ``rand >= p``)."""

    def __init__(self, t, dim: int):
        self.p, self.dim = t.p, dim

    def draw(self, n, chw, device, g):
        return {"flip": torch.rand(n, device=device, generator=g) < self.p}

    def image(self, x, q):
        return torch.where(_b4(q["flip"]), x.flip(self.dim), x)

    def mask(self, m, q):
        return torch.where(q["flip"].view(-1, 1, 1), m.flip(self.dim), m)


class RandomCrop:
    """v2's padding (1/2/4 forms, ``pad_if_needed`` adding the shortfall on both sides) is the same
    for every sample: ``F.pad`` pads the batch; each sample then gets its own window."""

    def __init__(self, t):
        self.t = t

    def why_not(self):
        if not isinstance(self.t.fill, (int, float)):
            return f"fill must be a number; received {self.t.fill!r}"
        return None

    def layout(self, height, width):
        t, (h, w) = self.t, self.t.size
        left, right, top, bottom = t.padding if t.padding is not None else (0, 0, 0, 0)
        ph, pw = height + top + bottom, width + left + right
        if t.pad_if_needed and ph < h:
            top, bottom, ph = top + h - ph, bottom + h - ph, ph + 2 * (h - ph)
        if t.pad_if_needed and pw < w:
            left, right, pw = left + w - pw, right + w - pw, pw + 2 * (w - pw)
        if ph < h or pw < w:
            raise DatasetError(
                f"RandomCrop needs a crop size within the (padded) image; received size {(h, w)} "
                f"for a (padded) image of {(ph, pw)}",
                hint="lower size, or set pad_if_needed",
            )
        return [left, top, right, bottom], ph, pw

    def draw(self, n, chw, device, g):
        _, ph, pw = self.layout(*chw[-2:])
        (h, w) = self.t.size
        return {
            "top": torch.randint(0, ph - h + 1, (n,), device=device, generator=g),
            "left": torch.randint(0, pw - w + 1, (n,), device=device, generator=g),
        }

    def image(self, x, q):
        padding, _, _ = self.layout(*x.shape[-2:])
        if any(padding):
            x = _pad(x, padding, self.t.fill, self.t.padding_mode)
        return _crop(x, q["top"], q["left"], *self.t.size)

    def mask(self, m, q):
        return self.image(m, q)  # v2 pads masks with the same fill and mode


class RandomResizedCrop:
    """v2's ``make_params`` for every sample at once: 10 tries of (area, log-uniform aspect) kept where
    the box fits, else the central crop; then crop and resize (antialiased bilinear) in one matmul."""

    def __init__(self, t):
        self.t = t

    def why_not(self):
        if InterpolationMode(self.t.interpolation) != InterpolationMode.BILINEAR or not self.t.antialias:
            return f"only antialiased bilinear resizing; received interpolation={self.t.interpolation}"
        return None

    def fallback(self, height, width):
        lo, hi = min(self.t.ratio), max(self.t.ratio)
        if width / height < lo:
            h, w = round(width / lo), width
        elif width / height > hi:
            h, w = height, round(height * hi)
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def draw(self, n, chw, device, g):
        height, width = chw[-2:]
        log_ratio = self.t._log_ratio  # float32, as v2 samples it
        area = height * width * _uniform((n, 10), *self.t.scale, device, g).double()
        aspect = torch.exp(_uniform((n, 10), float(log_ratio[0]), float(log_ratio[1]), device, g)).double()
        w, h = torch.sqrt(area * aspect).round().long(), torch.sqrt(area / aspect).round().long()
        found, h, w = _first_fit((w > 0) & (w <= width) & (h > 0) & (h <= height), h, w)
        ci, cj, ch, cw = self.fallback(height, width)
        h, w = torch.where(found, h, ch), torch.where(found, w, cw)
        top = torch.where(found, _offsets(n, height - h + 1, device, g), ci)
        left = torch.where(found, _offsets(n, width - w + 1, device, g), cj)
        return {"top": top, "left": left, "height": h, "width": w}

    def image(self, x, q):
        (oh, ow), (height, width) = self.t.size, x.shape[-2:]
        wy = _aa_weights(q["top"], q["height"], height, oh)[:, None]  # (B, 1, oh, H)
        wx = _aa_weights(q["left"], q["width"], width, ow)[:, None].transpose(-1, -2)  # (B, 1, W, ow)
        with _ieee_matmul():
            out = wy @ x.float() @ wx
        return _to_dtype_of(out, x)

    def mask(self, m, q):
        """Nearest as torch's ``interpolate``: source ``min(floor(i * (in / out)), in - 1)`` in float32."""
        (oh, ow) = self.t.size

        def index(start, length, size):
            scale = length.float() / size
            i = torch.floor(torch.arange(size, device=m.device, dtype=torch.float32) * scale[:, None]).long()
            return start[:, None] + torch.minimum(i, length[:, None] - 1)  # (B, size)

        rows, cols = index(q["top"], q["height"], oh), index(q["left"], q["width"], ow)
        m = m.gather(1, rows[:, :, None].expand(-1, -1, m.shape[-1]))
        return m.gather(2, cols[:, None, :].expand(-1, oh, -1))


def _aa_weights(start, length, n_in, n_out):
    """(B, n_out, n_in) weights of torch's antialiased bilinear resize (``interpolate(..., antialias=True)``,
    ``align_corners=False``) of the window [start, start + length) of each row to ``n_out`` values.

    Per output i: centre ``c = scale * (i + 0.5)`` with ``scale = length / n_out``, triangle filter of
    half-width ``max(scale, 1)``, weights normalised to sum 1; a window as long as ``n_out`` gives the
    identity. v2 computes the same weights (float32, or int16 fixed point in the CPU uint8 kernel, which
    also rounds between its two passes), so results agree within 1/255 — the bound the tests check.
    """
    scale = length.double() / n_out  # (B,)
    support = scale.clamp(min=1.0)
    arange = torch.arange(max(n_in, n_out), device=start.device, dtype=torch.float64)
    center = scale[:, None] * (arange[:n_out] + 0.5)  # (B, n_out)
    j = arange[:n_in] - start[:, None]  # (B, n_in): position in the window
    t = (j[:, None, :] - center[:, :, None] + 0.5) / support[:, None, None]
    w = (1 - t.abs()).clamp(min=0) * ((j >= 0) & (j < length[:, None]))[:, None, :]
    return (w / w.sum(-1, keepdim=True)).float()


@contextlib.contextmanager
def _ieee_matmul():
    """Full float32 matmuls (no TF32 on CUDA) for the resize, whatever the training loop has set."""
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


class RandomRotation:
    """Angles uniform in [lo, hi] (float32, as v2); v2's inverse-affine grid, nearest ``grid_sample`` with
    a validity channel for ``fill``, and its exact ``rot90`` shortcuts at multiples of 90 degrees."""

    def __init__(self, t):
        self.t = t
        lo, hi = t.degrees
        self.quarters = [k for k in range(-4, 5) if lo <= 90 * k <= hi]  # shortcuts the range can hit

    def why_not(self):
        t = self.t
        if (
            InterpolationMode(t.interpolation) != InterpolationMode.NEAREST
            or t.expand
            or t.center is not None
        ):
            return (
                f"only nearest interpolation, expand=False and center=None; received interpolation="
                f"{t.interpolation}, expand={t.expand}, center={t.center}"
            )
        if not isinstance(t.fill, (int, float)):
            return f"fill must be a number; received {t.fill!r}"
        return None

    def draw(self, n, chw, device, g):
        return {"angle": _uniform(n, *self.t.degrees, device, g)}

    def image(self, x, q):
        b, _, h, w = x.shape
        angle = q["angle"].double().remainder(360)  # v2: angle % 360, then the matrix of -angle
        rad = -angle * (math.pi / 180)
        cos, sin, zero = torch.cos(rad), torch.sin(rad), torch.zeros_like(rad)
        theta = torch.stack([cos, sin, zero, -sin, cos, zero], 1).float().view(b, 2, 3)
        base = torch.empty(1, h, w, 3, device=x.device)
        base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=x.device))
        base[..., 1].copy_(
            torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=x.device)[:, None]
        )
        base[..., 2].fill_(1)
        scale = _const((0.5 * w, 0.5 * h), x.device, torch.float32)
        grid = base.view(1, h * w, 3).expand(b, -1, -1).bmm(theta.transpose(1, 2) / scale).view(b, h, w, 2)
        img = torch.cat([x.float(), torch.ones(b, 1, h, w, device=x.device)], 1)
        img = nnf.grid_sample(img, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        img, valid = img[:, :-1], img[:, -1:]
        out = _to_dtype_of(torch.where(valid < 0.5, float(self.t.fill), img), x)
        for k in self.quarters:  # v2 takes torch.rot90 (or a copy) for these exact angles
            if k % 2 == 0 or h == w:
                out = torch.where(_b4(angle == (90 * k) % 360), torch.rot90(x, k, dims=(-2, -1)), out)
        return out

    def mask(self, m, q):
        return self.image(m[:, None], q)[:, 0]


# ---- colour operations (masks pass through, as in v2) ----


def _gray(x):
    """v2's luma, in float (``preserve_dtype=False``), floored for integer images as v2 does."""
    r, g, b = x.unbind(dim=-3)
    gray = r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(-3)
    return gray if x.is_floating_point() else gray.floor_()


def _blend(x, other, f):
    """v2's ``x.mul(f).add_(other, alpha=1 - f).clamp_(0, bound)`` with a per-sample f. torch computes
    ``a + alpha * b`` as one fused multiply-add (one rounding; CUDA and CPU vector loops), emulated here in
    float64, which holds the product exactly. Exception: with a broadcast scalar ``b`` (contrast's mean)
    torch's CPU scalar tail (the last ``numel % (2 * vector width)`` values) rounds twice."""
    alpha = (1.0 - f.double()).float().double()  # v2 passes 1 - f as a double, used as float32
    out = (x.mul(_b4(f)).double() + other.double() * _b4(alpha)).float()
    return _clamp_like(out, x)


def _clamp_like(out, x):
    return out.clamp_(0, 1.0) if x.is_floating_point() else out.clamp_(0, 255).to(x.dtype)


def _channels(x):
    if x.shape[-3] not in (1, 3):
        raise DatasetError(f"ColorJitter needs images with 1 or 3 channels; received {x.shape[-3]}")
    return x.shape[-3]


def _brightness(x, f):
    return _clamp_like(x.mul(_b4(f)), x)


def _contrast(x, f):
    if _channels(x) == 3:
        gray = _gray(x)
    else:
        gray = x if x.is_floating_point() else x.float()
    return _blend(x, gray.mean(dim=(-3, -2, -1), keepdim=True), f)


def _saturation(x, f):
    return x if _channels(x) == 1 else _blend(x, _gray(x), f)


def _hsv_to_rgb(img):
    """v2's ``_hsv_to_rgb`` (same arithmetic), its channel table copied to the device once."""
    h, s, v = img.unbind(dim=-3)
    h6 = h.mul(6)
    i = torch.floor(h6)
    f = h6.sub_(i)
    i = i.to(dtype=torch.int32).remainder_(6)
    sxf = s * f
    one_minus_s = 1.0 - s
    q = (1.0 - sxf).mul_(v).clamp_(0.0, 1.0)
    t = sxf.add_(one_minus_s).mul_(v).clamp_(0.0, 1.0)
    p = one_minus_s.mul_(v).clamp_(0.0, 1.0)
    vpqt = torch.stack((v, p, q, t), dim=-3)
    select = _const(((0, 2, 1, 1, 3, 0), (3, 0, 0, 2, 1, 1), (1, 1, 3, 0, 0, 2)), img.device, torch.long)
    return vpqt.gather(-3, select[:, i].moveaxis(0, -3))


def _hue(x, f):
    if _channels(x) == 1:
        return x
    h, s, v = _rgb_to_hsv(F.to_dtype(x, torch.float32, scale=True)).unbind(dim=-3)
    h = h.add(f.view(-1, 1, 1)).remainder_(1.0)
    return F.to_dtype(_hsv_to_rgb(torch.stack((h, s, v), dim=-3)), x.dtype, scale=True)


class ColorJitter:
    """Factors uniform (float32) in v2's ranges; the enabled adjustments in a random order per sample
    (v2 draws ``randperm(4)`` per call): slot by slot, each sample takes the adjustment its order names."""

    def __init__(self, t):
        ranges = (t.brightness, t.contrast, t.saturation, t.hue)
        self.enabled = [
            (fn, r) for fn, r in zip((_brightness, _contrast, _saturation, _hue), ranges) if r is not None
        ]

    def draw(self, n, chw, device, g):
        factors = [_uniform(n, *r, device, g) for _, r in self.enabled]
        order = torch.rand(n, len(self.enabled), device=device, generator=g).argsort(dim=1)  # (B, slots)
        return {"factors": factors, "order": order}

    sync_free: bool | None = None  # None: sync-free off the CPU only (tests force each way)

    def image(self, x, q):
        if len(self.enabled) == 1:
            return self.enabled[0][0](x, q["factors"][0])
        subsets = x.device.type == "cpu" if self.sync_free is None else not self.sync_free
        for slot in range(len(self.enabled)):
            pick, y = q["order"][:, slot], x.clone() if subsets else x
            for k, ((fn, _), f) in enumerate(zip(self.enabled, q["factors"])):
                if subsets:  # a host sync is free on the CPU: adjust only the samples whose slot names k
                    i = (pick == k).nonzero().squeeze(1)
                    y[i] = fn(x[i], f[i])
                else:  # no sync on an accelerator: adjust every sample, keep those whose slot names k
                    y = torch.where(_b4(pick == k), fn(x, f), y)
            x = y
        return x


class GaussianBlur:
    """Sigma uniform (float32) per sample; v2's kernel (softmax of a linspace) per sample, reflect padding,
    one grouped conv over the batch's B * C channels."""

    def __init__(self, t):
        self.t = t

    def draw(self, n, chw, device, g):
        return {"sigma": _uniform(n, *self.t.sigma, device, g)}

    def image(self, x, q):
        b, c, h, w = x.shape
        (kx, ky), dtype = self.t.kernel_size, (x.dtype if x.is_floating_point() else torch.float32)

        def kernel1d(k):
            lim = (k - 1) / (2.0 * math.sqrt(2.0))
            t = torch.linspace(-lim, lim, steps=k, dtype=dtype, device=x.device)
            sigma = q["sigma"].to(dtype)[:, None]
            # CUDA divides by a Python scalar as a multiply by its float reciprocal; CPU divides
            t = t * sigma.reciprocal() if x.is_cuda else t / sigma
            return torch.softmax(t.pow(2).neg(), dim=-1)  # (B, k)

        kernel = kernel1d(ky)[:, :, None] * kernel1d(kx)[:, None, :]  # (B, ky, kx)
        kernel = kernel[:, None].expand(b, c, ky, kx).reshape(b * c, 1, ky, kx)
        out = x if x.is_floating_point() else x.float()
        out = nnf.pad(out, [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
        out = nnf.conv2d(out.view(1, b * c, *out.shape[-2:]), kernel, groups=b * c).view(b, c, h, w)
        return out if x.is_floating_point() else out.round_().to(x.dtype)


class RandomErasing:
    """Per sample: ``rand < p``, then v2's 10 tries (h from area * aspect, strictly inside the image);
    no box found: unchanged. The box is written with ``value`` through a mask, no per-sample slicing."""

    def __init__(self, t):
        self.t = t

    def why_not(self):
        return None if self.t.value is not None else 'value="random" has no batched form'

    def draw(self, n, chw, device, g):
        c, height, width = chw
        if len(self.t.value) not in (1, c):
            raise DatasetError(
                f"RandomErasing needs 1 or {c} values (one per channel); received {self.t.value}"
            )
        log_ratio = self.t._log_ratio
        apply = torch.rand(n, device=device, generator=g) < self.t.p
        area = height * width * _uniform((n, 10), *self.t.scale, device, g).double()
        aspect = torch.exp(_uniform((n, 10), float(log_ratio[0]), float(log_ratio[1]), device, g)).double()
        h, w = torch.sqrt(area * aspect).round().long(), torch.sqrt(area / aspect).round().long()
        found, h, w = _first_fit((h < height) & (w < width), h, w)
        h, w = torch.where(found, h, 0), torch.where(found, w, 0)
        return {
            "erase": apply & found,
            "top": _offsets(n, height - h + 1, device, g),
            "left": _offsets(n, width - w + 1, device, g),
            "height": h,
            "width": w,
        }

    def image(self, x, q):
        rows = torch.arange(x.shape[-2], device=x.device)[None, :]
        cols = torch.arange(x.shape[-1], device=x.device)[None, :]
        inside_r = (rows >= q["top"][:, None]) & (rows < (q["top"] + q["height"])[:, None])  # (B, H)
        inside_c = (cols >= q["left"][:, None]) & (cols < (q["left"] + q["width"])[:, None])  # (B, W)
        box = (inside_r[:, :, None] & inside_c[:, None, :] & q["erase"][:, None, None])[:, None]
        value = _const(tuple(self.t.value), x.device, torch.float32).to(x.dtype).view(1, -1, 1, 1)
        return torch.where(box, value, x)


# ---- deterministic operations: v2's own kernels, which take a batch as they take one image ----


class Deterministic:
    def __init__(self, t):
        self.t = t

    def draw(self, n, chw, device, g):
        return {}


class Grayscale(Deterministic):
    def image(self, x, q):
        return F.rgb_to_grayscale(x, num_output_channels=self.t.num_output_channels)


class Normalize(Deterministic):
    def image(self, x, q):  # v2's normalize_image, with the mean and std copied to the device once
        mean, std = (_const(tuple(v), x.device, x.dtype).view(-1, 1, 1) for v in (self.t.mean, self.t.std))
        return x.sub(mean).div_(std)


class Resize(Deterministic):
    def image(self, x, q):
        t = self.t
        return F.resize(x, t.size, interpolation=t.interpolation, max_size=t.max_size, antialias=t.antialias)

    def mask(self, m, q):
        return F.resize_mask(m, self.t.size, max_size=self.t.max_size)


class ToDtype(Deterministic):
    def why_not(self):
        return (
            None
            if isinstance(self.t.dtype, torch.dtype)
            else f"dtype must be one dtype; received {self.t.dtype}"
        )

    def image(self, x, q):
        return F.to_dtype(x, self.t.dtype, scale=self.t.scale)


OPS = {  # v2 class name -> batched form: every operation of augment.SCHEMA, and the inserted ToDtype
    "RandomHorizontalFlip": lambda t: Flip(t, -1),
    "RandomVerticalFlip": lambda t: Flip(t, -2),
    "RandomCrop": RandomCrop,
    "RandomResizedCrop": RandomResizedCrop,
    "RandomRotation": RandomRotation,
    "ColorJitter": ColorJitter,
    "GaussianBlur": GaussianBlur,
    "RandomErasing": RandomErasing,
    "Grayscale": Grayscale,
    "Normalize": Normalize,
    "Resize": Resize,
    "ToDtype": ToDtype,
}


def _translate(pipeline: Pipeline, train: bool):
    """The batched steps of ``pipeline.compile(train)``, or the reason one has no batched form."""
    steps = []
    for t in Pipeline.from_json(pipeline).compile(train=train).transforms:
        name = type(t).__name__
        if name not in OPS:
            return None, f"{name} has no batched form (batched: {', '.join(sorted(OPS))})"
        step = OPS[name](t)
        why = step.why_not() if hasattr(step, "why_not") else None
        if why:
            return None, f"{name}: {why}"
        steps.append(step)
    return steps, ""


def supported(pipeline: Pipeline | list | None, train: bool = True) -> tuple[bool, str]:
    """Whether every step of ``pipeline`` has a batched form; if not, the reason to log with the fallback.

    >>> supported(Pipeline.from_json([{"type": "RandomRotation", "params": {"degrees": 10}}]))
    (True, '')
    """
    if pipeline is None:
        return True, ""
    steps, why = _translate(pipeline, train)
    return steps is not None, why


class BatchedPipeline:
    """``run(x, generator=None, mask=None)``: x uint8 (B, C, H, W) on any device; returns float32
    (B, C', H', W') (and the int64 (B, H', W') mask when one is given). ``generator`` lives on x's
    device; None draws from torch's default generator there. ``steps`` are the batched operations,
    each with ``draw(n, (C, H, W), device, generator) -> params`` and ``image(x, params)``."""

    def __init__(self, steps):
        self.steps = steps

    def __repr__(self) -> str:
        return f"BatchedPipeline({', '.join(type(s).__name__ for s in self.steps)})"

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator | None = None, mask: torch.Tensor | None = None
    ):
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise DatasetError(
                f"a batched pipeline needs a uint8 (B, C, H, W) batch; received {x.dtype} {tuple(x.shape)}",
                hint="hold the split as uint8 and index batches from it",
            )
        if mask is not None and (mask.ndim != 3 or mask.shape != (x.shape[0], *x.shape[-2:])):
            raise DatasetError(
                f"masks must be (B, H, W) like the images {tuple(x.shape)}; received {tuple(mask.shape)}"
            )
        with torch.autocast(x.device.type, enabled=False), torch.no_grad():
            for step in self.steps:
                q = step.draw(x.shape[0], tuple(x.shape[1:]), x.device, generator)
                if mask is not None and hasattr(step, "mask"):
                    mask = step.mask(mask, q)
                x = step.image(x, q)
        return x if mask is None else (x, mask)


def batched_pipeline(pipeline: Pipeline | list | None, train: bool = True) -> BatchedPipeline:
    """The batched form of ``pipeline.compile(train)`` (None: just the uint8 -> float32 conversion).

    Raises ``DatasetError`` with ``supported()``'s reason when a step has none: the caller falls back to
    DataLoader workers and logs it.
    """
    steps, why = _translate(pipeline if pipeline is not None else Pipeline(), train)
    if steps is None:
        raise DatasetError(
            f"the augmentation pipeline must have a batched form for device placement; {why}",
            hint="use --data-placement workers, or drop that operation",
        )
    return BatchedPipeline(steps)
