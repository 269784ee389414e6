"""Drawing grids from the prior: the limits a visitor's settings are checked against, whole grids, regions, and
the step-by-step stream the Sample tab shows."""

import math

import torch

from .catalog import is_masked, needs_prior, prior_limit
from .errors import UserError

MAX_SAMPLES = 16
MAX_GUIDANCE = 10
TEMPERATURES = (0.05, 5)


def sample_grid(model, label=None, temperature=1.0, seed=None) -> torch.Tensor:
    """One (h, w) grid from the prior, of class `label` (None: unconditional)."""
    check_sampling(model, 1, temperature, None)
    y = None if label is None else torch.tensor([label])
    return model.sample(1, labels=y, temperature=float(temperature), seed=seed)[0]


def inpaint(model, grid: torch.Tensor, region: torch.Tensor, label=None, temperature=1.0, seed=None):
    """Resample the cells in `region` with the prior; every other cell stays as it is (and is context: on every
    side for a masked prior, before each cell for an autoregressive one)."""
    needs_prior(model, "inpainting")
    check_prior_grid(model, grid.shape[-2:])
    if not region.any():
        raise UserError("no_region")
    y = None if label is None else torch.tensor([label])
    return model.sample(1, labels=y, temperature=temperature, seed=seed, grid=grid[None], mask=~region[None])[0]


def check_prior_grid(model, shape) -> None:
    """A grid larger than a prior's learned positions (a photo's, from the painter) cannot be sampled by it."""
    limit = prior_limit(model, shape) if shape is not None else None
    if limit:
        raise UserError("grid_beyond_prior", shape=f"{shape[0]}×{shape[1]}", rows=limit[0], cols=limit[1])


def check_sampling(model, n, temperature, top_k, steps=None, guidance=0.0, shape=None):
    """`shape`: the grid sampled, where it is not the model's own (a photo's grid from the painter)."""
    needs_prior(model, "sampling")
    check_prior_grid(model, shape)
    K = model.config["num_codes"]
    if not isinstance(guidance, (int, float)) or not 0 <= float(guidance) <= MAX_GUIDANCE:
        raise UserError("guidance_range", limit=MAX_GUIDANCE)
    cells = math.prod(shape or model.grid)
    if steps is not None and is_masked(model) and (
            not isinstance(steps, (int, float)) or not 1 <= int(steps) <= cells):
        raise UserError("steps_range", cells=cells)
    if not isinstance(n, (int, float)) or not 1 <= int(n) <= MAX_SAMPLES:
        raise UserError("samples_range", limit=MAX_SAMPLES)
    if not isinstance(temperature, (int, float)) or not TEMPERATURES[0] <= float(temperature) <= TEMPERATURES[1]:
        raise UserError("temperature_range", low=TEMPERATURES[0], high=TEMPERATURES[1])
    if top_k is not None and not 1 <= int(top_k) <= K:
        raise UserError("top_k_range", codes=K)


def sample_steps(model, n=1, label=None, temperature=1.0, top_k=None, seed=None, grid=None, mask=None,
                 steps=None, guidance=0.0):
    """model.sample_steps with the running mean entropy (bits) of the distributions drawn from so far, per cell.
    `steps` and `guidance` are a masked prior's parallel steps and classifier-free guidance; an autoregressive
    prior ignores both (one step per cell, no guidance)."""
    check_sampling(model, n, temperature, top_k, steps, guidance, None if grid is None else grid.shape[-2:])
    y = None if label is None else torch.full((int(n),), int(label))
    steps = int(steps) if steps is not None and is_masked(model) else None
    guidance = float(guidance) if is_masked(model) else 0.0
    total, cells = 0.0, 0
    for step in model.sample_steps(int(n), labels=y, temperature=float(temperature),
                                   top_k=None if not top_k else int(top_k), seed=seed, grid=grid, mask=mask,
                                   steps=steps, guidance=guidance):
        drawn = 1 if step.cells is None else int(step.cells.sum()) / int(n)
        total += float(step.entropy.mean()) * drawn
        cells += drawn
        yield step, total / max(cells, 1e-9)
