"""A compressed file beside the classic formats: WebP, JPEG and AVIF (Pillow's encoders, at their defaults) each at
the lowest quality whose PSNR reaches ours on the very same pictures, and PNG, lossless. The coder itself is
codec.py; this is what its files are measured against, in the app and in benchmarks/codec.py."""

import io

import numpy as np
import torch

from ..models import metrics
from .codec import encode_grid, read_header
from .grids import grid_bits

# The lossy formats compared, as they are called → Pillow's format name (AVIF: Pillow ≥ 11.3's wheels).
LOSSY = {"WebP": "WEBP", "JPEG": "JPEG", "AVIF": "AVIF"}


def encoded(picture: np.ndarray, fmt: str, **options) -> bytes:
    """A picture (uint8, H×W or H×W×3) as a file of Pillow's format `fmt`."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format=fmt, **options)
    return buf.getvalue()


def png_bytes(picture: np.ndarray) -> int:
    """The picture's size as a lossless PNG."""
    return len(encoded(picture, "PNG"))


def classic_point(pictures: list[np.ndarray], fmt: str, quality: int) -> dict:
    """A classic codec (`fmt`: Pillow's "WEBP", "JPEG", "AVIF") at one quality over `pictures` (uint8, H×W or
    H×W×3): mean bytes, mean PSNR of the decoded pictures, and the format's fixed cost at that quality (the mean
    size of all-black pictures of the same sizes: headers, tables and the smallest payload)."""
    from PIL import Image

    sizes, scores, fixed = [], [], []
    for p in pictures:
        data = encoded(p, fmt, quality=quality)
        back = np.asarray(Image.open(io.BytesIO(data)).convert(Image.fromarray(p).mode)).astype(np.float64)
        mse = float(np.mean((back - p) ** 2)) / 255 ** 2
        sizes.append(len(data))
        scores.append(10 * np.log10(1 / max(mse, 1e-12)))
        fixed.append(len(encoded(np.zeros_like(p), fmt, quality=quality)))
    return {"quality": quality, "bytes": float(np.mean(sizes)), "psnr": float(np.mean(scores)),
            "fixed": float(np.mean(fixed))}


def classic_at(pictures: list[np.ndarray], fmt: str, target: float) -> dict | None:
    """`classic_point` at the lowest quality whose mean PSNR over `pictures` reaches `target` dB: what a
    compressed file is measured against. None if even quality 100 does not reach it."""
    if classic_point(pictures, fmt, 100)["psnr"] < target:
        return None
    lo, hi = 1, 100
    while lo < hi:                      # PSNR rises with quality (near enough for a search)
        mid = (lo + hi) // 2
        if classic_point(pictures, fmt, mid)["psnr"] >= target:
            hi = mid
        else:
            lo = mid + 1
    return classic_point(pictures, fmt, lo)


def costs(model, x: torch.Tensor) -> dict:
    """One image (1, C, H, W) in [0, 1] as a compressed file, and what it costs beside the classic formats on this
    very image: {data, psnr (of the decoded file), header, ideal (bytes), lossy ({name in LOSSY: `classic_at`
    that PSNR, or None}), png (lossless bytes)}."""
    grid = model.encode(x)[0]
    data = encode_grid(model, grid, None, tuple(x.shape[-2:]))
    target = metrics.psnr(metrics.mse(model.decode(grid[None], tuple(x.shape[-2:])), x))
    pixels = (x[0] * 255).round().to(torch.uint8).permute(1, 2, 0).squeeze(-1).numpy()
    return {"data": data, "psnr": target, "header": read_header(data)["payload"],
            "ideal": grid_bits(model, grid) / 8,
            "lossy": {called: classic_at([pixels], fmt, target) for called, fmt in LOSSY.items()},
            "png": png_bytes(pixels)}
