"""Operations on pixel values: colour jitter, blur, erasing (masks pass through, as in v2), and the
deterministic ones, v2's own kernels applied to the whole batch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._color import _rgb_to_hsv  # v2's own HSV maths

from neural_engine.data.batched.common import _b4, _const, _first_fit, _offsets, _uniform
from neural_engine.errors import DatasetError

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
