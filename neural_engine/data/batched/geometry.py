"""Geometric operations on a batch: flips, crops, resized crops, rotations (masks follow them)."""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as nnf
from torchvision.transforms.v2 import InterpolationMode

from neural_engine.data.batched.common import (
    _b4,
    _const,
    _crop,
    _first_fit,
    _offsets,
    _pad,
    _to_dtype_of,
    _uniform,
)
from neural_engine.errors import DatasetError

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
