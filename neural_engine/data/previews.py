"""See what a pipeline does: originals and augmented samples side by side, the same for a seed.

``Normalize`` is left out of previews (it maps each channel linearly; the picture would only
change contrast), so every image shows as uint8 (H, W, C).

>>> from neural_engine.data.catalog import load_builtin
>>> pv = preview(load_builtin("digits"), [{"type": "RandomRotation", "params": {"degrees": 30}}], n=4, seed=0)
>>> len(pv.originals), pv.augmented[0].shape, pv.grid().size
(4, (8, 8, 1), (140, 276))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neural_engine.data.augment import Pipeline
from neural_engine.data.dataset import Dataset
from neural_engine.errors import DatasetError


@dataclass(frozen=True)
class Preview:
    indices: list[int]
    originals: list[np.ndarray]  # uint8 (H, W, C)
    augmented: list[np.ndarray]  # uint8 (H', W', C')

    def grid(self, cell: int | None = None, gap: int = 4):
        """A PIL image: one row per sample, original left, augmented right (nearest upscaling)."""
        from PIL import Image

        biggest = max(max(a.shape[0], a.shape[1]) for a in self.originals + self.augmented)
        cell = cell or max(biggest, 64)
        scale = max(1, cell // biggest)
        side = biggest * scale
        rows = len(self.originals)
        canvas = Image.new("RGB", (2 * side + 3 * gap, rows * (side + gap) + gap), (255, 255, 255))
        for r, pair in enumerate(zip(self.originals, self.augmented)):
            for c, arr in enumerate(pair):
                img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).convert("RGB")
                img = img.resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.Resampling.NEAREST)
                canvas.paste(img, (gap + c * (side + gap), gap + r * (side + gap)))
        return canvas

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise DatasetError(
                f"a preview grid is written as PNG; the file name must end in .png; received {path}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.grid().save(path, format="PNG")
        return path


def preview(dataset: Dataset | str, pipeline, n: int = 8, seed: int = 0) -> Preview:
    """``n`` samples chosen by ``seed``, before and after the (training) pipeline, seeded the same way.

    ``dataset``: a ``Dataset`` or a name (a built-in, or a registered ``name[@version]``).
    """
    import torch

    if isinstance(dataset, str):
        from neural_engine.data.registry import load

        dataset = load(dataset)
    if dataset.kind != "image":
        raise DatasetError(f"previews show image datasets; {dataset.name} is {dataset.kind}")
    if not isinstance(n, int) or not 1 <= n <= 64:
        raise DatasetError(f"a preview shows 1 to 64 samples; received n={n!r}")
    pipe = pipeline if isinstance(pipeline, Pipeline) else Pipeline.from_json(pipeline)
    transform = pipe.compile(train=True, display=True)
    rng = np.random.default_rng(seed)
    indices = sorted(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False).tolist())
    originals, augmented = [], []
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        for i in indices:
            img = torch.from_numpy(dataset.x[i]).permute(2, 0, 1)  # (C, H, W) uint8
            try:
                out = transform(img).clamp(0, 1).mul(255).round().to(torch.uint8)
            except (ValueError, RuntimeError, TypeError) as e:  # torchvision refuses this image size/type
                size = "x".join(map(str, dataset.x.shape[1:]))
                raise DatasetError(
                    f"the pipeline must run on {dataset.name}'s images ({size}, H x W x C); "
                    f"it fails on sample {i}: {e}",
                    hint="fit sizes to the images (e.g. RandomCrop with pad_if_needed=true)",
                ) from None
            originals.append(dataset.x[i])
            augmented.append(out.permute(1, 2, 0).numpy())
    return Preview(indices, originals, augmented)
