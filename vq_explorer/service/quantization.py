"""The quantization step, cell by cell: the encoder's vector z at each cell, how far it is from every code, the
code the quantizer chose and how close the call was. Data only (tensors and numbers); the words are the UI's.

A vector quantizer replaces z by its nearest code e: the **error** ‖z − e‖² is the commitment loss of that cell
(where the codebook fits the image badly), and the **margin** (d₂ − d₁) / d₁, with d₁ and d₂ the distances to the
nearest and the second nearest code, says how near the choice was to a coin toss (0: two codes equally near, so
the slightest change of the input flips it). The margin is relative: a z far from every code can still be a close
call. The **boundary distance** (d₂² − d₁²) / (2‖e₂ − e₁‖) is absolute: how far z must move to cross the half-way
plane between the two codes and flip. Codes are ranked by the quantizer's own score, ties to the lower index, so
the first one is always the code the quantizer picked.

A model whose `encode` gives codes, not latents (a wrapped one, `gives_codes`), has no z to show: its code's own
vector would stand in, at distance 0 up to float rounding, and its margins would be noise. It is marked
`codes_only`, with no maps.

FSQ has no codebook to search: each of its few projected numbers is rounded to a level. Its error is the squared
rounding error (in level units, summed over the dimensions), and its margin the least distance of any dimension
from the half-way point where its rounding would flip (0 at the boundary, 0.5 at a level).
"""

from dataclasses import dataclass

import torch

from ..models.quantizer import code_scores
from .latents import latents
from .memo import per_model

TOP = 8   # the nearest codes kept for each cell


@dataclass
class Quantization:
    z: torch.Tensor        # (h, w, d) the encoder's vector at each cell (FSQ: its D bounded projections)
    grid: torch.Tensor     # (h, w) int64, the code the quantizer chose
    error: torch.Tensor    # (h, w) ‖z − e‖² (FSQ: squared rounding error in level units)
    margin: torch.Tensor   # (h, w) (d₂ − d₁) / d₁ (FSQ: least distance of a dimension from its rounding boundary)
    nearest: torch.Tensor | None = None     # (h, w, TOP) codes from the nearest, the chosen one first (VQ only)
    distance: torch.Tensor | None = None    # (h, w, TOP) their distances ‖z − e‖
    fsq: bool = False
    boundary: torch.Tensor | None = None    # (h, w) (d₂² − d₁²) / (2‖e₂ − e₁‖): z's distance from flipping (VQ)
    codes_only: bool = False                # encode gives codes: no z, no error or margin to show


def is_fsq(model) -> bool:
    return hasattr(model.vqvae.quantizer, "levels")


def distances(z: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, squared distances), both (N, K), for rows z (N, d): the score is the quantizer's own (its argmin
    is the chosen code), the squared distance the score plus ‖z‖², never below 0."""
    scores = code_scores(z, codebook)
    return scores, (scores + z.pow(2).sum(1, keepdim=True)).clamp_min(0)


def ranked(scores: torch.Tensor) -> torch.Tensor:
    """Codes from nearest to farthest for each row, ties to the lower index (as argmin breaks them)."""
    return torch.sort(scores, dim=1, stable=True).indices


def margins(d2_sorted: torch.Tensor) -> torch.Tensor:
    """(d₂ − d₁) / d₁ from each row's two smallest squared distances; infinite where z sits on its code."""
    d = d2_sorted[:, :2].sqrt()
    return torch.where(d[:, 0] > 0, (d[:, 1] - d[:, 0]) / d[:, 0].clamp_min(1e-12),
                       torch.full_like(d[:, 0], float("inf")))


