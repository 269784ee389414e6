"""Code grids as a person hands them over (JSON) and gets them back: parsed, checked, decoded, measured."""

import json
import math
import random

import torch

from .catalog import has_prior, is_masked, prior_limit
from .codebook import most_used_code, usage
from .errors import UserError
from .inputs import keeps_resolution, max_grid

MAX_GRID_JSON = 200_000   # characters: a 64×64 grid of 4-digit codes fits with room to spare


def parse_grid(value, model) -> torch.Tensor:
    """JSON text (or an already parsed list / {"grid": [...]}) → (h, w) int64 grid, validated against the model:
    its training grid, or for a model that keeps resolution any grid up to `max_grid` (a photo's)."""
    h, w = model.grid
    K = model.config["num_codes"]
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_GRID_JSON:
            raise UserError("grid_json_too_long", chars=len(value), limit=MAX_GRID_JSON)
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError("grid_not_json", detail=e.msg if hasattr(e, "msg") else str(e)) from None
    if isinstance(value, dict):
        value = value.get("grid")
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        raise UserError("grid_not_lists", rows=h, cols=w, last=K - 1)
    shape = f"{len(value)}×{'/'.join(sorted({str(len(r)) for r in value})) or 0}"
    if keeps_resolution(model) and value and len({len(r) for r in value}) == 1 and value[0]:
        top = max_grid(model)
        if not (len(value) <= top[0] and len(value[0]) <= top[1]):
            raise UserError("grid_too_large", shape=shape, rows=top[0], cols=top[1])
        # a grid beyond the prior's learned positions is still the VQ-VAE's to decode and paint; only what
        # needs the prior (bits, resampling) refuses it, each where it is asked for
    elif len(value) != h or any(len(r) != w for r in value):
        raise UserError("grid_wrong_shape", shape=shape, rows=h, cols=w)
    for row in value:
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and (
                    not math.isfinite(v) or v != int(v))):
                raise UserError("grid_not_integer", value=str(v)[:20], last=K - 1)
            if not 0 <= v < K:
                raise UserError("grid_code_out_of_range", code=v, last=K - 1)
    return torch.tensor(value, dtype=torch.long)


def grid_json(grid: torch.Tensor, checkpoint: str = "") -> str:
    return json.dumps({"checkpoint": checkpoint, "grid": torch.as_tensor(grid).tolist()})


def decode_grid(model, grid: torch.Tensor, size=None) -> torch.Tensor:
    """(h, w) codes → the decoded image (C, H, W), cropped to `size` (H, W) where the grid was padded."""
    return model.decode(grid[None], size)[0]


def grid_bits(model, grid: torch.Tensor, label=None) -> float | None:
    """The grid's code length under the prior, in bits; None for a masked prior (it has no likelihood), none, or
    a grid larger than the prior's learned positions reach."""
    if is_masked(model) or not has_prior(model) or prior_limit(model, grid.shape[-2:]):
        return None
    y = None if label is None else torch.tensor([label])
    return float(-model.log_prob(grid[None], y)[0] / math.log(2))


def random_grid(model, seed=None, shape=None) -> torch.Tensor:
    """Codes drawn independently by their usage: what the codebook holds, without the prior's structure."""
    shape = tuple(shape or model.grid)
    u = usage(model).double() + 1e-3
    g = torch.Generator().manual_seed(random.randrange(2**31) if seed is None else int(seed))
    return torch.multinomial(u, math.prod(shape), replacement=True, generator=g).view(shape)


def decode_partial(model, grids: torch.Tensor) -> torch.Tensor:
    """Decode grids still being sampled: unfilled cells (−1) show as the most used code, the codebook's
    "background"."""
    return model.decode(torch.where(grids >= 0, grids, torch.full_like(grids, most_used_code(model))))
