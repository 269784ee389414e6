"""An image through the model and back: its code grid, the reconstruction, the error and the prior's surprise."""

import math
from dataclasses import dataclass

import torch

from ..models import metrics
from .catalog import has_decoder, has_prior, prior_limit
from .errors import Note, UserError
from .inputs import load_image, load_upload
from .latents import codes
from .strokes import full_picture


@dataclass
class Reconstruction:
    original: torch.Tensor    # (C, H, W) in [0, 1]
    recon: torch.Tensor       # (C, H, W) in [0, 1]
    error: torch.Tensor       # (H, W) mean absolute error over channels
    grid: torch.Tensor        # (h, w) int64
    surprise: torch.Tensor    # (h, w) bits: −log2 p(code | the cells the prior conditions it on)
    mse: float
    psnr: float
    total_bits: float         # the sum of the surprises: the grid's code length when `exact`
    notes: list
    has_prior: bool = True    # False for a lab model: no surprise map (zeros)
    exact: bool = True        # False for a masked prior: the sum is no likelihood
    colour_input: bool = False   # the upload had colour (a greyscale model saw it in grey)
    prior_limit: tuple | None = None   # (rows, cols): a prior with learned positions, smaller than this grid
    has_decoder: bool = True   # False for a tokenizer without one: `recon`, `error`, `mse`, `psnr` mean nothing



def surprise(model, grid: torch.Tensor) -> torch.Tensor:
    """(h, w) bits: −log2 p(code | the cells the prior conditions each on), unconditionally."""
    return -model.conditional_log_probs(grid[None])[0] / math.log(2)


def reconstruct(model, x: torch.Tensor, notes=None, grid: torch.Tensor | None = None) -> Reconstruction:
    """`x` (1, C, H, W) through the model; `grid` (h, w): the codes to show for it where they are known already
    (a compressed file's), instead of x's encoding (whose encoder pass is kept: the quantization panel and the
    painter reuse it)."""
    grid = codes(model, x) if grid is None else torch.as_tensor(grid)[None]
    recon = full_picture(model, grid[0])[None, :, : x.shape[-2], : x.shape[-1]]
    mse = metrics.mse(recon, x)
    psnr = metrics.psnr(mse)
    limit = prior_limit(model, grid.shape[1:]) if has_prior(model) else None
    if not has_prior(model) or limit:   # a lab model, or a photo's grid beyond the prior's: no surprise map
        return Reconstruction(x[0], recon[0], (recon[0] - x[0]).abs().mean(0), grid[0],
                              torch.zeros(grid.shape[1:]), mse, psnr, 0.0, list(notes or []), False, False,
                              prior_limit=limit, has_decoder=has_decoder(model))
    bits = surprise(model, grid[0])
    return Reconstruction(x[0], recon[0], (recon[0] - x[0]).abs().mean(0), grid[0], bits, mse, psnr,
                          float(bits.sum()), list(notes or []), True, model.prior.exact_likelihood,
                          has_decoder=has_decoder(model))


def encode(model, x: torch.Tensor) -> torch.Tensor:
    """One model input (1, C, H, W) → its (h, w) code grid (from the encoder's pass Reconstruct kept, if any)."""
    return codes(model, x)[0]


def example_grid(model) -> torch.Tensor | None:
    """The code grid of the checkpoint's first shipped test image (None for a checkpoint without examples), from
    the encoder's pass Reconstruct's first screen kept for the same picture."""
    if model.examples is None or not len(model.examples):
        return None
    return codes(model, model.examples[:1].float() / 255)[0]


def encode_image(model, source) -> tuple[torch.Tensor, list[str]]:
    """An image (path / bytes / array) → its (h, w) code grid, with notes on conversions."""
    x, notes = load_image(model, source)
    return model.encode(x)[0], notes


def reconstruct_file(model, source) -> Reconstruction:
    (x, notes), colour = load_upload(model, source)
    rec = reconstruct(model, x, notes)
    rec.colour_input = colour
    return rec


def reconstruct_example(model, index: int) -> Reconstruction:
    if model.examples is None or not 0 <= int(index) < len(model.examples):
        raise UserError("no_such_example")
    names = model.config.get("class_names") or []
    label = int(model.example_labels[int(index)]) if model.example_labels is not None else None
    note = (Note("tokenizer_example", number=int(index) + 1) if model.config.get("tokenizer") else
            Note("shipped_example_of", number=int(index) + 1, name=names[label], dataset=model.config["dataset"])
            if names and label is not None else
            Note("shipped_example", number=int(index) + 1, dataset=model.config["dataset"]))
    return reconstruct(model, model.examples[int(index)][None].float() / 255, [note])