def boundaries(d2_sorted: torch.Tensor, codebook: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
    """(d₂² − d₁²) / (2‖e₂ − e₁‖) for each row: z's distance from the plane half-way between its two nearest codes
    (0 for a tie, and where the two codes are the same vector)."""
    gap = (codebook[nearest[:, 1]] - codebook[nearest[:, 0]]).norm(dim=1)
    return torch.where(gap > 0, (d2_sorted[:, 1] - d2_sorted[:, 0]).clamp_min(0) / (2 * gap.clamp_min(1e-12)),
                       torch.zeros_like(gap))


def gives_codes(model, x: torch.Tensor) -> bool:
    """Whether the model's encoder gives codes rather than latents for x (a wrapped model may)."""
    asks = getattr(model.vqvae, "gives_codes", None)
    return bool(asks and asks(x))


@torch.no_grad()
def quantization(model, x: torch.Tensor) -> Quantization:
    """The quantization of one image x (1, C, H, W) in [0, 1], cell by cell, computed as `model.encode` computes
    it (same layout, same scores), so the chosen codes are the model's own grid."""
    quantizer = model.vqvae.quantizer
    if gives_codes(model, x.to(model.device, torch.float32)):
        grid = model.encode(x)[0]
        return Quantization(torch.zeros(*grid.shape, 0), grid, torch.zeros(grid.shape), torch.zeros(grid.shape),
                            codes_only=True)
    z = latents(model, x)[0].float().permute(1, 2, 0)             # (h, w, d): the upload's one encoder pass
    h, w, d = z.shape
    flat = z.reshape(-1, d)
    if is_fsq(model):
        bounded = quantizer.bound(quantizer.project_in(flat))
        rounding = bounded - bounded.round()
        return Quantization(bounded.view(h, w, -1).cpu(), quantizer.indices(flat).view(h, w).cpu(),
                            rounding.pow(2).sum(1).view(h, w).cpu(),
                            (0.5 - rounding.abs()).min(1).values.view(h, w).cpu(), fsq=True)
    scores, d2 = distances(flat, quantizer.codebook)
    nearest = ranked(scores)[:, :TOP]
    near_d2 = d2.gather(1, nearest)
    return Quantization(z.cpu(), nearest[:, 0].view(h, w).cpu(), near_d2[:, 0].view(h, w).cpu(),
                        margins(near_d2).view(h, w).cpu(), nearest.view(h, w, -1).cpu(),
                        near_d2.sqrt().view(h, w, -1).cpu(),
                        boundary=boundaries(near_d2, quantizer.codebook.float(), nearest).view(h, w).cpu())


def cell(model, q: Quantization, row: int, col: int) -> dict:
    """One cell's choice: its vector z, and its nearest codes with their distances (the chosen one first), or
    for FSQ each dimension's value, the level it was rounded to, its distance from flipping, and as the runner-up
    the code one flip away (the dimension nearest its boundary rounded the other way)."""
    h, w = q.grid.shape
    if not (0 <= row < h and 0 <= col < w):
        raise IndexError(f"cell ({row}, {col}) is outside the {h}×{w} grid")
    z = q.z[row, col]
    out = {"row": row, "col": col, "z": z.tolist(), "code": int(q.grid[row, col]),
           "error": float(q.error[row, col]), "margin": float(q.margin[row, col])}
    if q.codes_only:
        raise ValueError("this model's encode gives codes: there is no quantization step to show")
    if not q.fsq:
        return out | {"codes": q.nearest[row, col].tolist(), "distances": q.distance[row, col].tolist(),
                      "boundary": float(q.boundary[row, col])}
    quantizer = model.vqvae.quantizer
    levels, to_flip = z.round(), 0.5 - (z - z.round()).abs()
    sizes = torch.tensor(quantizer.levels)
    low, high = -(sizes // 2), (sizes - 1) // 2
    flipped = levels.clone()
    dim = int(to_flip.argmin())
    flipped[dim] += 1 if z[dim] > levels[dim] else -1
    codes = [out["code"]]
    if low[dim] <= flipped[dim] <= high[dim]:   # (at the end of its range a dimension has nowhere to flip to)
        codes.append(int(quantizer.levels_to_indices(flipped)))
    return out | {"levels": levels.tolist(), "to_flip": to_flip.tolist(), "codes": codes, "flip_dim": dim}


@per_model
def typical_error(model) -> float | None:
    """The median quantization error of a cell over the shipped test images (None without any): what the
    error of one cell is measured against."""
    if model.examples is None or not len(model.examples):
        return None
    errors = torch.cat([quantization(model, x[None].float() / 255).error.flatten() for x in model.examples])
    return float(errors.median())
