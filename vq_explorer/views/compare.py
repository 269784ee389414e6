"""Models side by side, as people see them: each reconstruction at one display size with the region a click chose
outlined, the region's crops enlarged, the difference of two reconstructions, and a folder's figures as a
Markdown table and a chart of PSNR against tokens per image."""

import math

import numpy as np
import torch
from PIL import Image

from .pictures import error_map, to_rgb

DISPLAY = 256      # every model's picture is shown this many pixels square
OUTLINE = (0, 255, 255)


def at_display(img: torch.Tensor, side: int = DISPLAY) -> np.ndarray:
    """(C, H, W) in [0, 1] → (side, side, 3) uint8, nearest-neighbour: a 28-pixel digit's pixels stay visible."""
    return np.asarray(Image.fromarray(to_rgb(img, None)).resize((side, side), Image.NEAREST))


def error_at_display(x: torch.Tensor, recon: torch.Tensor, side: int = DISPLAY) -> np.ndarray:
    """|recon − x| averaged over channels, on error_map's fixed scale (black 0, yellow ≥ 0.5) for every model,
    so that the maps of several models can be compared by eye."""
    err = (recon - x).abs().mean(0)
    big = torch.nn.functional.interpolate(err[None, None], size=(side, side), mode="nearest")[0, 0]
    return error_map(big, side)


def difference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Two display pictures (side, side, 3) uint8 → their |difference| on the error scale, and its mean (0..1)."""
    d = torch.from_numpy(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(-1) / 255)
    return error_map(d, a.shape[0]), float(d.mean())


def region_box(point: tuple[float, float], share: float = 0.25) -> tuple[float, float, float, float]:
    """A square of `share` of the picture's side around a point (x, y) in [0, 1], kept inside: (x0, y0, x1, y1)."""
    x, y = point
    x0 = min(max(0.0, x - share / 2), 1 - share)
    y0 = min(max(0.0, y - share / 2), 1 - share)
    return x0, y0, x0 + share, y0 + share


def box_pixels(box, side: int = DISPLAY) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return round(x0 * side), round(y0 * side), round(x1 * side), round(y1 * side)


def outlined(picture: np.ndarray, box) -> np.ndarray:
    """The picture with the box drawn on it in cyan, 2 px wide."""
    a = picture.copy()
    x0, y0, x1, y1 = box_pixels(box, a.shape[0])
    x1, y1 = max(x0 + 4, x1), max(y0 + 4, y1)
    a[y0:y0 + 2, x0:x1], a[y1 - 2:y1, x0:x1] = OUTLINE, OUTLINE
    a[y0:y1, x0:x0 + 2], a[y0:y1, x1 - 2:x1] = OUTLINE, OUTLINE
    return a


def cells_in(box, grid_shape, cell: tuple[float, float] | None = None) -> tuple[int, int, int, int]:
    """The rows and columns (r0, r1, c0, c1), ends excluded, of a grid's cells that the box touches. `cell`: a
    cell's height and width as shares of the picture (default: the grid covers the picture exactly; a 28-pixel
    digit's 4×4 grid at factor 8 covers 32 pixels, so its cells are 8/28 of the picture)."""
    x0, y0, x1, y1 = box
    h, w = grid_shape
    ch, cw = cell or (1 / h, 1 / w)
    eps = 1e-9
    r0, c0 = min(h - 1, int(math.floor(y0 / ch + eps))), min(w - 1, int(math.floor(x0 / cw + eps)))
    return (r0, min(h, max(r0 + 1, int(math.ceil(y1 / ch - eps)))),
            c0, min(w, max(c0 + 1, int(math.ceil(x1 / cw - eps)))))


def crop(picture: np.ndarray, box, grid_shape, side: int = 160, cell: tuple[float, float] | None = None):
    """The box's part of a display picture, enlarged to `side` px, with the model's cell borders drawn faintly."""
    x0, y0, x1, y1 = box_pixels(box, picture.shape[0])
    part = Image.fromarray(picture[y0:y1, x0:x1]).resize((side, side), Image.NEAREST)
    a = np.asarray(part).copy()
    h, w = grid_shape
    ch, cw = cell or (1 / h, 1 / w)
    n = picture.shape[0]
    for r in range(h + 1):         # cell borders that fall inside the box
        y = (r * ch * n - y0) / max(1, y1 - y0) * side
        if 0 < y < side - 1:
            a[int(y)] = a[int(y)] // 2 + 100
    for c in range(w + 1):
        x = (c * cw * n - x0) / max(1, x1 - x0) * side
        if 0 < x < side - 1:
            a[:, int(x)] = a[:, int(x)] // 2 + 100
    return a


def crops_side_by_side(crops: list[np.ndarray]) -> np.ndarray:
    gap = np.full((crops[0].shape[0], 8, 3), 255, np.uint8)
    parts = []
    for i, c in enumerate(crops):
        parts += [gap, c] if i else [c]
    return np.concatenate(parts, 1)


def fmt(value, spec: str, missing: str = "—") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


TABLE = [("model", "model", "s"), ("images", "images", "d"), ("PSNR dB", "psnr", ".2f"),
         ("mean of per-image PSNR", "psnr_per_image_mean", ".2f"), ("SSIM", "ssim", ".4f"),
         ("tokens/image", "tokens_per_image", ".0f"), ("K", "num_codes", "d"), ("codes used", "codes_used", "d"),
         ("perplexity", "perplexity", ".1f"), ("dead codes", "dead_codes", "d"),
         ("bits/image", "bits_per_image", ".1f"), ("bytes/image", "bytes_per_image", ".1f"),
         ("ms/image", "ms_per_image", ".1f"), ("images/s", "images_per_s", ".0f")]


def markdown_table(rows: list[dict]) -> str:
    """The rows of `service.compare.evaluate_folder` as a Markdown table (— where a model has no such figure)."""
    head = "| " + " | ".join(t for t, _, _ in TABLE) + " |\n|" + "---|" * len(TABLE) + "\n"
    return head + "\n".join("| " + " | ".join(fmt(r.get(k), f) for _, k, f in TABLE) + " |" for r in rows)


def save_chart(rows: list[dict], path) -> None:
    """PSNR against tokens per image, one labelled point per model, as a PNG (matplotlib, no display)."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    points = [(r["tokens_per_image"], r["psnr"], r["model"]) for r in rows
              if r.get("tokens_per_image") and r.get("psnr") is not None and math.isfinite(r["psnr"])]
    for t, p, name in points:
        ax.scatter([t], [p], s=40)
        ax.annotate(str(name).rsplit("/", 1)[-1].removesuffix(".safetensors"), (t, p), textcoords="offset points",
                    xytext=(6, 4), fontsize=9)
    ax.set_xscale("log")
    ticks = sorted({round(t) for t, _, _ in points})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.margins(x=0.25, y=0.12)
    ax.set_xlabel("tokens per image (cells of the code grid)")
    ax.set_ylabel("PSNR, dB (of the mean MSE)")
    ax.set_title(f"{int(rows[0]['images']) if rows else 0} pictures, one point per model")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
