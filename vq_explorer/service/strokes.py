"""A brush stroke's picture: only the window of the grid that the changed cells reach is decoded again, and pasted
into the picture of the grid painted just before (models.receptive says how far a change reaches).

The painter sends whole grids and holds no state on the server; the pictures of the last grids painted on each
model are kept, and a new grid starts from the kept one it differs from least. Where the decoder has no layer
that sees the whole picture (this project's VQ-VAE) the pasted picture is the full decode's, to float rounding.
Where it has one (every diffusers decoder normalises groups over the whole picture; most also attend), no
window short of the whole picture is exact, so the preview is made small enough to answer while the brush moves:
the changed cells and one more around them are kept, decoded with `PREVIEW_CONTEXT` pixels of context on each
side and the last full decode's group statistics, and the painter asks for the exact picture (`exact=True`, a
full decode) when the stroke ends.
"""

import threading
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ..models.receptive import Reach, crop_grid, frozen_norms, measure_reach, norm_statistics, paste, window
from .memo import per_model

PREVIEW_KEEP = 1      # cells kept around a preview's change where the decoder is global
PREVIEW_CONTEXT = 16  # pixels decoded around them for context (docs/tokenizers.md: the preview's error and time)
KEPT = 8             # pictures kept per model: a few visitors painting at once each find their last one
WHOLE_SHARE = 0.6    # a window this large a share of the grid saves too little: decode the whole grid


@dataclass
class Picture:
    grid: torch.Tensor        # (h, w) int64
    image: torch.Tensor       # (C, h·f, w·f) float in [0, 1]: the whole grid, uncropped
    exact: bool               # the full decode's picture (False: a preview with a global decoder)
    stats: dict | None        # the group statistics of the full decode it descends from, for its previews
    whole: bool = False       # a full decode of this grid (not a window pasted into another's picture)


@per_model
def reach(model) -> Reach | None:
    """How far the model's decoder carries a change (None: its decode is opaque; every stroke decodes whole)."""
    return measure_reach(model.vqvae)


@per_model
def _kept(model) -> tuple[OrderedDict, threading.Lock]:
    return OrderedDict(), threading.Lock()


def _margins(model, r: Reach) -> tuple[int, int]:
    """(cells kept around a change, cells of context decoded around those)."""
    if r.exact:
        return r.cells, r.cells
    keep = min(r.cells, PREVIEW_KEEP)
    return keep, min(r.cells, -(-PREVIEW_CONTEXT // model.config["downsample"]))


def _size(model, grid: torch.Tensor) -> tuple[int, int] | None:
    """What the app crops a grid's picture to: the training image size for the training grid, else nothing."""
    return model.image_size if tuple(grid.shape) == model.grid else None


def _whole(model, grid: torch.Tensor, r: Reach | None) -> Picture:
    f = model.config["downsample"]
    full = (grid.shape[0] * f, grid.shape[1] * f)
    with norm_statistics(model.vqvae) if r is not None and not r.exact else nullcontext() as stats:
        image = model.decode(grid[None], full)[0]
    return Picture(grid, image, True, stats, whole=True)


def _nearest(model, grid: torch.Tensor, margins: tuple[int, int]):
    """The kept picture whose grid differs from `grid` in the smallest window, with that window."""
    kept, lock = _kept(model)
    with lock:
        candidates = [p for p in kept.values() if p.grid.shape == grid.shape]
    best = None
    for p in candidates:
        win = window(p.grid != grid, *margins)
        if win is None:
            return p, None
        if best is None or (win.cells, not p.exact) < (best[1].cells, not best[0].exact):
            best = (p, win)
    return best or (None, None)


def _key(grid: torch.Tensor) -> bytes:
    return grid.numpy().tobytes() + str(tuple(grid.shape)).encode()


def _keep(model, picture: Picture) -> None:
    kept, lock = _kept(model)
    key = _key(picture.grid)
    with lock:
        kept[key] = picture
        kept.move_to_end(key)
        while len(kept) > KEPT:
            kept.popitem(last=False)


def full_picture(model, grid: torch.Tensor) -> torch.Tensor:
    """The whole grid's full decode (C, h·f, w·f), uncropped, kept like a stroke's: Reconstruct's picture is the
    one the painter opens on when both show the same grid (the first shipped example), so neither decodes it
    twice. Only a kept full decode of this very grid is reused, never a pasted one: the same grid always gives
    the same pixels here."""
    grid = torch.as_tensor(grid, dtype=torch.long).cpu()
    kept, lock = _kept(model)
    with lock:
        picture = kept.get(_key(grid))
    if picture is None or not picture.whole:
        picture = _whole(model, grid, reach(model))
        _keep(model, picture)
    return picture.image


def decode_picture(model, grid: torch.Tensor, exact: bool = False) -> tuple[torch.Tensor, bool]:
    """A grid's decoded picture (C, H, W), cropped as `grids.decode_grid` crops it, and whether it is exact.
    Decoded from the nearest kept picture through the window the change reaches, where that is smaller than the
    grid; `exact=True` never returns a preview (a full decode where the decoder is global)."""
    grid = torch.as_tensor(grid, dtype=torch.long).cpu()
    r = reach(model)
    base, win = (None, None) if r is None else _nearest(model, grid, _margins(model, r))
    if base is not None and win is None and (base.exact or not exact):
        picture = base                                            # this very grid, shown before
    elif base is None or (exact and not r.exact) or win.cells >= WHOLE_SHARE * grid.numel():
        picture = _whole(model, grid, r)
    else:
        f = model.config["downsample"]
        crop = crop_grid(grid, win)
        with frozen_norms(model.vqvae, base.stats) if base.stats else nullcontext():
            part = model.decode(crop[None], (crop.shape[0] * f, crop.shape[1] * f))[0]
        picture = Picture(grid, paste(base.image, part, win, f), r.exact and base.exact, base.stats)
    _keep(model, picture)
    size = _size(model, grid)
    image = picture.image[:, : size[0], : size[1]] if size is not None else picture.image
    return image, picture.exact
