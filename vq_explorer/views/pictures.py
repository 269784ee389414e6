"""Pictures for people: enlarged images, error and cell maps, code grids drawn cell by cell, atlases and sheets.
Numpy and PIL (plotly only for its colour scales); the UI decides where they go. Figures: views.charts."""

import colorsys
from functools import lru_cache

import numpy as np
import plotly.colors
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

GOLDEN = 0.618033988749895


def code_colour(k: int) -> tuple[int, int, int]:
    """A stable colour per code index; golden-ratio hues keep neighbouring indices apart."""
    h = (k * GOLDEN) % 1.0
    s = 0.45 + 0.35 * ((k * 7919) % 3) / 2
    v = 0.70 + 0.25 * ((k * 104729) % 2)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def to_rgb(img: torch.Tensor, size: int | None = 256) -> np.ndarray:
    """(C, H, W) float in [0, 1] → (S, S·W/H, 3) uint8, enlarged without blurring the pixels."""
    a = (img.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    a = np.repeat(a, 3, 0) if a.shape[0] == 1 else a[:3]
    a = a.transpose(1, 2, 0)
    if size:
        h, w = a.shape[:2]
        scale = max(1, size // max(h, w))
        a = a.repeat(scale, 0).repeat(scale, 1)
    return np.ascontiguousarray(a)


@lru_cache(maxsize=1)
def _inferno() -> np.ndarray:
    """plotly's Inferno colour scale sampled at 256 levels: a lookup table, so a 256×256 error map costs one
    indexing, not 65,536 colour-scale lookups."""
    rgb = plotly.colors.sample_colorscale("Inferno", np.linspace(0, 1, 256).tolist())
    return np.array([plotly.colors.unlabel_rgb(c) for c in rgb]).round().astype(np.uint8)


def error_map(err: torch.Tensor, size: int = 256) -> np.ndarray:
    """(H, W) absolute error → an 'inferno' colour map, 0 black to ≥ 0.5 bright yellow."""
    a = _inferno()[(np.clip(err.cpu().numpy() / 0.5, 0, 1) * 255).round().astype(np.int64)]
    scale = max(1, size // max(a.shape[:2]))
    return a.repeat(scale, 0).repeat(scale, 1)


def cell_map(values: torch.Tensor, top: float, size: int = 256, reverse: bool = False,
             mark: tuple[int, int] | None = None) -> np.ndarray:
    """(h, w) values per cell → an 'inferno' picture, 0 black to ≥ `top` bright yellow (`reverse`: the other way
    round), each cell a square of at least 4 px with a thin grid between cells where they are large enough;
    `mark` outlines one cell in cyan. Clicks on it map back to cells by integer division."""
    v = np.nan_to_num(values.cpu().numpy().astype(np.float64), nan=0.0, posinf=top, neginf=0.0)
    level = np.clip(v / top, 0, 1)
    a = _inferno()[((1 - level if reverse else level) * 255).round().astype(np.int64)]
    px = cell_px_for(values.shape, size)
    a = a.repeat(px, 0).repeat(px, 1)
    if px >= 12:   # a faint grid: where one cell ends
        a[px - 1::px, :] = a[px - 1::px, :] // 2 + 64
        a[:, px - 1::px] = a[:, px - 1::px] // 2 + 64
    if mark is not None:
        r, c = mark
        t = max(1, px // 8)
        box = a[r * px:(r + 1) * px, c * px:(c + 1) * px]
        box[:t], box[-t:], box[:, :t], box[:, -t:] = (0, 255, 255), (0, 255, 255), (0, 255, 255), (0, 255, 255)
    return np.ascontiguousarray(a)


def side_by_side(images: torch.Tensor, cell: tuple[int, int], factor: int, around: int = 2,
                 size: int = 192) -> np.ndarray:
    """Two decodings (2, C, H, W) of grids that differ in one cell, cropped to the cells within `around` of it
    (a photo's whole image would hide a 4-pixel change), each enlarged to about `size` px, the cell outlined in
    cyan, side by side."""
    r, c = cell
    h, w = images.shape[-2] // factor, images.shape[-1] // factor
    r0, r1 = max(0, r - around), min(h, r + around + 1)
    c0, c1 = max(0, c - around), min(w, c + around + 1)
    crops = images[:, :, r0 * factor:r1 * factor, c0 * factor:c1 * factor]
    scale = max(1, size // (max(r1 - r0, c1 - c0) * factor))
    pictures = []
    for crop in crops:
        a = to_rgb(crop, None).repeat(scale, 0).repeat(scale, 1)
        y, x, s = (r - r0) * factor * scale, (c - c0) * factor * scale, factor * scale
        t = max(1, scale // 2)
        for edge in (a[y:y + t, x:x + s], a[y + s - t:y + s, x:x + s], a[y:y + s, x:x + t],
                     a[y:y + s, x + s - t:x + s]):
            edge[:] = (0, 255, 255)
        pictures.append(a)
    gap = np.full((pictures[0].shape[0], 8, 3), 255, np.uint8)
    return np.concatenate([pictures[0], gap, pictures[1]], 1)


def cell_px_for(shape, size: int = 256) -> int:
    """Pixels per cell in `cell_map` for a grid of `shape`: the picture about `size` wide, at least 4 px a cell."""
    return max(4, size // max(shape))


@lru_cache(maxsize=16)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _write_code(draw: ImageDraw.ImageDraw, k: int, x0: int, y0: int, cell_px: int):
    font = _font(max(9, cell_px // 3 - (2 if cell_px < 40 else 0)))
    tw = draw.textlength(str(k), font=font)
    x, y = x0 + (cell_px - tw) / 2, y0 + cell_px / 2 - font.size / 2 - 1
    draw.text((x, y), str(k), fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))


@lru_cache(maxsize=8192)
def _colour_cell(k: int, cell_px: int, numbers: bool) -> Image.Image:
    """One cell in its code's colour, index written on it: drawn once per (code, size) and pasted after, since
    the text costs most of a grid picture and a streamed sample redraws the grid every step."""
    cell = Image.new("RGB", (cell_px, cell_px), code_colour(k))
    draw = ImageDraw.Draw(cell)
    draw.rectangle((0, 0, cell_px - 1, cell_px - 1), outline=(255, 255, 255))
    if numbers:
        _write_code(draw, k, 0, 0, cell_px)
    return cell


def grid_picture(grid: torch.Tensor, cell_px: int = 48, tiles: torch.Tensor | None = None,
                 highlight: tuple[int, int] | None = None, region: torch.Tensor | None = None,
                 numbers: bool = True, outlined: torch.Tensor | None = None) -> np.ndarray:
    """The code grid as an image: each cell in its code's colour (or its decoded tile), index written on it;
    unfilled cells (−1) grey, the current cell outlined in red, `outlined` cells (h, w) bool in yellow (a masked
    prior's cells committed in one step), a selected region hatched."""
    h, w = grid.shape
    img = Image.new("RGB", (w * cell_px, h * cell_px), (235, 235, 235))
    draw = ImageDraw.Draw(img)
    for r in range(h):
        for c in range(w):
            k = int(grid[r, c])
            box = (c * cell_px, r * cell_px, (c + 1) * cell_px - 1, (r + 1) * cell_px - 1)
            if k < 0:
                draw.rectangle(box, fill=(220, 220, 220), outline=(200, 200, 200))
                continue
            if tiles is not None:
                tile = Image.fromarray(to_rgb(tiles[k], None)).resize((cell_px, cell_px), Image.NEAREST)
                img.paste(tile, box[:2])
                draw.rectangle(box, outline=code_colour(k), width=max(1, cell_px // 16))
                if numbers:
                    _write_code(draw, k, box[0], box[1], cell_px)
            else:
                img.paste(_colour_cell(k, cell_px, numbers), box[:2])
            if region is not None and bool(region[r, c]):
                for d in range(-cell_px, cell_px, 8):
                    draw.line((box[0] + max(d, 0), box[1] + max(-d, 0), box[0] + min(cell_px, cell_px + d) - 1,
                               box[1] + min(cell_px, cell_px - d) - 1), fill=(255, 255, 255), width=2)
    if outlined is not None:
        for r, c in torch.nonzero(outlined).tolist():
            draw.rectangle((c * cell_px, r * cell_px, (c + 1) * cell_px - 1, (r + 1) * cell_px - 1),
                           outline=(255, 210, 0), width=max(3, cell_px // 12))
    if highlight is not None:
        r, c = highlight
        draw.rectangle((c * cell_px, r * cell_px, (c + 1) * cell_px - 1, (r + 1) * cell_px - 1),
                       outline=(255, 40, 40), width=max(3, cell_px // 10))
    return np.asarray(img)


def image_sheet(images: torch.Tensor, nrow: int, size: int = 512) -> np.ndarray:
    """Several (C, H, W) images side by side, enlarged to about `size` pixels wide."""
    sheet = make_grid(images.float(), nrow=nrow, padding=1, pad_value=0.6)
    return to_rgb(sheet, size)


def tile_sheet(tiles: torch.Tensor, cols: int = 32) -> np.ndarray:
    """Every tile at its own size, `cols` to a row with no gap: a sprite sheet for the browser to cut."""
    return to_rgb(make_grid(tiles, nrow=cols, padding=0), None)


def tile_images(tiles: torch.Tensor, px: int = 64) -> np.ndarray:
    """(N, C, h, w) tiles → (N, px, px, 3) uint8, each resized to the pixel under each output pixel's centre,
    all at once: one by one through PIL, a page of 1,024 took 0.6 s."""
    a = (tiles.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    a = np.repeat(a, 3, 1) if a.shape[1] == 1 else a[:, :3]
    h, w = a.shape[-2:]
    rows = ((np.arange(px) + 0.5) * h / px).astype(np.int64)
    cols = ((np.arange(px) + 0.5) * w / px).astype(np.int64)
    return np.ascontiguousarray(a[:, :, rows][:, :, :, cols].transpose(0, 2, 3, 1))


def atlas_picture(tiles: torch.Tensor, px: int = 24, cols: int = 32, gap: int = 1) -> np.ndarray:
    """Every code's decoded look in one picture, `cols` to a row with a white `gap` between them: code k at row
    k // cols, column k % cols. One picture reaches the page at once, where a gallery of 1,024 took seconds."""
    pitch = px + gap
    rows = -(-len(tiles) // cols)
    out = np.full((rows * pitch - gap, cols * pitch - gap, 3), 255, np.uint8)
    for k, tile in enumerate(tile_images(tiles, px)):
        r, c = divmod(k, cols)
        out[r * pitch:r * pitch + px, c * pitch:c * pitch + px] = tile
    return out
