"""How far a changed cell reaches through a decoder, so that a brush stroke re-decodes only the window it changes.

A decoder built of convolutions carries a cell's change only as far as its kernels reach: the sum over its
convolutions of each kernel's half-width, counted in cells at the resolution the convolution runs at. Decoding the
grid cropped to the changed cells plus twice that reach, and keeping the middle (the changed cells plus one
reach), gives the very pixels a full decode gives: the crop's zero padding is felt no further than the kept part's
edge, and where the crop meets the picture's own edge the padding is the decoder's own.

Two kinds of layer see the whole picture and break this: attention (every position attends to every other) and
group normalisation (its mean and variance are taken over the whole picture, as in every diffusers decoder). Where
a decoder has them the window is a preview: its groups are normalised with the statistics of the last full decode
(`norm_statistics` records them, `frozen_norms` applies them), attention sees the window only, and the caller
follows it with the exact full decode.
"""

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn

GLOBAL_NORMS = (nn.GroupNorm, nn.InstanceNorm2d)


@dataclass(frozen=True)
class Reach:
    """`cells`: how many cells away from a changed cell the decoder's local layers can change a pixel.
    `exact`: the decoder has no layer that sees the whole picture, so a window with that margin is exact."""
    cells: int
    exact: bool


def _is_global(module: nn.Module) -> bool:
    name = type(module).__name__.lower()
    return isinstance(module, (*GLOBAL_NORMS, nn.MultiheadAttention)) or "attention" in name or "attn" in name


def _conv_cells(module: nn.Module, scale: float) -> float:
    """How far one convolution spreads a change, in cells, at a layer whose input has `scale` pixels per cell."""
    k, d, p, s = (module.kernel_size[0], module.dilation[0], module.padding, module.stride[0])
    p = d * (k - 1) // 2 if isinstance(p, str) else p[0]      # "same" pads half the dilated kernel
    if isinstance(module, nn.ConvTranspose2d):
        # input pixels a..b reach output pixels s·a − p .. s·b − p + d(k − 1), where they themselves stand
        # for s·a .. s·b + s − 1: the spread either side, in output pixels (s of them per input pixel)
        return max(p, d * (k - 1) - p - s + 1) / (scale * s)
    return max(p, d * (k - 1) - p) / scale      # input pixel i reaches outputs i − (d(k − 1) − p) .. i + p


@torch.no_grad()
def measure_reach(vqvae: nn.Module) -> Reach | None:
    """The reach of a tokenizer's decoder, from one dry run on a 4×4 grid: every convolution that runs is seen
    with the size of its input, which gives its resolution in cells, and every layer that sees the whole picture
    is noted. None for a tokenizer whose decode is code of its own (a wrapped model): there is no telling what it
    does, so each stroke decodes the whole grid."""
    if not getattr(vqvae, "windowed", True):
        return None
    device = next(iter(vqvae.parameters())).device
    side = 4
    spans, global_layers = [], []

    def conv_hook(module, args, _out):
        spans.append(_conv_cells(module, args[0].shape[-2] / side))

    def seen_hook(module, args, _out):
        if isinstance(module, nn.Upsample) and module.mode != "nearest":   # a blend of neighbours: one pixel
            spans.append(side / args[0].shape[-2])                            # either side, at the input's scale
        if _is_global(module):
            global_layers.append(module)

    hooks = []
    for m in vqvae.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        hooks.append(m.register_forward_hook(seen_hook))
    try:
        vqvae.decode(torch.zeros(1, side, side, dtype=torch.long, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return Reach(math.ceil(sum(spans) - 1e-9), not global_layers)


@dataclass(frozen=True)
class Window:
    """Where a change in cells rows r0..r1, cols c0..c1 is decoded (`crop`, cells (top, left, bottom, right),
    bottom and right exclusive) and which of its cells are kept (`keep`, the same form), for a grid (h, w)."""
    crop: tuple[int, int, int, int]
    keep: tuple[int, int, int, int]

    @property
    def cells(self) -> int:
        top, left, bottom, right = self.crop
        return (bottom - top) * (right - left)


def window(changed: torch.Tensor, margin: int, context: int | None = None) -> Window | None:
    """The window a change (a boolean grid (h, w)) needs with `margin` cells of reach: the changed cells plus
    `margin` are kept, decoded with `context` more cells around them (by default `margin` again, which makes
    the kept part exact where the decoder has no global layer). None: nothing changed."""
    rows, cols = torch.nonzero(changed.any(1)).flatten(), torch.nonzero(changed.any(0)).flatten()
    if not len(rows):
        return None
    h, w = changed.shape
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

    def grow(by):
        return max(0, r0 - by), max(0, c0 - by), min(h, r1 + by), min(w, c1 + by)

    return Window(crop=grow(margin + (margin if context is None else context)), keep=grow(margin))


def paste(previous: torch.Tensor, decoded_crop: torch.Tensor, win: Window, factor: int) -> torch.Tensor:
    """`previous` (C, H, W), a picture of the whole grid, with the kept cells of the window's decode put in."""
    out = previous.clone()
    top, left, bottom, right = (v * factor for v in win.keep)
    ct, cl = (v * factor for v in win.crop[:2])
    out[:, top:bottom, left:right] = decoded_crop[:, top - ct:bottom - ct, left - cl:right - cl]
    return out


# Group statistics, recorded and frozen per thread: the app serves two requests at a time on one model.
_state = threading.local()
_hook_lock = threading.Lock()


def _norm_hook(module, args, out):
    mode = getattr(_state, "mode", None)
    if mode is None:
        return None
    x = args[0]
    groups = module.num_groups if isinstance(module, nn.GroupNorm) else x.shape[1]
    key = _state.index[id(module)]
    if mode == "record":
        flat = x.float().reshape(x.shape[0], groups, -1)
        _state.stats[key] = (flat.mean(-1), flat.var(-1, unbiased=False))
        return None
    mean, var = _state.stats[key]
    n, c = x.shape[:2]
    xg = x.float().reshape(n, groups, -1)
    y = ((xg - mean[..., None]) / torch.sqrt(var[..., None] + module.eps)).reshape(x.shape)
    if getattr(module, "weight", None) is not None:
        shape = (1, c) + (1,) * (x.dim() - 2)
        y = y * module.weight.reshape(shape) + module.bias.reshape(shape)
    return y.to(out.dtype)


def _norms(modules: nn.Module) -> list[nn.Module]:
    norms = [m for m in modules.modules() if isinstance(m, GLOBAL_NORMS)]
    with _hook_lock:
        for m in norms:
            if not getattr(m, "_frozen_norm_hook", False):   # once per layer, for its life; idle unless asked
                m.register_forward_hook(_norm_hook)
                m._frozen_norm_hook = True
    return norms


@contextmanager
def _mode(modules, mode, stats):
    norms = _norms(modules)
    _state.mode, _state.stats, _state.index = mode, stats, {id(m): i for i, m in enumerate(norms)}
    try:
        yield stats
    finally:
        _state.mode = None


def norm_statistics(modules: nn.Module):
    """Record, during a decode in this block, each group normalisation's mean and variance: yields the dict."""
    return _mode(modules, "record", {})


def frozen_norms(modules: nn.Module, stats: dict):
    """Normalise every group, during a decode in this block, with recorded statistics instead of its own."""
    return _mode(modules, "frozen", stats)


def crop_grid(grid: torch.Tensor, win: Window) -> torch.Tensor:
    top, left, bottom, right = win.crop
    return grid[..., top:bottom, left:right]
